/* berth-int8-accuracy: how far --cpu-weights int8 moves a model's logits from its stored weights
 * (docs/benchmarks.md, "int8 weights on the CPU"). For each prompt (random ids, seeded), the stored
 * model prefills it and decodes greedily; the int8 model is fed the same tokens one step at a time;
 * every decode position's logits are compared: max |Δlogit|, max |Δ| / max |logit| and top-1
 * agreement.
 * usage: berth-int8-accuracy MODEL_DIR [prompts (4)] [decode tokens (32)] [prompt len (16)] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#include "models/arch/model.h"
#include "server/engine/kv_blocks.h"
#include "server/engine/step_batch.h"

typedef struct run {
    bk_backend *be;
    model *m;
    kvb_pool pool;
    step_batch batch;
} run;

static int open_run(run *r, const char *dir, bool q8, int32_t max_len, char *err, size_t errlen)
{
    r->be = bk_cpu_create(0, 0, err, errlen);
    if (!r->be) return -1;
    model_load_options lo = {.cpu_int8_weights = q8};
    int32_t blocks = kvb_blocks_for(max_len);
    if (model_load_ex(&r->m, dir, r->be, &lo, err, errlen) ||
        model_reserve(r->m, blocks, max_len, 1, err, errlen) ||
        kvb_pool_init(&r->pool, blocks, err, errlen) ||
        step_batch_init(&r->batch, r->be, max_len, 1, blocks, err, errlen))
        return -1;
    return 0;
}

/* Feeds tokens [pos, pos + n) and copies the last one's logits row to out. */
static int step(run *r, kvb_table *t, const int32_t *tokens, int32_t pos, int32_t n, float *out,
                char *err, size_t errlen)
{
    step_batch_reset(&r->batch);
    const bk_tensor *logits;
    if (kvb_table_reserve(&r->pool, t, pos + n)) {
        snprintf(err, errlen, "KV blocks ran out");
        return -1;
    }
    if (step_batch_add(&r->batch, t, tokens + pos, n, pos, true, err, errlen) < 0 ||
        step_batch_upload(&r->batch, err, errlen) ||
        model_forward(r->m, &r->batch.dev, &logits, err, errlen))
        return -1;
    if (r->be->ops->download_rows(r->be, logits, 1, out)) {
        snprintf(err, errlen, "download: %s", r->be->ops->last_error(r->be));
        return -1;
    }
    return 0;
}

static int32_t argmax(const float *v, int32_t n)
{
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [prompts] [decode tokens] [prompt len]\n", argv[0]);
        return 2;
    }
    const int prompts = argc > 2 ? atoi(argv[2]) : 4, gen = argc > 3 ? atoi(argv[3]) : 32;
    const int plen = argc > 4 ? atoi(argv[4]) : 16, len = plen + gen;
    char err[1024];
    run a = {0}, b = {0};
    if (open_run(&a, argv[1], false, len, err, sizeof err) ||
        open_run(&b, argv[1], true, len, err, sizeof err)) {
        fprintf(stderr, "berth-int8-accuracy: %s\n", err);
        return 1;
    }
    const int32_t V = model_get_config(a.m)->vocab_size;
    float *la = malloc(sizeof(float) * (size_t)V), *lb = malloc(sizeof(float) * (size_t)V);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)len);
    double worst_abs = 0, worst_rel = 0, sum_abs = 0;
    int positions = 0, same = 0;
    uint64_t s = 1;
    for (int p = 0; p < prompts; p++) {
        for (int i = 0; i < plen; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            tok[i] = (int32_t)((s >> 33) % (uint64_t)V);
        }
        kvb_table ta = {0}, tb = {0};
        int32_t pos = 0, n = plen;
        for (;;) {
            if (step(&a, &ta, tok, pos, n, la, err, sizeof err) ||
                step(&b, &tb, tok, pos, n, lb, err, sizeof err)) {
                fprintf(stderr, "berth-int8-accuracy: %s\n", err);
                return 1;
            }
            double dmax = 0, lmax = 0;
            for (int32_t v = 0; v < V; v++) {
                dmax = fmax(dmax, fabs((double)la[v] - lb[v]));
                lmax = fmax(lmax, fabs((double)la[v]));
            }
            worst_abs = fmax(worst_abs, dmax);
            worst_rel = fmax(worst_rel, dmax / lmax);
            sum_abs += dmax;
            positions++;
            same += argmax(la, V) == argmax(lb, V);
            pos += n;
            n = 1;
            if (pos >= len) break;
            tok[pos] = argmax(la, V); /* the stored model's greedy continuation */
        }
        kvb_table_release(&a.pool, &ta), kvb_table_release(&b.pool, &tb);
        kvb_table_free(&ta), kvb_table_free(&tb);
    }
    printf("%s: %d prompts x %d positions: max |dlogit| %.4f (mean of per-position max %.4f), "
           "max |dlogit|/max|logit| %.4f, top-1 agreement %d/%d\n",
           argv[1], prompts, positions / (prompts ? prompts : 1), worst_abs,
           sum_abs / (positions ? positions : 1), worst_rel, same, positions);
    free(la), free(lb), free(tok);
    run *rs[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        step_batch_free(&rs[i]->batch);
        kvb_pool_free(&rs[i]->pool);
        model_free(rs[i]->m);
        rs[i]->be->ops->destroy(rs[i]->be);
    }
    return 0;
}
