/* GGUF -> config + HF-named tensors. The metadata is turned into config.json text rather than
 * filling model_config directly, so one validator (model_config_parse) judges both formats. */
#include "models/loader/gguf_model.h"
#include "models/loader/gguf_quant.h"
#include "models/loader/loader_error.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int gguf_model_locate(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return 0; /* let the safetensors loader name what is missing */
    if (S_ISREG(sb.st_mode)) {
        if (!ends_with(path, ".gguf"))
            return loader_fail(err, errlen,
                               "%s: a model file must be a .gguf file (or give a "
                               "directory holding config.json and safetensors)",
                               path);
        snprintf(out, outlen, "%s", path);
        return 1;
    }
    if (!S_ISDIR(sb.st_mode))
        return loader_fail(err, errlen, "%s: neither a file nor a directory", path);
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/config.json", path);
    if (stat(probe, &sb) == 0) return 0;
    DIR *d = opendir(path);
    if (!d) return 0;
    int found = 0;
    char first[1024] = "", second[1024] = "";
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".gguf")) continue;
        if (found == 0) snprintf(first, sizeof first, "%s", e->d_name);
        if (found == 1) snprintf(second, sizeof second, "%s", e->d_name);
        found++;
    }
    closedir(d);
    if (found == 0) return 0;
    if (found > 1)
        return loader_fail(err, errlen,
                           "%s: holds %d .gguf files (%s, %s, ...) and no config.json; "
                           "name the file to serve",
                           path, found, first, second);
    snprintf(out, outlen, "%s/%s", path, first);
    return 1;
}

typedef struct arch_map {
    const char *gguf, *model_type, *cls;
    bool permute_qk; /* convert_hf_to_gguf.py's LlamaModel permutes q/k rows for its rope kernel */
} arch_map;

static const arch_map archs[] = {
    {"llama", "llama", "LlamaForCausalLM", true},
    {"qwen2", "qwen2", "Qwen2ForCausalLM", false},
    {"qwen3", "qwen3", "Qwen3ForCausalLM", false},
};

static const arch_map *find_arch(const gguf_file *f, char *err, size_t errlen)
{
    gguf_str a;
    if (gguf_get_str(f, "general.architecture", &a, err, errlen)) return NULL;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (a.len == strlen(archs[i].gguf) && !memcmp(a.s, archs[i].gguf, a.len)) return &archs[i];
    loader_fail(err, errlen,
                "%s: general.architecture is \"%.*s\"; berth serves llama, qwen2 and qwen3",
                f->path, (int)(a.len > 64 ? 64 : a.len), a.s);
    return NULL;
}

/* key "<arch>.<suffix>" */
static const char *akey(const arch_map *a, const char *suffix, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%s", a->gguf, suffix);
    return buf;
}

static int add_int(cJSON *o, const gguf_file *f, const arch_map *a, const char *suffix,
                   const char *field, bool required, char *err, size_t errlen)
{
    char k[128];
    akey(a, suffix, k, sizeof k);
    if (!gguf_find(f, k) && !required) return 0;
    int64_t v;
    if (gguf_get_i64(f, k, &v, err, errlen)) return -1;
    cJSON_AddNumberToObject(o, field, (double)v);
    return 0;
}

static int add_num(cJSON *o, const gguf_file *f, const arch_map *a, const char *suffix,
                   const char *field, char *err, size_t errlen)
{
    char k[128];
    akey(a, suffix, k, sizeof k);
    if (!gguf_find(f, k)) return 0;
    double v;
    if (gguf_get_f64(f, k, &v, err, errlen)) return -1;
    cJSON_AddNumberToObject(o, field, v);
    return 0;
}

/* Llama 3.1-style RoPE scaling: convert_hf_to_gguf.py stores the per-frequency divisors it implies
 * as the tensor rope_freqs.weight, not the parameters. berth looks for the parameters (Meta's
 * low_freq_factor 1 and high_freq_factor 4; any power-of-two factor and original context) that
 * reproduce every divisor, so that Hugging Face's own formula then applies exactly; a tensor that
 * no such parameters reproduce is refused. */
static int match_llama3_rope(const gguf_file *f, const gguf_tensor *t, cJSON *o, char *err,
                             size_t errlen)
{
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(o, "head_dim");
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(o, "hidden_size");
    const cJSON *nh = cJSON_GetObjectItemCaseSensitive(o, "num_attention_heads");
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(o, "rope_theta");
    int64_t dim = hd ? (int64_t)hd->valuedouble
                     : (nh->valuedouble >= 1 ? (int64_t)(hs->valuedouble / nh->valuedouble) : 0);
    if (t->type != GGML_F32 || t->ndim != 1 || dim < 2 || t->ne[0] != dim / 2)
        return loader_fail(err, errlen, "%s: rope_freqs.weight must be F32 [%lld] (head_dim / 2)",
                           f->path, (long long)(dim / 2));
    const double pi = 3.14159265358979323846, low = 1.0, high = 4.0;
    for (double orig = 16; orig <= 16777216; orig *= 2) {
        for (double factor = 2; factor <= 128; factor *= 2) {
            bool ok = true;
            for (int64_t i = 0; ok && i < dim / 2; i++) {
                /* the frequencies as the converter computes them: in float32 */
                float freq = 1.0f / powf((float)th->valuedouble, (float)(2 * i) / (float)dim);
                double wavelen = 2 * pi / freq, want = factor;
                if (wavelen < orig / high) {
                    want = 1.0;
                } else if (wavelen <= orig / low) {
                    double smooth = (orig / wavelen - low) / (high - low);
                    want = 1.0 / ((1 - smooth) / factor + smooth);
                }
                float got;
                memcpy(&got, t->data + 4 * i, 4);
                ok = fabs((double)got - want) <= 1e-5 * want;
            }
            if (!ok) continue;
            cJSON *rs = cJSON_AddObjectToObject(o, "rope_scaling");
            cJSON_AddStringToObject(rs, "rope_type", "llama3");
            cJSON_AddNumberToObject(rs, "factor", factor);
            cJSON_AddNumberToObject(rs, "low_freq_factor", low);
            cJSON_AddNumberToObject(rs, "high_freq_factor", high);
            cJSON_AddNumberToObject(rs, "original_max_position_embeddings", orig);
            return 0;
        }
    }
    return loader_fail(err, errlen,
                       "%s: rope_freqs.weight matches no llama3 RoPE scaling "
                       "(low_freq_factor 1, high_freq_factor 4, power-of-two factor and original "
                       "context)",
                       f->path);
}

int gguf_model_config_json(const gguf_file *f, char **json, char *err, size_t errlen)
{
    *json = NULL;
    const arch_map *a = find_arch(f, err, errlen);
    if (!a) return -1;
    char k[128];
    const gguf_kv *st = gguf_find(f, akey(a, "rope.scaling.type", k, sizeof k));
    if (st && !(st->type == GGUF_STRING && st->v.str.len == 4 && !memcmp(st->v.str.s, "none", 4)))
        return loader_fail(err, errlen, "%s: %s is set; berth does not apply GGUF rope scaling",
                           f->path, k);
    cJSON *o = cJSON_CreateObject();
    if (!o) return loader_fail(err, errlen, "%s: out of memory", f->path);
    cJSON_AddStringToObject(o, "model_type", a->model_type);
    cJSON *cls = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(cls, cJSON_CreateString(a->cls));
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    int rc = -1;
    if (add_int(o, f, a, "block_count", "num_hidden_layers", true, err, errlen) ||
        add_int(o, f, a, "embedding_length", "hidden_size", true, err, errlen) ||
        add_int(o, f, a, "feed_forward_length", "intermediate_size", true, err, errlen) ||
        add_int(o, f, a, "attention.head_count", "num_attention_heads", true, err, errlen) ||
        add_int(o, f, a, "attention.head_count_kv", "num_key_value_heads", false, err, errlen) ||
        add_int(o, f, a, "attention.key_length", "head_dim", false, err, errlen) ||
        add_int(o, f, a, "context_length", "max_position_embeddings", true, err, errlen) ||
        add_num(o, f, a, "attention.layer_norm_rms_epsilon", "rms_norm_eps", err, errlen) ||
        add_num(o, f, a, "rope.freq_base", "rope_theta", err, errlen))
        goto done;
    if (!gguf_find(f, akey(a, "rope.freq_base", k, sizeof k)))
        cJSON_AddNumberToObject(o, "rope_theta", 10000.0); /* llama.cpp's default */
    const gguf_tensor *rf = gguf_find_tensor(f, "rope_freqs.weight");
    if (rf && match_llama3_rope(f, rf, o, err, errlen)) goto done;
    /* The vocabulary size is the embedding's row count (vocab_size metadata is optional). */
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb || emb->ndim != 2) {
        loader_fail(err, errlen, "%s: no 2-D tensor token_embd.weight", f->path);
        goto done;
    }
    cJSON_AddNumberToObject(o, "vocab_size", (double)emb->ne[1]);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", gguf_find_tensor(f, "output.weight") == NULL);
    if (a->permute_qk)
        cJSON_AddBoolToObject(o, "attention_bias",
                              gguf_find_tensor(f, "blk.0.attn_q.bias") != NULL);
    int64_t id;
    if (gguf_find(f, "tokenizer.ggml.bos_token_id")) {
        if (gguf_get_i64(f, "tokenizer.ggml.bos_token_id", &id, err, errlen)) goto done;
        cJSON_AddNumberToObject(o, "bos_token_id", (double)id);
    }
    /* llama.cpp stops on end-of-generation tokens: eos, and eot/eom where the file names them. */
    static const char *const stops[] = {"tokenizer.ggml.eos_token_id",
                                        "tokenizer.ggml.eot_token_id",
                                        "tokenizer.ggml.eom_token_id"};
    cJSON *eos = cJSON_CreateArray();
    cJSON_AddItemToObject(o, "eos_token_id", eos);
    for (size_t i = 0; i < 3; i++) {
        if (!gguf_find(f, stops[i])) continue;
        if (gguf_get_i64(f, stops[i], &id, err, errlen)) goto done;
        bool dup = false;
        for (cJSON *e = eos->child; e; e = e->next)
            dup |= e->valuedouble == (double)id;
        if (!dup) cJSON_AddItemToArray(eos, cJSON_CreateNumber((double)id));
    }
    *json = cJSON_PrintUnformatted(o);
    rc = *json ? 0 : loader_fail(err, errlen, "%s: out of memory", f->path);
done:
    cJSON_Delete(o);
    return rc;
}

/* GGUF tensor name -> Hugging Face name; *qk: 'q' or 'k' for rows to un-permute, else 0. */
static int hf_name(const char *g, char *out, size_t n, char *qk)
{
    static const char *const top[][2] = {{"token_embd.weight", "model.embed_tokens.weight"},
                                         {"output_norm.weight", "model.norm.weight"},
                                         {"output.weight", "lm_head.weight"}};
    static const char *const blk[][2] = {{"attn_norm.weight", "input_layernorm.weight"},
                                         {"ffn_norm.weight", "post_attention_layernorm.weight"},
                                         {"attn_q.weight", "self_attn.q_proj.weight"},
                                         {"attn_k.weight", "self_attn.k_proj.weight"},
                                         {"attn_v.weight", "self_attn.v_proj.weight"},
                                         {"attn_q.bias", "self_attn.q_proj.bias"},
                                         {"attn_k.bias", "self_attn.k_proj.bias"},
                                         {"attn_v.bias", "self_attn.v_proj.bias"},
                                         {"attn_output.weight", "self_attn.o_proj.weight"},
                                         {"attn_q_norm.weight", "self_attn.q_norm.weight"},
                                         {"attn_k_norm.weight", "self_attn.k_norm.weight"},
                                         {"ffn_gate.weight", "mlp.gate_proj.weight"},
                                         {"ffn_up.weight", "mlp.up_proj.weight"},
                                         {"ffn_down.weight", "mlp.down_proj.weight"}};
    *qk = 0;
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!strcmp(g, top[i][0])) {
            snprintf(out, n, "%s", top[i][1]);
            return 0;
        }
    int layer, used = 0;
    if (sscanf(g, "blk.%d.%n", &layer, &used) != 1 || used == 0 || layer < 0) return -1;
    for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++)
        if (!strcmp(g + used, blk[i][0])) {
            snprintf(out, n, "model.layers.%d.%s", layer, blk[i][1]);
            if (!strncmp(blk[i][0], "attn_q.", 7)) *qk = 'q';
            if (!strncmp(blk[i][0], "attn_k.", 7)) *qk = 'k';
            return 0;
        }
    return -1;
}

/* Undoes convert_hf_to_gguf.py's permute(w, n_head, n_head_kv): within each head of D rows the
 * file holds HF row s*D/2 + j at 2j + s. */
static int unpermute_rows(float *x, int64_t rows, int64_t cols, int64_t heads)
{
    if (heads <= 0 || rows % heads || (rows / heads) % 2) return -1;
    int64_t D = rows / heads, half = D / 2;
    float *tmp = malloc(sizeof(float) * (size_t)(D * cols));
    if (!tmp) return -1;
    for (int64_t h = 0; h < heads; h++) {
        float *head = x + h * D * cols;
        memcpy(tmp, head, sizeof(float) * (size_t)(D * cols));
        for (int64_t s = 0; s < 2; s++)
            for (int64_t j = 0; j < half; j++)
                memcpy(head + (s * half + j) * cols, tmp + (2 * j + s) * cols,
                       sizeof(float) * (size_t)cols);
    }
    free(tmp);
    return 0;
}

static size_t st_size(st_dtype d)
{
    return d == ST_F32 ? 4 : 2;
}

int gguf_model_load(const char *path, st_dtype dtype, model_config *cfg, generation_config *gen,
                    st_checkpoint **ck, char *err, size_t errlen)
{
    *ck = NULL;
    memset(gen, 0, sizeof *gen);
    if (dtype != ST_F32 && dtype != ST_BF16 && dtype != ST_F16)
        return loader_fail(err, errlen, "%s: GGUF weights dequantise to F32, BF16 or F16", path);
    gguf_file *f;
    if (gguf_open(&f, path, err, errlen)) return -1;
    char *json = NULL;
    st_tensor *ts = NULL;
    uint8_t *buf = NULL;
    float *row = NULL;
    const gguf_tensor **src = NULL; /* the GGUF tensor behind each ts entry */
    size_t count = 0;
    int rc = -1;
    const arch_map *a = find_arch(f, err, errlen);
    if (!a || gguf_model_config_json(f, &json, err, errlen) ||
        model_config_parse(cfg, json, strlen(json), path, err, errlen))
        goto done;
    ts = calloc(f->ntensors ? f->ntensors : 1, sizeof *ts);
    src = calloc(f->ntensors ? f->ntensors : 1, sizeof *src);
    if (!ts || !src) goto oom;
    /* Sizes first, so the whole model is one allocation the checkpoint owns. */
    size_t total = 0;
    int64_t max_elems = 0;
    for (size_t i = 0; i < f->ntensors; i++) {
        const gguf_tensor *g = &f->tensors[i];
        char name[160], qk;
        if (!strcmp(g->name, "rope_freqs.weight")) continue; /* the config's rope_scaling now */
        if (hf_name(g->name, name, sizeof name, &qk)) {
            loader_fail(err, errlen, "%s: tensor %s is not one berth knows for architecture %s",
                        path, g->name, a->gguf);
            goto done;
        }
        if (!gguf_quant_supported(g->type)) {
            loader_fail(err, errlen,
                        "%s: tensor %s is %s; berth dequantises F32, F16, BF16, Q8_0, "
                        "Q4_0, Q4_1, Q4_K and Q6_K",
                        path, g->name, gguf_type_name(g->type));
            goto done;
        }
        if (g->ndim > 2) {
            loader_fail(err, errlen, "%s: tensor %s has %d dimensions; expected 1 or 2", path,
                        g->name, g->ndim);
            goto done;
        }
        int64_t elems = g->ne[0] * g->ne[1];
        if (elems > max_elems) max_elems = elems;
        st_tensor *t = &ts[count];
        src[count] = g;
        t->name = strdup(name);
        if (!t->name) goto oom;
        count++;
        t->dtype = g->ndim == 1 ? ST_F32 : dtype;
        t->ndim = g->ndim;
        t->shape[0] = g->ndim == 1 ? g->ne[0] : g->ne[1];
        t->shape[1] = g->ne[0];
        t->nbytes = (uint64_t)elems * st_size(t->dtype);
        t->path = f->path;
        total += (size_t)t->nbytes;
        total = (total + 63) & ~(size_t)63;
    }
    size_t path_at =
        total; /* the path lives in the buffer too, so tensors can name it after close */
    total += strlen(path) + 1;
    buf = malloc(total);
    row = malloc(sizeof(float) * (size_t)(max_elems ? max_elems : 1));
    if (!buf || !row) goto oom;
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        const gguf_tensor *g = src[i];
        st_tensor *t = &ts[i];
        int64_t elems = g->ne[0] * g->ne[1];
        char name[160], qk;
        hf_name(g->name, name, sizeof name, &qk);
        gguf_dequant(g->type, g->data, row, elems);
        if (qk && a->permute_qk) {
            int64_t heads = qk == 'q' ? cfg->num_q_heads : cfg->num_kv_heads;
            if (unpermute_rows(row, g->ndim == 1 ? g->ne[0] : g->ne[1], g->ndim == 1 ? 1 : g->ne[0],
                               heads)) {
                loader_fail(err, errlen,
                            "%s: tensor %s: %lld rows do not split into %lld heads of an "
                            "even size",
                            path, g->name, (long long)t->shape[0], (long long)heads);
                goto done;
            }
        }
        uint8_t *dst = buf + at;
        if (t->dtype == ST_F32) {
            memcpy(dst, row, sizeof(float) * (size_t)elems);
        } else {
            for (int64_t e = 0; e < elems; e++) {
                uint16_t h =
                    t->dtype == ST_BF16 ? gguf_f32_to_bf16(row[e]) : gguf_f32_to_f16(row[e]);
                memcpy(dst + 2 * e, &h, 2);
            }
        }
        t->data = dst;
        at += (size_t)t->nbytes;
        at = (at + 63) & ~(size_t)63;
    }
    memcpy(buf + path_at, path, strlen(path) + 1);
    for (size_t i = 0; i < count; i++)
        ts[i].path = (const char *)buf + path_at;
    rc = st_checkpoint_adopt(ck, ts, count, buf, path, err, errlen);
    ts = NULL;
    buf = NULL;
    count = 0;
    goto done;
oom:
    loader_fail(err, errlen, "%s: out of host memory for the dequantised weights", path);
done:
    if (ts)
        for (size_t i = 0; i < count; i++)
            free((char *)ts[i].name);
    free(ts);
    free(buf);
    free(row);
    free(src);
    free(json);
    gguf_close(f);
    return rc;
}
