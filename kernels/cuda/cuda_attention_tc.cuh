/* The tensor-core prefill attention kernel (cuda_attention_tc.cu): which calls it covers and its launch.
 * cu_attention checks the arguments and picks the kernel; this module must not check them again or
 * decide between kernels. */
#ifndef BERTH_KERNELS_CUDA_ATTENTION_TC_CUH
#define BERTH_KERNELS_CUDA_ATTENTION_TC_CUH

#include "kernels/cuda/cuda_common.cuh"

/* One attention call, already checked by cu_attention (device arrays are validated by the kernel). */
typedef struct cu_attention_tc_call {
    float *out;
    const float *q;
    const void *k, *v; /* BF16 caches */
    const int32_t *qs, *pos, *lens, *bt;
    int S, T, MB;
    int64_t num_blocks;
    int Hq, Hkv, D;
    int window; /* sliding window (0 = none), as bk_attn_shape.sliding_window */
    float scale;
} cu_attention_tc_call;

/* True for the calls the kernel is built for: BF16 caches, head_dim 64 or 128, at most 64 query heads
 * per KV head (a CTA holds 64 query rows). */
bool cu_attention_tc_covers(bk_dtype kv_dtype, int head_dim, int group);
/* Enqueues the kernel on st's stream; -1 with st's error set when the launch fails. */
int cu_attention_tc(cu_state *st, const cu_attention_tc_call *c);

#endif
