/* The engine's two sampling paths agree: a mix of requests (greedy, seeded temperature with top-k,
 * top-p and min-p, penalties, logit_bias with a repeated id and ids outside the vocabulary,
 * min_tokens over stop ids, logprobs with top alternatives) gives identical token ids and logprobs
 * within 1e-6 through the backend's sample op and through the host sampler, submitted in one batch,
 * staggered (rows move between steps as requests join and finish), and under KV pressure that
 * preempts. The op path must call the op and the host path must not. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/cpu_backend.h"
#include "server/engine/engine.h"
#include "tests/model/reference_fixture.h"
#include "tests/support/test_support.h"

#define NUM_REQ 10
#define MAX_OUT 40

typedef struct output {
    int32_t n;
    int32_t tokens[MAX_OUT];
    float logprob[MAX_OUT];
    int32_t num_top[MAX_OUT];
    int32_t top_ids[MAX_OUT][SAMPLER_MAX_LOGPROBS];
    float top_logprobs[MAX_OUT][SAMPLER_MAX_LOGPROBS];
    finish_reason finish;
} output;

/* ---- a CPU backend whose sample op counts its calls ---- */

static bk_ops counting_ops;
static int (*real_sample)(bk_backend *, bk_tensor *, bk_tensor *, bk_tensor *, const bk_tensor *,
                          const bk_tensor *, const bk_tensor *, const bk_tensor *,
                          const bk_tensor *, int32_t);
static atomic_int sample_calls;

static int counting_sample(bk_backend *be, bk_tensor *out, bk_tensor *logprobs, bk_tensor *top_ids,
                           const bk_tensor *logits, const bk_tensor *params, const bk_tensor *bias,
                           const bk_tensor *counts, const bk_tensor *mask, int32_t num_rows)
{
    atomic_fetch_add(&sample_calls, 1);
    return real_sample(be, out, logprobs, top_ids, logits, params, bias, counts, mask, num_rows);
}

/* ---- the requests ---- */

typedef struct request_set {
    engine_request_params p[NUM_REQ];
    const ref_case *c[NUM_REQ];
    int32_t bias_ids[6];
    float bias_values[6];
    int32_t stop_ids[2];
} request_set;

static sampling_params plain(void)
{
    return (sampling_params){.temperature = 0, .top_p = 1, .repetition_penalty = 1, .logprobs = -1};
}

static void make_requests(request_set *s, const ref_fixture *f)
{
    memset(s, 0, sizeof *s);
    /* logit_bias: a favoured token, a banned one, and a repeated id whose values add up. */
    const ref_case *c0 = &f->cases[0];
    s->bias_ids[0] = c0->greedy[0];
    s->bias_values[0] = -100.0f;
    s->bias_ids[1] = (c0->greedy[1] + 7) % f->vocab;
    s->bias_values[1] = 4.5f;
    s->bias_ids[2] = 5;
    s->bias_values[2] = 1.25f;
    s->bias_ids[3] = 5;
    s->bias_values[3] = 2.0f;
    /* Ids outside the vocabulary are ignored by both paths. */
    s->bias_ids[4] = f->vocab + 3;
    s->bias_values[4] = 50.0f;
    s->bias_ids[5] = -2;
    s->bias_values[5] = 50.0f;
    /* Stop ids that greedy decoding meets early, so min_tokens has something to suppress. */
    s->stop_ids[0] = f->cases[1].greedy[2];
    s->stop_ids[1] = f->cases[1].greedy[4];
    for (int i = 0; i < NUM_REQ; i++) {
        s->c[i] = &f->cases[i % f->num_cases];
        s->p[i] = (engine_request_params){.sampling = plain(), .max_tokens = 10 + 3 * i};
        if (s->p[i].max_tokens > MAX_OUT) s->p[i].max_tokens = MAX_OUT;
        s->p[i].sampling.seed = 1000 + (uint64_t)i;
    }
    sampling_params *q;
    q = &s->p[0].sampling; /* greedy with top alternatives */
    q->logprobs = 5;
    q = &s->p[1].sampling;
    q->temperature = 0.8f;
    q->top_k = 20;
    q = &s->p[2].sampling;
    q->temperature = 1.0f;
    q->top_p = 0.9f;
    q->logprobs = 0;
    q = &s->p[3].sampling;
    q->temperature = 0.7f;
    q->min_p = 0.1f;
    q = &s->p[4].sampling;
    q->temperature = 1.2f;
    q->repetition_penalty = 1.3f;
    q->presence_penalty = 0.5f;
    q->frequency_penalty = 0.4f;
    q->logprobs = 20;
    q = &s->p[5].sampling; /* greedy under logit_bias */
    q->bias_ids = s->bias_ids;
    q->bias_values = s->bias_values;
    q->num_bias = 6;
    q->logprobs = 2;
    s->p[6].min_tokens = 8; /* seeded, stop ids suppressed for 8 tokens, one of them also biased */
    s->p[6].stop_token_ids = s->stop_ids;
    s->p[6].num_stop_token_ids = 2;
    q = &s->p[6].sampling;
    q->temperature = 1.0f;
    q->bias_ids = s->stop_ids;
    q->bias_values = s->bias_values + 1;
    q->num_bias = 1;
    q = &s->p[7].sampling;
    q->temperature = 0.9f;
    q->top_k = 5;
    q->top_p = 0.8f;
    q->min_p = 0.05f;
    q->frequency_penalty = 1.0f;
    q->logprobs = 3;
    q = &s->p[8].sampling; /* greedy with a repetition penalty */
    q->repetition_penalty = 1.5f;
    s->p[9].stop_token_ids = s->stop_ids; /* greedy, ends at a stop id */
    s->p[9].num_stop_token_ids = 2;
    s->c[9] = &f->cases[1];
}

/* ---- running them ---- */

/* Reads events until the request finishes (want < 0) or it has `want` tokens. */
static void read_events(engine_request *r, output *o, int32_t want)
{
    engine_event ev;
    int rc;
    while ((want < 0 || o->n < want) && (rc = engine_next(r, &ev, 20000)) == 1) {
        if (ev.has_token && o->n < MAX_OUT) {
            int32_t k = o->n++;
            o->tokens[k] = ev.token.token;
            o->logprob[k] = ev.token.logprob;
            o->num_top[k] = ev.token.num_top;
            memcpy(o->top_ids[k], ev.token.top_ids, sizeof o->top_ids[k]);
            memcpy(o->top_logprobs[k], ev.token.top_logprobs, sizeof o->top_logprobs[k]);
        }
        if (ev.finish) o->finish = ev.finish;
    }
    if (want < 0) CHECKF(rc == -1, "engine_next timed out");
}

typedef enum { TOGETHER, STAGGERED } arrival;

/* Runs the set on a fresh model and engine; returns the preemptions seen. */
static uint64_t run_set(const char *dir, bk_backend *be, const request_set *s, engine_config cfg,
                        arrival how, output *outs)
{
    char err[512];
    model *m = NULL;
    engine *e = NULL;
    memset(outs, 0, sizeof(output) * NUM_REQ);
    if (model_load(&m, dir, be, err, sizeof err) || engine_start(&e, m, &cfg, err, sizeof err)) {
        CHECKF(0, "model/engine start: %s", err);
        if (m) model_free(m);
        return 0;
    }
    engine_request *reqs[NUM_REQ];
    for (int i = 0; i < NUM_REQ; i++) {
        CHECKF(engine_submit(e, s->c[i]->prompt, s->c[i]->prompt_len, &s->p[i], &reqs[i], err,
                             sizeof err) == ENGINE_OK,
               "submit %d: %s", i, err);
        /* Staggered: each request joins once the previous one has produced two tokens. */
        if (how == STAGGERED) read_events(reqs[i], &outs[i], 2);
    }
    for (int i = 0; i < NUM_REQ; i++) {
        read_events(reqs[i], &outs[i], -1);
        engine_release(reqs[i]);
    }
    engine_stats st;
    for (int i = 0; i < 500; i++) {
        engine_get_stats(e, &st);
        if (st.running == 0 && st.waiting == 0) break;
        usleep(2000);
    }
    CHECKF(st.kv_blocks_used == 0, "%d KV blocks still used", st.kv_blocks_used);
    engine_stop(e);
    model_free(m);
    return st.preemptions_total;
}

static void compare(const output *a, const output *b, const char *what)
{
    for (int i = 0; i < NUM_REQ; i++) {
        CHECKF(a[i].n == b[i].n && a[i].finish == b[i].finish,
               "%s, request %d: %d tokens (finish %d) vs %d (finish %d)", what, i, a[i].n,
               a[i].finish, b[i].n, b[i].finish);
        int32_t n = a[i].n < b[i].n ? a[i].n : b[i].n;
        for (int32_t k = 0; k < n; k++) {
            CHECKF(a[i].tokens[k] == b[i].tokens[k], "%s, request %d token %d: %d vs %d", what, i,
                   k, a[i].tokens[k], b[i].tokens[k]);
            CHECKF(fabsf(a[i].logprob[k] - b[i].logprob[k]) <= 1e-6f,
                   "%s, request %d token %d: logprob %.9g vs %.9g", what, i, k, a[i].logprob[k],
                   b[i].logprob[k]);
            CHECKF(a[i].num_top[k] == b[i].num_top[k], "%s, request %d token %d: %d vs %d top",
                   what, i, k, a[i].num_top[k], b[i].num_top[k]);
            for (int32_t j = 0; j < a[i].num_top[k] && j < b[i].num_top[k]; j++)
                CHECKF(a[i].top_ids[k][j] == b[i].top_ids[k][j] &&
                           fabsf(a[i].top_logprobs[k][j] - b[i].top_logprobs[k][j]) <= 1e-6f,
                       "%s, request %d token %d: top %d is %d (%.9g) vs %d (%.9g)", what, i, k, j,
                       a[i].top_ids[k][j], a[i].top_logprobs[k][j], b[i].top_ids[k][j],
                       b[i].top_logprobs[k][j]);
        }
    }
}

/* The set must exercise what it claims: top alternatives, min_tokens and the stop. */
static void check_coverage(const request_set *s, const output *o)
{
    CHECKF(o[4].n > 0 && o[4].num_top[0] == 20, "request 4: %d top logprobs, expected 20",
           o[4].n ? o[4].num_top[0] : -1);
    CHECKF(o[6].n >= s->p[6].min_tokens, "request 6 stopped after %d tokens, min_tokens %d", o[6].n,
           s->p[6].min_tokens);
    for (int32_t k = 0; k < s->p[6].min_tokens && k < o[6].n; k++)
        CHECKF(o[6].tokens[k] != s->stop_ids[0] && o[6].tokens[k] != s->stop_ids[1],
               "request 6: stop id %d before min_tokens", o[6].tokens[k]);
    CHECKF(o[9].finish == FINISH_STOP, "request 9 finished with %d, expected a stop id",
           o[9].finish);
    CHECKF(o[5].n > 0 && o[5].tokens[0] != s->bias_ids[0],
           "request 5: a -100 bias token was chosen");
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
    counting_ops = *be->ops;
    real_sample = be->ops->sample;
    counting_ops.sample = counting_sample;
    be->ops = &counting_ops;

    request_set *s = malloc(sizeof *s);
    output *host = malloc(sizeof(output) * NUM_REQ), *op = malloc(sizeof(output) * NUM_REQ),
           *first = malloc(sizeof(output) * NUM_REQ);
    make_requests(s, &f);
    engine_config roomy = {
        .max_num_seqs = 6, .max_batched_tokens = 24, .max_model_len = 128, .num_kv_blocks = 64};
    engine_config tight = roomy;
    tight.max_num_seqs = 8;
    tight.num_kv_blocks = 10;
    struct {
        const char *name;
        engine_config cfg;
        arrival how;
    } modes[] = {{"one batch", roomy, TOGETHER},
                 {"staggered", roomy, STAGGERED},
                 {"preempting", tight, TOGETHER}};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        engine_config cfg = modes[m].cfg;
        cfg.host_sampling = true;
        atomic_store(&sample_calls, 0);
        run_set(dir, be, s, cfg, modes[m].how, host);
        CHECKF(atomic_load(&sample_calls) == 0, "%s: the host path called the sample op %d times",
               modes[m].name, atomic_load(&sample_calls));
        cfg.host_sampling = false;
        uint64_t preempted = run_set(dir, be, s, cfg, modes[m].how, op);
        CHECKF(atomic_load(&sample_calls) > 0, "%s: the op path never called the sample op",
               modes[m].name);
        if (cfg.num_kv_blocks == tight.num_kv_blocks)
            CHECKF(preempted > 0, "%s: expected preemptions", modes[m].name);
        char what[128];
        snprintf(what, sizeof what, "%s: op vs host", modes[m].name);
        compare(op, host, what);
        check_coverage(s, op);
        /* A request's tokens depend on its own inputs only, however it was batched. */
        if (m == 0) memcpy(first, op, sizeof(output) * NUM_REQ);
        snprintf(what, sizeof what, "%s vs one batch", modes[m].name);
        compare(op, first, what);
    }
    free(s);
    free(host);
    free(op);
    free(first);
    be->ops->destroy(be);
    ref_fixture_free(&f);
    return test_finish("engine_sampling");
}
