/* CUDA emulator internals shared by the runtime and cuBLASLt: streams (which run work at once or
 * record it while capturing), device-memory bookkeeping and the per-thread last error.
 * Must not: be included by kernel sources (they see only include/). */
#ifndef BERTH_CUDA_EMU_RUNTIME_INTERNAL_H
#define BERTH_CUDA_EMU_RUNTIME_INTERNAL_H

#include <cstddef>
#include <functional>

#include "cuda_runtime.h"

namespace cuemu {

/* Runs op now, or appends it to the graph when the stream is capturing. Returns the error a CUDA
 * call issuing it would return (an invalid stream, or the legacy stream touched while this thread
 * captures); a failure while capturing also invalidates the capture. */
cudaError_t enqueue(cudaStream_t stream, std::function<void()> op);

/* Whether [p, p + bytes) lies inside one cudaMalloc allocation. */
bool is_device_range(const void *p, size_t bytes);

} // namespace cuemu

#endif
