/* Internal to the JSON Schema -> GBNF compiler (json_schema*.c): the shared generator state, the
 * growable text buffer and the helpers each part uses. Owns nothing outside gr_json_schema_to_gbnf;
 * the matcher, the GBNF parser and the regex compiler of gr_compile_regex are not touched. */
#ifndef BERTH_GRAMMAR_JSON_SCHEMA_INT_H
#define BERTH_GRAMMAR_JSON_SCHEMA_INT_H

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/grammar/grammar.h"

/* Bounds that keep a pathological schema from exhausting time or memory: exceeding one is a
 * compile error naming the bound. */
#define JS_MAX_DEPTH 128       /* nested subschemas being generated at once */
#define JS_MAX_RULES 20000     /* rules in one grammar */
#define JS_MAX_TEXT (8u << 20) /* bytes of GBNF text */
#define JS_MAX_MERGES 2000     /* allOf / $ref-with-siblings merges */
#define JS_MAX_BRANCHES 256    /* anyOf branches after distributing siblings */
#define JS_MAX_REPEAT 100000   /* a {m,n} bound in the emitted grammar */

typedef struct js_buf {
    char *p;
    size_t len, cap;
    bool oom;
} js_buf;

void js_buf_add(js_buf *b, const char *s, size_t n);
void js_buf_puts(js_buf *b, const char *s);
void js_buf_printf(js_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A set of Unicode code points as sorted, disjoint, non-adjacent inclusive ranges. */
typedef struct js_cset {
    uint32_t (*r)[2];
    size_t n, cap;
} js_cset;

void js_cset_add(js_cset *s, uint32_t lo, uint32_t hi);
void js_cset_add_set(js_cset *s, const js_cset *o);
void js_cset_invert(js_cset *s); /* complement within [0, 0x10FFFF] minus surrogates */
void js_cset_intersect(js_cset *s, const js_cset *o);
void js_cset_free(js_cset *s);

typedef struct js_memo {
    const cJSON *node;
    char *name;
} js_memo;

typedef struct js_ctx {
    const gr_json_options *opt;
    const char *prefix;
    cJSON *root;
    js_buf out; /* the rules, one per line */
    int n_rules, depth, merges;
    js_memo *memo;
    size_t n_memo, cap_memo;
    cJSON **owned; /* schemas made by merging, freed with the context */
    size_t n_owned, cap_owned;
    unsigned builtins; /* JS_B_* bits of shared rules already emitted */
    char *err;
    size_t errlen;
    bool failed;
} js_ctx;

enum {
    JS_B_VALUE = 1u << 0,
    JS_B_STRING = 1u << 1,
    JS_B_NUMBER = 1u << 2,
    JS_B_INTEGER = 1u << 3,
    JS_B_WS = 1u << 4,
    JS_B_CHAR = 1u << 5,
    JS_B_HEX = 1u << 6,
    JS_B_ESC = 1u << 7,
    JS_B_KEYREST = 1u << 8, /* a non-ASCII character or an escape, then any characters */
    JS_B_CHARS = 1u << 9,   /* char*, as one rule shared by its uses (see trie_rule) */
};

/* After a failed js_gen: true (and the failure cleared) when it failed only because the schema
 * matches nothing, which the caller may handle (an optional property that can never appear). */
bool js_unsat(js_ctx *c);
/* Records the first error (later ones are dropped) and returns GR_ERR. */
int js_fail(js_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A fresh rule name "<prefix><stem><n>" (malloc'd) or NULL on failure. */
char *js_new_name(js_ctx *c, const char *stem);
/* Appends "name ::= body\n". */
int js_emit_rule(js_ctx *c, const char *name, const char *body);
/* The name of a shared rule (value, string, number, integer, char, ws), emitting it on first use.
 * The returned pointer is valid until the next call. */
const char *js_builtin(js_ctx *c, unsigned which);
/* " ws " in flexible-whitespace mode, " " otherwise: the separator between tokens. */
const char *js_ws(js_ctx *c);

/* GBNF literal for raw UTF-8 bytes: "..." with escapes. */
void js_lit(js_buf *b, const char *s, size_t n);
/* GBNF alternation matching one JSON string character, written canonically (as Python's
 * json.dumps(ensure_ascii=False) writes it), for each code point in s; empty buffer if s is empty.
 * Output is parenthesised when it has several alternatives. With c, a set holding every character
 * that needs an escape refers to the shared escape rule instead of listing the escapes. */
void js_cset_emit_json_char(js_ctx *c, js_buf *b, const js_cset *s);
/* Writes the canonical JSON string literal (with quotes) of UTF-8 text, as a GBNF literal. */
void js_lit_json_string(js_buf *b, const char *s);
/* Python json.dumps(separators=(",", ":"), ensure_ascii=False) of a cJSON value. false if it holds
 * a number cJSON cannot represent exactly (an integer beyond 2^53). */
bool js_dump_python(js_buf *b, const cJSON *v);

/* Parts, each returning a rule name (malloc'd) or NULL on error. */
char *js_gen(js_ctx *c, const cJSON *schema);                      /* json_schema.c */
char *js_gen_string(js_ctx *c, const cJSON *schema);               /* json_schema_str.c */
char *js_gen_number(js_ctx *c, const cJSON *schema, bool integer); /* json_schema_num.c */
/* The regex's GBNF expression over JSON string content (search semantics of JSON Schema's
 * `pattern`), limited to lengths [lo, hi] (hi -1: none) when asked: each alternative is then
 * anchored and its one variable-length part bounded (a subset of the language), else refused.
 * min_len and max_len (max -1: unbounded) are the result's length bounds in characters. */
char *js_pattern_expr(js_ctx *c, const char *regex, long lo, long hi, long *min_len, long *max_len);

/* allOf / $ref merging (json_schema_merge.c): a new schema (owned by c) that holds exactly the
 * instances valid against both a and b, or NULL with an error when that cannot be written soundly.
 */
cJSON *js_merge(js_ctx *c, const cJSON *a, const cJSON *b);
/* Follows "$ref" (a local JSON pointer); NULL with an error if it does not resolve. */
const cJSON *js_resolve_ref(js_ctx *c, const char *ref);
cJSON *js_own(js_ctx *c, cJSON *v);

/* Keyword tables (json_schema.c). */
bool js_is_annotation(const char *key);
bool js_is_keyword(const char *key);
/* A keyword whose value makes it a no-op ({}, true, uniqueItems false, then without if...). */
bool js_trivially_true(const char *key, const cJSON *value);
/* The schema minus one keyword and the annotations (the siblings an applicator combines with);
 * *any: whether a constraint keyword is left. Owned by c. */
cJSON *js_siblings_without(js_ctx *c, const cJSON *s, const char *drop, bool *any);

/* enum / const (json_schema_enum.c) and anyOf / oneOf (json_schema_alt.c): expressions. */
char *js_gen_enum(js_ctx *c, const cJSON *s);
char *js_gen_alternatives(js_ctx *c, const cJSON *s, const char *kw);
/* Bit set of the JSON types a schema may accept (more bits is always safe). */
enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_STR = 16, T_NUM = 32, T_INT = 64 };
unsigned js_type_bits_of(const char *type_name);
unsigned js_schema_types(js_ctx *c, const cJSON *s, int depth);

/* Numbers as JSON Schema compares them. */
bool js_num_integral(double d);

#endif
