/* Prompt logprobs (engine_request_params.prompt_logprobs) against Hugging Face's logits of the same
 * tokens (the fixture's reference rows, computed by transformers, not by berth), and, closer,
 * against one plain model_forward of the whole prompt with a logits row at every position (no
 * engine, no chunks; the log-softmax, rank and top entries computed here in double): every
 * position's logprob, rank and top entries, for prompts of 7 to 77 tokens cut into many chunks by a
 * small step (a few prompt logits rows per step), beside requests that do not ask, under KV
 * pressure that preempts, and after the same prompt was put in the prefix cache (the request must
 * compute its whole prompt: cached_tokens 0). Requests that do not ask keep HF's greedy tokens. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/cpu_backend.h"
#include "server/engine/engine.h"
#include "server/engine/step_batch.h"
#include "tests/model/reference_fixture.h"
#include "tests/support/test_support.h"

/* HF and berth compute f32 logits that agree to 1e-4 of the largest (test_model_reference.c); a
 * log-softmax over them moves by about twice that. */
#define LP_TOL 2e-3
/* The same backend's one-shot forward: only the chunking and batching differ (<= 1e-5 of the
 * logits, test_model_reference.c's batch invariance). */
#define DIRECT_TOL 1e-4
#define TOP 5

typedef struct prompt_case {
    int32_t tokens[128];
    int32_t len;
    const float *hf; /* [len][vocab]: row i predicts token i + 1 */
    float *direct;   /* the same from one model_forward of the whole prompt */
} prompt_case;

/* One forward of pc's tokens as one sequence, a logits row at every position. */
static float *direct_logits(const char *dir, bk_backend *be, const prompt_case *pc, int32_t V)
{
    char err[512];
    model *m = NULL;
    kvb_pool pool = {0};
    kvb_table table = {0};
    step_batch b = {0};
    float *out = malloc(sizeof(float) * (size_t)pc->len * (size_t)V);
    int32_t blocks = kvb_blocks_for(pc->len);
    const bk_tensor *logits;
    int ok = out && model_load(&m, dir, be, err, sizeof err) == 0 &&
             model_reserve(m, blocks, pc->len, pc->len, err, sizeof err) == 0 &&
             kvb_pool_init(&pool, blocks, err, sizeof err) == 0 &&
             step_batch_init(&b, be, pc->len, 1, blocks, err, sizeof err) == 0 &&
             kvb_table_reserve(&pool, &table, pc->len) == 0 &&
             step_batch_add(&b, &table, pc->tokens, pc->len, 0, false, err, sizeof err) == -1;
    if (ok) {
        for (int32_t i = 0; i < pc->len; i++)
            b.logit_rows[b.num_logit_rows++] = i;
        ok = step_batch_upload(&b, err, sizeof err) == 0 &&
             model_forward(m, &b.dev, &logits, err, sizeof err) == 0 &&
             be->ops->download_rows(be, logits, pc->len, out) == 0;
    }
    CHECKF(ok, "direct forward of %d tokens: %s", pc->len, err);
    if (b.be) step_batch_free(&b);
    kvb_table_release(&pool, &table);
    kvb_table_free(&table);
    kvb_pool_free(&pool);
    if (m) model_free(m);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

static sampling_params greedy(void)
{
    return (sampling_params){.temperature = 0, .top_p = 1, .repetition_penalty = 1, .logprobs = -1};
}

/* log-softmax of row[V] at token, in double. */
static double hf_logprob(const float *row, int32_t V, int32_t token)
{
    double max = row[0];
    for (int32_t i = 1; i < V; i++)
        if (row[i] > max) max = row[i];
    double sum = 0;
    for (int32_t i = 0; i < V; i++)
        sum += exp((double)row[i] - max);
    return (double)row[token] - max - log(sum);
}

/* The k-th largest logprob of row (k from 0). */
static double hf_kth(const float *row, int32_t V, int32_t k)
{
    float *copy = malloc(sizeof(float) * (size_t)V);
    memcpy(copy, row, sizeof(float) * (size_t)V);
    int32_t best = 0;
    for (int32_t round = 0; round <= k; round++) {
        best = 0;
        for (int32_t i = 1; i < V; i++)
            if (copy[i] > copy[best]) best = i;
        if (round < k) copy[best] = -INFINITY;
    }
    free(copy);
    return hf_logprob(row, V, best);
}

static void check_against(const engine_request *r, const prompt_case *pc, const float *ref,
                          double tol, int32_t V, const char *what)
{
    sampled_token t;
    int32_t rank;
    CHECKF(engine_prompt_logprob(r, 0, &t, &rank) == -1, "%s: position 0 has no logprob", what);
    CHECKF(engine_prompt_logprob(r, pc->len, &t, &rank) == -1, "%s: position %d is past the prompt",
           what, pc->len);
    for (int32_t i = 1; i < pc->len; i++) {
        if (engine_prompt_logprob(r, i, &t, &rank)) {
            CHECKF(0, "%s: no prompt logprob at %d of %d", what, i, pc->len);
            return;
        }
        const float *row = ref + (size_t)(i - 1) * (size_t)V;
        int32_t tok = pc->tokens[i];
        double want = hf_logprob(row, V, tok);
        CHECKF(t.token == tok, "%s: position %d names token %d, the prompt has %d", what, i,
               t.token, tok);
        CHECKF(fabs(t.logprob - want) <= tol, "%s: position %d logprob %.6f, reference %.6f", what,
               i, t.logprob, want);
        /* The rank within the tolerance: tokens clearly above count, near-ties may go either way.
         */
        int32_t above = 0, close_above = 0;
        for (int32_t v = 0; v < V; v++) {
            double lv = hf_logprob(row, V, v);
            if (lv > want + tol)
                above++;
            else if (v != tok && lv >= want - tol)
                close_above++;
        }
        CHECKF(rank >= 1 + above && rank <= 1 + above + close_above,
               "%s: position %d rank %d, reference %d (+%d near ties)", what, i, rank, 1 + above,
               close_above);
        CHECKF(t.num_top == TOP, "%s: position %d has %d top entries", what, i, t.num_top);
        for (int32_t k = 0; k < t.num_top; k++) {
            CHECKF(fabs(t.top_logprobs[k] - hf_logprob(row, V, t.top_ids[k])) <= tol,
                   "%s: position %d top %d: token %d logprob %.6f, reference %.6f", what, i, k,
                   t.top_ids[k], t.top_logprobs[k], hf_logprob(row, V, t.top_ids[k]));
            CHECKF(fabs(t.top_logprobs[k] - hf_kth(row, V, k)) <= tol,
                   "%s: position %d top %d logprob %.6f, the reference's %d-th largest %.6f", what,
                   i, k, t.top_logprobs[k], k, hf_kth(row, V, k));
        }
        if (rank == 1)
            CHECKF(t.top_ids[0] == tok || fabs(t.top_logprobs[0] - t.logprob) < 1e-6,
                   "%s: position %d has rank 1 but is not the top entry", what, i);
    }
}

static void check_prompt(const engine_request *r, const prompt_case *pc, int32_t V,
                         const char *what)
{
    char label[200];
    snprintf(label, sizeof label, "%s vs HF", what);
    check_against(r, pc, pc->hf, LP_TOL, V, label);
    if (pc->direct) {
        snprintf(label, sizeof label, "%s vs one forward", what);
        check_against(r, pc, pc->direct, DIRECT_TOL, V, label);
    }
}

/* Reads r to its end; returns its generated tokens' count and copies up to cap of them. */
static int32_t drain(engine_request *r, int32_t *tokens, int32_t cap, int32_t *cached)
{
    engine_event ev;
    int rc;
    int32_t n = 0;
    while ((rc = engine_next(r, &ev, 20000)) == 1) {
        if (ev.has_token && n < cap) tokens[n++] = ev.token.token;
        if (ev.finish && cached) *cached = ev.cached_tokens;
    }
    CHECKF(rc == -1, "engine_next timed out");
    return n;
}

static void run(const char *dir, bk_backend *be, engine_config cfg, const prompt_case *pcs, int num,
                const ref_fixture *f, bool warm_cache, const char *what)
{
    char err[512];
    engine *e = NULL;
    model *m = NULL;
    if (model_load(&m, dir, be, err, sizeof err) || engine_start(&e, m, &cfg, err, sizeof err)) {
        CHECKF(0, "%s: start: %s", what, err);
        if (m) model_free(m);
        return;
    }
    int32_t V = f->vocab, out[64];
    if (warm_cache) { /* the longest prompt, without prompt logprobs, into the prefix cache */
        const prompt_case *pc = &pcs[num - 1];
        engine_request_params p = {.sampling = greedy(), .max_tokens = 1};
        engine_request *r;
        CHECKF(engine_submit(e, pc->tokens, pc->len, &p, &r, err, sizeof err) == ENGINE_OK,
               "%s: warm submit: %s", what, err);
        drain(r, out, 64, NULL);
        engine_release(r);
    }
    engine_request *plp[8], *plain[4];
    for (int i = 0; i < num; i++) {
        engine_request_params p = {.sampling = greedy(),
                                   .max_tokens = 3,
                                   .prompt_logprobs = true,
                                   .prompt_top_logprobs = TOP};
        CHECKF(engine_submit(e, pcs[i].tokens, pcs[i].len, &p, &plp[i], err, sizeof err) ==
                   ENGINE_OK,
               "%s: submit %d: %s", what, i, err);
    }
    /* Beside them, requests that do not ask: HF's greedy continuation. */
    for (int i = 0; i < f->num_cases && i < 4; i++) {
        engine_request_params p = {.sampling = greedy(), .max_tokens = 8};
        CHECKF(engine_submit(e, f->cases[i].prompt, f->cases[i].prompt_len, &p, &plain[i], err,
                             sizeof err) == ENGINE_OK,
               "%s: plain submit %d: %s", what, i, err);
    }
    for (int i = 0; i < num; i++) {
        int32_t cached = -1;
        int32_t n = drain(plp[i], out, 64, &cached);
        char label[160];
        snprintf(label, sizeof label, "%s, prompt of %d", what, pcs[i].len);
        CHECKF(n == 3, "%s: %d tokens generated, expected 3", label, n);
        CHECKF(cached == 0, "%s: %d prompt tokens from the prefix cache, expected none", label,
               cached);
        /* The first generated token is greedy over the last position's logits: HF's argmax. */
        const float *last = pcs[i].hf + (size_t)(pcs[i].len - 1) * (size_t)V;
        int32_t best = 0;
        for (int32_t v = 1; v < V; v++)
            if (last[v] > last[best]) best = v;
        CHECKF(out[0] == best, "%s: first token %d, HF's argmax %d", label, out[0], best);
        check_prompt(plp[i], &pcs[i], V, label);
        engine_release(plp[i]);
    }
    for (int i = 0; i < f->num_cases && i < 4; i++) {
        int32_t n = drain(plain[i], out, 64, NULL);
        CHECKF(n == 8, "%s: plain %d generated %d tokens", what, i, n);
        for (int32_t k = 0; k < n && k < f->cases[i].greedy_len; k++)
            CHECKF(out[k] == f->cases[i].greedy[k], "%s: plain %d token %d: %d, HF %d", what, i, k,
                   out[k], f->cases[i].greedy[k]);
        engine_release(plain[i]);
    }
    engine_stats st;
    for (int i = 0; i < 500; i++) {
        engine_get_stats(e, &st);
        if (st.running == 0 && st.waiting == 0 && st.kv_blocks_used == 0) break;
        usleep(2000);
    }
    CHECKF(st.kv_blocks_used == 0, "%s: %d KV blocks still used", what, st.kv_blocks_used);
    if (warm_cache) CHECKF(st.prefix_cache_blocks > 0, "%s: the prefix cache stayed empty", what);
    if (cfg.num_kv_blocks < 16) CHECKF(st.preemptions_total > 0, "%s: nothing was preempted", what);
    engine_stop(e);
    model_free(m);
}

/* Cancelled while its prompt's logprobs are half done (small steps: several of them): the blocks
 * go back, and the same prompt asked again gets every position. */
static void cancelled_midway(const char *dir, bk_backend *be, engine_config cfg,
                             const prompt_case *pc, const ref_fixture *f)
{
    char err[512];
    model *m = NULL;
    engine *e = NULL;
    if (model_load(&m, dir, be, err, sizeof err) || engine_start(&e, m, &cfg, err, sizeof err)) {
        CHECKF(0, "cancel: start: %s", err);
        if (m) model_free(m);
        return;
    }
    engine_request_params p = {
        .sampling = greedy(), .max_tokens = 2, .prompt_logprobs = true, .prompt_top_logprobs = TOP};
    engine_request *r = NULL;
    CHECKF(engine_submit(e, pc->tokens, pc->len, &p, &r, err, sizeof err) == ENGINE_OK,
           "cancel: submit: %s", err);
    engine_stats st;
    for (int i = 0; i < 2000; i++) { /* until it has run a step or two */
        engine_get_stats(e, &st);
        if (st.steps_total >= 2) break;
        usleep(500);
    }
    engine_cancel(r);
    int32_t out[8];
    drain(r, out, 8, NULL);
    engine_release(r);
    for (int i = 0; i < 500; i++) {
        engine_get_stats(e, &st);
        if (st.running == 0 && st.waiting == 0 && st.kv_blocks_used == 0) break;
        usleep(2000);
    }
    CHECKF(st.kv_blocks_used == 0, "cancel: %d KV blocks still used", st.kv_blocks_used);
    CHECKF(engine_submit(e, pc->tokens, pc->len, &p, &r, err, sizeof err) == ENGINE_OK,
           "cancel: resubmit: %s", err);
    int32_t cached = -1;
    CHECKF(drain(r, out, 8, &cached) == 2 && cached == 0, "cancel: the resubmitted request");
    check_prompt(r, pc, f->vocab, "after a cancelled one");
    engine_release(r);
    engine_stop(e);
    model_free(m);
}

int main(void)
{
    char dir[1024], err[1024];
    test_source_path("tests/fixtures/qwen3-tiny-f32-untied", dir, sizeof dir);
    ref_fixture f;
    if (ref_fixture_load(&f, dir, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    bk_backend *be = bk_cpu_create(0, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* Each case's prompt followed by HF's greedy tokens is a longer prompt with reference rows. */
    prompt_case pcs[8];
    int num = 0;
    for (int i = 0; i < f.num_cases && num < 8; i++) {
        const ref_case *c = &f.cases[i];
        if (c->prompt_len < 2) continue;
        prompt_case *pc = &pcs[num++];
        pc->len = c->prompt_len + c->greedy_len;
        if (pc->len > 128) pc->len = 128;
        memcpy(pc->tokens, c->prompt, sizeof(int32_t) * (size_t)c->prompt_len);
        memcpy(pc->tokens + c->prompt_len, c->greedy,
               sizeof(int32_t) * (size_t)(pc->len - c->prompt_len));
        pc->hf = c->logits;
    }
    CHECKF(num >= 2 && pcs[num - 1].len > 64, "the fixture has too few long cases (%d)", num);
    for (int i = 0; i < num; i++)
        pcs[i].direct = direct_logits(dir, be, &pcs[i], f.vocab);
    /* 16 tokens a step, 4 sequences: 12 prompt rows per step, so a prompt takes several steps. */
    engine_config small = {
        .max_num_seqs = 4, .max_batched_tokens = 16, .max_model_len = 160, .num_kv_blocks = 64};
    CHECKF(engine_prompt_logit_rows(&small) == 12, "prompt rows %d",
           engine_prompt_logit_rows(&small));
    engine_config roomy = small;
    roomy.max_num_seqs = 8;
    roomy.max_batched_tokens = 256;
    engine_config tight = small; /* preempts: 8 blocks for prompts of up to 77 tokens */
    tight.num_kv_blocks = 8;
    tight.max_model_len = 128;
    run(dir, be, small, pcs, num, &f, false, "small steps");
    run(dir, be, roomy, pcs, num, &f, false, "roomy steps");
    run(dir, be, tight, pcs, num, &f, false, "tight cache");
    run(dir, be, roomy, pcs, num, &f, true, "prefix cache warm");

    cancelled_midway(dir, be, small, &pcs[num - 1], &f);

    /* A server without prompt logits rows refuses, and so does a count above the cap. */
    engine_config none = small;
    none.max_batched_tokens = 4;
    engine *e = NULL;
    model *m = NULL;
    CHECKF(model_load(&m, dir, be, err, sizeof err) == 0, "model_load: %s", err);
    CHECKF(engine_start(&e, m, &none, err, sizeof err) == 0, "engine_start: %s", err);
    if (e) {
        engine_request *r = NULL;
        engine_request_params p = {.sampling = greedy(), .max_tokens = 1, .prompt_logprobs = true};
        CHECKF(engine_submit(e, pcs[0].tokens, pcs[0].len, &p, &r, err, sizeof err) ==
                       ENGINE_INVALID &&
                   strstr(err, "max_batched_tokens"),
               "no prompt rows: %s", err);
        engine_stop(e);
    }
    model_free(m);
    CHECKF(model_load(&m, dir, be, err, sizeof err) == 0, "model_load: %s", err);
    CHECKF(engine_start(&e, m, &small, err, sizeof err) == 0, "engine_start: %s", err);
    if (e) {
        engine_request *r = NULL;
        engine_request_params p = {.sampling = greedy(),
                                   .max_tokens = 1,
                                   .prompt_logprobs = true,
                                   .prompt_top_logprobs = SAMPLER_MAX_LOGPROBS + 1};
        CHECKF(engine_submit(e, pcs[0].tokens, pcs[0].len, &p, &r, err, sizeof err) ==
                       ENGINE_INVALID &&
                   strstr(err, "prompt_top_logprobs"),
               "21 top entries: %s", err);
        engine_stop(e);
    }
    model_free(m);
    for (int i = 0; i < num; i++)
        free(pcs[i].direct);
    be->ops->destroy(be);
    ref_fixture_free(&f);
    return test_finish("engine_prompt_logprobs");
}
