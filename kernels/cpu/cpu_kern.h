/* The CPU backend's hot loops (matmul rows, attention over the paged cache), compiled once per
 * instruction-set level and chosen at run time by cpu_isa.c. Owns: the kernel table type and the
 * per-level tables. Must not: check arguments or touch backend state (the callers in cpu_matmul.c
 * and cpu_attention.c validate everything first). */
#ifndef BERTH_KERNELS_CPU_KERN_H
#define BERTH_KERNELS_CPU_KERN_H

#include <stdint.h>

#include "kernels/backend.h"

/* Rows [n0, n1) of out = x · Wᵀ (+ bias) for all T tokens; W is [N][K] in its storage dtype. The
 * rows run in blocks of CPU_MATMUL_BLOCK (the callers split N among threads at that grain). */
#define CPU_MATMUL_BLOCK 16
typedef void (*cpu_rows_fn)(const void *w, const float *x, const float *bias, float *out, int64_t N,
                            int64_t K, int64_t T, int64_t n0, int64_t n1);

/* One attention work item: tokens [t0, t1) of one sequence (their positions in pos) times q heads
 * g * group + [h0, h0 + nh) of kv head g; (t1 - t0) * nh <= cpu_attn_max_rows(D) and D <= 512. The
 * caller guarantees the block table covers every position. */
typedef struct cpu_attn_item {
    const float *q; /* [T][Hq][D] */
    float *out;     /* [T][Hq][D] */
    const void *k, *v;
    const int32_t *pos, *block_table; /* block_table: this sequence's row */
    bk_dtype kv_dtype;
    int32_t t0, t1, g, group, h0, nh, Hq, Hkv, D, sliding_window;
    float scale;
} cpu_attn_item;

typedef struct cpu_kernels {
    const char *name;    /* "portable", "avx2", "avx512": what BERTH_CPU_ISA accepts */
    int lanes;           /* f32 lanes per vector */
    cpu_rows_fn rows[4]; /* indexed by cpu_kern_dtype_index */
    void (*attention)(const cpu_attn_item *it);
    /* One token of silu_mul: out[i] = silu(gu[i]) * gu[I + i] for i < I. */
    void (*silu_mul)(const float *gu, float *out, int64_t I);
} cpu_kernels;

/* rows[] index for a weight dtype: 0 F32, 1 F16, 2 BF16, 3 Q8 (which reads its row scales after
 * the int8 block, bk_q8_scales_offset). */
static inline int cpu_kern_dtype_index(bk_dtype dt)
{
    return dt == BK_F16 ? 1 : dt == BK_BF16 ? 2 : dt == BK_Q8 ? 3 : 0;
}

/* The most (token, q head) rows one attention item handles at once: 64, or fewer when head_dim is
 * large, so that the rows' f32 accumulators fit CPU_ATTN_ACC_FLOATS (32 KiB of stack). More rows
 * per item means each K/V block, read once per item, serves more rows from L1. */
#define CPU_ATTN_MAX_ROWS 64
#define CPU_ATTN_ACC_FLOATS 8192
static inline int cpu_attn_max_rows(int D)
{
    int r = CPU_ATTN_ACC_FLOATS / D;
    return r < CPU_ATTN_MAX_ROWS ? r : CPU_ATTN_MAX_ROWS;
}

extern const cpu_kernels cpu_kernels_portable;
#if defined(BERTH_CPU_X86)
extern const cpu_kernels cpu_kernels_avx2;
extern const cpu_kernels cpu_kernels_avx512;
#endif

#endif
