/* Shared internals of the CPU backend: its state, error reporting, argument checks and the
 * bf16/f16 conversions the op loops inline. Must not: be included outside kernels/cpu/. */
#ifndef BERTH_KERNELS_CPU_COMMON_H
#define BERTH_KERNELS_CPU_COMMON_H

#include <stdint.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_kern.h"

typedef struct cpu_state {
    int num_threads;         /* what every parallel region asks for (never 0: resolved at create) */
    const cpu_kernels *kern; /* the kernel set cpu_isa_select chose at create */
    size_t budget;           /* 0 = unlimited */
    size_t in_use;           /* tensors, host wraps (with a budget) and the sample scratch */
    size_t peak;             /* the most in_use has been */
    /* The sample op's per-thread rows, kept between calls so that they are charged once. */
    void *sample_scratch;
    size_t sample_scratch_bytes;
    char err[512];
} cpu_state;

static inline cpu_state *cpu_st(bk_backend *be)
{
    return (cpu_state *)be->impl;
}

/* Charges `bytes` to the budget (op names the caller in the message): 0, or -1 with the numbers
 * when the budget would be exceeded. */
int cpu_charge(bk_backend *be, const char *op, size_t bytes);
void cpu_uncharge(bk_backend *be, size_t bytes);
/* Bytes of the sample op's scratch for a vocabulary of V with this backend's threads. */
size_t cpu_sample_scratch_bytes(const bk_backend *be, int32_t V);

/* Formats the backend's last error and returns -1, so an op can `return cpu_fail(...)`. */
int cpu_fail(bk_backend *be, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checks that `t` (named `what` in op `op`) exists, has dtype `dtype` and `cols` columns and at
 * least `min_rows` rows. cols < 0 skips the column check. */
int cpu_check(bk_backend *be, const char *op, const char *what, const bk_tensor *t, bk_dtype dtype,
              int64_t min_rows, int64_t cols);
/* Checks that `t` is a float tensor (F32, F16 or BF16) with data. */
int cpu_check_float(bk_backend *be, const char *op, const char *what, const bk_tensor *t);
/* Checks that `t` has dtype `dtype` and at least `min_numel` elements (for 1-D vectors that may be
 * stored as [1][n] or [n][1]). */
int cpu_check_vec(bk_backend *be, const char *op, const char *what, const bk_tensor *t,
                  bk_dtype dtype, int64_t min_numel);

static inline float cpu_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t cpu_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float cpu_bf16_to_f32(uint16_t h)
{
    return cpu_bits_f32((uint32_t)h << 16);
}

/* Branch-free so loops over f16 weights vectorize: shifting the exponent and mantissa into an f32
 * and scaling by 2^112 rebiases normals and subnormals alike; inf/NaN get the all-ones exponent. */
static inline float cpu_f16_to_f32(uint16_t h)
{
    uint32_t em = h & 0x7fffu;
    uint32_t r = cpu_f32_bits(cpu_bits_f32(em << 13) * 0x1p112f);
    r |= em >= 0x7c00u ? 0x7f800000u : 0u;
    return cpu_bits_f32(r | (uint32_t)(h & 0x8000u) << 16);
}

/* Round to nearest even; NaN stays a quiet NaN (rounding could carry it into infinity). */
static inline uint16_t cpu_f32_to_bf16(float f)
{
    uint32_t u = cpu_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* Element i of a float tensor's data as f32, whatever its storage dtype. */
static inline float cpu_load(const void *data, bk_dtype dtype, int64_t i)
{
    switch (dtype) {
    case BK_F16:
        return cpu_f16_to_f32(((const uint16_t *)data)[i]);
    case BK_BF16:
        return cpu_bf16_to_f32(((const uint16_t *)data)[i]);
    default:
        return ((const float *)data)[i];
    }
}

#endif
