#include "server/engine/kv_budget.h"

#include <stdio.h>

#include "kernels/backend.h"

int kv_budget_plan(const kv_budget_in *in, kv_budget_out *out, char *err, size_t errlen)
{
    *out = (kv_budget_out){0};
    if (in->block_bytes == 0 || in->model_max_len <= 0 || in->max_num_seqs <= 0 ||
        in->max_model_len < 0 || in->num_tensors < 0 || in->extra_blocks < 0) {
        snprintf(err, errlen,
                 "KV cache sizing: invalid inputs (block %zu bytes, model length %d, "
                 "%d sequences)",
                 in->block_bytes, in->model_max_len, in->max_num_seqs);
        return -1;
    }
    /* Every allocation may lose up to align - 1 bytes to rounding. */
    size_t slack = (size_t)in->num_tensors * in->align;
    size_t usable = in->memory > slack ? in->memory - slack : 0;
    int64_t fit = (int64_t)(usable / in->block_bytes) - in->extra_blocks;
    if (fit > INT32_MAX) fit = INT32_MAX;
    int64_t len = in->max_model_len > 0 ? in->max_model_len : in->model_max_len;
    int64_t per_seq = (len + BK_KV_BLOCK - 1) / BK_KV_BLOCK;
    size_t token_bytes = in->block_bytes / BK_KV_BLOCK;
    if (fit < 1 || (in->max_model_len > 0 && fit < per_seq)) {
        int64_t tokens = fit > 0 ? fit * BK_KV_BLOCK : 0;
        snprintf(err, errlen,
                 "a KV cache of %zu bytes holds %lld tokens (%zu bytes each), less than %s of "
                 "max_model_len %lld: lower --max-model-len or give the KV cache more memory "
                 "(--kv-cache-memory, --gpu-memory-utilization, --memory-budget)",
                 in->memory, (long long)tokens, token_bytes, fit < 1 ? "one block" : "one sequence",
                 (long long)len);
        return -1;
    }
    if (fit < per_seq) {
        out->lowered = true;
        len = fit * BK_KV_BLOCK;
        per_seq = fit;
    }
    /* More than a full batch of full-length sequences would never be used. */
    int64_t most = per_seq * in->max_num_seqs;
    out->num_blocks = (int32_t)(fit < most ? fit : most);
    out->max_model_len = (int32_t)len;
    return 0;
}

size_t kv_budget_cpu_share(size_t mem_available, double fraction, size_t cap)
{
    double share = (double)mem_available * fraction;
    if (!(share > 0)) return 0;
    return share >= (double)cap ? cap : (size_t)share;
}
