/* JSON Schema -> GBNF: enum and const, written as a prefix tree of their canonical serialisations,
 * filtered by the sibling keywords that apply to each value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/json_schema_int.h"

static long utf8_len(const char *s)
{
    long n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

static bool type_matches(const cJSON *v, const char *t)
{
    if (strcmp(t, "string") == 0) return cJSON_IsString(v);
    if (strcmp(t, "number") == 0) return cJSON_IsNumber(v);
    if (strcmp(t, "integer") == 0) return cJSON_IsNumber(v) && js_num_integral(v->valuedouble);
    if (strcmp(t, "boolean") == 0) return cJSON_IsBool(v);
    if (strcmp(t, "null") == 0) return cJSON_IsNull(v);
    if (strcmp(t, "object") == 0) return cJSON_IsObject(v);
    if (strcmp(t, "array") == 0) return cJSON_IsArray(v);
    return false;
}

/* Whether v passes the sibling keywords of an enum (-1: a keyword that cannot be checked here). */
static int enum_value_ok(js_ctx *c, const cJSON *s, const cJSON *v, const char **bad)
{
    for (const cJSON *k = s->child; k; k = k->next) {
        const char *n = k->string;
        if (!js_is_keyword(n) || js_trivially_true(n, k) || strcmp(n, "enum") == 0 ||
            strcmp(n, "const") == 0)
            continue;
        if (strcmp(n, "type") == 0) {
            bool ok = false;
            if (cJSON_IsString(k)) ok = type_matches(v, k->valuestring);
            for (const cJSON *t = cJSON_IsArray(k) ? k->child : NULL; t; t = t->next)
                if (cJSON_IsString(t) && type_matches(v, t->valuestring)) ok = true;
            if (!ok && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "nullable")) &&
                cJSON_IsNull(v))
                ok = true;
            if (!ok) return 0;
        } else if (strcmp(n, "nullable") == 0) {
            continue;
        } else if ((strcmp(n, "minLength") == 0 || strcmp(n, "maxLength") == 0) &&
                   cJSON_IsNumber(k)) {
            if (!cJSON_IsString(v)) continue;
            long len = utf8_len(v->valuestring);
            if (n[1] == 'i' ? len < k->valuedouble : len > k->valuedouble) return 0;
        } else if ((strcmp(n, "minimum") == 0 || strcmp(n, "maximum") == 0) && cJSON_IsNumber(k)) {
            if (!cJSON_IsNumber(v)) continue;
            if (n[1] == 'i' ? v->valuedouble < k->valuedouble : v->valuedouble > k->valuedouble)
                return 0;
        } else {
            /* A keyword of another type than the value's does not apply to it. */
            bool str_kw = strcmp(n, "pattern") == 0 || strcmp(n, "format") == 0;
            bool num_kw = strstr(n, "xclusive") || strcmp(n, "multipleOf") == 0;
            bool obj_kw = strstr(n, "ropert") || strcmp(n, "required") == 0;
            bool arr_kw = strstr(n, "tems") || strcmp(n, "contains") == 0;
            if ((str_kw && !cJSON_IsString(v)) || (num_kw && !cJSON_IsNumber(v)) ||
                (obj_kw && !cJSON_IsObject(v)) || (arr_kw && !cJSON_IsArray(v)))
                continue;
            *bad = n;
            (void)c;
            return -1;
        }
    }
    return 1;
}

typedef struct lit {
    char *p;
    size_t len;
} lit;

static int lit_cmp(const void *a, const void *b)
{
    const lit *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->p, y->p, n);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

static size_t utf8_char_len(const char *p, size_t avail)
{
    size_t n = 1;
    while (n < avail && ((unsigned char)p[n] & 0xC0) == 0x80)
        n++;
    return n;
}

/* The literals [lo, hi) (sorted, distinct, sharing their first d bytes) as one expression whose
 * alternatives share prefixes (a trie): a matcher then follows one path, not one per value. */
static void emit_trie(js_buf *b, const lit *ls, size_t lo, size_t hi, size_t d, int depth)
{
    if (hi - lo == 1 || depth > 100) {
        for (size_t i = lo; i < hi; i++) {
            if (i > lo) js_buf_puts(b, " | ");
            js_lit(b, ls[i].p + d, ls[i].len - d);
        }
        return;
    }
    size_t cp = 0; /* common prefix beyond d, cut to a character boundary */
    const lit *f = &ls[lo], *l = &ls[hi - 1];
    while (d + cp < f->len && d + cp < l->len && f->p[d + cp] == l->p[d + cp])
        cp++;
    while (cp > 0 && d + cp < f->len && ((unsigned char)f->p[d + cp] & 0xC0) == 0x80)
        cp--;
    if (cp > 0) {
        js_lit(b, f->p + d, cp);
        js_buf_puts(b, " (");
        emit_trie(b, ls, lo, hi, d + cp, depth + 1);
        js_buf_puts(b, ")");
        return;
    }
    int alts = 0;
    size_t i = lo;
    if (ls[i].len == d) { /* a value ends here */
        js_buf_puts(b, "\"\"");
        alts++;
        i++;
    }
    while (i < hi) {
        size_t cl = utf8_char_len(ls[i].p + d, ls[i].len - d), j = i + 1;
        while (j < hi && ls[j].len >= d + cl && memcmp(ls[j].p + d, ls[i].p + d, cl) == 0)
            j++;
        if (alts++) js_buf_puts(b, " | ");
        if (j - i == 1) {
            js_lit(b, ls[i].p + d, ls[i].len - d);
        } else {
            js_lit(b, ls[i].p + d, cl);
            js_buf_puts(b, " (");
            emit_trie(b, ls, i, j, d + cl, depth + 1);
            js_buf_puts(b, ")");
        }
        i = j;
    }
}

char *js_gen_enum(js_ctx *c, const cJSON *s)
{
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    const cJSON *co = cJSON_GetObjectItemCaseSensitive(s, "const");
    if (en && !cJSON_IsArray(en)) {
        js_fail(c, "json schema: \"enum\" must be an array");
        return NULL;
    }
    size_t n = 0, cap = 0;
    lit *ls = NULL;
    char *result = NULL;
    for (const cJSON *v = co ? co : en->child; v; v = co ? NULL : v->next) {
        if (co && en) { /* both: the const must also be in the enum */
            bool found = false;
            for (const cJSON *e = en->child; e; e = e->next)
                if (cJSON_Compare(e, co, true)) found = true;
            if (!found) break;
        }
        const char *bad = NULL;
        int ok = enum_value_ok(c, s, v, &bad);
        if (ok < 0) {
            js_fail(c, "json schema: keyword \"%s\" beside enum/const is not supported", bad);
            goto done;
        }
        if (!ok) continue;
        js_buf one = {0};
        if (!js_dump_python(&one, v) || one.oom) {
            free(one.p);
            js_fail(c, "json schema: enum/const value is an integer beyond 2^53");
            goto done;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            lit *q = realloc(ls, cap * sizeof *q);
            if (!q) {
                free(one.p);
                js_fail(c, "json schema: out of memory");
                goto done;
            }
            ls = q;
        }
        ls[n++] = (lit){one.p, one.len};
    }
    if (n == 0) {
        js_fail(c, "json schema: no value of enum/const satisfies the schema: the schema matches "
                   "nothing");
        goto done;
    }
    qsort(ls, n, sizeof *ls, lit_cmp);
    size_t w = 1;
    for (size_t i = 1; i < n; i++) {
        if (lit_cmp(&ls[i], &ls[w - 1]) == 0) {
            free(ls[i].p);
            continue;
        }
        ls[w++] = ls[i];
    }
    n = w;
    js_buf b = {0};
    emit_trie(&b, ls, 0, n, 0, 0);
    if (b.oom) {
        free(b.p);
        js_fail(c, "json schema: out of memory");
        goto done;
    }
    result = b.p;
done:
    for (size_t i = 0; i < n; i++)
        free(ls[i].p);
    free(ls);
    return result;
}
