/* --device N != 0: the backend is created on one thread and its ops run on another (the engine's),
 * whose current device starts as 0. Every op must bind its thread to the backend's device, or its
 * first kernel goes to another device's stream and fails (review 2026-12-07, finding 1). Runs on
 * the last device; on the emulator with BERTH_EMU_DEVICES=2; exit 77 on a machine with one GPU. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>

#include "kernels/cuda/cuda_backend.h"
#include "tests/support/test_support.h"

enum { T = 3, I = 40 };

typedef struct job {
    bk_backend *be;
    int rc;
    float out[T * I];
    char err[512];
} job;

/* A fresh thread, as the engine's: its current device is 0 until something binds it. */
static void *run_ops(void *arg)
{
    job *j = arg;
    const bk_ops *o = j->be->ops;
    float gu[T * 2 * I];
    for (int i = 0; i < T * 2 * I; i++)
        gu[i] = (float)(i % 17) * 0.25f - 2.0f;
    bk_tensor g = {0}, out = {0};
    j->rc = o->tensor_alloc(j->be, &g, BK_F32, T, 2 * I) ||
            o->tensor_alloc(j->be, &out, BK_F32, T, I) || o->upload_rows(j->be, &g, 0, T, gu) ||
            o->silu_mul(j->be, &out, &g, T) || o->download_rows(j->be, &out, T, j->out);
    if (j->rc) snprintf(j->err, sizeof j->err, "%s", o->last_error(j->be));
    for (int t = 0; t < T && !j->rc; t++)
        for (int i = 0; i < I; i++) {
            float a = gu[t * 2 * I + i], b = gu[t * 2 * I + I + i];
            float want = a / (1.0f + expf(-a)) * b;
            if (fabsf(j->out[t * I + i] - want) > 1e-5f * (1.0f + fabsf(want))) j->rc = 2;
        }
    if (g.data) o->tensor_free(j->be, &g);
    if (out.data) o->tensor_free(j->be, &out);
    return NULL;
}

int main(void)
{
    int n = bk_cuda_device_count();
    if (n == 0 && bk_cuda_init_error()[0]) {
        printf("FAILED: %s\n", bk_cuda_init_error());
        return 1;
    }
    if (n < 2) {
        printf("SKIPPED: %d CUDA device(s); --device N != 0 needs two\n", n);
        return 77;
    }
    char err[512] = "";
    bk_backend *be = bk_cuda_create(n - 1, 64 << 20, err, sizeof err);
    CHECKF(be, "bk_cuda_create(device %d): %s", n - 1, err);
    if (!be) return test_finish("test_cuda_device");
    for (int round = 0; round < 2; round++) { /* a second thread: binding is per thread */
        job j = {.be = be};
        pthread_t th;
        CHECK(pthread_create(&th, NULL, run_ops, &j) == 0);
        pthread_join(th, NULL);
        CHECKF(j.rc == 0, "ops on device %d from a new thread: rc %d: %s", n - 1, j.rc, j.err);
    }
    be->ops->destroy(be);
    return test_finish("test_cuda_device");
}
