/* CUDA emulator: the CUDA runtime API subset the CUDA backend (kernels/cuda .cu files) calls, on the
 * CPU. Owns: vector types, cudaError_t, the runtime declarations, and the launch object CU_LAUNCH
 * builds. Must not: hold kernel logic; the implementations live in tests/cuda_emu/emu_*.cc. */
#ifndef BERTH_CUDA_EMU_RUNTIME_H
#define BERTH_CUDA_EMU_RUNTIME_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <type_traits>

#include "library_types.h"

/* ---- vector types ---------------------------------------------------------------------------- */

struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
};
struct alignas(16) uint4 {
    unsigned int x, y, z, w;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) float2 {
    float x, y;
};

/* ---- errors ---------------------------------------------------------------------------------- */

enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorIllegalState = 401,
    cudaErrorInvalidDevice = 101,
    cudaErrorIllegalAddress = 700,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorStreamCaptureUnmatched = 903,
    cudaErrorStreamCaptureImplicit = 906,
    cudaErrorStreamCaptureWrongThread = 908,
};
typedef cudaError_t cudaError;

const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);

/* ---- device ---------------------------------------------------------------------------------- */

enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaDriverGetVersion(int *version);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);

/* ---- memory ---------------------------------------------------------------------------------- */

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};

struct CUstream_st;
typedef CUstream_st *cudaStream_t;

cudaError_t cudaMalloc(void **ptr, size_t size);
template <typename T> cudaError_t cudaMalloc(T **ptr, size_t size)
{
    return cudaMalloc(reinterpret_cast<void **>(ptr), size);
}
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, cudaMemcpyKind kind,
                            cudaStream_t stream = 0);
cudaError_t cudaMemset(void *ptr, int value, size_t count);
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream = 0);

/* ---- streams and graphs ---------------------------------------------------------------------- */

#define cudaStreamDefault 0x00u
#define cudaStreamNonBlocking 0x01u

enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2,
};
enum cudaStreamCaptureStatus {
    cudaStreamCaptureStatusNone = 0,
    cudaStreamCaptureStatusActive = 1,
    cudaStreamCaptureStatusInvalidated = 2,
};

struct CUgraph_st;
struct CUgraphExec_st;
typedef CUgraph_st *cudaGraph_t;
typedef CUgraphExec_st *cudaGraphExec_t;

cudaError_t cudaStreamCreate(cudaStream_t *stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus *status);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);

/* ---- kernels --------------------------------------------------------------------------------- */

enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};

namespace cuemu {

/* Where a launch or an attribute call was written: the kernel as spelled in the source, file, line. */
struct site {
    const char *kernel;
    const char *file;
    int line;
};

/* Raising a kernel's dynamic shared memory limit is recorded under the kernel's name without
 * template arguments (the launch macro cannot name the instantiation a deduced launch resolves to):
 * raising one instantiation raises all of that template's. docs/design/cuda-emulator.md. */
cudaError_t func_set_attribute(const char *spelled, cudaFuncAttribute attr, int value);

/* Checks the configuration as the hardware does and then runs the grid now, or records it when the
 * stream is being captured. A failure sets the error cudaGetLastError returns. */
void launch(const site &where, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
            std::function<void()> thread_body);

/* A host pointer passed to a kernel faults on a GPU; here it aborts with the kernel and argument. */
void check_kernel_pointer(const site &where, int arg, const void *p);

template <typename F> struct launcher {
    site where;
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    F fn;

    template <typename... A> void operator()(A... args) const
    {
        int i = 0;
        (check_arg(i++, args), ...);
        const F f = fn;
        /* The arguments are copied once into the launch (as the device copies kernel parameters);
         * every thread's call then takes its own by-value copy. */
        launch(where, grid, block, smem, stream, [f, args...]() { f(args...); });
    }

private:
    template <typename T> void check_arg(int i, const T &v) const
    {
        if constexpr (std::is_pointer_v<T>) check_kernel_pointer(where, i, (const void *)v);
    }
};

template <typename F>
launcher<F> make_launcher(const char *kernel, const char *file, int line, dim3 grid, dim3 block,
                          size_t smem, cudaStream_t stream, F fn)
{
    return launcher<F>{site{kernel, file, line}, grid, block, smem, stream, fn};
}

} // namespace cuemu

namespace cuemu {
template <typename F>
cudaError_t func_set_attribute_typed(const char *spelled, F *, cudaFuncAttribute attr, int value)
{
    return func_set_attribute(spelled, attr, value);
}
} // namespace cuemu
/* The spelling (its kernel name up to '<' or ',') keys the limit above; the arguments are
 * type-checked. Variadic because a template-id's commas split macro arguments. */
#define cudaFuncSetAttribute(...) ::cuemu::func_set_attribute_typed(#__VA_ARGS__, __VA_ARGS__)

#endif
