/* The model struct shared by model_load.c (weights in) and decoder.c (forward). Private to models/arch. */
#ifndef BERTH_MODELS_ARCH_MODEL_INTERNAL_H
#define BERTH_MODELS_ARCH_MODEL_INTERNAL_H

#include <stdbool.h>

#include "models/arch/model.h"
#include "models/loader/safetensors.h"

typedef struct model_layer {
    bk_tensor input_norm, post_attn_norm; /* [H] f32 */
    bk_tensor q_norm, k_norm;             /* [D] f32; absent (data NULL) without QK-norm */
    bk_tensor qkv;                        /* [(Hq + 2 Hkv) D][H] q|k|v concatenated */
    bk_tensor qkv_bias;                   /* [(Hq + 2 Hkv) D] f32; absent without attention bias */
    bk_tensor o_proj;                     /* [H][Hq D] */
    bk_tensor gate_up;                    /* [2 I][H] gate|up concatenated */
    bk_tensor down;                       /* [H][I] */
    bk_kv_layer kv;
} model_layer;

/* Activations for one forward, sized by model_reserve. */
typedef struct model_workspace {
    int32_t max_tokens, max_logit_rows;
    bk_tensor residual, normed, qkv, q, attn, delta, gate_up, act, rows, logits;
} model_workspace;

struct model {
    model_config cfg;
    generation_config gen;
    bk_backend *be;
    st_checkpoint *ck; /* kept open: the CPU backend uses mmap'd weights in place */
    bk_tensor embed;   /* [V][H] */
    bk_tensor lm_head; /* [V][H]; the embedding itself when tied (lm_head_is_embed) */
    bool lm_head_is_embed;
    bk_tensor final_norm; /* [H] f32 */
    bk_tensor inv_freq;   /* [D/2] f32 */
    model_layer *layers;
    int32_t kv_blocks;
    model_workspace ws;
    model_abandon_fn abandon;
    void *abandon_ctx;
    /* model_load_options.cpu_int8_weights: the quantised copies the CPU backend wraps (it uses
     * host bytes in place), freed after the tensors. */
    void **q8_bufs;
    int n_q8;
};

#endif
