#include "tests/gpu/gpu_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int32_t gm_blocks_for(int64_t num_tokens)
{
    return kvb_blocks_for(num_tokens);
}

int gm_open(gm_runner *r, bk_backend *be, const char *dir, int32_t num_blocks, int32_t max_tokens,
            int32_t max_seqs, int32_t max_blocks, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->be = be;
    r->max_rows = max_tokens;
    if (model_load(&r->m, dir, be, err, errlen)) return -1;
    r->vocab = model_get_config(r->m)->vocab_size;
    if (model_reserve(r->m, num_blocks, max_tokens, max_tokens, err, errlen) ||
        kvb_pool_init(&r->pool, num_blocks, err, errlen) ||
        step_batch_init(&r->batch, be, max_tokens, max_seqs, max_blocks, err, errlen)) {
        gm_close(r);
        return -1;
    }
    if (be->ops->tensor_alloc(be, &r->dev_argmax, BK_I32, 1, max_tokens)) {
        snprintf(err, errlen, "%s: argmax output: %s", dir, be->ops->last_error(be));
        gm_close(r);
        return -1;
    }
    r->logits = malloc(sizeof(float) * (size_t)max_tokens * (size_t)r->vocab);
    r->argmax = malloc(sizeof(int32_t) * (size_t)max_tokens);
    if (!r->logits || !r->argmax) {
        snprintf(err, errlen, "%s: out of host memory for %d logits rows", dir, max_tokens);
        gm_close(r);
        return -1;
    }
    return 0;
}

void gm_close(gm_runner *r)
{
    if (r->dev_argmax.data) r->be->ops->tensor_free(r->be, &r->dev_argmax);
    if (r->batch.be) step_batch_free(&r->batch);
    kvb_pool_free(&r->pool);
    model_free(r->m);
    free(r->logits);
    free(r->argmax);
    memset(r, 0, sizeof *r);
}

int gm_download(gm_runner *r, char *err, size_t errlen)
{
    const bk_ops *ops = r->be->ops;
    const int32_t R = r->batch.dev.num_logit_rows;
    if (R == 0) return 0;
    /* A [1][R] view: download_rows copies whole rows. */
    bk_tensor am = r->dev_argmax;
    am.cols = R;
    am.owned = 0;
    if (ops->argmax(r->be, &am, r->dev_logits, R) ||
        ops->download_rows(r->be, r->dev_logits, R, r->logits) ||
        ops->download_rows(r->be, &am, 1, r->argmax)) {
        snprintf(err, errlen, "%s backend: %s", r->be->name, ops->last_error(r->be));
        return -1;
    }
    return 0;
}

int gm_step(gm_runner *r, bool download, char *err, size_t errlen)
{
    if (step_batch_upload(&r->batch, err, errlen) ||
        model_forward(r->m, &r->batch.dev, &r->dev_logits, err, errlen))
        return -1;
    return download ? gm_download(r, err, errlen) : 0;
}
