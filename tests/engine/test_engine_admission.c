/* Admission on the CPU backend with the tiny Qwen3 fixture: the queue holds max_num_seqs +
 * max_waiting sequences (what --help says), a request's sequences are queued all or none, one that
 * can never fit is refused as such (not as overload), admission is round-robin between requests so
 * a small request is not held back behind a large one, and a cancelled long prefill is abandoned
 * between layers instead of running to the end of its chunk. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels/cpu/cpu_backend.h"
#include "server/engine/engine.h"
#include "tests/support/test_support.h"

static engine_request_params greedy(int32_t max_tokens)
{
    engine_request_params p = {.max_tokens = max_tokens};
    p.sampling =
        (sampling_params){.temperature = 0, .top_p = 1, .repetition_penalty = 1, .logprobs = -1};
    return p;
}

static engine *start(model *m, engine_config cfg)
{
    char err[512];
    engine *e = NULL;
    CHECKF(engine_start(&e, m, &cfg, err, sizeof err) == 0, "engine_start: %s", err);
    return e;
}

static int32_t drain(engine_request *r)
{
    engine_event ev;
    int rc, n = 0;
    while ((rc = engine_next(r, &ev, 60000)) == 1)
        n += ev.has_token;
    CHECKF(rc == -1, "engine_next timed out");
    return n;
}

/* Cancels r and waits until the engine has let it go. */
static void cancel(engine_request *r)
{
    engine_cancel(r);
    drain(r);
    engine_release(r);
}

static void wait_idle(engine *e)
{
    engine_stats st;
    for (int i = 0; i < 2000; i++) {
        engine_get_stats(e, &st);
        if (st.running == 0 && st.waiting == 0 && st.kv_blocks_used == 0) return;
        usleep(2000);
    }
    CHECKF(0, "engine not idle: %d running, %d waiting", st.running, st.waiting);
}

static const int32_t PROMPT[8] = {3, 17, 101, 5, 44, 9, 250, 12};

/* --max-num-seqs 4 --max-waiting 16: 20 sequences fit, the 21st is overload; a group is all or
 * none; a group larger than 20 is never queued. */
static void capacity(model *m)
{
    char err[512];
    engine_config cfg = {.max_num_seqs = 4,
                         .max_batched_tokens = 64,
                         .max_model_len = 240,
                         .num_kv_blocks = 80,
                         .max_waiting = 16};
    engine *e = start(m, cfg);
    if (!e) return;
    engine_request_params p = greedy(200);
    engine_request *r[32];
    const int32_t *prompts[32];
    int32_t lens[32];
    engine_request_params ps[32];
    for (int i = 0; i < 32; i++)
        prompts[i] = PROMPT, lens[i] = 8, ps[i] = p;

    CHECKF(engine_submit_group(e, 21, prompts, lens, ps, r, err, sizeof err) == ENGINE_TOO_MANY,
           "21 sequences: not refused as too many");
    CHECKF(strstr(err, "--max-num-seqs 4") && strstr(err, "--max-waiting 16"), "message: %s", err);
    int accepted = 0;
    for (int i = 0; i < 20; i++)
        accepted += engine_submit(e, PROMPT, 8, &p, &r[accepted], err, sizeof err) == ENGINE_OK;
    CHECKF(accepted == 20, "a burst of 20 single requests: %d accepted", accepted);
    engine_request *extra;
    CHECKF(engine_submit(e, PROMPT, 8, &p, &extra, err, sizeof err) == ENGINE_OVERLOADED,
           "the 21st sequence was not refused as overload");
    for (int i = 0; i < accepted; i++)
        cancel(r[i]);
    wait_idle(e);

    /* 15 queued: a group of 6 is refused whole, a group of 5 fits. */
    for (int i = 0; i < 15; i++)
        CHECKF(engine_submit(e, PROMPT, 8, &p, &r[i], err, sizeof err) == ENGINE_OK, "%s", err);
    engine_request *g[6];
    CHECK(engine_submit_group(e, 6, prompts, lens, ps, g, err, sizeof err) == ENGINE_OVERLOADED);
    engine_stats st;
    engine_get_stats(e, &st);
    CHECKF(st.running + st.waiting <= 15, "a refused group left sequences queued (%d)",
           st.running + st.waiting);
    CHECK(engine_submit_group(e, 5, prompts, lens, ps, g, err, sizeof err) == ENGINE_OK);
    for (int i = 0; i < 15; i++)
        cancel(r[i]);
    for (int i = 0; i < 5; i++)
        cancel(g[i]);
    wait_idle(e);
    engine_stop(e);
}

/* Two running slots; a request of 40 sequences, then a request of one: the small one is admitted
 * in the first free slot, not after the 40. */
static void round_robin(model *m)
{
    char err[512];
    engine_config cfg = {
        .max_num_seqs = 2, .max_batched_tokens = 64, .max_model_len = 128, .num_kv_blocks = 64};
    engine *e = start(m, cfg);
    if (!e) return;
    enum { BIG = 40 };
    engine_request *big[BIG], *small;
    const int32_t *prompts[BIG];
    int32_t lens[BIG];
    engine_request_params ps[BIG];
    for (int i = 0; i < BIG; i++)
        prompts[i] = PROMPT, lens[i] = 8, ps[i] = greedy(100), ps[i].min_tokens = 100;
    CHECK(engine_submit_group(e, BIG, prompts, lens, ps, big, err, sizeof err) == ENGINE_OK);
    /* The engine runs while this thread works: the counts are taken just before the small one is
     * submitted and just after it ends, and every big sequence is 100 tokens long (no early end of
     * sequence), so a test thread descheduled for a while on a loaded machine finds them as they
     * were rather than several big sequences later. */
    engine_stats before, after;
    engine_get_stats(e, &before);
    engine_request_params p = greedy(2);
    CHECK(engine_submit(e, PROMPT, 8, &p, &small, err, sizeof err) == ENGINE_OK);
    CHECK(drain(small) == 2);
    engine_release(small);
    engine_get_stats(e, &after);
    /* At most the two running and two more admitted before the small one finished. */
    CHECKF(before.waiting - after.waiting <= 4,
           "the small request finished after %d more of the big one's sequences were admitted",
           before.waiting - after.waiting);
    for (int i = 0; i < BIG; i++)
        cancel(big[i]);
    wait_idle(e);
    engine_stop(e);
}

/* A cancelled long prefill, cancelled at random moments of its forward: some steps are abandoned
 * between layers, and a request admitted in the same step that shares the cancelled one's prompt
 * blocks still produces its greedy output (its shared blocks were forgotten and recomputed). */
static void abandon(model *m)
{
    char err[512];
    engine_config cfg = {.max_num_seqs = 4, .max_batched_tokens = 256, .max_model_len = 256,
                         .num_kv_blocks = 64};
    engine *e = start(m, cfg);
    if (!e) return;
    enum { LEN = 240 };
    int32_t prompt[LEN];
    engine_stats st = {0};
    int iter = 0;
    unsigned seed = 12345;
    for (; iter < 400 && (iter < 20 || st.abandoned_steps_total < 3); iter++) {
        for (int i = 0; i < LEN; i++) prompt[i] = (iter * 7919 + i * 31) % 440;
        engine_request_params pk = greedy(8), pv = greedy(4);
        engine_request *ref, *victim, *keeper;
        int32_t want[8], got[8], n = 0;
        CHECK(engine_submit(e, prompt, LEN, &pk, &ref, err, sizeof err) == ENGINE_OK);
        engine_event ev;
        while (engine_next(ref, &ev, 60000) == 1)
            if (ev.has_token && n < 8) want[n++] = ev.token.token;
        engine_release(ref);
        engine_reset_prefix_cache(e);
        CHECK(engine_submit(e, prompt, LEN, &pv, &victim, err, sizeof err) == ENGINE_OK);
        CHECK(engine_submit(e, prompt, LEN, &pk, &keeper, err, sizeof err) == ENGINE_OK);
        seed = seed * 1103515245u + 12345u;
        usleep((seed >> 16) % 1500);
        engine_cancel(victim);
        int k = 0;
        while (engine_next(keeper, &ev, 60000) == 1)
            if (ev.has_token && k < 8) got[k++] = ev.token.token;
        engine_release(keeper);
        drain(victim);
        engine_release(victim);
        CHECKF(k == n && n == 8 && !memcmp(want, got, sizeof want),
               "iteration %d: the keeper's output differs after its step was abandoned", iter);
        engine_get_stats(e, &st);
    }
    CHECKF(st.abandoned_steps_total > 0, "no step was abandoned in %d cancellations", iter);
    fprintf(stderr, "abandon: %llu steps abandoned in %d cancellations\n",
            (unsigned long long)st.abandoned_steps_total, iter);
    wait_idle(e);
    engine_get_stats(e, &st);
    CHECK(st.kv_blocks_used == 0);
    engine_stop(e);
}

int main(void)
{
    char dir[1024], err[1024];
    test_source_path("tests/fixtures/qwen3-tiny-f32-untied", dir, sizeof dir);
    bk_backend *be = bk_cpu_create(0, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    model *m = NULL;
#define WITH_MODEL(call)                                                                           \
    do {                                                                                           \
        CHECKF(model_load(&m, dir, be, err, sizeof err) == 0, "%s", err);                          \
        if (m) call;                                                                               \
        model_free(m);                                                                             \
        m = NULL;                                                                                  \
    } while (0)
    WITH_MODEL(capacity(m));
    WITH_MODEL(round_robin(m));
    WITH_MODEL(abandon(m));
    be->ops->destroy(be);
    return test_finish("engine_admission");
}
