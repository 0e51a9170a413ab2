/* Shared by the CUDA backend's .cu files only: the backend state, error checking with file and line,
 * 16-byte vector types, dtype conversion and block reductions.
 * Must not: be included from C, or hold op logic. */
#ifndef BERTH_KERNELS_CUDA_COMMON_CUH
#define BERTH_KERNELS_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "kernels/cuda/cuda_arena.h"
#include "kernels/cuda/cuda_backend.h" /* backend.h, with C linkage */

/* Kernel launches and dynamic shared memory go through these two macros so the same sources also
 * build against the CPU emulator of tests/cuda_emu (which defines them itself, and defines
 * BERTH_CUDA_EMULATED). The kernel comes last because a template-id's commas would split it. */
#ifndef BERTH_CUDA_EMULATED
#define CU_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<grid, block, smem, stream>>>
#define CU_DYNAMIC_SMEM(type, name) extern __shared__ type name[]
#endif

/* Faults a kernel finds in device-resident inputs (ids, slots, block tables) that the host cannot see
 * without a sync. Kernels OR these into be->flags; download_rows (which syncs anyway) reports them. */
enum {
    CU_FLAG_EMBED_ID = 1u << 0,
    CU_FLAG_SLOT = 1u << 1,
    CU_FLAG_POSITION = 1u << 2,
    CU_FLAG_BLOCK_TABLE = 1u << 3,
    CU_FLAG_QUERY_START = 1u << 4,
    CU_FLAG_GATHER_ROW = 1u << 5,
};

/* cuBLASLt plans, least recently used evicted: every prefill length makes about five new plans,
 * and with 32 slots in round robin a decode bucket's plans were gone before its graph was recorded,
 * so the heuristic ran inside the capture (review 2026-12-07, finding 3). 256 plans hold ~50
 * prefill shapes beside every decode bucket's. */
#define CU_LT_PLANS 256

typedef struct cu_lt_plan {
    int used;
    uint64_t last_use; /* cu_state.plan_clock when last returned */
    int no_algo;       /* cuBLASLt has no algorithm for the shape: the GEMV computes it */
    int64_t m, n, k;
    uint32_t align; /* the least alignment of the four pointers the algorithm was chosen for */
    cudaDataType_t ab_type;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
} cu_lt_plan;

typedef struct cu_state {
    bk_backend base;
    int device;
    int num_sms;
    size_t max_smem_optin;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    char *alloc;   /* the one cudaMalloc */
    char *mem;     /* where the tensor arena starts, inside alloc */
    size_t mem_size;
    cu_arena arena;         /* tensors */
    unsigned int *flags;    /* device word of CU_FLAG_* */
    /* Device u64 beside flags: the sample op's FP64 weight evaluations, counted while count_fp64 is
     * set (bk_cuda_sample_fp64, the benchmarks); NULL to the kernel otherwise. */
    unsigned long long *fp64_evals;
    int count_fp64;
    void *lt_ws;            /* cuBLASLt workspace */
    size_t lt_ws_size;
    void *scratch;          /* op scratch: bf16 activations for GEMMs, split-attention partials */
    size_t scratch_size;
    cu_lt_plan plans[CU_LT_PLANS];
    uint64_t plan_clock;
    uint64_t plan_heuristics; /* heuristic calls so far (tests: none while capturing) */
    uint64_t lt_fallbacks;    /* shapes cuBLASLt had no algorithm for (GEMV fallback) */
    int capturing;      /* between bk_cuda_capture_begin and _end */
    int capture_failed; /* an op failed while capturing: the graph would be incomplete */
    char err[512];
} cu_state;

/* The current device is per host thread, and ops are launched from the engine's thread, not the one
 * that created the backend: a kernel launched into another device's stream fails. Every op gets its
 * state through cu_st, so every launching thread is bound here (cudaGetDevice is a host-side read).
 */
static inline void cu_bind(const cu_state *st)
{
    int d = -1;
    if (st && (cudaGetDevice(&d) != cudaSuccess || d != st->device)) cudaSetDevice(st->device);
}

static inline cu_state *cu_st(bk_backend *be)
{
    cu_state *st = (cu_state *)be;
    cu_bind(st);
    return st;
}

/* Writes "cuda <message>" into the backend's error buffer; returns -1. */
int cu_fail(cu_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cu_fail_cuda(cu_state *st, const char *file, int line, const char *call, cudaError_t e);
int cu_fail_cublas(cu_state *st, const char *file, int line, const char *call, cublasStatus_t s);

#define CUDA_CHECK(st, call)                                                                       \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) return cu_fail_cuda((st), __FILE__, __LINE__, #call, e_);          \
    } while (0)

#define CUBLAS_CHECK(st, call)                                                                     \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) return cu_fail_cublas((st), __FILE__, __LINE__, #call, s_); \
    } while (0)

/* After every kernel launch: a bad configuration shows up here, not at the next sync. */
#define CUDA_CHECK_LAUNCH(st) CUDA_CHECK(st, cudaGetLastError())

/* Host-side argument checks, the same contract as the CPU backend's (rows may exceed the count). */
int cu_check(cu_state *st, const char *op, const char *what, const bk_tensor *t, bk_dtype dtype,
             int64_t min_rows, int64_t cols);
int cu_check_float(cu_state *st, const char *op, const char *what, const bk_tensor *t);
int cu_check_vec(cu_state *st, const char *op, const char *what, const bk_tensor *t, bk_dtype dtype,
                 int64_t min_numel);

/* ---- device helpers ---------------------------------------------------------------------------- */

/* N elements loaded or stored as one aligned access (16 bytes at most): llm.c's Packed128 idea. */
template <typename T, int N>
struct alignas(sizeof(T) * N > 16 ? 16 : sizeof(T) * N) cu_vec {
    T v[N];
};

template <typename T> __device__ __forceinline__ float cu_to_f32(T x);
template <> __device__ __forceinline__ float cu_to_f32<float>(float x)
{
    return x;
}
template <> __device__ __forceinline__ float cu_to_f32<__half>(__half x)
{
    return __half2float(x);
}
template <> __device__ __forceinline__ float cu_to_f32<__nv_bfloat16>(__nv_bfloat16 x)
{
    return __bfloat162float(x);
}

template <typename T> __device__ __forceinline__ T cu_from_f32(float x);
template <> __device__ __forceinline__ float cu_from_f32<float>(float x)
{
    return x;
}
template <> __device__ __forceinline__ __half cu_from_f32<__half>(float x)
{
    return __float2half_rn(x);
}
template <> __device__ __forceinline__ __nv_bfloat16 cu_from_f32<__nv_bfloat16>(float x)
{
    return __float2bfloat16_rn(x);
}

__device__ __forceinline__ float cu_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float cu_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
 * `red` is 32 floats of shared memory. */
__device__ __forceinline__ float cu_block_sum(float v, float *red)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = cu_warp_sum(v);
    __syncthreads(); /* red may still be read by a previous call */
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : 0.0f;
    return cu_warp_sum(v);
}

/* Paged attention's checks of the device-resident batch arrays, shared by the SIMT and tensor-core
 * kernels so both raise the same flags. A block table entry outside the pool: -1 and a flag. */
__device__ __forceinline__ int32_t cu_kv_block_id(const int32_t *bt, int64_t row, int j,
                                                  int64_t num_blocks, unsigned int *flags)
{
    const int32_t id = bt[row + j];
    if (id < 0 || id >= num_blocks) {
        atomicOr(flags, CU_FLAG_BLOCK_TABLE);
        return -1;
    }
    return id;
}

/* Position of token t checked against its sequence s; -1 and a flag when invalid. Args: any kernel
 * argument struct with pos, qs, lens, MB (block-table width) and flags. */
template <typename Args> __device__ __forceinline__ int cu_checked_pos(const Args &a, int t, int s)
{
    const int32_t p = a.pos[t];
    if (a.qs[s] > t || a.qs[s + 1] <= t) {
        atomicOr(a.flags, CU_FLAG_QUERY_START);
        return -1;
    }
    if (p < 0 || p >= a.lens[s] || p / BK_KV_BLOCK >= a.MB) {
        atomicOr(a.flags, CU_FLAG_POSITION);
        return -1;
    }
    return p;
}

static inline unsigned int cu_blocks(int64_t n, unsigned int threads)
{
    int64_t b = (n + threads - 1) / threads;
    return (unsigned int)(b > 65535 * 32 ? 65535 * 32 : (b < 1 ? 1 : b));
}

/* ---- ops, one .cu file per family ------------------------------------------------------------- */

extern "C" {
int cu_embedding(bk_backend *be, bk_tensor *out, const bk_tensor *table, const bk_tensor *ids,
                 int32_t num_tokens);
int cu_add_rmsnorm(bk_backend *be, bk_tensor *residual, const bk_tensor *delta,
                   const bk_tensor *weight, bk_tensor *out, float eps, int32_t num_tokens);
int cu_silu_mul(bk_backend *be, bk_tensor *out, const bk_tensor *gate_up, int32_t num_tokens);
int cu_gather_rows(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *rows,
                   int32_t num_rows);
int cu_argmax(bk_backend *be, bk_tensor *out, const bk_tensor *logits, int32_t num_rows);
int cu_sample(bk_backend *be, bk_tensor *out, bk_tensor *logprobs, bk_tensor *top_ids,
              const bk_tensor *logits, const bk_tensor *params, const bk_tensor *bias,
              const bk_tensor *counts, const bk_tensor *mask, int32_t num_rows);
int cu_qk_norm_rope_store(bk_backend *be, bk_tensor *q_out, const bk_tensor *qkv,
                          const bk_tensor *q_norm, const bk_tensor *k_norm,
                          const bk_tensor *inv_freq, float norm_eps, bk_kv_layer *kv,
                          const bk_batch *batch, bk_attn_shape shape);
int cu_attention(bk_backend *be, bk_tensor *out, const bk_tensor *q, const bk_kv_layer *kv,
                 const bk_batch *batch, bk_attn_shape shape, float scale);
int cu_matmul(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *w,
              const bk_tensor *bias, int32_t num_tokens);
/* Sets kernel attributes (large shared memory) once at start. */
int cu_attention_init(cu_state *st);
void cu_matmul_release(cu_state *st);
}

#endif
