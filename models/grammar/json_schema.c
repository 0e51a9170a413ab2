/* JSON Schema -> GBNF: the entry points, keyword checking, $ref, the rewriting of dependencies and
 * not, and the per-type dispatch. Objects and arrays are in json_schema_obj.c, strings in
 * json_schema_str.c (patterns: json_schema_regex.c), numbers in json_schema_num.c, enum/const in
 * json_schema_enum.c, anyOf/oneOf in json_schema_alt.c, allOf merging in json_schema_merge.c. */
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
bool js_trivially_true(const char *k, const cJSON *v)
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
        if (!js_is_keyword(k->string) || js_trivially_true(k->string, k)) continue;
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
    if (!c->memo[c->n_memo].name) return js_fail(c, "json schema: out of memory");
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

/* ---- dispatch ---- */

static char *gen_types(js_ctx *c, const cJSON *s)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    unsigned bits = 0;
    if (!t) {
        bits = T_NULL | T_BOOL | T_OBJ | T_ARR | T_STR | T_NUM | T_INT;
    } else if (cJSON_IsString(t)) {
        bits = js_type_bits_of(t->valuestring);
        if (!bits) {
            js_fail(c, "json schema: unknown type \"%.100s\"", t->valuestring);
            return NULL;
        }
    } else if (cJSON_IsArray(t)) {
        for (const cJSON *e = t->child; e; e = e->next) {
            unsigned tb = cJSON_IsString(e) ? js_type_bits_of(e->valuestring) : 0;
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
        if (!dv || js_trivially_true(deps[d], dv)) continue;
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
            unsigned bits = js_schema_types(c, no, 0);
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
        cJSON *acc = js_siblings_without(c, s, ref ? "$ref" : "allOf", &any);
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
    if (cJSON_GetObjectItemCaseSensitive(s, "anyOf")) return js_gen_alternatives(c, s, "anyOf");
    if (cJSON_GetObjectItemCaseSensitive(s, "oneOf")) return js_gen_alternatives(c, s, "oneOf");
    if (cJSON_GetObjectItemCaseSensitive(s, "enum") || cJSON_GetObjectItemCaseSensitive(s, "const"))
        return js_gen_enum(c, s);
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
        if (js_is_keyword(k->string) && !js_trivially_true(k->string, k)) constrained = true;
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
