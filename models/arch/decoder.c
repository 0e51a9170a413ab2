/* The forward pass: embedding, then per layer attention and MLP blocks with pre-norm residuals, then
 * the final norm and lm_head for the rows that need logits. Reads like the Hugging Face modeling code:
 *   h = embed(ids)
 *   for each layer: x = norm(h); h += o_proj(attn(rope(norm_qk(qkv(x)))))
 *                   x = norm(h); h += down(silu(gate(x)) * up(x))
 *   logits = lm_head(norm(h)[logit_rows])
 * Every residual add is fused into the RMSNorm that follows it. */
#include "models/arch/model_internal.h"

#include <math.h>
#include <stdio.h>

static int alloc_f32(model *m, bk_tensor *t, int64_t rows, int64_t cols, char *err, size_t errlen)
{
    if (m->be->ops->tensor_alloc(m->be, t, BK_F32, rows, cols)) {
        snprintf(err, errlen, "model workspace: %s", m->be->ops->last_error(m->be));
        return -1;
    }
    return 0;
}

/* The activation workspace: f32 tensors residual, normed, qkv, q, attn, delta, gate_up, act (T rows)
 * and rows, logits (R rows); one list for reserving and for sizing a memory share. */
#define WS_TENSORS 10
static void ws_shapes(const model_config *c, int64_t T, int64_t R, int64_t *rows, int64_t *cols)
{
    int64_t H = c->hidden_size, D = c->head_dim, I = c->intermediate_size;
    int64_t q_dim = (int64_t)c->num_q_heads * D, qkv_dim = q_dim + 2 * (int64_t)c->num_kv_heads * D;
    const int64_t c_[WS_TENSORS] = {H, H, qkv_dim, q_dim, q_dim, H, 2 * I, I, H, c->vocab_size};
    for (int i = 0; i < WS_TENSORS; i++) {
        rows[i] = i < 8 ? T : R;
        cols[i] = c_[i];
    }
}

int model_reserve_workspace(model *m, int32_t max_tokens, int32_t max_logit_rows, char *err,
                            size_t errlen)
{
    const model_config *c = &m->cfg;
    model_workspace *w = &m->ws;
    if (w->max_tokens) {
        snprintf(err, errlen, "model_reserve: the workspace is already reserved");
        return -1;
    }
    if (max_tokens <= 0 || max_logit_rows <= 0 || max_logit_rows > max_tokens) {
        snprintf(err, errlen,
                 "model_reserve: need positive sizes with logit rows <= tokens (tokens %d, logit "
                 "rows %d)",
                 max_tokens, max_logit_rows);
        return -1;
    }
    w->max_tokens = max_tokens;
    w->max_logit_rows = max_logit_rows;
    int64_t rows[WS_TENSORS], cols[WS_TENSORS];
    ws_shapes(c, max_tokens, max_logit_rows, rows, cols);
    bk_tensor *ts[WS_TENSORS] = {&w->residual, &w->normed, &w->qkv, &w->q,    &w->attn,
                                 &w->delta,    &w->gate_up, &w->act, &w->rows, &w->logits};
    for (int i = 0; i < WS_TENSORS; i++)
        if (alloc_f32(m, ts[i], rows[i], cols[i], err, errlen)) return -1;
    return 0;
}

size_t model_workspace_bytes(const model_config *c, int32_t max_tokens, int32_t max_logit_rows,
                             size_t align)
{
    int64_t rows[WS_TENSORS], cols[WS_TENSORS];
    ws_shapes(c, max_tokens, max_logit_rows, rows, cols);
    size_t total = 0;
    for (int i = 0; i < WS_TENSORS; i++)
        total += ((size_t)rows[i] * (size_t)cols[i] * sizeof(float) + align - 1) / align * align;
    return total;
}

int model_reserve_kv(model *m, int32_t num_blocks, char *err, size_t errlen)
{
    const model_config *c = &m->cfg;
    const bk_ops *ops = m->be->ops;
    if (m->kv_blocks) {
        snprintf(err, errlen, "model_reserve: the KV cache is already reserved");
        return -1;
    }
    if (num_blocks <= 0) {
        snprintf(err, errlen, "model_reserve: the KV cache needs at least one block (got %d)",
                 num_blocks);
        return -1;
    }
    int64_t kv_cols = (int64_t)c->num_kv_heads * BK_KV_BLOCK * c->head_dim;
    for (int l = 0; l < c->num_layers; l++) {
        bk_kv_layer *kv = &m->layers[l].kv;
        if (ops->tensor_alloc(m->be, &kv->k, m->be->kv_dtype, num_blocks, kv_cols) ||
            ops->tensor_alloc(m->be, &kv->v, m->be->kv_dtype, num_blocks, kv_cols)) {
            snprintf(err, errlen, "KV cache of %d blocks (%zu bytes per token): %s", num_blocks,
                     model_kv_bytes_per_token(m, m->be->kv_dtype), ops->last_error(m->be));
            return -1;
        }
    }
    m->kv_blocks = num_blocks;
    return 0;
}

int model_reserve(model *m, int32_t num_blocks, int32_t max_tokens, int32_t max_logit_rows,
                  char *err, size_t errlen)
{
    return model_reserve_kv(m, num_blocks, err, errlen) ||
                   model_reserve_workspace(m, max_tokens, max_logit_rows, err, errlen)
               ? -1
               : 0;
}

#define OP(call)                                                                                   \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            snprintf(err, errlen, "forward: %s: %s", #call, m->be->ops->last_error(m->be));        \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

void model_set_abandon(model *m, model_abandon_fn fn, void *ctx)
{
    m->abandon = fn;
    m->abandon_ctx = ctx;
}

int model_forward(model *m, const bk_batch *batch, const bk_tensor **logits, char *err,
                  size_t errlen)
{
    const model_config *c = &m->cfg;
    const bk_ops *ops = m->be->ops;
    bk_backend *be = m->be;
    model_workspace *w = &m->ws;
    int32_t T = batch->num_tokens, R = batch->num_logit_rows;
    if (!m->kv_blocks || !m->ws.max_tokens) {
        snprintf(err, errlen, "forward: model_reserve was not called");
        return -1;
    }
    if (T <= 0 || T > w->max_tokens || R < 0 || R > w->max_logit_rows) {
        snprintf(err, errlen, "forward: batch of %d tokens / %d logit rows exceeds the reserved %d / %d",
                 T, R, w->max_tokens, w->max_logit_rows);
        return -1;
    }
    bk_attn_shape shape = {c->num_q_heads, c->num_kv_heads, c->head_dim, c->sliding_window};
    float scale = 1.0f / sqrtf((float)c->head_dim);

    OP(ops->embedding(be, &w->residual, &m->embed, &batch->token_ids, T));
    for (int l = 0; l < c->num_layers; l++) {
        if (m->abandon && m->abandon(m->abandon_ctx)) {
            snprintf(err, errlen, "forward: abandoned before layer %d of %d", l, c->num_layers);
            return MODEL_FORWARD_ABANDONED;
        }
        model_layer *L = &m->layers[l];
        /* The previous layer's MLP output joins the residual stream here. */
        OP(ops->add_rmsnorm(be, &w->residual, l ? &w->delta : NULL, &L->input_norm, &w->normed,
                            c->rms_norm_eps, T));
        OP(ops->matmul(be, &w->qkv, &w->normed, &L->qkv, L->qkv_bias.data ? &L->qkv_bias : NULL, T));
        OP(ops->qk_norm_rope_store(be, &w->q, &w->qkv, L->q_norm.data ? &L->q_norm : NULL,
                                   L->k_norm.data ? &L->k_norm : NULL, &m->inv_freq,
                                   c->rms_norm_eps, &L->kv, batch, shape));
        OP(ops->attention(be, &w->attn, &w->q, &L->kv, batch, shape, scale));
        OP(ops->matmul(be, &w->delta, &w->attn, &L->o_proj, NULL, T));
        /* And before the MLP: a layer of a long prefill can take a second on a CPU. */
        if (m->abandon && m->abandon(m->abandon_ctx)) {
            snprintf(err, errlen, "forward: abandoned in layer %d of %d", l, c->num_layers);
            return MODEL_FORWARD_ABANDONED;
        }
        OP(ops->add_rmsnorm(be, &w->residual, &w->delta, &L->post_attn_norm, &w->normed,
                            c->rms_norm_eps, T));
        OP(ops->matmul(be, &w->gate_up, &w->normed, &L->gate_up, NULL, T));
        OP(ops->silu_mul(be, &w->act, &w->gate_up, T));
        OP(ops->matmul(be, &w->delta, &w->act, &L->down, NULL, T));
    }
    OP(ops->add_rmsnorm(be, &w->residual, &w->delta, &m->final_norm, &w->normed, c->rms_norm_eps, T));
    if (R > 0) {
        OP(ops->gather_rows(be, &w->rows, &w->normed, &batch->logit_rows, R));
        OP(ops->matmul(be, &w->logits, &w->rows, &m->lm_head, NULL, R));
    }
    *logits = &w->logits;
    return 0;
}
