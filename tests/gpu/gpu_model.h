/* A model on one backend with its own KV block pool and step batch, run one step at a time: shared by
 * the GPU model tests and the model benchmark. Owns the model, pool, batch and host copies of a
 * step's logits; must not compare results (the tests do) nor own the backend. */
#ifndef BERTH_TESTS_GPU_MODEL_H
#define BERTH_TESTS_GPU_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"
#include "models/arch/model.h"
#include "server/engine/kv_blocks.h"
#include "server/engine/step_batch.h"

typedef struct gm_runner {
    bk_backend *be;
    model *m;
    kvb_pool pool;
    step_batch batch;
    int32_t vocab, max_rows;
    const bk_tensor *dev_logits; /* the last forward's logits (owned by the model) */
    bk_tensor dev_argmax;        /* [1][max_rows] i32 */
    float *logits;               /* [max_rows][vocab]: the last gm_step's rows */
    int32_t *argmax;             /* [max_rows]: the backend's argmax of those rows */
} gm_runner;

/* Loads dir onto be and reserves num_blocks KV blocks in be->kv_dtype (set it before calling to pick
 * the cache dtype) and a step of max_tokens tokens / max_seqs sequences / max_blocks per sequence. */
int gm_open(gm_runner *r, bk_backend *be, const char *dir, int32_t num_blocks, int32_t max_tokens,
            int32_t max_seqs, int32_t max_blocks, char *err, size_t errlen);
void gm_close(gm_runner *r);

/* Uploads the staged batch and runs the forward. With download: also the backend's argmax of every
 * logits row, then both copied to r->logits and r->argmax (which waits for the device). */
int gm_step(gm_runner *r, bool download, char *err, size_t errlen);
/* Copies the last forward's logits and argmax to the host (after a graph replay, say). */
int gm_download(gm_runner *r, char *err, size_t errlen);

/* Blocks for a case of num_tokens tokens (prompt and output). */
int32_t gm_blocks_for(int64_t num_tokens);

#endif
