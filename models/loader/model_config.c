/* config.json and generation_config.json. Defaults for absent optional fields are Hugging Face's
 * (transformers' Qwen3Config / Qwen2Config / LlamaConfig / MistralConfig), so a checkpoint means
 * here what it means there; fields that would change the math in ways berth does not implement are
 * rejected. */
#include "models/loader/model_config.h"
#include "models/loader/loader_error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG_BYTES (16u << 20)

static const struct {
    const char *type;
    const char *cls;
    model_arch arch;
} archs[] = {
    {"qwen3", "Qwen3ForCausalLM", MODEL_ARCH_QWEN3},
    {"qwen2", "Qwen2ForCausalLM", MODEL_ARCH_QWEN2},
    {"llama", "LlamaForCausalLM", MODEL_ARCH_LLAMA},
    {"mistral", "MistralForCausalLM", MODEL_ARCH_MISTRAL},
};
#define NUM_ARCHS (sizeof archs / sizeof archs[0])

/* What a lookup found: absent (or JSON null, which Hugging Face treats the same), present, or bad.
 */
enum { FIELD_ABSENT = 0, FIELD_OK = 1, FIELD_BAD = -1 };


static const char *json_kind(const cJSON *v)
{
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "null";
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(v) ? NULL : v;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* Python's json keeps the last of two equal keys and cJSON the first: refuse to pick either. */
static int check_unique_keys(const cJSON *obj, const char *path, char *err, size_t errlen)
{
    size_t n = (size_t)cJSON_GetArraySize(obj);
    if (n < 2) return 0;
    const cJSON **keys = malloc(n * sizeof *keys);
    if (!keys) return loader_fail(err, errlen, "%s: out of memory", path);
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        keys[i++] = c;
    qsort(keys, n, sizeof *keys, name_cmp);
    int rc = 0;
    for (i = 1; i < n && rc == 0; i++)
        if (strcmp(keys[i - 1]->string, keys[i]->string) == 0)
            rc = loader_fail(err, errlen, "%s: field \"%.100s\" appears more than once", path,
                      keys[i]->string);
    free(keys);
    return rc;
}

static bool int_value(const cJSON *v, int32_t min, int32_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= min && d <= INT32_MAX) || d != floor(d)) return false;
    *out = (int32_t)d;
    return true;
}

static int get_int(const cJSON *obj, const char *key, int32_t min, int32_t *out, const char *path,
                   char *err, size_t errlen)
{
    const cJSON *v = member(obj, key);
    if (!v) return FIELD_ABSENT;
    if (int_value(v, min, out)) return FIELD_OK;
    if (cJSON_IsNumber(v))
        loader_fail(err, errlen, "%s: field \"%s\": expected an integer >= %d, got %g", path, key,
             (int)min, v->valuedouble);
    else
        loader_fail(err, errlen, "%s: field \"%s\": expected an integer >= %d, got %s", path, key,
             (int)min, json_kind(v));
    return FIELD_BAD;
}

static int require_int(const cJSON *obj, const char *key, int32_t *out, const char *path, char *err,
                       size_t errlen)
{
    int rc = get_int(obj, key, 1, out, path, err, errlen);
    if (rc == FIELD_ABSENT)
        return loader_fail(err, errlen, "%s: field \"%s\" is missing; expected a positive integer", path,
                    key);
    return rc == FIELD_OK ? 0 : -1;
}

/* A finite number in [lo, hi]. */
static int get_num(const cJSON *obj, const char *key, double lo, double hi, double *out,
                   const char *path, char *err, size_t errlen)
{
    const cJSON *v = member(obj, key);
    if (!v) return FIELD_ABSENT;
    if (cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi) {
        *out = v->valuedouble;
        return FIELD_OK;
    }
    if (cJSON_IsNumber(v))
        loader_fail(err, errlen, "%s: field \"%s\": expected a number in [%g, %g], got %g", path, key, lo,
             hi, v->valuedouble);
    else
        loader_fail(err, errlen, "%s: field \"%s\": expected a number, got %s", path, key, json_kind(v));
    return FIELD_BAD;
}

static int get_bool(const cJSON *obj, const char *key, bool *out, const char *path, char *err,
                    size_t errlen)
{
    const cJSON *v = member(obj, key);
    if (!v) return FIELD_ABSENT;
    if (!cJSON_IsBool(v)) {
        loader_fail(err, errlen, "%s: field \"%s\": expected true or false, got %s", path, key,
             json_kind(v));
        return FIELD_BAD;
    }
    *out = cJSON_IsTrue(v);
    return FIELD_OK;
}

/* eos_token_id: one id or a list of ids. */
static int get_eos(const cJSON *obj, int32_t *ids, int *n, const char *path, char *err,
                   size_t errlen)
{
    *n = 0;
    const cJSON *v = member(obj, "eos_token_id");
    if (!v) return 0;
    if (cJSON_IsNumber(v)) {
        if (!int_value(v, 0, &ids[0]))
            return loader_fail(err, errlen, "%s: field \"eos_token_id\": expected a token id >= 0, got %g",
                        path, v->valuedouble);
        *n = 1;
        return 0;
    }
    if (!cJSON_IsArray(v))
        return loader_fail(err, errlen,
                    "%s: field \"eos_token_id\": expected a token id or a list of them, "
                    "got %s",
                    path, json_kind(v));
    for (const cJSON *c = v->child; c; c = c->next) {
        if (*n == MODEL_MAX_EOS)
            return loader_fail(err, errlen, "%s: field \"eos_token_id\": more than %d ids", path,
                        MODEL_MAX_EOS);
        if (!int_value(c, 0, &ids[*n]))
            return loader_fail(err, errlen, "%s: field \"eos_token_id\": item %d is not a token id >= 0",
                        path, *n);
        (*n)++;
    }
    return 0;
}

static int select_arch(model_config *cfg, const cJSON *root, const char *path, char *err,
                       size_t errlen)
{
    const cJSON *type = member(root, "model_type");
    const cJSON *classes = member(root, "architectures");
    if (type) {
        if (!cJSON_IsString(type))
            return loader_fail(err, errlen, "%s: field \"model_type\": expected a string, got %s", path,
                        json_kind(type));
        for (size_t i = 0; i < NUM_ARCHS; i++) {
            if (strcmp(type->valuestring, archs[i].type) == 0) {
                cfg->arch = archs[i].arch;
                snprintf(cfg->model_type, sizeof cfg->model_type, "%s", archs[i].type);
                return 0;
            }
        }
        return loader_fail(err, errlen,
                    "%s: field \"model_type\": \"%.64s\" is not supported (supported: "
                    "qwen3, qwen2, llama, mistral)",
                    path, type->valuestring);
    }
    const cJSON *first = cJSON_IsArray(classes) ? classes->child : NULL;
    if (!cJSON_IsString(first))
        return loader_fail(err, errlen,
                    "%s: field \"model_type\" is missing and \"architectures\" is not a "
                    "list of class names; expected model_type \"qwen3\", \"qwen2\", \"llama\" or "
                    "\"mistral\"",
                    path);
    for (size_t i = 0; i < NUM_ARCHS; i++) {
        if (strcmp(first->valuestring, archs[i].cls) == 0) {
            cfg->arch = archs[i].arch;
            snprintf(cfg->model_type, sizeof cfg->model_type, "%s", archs[i].type);
            return 0;
        }
    }
    return loader_fail(err, errlen,
                "%s: field \"architectures\": \"%.64s\" is not supported (supported: "
                "Qwen3ForCausalLM, Qwen2ForCausalLM, LlamaForCausalLM, MistralForCausalLM)",
                path, first->valuestring);
}

/* rope_scaling (or rope_parameters, its newer name, which may also carry rope_theta). */
static int parse_rope(model_config *cfg, const cJSON *root, const char *path, char *err,
                      size_t errlen)
{
    const char *key = "rope_scaling";
    const cJSON *rs = member(root, key);
    if (!rs) rs = member(root, key = "rope_parameters");
    cfg->rope_theta = 10000.0;
    if (get_num(root, "rope_theta", 1e-30, HUGE_VAL, &cfg->rope_theta, path, err, errlen) ==
        FIELD_BAD)
        return -1;
    cfg->rope_scaling.type = ROPE_SCALING_NONE;
    if (!rs) return 0;
    if (!cJSON_IsObject(rs))
        return loader_fail(err, errlen, "%s: field \"%s\": expected an object or null, got %s", path, key,
                    json_kind(rs));
    if (!member(root, "rope_theta") && get_num(rs, "rope_theta", 1e-30, HUGE_VAL, &cfg->rope_theta,
                                               path, err, errlen) == FIELD_BAD)
        return -1;
    const cJSON *type = member(rs, "rope_type");
    if (!type) type = member(rs, "type");
    if (!cJSON_IsString(type))
        return loader_fail(err, errlen,
                    "%s: field \"%s\": \"rope_type\" is missing or not a string; expected "
                    "\"llama3\" or \"default\"",
                    path, key);
    if (strcmp(type->valuestring, "default") == 0) return 0;
    if (strcmp(type->valuestring, "llama3") != 0)
        return loader_fail(err, errlen,
                    "%s: field \"%s\": unsupported rope_scaling type \"%.40s\" (supported: "
                    "llama3, or none)",
                    path, key, type->valuestring);
    cfg->rope_scaling.type = ROPE_SCALING_LLAMA3;
    static const char *const names[] = {"factor", "low_freq_factor", "high_freq_factor"};
    double *vals[] = {&cfg->rope_scaling.factor, &cfg->rope_scaling.low_freq_factor,
                      &cfg->rope_scaling.high_freq_factor};
    for (int i = 0; i < 3; i++) {
        int rc = get_num(rs, names[i], 1e-30, HUGE_VAL, vals[i], path, err, errlen);
        if (rc == FIELD_ABSENT)
            return loader_fail(err, errlen,
                        "%s: field \"%s\": llama3 scaling needs \"%s\", a positive number", path,
                        key, names[i]);
        if (rc == FIELD_BAD) return -1;
    }
    int rc = get_int(rs, "original_max_position_embeddings", 1,
                     &cfg->rope_scaling.original_max_position_embeddings, path, err, errlen);
    if (rc == FIELD_ABSENT)
        return loader_fail(err, errlen,
                    "%s: field \"%s\": llama3 scaling needs "
                    "\"original_max_position_embeddings\", a positive integer",
                    path, key);
    if (rc == FIELD_BAD) return -1;
    if (!(cfg->rope_scaling.high_freq_factor > cfg->rope_scaling.low_freq_factor))
        return loader_fail(err, errlen,
                    "%s: field \"%s\": expected high_freq_factor > low_freq_factor, got "
                    "%g and %g",
                    path, key, cfg->rope_scaling.high_freq_factor,
                    cfg->rope_scaling.low_freq_factor);
    return 0;
}

/* Fields that would change the computation in ways berth does not implement. */
static int check_unsupported(const model_config *cfg, const cJSON *root, const char *path,
                             char *err, size_t errlen)
{
    bool flag = false;
    if (cfg->arch == MODEL_ARCH_QWEN3 || cfg->arch == MODEL_ARCH_QWEN2) {
        if (get_bool(root, "use_sliding_window", &flag, path, err, errlen) == FIELD_BAD) return -1;
        if (flag)
            return loader_fail(err, errlen,
                        "%s: field \"use_sliding_window\": true is not supported (berth "
                        "runs full attention); expected false",
                        path);
    } else if (cfg->arch == MODEL_ARCH_LLAMA) {
        if (get_bool(root, "mlp_bias", &flag, path, err, errlen) == FIELD_BAD) return -1;
        if (flag)
            return loader_fail(err, errlen,
                        "%s: field \"mlp_bias\": true is not supported; expected false", path);
    }
    const cJSON *act = member(root, "hidden_act");
    if (act && !(cJSON_IsString(act) && strcmp(act->valuestring, "silu") == 0))
        return loader_fail(err, errlen, "%s: field \"hidden_act\": only \"silu\" is supported", path);
    return 0;
}

static int parse_dims(model_config *cfg, const cJSON *root, const char *path, char *err,
                      size_t errlen)
{
    if (require_int(root, "vocab_size", &cfg->vocab_size, path, err, errlen) ||
        require_int(root, "hidden_size", &cfg->hidden_size, path, err, errlen) ||
        require_int(root, "intermediate_size", &cfg->intermediate_size, path, err, errlen) ||
        require_int(root, "num_hidden_layers", &cfg->num_layers, path, err, errlen) ||
        require_int(root, "num_attention_heads", &cfg->num_q_heads, path, err, errlen) ||
        require_int(root, "max_position_embeddings", &cfg->max_position_embeddings, path, err,
                    errlen))
        return -1;
    cfg->num_kv_heads = cfg->num_q_heads;
    if (get_int(root, "num_key_value_heads", 1, &cfg->num_kv_heads, path, err, errlen) == FIELD_BAD)
        return -1;
    if (cfg->num_q_heads % cfg->num_kv_heads != 0)
        return loader_fail(err, errlen,
                    "%s: field \"num_key_value_heads\": %d does not divide "
                    "num_attention_heads %d",
                    path, (int)cfg->num_kv_heads, (int)cfg->num_q_heads);
    int rc = get_int(root, "head_dim", 1, &cfg->head_dim, path, err, errlen);
    if (rc == FIELD_BAD) return -1;
    if (rc == FIELD_ABSENT) {
        if (cfg->hidden_size % cfg->num_q_heads != 0)
            return loader_fail(err, errlen,
                        "%s: field \"head_dim\" is missing and hidden_size %d is not a "
                        "multiple of num_attention_heads %d",
                        path, (int)cfg->hidden_size, (int)cfg->num_q_heads);
        cfg->head_dim = cfg->hidden_size / cfg->num_q_heads;
    }
    if (cfg->head_dim % 2 != 0)
        return loader_fail(err, errlen,
                    "%s: field \"head_dim\": %d is odd; rotary embeddings need an even "
                    "head_dim",
                    path, (int)cfg->head_dim);
    return 0;
}

static int parse_config(model_config *cfg, const cJSON *root, const char *path, char *err,
                        size_t errlen)
{
    if (select_arch(cfg, root, path, err, errlen) || parse_dims(cfg, root, path, err, errlen) ||
        parse_rope(cfg, root, path, err, errlen) || check_unsupported(cfg, root, path, err, errlen))
        return -1;

    double eps = 1e-6;
    if (get_num(root, "rms_norm_eps", 1e-30, 1.0, &eps, path, err, errlen) == FIELD_BAD) return -1;
    cfg->rms_norm_eps = (float)eps;
    if (get_bool(root, "tie_word_embeddings", &cfg->tie_word_embeddings, path, err, errlen) ==
        FIELD_BAD)
        return -1;
    /* Qwen2 hard-codes q/k/v biases and Mistral their absence (neither reads attention_bias); the
     * others read it. */
    if (cfg->arch == MODEL_ARCH_QWEN2)
        cfg->attention_bias = true;
    else if (cfg->arch == MODEL_ARCH_MISTRAL)
        cfg->attention_bias = false;
    else if (get_bool(root, "attention_bias", &cfg->attention_bias, path, err, errlen) == FIELD_BAD)
        return -1;
    cfg->qk_norm = cfg->arch == MODEL_ARCH_QWEN3;
    /* Only Mistral reads sliding_window; Qwen2/3 carry one that use_sliding_window (refused when
     * true) switches on, and Llama has none. */
    if (cfg->arch == MODEL_ARCH_MISTRAL &&
        get_int(root, "sliding_window", 1, &cfg->sliding_window, path, err, errlen) == FIELD_BAD)
        return -1;

    cfg->bos_token_id = -1;
    if (get_int(root, "bos_token_id", 0, &cfg->bos_token_id, path, err, errlen) == FIELD_BAD)
        return -1;
    if (get_eos(root, cfg->eos_token_ids, &cfg->num_eos, path, err, errlen) != 0) return -1;

    const char *dkey = "dtype";
    const cJSON *dtype = member(root, dkey);
    if (!dtype) dtype = member(root, dkey = "torch_dtype");
    if (dtype) {
        if (!cJSON_IsString(dtype) || strlen(dtype->valuestring) >= sizeof cfg->torch_dtype)
            return loader_fail(err, errlen, "%s: field \"%s\": expected a dtype name such as \"bfloat16\"",
                        path, dkey);
        snprintf(cfg->torch_dtype, sizeof cfg->torch_dtype, "%s", dtype->valuestring);
    }
    return 0;
}

/* Parses `json` as one JSON object; the caller deletes *root. */
static int parse_object(cJSON **root, const char *json, size_t len, const char *path, char *err,
                        size_t errlen)
{
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!*root)
        return loader_fail(err, errlen, "%s: not valid JSON (error at byte %zu)", path,
                    end ? (size_t)(end - json) : (size_t)0);
    for (const char *p = end; p < json + len; p++)
        if (!strchr(" \t\r\n", *p) || !*p)
            return loader_fail(err, errlen, "%s: text after the JSON value (byte %zu)", path,
                        (size_t)(p - json));
    if (!cJSON_IsObject(*root)) return loader_fail(err, errlen, "%s: expected a JSON object", path);
    return check_unique_keys(*root, path, err, errlen);
}

int model_config_parse(model_config *cfg, const char *json, size_t len, const char *path, char *err,
                       size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (!path) path = "config.json";
    cJSON *root;
    int rc = parse_object(&root, json, len, path, err, errlen);
    if (rc == 0) rc = parse_config(cfg, root, path, err, errlen);
    cJSON_Delete(root);
    return rc;
}

/* Reads a whole small file. *missing says the file does not exist (and nothing else went wrong). */
static int read_text(const char *path, char **out, size_t *len, bool *missing, char *err,
                     size_t errlen)
{
    *out = NULL;
    *len = 0;
    *missing = false;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *missing = errno == ENOENT;
        return loader_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            char *b = cap <= MAX_CONFIG_BYTES ? realloc(buf, cap) : NULL;
            if (!b) {
                free(buf);
                fclose(f);
                return loader_fail(err, errlen, "%s: larger than %u bytes, or out of memory", path,
                            MAX_CONFIG_BYTES);
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return loader_fail(err, errlen, "%s: read error", path);
    }
    *out = buf;
    *len = n;
    return 0;
}

int model_config_load(model_config *cfg, const char *path, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    char *text;
    size_t len;
    bool missing;
    if (read_text(path, &text, &len, &missing, err, errlen) != 0) return -1;
    int rc = model_config_parse(cfg, text, len, path, err, errlen);
    free(text);
    return rc;
}

void model_config_rope_inv_freq(const model_config *cfg, float *inv_freq)
{
    /* Every step in float32 and in torch's order: `s / t` on a tensor is reciprocal(t) * s there.
     */
    const int half = cfg->head_dim / 2;
    const float base = (float)cfg->rope_theta;
    for (int i = 0; i < half; i++)
        inv_freq[i] = 1.0f / powf(base, (float)(2 * i) / (float)cfg->head_dim);
    if (cfg->rope_scaling.type != ROPE_SCALING_LLAMA3) return;

    const double old_len = cfg->rope_scaling.original_max_position_embeddings;
    const float factor = (float)cfg->rope_scaling.factor;
    const float low = (float)cfg->rope_scaling.low_freq_factor;
    const float low_wavelen = (float)(old_len / cfg->rope_scaling.low_freq_factor);
    const float high_wavelen = (float)(old_len / cfg->rope_scaling.high_freq_factor);
    const float span =
        (float)(cfg->rope_scaling.high_freq_factor - cfg->rope_scaling.low_freq_factor);
    const float two_pi = (float)(2.0 * M_PI);
    for (int i = 0; i < half; i++) {
        const float inv = inv_freq[i];
        const float wavelen = (1.0f / inv) * two_pi;
        const float scaled = wavelen > low_wavelen ? inv / factor : inv;
        const float smooth = ((1.0f / wavelen) * (float)old_len - low) / span;
        const float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
        const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
        inv_freq[i] = medium ? smoothed : scaled;
    }
}

static int parse_generation(generation_config *gc, const cJSON *root, const char *path, char *err,
                            size_t errlen)
{
    double v;
    int rc;
    if ((rc = get_bool(root, "do_sample", &gc->do_sample, path, err, errlen)) == FIELD_BAD)
        return -1;
    gc->has_do_sample = rc == FIELD_OK;
    if ((rc = get_num(root, "temperature", 0.0, HUGE_VAL, &v, path, err, errlen)) == FIELD_BAD)
        return -1;
    gc->has_temperature = rc == FIELD_OK;
    gc->temperature = gc->has_temperature ? (float)v : 0.0f;
    if ((rc = get_num(root, "top_p", 0.0, 1.0, &v, path, err, errlen)) == FIELD_BAD) return -1;
    gc->has_top_p = rc == FIELD_OK;
    gc->top_p = gc->has_top_p ? (float)v : 0.0f;
    if ((rc = get_int(root, "top_k", 0, &gc->top_k, path, err, errlen)) == FIELD_BAD) return -1;
    gc->has_top_k = rc == FIELD_OK;
    if ((rc = get_num(root, "min_p", 0.0, 1.0, &v, path, err, errlen)) == FIELD_BAD) return -1;
    gc->has_min_p = rc == FIELD_OK;
    gc->min_p = gc->has_min_p ? (float)v : 0.0f;
    if ((rc = get_num(root, "repetition_penalty", 1e-30, HUGE_VAL, &v, path, err, errlen)) ==
        FIELD_BAD)
        return -1;
    gc->has_repetition_penalty = rc == FIELD_OK;
    gc->repetition_penalty = gc->has_repetition_penalty ? (float)v : 0.0f;
    if ((rc = get_int(root, "max_new_tokens", 1, &gc->max_new_tokens, path, err, errlen)) ==
        FIELD_BAD)
        return -1;
    gc->has_max_new_tokens = rc == FIELD_OK;
    return get_eos(root, gc->eos_token_ids, &gc->num_eos, path, err, errlen);
}

int generation_config_parse(generation_config *gc, const char *json, size_t len, const char *path,
                            char *err, size_t errlen)
{
    memset(gc, 0, sizeof *gc);
    if (!path) path = "generation_config.json";
    cJSON *root;
    int rc = parse_object(&root, json, len, path, err, errlen);
    if (rc == 0) rc = parse_generation(gc, root, path, err, errlen);
    cJSON_Delete(root);
    if (rc != 0) memset(gc, 0, sizeof *gc);
    return rc;
}

int generation_config_load(generation_config *gc, const char *path, char *err, size_t errlen)
{
    memset(gc, 0, sizeof *gc);
    char *text;
    size_t len;
    bool missing;
    if (read_text(path, &text, &len, &missing, err, errlen) != 0) {
        if (missing && err && errlen) err[0] = '\0';
        return missing ? 0 : -1;
    }
    int rc = generation_config_parse(gc, text, len, path, err, errlen);
    free(text);
    return rc;
}
