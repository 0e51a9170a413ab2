/* The engine end to end on the CPU backend with a reference fixture: continuous batching of
 * concurrent requests reproduces Hugging Face's greedy output (with chunked prefill, and under KV
 * pressure that forces preemption), seeded sampling does not depend on the rest of the batch,
 * cancellation and finishing return every KV block, stop tokens and min_tokens behave, test-only
 * scripted tokens replace the sampled ones, overload and bad input are refused. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/cpu_backend.h"
#include "server/engine/engine.h"
#include "tests/model/reference_fixture.h"
#include "tests/support/test_support.h"

typedef struct output {
    int32_t tokens[512];
    int32_t n;
    finish_reason finish;
    int32_t prompt_tokens, completion_tokens;
} output;

static sampling_params greedy_params(void)
{
    return (sampling_params){.temperature = 0, .top_p = 1, .repetition_penalty = 1, .logprobs = -1};
}

static void drain(engine_request *r, output *o)
{
    memset(o, 0, sizeof *o);
    engine_event ev;
    int rc;
    while ((rc = engine_next(r, &ev, 10000)) == 1) {
        if (ev.has_token && o->n < 512) o->tokens[o->n++] = ev.token.token;
        if (ev.finish) {
            o->finish = ev.finish;
            o->prompt_tokens = ev.prompt_tokens;
            o->completion_tokens = ev.completion_tokens;
        }
    }
    CHECKF(rc == -1, "engine_next timed out");
}

static engine *start(model *m, engine_config cfg)
{
    char err[512];
    engine *e = NULL;
    CHECKF(engine_start(&e, m, &cfg, err, sizeof err) == 0, "engine_start: %s", err);
    return e;
}

static void wait_idle(engine *e)
{
    engine_stats st;
    for (int i = 0; i < 500; i++) {
        engine_get_stats(e, &st);
        if (st.running == 0 && st.waiting == 0 && st.kv_blocks_used == 0) return;
        usleep(2000);
    }
    CHECKF(0, "engine not idle: %d running, %d waiting, %d blocks used", st.running, st.waiting,
           st.kv_blocks_used);
}

/* Every case of the fixture at once; each must produce Hugging Face's greedy continuation. */
static void greedy_concurrent(model *m, const ref_fixture *f, engine_config cfg, const char *what,
                              bool expect_preemption)
{
    engine *e = start(m, cfg);
    if (!e) return;
    char err[512];
    engine_request *reqs[16];
    int n = f->num_cases < 16 ? f->num_cases : 16;
    for (int i = 0; i < n; i++) {
        engine_request_params p = {.sampling = greedy_params(), .max_tokens = f->cases[i].greedy_len};
        CHECKF(engine_submit(e, f->cases[i].prompt, f->cases[i].prompt_len, &p, &reqs[i], err,
                             sizeof err) == ENGINE_OK,
               "%s submit: %s", what, err);
    }
    for (int i = 0; i < n; i++) {
        output o;
        drain(reqs[i], &o);
        engine_release(reqs[i]);
        CHECKF(o.n == f->cases[i].greedy_len && o.finish == FINISH_LENGTH,
               "%s case %d: %d tokens, finish %d", what, i, o.n, o.finish);
        CHECKF(o.n == 0 || !memcmp(o.tokens, f->cases[i].greedy, sizeof(int32_t) * (size_t)o.n),
               "%s case %d: greedy output differs from Hugging Face", what, i);
        CHECK(o.prompt_tokens == f->cases[i].prompt_len && o.completion_tokens == o.n);
    }
    wait_idle(e);
    engine_stats st;
    engine_get_stats(e, &st);
    if (expect_preemption)
        CHECKF(st.preemptions_total > 0, "%s: expected preemptions under KV pressure", what);
    engine_stop(e);
}

static void seeded_sampling(model *m, const ref_fixture *f)
{
    char err[512];
    engine_config cfg = {.max_num_seqs = 8, .max_batched_tokens = 64, .max_model_len = 128,
                         .num_kv_blocks = 64};
    engine *e = start(m, cfg);
    if (!e) return;
    engine_request_params p = {.sampling = greedy_params(), .max_tokens = 24};
    p.sampling.temperature = 1.0f;
    p.sampling.seed = 42;
    const ref_case *c = &f->cases[1];
    output alone, batched, other_seed;
    engine_request *r;
    CHECK(engine_submit(e, c->prompt, c->prompt_len, &p, &r, err, sizeof err) == ENGINE_OK);
    drain(r, &alone);
    engine_release(r);

    /* The same request among others with different prompts and seeds. */
    engine_request *others[3];
    for (int i = 0; i < 3; i++) {
        engine_request_params q = p;
        q.sampling.seed = 1000 + (uint64_t)i;
        const ref_case *oc = &f->cases[(i + 2) % f->num_cases];
        CHECK(engine_submit(e, oc->prompt, oc->prompt_len, &q, &others[i], err, sizeof err) == ENGINE_OK);
    }
    CHECK(engine_submit(e, c->prompt, c->prompt_len, &p, &r, err, sizeof err) == ENGINE_OK);
    drain(r, &batched);
    engine_release(r);
    for (int i = 0; i < 3; i++) engine_release(others[i]);
    CHECKF(alone.n == 24 && batched.n == 24 && !memcmp(alone.tokens, batched.tokens, sizeof(int32_t) * 24),
           "seeded sampling differs between alone and batched runs");

    p.sampling.seed = 43;
    CHECK(engine_submit(e, c->prompt, c->prompt_len, &p, &r, err, sizeof err) == ENGINE_OK);
    drain(r, &other_seed);
    engine_release(r);
    CHECKF(memcmp(alone.tokens, other_seed.tokens, sizeof(int32_t) * 24) != 0,
           "seeds 42 and 43 produced the same 24 tokens");
    wait_idle(e);
    engine_stop(e);
}

static void cancel_and_stops(model *m, const ref_fixture *f)
{
    char err[512];
    engine_config cfg = {.max_num_seqs = 4, .max_batched_tokens = 64, .max_model_len = 200,
                         .num_kv_blocks = 64};
    engine *e = start(m, cfg);
    if (!e) return;
    const ref_case *c = &f->cases[2];

    /* Cancel after the first token: the request ends with FINISH_ABORT and frees its blocks. */
    engine_request_params p = {.sampling = greedy_params(), .max_tokens = 150};
    engine_request *r;
    CHECK(engine_submit(e, c->prompt, c->prompt_len, &p, &r, err, sizeof err) == ENGINE_OK);
    engine_event ev;
    CHECK(engine_next(r, &ev, 10000) == 1 && ev.has_token);
    engine_cancel(r);
    output o;
    drain(r, &o);
    CHECKF(o.finish == FINISH_ABORT, "cancelled request finished with %d", o.finish);
    engine_release(r);
    wait_idle(e);

    /* Releasing without reading also cancels. */
    CHECK(engine_submit(e, c->prompt, c->prompt_len, &p, &r, err, sizeof err) == ENGINE_OK);
    engine_release(r);
    wait_idle(e);

    /* A stop token ends the sequence and is the last token; min_tokens suppresses it before. */
    int32_t stop = c->greedy[5];
    int first = 0;
    while (c->greedy[first] != stop) first++;
    p = (engine_request_params){.sampling = greedy_params(), .max_tokens = c->greedy_len,
                                .stop_token_ids = &stop, .num_stop_token_ids = 1};
    CHECK(engine_submit(e, c->prompt, c->prompt_len, &p, &r, err, sizeof err) == ENGINE_OK);
    drain(r, &o);
    engine_release(r);
    CHECKF(o.finish == FINISH_STOP && o.n == first + 1 && o.tokens[first] == stop,
           "stop token: finish %d after %d tokens (expected stop after %d)", o.finish, o.n, first + 1);
    p.min_tokens = first + 2;
    CHECK(engine_submit(e, c->prompt, c->prompt_len, &p, &r, err, sizeof err) == ENGINE_OK);
    drain(r, &o);
    engine_release(r);
    CHECKF(o.n >= first + 2, "min_tokens %d: stopped after %d", first + 2, o.n);
    for (int i = 0; i < first + 1 && i < o.n; i++) CHECKF(o.tokens[i] != stop, "stop token at %d", i);

    /* Too long, bad ids. */
    p = (engine_request_params){.sampling = greedy_params(), .max_tokens = 200};
    CHECK(engine_submit(e, c->prompt, c->prompt_len, &p, &r, err, sizeof err) == ENGINE_TOO_LONG);
    CHECKF(strstr(err, "maximum context length is 200") != NULL, "too-long message: %s", err);
    int32_t bad[2] = {1, 1 << 30};
    p.max_tokens = 4;
    CHECK(engine_submit(e, bad, 2, &p, &r, err, sizeof err) == ENGINE_INVALID);
    wait_idle(e);
    engine_stop(e);
}

/* Test-only scripted tokens (berth serve --test-scripted-outputs): published in place of the
 * sampled ones and seen by the stop check, then sampling resumes; a request beside it keeps its
 * greedy output. */
static void scripted_tokens(model *m, const ref_fixture *f)
{
    char err[512];
    engine_config cfg = {
        .max_num_seqs = 4, .max_batched_tokens = 32, .max_model_len = 200, .num_kv_blocks = 64};
    engine *e = start(m, cfg);
    if (!e) return;
    const ref_case *c = &f->cases[1], *other = &f->cases[0];
    int32_t script[4] = {11, 22, 33, 7}, stop = 7;
    engine_request_params p = {.sampling = greedy_params(),
                               .max_tokens = 20,
                               .stop_token_ids = &stop,
                               .num_stop_token_ids = 1,
                               .scripted_tokens = script,
                               .num_scripted_tokens = 4};
    engine_request_params g = {.sampling = greedy_params(), .max_tokens = other->greedy_len};
    engine_request *r, *rg;
    CHECK(engine_submit(e, c->prompt, c->prompt_len, &p, &r, err, sizeof err) == ENGINE_OK);
    CHECK(engine_submit(e, other->prompt, other->prompt_len, &g, &rg, err, sizeof err) ==
          ENGINE_OK);
    engine_event ev;
    int n = 0;
    while (engine_next(r, &ev, 10000) == 1) {
        if (!ev.has_token) continue;
        CHECKF(n < 4 && ev.token.token == script[n] && ev.token.logprob == 0.0f &&
                   ev.token.num_top == 0,
               "scripted token %d: %d", n, ev.token.token);
        n++;
        if (ev.finish)
            CHECKF(ev.finish == FINISH_STOP && n == 4, "finish %d after %d", ev.finish, n);
    }
    CHECKF(n == 4, "%d scripted tokens published", n);
    engine_release(r);
    output o;
    drain(rg, &o);
    engine_release(rg);
    CHECKF(o.n == other->greedy_len &&
               !memcmp(o.tokens, other->greedy, sizeof(int32_t) * (size_t)o.n),
           "the request beside the scripted one lost its greedy output");
    /* A script without a stop token: sampled tokens follow it up to max_tokens. */
    p.num_stop_token_ids = 0;
    p.num_scripted_tokens = 2;
    p.max_tokens = 5;
    CHECK(engine_submit(e, c->prompt, c->prompt_len, &p, &r, err, sizeof err) == ENGINE_OK);
    drain(r, &o);
    engine_release(r);
    CHECKF(o.n == 5 && o.finish == FINISH_LENGTH && o.tokens[0] == 11 && o.tokens[1] == 22,
           "script then sampling: %d tokens, finish %d", o.n, o.finish);
    /* The model saw the scripted tokens: its greedy continuation is that of prompt + script. */
    int32_t extended[256];
    CHECK(c->prompt_len + 2 <= 256);
    memcpy(extended, c->prompt, sizeof(int32_t) * (size_t)c->prompt_len);
    memcpy(extended + c->prompt_len, script, sizeof(int32_t) * 2);
    engine_request_params q = {.sampling = greedy_params(), .max_tokens = 3};
    output o2;
    CHECK(engine_submit(e, extended, c->prompt_len + 2, &q, &r, err, sizeof err) == ENGINE_OK);
    drain(r, &o2);
    engine_release(r);
    CHECKF(o2.n == 3 && !memcmp(o2.tokens, o.tokens + 2, sizeof(int32_t) * 3),
           "after the script the model continued from something else");
    int32_t bad = 1 << 30;
    p.scripted_tokens = &bad;
    p.num_scripted_tokens = 1;
    CHECK(engine_submit(e, c->prompt, c->prompt_len, &p, &r, err, sizeof err) == ENGINE_INVALID);
    CHECKF(strstr(err, "scripted token id") != NULL, "bad scripted id message: %s", err);
    wait_idle(e);
    engine_stop(e);
}

static void overload(model *m, const ref_fixture *f)
{
    char err[512];
    engine_config cfg = {.max_num_seqs = 1, .max_batched_tokens = 16, .max_model_len = 240,
                         .num_kv_blocks = 16, .max_waiting = 2};
    engine *e = start(m, cfg);
    if (!e) return;
    engine_request_params p = {.sampling = greedy_params(), .max_tokens = 200};
    engine_request *reqs[50];
    int accepted = 0, refused = 0;
    for (int i = 0; i < 50; i++) {
        engine_status st = engine_submit(e, f->cases[0].prompt, f->cases[0].prompt_len, &p,
                                         &reqs[accepted], err, sizeof err);
        if (st == ENGINE_OK) accepted++;
        else if (st == ENGINE_OVERLOADED) refused++;
    }
    CHECKF(refused > 0 && accepted >= 2, "overload: %d accepted, %d refused", accepted, refused);
    for (int i = 0; i < accepted; i++) engine_release(reqs[i]);
    wait_idle(e);
    engine_stop(e);
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
    model *m = NULL;
    if (!be || model_load(&m, dir, be, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* Each test starts its own engine; the model's cache is reserved once, so load per engine. */
    model_free(m);
#define WITH_MODEL(call)                                                                           \
    do {                                                                                           \
        CHECKF(model_load(&m, dir, be, err, sizeof err) == 0, "%s", err);                          \
        call;                                                                                      \
        model_free(m);                                                                             \
    } while (0)
    engine_config roomy = {.max_num_seqs = 8, .max_batched_tokens = 12, .max_model_len = 128,
                           .num_kv_blocks = 64};
    WITH_MODEL(greedy_concurrent(m, &f, roomy, "chunked prefill", false));
    /* 4 blocks = 64 tokens for sequences of up to ~90 tokens each: constant preemption. */
    int32_t longest = 0;
    for (int i = 0; i < f.num_cases; i++)
        if (f.cases[i].prompt_len + f.cases[i].greedy_len > longest)
            longest = f.cases[i].prompt_len + f.cases[i].greedy_len;
    engine_config tight = {.max_num_seqs = 8, .max_batched_tokens = 32, .max_model_len = longest,
                           .num_kv_blocks = (longest + 15) / 16 + 1};
    WITH_MODEL(greedy_concurrent(m, &f, tight, "preemption", true));
    WITH_MODEL(seeded_sampling(m, &f));
    WITH_MODEL(cancel_and_stops(m, &f));
    WITH_MODEL(scripted_tokens(m, &f));
    WITH_MODEL(overload(m, &f));
    be->ops->destroy(be);
    ref_fixture_free(&f);
    return test_finish("engine");
}
