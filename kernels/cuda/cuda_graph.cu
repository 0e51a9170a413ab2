/* CUDA graphs over the backend's one stream: record a sequence of ops (a decode step's forward), then
 * replay it with one launch. The ops need no change to be recorded: they allocate nothing, never
 * synchronize and only enqueue on st->stream (docs/design/cuda-backend.md). */
#include <stdlib.h>

#include "kernels/cuda/cuda_common.cuh"

struct bk_cuda_graph {
    cudaGraphExec_t exec;
    int device;
};

extern "C" int bk_cuda_capture_begin(bk_backend *be)
{
    cu_state *st = cu_st(be);
    if (st->capturing)
        return cu_fail(st, "capture_begin: already recording, expected bk_cuda_capture_end first");
    CUDA_CHECK(st, cudaSetDevice(st->device));
    /* Thread-local: other threads' CUDA calls (another backend, a benchmark's timers) neither break
     * this capture nor are refused because of it. */
    CUDA_CHECK(st, cudaStreamBeginCapture(st->stream, cudaStreamCaptureModeThreadLocal));
    st->capturing = 1;
    st->capture_failed = 0;
    return 0;
}

extern "C" int bk_cuda_capture_end(bk_backend *be, bk_cuda_graph **out)
{
    cu_state *st = cu_st(be);
    if (out) *out = NULL;
    if (!st->capturing)
        return cu_fail(st, "capture_end: not recording, expected bk_cuda_capture_begin first");
    cudaGraph_t graph = NULL;
    const cudaError_t e = cudaStreamEndCapture(st->stream, &graph);
    const int failed = st->capture_failed;
    st->capturing = 0;
    st->capture_failed = 0;
    if (e != cudaSuccess || !graph) {
        cudaGetLastError(); /* a capture error is not sticky: clear it for the next call */
        if (graph) cudaGraphDestroy(graph);
        if (failed) return -1; /* keep the op's own message */
        return cu_fail(st, "capture_end: the recording is invalid: %s (an op called something that "
                       "cannot be recorded)", cudaGetErrorString(e));
    }
    if (failed || !out) {
        cudaGraphDestroy(graph);
        return failed ? -1 : cu_fail(st, "capture_end: out is NULL");
    }
    bk_cuda_graph *g = (bk_cuda_graph *)calloc(1, sizeof *g);
    if (!g) {
        cudaGraphDestroy(graph);
        return cu_fail(st, "capture_end: out of host memory");
    }
    g->device = st->device;
    const cudaError_t ie = cudaGraphInstantiate(&g->exec, graph, 0);
    cudaGraphDestroy(graph);
    if (ie != cudaSuccess) {
        free(g);
        return cu_fail_cuda(st, __FILE__, __LINE__, "cudaGraphInstantiate(&g->exec, graph, 0)", ie);
    }
    *out = g;
    return 0;
}

extern "C" int bk_cuda_graph_launch(bk_backend *be, bk_cuda_graph *g)
{
    cu_state *st = cu_st(be);
    if (!g) return cu_fail(st, "graph_launch: graph is NULL");
    if (g->device != st->device)
        return cu_fail(st, "graph_launch: the graph was recorded on device %d, this backend is on "
                       "device %d", g->device, st->device);
    if (st->capturing) return cu_fail(st, "graph_launch: called while recording");
    CUDA_CHECK(st, cudaGraphLaunch(g->exec, st->stream));
    return 0;
}

extern "C" void bk_cuda_graph_free(bk_cuda_graph *g)
{
    if (!g) return;
    cudaGraphExecDestroy(g->exec);
    free(g);
}
