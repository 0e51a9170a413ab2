/* Engine decode speed on the CPU backend with each sampling path, side by side: B requests of a
 * random prompt decode together through the whole engine (scheduler, forward, sampling, events),
 * once with the host sampler on downloaded logits and once with the backend's sample op.
 *   bench_engine_sampling MODEL_DIR [batch] [decode_tokens] [temperature]
 * Prints decode tokens/s for each path (the prefill step that yields the first tokens excluded). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/cpu_backend.h"
#include "server/engine/engine.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int run(const char *dir, bk_backend *be, int batch, int tokens, float temperature, bool host,
               double *tok_s)
{
    char err[512];
    model *m = NULL;
    engine *e = NULL;
    engine_config cfg = {.max_num_seqs = batch,
                         .max_batched_tokens = 16 * batch,
                         .max_model_len = 16 + tokens + 1,
                         .host_sampling = host};
    if (model_load(&m, dir, be, err, sizeof err) || engine_start(&e, m, &cfg, err, sizeof err)) {
        fprintf(stderr, "bench_engine_sampling: %s\n", err);
        if (m) model_free(m);
        return -1;
    }
    engine_request **reqs = calloc((size_t)batch, sizeof *reqs);
    int32_t prompt[16];
    uint32_t x = 12345;
    for (int i = 0; i < 16; i++) {
        x = x * 1664525u + 1013904223u;
        prompt[i] = (int32_t)(x % 1000u);
    }
    engine_request_params p = {.sampling = {.temperature = temperature,
                                            .top_p = 0.95f,
                                            .top_k = 50,
                                            .repetition_penalty = 1,
                                            .logprobs = -1},
                               .max_tokens = tokens + 1};
    int rc = 0;
    for (int i = 0; i < batch && !rc; i++) {
        p.sampling.seed = (uint64_t)i;
        if (engine_submit(e, prompt, 16, &p, &reqs[i], err, sizeof err) != ENGINE_OK) {
            fprintf(stderr, "bench_engine_sampling: submit: %s\n", err);
            rc = -1;
        }
    }
    engine_event ev;
    for (int i = 0; i < batch && !rc; i++)
        rc = engine_next(reqs[i], &ev, -1) == 1 ? 0 : -1;
    double t0 = now_s();
    for (int i = 0; i < batch && !rc; i++)
        while (engine_next(reqs[i], &ev, -1) == 1) {
        }
    *tok_s = (double)batch * tokens / (now_s() - t0);
    for (int i = 0; i < batch; i++)
        if (reqs[i]) engine_release(reqs[i]);
    free(reqs);
    engine_stop(e);
    model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: bench_engine_sampling MODEL_DIR [batch] [decode_tokens] [temperature]\n");
        return 2;
    }
    int batch = argc > 2 ? atoi(argv[2]) : 1;
    int tokens = argc > 3 ? atoi(argv[3]) : 16;
    float temperature = argc > 4 ? (float)atof(argv[4]) : 0.0f;
    if (batch < 1 || tokens < 1) {
        fprintf(stderr, "bench_engine_sampling: batch and decode_tokens must be >= 1\n");
        return 2;
    }
    char err[512];
    bk_backend *be = bk_cpu_create(0, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "bench_engine_sampling: %s\n", err);
        return 1;
    }
    double host = 0, op = 0;
    int rc = run(argv[1], be, batch, tokens, temperature, true, &host) ||
             run(argv[1], be, batch, tokens, temperature, false, &op);
    if (!rc)
        printf(
            "batch %d, %d decode tokens, temperature %g: host sampler %.2f tok/s, sample op %.2f "
            "tok/s\n",
            batch, tokens, temperature, host, op);
    be->ops->destroy(be);
    return rc ? 1 : 0;
}
