/* Loading: config files, then every weight checked against the config and placed on the backend. */
#include "models/arch/model_internal.h"
#include "models/loader/gguf_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- host-side dtype conversion (norm weights and biases become f32 at load) ---- */

static float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) return (sign ? -1.0f : 1.0f) * ldexpf((float)mant, -24); /* zero / subnormal */
    uint32_t bits = exp == 0x1f ? sign | 0x7f800000u | (mant << 13)
                                : sign | ((exp + 112) << 23) | (mant << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void to_f32(const st_tensor *t, float *out, int64_t n)
{
    const uint8_t *p = t->data;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        switch (t->dtype) {
        case ST_F32:
            memcpy(&out[i], p + 4 * i, 4);
            break;
        case ST_BF16:
            memcpy(&h, p + 2 * i, 2);
            out[i] = bf16_to_f32(h);
            break;
        default: /* ST_F16: check_float_dtype admits nothing else */
            memcpy(&h, p + 2 * i, 2);
            out[i] = f16_to_f32(h);
            break;
        }
    }
}

/* ---- weight lookup and checks ---- */

typedef struct load_ctx {
    model *m;
    char *err;
    size_t errlen;
    bool q8; /* model_load_options.cpu_int8_weights */
} load_ctx;

static int check_float_dtype(load_ctx *c, const st_tensor *t, bk_dtype *out)
{
    switch (t->dtype) {
    case ST_F32:
        *out = BK_F32;
        return 0;
    case ST_F16:
        *out = BK_F16;
        return 0;
    case ST_BF16:
        *out = BK_BF16;
        return 0;
    default:
        snprintf(c->err, c->errlen, "%s: tensor %s has dtype %s; berth loads F32, F16 and BF16",
                 t->path, t->name, st_dtype_name(t->dtype));
        return -1;
    }
}

/* Finds name and checks it is [rows][cols] (cols = 0: a vector of rows elements). */
static const st_tensor *want(load_ctx *c, const char *name, int64_t rows, int64_t cols)
{
    const st_tensor *t = st_checkpoint_find(c->m->ck, name);
    if (!t) {
        snprintf(c->err, c->errlen, "checkpoint has no tensor %s (model_type %s)", name,
                 c->m->cfg.model_type);
        return NULL;
    }
    bool ok = cols ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
                   : (t->ndim == 1 && t->shape[0] == rows);
    if (!ok) {
        char got[128] = "", want_s[64];
        size_t used = 0;
        for (int i = 0; i < t->ndim && used < sizeof got; i++)
            used += (size_t)snprintf(got + used, sizeof got - used, "%s%lld", i ? ", " : "",
                                     (long long)t->shape[i]);
        if (cols)
            snprintf(want_s, sizeof want_s, "[%lld, %lld]", (long long)rows, (long long)cols);
        else
            snprintf(want_s, sizeof want_s, "[%lld]", (long long)rows);
        snprintf(c->err, c->errlen, "%s: tensor %s has shape [%s]; config.json implies %s",
                 t->path, name, got, want_s);
        return NULL;
    }
    bk_dtype d;
    return check_float_dtype(c, t, &d) == 0 ? t : NULL;
}

static int backend_fail(load_ctx *c, const char *what)
{
    snprintf(c->err, c->errlen, "loading %s: %s", what, c->m->be->ops->last_error(c->m->be));
    return -1;
}

/* Quantises parts (stacked by rows) into one BK_Q8 tensor over a host buffer the model keeps. */
static int load_q8(load_ctx *c, bk_tensor *out, const st_tensor *const *parts,
                   const char *const *names, const int64_t *rows, int count, int64_t cols,
                   bk_dtype d)
{
    int64_t total = 0;
    for (int i = 0; i < count; i++)
        total += rows[i];
    const size_t bytes = (bk_q8_bytes(total, cols) + 63) / 64 * 64;
    char *buf = aligned_alloc(64, bytes);
    if (!buf) {
        snprintf(c->err, c->errlen, "out of host memory quantising %s to int8 (%zu bytes)",
                 names[0], bytes);
        return -1;
    }
    c->m->q8_bufs[c->m->n_q8++] = buf;
    float *scales = (float *)(void *)(buf + bk_q8_scales_offset(total, cols));
    int64_t row0 = 0;
    for (int i = 0; i < count; i++) {
        bk_q8_quantize_rows((int8_t *)buf + row0 * cols, scales + row0, parts[i]->data, d, rows[i],
                            cols);
        row0 += rows[i];
    }
    if (c->m->be->ops->tensor_from_host(c->m->be, out, BK_Q8, total, cols, buf))
        return backend_fail(c, names[0]);
    return 0;
}

/* A matrix used in place (CPU) or copied once (GPU); quantised to int8 when asked (q8). */
static int load_matrix_q(load_ctx *c, bk_tensor *out, const char *name, int64_t rows, int64_t cols,
                         bool q8)
{
    const st_tensor *t = want(c, name, rows, cols);
    bk_dtype d;
    if (!t || check_float_dtype(c, t, &d)) return -1;
    if (q8) return load_q8(c, out, &t, &name, &rows, 1, cols, d);
    if (c->m->be->ops->tensor_from_host(c->m->be, out, d, rows, cols, t->data)) return backend_fail(c, name);
    return 0;
}

static int load_matrix(load_ctx *c, bk_tensor *out, const char *name, int64_t rows, int64_t cols)
{
    return load_matrix_q(c, out, name, rows, cols, c->q8);
}

/* Several checkpoint matrices stacked by rows into one backend tensor (q|k|v, gate|up). */
static int load_stacked(load_ctx *c, bk_tensor *out, const char *const *names, const int64_t *rows,
                        int count, int64_t cols)
{
    const st_tensor *parts[4];
    int64_t total = 0;
    bk_dtype d0 = BK_F32;
    for (int i = 0; i < count; i++) {
        bk_dtype d;
        parts[i] = want(c, names[i], rows[i], cols);
        if (!parts[i] || check_float_dtype(c, parts[i], &d)) return -1;
        if (i == 0) d0 = d;
        if (d != d0) {
            snprintf(c->err, c->errlen, "%s: tensor %s is %s but %s is %s; they must match",
                     parts[i]->path, names[i], bk_dtype_name(d), names[0], bk_dtype_name(d0));
            return -1;
        }
        total += rows[i];
    }
    if (c->q8) return load_q8(c, out, parts, names, rows, count, cols, d0);
    const bk_ops *ops = c->m->be->ops;
    if (ops->tensor_alloc(c->m->be, out, d0, total, cols)) return backend_fail(c, names[0]);
    int64_t row0 = 0;
    for (int i = 0; i < count; i++) {
        if (ops->upload_rows(c->m->be, out, row0, rows[i], parts[i]->data)) return backend_fail(c, names[i]);
        row0 += rows[i];
    }
    return 0;
}

/* Vectors (norm weights, biases) become f32; several may be concatenated. */
static int load_vector_f32(load_ctx *c, bk_tensor *out, const char *const *names, const int64_t *lens,
                           int count)
{
    int64_t total = 0;
    const st_tensor *parts[4];
    for (int i = 0; i < count; i++) {
        parts[i] = want(c, names[i], lens[i], 0);
        if (!parts[i]) return -1;
        total += lens[i];
    }
    float *host = malloc(sizeof(float) * (size_t)total);
    if (!host) {
        snprintf(c->err, c->errlen, "out of host memory loading %s", names[0]);
        return -1;
    }
    int64_t off = 0;
    for (int i = 0; i < count; i++) {
        to_f32(parts[i], host + off, lens[i]);
        off += lens[i];
    }
    const bk_ops *ops = c->m->be->ops;
    int rc = 0;
    if (ops->tensor_alloc(c->m->be, out, BK_F32, 1, total) ||
        ops->upload_rows(c->m->be, out, 0, 1, host))
        rc = backend_fail(c, names[0]);
    free(host);
    return rc;
}

static int load_layer(load_ctx *c, int l)
{
    const model_config *cfg = &c->m->cfg;
    model_layer *L = &c->m->layers[l];
    int64_t H = cfg->hidden_size, D = cfg->head_dim, I = cfg->intermediate_size;
    int64_t qkv_rows[3] = {cfg->num_q_heads * D, cfg->num_kv_heads * D, cfg->num_kv_heads * D};
    char n[8][96];
#define NAME(i, fmt) (snprintf(n[i], sizeof n[i], "model.layers.%d." fmt, l), n[i])
    const char *qkv[3] = {NAME(0, "self_attn.q_proj.weight"), NAME(1, "self_attn.k_proj.weight"),
                          NAME(2, "self_attn.v_proj.weight")};
    if (load_stacked(c, &L->qkv, qkv, qkv_rows, 3, H)) return -1;
    if (cfg->attention_bias) {
        const char *b[3] = {NAME(3, "self_attn.q_proj.bias"), NAME(4, "self_attn.k_proj.bias"),
                            NAME(5, "self_attn.v_proj.bias")};
        if (load_vector_f32(c, &L->qkv_bias, b, qkv_rows, 3)) return -1;
    }
    if (load_matrix(c, &L->o_proj, NAME(0, "self_attn.o_proj.weight"), H, cfg->num_q_heads * D))
        return -1;
    int64_t gu_rows[2] = {I, I};
    const char *gu[2] = {NAME(0, "mlp.gate_proj.weight"), NAME(1, "mlp.up_proj.weight")};
    if (load_stacked(c, &L->gate_up, gu, gu_rows, 2, H)) return -1;
    if (load_matrix(c, &L->down, NAME(0, "mlp.down_proj.weight"), H, I)) return -1;
    const char *in_norm = NAME(0, "input_layernorm.weight");
    const char *post_norm = NAME(1, "post_attention_layernorm.weight");
    if (load_vector_f32(c, &L->input_norm, &in_norm, &H, 1) ||
        load_vector_f32(c, &L->post_attn_norm, &post_norm, &H, 1))
        return -1;
    if (cfg->qk_norm) {
        const char *qn = NAME(0, "self_attn.q_norm.weight"), *kn = NAME(1, "self_attn.k_norm.weight");
        if (load_vector_f32(c, &L->q_norm, &qn, &D, 1) || load_vector_f32(c, &L->k_norm, &kn, &D, 1))
            return -1;
    }
#undef NAME
    return 0;
}

static int load_rope(load_ctx *c)
{
    int64_t half = c->m->cfg.head_dim / 2;
    float *inv = malloc(sizeof(float) * (size_t)half);
    if (!inv) {
        snprintf(c->err, c->errlen, "out of host memory");
        return -1;
    }
    model_config_rope_inv_freq(&c->m->cfg, inv);
    const bk_ops *ops = c->m->be->ops;
    int rc = 0;
    if (ops->tensor_alloc(c->m->be, &c->m->inv_freq, BK_F32, 1, half) ||
        ops->upload_rows(c->m->be, &c->m->inv_freq, 0, 1, inv))
        rc = backend_fail(c, "RoPE frequencies");
    free(inv);
    return rc;
}

int model_load(model **out, const char *dir, bk_backend *be, char *err, size_t errlen)
{
    return model_load_ex(out, dir, be, NULL, err, errlen);
}

int model_load_ex(model **out, const char *dir, bk_backend *be, const model_load_options *opt,
                  char *err, size_t errlen)
{
    *out = NULL;
    const bool q8 = opt && opt->cpu_int8_weights;
    /* The kernels for BK_Q8 exist on the CPU backend only. */
    if (q8 && strcmp(be->name, "cpu") != 0) {
        snprintf(err, errlen, "int8 weights (--cpu-weights int8) need the cpu backend, not %s",
                 be->name);
        return -1;
    }
    model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of host memory");
        return -1;
    }
    m->be = be;
    load_ctx c = {m, err, errlen, q8};
    char path[4096];
    int gguf = gguf_model_locate(dir, path, sizeof path, err, errlen);
    if (gguf < 0) goto fail;
    if (gguf) {
        /* GGUF weights are dequantised into the dtype the backend computes in. */
        st_dtype d = be->kv_dtype == BK_F32 ? ST_F32 : be->kv_dtype == BK_F16 ? ST_F16 : ST_BF16;
        if (gguf_model_load(path, d, &m->cfg, &m->gen, &m->ck, err, errlen)) goto fail;
    } else {
        snprintf(path, sizeof path, "%s/config.json", dir);
        if (model_config_load(&m->cfg, path, err, errlen)) goto fail;
        snprintf(path, sizeof path, "%s/generation_config.json", dir);
        if (generation_config_load(&m->gen, path, err, errlen)) goto fail;
        if (st_checkpoint_open(&m->ck, dir, err, errlen)) goto fail;
    }

    const model_config *cfg = &m->cfg;
    int64_t V = cfg->vocab_size, H = cfg->hidden_size;
    /* The embedding is a lookup, not a matmul: it keeps its dtype (and so does a tied lm_head). */
    if (load_matrix_q(&c, &m->embed, "model.embed_tokens.weight", V, H, false)) goto fail;
    if (q8) {
        m->q8_bufs = calloc((size_t)cfg->num_layers * 4 + 1, sizeof *m->q8_bufs);
        if (!m->q8_bufs) {
            snprintf(err, errlen, "out of host memory");
            goto fail;
        }
    }
    if (cfg->tie_word_embeddings) {
        /* As in Hugging Face: a tied model's lm_head is the embedding, whatever the file holds. */
        m->lm_head = m->embed;
        m->lm_head_is_embed = true;
    } else if (!st_checkpoint_find(m->ck, "lm_head.weight")) {
        snprintf(err, errlen,
                 "%s: checkpoint has no lm_head.weight and config.json has tie_word_embeddings false",
                 dir);
        goto fail;
    } else if (load_matrix(&c, &m->lm_head, "lm_head.weight", V, H)) {
        goto fail;
    }
    const char *fn = "model.norm.weight";
    if (load_vector_f32(&c, &m->final_norm, &fn, &H, 1)) goto fail;
    if (load_rope(&c)) goto fail;
    m->layers = calloc((size_t)cfg->num_layers, sizeof *m->layers);
    if (!m->layers) {
        snprintf(err, errlen, "out of host memory");
        goto fail;
    }
    for (int l = 0; l < cfg->num_layers; l++)
        if (load_layer(&c, l)) goto fail;
    *out = m;
    return 0;
fail:
    model_free(m);
    return -1;
}

const model_config *model_get_config(const model *m)
{
    return &m->cfg;
}

bk_backend *model_backend(const model *m)
{
    return m->be;
}

const generation_config *model_get_generation_config(const model *m)
{
    return &m->gen;
}

size_t model_kv_bytes_per_token(const model *m, bk_dtype kv_dtype)
{
    return (size_t)m->cfg.num_layers * 2 * (size_t)m->cfg.num_kv_heads * (size_t)m->cfg.head_dim *
           bk_dtype_size(kv_dtype);
}

static void free_tensor(bk_backend *be, bk_tensor *t)
{
    if (t->data) be->ops->tensor_free(be, t);
    *t = (bk_tensor){0};
}

void model_free(model *m)
{
    if (!m) return;
    bk_backend *be = m->be;
    if (m->layers) {
        for (int l = 0; l < m->cfg.num_layers; l++) {
            model_layer *L = &m->layers[l];
            bk_tensor *ts[] = {&L->input_norm, &L->post_attn_norm, &L->q_norm, &L->k_norm, &L->qkv,
                               &L->qkv_bias,   &L->o_proj,         &L->gate_up, &L->down,  &L->kv.k,
                               &L->kv.v};
            for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) free_tensor(be, ts[i]);
        }
        free(m->layers);
    }
    model_workspace *w = &m->ws;
    bk_tensor *ws[] = {&w->residual, &w->normed, &w->qkv,   &w->q,    &w->attn,
                       &w->delta,    &w->gate_up, &w->act,  &w->rows, &w->logits};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) free_tensor(be, ws[i]);
    if (!m->lm_head_is_embed) free_tensor(be, &m->lm_head);
    free_tensor(be, &m->embed);
    free_tensor(be, &m->final_norm);
    free_tensor(be, &m->inv_freq);
    if (m->ck) st_checkpoint_close(m->ck);
    for (int i = 0; i < m->n_q8; i++)
        free(m->q8_bufs[i]);
    free(m->q8_bufs);
    free(m);
}

/* Whether model_load reads a tensor of this name (the rest of a checkpoint, e.g. layers past
 * num_hidden_layers, stays unread). */
static bool weight_loaded(const char *name, const model_config *c)
{
    if (!strcmp(name, "model.embed_tokens.weight") || !strcmp(name, "model.norm.weight"))
        return true;
    if (!strcmp(name, "lm_head.weight")) return !c->tie_word_embeddings;
    int layer = -1, used = 0;
    if (sscanf(name, "model.layers.%d.%n", &layer, &used) != 1 || used == 0) return false;
    return layer >= 0 && layer < c->num_layers;
}

int model_weights_bytes(const char *dir, const model_config *c, size_t align, size_t *out,
                        char *err, size_t errlen)
{
    *out = 0;
    st_checkpoint *ck;
    if (st_checkpoint_open(&ck, dir, err, errlen)) return -1;
    size_t total = 0;
    for (size_t i = 0; i < st_checkpoint_count(ck); i++) {
        const st_tensor *t = st_checkpoint_tensor(ck, i);
        if (!weight_loaded(t->name, c)) continue;
        /* Vectors (norms, biases) become f32; matrices keep their dtype (load_vector_f32 and
         * load_matrix / load_stacked). */
        size_t bytes = t->ndim == 1 ? (size_t)t->shape[0] * sizeof(float) : (size_t)t->nbytes;
        total += (bytes + align - 1) / align * align;
    }
    st_checkpoint_close(ck);
    /* The RoPE inverse frequencies (load_rope). */
    total += ((size_t)c->head_dim / 2 * sizeof(float) + align - 1) / align * align;
    *out = total;
    return 0;
}
