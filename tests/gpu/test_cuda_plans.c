/* The cuBLASLt plan cache (review 2026-12-07, finding 3): a shape in use keeps its plan however
 * many other shapes go by (least recently used eviction; with 32 slots in round robin every 32nd
 * new shape evicted it), and no heuristic runs while a graph is captured: a shape without a cached
 * plan fails the recording (the engine runs each step uncaptured right before recording it), while
 * a cached one records. Results are checked against a host product. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"
#include "tests/support/test_support.h"

enum { N = 64, K = 64, TMAX = 160 };

static bk_backend *be;
static bk_tensor w, x, out;
static float hw[N * K], hx[TMAX * K];

static int matmul(int32_t T)
{
    return be->ops->matmul(be, &out, &x, &w, NULL, T);
}

static void check_rows(int32_t T)
{
    static float got[TMAX * N];
    CHECK(be->ops->download_rows(be, &out, T, got) == 0);
    int bad = 0;
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            float want = 0;
            for (int k = 0; k < K; k++)
                want += hx[t * K + k] * hw[n * K + k];
            bad += fabsf(got[t * N + n] - want) > 1e-3f * (1.0f + fabsf(want));
        }
    CHECKF(bad == 0, "T = %d: %d wrong outputs", T, bad);
}

int main(void)
{
    if (bk_cuda_device_count() == 0) {
        if (bk_cuda_init_error()[0]) {
            printf("FAILED: %s\n", bk_cuda_init_error());
            return 1;
        }
        printf("SKIPPED: no CUDA device\n");
        return 77;
    }
    char err[512];
    be = bk_cuda_create(0, 64 << 20, err, sizeof err);
    CHECKF(be, "bk_cuda_create: %s", err);
    if (!be) return test_finish("test_cuda_plans");
    for (int i = 0; i < N * K; i++)
        hw[i] = (float)((i * 37) % 19) / 19.0f - 0.5f;
    for (int i = 0; i < TMAX * K; i++)
        hx[i] = (float)((i * 11) % 23) / 23.0f - 0.5f;
    const bk_ops *o = be->ops;
    CHECK(o->tensor_alloc(be, &w, BK_F32, N, K) == 0 &&
          o->tensor_alloc(be, &x, BK_F32, TMAX, K) == 0 &&
          o->tensor_alloc(be, &out, BK_F32, TMAX, N) == 0);
    CHECK(o->upload_rows(be, &w, 0, N, hw) == 0 && o->upload_rows(be, &x, 0, TMAX, hx) == 0);

    /* A hot shape (T = 16, cuBLASLt: more than the GEMV's 8 rows) among 100 new ones. */
    CHECK(matmul(16) == 0);
    unsigned long long h0 = bk_cuda_lt_heuristics(be);
    for (int32_t T = 17; T < 117; T++) {
        CHECK(matmul(T) == 0);
        CHECK(matmul(16) == 0);
    }
    CHECKF(bk_cuda_lt_heuristics(be) - h0 == 100, "%llu heuristic calls for 100 new shapes",
           bk_cuda_lt_heuristics(be) - h0);
    check_rows(16);

    /* Capture: an uncached shape fails the recording without running the heuristic. */
    bk_cuda_graph *g = NULL;
    unsigned long long h1 = bk_cuda_lt_heuristics(be);
    CHECK(bk_cuda_capture_begin(be) == 0);
    CHECK(matmul(150) == -1);
    CHECK(bk_cuda_capture_end(be, &g) == -1 && g == NULL);
    CHECKF(strstr(o->last_error(be), "no cuBLASLt plan cached") != NULL, "%s", o->last_error(be));
    CHECK(bk_cuda_lt_heuristics(be) == h1);
    /* Run uncaptured first, then the recording succeeds and replays the same product. */
    CHECK(matmul(150) == 0);
    CHECK(bk_cuda_capture_begin(be) == 0);
    CHECK(matmul(150) == 0);
    CHECK(bk_cuda_capture_end(be, &g) == 0 && g != NULL);
    CHECK(bk_cuda_lt_heuristics(be) == h1 + 1);
    CHECK(o->fill_bytes(be, &out, 0) == 0);
    CHECK(g && bk_cuda_graph_launch(be, g) == 0);
    check_rows(150);
    bk_cuda_graph_free(g);
    o->tensor_free(be, &w);
    o->tensor_free(be, &x);
    o->tensor_free(be, &out);
    o->destroy(be);
    return test_finish("test_cuda_plans");
}
