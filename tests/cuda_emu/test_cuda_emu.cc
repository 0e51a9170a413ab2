/* The emulator itself (tests/cuda_emu): barriers and shuffles give the right values, unsynchronised
 * orders are shuffled, dynamic shared memory is poisoned, launch checks match the hardware's, graph
 * capture records instead of running, cuBLASLt's reference GEMM honours transposes, ld, alpha and
 * beta, the 16-bit conversions round to nearest even, and every misuse the emulator promises to
 * catch (divergent barrier, deadlocked shuffle, host pointer) aborts with a message naming the site. */
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cublasLt.h"

extern "C" {
#include "tests/support/test_support.h"
}

/* ---- kernels ----------------------------------------------------------------------------------- */

__device__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__global__ void block_sum_kernel(float *out, const float *in)
{
    __shared__ float red[32];
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    float v = warp_sum(in[i]);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        v = threadIdx.x < (blockDim.x >> 5) ? red[threadIdx.x] : 0.0f;
        v = warp_sum(v);
        if (threadIdx.x == 0) out[blockIdx.x] = v;
    }
}

/* Each thread reads its neighbour's slot after the barrier; `log` records the order threads passed. */
__global__ void rotate_kernel(int *out, int *log, unsigned int *counter)
{
    CU_DYNAMIC_SMEM(int, slots);
    if (threadIdx.x == 0 && blockIdx.x == 0) out[blockDim.x] = slots[0];
    __syncthreads();
    slots[threadIdx.x] = (int)threadIdx.x * 10;
    __syncthreads();
    out[threadIdx.x] = slots[(threadIdx.x + 1) % blockDim.x];
    log[atomicAdd(counter, 1u)] = (int)threadIdx.x;
}

__global__ void increment_kernel(int *p, int by)
{
    if (threadIdx.x == 0) *p += by;
}

constexpr int divergent_line = __LINE__ + 4; /* the first __syncthreads; the second is 2 below */
__global__ void divergent_barrier_kernel(int *p)
{
    if (threadIdx.x < 16) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    p[threadIdx.x] = 1;
}

__global__ void exited_lane_kernel(float *p)
{
    if (threadIdx.x == 3) return;
    p[threadIdx.x] = warp_sum(1.0f);
}

/* ---- helpers ----------------------------------------------------------------------------------- */

template <typename T> static T *dev_alloc(size_t n)
{
    T *p = nullptr;
    CHECK(cudaMalloc(&p, n * sizeof(T)) == cudaSuccess);
    return p;
}

/* Runs fn in a child process and returns its stderr; *aborted says whether it died of SIGABRT. */
template <typename F> static std::string in_child(F fn, bool *aborted)
{
    int fds[2];
    if (pipe(fds)) return "pipe failed";
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    std::string text;
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) text.append(buf, (size_t)n);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    *aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    return text;
}

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_reduction(cudaStream_t s)
{
    const int blocks = 3, threads = 256, n = blocks * threads;
    float host[n], sums[blocks];
    for (int i = 0; i < n; i++) host[i] = (float)i;
    float *in = dev_alloc<float>(n), *out = dev_alloc<float>(blocks);
    CHECK(cudaMemcpyAsync(in, host, sizeof host, cudaMemcpyHostToDevice, s) == cudaSuccess);
    CU_LAUNCH(blocks, threads, 0, s, block_sum_kernel)(out, in);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(cudaMemcpyAsync(sums, out, sizeof sums, cudaMemcpyDeviceToHost, s) == cudaSuccess);
    for (int b = 0; b < blocks; b++) {
        const float want = (float)(b * threads * threads + threads * (threads - 1) / 2);
        CHECKF(sums[b] == want, "block %d sums to %g, expected %g", b, sums[b], want);
    }
    cudaFree(in);
    cudaFree(out);
}

static void test_barrier_order_and_poison(cudaStream_t s)
{
    const int threads = 64;
    int *out = dev_alloc<int>(threads + 1), *log = dev_alloc<int>(threads);
    unsigned int *counter = dev_alloc<unsigned int>(1);
    cudaMemsetAsync(counter, 0, sizeof *counter, s);
    CU_LAUNCH(1, threads, threads * sizeof(int), s, rotate_kernel)(out, log, counter);
    CHECK(cudaGetLastError() == cudaSuccess);
    int host[threads + 1], order[threads];
    cudaMemcpyAsync(host, out, sizeof host, cudaMemcpyDeviceToHost, s);
    cudaMemcpyAsync(order, log, sizeof order, cudaMemcpyDeviceToHost, s);
    int wrong = 0, in_order = 0;
    for (int i = 0; i < threads; i++) {
        wrong += host[i] != (i + 1) % threads * 10;
        in_order += order[i] == i;
    }
    CHECKF(wrong == 0, "%d threads read the wrong neighbour after __syncthreads", wrong);
    CHECKF(in_order < threads / 2, "%d of %d threads ran after the barrier in thread order, expected "
           "a shuffled order", in_order, threads);
    CHECKF(host[threads] == -1, "dynamic shared memory read before any write is %d, expected the "
           "0xff poison (-1)", host[threads]);
    cudaFree(out);
    cudaFree(log);
    cudaFree(counter);
}

static void test_launch_checks(cudaStream_t s)
{
    int *p = dev_alloc<int>(1);
    CU_LAUNCH(1, 1025, 0, s, increment_kernel)(p, 1);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    CU_LAUNCH(dim3(1, 65536), 32, 0, s, increment_kernel)(p, 1);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    CU_LAUNCH(1, 32, (48 << 10) + 4, s, rotate_kernel)(p, p, (unsigned int *)p);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    CHECK(cudaFuncSetAttribute(rotate_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 << 10) ==
          cudaErrorInvalidValue);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    CHECK(cudaFuncSetAttribute(rotate_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 << 10) ==
          cudaSuccess);
    int *out = dev_alloc<int>(33), *log = dev_alloc<int>(32);
    unsigned int *counter = dev_alloc<unsigned int>(1);
    cudaMemsetAsync(counter, 0, sizeof *counter, s);
    CU_LAUNCH(1, 32, (48 << 10) + 4, s, rotate_kernel)(out, log, counter);
    CHECK(cudaGetLastError() == cudaSuccess);
    int count = 0;
    CHECK(cudaMemcpy(&count, p, sizeof count, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    int dev_count = 0;
    CHECK(cudaGetDeviceCount(&dev_count) == cudaSuccess && dev_count == 1);
    cudaFree(p);
    cudaFree(out);
    cudaFree(log);
    cudaFree(counter);
}

static void test_graph(cudaStream_t s)
{
    int *p = dev_alloc<int>(1);
    int host = 0;
    cudaMemsetAsync(p, 0, sizeof(int), s);
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    CU_LAUNCH(1, 32, 0, s, increment_kernel)(p, 5);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported);
    cudaGraph_t graph = nullptr;
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated && graph == nullptr);
    cudaGetLastError();

    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    CU_LAUNCH(1, 32, 0, s, increment_kernel)(p, 5);
    CHECK(cudaMemcpyAsync(&host, p, sizeof host, cudaMemcpyDeviceToHost, s) ==
          cudaErrorStreamCaptureUnsupported);
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated);
    cudaGetLastError();

    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    CU_LAUNCH(1, 32, 0, s, increment_kernel)(p, 5);
    void *mem = nullptr;
    CHECK(cudaMalloc(&mem, 16) == cudaErrorStreamCaptureUnsupported);
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated);
    cudaGetLastError();

    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    CU_LAUNCH(1, 32, 0, s, increment_kernel)(p, 5);
    CU_LAUNCH(1, 32, 0, s, increment_kernel)(p, 1);
    CHECK(cudaStreamEndCapture(s, &graph) == cudaSuccess && graph != nullptr);
    cudaMemcpyAsync(&host, p, sizeof host, cudaMemcpyDeviceToHost, s);
    CHECKF(host == 0, "a recorded launch ran while capturing: %d, expected 0", host);
    cudaGraphExec_t exec = nullptr;
    CHECK(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
    cudaGraphDestroy(graph);
    CHECK(cudaGraphLaunch(exec, s) == cudaSuccess);
    CHECK(cudaGraphLaunch(exec, s) == cudaSuccess);
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);
    cudaMemcpyAsync(&host, p, sizeof host, cudaMemcpyDeviceToHost, s);
    CHECKF(host == 12, "two replays of +5 +1 gave %d, expected 12", host);
    cudaGraphExecDestroy(exec);
    cudaFree(p);
}

static void test_gemm(cudaStream_t s)
{
    /* D(m×n) = alpha·Aᵀ·B + beta·C, A stored k×m (lda = k + 1), B k×n (ldb = k), bf16 inputs. */
    const int m = 5, n = 3, k = 7, lda = k + 1;
    __nv_bfloat16 ha[lda * m], hb[k * n];
    float hc[m * n], want[m * n], got[m * n];
    for (int i = 0; i < lda * m; i++) ha[i] = __float2bfloat16_rn((float)(i % 11) - 5.0f);
    for (int i = 0; i < k * n; i++) hb[i] = __float2bfloat16_rn((float)(i % 7) * 0.5f);
    for (int i = 0; i < m * n; i++) hc[i] = (float)i;
    const float alpha = 2.0f, beta = 0.5f;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double acc = 0;
            for (int kk = 0; kk < k; kk++)
                acc += (double)__bfloat162float(ha[kk + i * lda]) * __bfloat162float(hb[kk + j * k]);
            want[i + j * m] = (float)(alpha * acc + beta * hc[i + j * m]);
        }
    __nv_bfloat16 *da = dev_alloc<__nv_bfloat16>(lda * m), *db = dev_alloc<__nv_bfloat16>(k * n + 1);
    float *dc = dev_alloc<float>(m * n);
    cudaMemcpyAsync(da, ha, sizeof ha, cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(db, hb, sizeof hb, cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(dc, hc, sizeof hc, cudaMemcpyHostToDevice, s);
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulPreference_t pref;
    CHECK(cublasLtCreate(&lt) == CUBLAS_STATUS_SUCCESS);
    CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS);
    const cublasOperation_t t = CUBLAS_OP_T;
    CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t) ==
          CUBLAS_STATUS_SUCCESS);
    cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, k, m, lda);
    cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, k, n, k);
    cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, m, n, m);
    cublasLtMatmulPreferenceCreate(&pref);
    const uint32_t align = 4;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align,
                                         sizeof align);
    cublasLtMatmulHeuristicResult_t res;
    int count = 0;
    CHECK(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 1, &res, &count) ==
              CUBLAS_STATUS_SUCCESS && count == 1);
    CHECK(cublasLtMatmul(lt, desc, &alpha, da, la, db, lb, &beta, dc, lc, dc, lc, &res.algo, nullptr,
                         0, s) == CUBLAS_STATUS_SUCCESS);
    cudaMemcpyAsync(got, dc, sizeof got, cudaMemcpyDeviceToHost, s);
    double err = 0;
    for (int i = 0; i < m * n; i++) err = fmax(err, fabs((double)got[i] - want[i]));
    CHECKF(err < 1e-4, "GEMM differs from the double reference by %g", err);
    /* B one element off its 4-byte alignment: the algorithm does not support it. */
    CHECK(cublasLtMatmul(lt, desc, &alpha, da, la, (char *)db + 2, lb, &beta, dc, lc, dc, lc,
                         &res.algo, nullptr, 0, s) == CUBLAS_STATUS_NOT_SUPPORTED);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(desc);
    cublasLtDestroy(lt);
    cudaFree(da);
    cudaFree(db);
    cudaFree(dc);
}

static void test_conversions(void)
{
    CHECK(__float2bfloat16_rn(1.0f).__x == 0x3f80);
    CHECK(__float2bfloat16_rn(1.00390625f).__x == 0x3f80);   /* tie, rounds to even */
    CHECK(__float2bfloat16_rn(1.01171875f).__x == 0x3f82);   /* tie, rounds to even (up) */
    CHECK(std::isnan(__bfloat162float(__float2bfloat16_rn(NAN))));
    CHECK(__float2half_rn(1.0f).__x == 0x3c00);
    CHECK(__float2half_rn(65504.0f).__x == 0x7bff);
    CHECK(__float2half_rn(65520.0f).__x == 0x7c00);           /* rounds up to infinity */
    CHECK(__float2half_rn(5.9604645e-08f).__x == 0x0001);    /* the smallest subnormal */
    CHECK(__float2half_rn(2.98e-08f).__x == 0x0000);
    CHECK(__half2float(__float2half_rn(-3.140625f)) == -3.140625f);
    CHECK(__half2float(__half{0x0001}) == 5.9604645e-08f);
    CHECK(std::isnan(__half2float(__float2half_rn(NAN))));
}

static void test_reported_misuse(cudaStream_t s)
{
    int *p = dev_alloc<int>(64);
    float *f = dev_alloc<float>(64);
    bool aborted = false;
    std::string msg = in_child([&] { CU_LAUNCH(1, 64, 0, s, divergent_barrier_kernel)(p); }, &aborted);
    CHECKF(aborted && msg.find("divergent __syncthreads") != std::string::npos &&
               msg.find("divergent_barrier_kernel") != std::string::npos &&
               msg.find("test_cuda_emu.cc:" + std::to_string(divergent_line)) != std::string::npos &&
               msg.find("test_cuda_emu.cc:" + std::to_string(divergent_line + 2)) != std::string::npos,
           "divergent barrier: aborted %d, message '%s'", aborted, msg.c_str());
    msg = in_child([&] { CU_LAUNCH(1, 32, 0, s, exited_lane_kernel)(f); }, &aborted);
    CHECKF(aborted && msg.find("for lane 3, which has exited: deadlock") != std::string::npos,
           "shuffle with an exited lane: aborted %d, message '%s'", aborted, msg.c_str());
    int host = 0;
    msg = in_child([&] { CU_LAUNCH(1, 32, 0, s, increment_kernel)(&host, 1); }, &aborted);
    CHECKF(aborted && msg.find("argument 0") != std::string::npos &&
               msg.find("not device memory") != std::string::npos,
           "host pointer: aborted %d, message '%s'", aborted, msg.c_str());
    cudaFree(p);
    cudaFree(f);
}

int main(void)
{
    cudaStream_t s = nullptr;
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
    test_reduction(s);
    test_barrier_order_and_poison(s);
    test_launch_checks(s);
    test_graph(s);
    test_gemm(s);
    test_conversions();
    test_reported_misuse(s);
    cudaStreamDestroy(s);
    return test_finish("cuda_emu");
}
