/* JSON Schema -> GBNF: anyOf and oneOf. oneOf is written as anyOf only once no instance can match
 * two branches: proven (disjoint types, values, ranges, pattern prefixes, or required properties
 * that cannot agree) or made so (branches that only list required properties). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/json_schema_int.h"

/* Bit set of the JSON types a schema can accept (conservative: more bits is always safe). */

unsigned js_type_bits_of(const char *t)
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

unsigned js_schema_types(js_ctx *c, const cJSON *s, int depth)
{
    const unsigned all = T_NULL | T_BOOL | T_OBJ | T_ARR | T_STR | T_NUM | T_INT;
    if (!cJSON_IsObject(s) || depth > 16) return cJSON_IsFalse(s) ? 0 : all;
    unsigned bits = all;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (cJSON_IsString(t)) bits = js_type_bits_of(t->valuestring);
    if (cJSON_IsArray(t)) {
        bits = 0;
        for (const cJSON *e = t->child; e; e = e->next)
            if (cJSON_IsString(e)) bits |= js_type_bits_of(e->valuestring);
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
        if (target) bits &= js_schema_types(c, target, depth + 1);
    }
    const cJSON *all_of = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    for (const cJSON *e = cJSON_IsArray(all_of) ? all_of->child : NULL; e; e = e->next)
        bits &= js_schema_types(c, e, depth + 1);
    static const char *const alts[] = {"anyOf", "oneOf"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, alts[i]);
        if (!cJSON_IsArray(a)) continue;
        unsigned ab = 0;
        for (const cJSON *e = a->child; e; e = e->next)
            ab |= js_schema_types(c, e, depth + 1);
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
    unsigned tx = js_schema_types(c, x, 0), ty = js_schema_types(c, y, 0);
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
cJSON *js_siblings_without(js_ctx *c, const cJSON *s, const char *drop, bool *any)
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
        if (k != req && js_is_keyword(k->string) && !js_trivially_true(k->string, k)) return NULL;
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

char *js_gen_alternatives(js_ctx *c, const cJSON *s, const char *kw)
{
    const cJSON *alts = cJSON_GetObjectItemCaseSensitive(s, kw);
    if (!cJSON_IsArray(alts) || !alts->child) {
        js_fail(c, "json schema: \"%s\" must be a non-empty array", kw);
        return NULL;
    }
    bool has_siblings;
    cJSON *sib = js_siblings_without(c, s, kw, &has_siblings);
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
