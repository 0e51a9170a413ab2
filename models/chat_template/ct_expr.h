/* Jinja2 expressions for the template parser (jinja2/parser.py's parse_expression down to the
 * primaries: conditionals, logic, comparisons, arithmetic, filters and tests, calls, subscripts,
 * literals), and the parser state and token helpers ct_parser.c's statements share. Private to
 * models/chat_template: ct_parser.h is the parser's API. */
#ifndef BERTH_CT_EXPR_H
#define BERTH_CT_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "models/chat_template/ct_parser.h"

typedef struct ct_pstate {
    ct_arena *a;
    const ct_token *t;
    size_t n, i;
    char *err;
    size_t errlen;
    int depth;
} ct_pstate;

/* Deeply nested input would overflow the C stack; Python's own limit stops Jinja2 near here. */
enum { CT_EXPR_MAX_DEPTH = 200 };

static inline const ct_token *cur(const ct_pstate *P)
{
    return &P->t[P->i];
}
static inline const ct_token *look(const ct_pstate *P)
{
    return &P->t[P->i + 1 < P->n ? P->i + 1 : P->i];
}
static inline void advance(ct_pstate *P)
{
    if (P->i + 1 < P->n) P->i++;
}

static inline bool tok_is(const ct_token *t, ct_tok_type type, const char *text)
{
    if (t->type != type) return false;
    if (!text) return true;
    return t->n == strlen(text) && memcmp(t->p, text, t->n) == 0;
}
static inline bool is_op(const ct_pstate *P, const char *op)
{
    return tok_is(cur(P), CT_TK_OP, op);
}
static inline bool is_name(const ct_pstate *P, const char *name)
{
    return tok_is(cur(P), CT_TK_NAME, name);
}

/* -1 after writing "template line L, column C: " and the message into P's error buffer. */
__attribute__((format(printf, 3, 4))) int ct_expr_fail_at(ct_pstate *P, const ct_token *t,
                                                          const char *fmt, ...);
/* -1 after "expected EXPECTED, got <the current token>". */
int ct_expr_fail_unexpected(ct_pstate *P, const char *expected);
/* A zeroed node from the arena at the token's position (NULL and an error when it is full). */
ct_node *ct_expr_node_new(ct_pstate *P, ct_node_kind kind, const ct_token *at);
int ct_expr_nodes_push(ct_pstate *P, ct_nodes *l, ct_node *n);
/* Consumes the operator op, or fails naming it. */
int ct_expr_expect_op(ct_pstate *P, const char *op);

/* An expression; with_condexpr: `a if b else c` allowed. */
ct_node *ct_expr_parse(ct_pstate *P, bool with_condexpr);
/* A tuple or a lone expression, as jinja2's parse_tuple (simplified: primaries only; extra_end: a
 * name that ends it besides the block end; explicit_parens: inside parentheses). */
ct_node *ct_expr_tuple(ct_pstate *P, bool simplified, bool with_condexpr, const char *extra_end,
                       bool explicit_parens);
/* A name, literal, list, dict or parenthesised expression; with_namespace: `ns.attr` targets. */
ct_node *ct_expr_primary(ct_pstate *P, bool with_namespace);
/* The filter (test false) or test (test true) named at the current token, applied to operand. */
ct_node *ct_expr_filter_or_test(ct_pstate *P, ct_node *operand, bool test);

#endif
