/* Benchmark (not a test): the CPU attention op at Qwen3-0.6B's shapes (16 q / 8 kv heads of 128, a
 * bf16 paged cache): one layer's 512-token prefill, batch-1 decode at 1k and 8k contexts, batch-8
 * decode at 1k. Rounds interleave the cases and report medians of CPU and wall microseconds per
 * call, because the machine is shared and noisy (CPU seconds are the comparable figure there;
 * OpenMP must wait passively: OMP_WAIT_POLICY=passive).
 * Usage: bench_cpu_attention [threads (0 = all)] [rounds] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/op_harness.h"
#include "tests/kernels/bench_median.h"

#define ROUNDS_MAX 32

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bench_case {
    const char *name;
    int S, cached, fresh; /* S sequences, each `cached` tokens in the cache and `fresh` new ones */
    oh_batch hb;
    bk_batch db;
    bk_kv_layer kv;
    bk_tensor q, out;
    double cpu_us[ROUNDS_MAX], wall_us[ROUNDS_MAX];
} bench_case;

enum { HQ = 16, HKV = 8, D = 128 };

static int setup(bk_backend *be, oh_rng *r, bench_case *bc)
{
    const bk_ops *o = be->ops;
    int cached[8], fresh[8];
    for (int s = 0; s < bc->S; s++)
        cached[s] = bc->cached, fresh[s] = bc->fresh;
    if (oh_make_batch(r, &bc->hb, bc->S, cached, fresh, 0) || oh_batch_upload(be, &bc->hb, &bc->db))
        return -1;
    const int64_t cols = (int64_t)HKV * 16 * D;
    const size_t pool = (size_t)bc->hb.num_blocks * (size_t)cols, nq = (size_t)bc->hb.T * HQ * D;
    uint16_t *kv = malloc(pool * 2);
    float *vals = malloc(pool * 4), *q = malloc(nq * 4);
    if (!kv || !vals || !q) return -1;
    int rc = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        oh_random_weights(r, BK_BF16, pool, 1.0f, kv, vals);
        rc = oh_upload(be, i ? &bc->kv.v : &bc->kv.k, BK_BF16, bc->hb.num_blocks, cols, kv);
    }
    oh_fill_uniform(r, q, nq, -1, 1);
    rc = rc || oh_upload(be, &bc->q, BK_F32, bc->hb.T, (int64_t)HQ * D, q) ||
         o->tensor_alloc(be, &bc->out, BK_F32, bc->hb.T, (int64_t)HQ * D);
    free(kv), free(vals), free(q);
    return rc;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 0, rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1 || rounds > ROUNDS_MAX) rounds = 5;
    char err[256];
    bk_backend *be = bk_cpu_create(threads, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "bench_cpu_attention: %s\n", err);
        return 1;
    }
    const bk_ops *o = be->ops;
    bench_case cases[] = {{.name = "prefill 512 (one layer)", .S = 1, .cached = 0, .fresh = 512},
                          {.name = "decode b1 at 1024", .S = 1, .cached = 1023, .fresh = 1},
                          {.name = "decode b1 at 8192", .S = 1, .cached = 8191, .fresh = 1},
                          {.name = "decode b8 at 1024", .S = 8, .cached = 1023, .fresh = 1}};
    const int nc = (int)(sizeof cases / sizeof cases[0]);
    oh_rng rng;
    oh_seed(&rng, 4242);
    for (int c = 0; c < nc; c++)
        if (setup(be, &rng, &cases[c])) {
            fprintf(stderr, "bench_cpu_attention: %s: setup failed: %s\n", cases[c].name,
                    o->last_error(be));
            return 1;
        }
    const bk_attn_shape sh = {HQ, HKV, D, 0};
    const float scale = 1.0f / sqrtf((float)D);
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < nc; c++) {
            bench_case *bc = &cases[c];
            int reps = 0;
            double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), el;
            do {
                if (o->attention(be, &bc->out, &bc->q, &bc->kv, &bc->db, sh, scale)) {
                    fprintf(stderr, "bench_cpu_attention: %s\n", o->last_error(be));
                    return 1;
                }
                reps++;
            } while ((el = clock_s(CLOCK_MONOTONIC) - w0) < 0.25);
            bc->wall_us[r] = 1e6 * el / reps;
            bc->cpu_us[r] = 1e6 * (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / reps;
        }
    printf("threads %d, %d rounds, medians; Hq %d, Hkv %d, head_dim %d, bf16 cache\n",
           bk_cpu_num_threads(be), rounds, HQ, HKV, D);
    printf("%-26s %12s %12s\n", "case", "CPU us/call", "wall us/call");
    for (int c = 0; c < nc; c++) {
        bench_case *bc = &cases[c];
        printf("%-26s %12.1f %12.1f\n", bc->name, bench_median(bc->cpu_us, rounds),
               bench_median(bc->wall_us, rounds));
        o->tensor_free(be, &bc->kv.k), o->tensor_free(be, &bc->kv.v);
        o->tensor_free(be, &bc->q), o->tensor_free(be, &bc->out);
        oh_batch_release(be, &bc->db);
        oh_batch_free(&bc->hb);
    }
    o->destroy(be);
    return 0;
}
