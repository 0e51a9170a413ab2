/* Constrained decoding: grammars over bytes (GBNF-style EBNF, regular expressions, JSON Schema) and
 * the per-sequence matcher that turns one into token masks over a tokenizer's vocabulary. Depends
 * on the tokenizer only; knows nothing of HTTP, requests or the engine. docs/structured-outputs.md
 * documents the grammar dialect and the JSON Schema keywords accepted.
 *
 * Lifetimes: a gr_vocab is built once per tokenizer; a gr_grammar is immutable once compiled and
 * may be shared by any number of matchers on any threads (callers cache them by source text); a
 * gr_matcher belongs to one sequence and one thread at a time. */
#ifndef BERTH_GRAMMAR_H
#define BERTH_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/tokenizer/tokenizer.h"

/* Every int-returning function returns GR_OK or GR_ERR (with a message in err where it takes one).
 */
enum { GR_OK = 0, GR_ERR = -1 };

/* The vocabulary as the matcher sees it: each token's bytes (tok_token_bytes) and whether it is
 * special (never allowed inside a structure), organised for fast mask computation. */
typedef struct gr_vocab gr_vocab;
/* eos_ids: the tokens that end the sequence (allowed exactly when the grammar is complete). */
int gr_vocab_new(gr_vocab **out, const tok_tokenizer *tok, const int32_t *eos_ids, size_t n_eos,
                 char *err, size_t errlen);
void gr_vocab_free(gr_vocab *v);
int32_t gr_vocab_size(const gr_vocab *v);
/* 32-bit words in one token mask: (vocab size + 31) / 32. Bit i of word w allows token 32*w + i. */
size_t gr_mask_words(const gr_vocab *v);

/* Options for compiling JSON Schema (and json_object). */
typedef struct gr_json_options {
    /* false (default): compact output, no whitespace between tokens (as json.dumps with
     * separators=(",", ":")). true: JSON whitespace allowed, at most max_whitespace bytes in a row
     * so that a model cannot loop on spaces. */
    bool flexible_whitespace;
    int32_t max_whitespace; /* 0 = the default (4) */
    /* additionalProperties when a schema does not say: true as the JSON Schema spec says;
     * OpenAI's strict mode sets false. */
    bool strict;
    /* additionalProperties when a schema does not say, in an object schema that declares
     * properties (or patternProperties): false, as vLLM's default backend (xgrammar's strict mode)
     * does, so a model cannot invent keys a tool's function would reject; an object schema that
     * declares none ({"type": "object"}) still takes any keys, and a required name outside
     * `properties` any value. The server sets it; strict, where also set, wins. */
    bool declared_only;
} gr_json_options;

/* ---- grammar text builders: each writes GBNF text whose start rule is named `root` ----
 * The results are malloc'd, NUL-terminated; free() them. These let callers compose grammars (a tool
 * call wraps the schema of its arguments in literal text): rules of a JSON Schema are emitted with
 * `prefix` prepended to every rule name, including its start rule (named prefix + "root"). */
int gr_json_schema_to_gbnf(const char *schema_json, size_t len, const char *prefix,
                           const gr_json_options *opt, char **gbnf, char *err, size_t errlen);
/* A regex (docs/structured-outputs.md, "Regular expressions") as rule prefix + "root", matching
 * the UTF-8 bytes of exactly the strings the pattern matches in full (^ and $ at the ends are
 * optional). */
int gr_regex_to_gbnf(const char *regex, const char *prefix, char **gbnf, char *err, size_t errlen);
/* Flags for gr_regex_to_gbnf_ex. SEARCH: JSON Schema `pattern` semantics, the pattern may match
 * anywhere (an alternative without ^ may be preceded, one without $ followed, by any text).
 * JSON_STRING: the rule matches the text as it appears between the quotes of a JSON string
 * serialised as json.dumps(ensure_ascii=False) does: '"' as \", '\' as \\, \b \f \n \r \t,
 * other controls below U+0020 as \u00xx (lowercase hex), everything else as raw UTF-8. */
enum { GR_REGEX_SEARCH = 1u, GR_REGEX_JSON_STRING = 2u };
int gr_regex_to_gbnf_ex(const char *regex, const char *prefix, unsigned flags, char **gbnf,
                        char *err, size_t errlen);

/* The JSON string of the bytes s[0..n) in the one form the JSON Schema grammars produce, the form
 * Python's json.dumps(ensure_ascii=False) writes: quoted, '"' as \", '\' as \\, \b \f \n \r \t,
 * other bytes below 0x20 as \u00xx (lowercase hex), every other byte as is. Writes at most
 * 6 * n + 2 bytes to out (no NUL) and returns how many. */
size_t gr_json_string(const char *s, size_t n, char *out);

/* ---- compiled grammars ---- */
typedef struct gr_grammar gr_grammar;
/* GBNF text (docs/structured-outputs.md): rules `name ::= ...`, start rule `root`. Every error
 * names the line and column. */
int gr_compile_gbnf(gr_grammar **out, const gr_vocab *v, const char *gbnf, size_t len, char *err,
                    size_t errlen);
/* Convenience wrappers: schema, regex, any JSON object, or one of n literal strings. */
int gr_compile_json_schema(gr_grammar **out, const gr_vocab *v, const char *schema_json, size_t len,
                           const gr_json_options *opt, char *err, size_t errlen);
int gr_compile_json_object(gr_grammar **out, const gr_vocab *v, const gr_json_options *opt,
                           char *err, size_t errlen);
int gr_compile_regex(gr_grammar **out, const gr_vocab *v, const char *regex, char *err,
                     size_t errlen);
int gr_compile_choice(gr_grammar **out, const gr_vocab *v, const char *const *choices, size_t n,
                      char *err, size_t errlen);
void gr_grammar_free(gr_grammar *g);

/* ---- per-sequence matching ---- */
typedef struct gr_matcher gr_matcher;
gr_matcher *gr_matcher_new(const gr_grammar *g); /* NULL when out of memory */
void gr_matcher_free(gr_matcher *m);
/* Writes the mask of tokens allowed next into mask[gr_mask_words] (bit set = allowed). End-of-
 * sequence ids are allowed exactly when the input so far is a complete sentence of the grammar.
 * Never leaves an empty mask while the grammar can continue. GR_ERR, with an empty mask, when the
 * call exceeds the matcher's time bound (only wildly ambiguous grammars do; see the docs). */
int gr_matcher_fill_mask(gr_matcher *m, uint32_t *mask);
/* Advances by one token. GR_ERR when the grammar does not allow it (the matcher is then unchanged).
 */
int gr_matcher_accept_token(gr_matcher *m, int32_t token);
/* Advances by raw bytes (tests, forced text); GR_ERR when they leave the language (unchanged). */
int gr_matcher_accept_bytes(gr_matcher *m, const uint8_t *bytes, size_t len);
/* Whether gr_matcher_accept_token would succeed, without advancing (tests, forced tokens). */
bool gr_matcher_allows_token(gr_matcher *m, int32_t token);
/* The last call failed on the matcher's limits (time, work, stack count), not on the grammar: its
 * answer (an empty mask, GR_ERR, false) says nothing about the language. */
bool gr_matcher_call_failed(const gr_matcher *m);
/* The input so far is a complete sentence (end-of-sequence would be accepted). */
bool gr_matcher_is_complete(const gr_matcher *m);
/* No token but end-of-sequence can follow: the caller may stop without sampling. */
bool gr_matcher_is_terminated(const gr_matcher *m);

#endif
