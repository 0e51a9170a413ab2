/* allOf (and $ref with sibling keywords) by merging: one schema whose instances are exactly those
 * valid against both inputs, built keyword by keyword. A pair of keywords with no sound merge here
 * (two different patterns, two anyOf lists, ...) is refused by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/json_schema_int.h"

static const cJSON *get(const cJSON *s, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(s, k);
}

static bool is_any(const char *k, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(k, list[i]) == 0) return true;
    return false;
}

static const char *const type_names[] = {"null",   "boolean", "object",  "array",
                                         "string", "number",  "integer", NULL};

static unsigned type_set(const cJSON *t, bool nullable)
{
    unsigned bits = 0;
    if (!t) return 0x7F;
    const cJSON *e = cJSON_IsArray(t) ? t->child : t;
    for (; e; e = cJSON_IsArray(t) ? e->next : NULL)
        for (unsigned i = 0; type_names[i]; i++)
            if (cJSON_IsString(e) && strcmp(e->valuestring, type_names[i]) == 0) bits |= 1u << i;
    if (bits & (1u << 5)) bits |= 1u << 6; /* number includes integer */
    if (nullable) bits |= 1u;
    return bits;
}

/* The schema with $ref resolved and merged with its siblings, nullable folded into type. */
static cJSON *expand(js_ctx *c, const cJSON *s)
{
    if (cJSON_IsBool(s)) {
        cJSON *o = js_own(c, cJSON_CreateObject());
        if (o && cJSON_IsFalse(s)) {
            js_fail(c, "json schema: allOf holds false: the schema matches nothing");
            return NULL;
        }
        return o;
    }
    if (!cJSON_IsObject(s)) {
        js_fail(c, "json schema: a schema must be an object or a boolean");
        return NULL;
    }
    cJSON *o = js_own(c, cJSON_CreateObject());
    if (!o) return NULL;
    const cJSON *ref = get(s, "$ref");
    for (const cJSON *k = s->child; k; k = k->next)
        if (js_is_keyword(k->string) && strcmp(k->string, "$ref") != 0 &&
            strcmp(k->string, "nullable") != 0)
            cJSON_AddItemToObject(o, k->string, cJSON_Duplicate(k, true));
    if (cJSON_IsTrue(get(s, "nullable")) && get(s, "type")) {
        unsigned bits = type_set(get(s, "type"), true);
        cJSON *t = cJSON_CreateArray();
        for (unsigned i = 0; type_names[i]; i++)
            if ((bits & (1u << i)) && !(i == 6 && (bits & (1u << 5))))
                cJSON_AddItemToArray(t, cJSON_CreateString(type_names[i]));
        cJSON_ReplaceItemInObjectCaseSensitive(o, "type", t);
    }
    if (ref) {
        if (!cJSON_IsString(ref)) {
            js_fail(c, "json schema: \"$ref\" must be a string");
            return NULL;
        }
        const cJSON *target = js_resolve_ref(c, ref->valuestring);
        if (!target) return NULL;
        if (++c->merges > JS_MAX_MERGES) {
            js_fail(c, "json schema: more than %d allOf/$ref merges", JS_MAX_MERGES);
            return NULL;
        }
        return js_merge(c, target, o);
    }
    return o;
}

static const char *const min_kw[] = {"minimum",       "minLength",        "minItems",
                                     "minProperties", "exclusiveMinimum", NULL};
static const char *const max_kw[] = {"maximum",       "maxLength",        "maxItems",
                                     "maxProperties", "exclusiveMaximum", NULL};

static cJSON *all_of2(const cJSON *x, const cJSON *y)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "allOf");
    cJSON_AddItemToArray(arr, cJSON_Duplicate(x, true));
    cJSON_AddItemToArray(arr, cJSON_Duplicate(y, true));
    return o;
}

static bool in_array(const cJSON *arr, const cJSON *v)
{
    for (const cJSON *e = cJSON_IsArray(arr) ? arr->child : NULL; e; e = e->next)
        if (cJSON_Compare(e, v, true)) return true;
    return false;
}

/* Merges one keyword present in both; NULL with an error when it cannot be merged soundly. */
static cJSON *merge_kw(js_ctx *c, const char *k, const cJSON *x, const cJSON *y)
{
    if (cJSON_Compare(x, y, true)) return cJSON_Duplicate(x, true);
    if (strcmp(k, "type") == 0) {
        unsigned bits = type_set(x, false) & type_set(y, false);
        if (!bits) {
            js_fail(c, "json schema: allOf: no type satisfies both: the schema matches nothing");
            return NULL;
        }
        cJSON *t = cJSON_CreateArray();
        for (unsigned i = 0; type_names[i]; i++)
            if ((bits & (1u << i)) && !(i == 6 && (bits & (1u << 5))))
                cJSON_AddItemToArray(t, cJSON_CreateString(type_names[i]));
        return t;
    }
    if (strcmp(k, "required") == 0 && cJSON_IsArray(x) && cJSON_IsArray(y)) {
        cJSON *r = cJSON_Duplicate(x, true);
        for (const cJSON *e = y->child; e; e = e->next)
            if (!in_array(r, e)) cJSON_AddItemToArray(r, cJSON_Duplicate(e, true));
        return r;
    }
    if (strcmp(k, "properties") == 0 && cJSON_IsObject(x) && cJSON_IsObject(y)) {
        cJSON *p = cJSON_CreateObject();
        for (const cJSON *e = x->child; e; e = e->next) {
            const cJSON *o = get(y, e->string);
            cJSON_AddItemToObject(p, e->string, o ? all_of2(e, o) : cJSON_Duplicate(e, true));
        }
        for (const cJSON *e = y->child; e; e = e->next)
            if (!get(x, e->string)) cJSON_AddItemToObject(p, e->string, cJSON_Duplicate(e, true));
        return p;
    }
    if (strcmp(k, "enum") == 0 && cJSON_IsArray(x) && cJSON_IsArray(y)) {
        cJSON *r = cJSON_CreateArray();
        for (const cJSON *e = x->child; e; e = e->next)
            if (in_array(y, e)) cJSON_AddItemToArray(r, cJSON_Duplicate(e, true));
        if (!r->child) {
            cJSON_Delete(r);
            js_fail(c, "json schema: allOf: the enums share no value: the schema matches nothing");
            return NULL;
        }
        return r;
    }
    if ((strcmp(k, "items") == 0 || strcmp(k, "additionalProperties") == 0 ||
         strcmp(k, "additionalItems") == 0) &&
        !cJSON_IsArray(x) && !cJSON_IsArray(y)) {
        if (cJSON_IsFalse(x) || cJSON_IsFalse(y)) return cJSON_CreateFalse();
        if (cJSON_IsTrue(x)) return cJSON_Duplicate(y, true);
        if (cJSON_IsTrue(y)) return cJSON_Duplicate(x, true);
        return all_of2(x, y);
    }
    if (strcmp(k, "anyOf") == 0 && cJSON_IsArray(x) && cJSON_IsArray(y)) {
        /* (a1 | a2) & (b1 | b2) = a1&b1 | a1&b2 | a2&b1 | a2&b2 */
        if (cJSON_GetArraySize(x) * cJSON_GetArraySize(y) > JS_MAX_BRANCHES) {
            js_fail(c, "json schema: allOf of anyOf lists: more than %d combinations",
                    JS_MAX_BRANCHES);
            return NULL;
        }
        cJSON *r = cJSON_CreateArray();
        for (const cJSON *a = x->child; a; a = a->next)
            for (const cJSON *b = y->child; b; b = b->next)
                cJSON_AddItemToArray(r, all_of2(a, b));
        return r;
    }
    if (strcmp(k, "allOf") == 0 && cJSON_IsArray(x) && cJSON_IsArray(y)) {
        cJSON *r = cJSON_Duplicate(x, true);
        for (const cJSON *e = y->child; e; e = e->next)
            cJSON_AddItemToArray(r, cJSON_Duplicate(e, true));
        return r;
    }
    bool mn = is_any(k, min_kw), mx = is_any(k, max_kw);
    if ((mn || mx) && cJSON_IsNumber(x) && cJSON_IsNumber(y)) {
        bool take_x = mn ? x->valuedouble >= y->valuedouble : x->valuedouble <= y->valuedouble;
        return cJSON_Duplicate(take_x ? x : y, true);
    }
    js_fail(c, "json schema: allOf: two different \"%s\" cannot be merged", k);
    return NULL;
}

static bool name_in(const cJSON *arr, const char *name)
{
    for (const cJSON *e = cJSON_IsArray(arr) ? arr->child : NULL; e; e = e->next)
        if (cJSON_IsString(e) && strcmp(e->valuestring, name) == 0) return true;
    return false;
}

/* A side's additionalProperties also governs the other side's properties it does not define. */
static int restrict_props(js_ctx *c, cJSON *m, const cJSON *side)
{
    const cJSON *ap = get(side, "additionalProperties");
    if (!ap || cJSON_IsTrue(ap)) return GR_OK;
    if (get(side, "patternProperties"))
        return js_fail(c, "json schema: allOf with patternProperties is not supported");
    cJSON *props = cJSON_GetObjectItemCaseSensitive(m, "properties");
    const cJSON *own = get(side, "properties");
    const cJSON *req = get(m, "required");
    for (cJSON *p = props ? props->child : NULL; p;) {
        cJSON *next = p->next;
        if (!get(own, p->string)) {
            if (cJSON_IsFalse(ap)) {
                if (name_in(req, p->string))
                    return js_fail(c,
                                   "json schema: allOf: required property \"%.100s\" is excluded "
                                   "by additionalProperties: the schema matches nothing",
                                   p->string);
                cJSON_DeleteItemFromObjectCaseSensitive(props, p->string);
            } else {
                cJSON *both = all_of2(p, ap);
                cJSON_ReplaceItemInObjectCaseSensitive(props, p->string, both);
            }
        }
        p = next;
    }
    return GR_OK;
}

cJSON *js_merge(js_ctx *c, const cJSON *a, const cJSON *b)
{
    if (c->failed) return NULL;
    if (++c->merges > JS_MAX_MERGES) {
        js_fail(c, "json schema: more than %d allOf/$ref merges", JS_MAX_MERGES);
        return NULL;
    }
    cJSON *x = expand(c, a);
    cJSON *y = x ? expand(c, b) : NULL;
    if (!y) return NULL;
    cJSON *m = js_own(c, cJSON_CreateObject());
    if (!m) return NULL;
    if (get(x, "const")) {
        cJSON *arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, cJSON_Duplicate(get(x, "const"), true));
        const cJSON *en = get(x, "enum");
        cJSON_DeleteItemFromObjectCaseSensitive(x, "const");
        if (en) {
            cJSON *r = merge_kw(c, "enum", en, arr);
            cJSON_Delete(arr);
            if (!r) return NULL;
            arr = r;
            cJSON_DeleteItemFromObjectCaseSensitive(x, "enum");
        }
        cJSON_AddItemToObject(x, "enum", arr);
    }
    if (get(y, "const")) {
        cJSON *arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, cJSON_Duplicate(get(y, "const"), true));
        const cJSON *en = get(y, "enum");
        cJSON_DeleteItemFromObjectCaseSensitive(y, "const");
        if (en) {
            cJSON *r = merge_kw(c, "enum", en, arr);
            cJSON_Delete(arr);
            if (!r) return NULL;
            arr = r;
            cJSON_DeleteItemFromObjectCaseSensitive(y, "enum");
        }
        cJSON_AddItemToObject(y, "enum", arr);
    }
    for (const cJSON *k = x->child; k; k = k->next) {
        const cJSON *o = get(y, k->string);
        cJSON *v = o ? merge_kw(c, k->string, k, o) : cJSON_Duplicate(k, true);
        if (!v) return NULL;
        cJSON_AddItemToObject(m, k->string, v);
    }
    for (const cJSON *k = y->child; k; k = k->next)
        if (!get(x, k->string)) cJSON_AddItemToObject(m, k->string, cJSON_Duplicate(k, true));
    if (restrict_props(c, m, x) || restrict_props(c, m, y)) return NULL;
    return m;
}
