/* JSON Schema -> GBNF: the entry points, keyword checking, $ref, anyOf/oneOf/allOf, enum/const and
 * the per-type dispatch. Objects and arrays are in json_schema_obj.c, strings in json_schema_str.c,
 * numbers in json_schema_num.c, allOf merging in json_schema_merge.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/json_schema_int.h"

char *js_gen_object(js_ctx *c, const cJSON *s); /* json_schema_obj.c */
char *js_gen_array(js_ctx *c, const cJSON *s);

/* Keywords that only annotate: ignored. */
static const char *const annotation_kw[] = {"title",
                                            "description",
                                            "default",
                                            "examples",
                                            "$schema",
                                            "$id",
                                            "id",
                                            "$comment",
                                            "deprecated",
                                            "readOnly",
                                            "writeOnly",
                                            "contentEncoding",
                                            "contentMediaType",
                                            "contentSchema",
                                            "$anchor",
                                            "$dynamicAnchor",
                                            "$recursiveAnchor",
                                            "$vocabulary",
                                            "$defs",
                                            "definitions",
                                            "discriminator",
                                            "xml",
                                            "externalDocs",
                                            "example",
                                            NULL};

/* Every validation or applicator keyword of JSON Schema drafts 3 to 2020-12 (and OpenAPI's
 * nullable). Keys outside both lists are not keywords: validators ignore them, and so do we. */
static const char *const validation_kw[] = {"type",
                                            "enum",
                                            "const",
                                            "multipleOf",
                                            "maximum",
                                            "exclusiveMaximum",
                                            "minimum",
                                            "exclusiveMinimum",
                                            "maxLength",
                                            "minLength",
                                            "pattern",
                                            "items",
                                            "additionalItems",
                                            "prefixItems",
                                            "maxItems",
                                            "minItems",
                                            "uniqueItems",
                                            "contains",
                                            "minContains",
                                            "maxContains",
                                            "maxProperties",
                                            "minProperties",
                                            "required",
                                            "properties",
                                            "patternProperties",
                                            "additionalProperties",
                                            "dependencies",
                                            "dependentRequired",
                                            "dependentSchemas",
                                            "propertyNames",
                                            "unevaluatedItems",
                                            "unevaluatedProperties",
                                            "allOf",
                                            "anyOf",
                                            "oneOf",
                                            "not",
                                            "if",
                                            "then",
                                            "else",
                                            "$ref",
                                            "$dynamicRef",
                                            "$recursiveRef",
                                            "format",
                                            "nullable",
                                            "extends",
                                            "disallow",
                                            "divisibleBy",
                                            NULL};

static bool in_list(const char *const *list, const char *key)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0) return true;
    return false;
}

bool js_is_annotation(const char *key)
{
    return in_list(annotation_kw, key);
}

bool js_is_keyword(const char *key)
{
    return in_list(validation_kw, key);
}

/* Keywords whose presence with the given value changes nothing: they need no enforcement. */
static bool trivially_true(const char *k, const cJSON *v)
{
    if (strcmp(k, "then") == 0 || strcmp(k, "else") == 0) return true; /* without "if": no-op */
    if (strcmp(k, "uniqueItems") == 0) return cJSON_IsFalse(v);
    if (strcmp(k, "not") == 0) return false;
    if (strcmp(k, "minProperties") == 0 || strcmp(k, "minItems") == 0 ||
        strcmp(k, "minLength") == 0)
        return cJSON_IsNumber(v) && v->valuedouble <= 0;
    if (strcmp(k, "patternProperties") == 0 || strcmp(k, "dependencies") == 0 ||
        strcmp(k, "dependentRequired") == 0 || strcmp(k, "dependentSchemas") == 0)
        return cJSON_IsObject(v) && !v->child;
    if (strcmp(k, "propertyNames") == 0 || strcmp(k, "contains") == 0 ||
        strcmp(k, "unevaluatedProperties") == 0 || strcmp(k, "unevaluatedItems") == 0)
        return cJSON_IsTrue(v) || (cJSON_IsObject(v) && !v->child);
    return false;
}

/* The keywords this compiler enforces (the others are refused by name). */
static const char *const enforced_kw[] = {"type",
                                          "patternProperties",
                                          "dependencies",
                                          "dependentRequired",
                                          "dependentSchemas",
                                          "not",
                                          "enum",
                                          "const",
                                          "maximum",
                                          "exclusiveMaximum",
                                          "minimum",
                                          "exclusiveMinimum",
                                          "maxLength",
                                          "minLength",
                                          "pattern",
                                          "items",
                                          "additionalItems",
                                          "prefixItems",
                                          "maxItems",
                                          "minItems",
                                          "uniqueItems",
                                          "maxProperties",
                                          "minProperties",
                                          "required",
                                          "properties",
                                          "additionalProperties",
                                          "allOf",
                                          "anyOf",
                                          "oneOf",
                                          "$ref",
                                          "format",
                                          "nullable",
                                          "multipleOf",
                                          NULL};

static int check_keywords(js_ctx *c, const cJSON *s)
{
    for (const cJSON *k = s->child; k; k = k->next) {
        if (!js_is_keyword(k->string) || trivially_true(k->string, k)) continue;
        if (!in_list(enforced_kw, k->string))
            return js_fail(c, "json schema: keyword \"%s\" is not supported", k->string);
    }
    return GR_OK;
}

/* ---- memo of generated subschemas ---- */

static const char *memo_get(js_ctx *c, const cJSON *node)
{
    for (size_t i = 0; i < c->n_memo; i++)
        if (c->memo[i].node == node) return c->memo[i].name;
    return NULL;
}

static int memo_put(js_ctx *c, const cJSON *node, const char *name)
{
    if (c->n_memo == c->cap_memo) {
        size_t cap = c->cap_memo ? c->cap_memo * 2 : 64;
        js_memo *m = realloc(c->memo, cap * sizeof *m);
        if (!m) return js_fail(c, "json schema: out of memory");
        c->memo = m;
        c->cap_memo = cap;
    }
    c->memo[c->n_memo].node = node;
    c->memo[c->n_memo].name = strdup(name);
    c->n_memo++;
    return GR_OK;
}

cJSON *js_own(js_ctx *c, cJSON *v)
{
    if (!v) {
        js_fail(c, "json schema: out of memory");
        return NULL;
    }
    if (c->n_owned == c->cap_owned) {
        size_t cap = c->cap_owned ? c->cap_owned * 2 : 16;
        cJSON **o = realloc(c->owned, cap * sizeof *o);
        if (!o) {
            cJSON_Delete(v);
            js_fail(c, "json schema: out of memory");
            return NULL;
        }
        c->owned = o;
        c->cap_owned = cap;
    }
    c->owned[c->n_owned++] = v;
    return v;
}

bool js_unsat(js_ctx *c)
{
    if (!c->failed || !strstr(c->err, "matches nothing") || c->out.oom) return false;
    c->failed = false;
    return true;
}

/* ---- $ref ---- */

const cJSON *js_resolve_ref(js_ctx *c, const char *ref)
{
    if (ref[0] != '#') {
        js_fail(c, "json schema: $ref \"%.200s\": only local references (#...) are supported", ref);
        return NULL;
    }
    const cJSON *cur = c->root;
    const char *p = ref + 1;
    if (*p && *p != '/') {
        js_fail(c, "json schema: $ref \"%.200s\": anchors are not supported", ref);
        return NULL;
    }
    while (*p == '/') {
        p++;
        char tok[512];
        size_t n = 0;
        while (*p && *p != '/' && n + 1 < sizeof tok) {
            char ch = *p++;
            if (ch == '~' && *p == '0') {
                ch = '~';
                p++;
            } else if (ch == '~' && *p == '1') {
                ch = '/';
                p++;
            } else if (ch == '%' && p[0] && p[1]) {
                unsigned v;
                char hx[3] = {p[0], p[1], 0};
                if (sscanf(hx, "%2x", &v) == 1) {
                    ch = (char)v;
                    p += 2;
                }
            }
            tok[n++] = ch;
        }
        tok[n] = '\0';
        if (cJSON_IsArray(cur)) {
            char *end;
            long idx = strtol(tok, &end, 10);
            cur = (*tok && !*end) ? cJSON_GetArrayItem(cur, (int)idx) : NULL;
        } else if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
        } else {
            cur = NULL;
        }
        if (!cur) {
            js_fail(c, "json schema: $ref \"%.200s\" does not resolve", ref);
            return NULL;
        }
    }
    return cur;
}

/* ---- enum / const ---- */

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
        if (!js_is_keyword(n) || trivially_true(n, k) || strcmp(n, "enum") == 0 ||
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

static char *gen_enum(js_ctx *c, const cJSON *s)
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

/* ---- anyOf / oneOf ---- */

/* Bit set of the JSON types a schema can accept (conservative: more bits is always safe). */
enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_STR = 16, T_NUM = 32, T_INT = 64 };

static unsigned type_bits_of(const char *t)
{
    if (strcmp(t, "null") == 0) return T_NULL;
    if (strcmp(t, "boolean") == 0) return T_BOOL;
    if (strcmp(t, "object") == 0) return T_OBJ;
    if (strcmp(t, "array") == 0) return T_ARR;
    if (strcmp(t, "string") == 0) return T_STR;
    if (strcmp(t, "number") == 0) return T_NUM | T_INT;
    if (strcmp(t, "integer") == 0) return T_INT;
    return 0;
}

static unsigned value_bits(const cJSON *v)
{
    if (cJSON_IsNull(v)) return T_NULL;
    if (cJSON_IsBool(v)) return T_BOOL;
    if (cJSON_IsObject(v)) return T_OBJ;
    if (cJSON_IsArray(v)) return T_ARR;
    if (cJSON_IsString(v)) return T_STR;
    return js_num_integral(v->valuedouble) ? T_INT : T_NUM;
}

static unsigned schema_types(js_ctx *c, const cJSON *s, int depth)
{
    const unsigned all = T_NULL | T_BOOL | T_OBJ | T_ARR | T_STR | T_NUM | T_INT;
    if (!cJSON_IsObject(s) || depth > 16) return cJSON_IsFalse(s) ? 0 : all;
    unsigned bits = all;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (cJSON_IsString(t)) bits = type_bits_of(t->valuestring);
    if (cJSON_IsArray(t)) {
        bits = 0;
        for (const cJSON *e = t->child; e; e = e->next)
            if (cJSON_IsString(e)) bits |= type_bits_of(e->valuestring);
    }
    if (t && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "nullable"))) bits |= T_NULL;
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    const cJSON *co = cJSON_GetObjectItemCaseSensitive(s, "const");
    if (co) bits &= value_bits(co) | (value_bits(co) == T_INT ? T_NUM : 0);
    if (cJSON_IsArray(en)) {
        unsigned eb = 0;
        for (const cJSON *e = en->child; e; e = e->next)
            eb |= value_bits(e) | (value_bits(e) == T_INT ? T_NUM : 0);
        bits &= eb;
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    if (cJSON_IsString(ref)) {
        bool was = c->failed;
        const cJSON *target = js_resolve_ref(c, ref->valuestring);
        if (!was) c->failed = false;
        if (target) bits &= schema_types(c, target, depth + 1);
    }
    const cJSON *all_of = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    for (const cJSON *e = cJSON_IsArray(all_of) ? all_of->child : NULL; e; e = e->next)
        bits &= schema_types(c, e, depth + 1);
    static const char *const alts[] = {"anyOf", "oneOf"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, alts[i]);
        if (!cJSON_IsArray(a)) continue;
        unsigned ab = 0;
        for (const cJSON *e = a->child; e; e = e->next)
            ab |= schema_types(c, e, depth + 1);
        bits &= ab;
    }
    return bits;
}

/* A set of const/enum values a schema's instances all belong to, or NULL: the schema's own, or
 * one of its allOf members' (the intersection lies within each). */
static const cJSON *finite_values(js_ctx *c, const cJSON *s)
{
    for (int hops = 0; hops < 8; hops++) {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
        if (!cJSON_IsString(ref)) break;
        bool was = c->failed;
        const cJSON *t = js_resolve_ref(c, ref->valuestring);
        if (!was) c->failed = false;
        if (!t || t == s) break;
        s = t;
    }
    const cJSON *co = cJSON_GetObjectItemCaseSensitive(s, "const");
    if (co) return co;
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    if (cJSON_IsArray(en)) return en;
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    for (const cJSON *e = cJSON_IsArray(all) ? all->child : NULL; e; e = e->next) {
        const cJSON *v = cJSON_IsObject(e) ? finite_values(c, e) : NULL;
        if (v) return v;
    }
    return NULL;
}

static bool values_disjoint(const cJSON *a, const cJSON *b)
{
    const cJSON *as = cJSON_IsArray(a) ? a->child : a;
    for (; as; as = cJSON_IsArray(a) ? as->next : NULL) {
        const cJSON *bs = cJSON_IsArray(b) ? b->child : b;
        for (; bs; bs = cJSON_IsArray(b) ? bs->next : NULL)
            if (cJSON_Compare(as, bs, true)) return false;
    }
    return true;
}

/* oneOf is compiled as anyOf only when no instance can match two branches: their types are
 * disjoint, or they are objects that pin one required property to disjoint const/enum values. */
static const cJSON *deref(js_ctx *c, const cJSON *s)
{
    for (int hops = 0; hops < 8 && cJSON_IsObject(s); hops++) {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
        if (!cJSON_IsString(ref)) break;
        bool was = c->failed;
        const cJSON *t = js_resolve_ref(c, ref->valuestring);
        if (!was) c->failed = false;
        if (!t || t == s) break;
        s = t;
    }
    return s;
}

/* The schema an object's property p has (its own, or additionalProperties'; cJSON false when it
 * may not appear; NULL when unknown: allOf-merged or otherwise not visible here). */
static const cJSON *prop_schema(const cJSON *s, const char *p)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(props, p);
    if (v) return v;
    if (cJSON_GetObjectItemCaseSensitive(s, "patternProperties")) return NULL;
    return cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
}

static bool disjoint(js_ctx *c, const cJSON *x, const cJSON *y, int depth);

/* Objects x and y are disjoint when a property one requires cannot take a value the other
 * allows for it. */
static bool objects_disjoint(js_ctx *c, const cJSON *x, const cJSON *y, int depth)
{
    for (int side = 0; side < 2; side++) {
        const cJSON *a = side ? y : x, *b = side ? x : y;
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(a, "required");
        for (const cJSON *r = cJSON_IsArray(req) ? req->child : NULL; r; r = r->next) {
            if (!cJSON_IsString(r)) continue;
            const cJSON *pb = prop_schema(b, r->valuestring);
            if (cJSON_IsFalse(pb)) return true;
            const cJSON *pa = prop_schema(a, r->valuestring);
            if (pa && pb && disjoint(c, pa, pb, depth + 1)) return true;
        }
    }
    return false;
}

/* Bounds of a numeric schema (minimum/maximum only; exclusive and absent ones widen to none). */
static void num_bounds(const cJSON *s, double *lo, double *hi)
{
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(s, "minimum");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(s, "maximum");
    *lo = cJSON_IsNumber(mn) ? mn->valuedouble : -INFINITY;
    *hi = cJSON_IsNumber(mx) ? mx->valuedouble : INFINITY;
}

/* The literal text every string matching the schema's pattern starts with ("" when unknown):
 * the characters after a leading ^ up to the first one that is not a plain literal. */
static void pattern_prefix(const cJSON *s, char out[64])
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(s, "pattern");
    out[0] = '\0';
    if (!cJSON_IsString(p) || p->valuestring[0] != '^' || strchr(p->valuestring, '|')) return;
    size_t n = 0;
    for (const char *q = p->valuestring + 1; *q && n < 63;) {
        char ch;
        const char *next;
        if (*q == '\\' && q[1] && strchr(".-/#:@&=+_~!$'(),;*?[]{}|^$\\", q[1])) {
            ch = q[1];
            next = q + 2;
        } else if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                   (*q >= '0' && *q <= '9') || strchr("-/#:@&=_~!,;'\" %<>", *q)) {
            ch = *q;
            next = q + 1;
        } else {
            break;
        }
        if (*next == '?' || *next == '*' || *next == '{') break; /* optional or repeated */
        out[n++] = ch;
        q = next;
    }
    out[n] = '\0';
}

static bool prefixes_clash(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (*a != *b) return true;
    return false;
}

/* No string of the finite values v starts with prefix. */
static bool values_avoid_prefix(const cJSON *v, const char *prefix)
{
    const cJSON *e = cJSON_IsArray(v) ? v->child : v;
    for (; e; e = cJSON_IsArray(v) ? e->next : NULL)
        if (cJSON_IsString(e) && strncmp(e->valuestring, prefix, strlen(prefix)) == 0) return false;
    return true;
}

/* No instance can be valid against both x and y (false when unsure). */
static bool disjoint(js_ctx *c, const cJSON *x, const cJSON *y, int depth)
{
    if (depth > 8) return false;
    if (cJSON_IsFalse(x) || cJSON_IsFalse(y)) return true;
    if (!cJSON_IsObject(x) || !cJSON_IsObject(y)) return false;
    x = deref(c, x);
    y = deref(c, y);
    const cJSON *fx = finite_values(c, x), *fy = finite_values(c, y);
    if (fx && fy && values_disjoint(fx, fy)) return true;
    unsigned tx = schema_types(c, x, 0), ty = schema_types(c, y, 0);
    if ((tx & T_NUM) && (ty & T_INT)) ty |= T_NUM;
    if ((ty & T_NUM) && (tx & T_INT)) tx |= T_NUM;
    unsigned common = tx & ty;
    if (!common) return true;
    if (common == T_OBJ) return objects_disjoint(c, x, y, depth);
    if (common == T_STR) {
        char px[64], py[64];
        pattern_prefix(x, px);
        pattern_prefix(y, py);
        if (px[0] && py[0] && prefixes_clash(px, py)) return true;
        if (fx && py[0] && values_avoid_prefix(fx, py)) return true;
        if (fy && px[0] && values_avoid_prefix(fy, px)) return true;
        return false;
    }
    if (!(common & ~(T_NUM | T_INT))) {
        double xl, xh, yl, yh;
        num_bounds(x, &xl, &xh);
        num_bounds(y, &yl, &yh);
        return xh < yl || yh < xl;
    }
    return false;
}

/* oneOf is compiled as anyOf only when no instance can match two branches (see disjoint). */
static bool branches_disjoint(js_ctx *c, const cJSON *x, const cJSON *y)
{
    return disjoint(c, x, y, 0);
}

/* The schema minus the given keyword (and annotations): the siblings an applicator combines with.
 */
static cJSON *siblings_without(js_ctx *c, const cJSON *s, const char *drop, bool *any)
{
    cJSON *o = js_own(c, cJSON_CreateObject());
    *any = false;
    if (!o) return NULL;
    for (const cJSON *k = s->child; k; k = k->next) {
        if (strcmp(k->string, drop) == 0 || !js_is_keyword(k->string)) continue;
        cJSON_AddItemToObject(o, k->string, cJSON_Duplicate(k, true));
        *any = true;
    }
    return o;
}

/* A oneOf branch that only lists required properties: an instance matches it (given the
 * siblings) exactly when all of them are present. */
static const cJSON *required_only(const cJSON *x)
{
    if (!cJSON_IsObject(x)) return NULL;
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(x, "required");
    if (!cJSON_IsArray(req)) return NULL;
    for (const cJSON *k = x->child; k; k = k->next)
        if (k != req && js_is_keyword(k->string) && !trivially_true(k->string, k)) return NULL;
    for (const cJSON *r = req->child; r; r = r->next)
        if (!cJSON_IsString(r)) return NULL;
    return req;
}

/* Makes oneOf's branches (br, merged with the siblings) mutually exclusive, in place: branches that
 * cannot overlap stay; when two may overlap and both only list required properties, each gets
 * variants forbidding one of the other's names ("not all of them present"); otherwise refused. */
static int oneof_exclusive(js_ctx *c, const cJSON **br, const cJSON **orig, size_t *nb)
{
    size_t n = *nb;
    bool overlap[JS_MAX_BRANCHES][JS_MAX_BRANCHES / 8 + 1];
    if (n > JS_MAX_BRANCHES / 8)
        return js_fail(c, "json schema: more than %d \"oneOf\" branches", JS_MAX_BRANCHES / 8);
    bool any = false;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            overlap[i][j] = false;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            if (branches_disjoint(c, br[i], br[j])) continue;
            if (!required_only(orig[i]) || !required_only(orig[j]))
                return js_fail(c, "json schema: \"oneOf\" branches that may overlap are not "
                                  "supported (only branches of disjoint types, of disjoint "
                                  "const/enum values, objects whose required properties cannot "
                                  "agree, or branches that only list required properties)");
            overlap[i][j] = overlap[j][i] = true;
            any = true;
        }
    if (!any) return GR_OK;
    const cJSON *out[JS_MAX_BRANCHES];
    size_t nout = 0;
    for (size_t i = 0; i < n; i++) {
        /* variants: one forbidden name from each overlapping branch's required list */
        enum { MAXV = 64 };
        cJSON *vars[MAXV];
        size_t nv = 1;
        vars[0] = js_own(c, cJSON_CreateObject());
        if (!vars[0]) return GR_ERR;
        cJSON_AddObjectToObject(vars[0], "properties");
        for (size_t j = 0; j < n; j++) {
            if (!overlap[i][j]) continue;
            const cJSON *req = required_only(orig[j]);
            cJSON *next[MAXV];
            size_t nn = 0;
            for (size_t v = 0; v < nv; v++)
                for (const cJSON *r = req->child; r; r = r->next) {
                    if (nn == MAXV)
                        return js_fail(c,
                                       "json schema: \"oneOf\" needs more than %d variants "
                                       "to keep its branches exclusive",
                                       MAXV);
                    cJSON *d = js_own(c, cJSON_Duplicate(vars[v], true));
                    if (!d) return GR_ERR;
                    cJSON *props = cJSON_GetObjectItemCaseSensitive(d, "properties");
                    if (!cJSON_GetObjectItemCaseSensitive(props, r->valuestring))
                        cJSON_AddFalseToObject(props, r->valuestring);
                    next[nn++] = d;
                }
            memcpy(vars, next, nn * sizeof *vars);
            nv = nn;
        }
        for (size_t v = 0; v < nv; v++) {
            const cJSON *m = js_merge(c, br[i], vars[v]);
            if (!m) {
                if (js_unsat(c)) continue;
                return GR_ERR;
            }
            if (nout == JS_MAX_BRANCHES)
                return js_fail(c, "json schema: more than %d \"oneOf\" branches", JS_MAX_BRANCHES);
            out[nout++] = m;
        }
    }
    memcpy(br, out, nout * sizeof *br);
    *nb = nout;
    return GR_OK;
}

static char *gen_alternatives(js_ctx *c, const cJSON *s, const char *kw)
{
    const cJSON *alts = cJSON_GetObjectItemCaseSensitive(s, kw);
    if (!cJSON_IsArray(alts) || !alts->child) {
        js_fail(c, "json schema: \"%s\" must be a non-empty array", kw);
        return NULL;
    }
    bool has_siblings;
    cJSON *sib = siblings_without(c, s, kw, &has_siblings);
    if (!sib) return NULL;
    /* The branches with the siblings merged in (an unsatisfiable branch is left out). */
    size_t nb = 0;
    const cJSON *br[JS_MAX_BRANCHES], *orig[JS_MAX_BRANCHES];
    for (const cJSON *x = alts->child; x; x = x->next) {
        if (cJSON_IsFalse(x)) continue;
        const cJSON *branch = x;
        if (has_siblings) {
            branch = js_merge(c, sib, x);
            if (!branch) {
                if (c->failed && strstr(c->err, "matches nothing")) {
                    c->failed = false;
                    continue;
                }
                return NULL;
            }
        }
        if (nb == JS_MAX_BRANCHES) {
            js_fail(c, "json schema: more than %d \"%s\" branches", JS_MAX_BRANCHES, kw);
            return NULL;
        }
        orig[nb] = x;
        br[nb++] = branch;
    }
    if (nb == 0) {
        js_fail(c, "json schema: no branch of \"%s\" can match (the schema matches nothing)", kw);
        return NULL;
    }
    if (strcmp(kw, "oneOf") == 0 && oneof_exclusive(c, br, orig, &nb)) return NULL;
    js_buf b = {0};
    size_t kept = 0;
    for (size_t i = 0; i < nb; i++) {
        char *name = js_gen(c, br[i]);
        if (!name) {
            if (js_unsat(c)) continue;
            free(b.p);
            return NULL;
        }
        if (kept++) js_buf_puts(&b, " | ");
        js_buf_puts(&b, name);
        free(name);
    }
    if (!kept) {
        js_fail(c, "json schema: no branch of \"%s\" can match (the schema matches nothing)", kw);
        return NULL;
    }
    return b.p;
}

/* ---- dispatch ---- */

static char *gen_types(js_ctx *c, const cJSON *s)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    unsigned bits = 0;
    if (!t) {
        bits = T_NULL | T_BOOL | T_OBJ | T_ARR | T_STR | T_NUM | T_INT;
    } else if (cJSON_IsString(t)) {
        bits = type_bits_of(t->valuestring);
        if (!bits) {
            js_fail(c, "json schema: unknown type \"%.100s\"", t->valuestring);
            return NULL;
        }
    } else if (cJSON_IsArray(t)) {
        for (const cJSON *e = t->child; e; e = e->next) {
            unsigned tb = cJSON_IsString(e) ? type_bits_of(e->valuestring) : 0;
            if (!tb) {
                js_fail(c, "json schema: \"type\" holds an unknown type");
                return NULL;
            }
            bits |= tb;
        }
    } else {
        js_fail(c, "json schema: \"type\" must be a string or an array of strings");
        return NULL;
    }
    if (t && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "nullable"))) bits |= T_NULL;
    if (!bits) {
        js_fail(c, "json schema: an empty \"type\" list matches nothing");
        return NULL;
    }
    js_buf b = {0};
    int n = 0;
    for (unsigned bit = 1; bit <= T_INT; bit <<= 1) {
        if (!(bits & bit)) continue;
        char *part = NULL;
        switch (bit) {
        case T_NULL:
            part = strdup("\"null\"");
            break;
        case T_BOOL:
            part = strdup("\"true\" | \"false\"");
            break;
        case T_OBJ:
            part = js_gen_object(c, s);
            break;
        case T_ARR:
            part = js_gen_array(c, s);
            break;
        case T_STR:
            part = js_gen_string(c, s);
            break;
        case T_NUM:
            part = js_gen_number(c, s, false);
            break;
        case T_INT:
            if (bits & T_NUM) continue; /* number already accepts the integers */
            part = js_gen_number(c, s, true);
            break;
        }
        if (!part) {
            free(b.p);
            if (!c->failed) js_fail(c, "json schema: out of memory");
            return NULL;
        }
        if (n++) js_buf_puts(&b, " | ");
        js_buf_puts(&b, part);
        free(part);
    }
    return b.p;
}

/* {"properties": {name: false}}: the property may not appear. */
static cJSON *forbid(const char *name)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddFalseToObject(cJSON_AddObjectToObject(o, "properties"), name);
    return o;
}

/* dependencies, dependentRequired, dependentSchemas and not, rewritten as allOf members that the
 * merger handles: "a present implies X" is anyOf [a absent, a present and X]; "not required R"
 * is anyOf over r in R of r absent; "not type T" is the remaining types. NULL when none apply;
 * error (c->failed) when a form is not supported. */
static cJSON *rewrite_constraints(js_ctx *c, const cJSON *s)
{
    static const char *const deps[] = {"dependencies", "dependentRequired", "dependentSchemas"};
    cJSON *extra = NULL;
    for (int d = 0; d < 3; d++) {
        const cJSON *dv = cJSON_GetObjectItemCaseSensitive(s, deps[d]);
        if (!dv || trivially_true(deps[d], dv)) continue;
        if (!cJSON_IsObject(dv)) {
            js_fail(c, "json schema: \"%s\" must be an object", deps[d]);
            goto fail;
        }
        for (const cJSON *e = dv->child; e; e = e->next) {
            cJSON *alt = cJSON_CreateObject();
            cJSON *arr = cJSON_AddArrayToObject(alt, "anyOf");
            cJSON_AddItemToArray(arr, forbid(e->string));
            cJSON *present = cJSON_CreateObject();
            cJSON *req = cJSON_AddArrayToObject(present, "required");
            cJSON_AddItemToArray(req, cJSON_CreateString(e->string));
            if (cJSON_IsArray(e)) {
                for (const cJSON *n = e->child; n; n = n->next)
                    if (cJSON_IsString(n))
                        cJSON_AddItemToArray(req, cJSON_CreateString(n->valuestring));
            } else {
                cJSON *all = cJSON_AddArrayToObject(present, "allOf");
                cJSON_AddItemToArray(all, cJSON_Duplicate(e, true));
            }
            cJSON_AddItemToArray(arr, present);
            if (!extra) extra = cJSON_CreateArray();
            cJSON_AddItemToArray(extra, alt);
        }
    }
    const cJSON *no = cJSON_GetObjectItemCaseSensitive(s, "not");
    if (no) {
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(no, "required");
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(no, "type");
        int keys = 0;
        for (const cJSON *k = cJSON_IsObject(no) ? no->child : NULL; k; k = k->next)
            if (js_is_keyword(k->string)) keys++;
        cJSON *alt = NULL;
        if (keys == 1 && cJSON_IsArray(req) && req->child) {
            alt = cJSON_CreateObject();
            cJSON *arr = cJSON_AddArrayToObject(alt, "anyOf");
            for (const cJSON *r = req->child; r; r = r->next)
                if (cJSON_IsString(r)) cJSON_AddItemToArray(arr, forbid(r->valuestring));
        } else if (keys == 1 && ty) {
            unsigned bits = schema_types(c, no, 0);
            unsigned keep = (T_NULL | T_BOOL | T_OBJ | T_ARR | T_STR | T_NUM | T_INT) & ~bits;
            if ((bits & T_INT) && !(bits & T_NUM)) {
                js_fail(c, "json schema: \"not\" of type integer alone is not supported");
                goto fail;
            }
            static const char *const names[] = {"null",  "boolean", "object",
                                                "array", "string",  "number"};
            alt = cJSON_CreateObject();
            cJSON *t = cJSON_AddArrayToObject(alt, "type");
            for (int i = 0; i < 6; i++)
                if (keep & (1u << i)) cJSON_AddItemToArray(t, cJSON_CreateString(names[i]));
        } else {
            js_fail(c, "json schema: keyword \"not\" is supported only as not {required: [...]} "
                       "or not {type: ...}");
            goto fail;
        }
        if (!extra) extra = cJSON_CreateArray();
        cJSON_AddItemToArray(extra, alt);
    }
    if (!extra) return NULL;
    cJSON *o = js_own(c, cJSON_CreateObject());
    if (!o) goto fail;
    cJSON *all = cJSON_AddArrayToObject(o, "allOf");
    const cJSON *had = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    for (const cJSON *e = cJSON_IsArray(had) ? had->child : NULL; e; e = e->next)
        cJSON_AddItemToArray(all, cJSON_Duplicate(e, true));
    for (cJSON *e = extra->child; e; e = e->next)
        cJSON_AddItemToArray(all, cJSON_Duplicate(e, true));
    cJSON_Delete(extra);
    for (const cJSON *k = s->child; k; k = k->next) {
        if (strcmp(k->string, "allOf") == 0 || strcmp(k->string, "not") == 0) continue;
        bool dep = false;
        for (int d = 0; d < 3; d++)
            dep |= strcmp(k->string, deps[d]) == 0;
        if (!dep) cJSON_AddItemToObject(o, k->string, cJSON_Duplicate(k, true));
    }
    return o;
fail:
    cJSON_Delete(extra);
    return NULL;
}

static char *gen_body(js_ctx *c, const cJSON *s)
{
    if (check_keywords(c, s)) return NULL;
    cJSON *rewritten = rewrite_constraints(c, s);
    if (c->failed) return NULL;
    if (rewritten) s = rewritten;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    const cJSON *all_of = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    if (ref || all_of) {
        /* $ref and allOf combine with their siblings: merge everything into one schema. */
        bool any;
        cJSON *acc = siblings_without(c, s, ref ? "$ref" : "allOf", &any);
        if (!acc) return NULL;
        if (ref) {
            if (!cJSON_IsString(ref)) {
                js_fail(c, "json schema: \"$ref\" must be a string");
                return NULL;
            }
            const cJSON *target = js_resolve_ref(c, ref->valuestring);
            if (!target) return NULL;
            if (!any) return js_gen(c, target);
            acc = js_merge(c, target, acc);
        } else {
            if (!cJSON_IsArray(all_of) || !all_of->child) {
                js_fail(c, "json schema: \"allOf\" must be a non-empty array");
                return NULL;
            }
            for (const cJSON *e = all_of->child; e && acc; e = e->next)
                acc = js_merge(c, acc, e);
        }
        return acc ? js_gen(c, acc) : NULL;
    }
    if (cJSON_GetObjectItemCaseSensitive(s, "anyOf")) return gen_alternatives(c, s, "anyOf");
    if (cJSON_GetObjectItemCaseSensitive(s, "oneOf")) return gen_alternatives(c, s, "oneOf");
    if (cJSON_GetObjectItemCaseSensitive(s, "enum") || cJSON_GetObjectItemCaseSensitive(s, "const"))
        return gen_enum(c, s);
    return gen_types(c, s);
}

char *js_gen(js_ctx *c, const cJSON *s)
{
    if (c->failed) return NULL;
    if (cJSON_IsTrue(s)) return strdup(js_builtin(c, JS_B_VALUE));
    if (cJSON_IsFalse(s)) {
        js_fail(c, "json schema: schema false matches nothing");
        return NULL;
    }
    if (!cJSON_IsObject(s)) {
        js_fail(c, "json schema: a schema must be an object or a boolean");
        return NULL;
    }
    bool constrained = false;
    for (const cJSON *k = s->child; k; k = k->next)
        if (js_is_keyword(k->string) && !trivially_true(k->string, k)) constrained = true;
    if (!constrained) return strdup(js_builtin(c, JS_B_VALUE));
    const char *known = memo_get(c, s);
    if (known) return strdup(known);
    if (c->depth >= JS_MAX_DEPTH) {
        js_fail(c, "json schema: nesting deeper than %d", JS_MAX_DEPTH);
        return NULL;
    }
    char *name = js_new_name(c, "s");
    if (!name || memo_put(c, s, name)) {
        free(name);
        return NULL;
    }
    c->depth++;
    char *body = gen_body(c, s);
    c->depth--;
    if (!body)
        for (size_t i = 0; i < c->n_memo; i++)
            if (c->memo[i].node == s) { /* forget it: a later use must not find a rule never made */
                free(c->memo[i].name);
                c->memo[i] = c->memo[--c->n_memo];
                break;
            }
    if (!body || js_emit_rule(c, name, body)) {
        free(body);
        free(name);
        return NULL;
    }
    free(body);
    return name;
}

/* ---- entry points ---- */

/* The offset of the first byte that is not part of well-formed UTF-8 (or is NUL), or len. */
static size_t utf8_invalid_at(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        size_t n;
        uint32_t cp, min;
        if (b < 0x80) {
            if (b == 0) return i; /* not JSON, and cJSON would end strings there */
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            n = 1, cp = b & 0x1F, min = 0x80;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 2, cp = b & 0x0F, min = 0x800;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 3, cp = b & 0x07, min = 0x10000;
        } else {
            return i;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n + 1;
    }
    return len;
}

int gr_json_schema_to_gbnf(const char *schema_json, size_t len, const char *prefix,
                           const gr_json_options *opt, char **gbnf, char *err, size_t errlen)
{
    static const gr_json_options defaults = {0};
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (gbnf) *gbnf = NULL;
    if (!schema_json || !gbnf) {
        snprintf(err, errlen, "json schema: no schema");
        return GR_ERR;
    }
    if (!prefix) prefix = "";
    for (const char *p = prefix; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-')) {
            snprintf(err, errlen, "json schema: rule prefix \"%.60s\" must be letters, digits, -",
                     prefix);
            return GR_ERR;
        }
    if (strlen(prefix) > 64) {
        snprintf(err, errlen, "json schema: rule prefix longer than 64 bytes");
        return GR_ERR;
    }
    /* JSON text is UTF-8; cJSON does not check, and the grammar text must be valid UTF-8 */
    size_t bad = utf8_invalid_at(schema_json, len);
    if (bad < len) {
        snprintf(err, errlen, "json schema: invalid UTF-8 or NUL at byte %zu", bad);
        return GR_ERR;
    }
    /* cJSON ends decoded strings at a NUL: a string holding \u0000 would be silently cut short. */
    for (size_t i = 0; i + 6 <= len; i++)
        if (schema_json[i] == '\\' && (schema_json[i + 1] == 'u' || schema_json[i + 1] == 'U') &&
            strncmp(schema_json + i + 2, "0000", 4) == 0) {
            snprintf(err, errlen, "json schema: strings holding \\u0000 are not supported");
            return GR_ERR;
        }
    js_ctx c = {.opt = opt ? opt : &defaults, .prefix = prefix, .err = err, .errlen = errlen};
    const char *end = NULL;
    c.root = cJSON_ParseWithLengthOpts(schema_json, len, &end, false);
    if (!c.root) {
        size_t off = end ? (size_t)(end - schema_json) : 0;
        snprintf(err, errlen, "json schema: invalid JSON near byte %zu", off);
        return GR_ERR;
    }
    char *start = js_gen(&c, c.root);
    int rc = GR_ERR;
    if (start && !c.failed && !c.out.oom) {
        js_buf full = {0};
        js_buf_printf(&full, "%sroot ::= %s\n", prefix, start);
        js_buf_add(&full, c.out.p, c.out.len);
        if (full.oom) {
            free(full.p);
            js_fail(&c, "json schema: out of memory");
        } else {
            *gbnf = full.p;
            rc = GR_OK;
        }
    } else if (!c.failed) {
        js_fail(&c, "json schema: out of memory");
    }
    free(start);
    free(c.out.p);
    for (size_t i = 0; i < c.n_memo; i++)
        free(c.memo[i].name);
    free(c.memo);
    for (size_t i = 0; i < c.n_owned; i++)
        cJSON_Delete(c.owned[i]);
    free(c.owned);
    cJSON_Delete(c.root);
    return rc;
}

int gr_compile_json_schema(gr_grammar **out, const gr_vocab *v, const char *schema_json, size_t len,
                           const gr_json_options *opt, char *err, size_t errlen)
{
    char *text = NULL;
    if (gr_json_schema_to_gbnf(schema_json, len, "", opt, &text, err, errlen)) return GR_ERR;
    int rc = gr_compile_gbnf(out, v, text, strlen(text), err, errlen);
    free(text);
    return rc;
}

int gr_compile_json_object(gr_grammar **out, const gr_vocab *v, const gr_json_options *opt,
                           char *err, size_t errlen)
{
    /* Any object: additionalProperties stays true whatever the strict option says. */
    gr_json_options o = opt ? *opt : (gr_json_options){0};
    o.strict = false;
    static const char schema[] = "{\"type\":\"object\"}";
    return gr_compile_json_schema(out, v, schema, sizeof schema - 1, &o, err, errlen);
}
