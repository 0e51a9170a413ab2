/* The CUDA backend: every op of kernels/backend.h on one NVIDIA GPU (bf16 weights and KV cache,
 * fp32 accumulation; cuBLASLt for the large matrix products). C-callable; the kernels live in .cu files.
 * Must not: know about models or requests. Design notes: docs/design/cuda-backend.md. */
#ifndef BERTH_KERNELS_CUDA_BACKEND_H
#define BERTH_KERNELS_CUDA_BACKEND_H

#include <stddef.h>

#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Allocates the whole memory_budget once on `device` (cudaMalloc once, at start) and sub-allocates
 * every tensor and all op workspace from it; no cudaMalloc afterwards. Returns NULL with err set when
 * there is no device or the budget cannot be allocated. */
bk_backend *bk_cuda_create(int device, size_t memory_budget, char *err, size_t errlen);

/* 0 when no driver or GPU is present: the GPU tests then exit 77. */
int bk_cuda_device_count(void);
/* After bk_cuda_device_count returned 0: "" when there is simply no device, else the CUDA call and
 * error that failed (an old driver, a mismatch): the GPU tests then fail with it instead of
 * skipping. */
const char *bk_cuda_init_error(void);

/* Free and total memory of a device, in bytes. 0, or -1 when it cannot be read. */
int bk_cuda_device_memory(int device, size_t *free_bytes, size_t *total_bytes);

/* bk_cuda_context_probe (kernels/backends.h): a forked child creates a context on `device` and
 * reports total and free memory. 1, or -1 with err naming the failing call and its error. */
int bk_cuda_probe_context(int device, size_t *total, size_t *context, char *err, size_t errlen);

/* Counting the sample op's FP64 work (finding 2 of the 2026-12-07 review): with on = 1, later sample
 * calls count every candidate weight that reaches the FP64 exponential (CU_SAMPLE_FP64_OPS double
 * operations each); *evals gets the count so far and the counter restarts. For benchmarks and tests:
 * counting costs one block reduction per row. 0, or -1 (last_error set). */
int bk_cuda_sample_fp64(bk_backend *be, int on, unsigned long long *evals);
/* Double operations of one weight evaluation (sm_weight + sm_exp_neg in sampling_math_scalar.h):
 * the difference and its two conversions (3), the range reduction (k: mul, add, floor; r: 2 mul,
 * 2 add = 7), the degree-13 polynomial (13 mul + 13 add = 26), ldexp (1) and the scaling (1). */
#define CU_SAMPLE_FP64_OPS 38

/* cuBLASLt heuristic calls so far: plans made (tests: none while capturing, none for a hot shape). */
unsigned long long bk_cuda_lt_heuristics(const bk_backend *be);
/* Shapes cuBLASLt's heuristic found no algorithm for, computed by the GEMV in 8-row tiles instead
 * (each reads W T/8 times): the GPU report prints it (review check 4). */
unsigned long long bk_cuda_lt_fallbacks(const bk_backend *be);

/* The backend's one stream (a cudaStream_t), for timing with CUDA events. */
void *bk_cuda_stream(bk_backend *be);

/* Bytes of the budget held by live tensors (the fixed workspace is not counted). */
size_t bk_cuda_bytes_in_use(const bk_backend *be);
/* Bytes of the tensor share not yet allocated: what the KV cache may still take after the weights
 * and the workspace (sized in one pass at start, so free ranges are not fragmented). */
size_t bk_cuda_bytes_free(const bk_backend *be);

/* ---- CUDA graphs: a forward recorded once and replayed with one launch ----
 * Between begin and end, ops are recorded instead of run. A graph replays the kernels exactly as
 * recorded: the same tensors (addresses), the same host counts of the batch (num_tokens, num_seqs,
 * num_logit_rows, max_blocks) and the same attention split plan, which max_seq_len selects: record a
 * decode step with max_seq_len = 0 (planned for max_blocks · 16 positions) so that the graph stays valid
 * while the sequences grow. What the device arrays hold (token ids, positions, slots, seq_lens, block
 * tables, logit rows) may change between replays: upload it before each launch. Recording refuses
 * download_rows and upload_rows (both would synchronize or copy host memory at record time); record
 * each GEMM shape once uncaptured first, so cuBLASLt's plan is cached before capture. */
typedef struct bk_cuda_graph bk_cuda_graph;

/* Starts recording the backend's stream. -1 (last_error set) when already recording. */
int bk_cuda_capture_begin(bk_backend *be);
/* Stops recording and instantiates the graph. Always stops, also after an op failed while recording
 * (then returns -1 and *out is NULL, with the first failure in last_error). */
int bk_cuda_capture_end(bk_backend *be, bk_cuda_graph **out);
/* Enqueues one replay on the backend's stream; no synchronization (download_rows waits for it). */
int bk_cuda_graph_launch(bk_backend *be, bk_cuda_graph *g);
void bk_cuda_graph_free(bk_cuda_graph *g);

#ifdef __cplusplus
}
#endif

#endif
