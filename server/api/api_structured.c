/* vLLM accepts one kind of constraint per request and so do we: a second one is a 400 naming it,
 * rather than one silently winning. */
#include "server/api/api_structured.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(api_error *err, const char *param, const char *msg, const char *detail)
{
    api_error_set(err, 400, NULL, param, "invalid_value", msg, detail);
    return -1;
}

static int oom(api_error *err)
{
    api_error_set(err, 500, NULL, NULL, NULL, "out of memory");
    return -1;
}

static const cJSON *item(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* Claims out for kind from param; a second claim is an error naming both fields. */
static int claim(api_structured *out, api_so_kind kind, const char *param, api_error *err)
{
    if (out->kind != API_SO_NONE) {
        api_error_set(err, 400, NULL, param, "invalid_value",
                      "'%s' and '%s' both constrain the output; give only one", out->param, param);
        return -1;
    }
    out->kind = kind;
    out->param = param;
    return 0;
}

static int set_text(api_structured *out, const char *s, api_error *err)
{
    out->text = strdup(s);
    return out->text ? 0 : oom(err);
}

/* A schema given as an object (or a boolean schema), or as a string holding one (vLLM accepts
 * both for guided_json and structured_outputs.json). */
static int take_schema(api_structured *out, const cJSON *v, const char *param, api_error *err)
{
    if (cJSON_IsString(v)) {
        cJSON *parsed = cJSON_Parse(v->valuestring);
        bool ok = parsed && (cJSON_IsObject(parsed) || cJSON_IsBool(parsed));
        cJSON_Delete(parsed);
        if (!ok) return bad(err, param, "'%s' is a string that is not a JSON Schema object", param);
        return set_text(out, v->valuestring, err);
    }
    if (!cJSON_IsObject(v) && !cJSON_IsBool(v))
        return bad(err, param, "'%s' must be a JSON Schema (an object)", param);
    out->text = cJSON_PrintUnformatted(v);
    return out->text ? 0 : oom(err);
}

static int take_string(api_structured *out, const cJSON *v, const char *param, api_error *err)
{
    if (!cJSON_IsString(v)) return bad(err, param, "'%s' must be a string", param);
    if (!v->valuestring[0]) return bad(err, param, "'%s' must not be empty", param);
    return set_text(out, v->valuestring, err);
}

static int take_choices(api_structured *out, const cJSON *v, const char *param, api_error *err)
{
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (n == 0) return bad(err, param, "'%s' must be a non-empty array of strings", param);
    out->choices = calloc((size_t)n, sizeof *out->choices);
    if (!out->choices) return oom(err);
    const cJSON *c;
    cJSON_ArrayForEach(c, v)
    {
        if (!cJSON_IsString(c))
            return bad(err, param, "'%s' must be a non-empty array of strings", param);
        out->choices[out->n_choices] = strdup(c->valuestring);
        if (!out->choices[out->n_choices]) return oom(err);
        out->n_choices++;
    }
    return 0;
}

static int parse_response_format(const cJSON *root, api_structured *out, api_error *err)
{
    const cJSON *rf = item(root, "response_format");
    if (!rf) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (!cJSON_IsObject(rf) || !cJSON_IsString(type))
        return bad(err, "response_format", "'%s' must be an object with a string \"type\"",
                   "response_format");
    const char *t = type->valuestring;
    if (!strcmp(t, "text")) return 0;
    if (!strcmp(t, "json_object")) return claim(out, API_SO_JSON_OBJECT, "response_format", err);
    if (strcmp(t, "json_schema")) {
        api_error_set(err, 400, NULL, "response_format.type", "invalid_value",
                      "response_format type '%s' is not supported: expected text, json_object or "
                      "json_schema",
                      t);
        return -1;
    }
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    if (!cJSON_IsObject(js))
        return bad(err, "response_format.json_schema",
                   "'%s' must be an object with \"name\" and \"schema\"",
                   "response_format.json_schema");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(js, "name");
    if (name && !cJSON_IsString(name))
        return bad(err, "response_format.json_schema.name", "'%s' must be a string",
                   "response_format.json_schema.name");
    const cJSON *strict = item(js, "strict");
    if (strict && !cJSON_IsBool(strict))
        return bad(err, "response_format.json_schema.strict", "'%s' must be a boolean",
                   "response_format.json_schema.strict");
    const cJSON *schema = item(js, "schema");
    const char *param = "response_format.json_schema.schema";
    if (!schema) return bad(err, param, "'%s' is required", param);
    if (claim(out, API_SO_JSON_SCHEMA, param, err) || take_schema(out, schema, param, err))
        return -1;
    out->strict = strict && cJSON_IsTrue(strict);
    return 0;
}

typedef struct so_field {
    const char *name, *param;
    api_so_kind kind;
} so_field;

static int take(api_structured *out, const so_field *f, const cJSON *v, api_error *err)
{
    if (f->kind == API_SO_JSON_OBJECT) {
        if (!cJSON_IsBool(v)) return bad(err, f->param, "'%s' must be a boolean", f->param);
        return cJSON_IsTrue(v) ? claim(out, f->kind, f->param, err) : 0;
    }
    if (claim(out, f->kind, f->param, err)) return -1;
    switch (f->kind) {
    case API_SO_JSON_SCHEMA:
        return take_schema(out, v, f->param, err);
    case API_SO_CHOICE:
        return take_choices(out, v, f->param, err);
    default:
        return take_string(out, v, f->param, err);
    }
}

int api_parse_structured(const cJSON *root, api_structured *out, api_error *err)
{
    memset(out, 0, sizeof *out);
    static const so_field so[] = {
        {"json", "structured_outputs.json", API_SO_JSON_SCHEMA},
        {"regex", "structured_outputs.regex", API_SO_REGEX},
        {"choice", "structured_outputs.choice", API_SO_CHOICE},
        {"grammar", "structured_outputs.grammar", API_SO_GRAMMAR},
        {"json_object", "structured_outputs.json_object", API_SO_JSON_OBJECT},
    };
    static const so_field guided[] = {
        {"guided_json", "guided_json", API_SO_JSON_SCHEMA},
        {"guided_regex", "guided_regex", API_SO_REGEX},
        {"guided_choice", "guided_choice", API_SO_CHOICE},
        {"guided_grammar", "guided_grammar", API_SO_GRAMMAR},
    };
    if (parse_response_format(root, out, err)) goto fail;
    const cJSON *s = item(root, "structured_outputs");
    if (s) {
        if (!cJSON_IsObject(s)) {
            bad(err, "structured_outputs", "'%s' must be an object", "structured_outputs");
            goto fail;
        }
        for (size_t i = 0; i < sizeof so / sizeof so[0]; i++) {
            const cJSON *v = item(s, so[i].name);
            if (v && take(out, &so[i], v, err)) goto fail;
        }
    }
    for (size_t i = 0; i < sizeof guided / sizeof guided[0]; i++) {
        const cJSON *v = item(root, guided[i].name);
        if (v && take(out, &guided[i], v, err)) goto fail;
    }
    return 0;
fail:
    api_structured_free(out);
    return -1;
}

void api_structured_free(api_structured *s)
{
    free(s->text);
    for (size_t i = 0; i < s->n_choices; i++)
        free(s->choices[i]);
    free(s->choices);
    memset(s, 0, sizeof *s);
}
