/* JSON Schema -> GBNF for objects (properties in definition order, required, additionalProperties)
 * and arrays (items, prefixItems, additionalItems, minItems/maxItems). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/json_schema_int.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

char *js_gen_object(js_ctx *c, const cJSON *s);
char *js_gen_array(js_ctx *c, const cJSON *s);

/* ---- keys that are none of a set of names ---- */

static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned char b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    int n = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
    uint32_t v = b & (0x3F >> n);
    size_t i = 1;
    for (; i <= (size_t)n && (s[i] & 0xC0) == 0x80; i++)
        v = (v << 6) | (s[i] & 0x3F);
    *cp = (i == (size_t)n + 1 && n) ? v : 0xFFFD;
    return i;
}

typedef struct trie {
    uint32_t cp;
    bool word;
    struct trie *kids, *next;
} trie;

static void trie_free(trie *t)
{
    while (t) {
        trie *n = t->next;
        trie_free(t->kids);
        free(t);
        t = n;
    }
}

static bool trie_add(trie *root, const char *name)
{
    trie *cur = root;
    for (const unsigned char *p = (const unsigned char *)name; *p;) {
        uint32_t cp;
        p += utf8_next(p, &cp);
        trie *k = cur->kids;
        while (k && k->cp != cp)
            k = k->next;
        if (!k) {
            k = calloc(1, sizeof *k);
            if (!k) return false;
            k->cp = cp;
            k->next = cur->kids;
            cur->kids = k;
        }
        cur = k;
    }
    cur->word = true;
    return true;
}

/* rule for the string contents that are not a name below this node */
static char *trie_rule(js_ctx *c, const trie *t)
{
    char *name = js_new_name(c, "k");
    if (!name) return NULL;
    js_buf b = {0};
    int n = 0;
    if (!t->word) {
        js_buf_puts(&b, "\"\"");
        n++;
    }
    js_cset other = {0};
    bool ascii_kids = true;
    for (const trie *k = t->kids; k; k = k->next) {
        js_cset_add(&other, k->cp, k->cp);
        ascii_kids = ascii_kids && k->cp >= 0x20 && k->cp < 0x80 && k->cp != '"' && k->cp != '\\';
    }
    js_cset_invert(&other);
    if (ascii_kids) {
        /* The characters that leave the trie at every node: the ASCII ones here, the others (and
         * the escapes) through one shared rule, and the rest of the name (free after any of them)
         * through another (`chars`, not `char*`, which would be a new rule at each use). Shared
         * rules make the matcher's states after a multi-byte character or an escape one state
         * however many nodes the trie has, which keeps checking the whole rule against a slice
         * (gr_match.c, rule_slice) cheap. */
        js_cset ascii = {0};
        js_cset_add(&ascii, 0x20, 0x21);
        js_cset_add(&ascii, 0x23, 0x5B);
        js_cset_add(&ascii, 0x5D, 0x7F);
        js_cset_intersect(&other, &ascii);
        js_cset_free(&ascii);
    }
    js_buf cls = {0};
    js_cset_emit_json_char(c, &cls, &other);
    js_cset_free(&other);
    if (cls.len) {
        if (n++) js_buf_puts(&b, " | ");
        js_buf_printf(&b, "%s %s", cls.p, js_builtin(c, JS_B_CHARS));
    }
    free(cls.p);
    if (ascii_kids) {
        if (n++) js_buf_puts(&b, " | ");
        js_buf_puts(&b, js_builtin(c, JS_B_KEYREST));
    }
    for (const trie *k = t->kids; k; k = k->next) {
        char *sub = trie_rule(c, k);
        if (!sub) {
            free(b.p);
            free(name);
            return NULL;
        }
        js_cset one = {0};
        js_cset_add(&one, k->cp, k->cp);
        if (n++) js_buf_puts(&b, " | ");
        js_cset_emit_json_char(c, &b, &one);
        js_cset_free(&one);
        js_buf_printf(&b, " %s", sub);
        free(sub);
    }
    if (js_emit_rule(c, name, b.p ? b.p : "\"\"")) {
        free(b.p);
        free(name);
        return NULL;
    }
    free(b.p);
    return name;
}

/* ---- objects ---- */

/* Whether a property name matches one of the patternProperties patterns: 1, 0, or -1 when a
 * pattern does not compile. PCRE2 (Unicode classes) stands in for the validators' engines; a name
 * beyond ASCII, where engines may differ, counts as matching (the caller then refuses or merges).
 */
static int name_matches(js_ctx *c, const cJSON *pp, const char *name)
{
    for (const unsigned char *q = (const unsigned char *)name; *q; q++)
        if (*q >= 0x80) return 1;
    for (const cJSON *e = pp->child; e; e = e->next) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)e->string, PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
        if (!re) {
            js_fail(c, "json schema: patternProperties pattern \"%.100s\" does not compile",
                    e->string);
            return -1;
        }
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        int rc = md ? pcre2_match(re, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL) : -1;
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        if (rc >= 0) return 1;
    }
    return 0;
}

static bool no_keywords(const cJSON *s)
{
    if (cJSON_IsTrue(s)) return true;
    if (!cJSON_IsObject(s)) return false;
    for (const cJSON *k = s->child; k; k = k->next)
        if (js_is_keyword(k->string)) return false;
    return true;
}

typedef struct prop {
    const char *name;
    char *rule; /* value rule */
    bool required;
} prop;

static bool name_in(const cJSON *arr, const char *name)
{
    for (const cJSON *e = cJSON_IsArray(arr) ? arr->child : NULL; e; e = e->next)
        if (cJSON_IsString(e) && strcmp(e->valuestring, name) == 0) return true;
    return false;
}

char *js_gen_object(js_ctx *c, const cJSON *s)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    const cJSON *minp = cJSON_GetObjectItemCaseSensitive(s, "minProperties");
    const cJSON *maxp = cJSON_GetObjectItemCaseSensitive(s, "maxProperties");
    if (props && !cJSON_IsObject(props)) {
        js_fail(c, "json schema: \"properties\" must be an object");
        return NULL;
    }
    if (req && !cJSON_IsArray(req)) {
        js_fail(c, "json schema: \"required\" must be an array");
        return NULL;
    }
    for (const cJSON *r = req ? req->child : NULL; r; r = r->next)
        if (!cJSON_IsString(r)) {
            js_fail(c, "json schema: \"required\" must hold strings");
            return NULL;
        }
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(s, "patternProperties");
    const bool declares =
        (cJSON_IsObject(props) && props->child) || (cJSON_IsObject(pp) && pp->child);
    /* Closed only by the declared_only default (not by the schema or strict): a required name
     * outside `properties` is still allowed, with any value. */
    const bool closed_by_default = !addl && !c->opt->strict && c->opt->declared_only && declares;
    bool addl_ok = addl ? !cJSON_IsFalse(addl) : !c->opt->strict && !closed_by_default;
    char *addl_rule = NULL;
    char *result = NULL;
    size_t np = 0, cap = 0;
    prop *ps = NULL;
    trie root = {0};
    js_buf b = {0};
    char **rules = NULL;
    if (addl_ok) {
        addl_rule = addl ? js_gen(c, addl) : strdup(js_builtin(c, JS_B_VALUE));
        if (!addl_rule) goto done;
    }
    /* patternProperties: supported when all patterns share one schema S. Extra keys are then the
     * keys matching a pattern, with S, written after every defined property (a subset: the parse
     * of a defined key never forks into a pattern key); keys matching none (additionalProperties')
     * are only kept when S constrains nothing (else a subset: they are never produced). */
    const cJSON *pS = NULL;
    bool pp_on = cJSON_IsObject(pp) && pp->child, pS_free = false;
    if (pp && !cJSON_IsObject(pp)) {
        js_fail(c, "json schema: \"patternProperties\" must be an object");
        goto done;
    }
    if (pp_on) {
        pS = pp->child;
        for (const cJSON *e = pp->child; e; e = e->next)
            if (!cJSON_Compare(e, pS, true)) {
                js_fail(c, "json schema: \"patternProperties\" with different schemas per pattern "
                           "is not supported");
                goto done;
            }
        pS_free = no_keywords(pS);
        if (pS_free && addl_ok && (!addl || no_keywords(addl))) pp_on = false; /* no constraint */
    }
    /* Defined properties in definition order, then required names only additionalProperties
     * allows (their value is the additionalProperties schema). */
    for (const cJSON *p = props ? props->child : NULL; p; p = p->next) {
        bool r = name_in(req, p->string);
        if (!trie_add(&root, p->string)) goto oom;
        if (cJSON_IsFalse(p)) {
            if (r) {
                js_fail(c, "json schema: required property \"%.100s\" has schema false", p->string);
                goto done;
            }
            continue; /* may not appear: excluded from additional keys by the trie too */
        }
        int m = pp_on ? name_matches(c, pp, p->string) : 0;
        if (m < 0) goto done;
        if (m) {
            /* Both its own schema and S apply to the name. It may also come as a pattern key with
             * S alone (the pattern-key rule cannot leave the defined names out), which is only
             * sound when its own schema adds nothing to S: then the conjunction is S. */
            if (!no_keywords(p) && !cJSON_Compare(p, pS, true)) {
                js_fail(c,
                        "json schema: property \"%.100s\" also matches a patternProperties "
                        "pattern: not supported",
                        p->string);
                goto done;
            }
        }
        if (np == cap) {
            cap = cap ? cap * 2 : 16;
            prop *q = realloc(ps, cap * sizeof *q);
            if (!q) goto oom;
            ps = q;
        }
        ps[np] = (prop){.name = p->string, .rule = js_gen(c, m ? pS : p), .required = r};
        if (!ps[np].rule) {
            if (!r && js_unsat(c)) continue; /* no value fits: the property may not appear */
            goto done;
        }
        np++;
    }
    for (const cJSON *r = req ? req->child : NULL; r; r = r->next) {
        if (props && cJSON_GetObjectItemCaseSensitive(props, r->valuestring)) continue;
        bool dup = false;
        for (size_t i = 0; i < np; i++)
            if (strcmp(ps[i].name, r->valuestring) == 0) dup = true;
        if (dup) continue;
        int pm = pp_on ? name_matches(c, pp, r->valuestring) : 0;
        if (pm < 0) goto done;
        if (pm) {
            if (!trie_add(&root, r->valuestring)) goto oom;
            if (np == cap) {
                cap = cap ? cap * 2 : 16;
                prop *q = realloc(ps, cap * sizeof *q);
                if (!q) goto oom;
                ps = q;
            }
            ps[np] = (prop){.name = r->valuestring, .rule = js_gen(c, pS), .required = true};
            if (!ps[np].rule) goto done;
            np++;
            continue;
        }
        if (!addl_ok && !closed_by_default) {
            js_fail(c,
                    "json schema: required property \"%.100s\" is not allowed by "
                    "additionalProperties",
                    r->valuestring);
            goto done;
        }
        if (!trie_add(&root, r->valuestring)) goto oom;
        if (np == cap) {
            cap = cap ? cap * 2 : 16;
            prop *q = realloc(ps, cap * sizeof *q);
            if (!q) goto oom;
            ps = q;
        }
        ps[np] = (prop){.name = r->valuestring,
                        .rule = strdup(addl_ok ? addl_rule : js_builtin(c, JS_B_VALUE)),
                        .required = true};
        if (!ps[np++].rule) goto oom;
    }
    size_t nreq = 0;
    for (size_t i = 0; i < np; i++)
        nreq += ps[i].required;
    /* minProperties 1 without required properties: the empty member list is left out. */
    bool need_one = minp && cJSON_IsNumber(minp) && minp->valuedouble > (double)nreq;
    if (need_one && minp->valuedouble > 1) {
        js_fail(c, "json schema: \"minProperties\" above 1 and above the number of required "
                   "properties is not supported");
        goto done;
    }
    if (maxp && cJSON_IsNumber(maxp) && (addl_ok || maxp->valuedouble < (double)np)) {
        js_fail(c, "json schema: \"maxProperties\" is supported only when it bounds nothing "
                   "(no additional properties, at most that many defined)");
        goto done;
    }
    /* One extra member (key ws ":" ws value) besides the defined ones, or NULL if none: addkey
     * (any other key) anywhere between them, patkey (a pattern key) only after them all. */
    char *addkey = NULL, *patkey = NULL, *tail = NULL;
    const char *W0 = js_ws(c);
    char w0[160];
    snprintf(w0, sizeof w0, "%s", W0);
    js_buf xb = {0};
    if (pp_on) {
        char *val = pS_free ? strdup(js_builtin(c, JS_B_VALUE)) : js_gen(c, pS);
        if (!val) goto done;
        js_buf_puts(&xb, "(\"\\\"\" (");
        for (const cJSON *e = pp->child; e; e = e->next) {
            long mn, mx;
            char *ex = js_pattern_expr(c, e->string, 0, -1, &mn, &mx);
            if (!ex) {
                free(val);
                free(xb.p);
                goto done;
            }
            js_buf_printf(&xb, "%s%s", e == pp->child ? "" : " | ", ex);
            free(ex);
        }
        js_buf_printf(&xb, ") \"\\\"\"%s\":\"%s%s)", w0, w0, val);
        free(val);
        if (xb.oom) {
            free(xb.p);
            goto oom;
        }
        patkey = xb.p;
        xb = (js_buf){0};
    }
    if (addl_ok && (!pp_on || pS_free)) {
        char *k = trie_rule(c, &root);
        if (!k) {
            free(xb.p);
            free(patkey);
            goto done;
        }
        js_buf_printf(&xb, "(\"\\\"\" %s \"\\\"\"%s\":\"%s%s)", k, w0, w0, addl_rule);
        free(k);
    }
    if (xb.oom) {
        free(xb.p);
        free(patkey);
        goto oom;
    }
    addkey = xb.p; /* NULL: no extra members */
    bool extra = addkey != NULL, pat = patkey != NULL;
    if (need_one && np == 0 && !extra && !pat) {
        free(addkey), free(patkey);
        js_fail(c, "json schema: minProperties without any allowed property: the schema matches "
                   "nothing");
        goto done;
    }
    /* Rules A(k,f): additional members, then S(k,f): property k taken or skipped; S(np,f) is the
     * pattern members, then T (more of them). f = no member written yet (no comma before the next
     * one). Each member list has one derivation. */
    const char *W = js_ws(c);
    char w[160];
    snprintf(w, sizeof w, "%s", W);
    if (pat) {
        js_buf tb = {0};
        tail = js_new_name(c, "o");
        if (!tail) goto done_rules;
        js_buf_printf(&tb, "\",\"%s%s %s | \"\"", w, patkey, tail);
        int rc = tb.oom ? -1 : js_emit_rule(c, tail, tb.p);
        free(tb.p);
        if (rc) goto oom_rules;
    }
    rules = calloc(2 * (np + 1) * 2, sizeof *rules); /* [k][f][A=0,S=1] */
    if (!rules) goto oom;
    for (size_t i = 0; i < 2 * (np + 1) * 2; i++)
        if (!(rules[i] = js_new_name(c, "o"))) goto done_rules;
#define RULE(k, f, isS) rules[((k)*2 + (f)) * 2 + (isS)]
    for (size_t k = 0; k <= np; k++)
        for (int f = 0; f < 2; f++) {
            const char *sep = f ? "" : "\",\"";
            bool s_empty = need_one && k == np && f; /* S(np, first) may not be empty */
            bool s_none = s_empty && !pat;           /* and then has no derivation */
            if (s_none && !extra) continue;          /* then A(np, first) is never referenced */
            js_buf a = {0};
            if (extra)
                js_buf_printf(&a, "%s%s%s %s%s", sep, f ? "" : w, addkey, RULE(k, 0, 0),
                              s_none ? "" : " | ");
            if (!s_none) js_buf_puts(&a, RULE(k, f, 1));
            if (js_emit_rule(c, RULE(k, f, 0), a.p)) {
                free(a.p);
                goto done_rules;
            }
            free(a.p);
            if (s_none) continue;
            js_buf sb = {0};
            if (k == np && pat) {
                js_buf_printf(&sb, "%s%s%s %s%s", sep, f ? "" : w, patkey, tail,
                              s_empty ? "" : " | \"\"");
            } else if (k == np) {
                js_buf_puts(&sb, "\"\"");
            } else {
                js_buf_printf(&sb, "%s%s", sep, f ? "" : w);
                js_lit_json_string(&sb, ps[k].name);
                js_buf_printf(&sb, "%s\":\"%s%s %s", w, w, ps[k].rule, RULE(k + 1, 0, 0));
                if (!ps[k].required && !(need_one && f && k + 1 == np && !pat))
                    js_buf_printf(&sb, " | %s", RULE(k + 1, f, 1));
            }
            if (js_emit_rule(c, RULE(k, f, 1), sb.p)) {
                free(sb.p);
                goto done_rules;
            }
            free(sb.p);
        }
    js_buf_printf(&b, "\"{\"%s%s%s\"}\"", w, RULE(0, 1, 0), w);
    if (b.oom) goto oom_rules;
    result = b.p;
    b.p = NULL;
    goto done_rules;
oom_rules:
    js_fail(c, "json schema: out of memory");
done_rules:
#undef RULE
    for (size_t i = 0; rules && i < 2 * (np + 1) * 2; i++)
        free(rules[i]);
    free(rules);
    free(addkey), free(patkey), free(tail);
    goto done;
oom:
    js_fail(c, "json schema: out of memory");
done:
    for (size_t i = 0; i < np; i++)
        free(ps[i].rule);
    free(ps);
    free(addl_rule);
    trie_free(root.kids);
    free(b.p);
    return result;
}

/* ---- arrays ---- */

static bool get_count(js_ctx *c, const cJSON *s, const char *kw, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, kw);
    if (!v) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || !js_num_integral(v->valuedouble)) {
        js_fail(c, "json schema: \"%s\" must be a non-negative integer", kw);
        return false;
    }
    *out = v->valuedouble > 1e9 ? 1000000000L : (long)v->valuedouble;
    return true;
}

char *js_gen_array(js_ctx *c, const cJSON *s)
{
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    const cJSON *prefix_items = cJSON_GetObjectItemCaseSensitive(s, "prefixItems");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalItems");
    const cJSON *uniq = cJSON_GetObjectItemCaseSensitive(s, "uniqueItems");
    long lo = 0, hi = -1;
    if (!get_count(c, s, "minItems", &lo) || !get_count(c, s, "maxItems", &hi)) return NULL;
    const cJSON *tuple = NULL, *rest = NULL;
    if (prefix_items) {
        if (!cJSON_IsArray(prefix_items)) {
            js_fail(c, "json schema: \"prefixItems\" must be an array");
            return NULL;
        }
        tuple = prefix_items;
        rest = items;
    } else if (cJSON_IsArray(items)) {
        tuple = items;
        rest = addl;
    } else {
        rest = items;
    }
    long m = 0;
    for (const cJSON *e = tuple ? tuple->child : NULL; e; e = e->next) {
        if (cJSON_IsFalse(e)) break; /* no element may stand here: the array ends before */
        m++;
    }
    bool tuple_cut = tuple && m < cJSON_GetArraySize(tuple);
    bool rest_ok = !tuple_cut && !cJSON_IsFalse(rest);
    if (!rest_ok && (hi < 0 || hi > m)) hi = m;
    if (hi >= 0 && m > hi) m = hi;
    if (cJSON_IsTrue(uniq) && hi != 0 && hi != 1) {
        js_fail(c, "json schema: \"uniqueItems\" is not supported (except with maxItems <= 1)");
        return NULL;
    }
    if (hi >= 0 && lo > hi) {
        js_fail(c, "json schema: minItems above maxItems: the schema matches nothing");
        return NULL;
    }
    if ((hi >= 0 && hi - m > JS_MAX_REPEAT) || lo - m > JS_MAX_REPEAT) {
        js_fail(c, "json schema: item counts above %d are not supported", JS_MAX_REPEAT);
        return NULL;
    }
    const char *W = js_ws(c);
    char w[160];
    snprintf(w, sizeof w, "%s", W);
    char *rest_rule = NULL;
    if (rest_ok && (hi < 0 || hi > m)) {
        rest_rule = rest ? js_gen(c, rest) : strdup(js_builtin(c, JS_B_VALUE));
        if (!rest_rule) return NULL;
    }
    /* T(i): the elements from position i on, i elements already written. */
    js_buf b = {0};
    char *tail = NULL; /* elements m.. */
    if (rest_rule) {
        js_buf t = {0};
        long rlo = lo > m + 1 ? lo - m - 1 : 0; /* after the first rest element */
        long rhi = hi < 0 ? -1 : hi - m - 1;
        const char *sep = m ? "\",\"" : "";
        js_buf_printf(&t, "%s%s%s (%s\",\"%s%s)", sep, m ? w : "", rest_rule, w, w, rest_rule);
        if (rhi < 0)
            js_buf_printf(&t, "{%ld,}", rlo);
        else
            js_buf_printf(&t, "{%ld,%ld}", rlo, rhi);
        if (lo <= m) {
            js_buf wrapped = {0};
            js_buf_printf(&wrapped, "(%s)?", t.p);
            free(t.p);
            t = wrapped;
        }
        tail = t.p;
        if (t.oom) {
            free(tail);
            free(rest_rule);
            js_fail(c, "json schema: out of memory");
            return NULL;
        }
    } else if (lo > m) {
        free(rest_rule);
        js_fail(c, "json schema: minItems cannot be met: the schema matches nothing");
        return NULL;
    }
    /* Build the tuple from its end: expr(i) = sep P_i expr(i+1), optional when i >= lo. */
    char *expr = tail ? tail : strdup("");
    const cJSON *el[JS_MAX_DEPTH * 4];
    long nel = 0;
    for (const cJSON *e = tuple ? tuple->child : NULL; e && nel < m; e = e->next) {
        if (nel >= (long)(sizeof el / sizeof el[0])) {
            free(expr);
            free(rest_rule);
            js_fail(c, "json schema: more than %zu prefixItems", sizeof el / sizeof el[0]);
            return NULL;
        }
        el[nel++] = e;
    }
    for (long i = nel - 1; i >= 0; i--) {
        char *r = js_gen(c, el[i]);
        if (!r) {
            free(expr);
            free(rest_rule);
            return NULL;
        }
        js_buf e = {0};
        bool optional = i >= lo;
        js_buf_printf(&e, "%s%s%s%s %s%s", optional ? "(" : "", i ? "\",\"" : "", i ? w : "", r,
                      expr, optional ? ")?" : "");
        free(r);
        free(expr);
        expr = e.p ? e.p : strdup("");
    }
    js_buf_printf(&b, "\"[\"%s%s%s\"]\"", w, expr, w);
    free(expr);
    free(rest_rule);
    if (b.oom) {
        free(b.p);
        js_fail(c, "json schema: out of memory");
        return NULL;
    }
    return b.p;
}
