/* The engine's step time with and without constrained rows, through the server's own constraint
 * code (server/serve/constraint.c) and the grammar engine: B requests of one random 16-token
 * prompt decode together on the CPU backend, K of them constrained by a regex (one matcher each,
 * masks on the mask threads while the forward runs), for K = 0, B/2, B, twice over.
 *   bench_engine_constraint MODEL_DIR [batch] [decode_tokens] [regex]
 * The model directory needs a tokenizer (berth-make-model --tokenizer). Prints ms per decode step,
 * the mask threads' time per mask and the engine's wait for masks after its forwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/cpu_backend.h"
#include "server/serve/constraint.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct result {
    double ms_per_step, mask_us, wait_ms;
} result;

static int run(const char *dir, bk_backend *be, sc_cache *cache, int batch, int constrained,
               int tokens, const char *regex, result *out)
{
    char err[512];
    model *m = NULL;
    engine *e = NULL;
    engine_config cfg = {
        .max_num_seqs = batch, .max_batched_tokens = 16 * batch, .max_model_len = 16 + tokens + 1};
    if (model_load(&m, dir, be, err, sizeof err) || engine_start(&e, m, &cfg, err, sizeof err)) {
        fprintf(stderr, "bench_engine_constraint: %s\n", err);
        if (m) model_free(m);
        return -1;
    }
    api_structured so = {.kind = API_SO_REGEX, .text = (char *)regex, .param = "regex"};
    sc_request con;
    api_error ae;
    if (sc_for_completion(cache, &so, &con, &ae)) {
        fprintf(stderr, "bench_engine_constraint: %s\n", ae.message);
        engine_stop(e);
        model_free(m);
        return -1;
    }
    engine_request **reqs = calloc((size_t)batch, sizeof *reqs);
    int32_t prompt[16];
    uint32_t x = 12345;
    for (int i = 0; i < 16; i++) {
        x = x * 1664525u + 1013904223u;
        prompt[i] = (int32_t)(x % 1000u);
    }
    int rc = 0;
    for (int i = 0; i < batch && !rc; i++) {
        engine_request_params p = {
            .sampling = {.temperature = 1.0f, .top_p = 1, .repetition_penalty = 1, .logprobs = -1},
            .max_tokens = tokens + 1};
        p.sampling.seed = (uint64_t)i;
        if (i < constrained) sc_request_constraint(&con, &p.constraint);
        if (engine_submit(e, prompt, 16, &p, &reqs[i], err, sizeof err) != ENGINE_OK) {
            fprintf(stderr, "bench_engine_constraint: submit: %s\n", err);
            if (p.constraint.ops) p.constraint.ops->release(p.constraint.grammar);
            rc = -1;
        }
    }
    engine_event ev;
    for (int i = 0; i < batch && !rc; i++)
        rc = engine_next(reqs[i], &ev, -1) == 1 ? 0 : -1;
    engine_stats s0, s1;
    engine_get_stats(e, &s0);
    double t0 = now_s();
    int32_t fewest = tokens;
    for (int i = 0; i < batch && !rc; i++) {
        int32_t n = 1;
        while (engine_next(reqs[i], &ev, -1) == 1)
            n += ev.has_token;
        if (n < fewest) fewest = n;
    }
    double dt = now_s() - t0;
    engine_get_stats(e, &s1);
    uint64_t steps = s1.steps_total - s0.steps_total, masks = 0;
    masks = (s1.constrained_steps_total - s0.constrained_steps_total) * (uint64_t)constrained;
    out->ms_per_step = steps ? 1e3 * dt / (double)steps : 0;
    out->mask_us =
        masks ? 1e-3 * (double)(s1.mask_compute_ns_total - s0.mask_compute_ns_total) / (double)masks
              : 0;
    out->wait_ms = 1e-6 * (double)(s1.mask_wait_ns_total - s0.mask_wait_ns_total);
    if (fewest < tokens / 2)
        fprintf(stderr, "bench_engine_constraint: a request ended after %d tokens\n", fewest);
    for (int i = 0; i < batch; i++)
        if (reqs[i]) engine_release(reqs[i]);
    free(reqs);
    sc_request_release(&con);
    engine_stop(e);
    model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: bench_engine_constraint MODEL_DIR [batch] [decode_tokens] [regex]\n");
        return 2;
    }
    int batch = argc > 2 ? atoi(argv[2]) : 8;
    int tokens = argc > 3 ? atoi(argv[3]) : 32;
    const char *regex = argc > 4 ? argv[4] : "[a-z ]+";
    char err[512];
    bk_backend *be = bk_cpu_create(0, 0, err, sizeof err);
    tok_tokenizer *tok = NULL;
    model *m = NULL;
    sc_cache *cache = NULL;
    if (!be || tok_load_dir(&tok, argv[1], err, sizeof err) ||
        model_load(&m, argv[1], be, err, sizeof err)) {
        fprintf(stderr, "bench_engine_constraint: %s\n", err);
        return 1;
    }
    const model_config *mc = model_get_config(m);
    int32_t eos[16];
    int n_eos = 0;
    for (int i = 0; i < mc->num_eos && n_eos < 16; i++)
        if (mc->eos_token_ids[i] < tok_vocab_size(tok)) eos[n_eos++] = mc->eos_token_ids[i];
    int32_t vocab = mc->vocab_size;
    model_free(m); /* each run loads its own: a model reserves its cache once */
    if (sc_cache_new(&cache, tok, vocab, eos, n_eos, 8, err, sizeof err)) {
        fprintf(stderr, "bench_engine_constraint: %s\n", err);
        return 1;
    }
    int rc = 0;
    int ks[3] = {0, batch / 2, batch};
    for (int round = 0; round < 2 && !rc; round++) {
        for (int k = 0; k < 3 && !rc; k++) {
            result r;
            rc = run(argv[1], be, cache, batch, ks[k], tokens, regex, &r);
            if (!rc)
                printf(
                    "batch %d, %d constrained by /%s/: %.1f ms per decode step; %.0f us per mask "
                    "(mask threads), engine waited %.2f ms in all\n",
                    batch, ks[k], regex, r.ms_per_step, r.mask_us, r.wait_ms);
        }
    }
    sc_cache_free(cache);
    tok_free(tok);
    be->ops->destroy(be);
    return rc ? 1 : 0;
}
