/* CUDA emulator: force-included (-include) into every kernels/cuda .cu file compiled for the CPU. Owns:
 * BERTH_CUDA_EMULATED, the CUDA qualifiers, thread coordinates, CU_LAUNCH / CU_DYNAMIC_SMEM, and the
 * device intrinsics the kernels call. Must not: change what a kernel computes; the scheduler behind
 * the barriers and warp exchanges lives in tests/cuda_emu/emu_sched.cc. */
#ifndef BERTH_CUDA_EMU_H
#define BERTH_CUDA_EMU_H

#define BERTH_CUDA_EMULATED 1
/* Device code paths (kernels/sampling_math_scalar.h picks the _rn intrinsics by it): the whole .cu,
 * host functions included, is compiled once with it defined. */
#define __CUDA_ARCH__ 900

#include <cmath>
#include <cstdint>
#include <cstring>

#include "cuda_bf16.h"
#include "cuda_fp16.h"
#include "cuda_runtime.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
/* An OS thread runs one block at a time (its threads are fibers), so a per-OS-thread static is
 * exactly one block's shared copy; blocks of a grid run on several OS threads at once. */
#define __shared__ static thread_local
#define __restrict__ __restrict

namespace cuemu {

struct coords {
    uint3 thread, block;
    dim3 block_dim, grid_dim;
};
/* The running thread's coordinates, rewritten by the scheduler before it resumes a fiber. */
extern thread_local coords current;
extern thread_local void *dynamic_smem_base;

/* A barrier or warp exchange at a source line: the scheduler reports both sites on a mismatch. */
struct here {
    const char *file;
    int line;
    void syncthreads() const;
    void syncwarp(unsigned int mask = 0xffffffffu) const;
    template <typename T> T shfl_xor_sync(unsigned int mask, T v, int lane_mask, int width = 32) const
    {
        static_assert(sizeof(T) <= 8, "the emulated shuffle moves at most 8 bytes");
        uint64_t bits = 0;
        std::memcpy(&bits, &v, sizeof v);
        bits = exchange(mask, bits, lane_mask, width);
        T out;
        std::memcpy(&out, &bits, sizeof out);
        return out;
    }

private:
    uint64_t exchange(unsigned int mask, uint64_t bits, int lane_mask, int width) const;
};

} // namespace cuemu

#define threadIdx (static_cast<const uint3 &>(::cuemu::current.thread))
#define blockIdx (static_cast<const uint3 &>(::cuemu::current.block))
#define blockDim (static_cast<const dim3 &>(::cuemu::current.block_dim))
#define gridDim (static_cast<const dim3 &>(::cuemu::current.grid_dim))
#define warpSize 32

#define __syncthreads ::cuemu::here{__FILE__, __LINE__}.syncthreads
#define __syncwarp ::cuemu::here{__FILE__, __LINE__}.syncwarp
#define __shfl_xor_sync ::cuemu::here{__FILE__, __LINE__}.shfl_xor_sync

/* The kernel is called through a generic lambda so a template named without arguments is deduced
 * from the call's arguments, as a <<<>>> launch does. */
#define CU_LAUNCH(grid, block, smem, stream, ...)                                                  \
    ::cuemu::make_launcher(#__VA_ARGS__, __FILE__, __LINE__, grid, block, smem, stream,            \
                           [](auto... cuemu_args_) { __VA_ARGS__(cuemu_args_...); })
#define CU_DYNAMIC_SMEM(type, name) type *name = static_cast<type *>(::cuemu::dynamic_smem_base)

/* ---- intrinsics ------------------------------------------------------------------------------ */

/* Loads through the read-only or streaming caches are plain loads. */
template <typename T> inline T __ldg(const T *p)
{
    return *p;
}
template <typename T> inline T __ldcs(const T *p)
{
    return *p;
}

/* The _rn forms are never contracted into FMAs; nor is anything here (-ffp-contract=off). */
inline float __fadd_rn(float a, float b)
{
    return a + b;
}
inline float __fmul_rn(float a, float b)
{
    return a * b;
}
inline float __fdiv_rn(float a, float b)
{
    return a / b;
}
inline double __dadd_rn(double a, double b)
{
    return a + b;
}
inline double __dmul_rn(double a, double b)
{
    return a * b;
}
inline unsigned int __float_as_uint(float x)
{
    unsigned int u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
inline float __uint_as_float(unsigned int u)
{
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}
inline float rsqrtf(float x)
{
    return 1.0f / sqrtf(x);
}

inline int min(int a, int b)
{
    return a < b ? a : b;
}
inline int max(int a, int b)
{
    return a > b ? a : b;
}
inline long long min(long long a, long long b)
{
    return a < b ? a : b;
}
inline long long max(long long a, long long b)
{
    return a > b ? a : b;
}

/* Atomics: blocks run on several OS threads at once, so these are real atomic operations. */
inline unsigned int atomicOr(unsigned int *p, unsigned int v)
{
    return __atomic_fetch_or(p, v, __ATOMIC_RELAXED);
}
inline unsigned int atomicAdd(unsigned int *p, unsigned int v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
inline int atomicAdd(int *p, int v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
/* Compare-and-swap on the bytes, as the hardware's float add is atomic on the word. */
template <typename F> inline F cuemu_atomic_add_float(F *p, F v)
{
    F old;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    for (;;) {
        F sum = old + v;
        if (__atomic_compare_exchange(p, &old, &sum, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return old;
    }
}
inline float atomicAdd(float *p, float v)
{
    return cuemu_atomic_add_float(p, v);
}
inline double atomicAdd(double *p, double v)
{
    return cuemu_atomic_add_float(p, v);
}
template <typename T> inline T cuemu_atomic_max(T *p, T v)
{
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v > old && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return old;
}
inline unsigned long long atomicMax(unsigned long long *p, unsigned long long v)
{
    return cuemu_atomic_max(p, v);
}
inline int atomicMax(int *p, int v)
{
    return cuemu_atomic_max(p, v);
}

#endif
