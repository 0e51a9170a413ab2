/* A decoder-only transformer (Qwen3; Qwen2/2.5 and Llama-3 as small deltas) written once over the
 * backend op interface. Owns the model's weights, its paged KV-cache memory and its activation
 * workspace, all as backend tensors. Must not: dereference device memory, schedule sequences or manage
 * block ids (server/engine does that). */
#ifndef BERTH_MODELS_ARCH_MODEL_H
#define BERTH_MODELS_ARCH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"
#include "models/loader/model_config.h"

typedef struct model model;

/* Loads config.json, generation_config.json and the safetensors weights from dir onto the backend.
 * Every tensor is checked against the config (name, shape, dtype); q/k/v and gate/up are
 * concatenated at load. */
int model_load(model **out, const char *dir, bk_backend *be, char *err, size_t errlen);
typedef struct model_load_options {
    /* Quantise the large matmul weights (q/k/v/o, gate/up/down, an untied lm_head) to per-row int8
     * (BK_Q8) at load; the CPU backend only. Embeddings and norms keep their dtype. */
    bool cpu_int8_weights;
} model_load_options;
/* model_load with options (NULL: the defaults, as model_load). */
int model_load_ex(model **out, const char *dir, bk_backend *be, const model_load_options *opt,
                  char *err, size_t errlen);
void model_free(model *m);

const model_config *model_get_config(const model *m);
bk_backend *model_backend(const model *m);
const generation_config *model_get_generation_config(const model *m);

/* Allocates the paged KV cache (num_blocks blocks of BK_KV_BLOCK tokens, every layer, the backend's
 * KV dtype) and an activation workspace for up to max_tokens tokens and max_logit_rows logits rows per
 * forward. Call once before forward. */
int model_reserve(model *m, int32_t num_blocks, int32_t max_tokens, int32_t max_logit_rows,
                  char *err, size_t errlen);
/* The two halves of model_reserve, each once: the engine reserves the workspace first so that the
 * KV cache can take what memory is left. */
int model_reserve_workspace(model *m, int32_t max_tokens, int32_t max_logit_rows, char *err,
                            size_t errlen);
int model_reserve_kv(model *m, int32_t num_blocks, char *err, size_t errlen);

/* Bytes model_reserve_workspace takes for these sizes, each tensor rounded up to `align`. */
size_t model_workspace_bytes(const model_config *c, int32_t max_tokens, int32_t max_logit_rows,
                             size_t align);
/* Bytes model_load will put in the backend's memory for the safetensors checkpoint in dir (each
 * tensor rounded up to `align`), computed from the files' headers without loading: the memory
 * share check before anything loads. -1 with err set when dir has no safetensors checkpoint. */
int model_weights_bytes(const char *dir, const model_config *c, size_t align, size_t *out,
                        char *err, size_t errlen);

/* Bytes of KV cache per token (all layers, K and V) in the backend's KV dtype. */
size_t model_kv_bytes_per_token(const model *m, bk_dtype kv_dtype);

/* Runs every token of the batch through the model, writing K/V into the cache, and returns the
 * logits [num_logit_rows][vocab] f32 as a device tensor owned by the model (valid until the next
 * forward). */
int model_forward(model *m, const bk_batch *batch, const bk_tensor **logits, char *err,
                  size_t errlen);

/* Polled by model_forward before each layer's attention and MLP: when it returns true the forward
 * stops there and returns MODEL_FORWARD_ABANDONED, the batch's K/V written by only some layers (the
 * caller redoes or drops those tokens). Lets a cancelled long prefill stop within a layer instead of
 * a whole chunk. NULL: never. */
typedef bool (*model_abandon_fn)(void *ctx);
void model_set_abandon(model *m, model_abandon_fn fn, void *ctx);
#define MODEL_FORWARD_ABANDONED 1

#endif
