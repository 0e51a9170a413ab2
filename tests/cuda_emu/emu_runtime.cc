/* The emulated CUDA runtime: one H100-like device whose memory is host memory, streams that run
 * their work at once (in issue order, so stream order holds trivially), stream capture into graphs
 * replayed by cudaGraphLaunch, launch checks as the hardware's, and CUDA's error codes and strings. */
#include "emu_runtime.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "emu_sched.h"

struct CUstream_st {
    int device; /* the current device of the thread that created it */
    unsigned int flags;
    bool capturing, invalidated;
    cudaStreamCaptureMode mode;
    std::thread::id owner; /* the capturing thread */
    CUgraph_st *graph;
};

struct CUgraph_st {
    std::vector<std::function<void()>> nodes;
};

struct CUgraphExec_st {
    std::vector<std::function<void()>> nodes;
};

namespace cuemu {

namespace {

/* What the emulated device reports (an H100 SXM): the kernels size grids and shared memory by it. */
constexpr int NUM_SMS = 132;
constexpr int SMEM_DEFAULT = 48 << 10;
constexpr int SMEM_OPTIN = 227 << 10;
constexpr size_t DEVICE_BYTES = (size_t)80 << 30;

/* Everything that touches emulated device state runs under this lock: kernels' __shared__ statics
 * and the scheduler are process-wide, so two host threads never run grids at once. */
std::recursive_mutex big_lock;
std::map<uintptr_t, size_t> allocations;
size_t allocated;
std::set<CUstream_st *> streams;
std::map<std::string, int> smem_limits; /* kernel name -> raised dynamic shared memory limit */

thread_local cudaError_t last_error = cudaSuccess;
thread_local int current_device = 0;
thread_local std::vector<CUstream_st *> capturing_here; /* streams this thread captures */

cudaError_t fail(cudaError_t e)
{
    last_error = e;
    return e;
}

void invalidate_captures_here()
{
    for (CUstream_st *s : capturing_here) s->invalidated = true;
}

/* A call that may not run while this thread captures (it would synchronise or allocate): the
 * capture is invalidated and the call fails, as with cudaStreamCaptureModeGlobal/ThreadLocal. */
bool refused_while_capturing()
{
    for (CUstream_st *s : capturing_here)
        if (s->mode != cudaStreamCaptureModeRelaxed) {
            invalidate_captures_here();
            return true;
        }
    return false;
}

bool known_stream(cudaStream_t s)
{
    return s == nullptr || streams.count(s) != 0;
}

std::string kernel_name(const char *spelled)
{
    std::string s(spelled);
    const size_t end = s.find_first_of("<,( ");
    return end == std::string::npos ? s : s.substr(0, end);
}

} // namespace

bool is_device_range(const void *p, size_t bytes)
{
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    const uintptr_t a = (uintptr_t)p;
    auto it = allocations.upper_bound(a);
    if (it == allocations.begin()) return false;
    --it;
    return a >= it->first && a - it->first <= it->second && bytes <= it->second - (a - it->first);
}

cudaError_t enqueue(cudaStream_t stream, std::function<void()> op)
{
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (!known_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (stream && stream->capturing) {
        if (!stream->invalidated) stream->graph->nodes.push_back(std::move(op));
        return cudaSuccess;
    }
    /* The legacy stream synchronises with every stream, the capturing one included. */
    if (!stream && !capturing_here.empty()) {
        invalidate_captures_here();
        return fail(cudaErrorStreamCaptureImplicit);
    }
    op();
    return cudaSuccess;
}

void check_kernel_pointer(const site &where, int arg, const void *p)
{
    if (p && !is_device_range(p, 0))
        fatal("kernel %s (launched at %s:%d): argument %d is %p, not device memory (a GPU would "
              "fault with cudaErrorIllegalAddress)", where.kernel, where.file, where.line, arg, p);
}

cudaError_t func_set_attribute(const char *spelled, cudaFuncAttribute attr, int value)
{
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > SMEM_OPTIN)
        return fail(cudaErrorInvalidValue);
    smem_limits[kernel_name(spelled)] = value;
    return cudaSuccess;
}

void launch(const site &where, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
            std::function<void()> thread_body)
{
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    const uint64_t threads = (uint64_t)block.x * block.y * block.z;
    cudaError_t e = cudaSuccess;
    if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
        grid.x == 0 || grid.x > 0x7fffffffu || grid.y == 0 || grid.y > 65535 || grid.z == 0 ||
        grid.z > 65535) {
        e = cudaErrorInvalidConfiguration;
    } else {
        auto it = smem_limits.find(kernel_name(where.kernel));
        const size_t limit = it != smem_limits.end() && it->second > SMEM_DEFAULT ? (size_t)it->second
                                                                                  : SMEM_DEFAULT;
        if (smem > limit) e = cudaErrorInvalidValue;
        /* A kernel goes to a stream of the launching thread's current device (Programming Guide,
         * "Stream and event behavior"). */
        if (stream && streams.count(stream) && stream->device != current_device)
            e = cudaErrorInvalidResourceHandle;
    }
    if (e != cudaSuccess) {
        if (stream && streams.count(stream) && stream->capturing) stream->invalidated = true;
        fail(e);
        return;
    }
    const site w = where;
    enqueue(stream, [w, grid, block, smem, body = std::move(thread_body)]() {
        run_grid(w, grid, block, smem, body);
    });
}

} // namespace cuemu

using namespace cuemu;

/* ---- errors ---------------------------------------------------------------------------------- */

static const struct {
    cudaError_t e;
    const char *name, *text;
} error_table[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection", "invalid copy direction for memcpy"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInsufficientDriver, "cudaErrorInsufficientDriver", "CUDA driver version is insufficient for CUDA runtime version"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorIllegalState, "cudaErrorIllegalState", "the operation cannot be performed in the present state"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorStreamCaptureUnsupported, "cudaErrorStreamCaptureUnsupported",
     "operation not permitted when stream is capturing"},
    {cudaErrorStreamCaptureInvalidated, "cudaErrorStreamCaptureInvalidated",
     "operation failed due to a previous error during capture"},
    {cudaErrorStreamCaptureUnmatched, "cudaErrorStreamCaptureUnmatched",
     "capture was not ended in the same stream as it began"},
    {cudaErrorStreamCaptureImplicit, "cudaErrorStreamCaptureImplicit",
     "operation would make the legacy stream depend on a capturing blocking stream"},
    {cudaErrorStreamCaptureWrongThread, "cudaErrorStreamCaptureWrongThread",
     "attempt to terminate a thread-local capture sequence from another thread"},
};

const char *cudaGetErrorString(cudaError_t e)
{
    for (const auto &row : error_table)
        if (row.e == e) return row.text;
    return "unrecognized error code";
}

const char *cudaGetErrorName(cudaError_t e)
{
    for (const auto &row : error_table)
        if (row.e == e) return row.name;
    return "cudaErrorUnknown";
}

cudaError_t cudaGetLastError(void)
{
    const cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void)
{
    return last_error;
}

/* ---- device ---------------------------------------------------------------------------------- */

/* BERTH_EMU_DEVICES=N emulates N identical devices (default 1) sharing one memory, so that the
 * per-thread current device and a stream's device can be checked as a GPU checks them. */
static int device_count(void)
{
    const char *v = getenv("BERTH_EMU_DEVICES");
    int n = v ? atoi(v) : 1;
    return n >= 1 && n <= 16 ? n : 1;
}

cudaError_t cudaGetDeviceCount(int *count)
{
    if (!count) return fail(cudaErrorInvalidValue);
    /* BERTH_EMU_INIT_ERROR=1: start-up fails as with a driver older than the runtime. */
    if (getenv("BERTH_EMU_INIT_ERROR")) return fail(cudaErrorInsufficientDriver);
    *count = device_count();
    return cudaSuccess;
}

/* The driver a CUDA 13 build needs; with BERTH_EMU_INIT_ERROR an older one (12.4). */
cudaError_t cudaDriverGetVersion(int *version)
{
    if (!version) return fail(cudaErrorInvalidValue);
    *version = getenv("BERTH_EMU_INIT_ERROR") ? 12040 : 13000;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    if (!device) return fail(cudaErrorInvalidValue);
    *device = current_device;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    current_device = device;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device)
{
    if (!value) return fail(cudaErrorInvalidValue);
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = SMEM_DEFAULT; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = NUM_SMS; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = SMEM_OPTIN; break;
    default: return fail(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (refused_while_capturing()) return fail(cudaErrorStreamCaptureUnsupported);
    return cudaSuccess;
}

/* Free memory is what is left of the 80 GiB and never more than the host has available, so a
 * budget derived from it can be allocated. */
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    if (!free_bytes || !total_bytes) return fail(cudaErrorInvalidValue);
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    const size_t host = (size_t)sysconf(_SC_AVPHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
    const size_t left = DEVICE_BYTES - allocated;
    *free_bytes = left < host ? left : host;
    *total_bytes = DEVICE_BYTES;
    return cudaSuccess;
}

/* ---- memory ---------------------------------------------------------------------------------- */

cudaError_t cudaMalloc(void **ptr, size_t size)
{
    if (!ptr) return fail(cudaErrorInvalidValue);
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    *ptr = nullptr;
    if (refused_while_capturing()) return fail(cudaErrorStreamCaptureUnsupported);
    if (size == 0) return cudaSuccess;
    if (size > DEVICE_BYTES - allocated) return fail(cudaErrorMemoryAllocation);
    /* Pages are committed when first touched, so a large budget costs only what the tests use. */
    void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) return fail(cudaErrorMemoryAllocation);
    allocations[(uintptr_t)p] = size;
    allocated += size;
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr)
{
    if (!ptr) return cudaSuccess;
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (refused_while_capturing()) return fail(cudaErrorStreamCaptureUnsupported);
    auto it = allocations.find((uintptr_t)ptr);
    if (it == allocations.end()) return fail(cudaErrorInvalidDevicePointer);
    munmap(ptr, it->second);
    allocated -= it->second;
    allocations.erase(it);
    return cudaSuccess;
}

/* Direction checks as with unified addressing: each side must be (or not be) device memory as the
 * kind says; the legacy kinds with a wrong side fail rather than silently copy. */
static cudaError_t check_copy(void *dst, const void *src, size_t count, cudaMemcpyKind kind)
{
    if (count == 0) return cudaSuccess;
    if (!dst || !src) return cudaErrorInvalidValue;
    const bool dd = is_device_range(dst, count), sd = is_device_range(src, count);
    switch (kind) {
    case cudaMemcpyHostToDevice: return dd && !sd ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToHost: return sd && !dd ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToDevice: return dd && sd ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyHostToHost: return !dd && !sd ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDefault: return cudaSuccess;
    }
    return cudaErrorInvalidMemcpyDirection;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, cudaMemcpyKind kind,
                            cudaStream_t stream)
{
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    const cudaError_t e = check_copy(dst, src, count, kind);
    if (e != cudaSuccess) return fail(e);
    if (count == 0) return cudaSuccess;
    /* Every host buffer here is pageable memory, whose copies synchronise with the host: they
     * cannot be part of a graph. */
    const bool host_side = !is_device_range(dst, count) || !is_device_range(src, count);
    if (host_side && stream && streams.count(stream) && stream->capturing) {
        stream->invalidated = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    return enqueue(stream, [dst, src, count]() { memcpy(dst, src, count); });
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, cudaMemcpyKind kind)
{
    return cudaMemcpyAsync(dst, src, count, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream)
{
    if (count == 0) return cudaSuccess;
    if (!is_device_range(ptr, count)) return fail(cudaErrorInvalidValue);
    return enqueue(stream, [ptr, value, count]() { memset(ptr, value, count); });
}

cudaError_t cudaMemset(void *ptr, int value, size_t count)
{
    return cudaMemsetAsync(ptr, value, count, nullptr);
}

/* ---- streams and graphs ---------------------------------------------------------------------- */

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags)
{
    if (!stream || flags > cudaStreamNonBlocking) return fail(cudaErrorInvalidValue);
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    CUstream_st *s = new CUstream_st{};
    s->device = current_device;
    s->flags = flags;
    streams.insert(s);
    *stream = s;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *stream)
{
    return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (!stream || !streams.count(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (stream->capturing) return fail(cudaErrorStreamCaptureUnsupported);
    streams.erase(stream);
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (!known_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (stream && stream->capturing) {
        stream->invalidated = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    if (!stream && !capturing_here.empty()) {
        invalidate_captures_here();
        return fail(cudaErrorStreamCaptureImplicit);
    }
    return cudaSuccess; /* the work already ran */
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode)
{
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (!stream) return fail(cudaErrorStreamCaptureUnsupported); /* the legacy stream cannot */
    if (!streams.count(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (stream->capturing) return fail(cudaErrorIllegalState);
    if (mode > cudaStreamCaptureModeRelaxed) return fail(cudaErrorInvalidValue);
    stream->capturing = true;
    stream->invalidated = false;
    stream->mode = mode;
    stream->owner = std::this_thread::get_id();
    stream->graph = new CUgraph_st{};
    capturing_here.push_back(stream);
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph)
{
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (!graph) return fail(cudaErrorInvalidValue);
    *graph = nullptr;
    if (!stream || !streams.count(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (!stream->capturing) return fail(cudaErrorIllegalState);
    if (stream->mode != cudaStreamCaptureModeRelaxed && stream->owner != std::this_thread::get_id())
        return fail(cudaErrorStreamCaptureWrongThread);
    stream->capturing = false;
    for (size_t i = 0; i < capturing_here.size(); i++)
        if (capturing_here[i] == stream) capturing_here.erase(capturing_here.begin() + (long)i);
    if (stream->invalidated) {
        delete stream->graph;
        stream->graph = nullptr;
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    *graph = stream->graph;
    stream->graph = nullptr;
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus *status)
{
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (!status) return fail(cudaErrorInvalidValue);
    if (!known_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    *status = !stream || !stream->capturing ? cudaStreamCaptureStatusNone
              : stream->invalidated         ? cudaStreamCaptureStatusInvalidated
                                            : cudaStreamCaptureStatusActive;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags)
{
    if (!exec || !graph || flags != 0) return fail(cudaErrorInvalidValue);
    *exec = new CUgraphExec_st{graph->nodes};
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream)
{
    if (!exec) return fail(cudaErrorInvalidValue);
    /* A copy: a replay recorded into another capture outlives nothing it needs. */
    return enqueue(stream, [nodes = exec->nodes]() {
        for (const auto &node : nodes) node();
    });
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    if (!graph) return fail(cudaErrorInvalidValue);
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    if (!exec) return fail(cudaErrorInvalidValue);
    delete exec;
    return cudaSuccess;
}
