/* berth-grammar's JSON reader: a small DOM over the original text that keeps key order and number
 * text, so that a value can be written back exactly as Python's json.dumps(json.loads(text),
 * separators=(",", ":"), ensure_ascii=False) writes it. Owns nothing outside tools/grammar/. */
#ifndef BERTH_TOOLS_PY_JSON_H
#define BERTH_TOOLS_PY_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum { PJ_NULL, PJ_TRUE, PJ_FALSE, PJ_NUMBER, PJ_STRING, PJ_ARRAY, PJ_OBJECT };

typedef struct pj_value {
    int kind;
    const char *start; /* the value's text in the source */
    size_t len;
    char *key; /* decoded member name (objects' children), else NULL */
    size_t key_len;
    struct pj_value *child, *next;
} pj_value;

/* Parses one JSON value (surrounding whitespace allowed); NULL on a syntax error or no memory.
 * The source must outlive the result. */
pj_value *pj_parse(const char *text, size_t len);
void pj_free(pj_value *v);
pj_value *pj_get(const pj_value *obj, const char *key);
/* json.dumps(..., separators=(",", ":"), ensure_ascii=False) of v: malloc'd, NUL-terminated. */
char *pj_dump_python(const pj_value *v, size_t *len);
/* A string value decoded to UTF-8 (malloc'd). */
char *pj_string(const pj_value *v, size_t *len);

#endif
