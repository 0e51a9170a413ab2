/* Template lexer: splits a Jinja template into data and tag tokens exactly as Jinja2's lexer does
 * with trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False (whitespace control,
 * comments, raw blocks, string escapes). Owns no grammar: ct_parser turns tokens into an AST. */
#ifndef BERTH_CT_LEXER_H
#define BERTH_CT_LEXER_H

#include <stddef.h>
#include <stdint.h>

#include "models/chat_template/ct_value.h"

typedef enum {
    CT_TK_DATA,
    CT_TK_VAR_BEGIN,
    CT_TK_VAR_END,
    CT_TK_BLOCK_BEGIN,
    CT_TK_BLOCK_END,
    CT_TK_NAME,
    CT_TK_STRING,
    CT_TK_INT,
    CT_TK_FLOAT,
    CT_TK_OP,
    CT_TK_EOF,
} ct_tok_type;

typedef struct ct_token {
    ct_tok_type type;
    const char *p; /* DATA, NAME, STRING (unescaped), OP text */
    size_t n;
    int64_t i;
    double f;
    int line, col;
} ct_token;

typedef struct ct_tokens {
    ct_token *t;
    size_t n;
} ct_tokens;

/* Tokenizes source (any newline convention) into arena memory; the last token is EOF.
 * Errors name line and column. */
int ct_lex(ct_arena *a, const char *source, size_t len, ct_tokens *out, char *err, size_t errlen);

#endif
