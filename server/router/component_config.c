#include "server/router/component_config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve/output_parser.h"

int cc_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CC_NAME_MAX || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* An integer in [lo, hi] at key; absent leaves *out unchanged. */
static int get_int(const cJSON *obj, const char *key, const char *where, int64_t lo, int64_t hi,
                   int64_t *out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
        char *shown = cJSON_PrintUnformatted(v);
        snprintf(err, errlen, "%s%s: expected an integer in [%lld, %lld], got %.80s", where, key,
                 (long long)lo, (long long)hi, shown ? shown : "?");
        free(shown);
        return -1;
    }
    *out = (int64_t)v->valuedouble;
    return 0;
}

/* A string of 1..cap-1 bytes at key; absent leaves *out unchanged (required: absent is an error).
 */
static int get_str(const cJSON *obj, const char *key, const char *where, int required, char *out,
                   size_t cap, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (required) snprintf(err, errlen, "%s%s: required", where, key);
        return required ? -1 : 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= cap) {
        snprintf(err, errlen, "%s%s: expected a non-empty string of at most %zu bytes", where, key,
                 cap - 1);
        return -1;
    }
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

/* Every key of obj must be one of keys (NULL-terminated). */
static int only_keys(const cJSON *obj, const char *const *keys, const char *where, char *err,
                     size_t errlen)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        int known = 0;
        for (size_t i = 0; keys[i] && !known; i++)
            known = !strcmp(it->string, keys[i]);
        if (!known) {
            char list[512] = "";
            for (size_t i = 0; keys[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                         keys[i]);
            snprintf(err, errlen, "%s%.64s: unknown key (expected one of: %s)", where, it->string,
                     list);
            return -1;
        }
    }
    return 0;
}

static int parse_component_at(const cJSON *o, const char *where, cc_component *c, char *err,
                              size_t errlen);

int cc_component_parse(const cJSON *o, const char *where, cc_component *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "%s: expected an object", where);
        return -1;
    }
    if (parse_component_at(o, where, out, err, errlen) == 0) return 0;
    free(out->model);
    out->model = NULL;
    return -1;
}

static int parse_component(const cJSON *o, int idx, cc_component *c, char *err, size_t errlen)
{
    char where[48];
    snprintf(where, sizeof where, "components[%d].", idx);
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "components[%d]: expected an object", idx);
        return -1;
    }
    return parse_component_at(o, where, c, err, errlen);
}

static int parse_component_at(const cJSON *o, const char *where, cc_component *c, char *err,
                              size_t errlen)
{
    static const char *const keys[] = {"name",
                                       "model",
                                       "memory_mib",
                                       "copies",
                                       "max_num_seqs",
                                       "max_waiting",
                                       "max_model_len",
                                       "max_num_batched_tokens",
                                       "kv_cache_tokens",
                                       "threads",
                                       "tool_call_parser",
                                       "request_timeout_s",
                                       "cpu_weights",
                                       NULL};
    if (only_keys(o, keys, where, err, errlen)) return -1;
    if (get_str(o, "name", where, 1, c->name, sizeof c->name, err, errlen)) return -1;
    if (!cc_valid_name(c->name)) {
        snprintf(err, errlen,
                 "%sname: '%s' is not a valid component name (1-63 letters, digits and "
                 "'-', not starting with '-')",
                 where, c->name);
        return -1;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (!cJSON_IsString(m) || !m->valuestring[0]) {
        snprintf(err, errlen, "%smodel: %s", where,
                 m ? "expected a non-empty string (a model directory, .gguf file or s3:// URI)"
                   : "required");
        return -1;
    }
    if (!(c->model = strdup(m->valuestring))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int64_t v;
    v = 0;
    if (get_int(o, "memory_mib", where, 1, 1ll << 24, &v, err, errlen)) return -1;
    c->memory_mib = v;
    v = 1;
    if (get_int(o, "copies", where, 1, CC_MAX_COPIES, &v, err, errlen)) return -1;
    c->copies = (int)v;
    v = 0;
    if (get_int(o, "max_num_seqs", where, 1, 4096, &v, err, errlen)) return -1;
    c->max_num_seqs = (int)v;
    v = 0;
    if (get_int(o, "max_waiting", where, 1, 1 << 24, &v, err, errlen)) return -1;
    c->max_waiting = (int)v;
    v = 0;
    if (get_int(o, "max_model_len", where, 1, 1 << 24, &v, err, errlen)) return -1;
    c->max_model_len = (int)v;
    v = 0;
    if (get_int(o, "max_num_batched_tokens", where, 1, 1 << 20, &v, err, errlen)) return -1;
    c->max_num_batched_tokens = (int)v;
    v = 0;
    if (get_int(o, "kv_cache_tokens", where, 16, 1 << 28, &v, err, errlen)) return -1;
    c->kv_cache_tokens = v;
    v = 0;
    if (get_int(o, "threads", where, 1, 4096, &v, err, errlen)) return -1;
    c->threads = (int)v;
    v = 0;
    if (get_int(o, "request_timeout_s", where, 1, 86400 * 7, &v, err, errlen)) return -1;
    c->request_timeout_s = v;
    if (get_str(o, "tool_call_parser", where, 0, c->tool_call_parser, sizeof c->tool_call_parser,
                err, errlen))
        return -1;
    op_tool_format fmt;
    if (c->tool_call_parser[0] && op_tool_format_from_name(c->tool_call_parser, &fmt)) {
        snprintf(err, errlen, "%stool_call_parser: '%s' is not one of %s", where,
                 c->tool_call_parser, op_tool_format_names());
        return -1;
    }
    char weights[16] = "";
    if (get_str(o, "cpu_weights", where, 0, weights, sizeof weights, err, errlen)) return -1;
    if (weights[0] && strcmp(weights, "stored") && strcmp(weights, "int8")) {
        snprintf(err, errlen, "%scpu_weights: '%s' is not one of stored, int8", where, weights);
        return -1;
    }
    c->cpu_int8_weights = !strcmp(weights, "int8");
    return 0;
}

int cc_config_parse(const char *json, size_t len, cc_config *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"endpoint", "backend", "mps", "components", NULL};
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        snprintf(err, errlen, "not a JSON object%s", root ? "" : " (invalid JSON)");
        cJSON_Delete(root);
        return -1;
    }
    int rc = -1;
    snprintf(out->endpoint, sizeof out->endpoint, "berth");
    if (only_keys(root, keys, "", err, errlen) ||
        get_str(root, "endpoint", "", 0, out->endpoint, sizeof out->endpoint, err, errlen) ||
        get_str(root, "backend", "", 0, out->backend, sizeof out->backend, err, errlen))
        goto done;
    if (!cc_valid_name(out->endpoint)) {
        snprintf(err, errlen,
                 "endpoint: '%s' is not a valid endpoint name (1-63 letters, digits and "
                 "'-', not starting with '-')",
                 out->endpoint);
        goto done;
    }
    if (out->backend[0] && strcmp(out->backend, "cpu") && strcmp(out->backend, "cuda") &&
        strcmp(out->backend, "auto")) {
        snprintf(err, errlen, "backend: '%s' is not one of cpu, cuda, auto", out->backend);
        goto done;
    }
    const cJSON *mps = cJSON_GetObjectItemCaseSensitive(root, "mps");
    if (mps && !cJSON_IsBool(mps)) {
        snprintf(err, errlen, "mps: expected true or false");
        goto done;
    }
    out->mps = cJSON_IsTrue(mps);
    if (out->mps && !strcmp(out->backend, "cpu")) {
        snprintf(err, errlen, "mps: NVIDIA MPS limits CUDA workers; backend is cpu");
        goto done;
    }
    const cJSON *comps = cJSON_GetObjectItemCaseSensitive(root, "components");
    int n = cJSON_GetArraySize(comps);
    if (!cJSON_IsArray(comps) || n < 1 || n > CC_MAX_COMPONENTS) {
        snprintf(err, errlen, "components: %s",
                 comps ? "expected an array of 1 to 16 components" : "required");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        out->n_components = i + 1;
        if (parse_component(cJSON_GetArrayItem(comps, i), i, &out->components[i], err, errlen))
            goto done;
        for (int j = 0; j < i; j++)
            if (!strcmp(out->components[j].name, out->components[i].name)) {
                snprintf(err, errlen, "components[%d].name: '%s' is already components[%d]'s name",
                         i, out->components[i].name, j);
                goto done;
            }
    }
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc) cc_config_free(out);
    return rc;
}

int cc_config_load(const char *path, cc_config *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap = cap * 2 + 8192);
            if (!nb) break;
            buf = nb;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0 && len < (16u << 20));
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    char inner[768];
    int rc = cc_config_parse(buf, len, out, inner, sizeof inner);
    free(buf);
    if (rc) snprintf(err, errlen, "%s: %s", path, inner);
    return rc;
}

void cc_config_free(cc_config *c)
{
    for (int i = 0; i < c->n_components; i++) {
        free(c->components[i].model);
        c->components[i].model = NULL;
    }
    c->n_components = 0;
}

int cc_check_shares(const cc_config *c, int64_t capacity_mib, const char *capacity_what, char *err,
                    size_t errlen)
{
    int64_t total = 0;
    char parts[512] = "";
    for (int i = 0; i < c->n_components; i++) {
        const cc_component *k = &c->components[i];
        if (!k->memory_mib) continue;
        total += k->memory_mib * k->copies;
        snprintf(parts + strlen(parts), sizeof parts - strlen(parts), "%s%s %lld x %d",
                 parts[0] ? ", " : "", k->name, (long long)k->memory_mib, k->copies);
    }
    if (total <= capacity_mib) return 0;
    snprintf(err, errlen, "the memory shares add up to %lld MiB (%s), more than the %lld MiB of %s",
             (long long)total, parts, (long long)capacity_mib, capacity_what);
    return -1;
}

const cc_component *cc_find(const cc_config *c, const char *name)
{
    for (int i = 0; i < c->n_components; i++)
        if (!strcmp(c->components[i].name, name)) return &c->components[i];
    return NULL;
}
