/* Automatic prefix caching. The index alone: exact matches only (a forced key collision never
 * returns a block of other content, nor a child of an evicted and reused parent), eviction least
 * recently freed and leaves first, reset. Then the engine on the CPU backend with the tiny Qwen3
 * fixture: greedy and seeded outputs are identical with caching on and off over a multi-turn
 * conversation, a shared system prompt, n = 4 choices, preemption under a tiny pool and eviction,
 * with cached_tokens reported and every block free or cached (never leaked) at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/cpu_backend.h"
#include "server/engine/engine.h"
#include "server/engine/prefix_cache.h"
#include "tests/support/test_support.h"

#define B BK_KV_BLOCK

static uint64_t constant_hash(uint64_t parent, const int32_t *tokens, int32_t n)
{
    (void)parent;
    (void)tokens;
    (void)n;
    return 7;
}

/* ---- the index alone ---- */

static void fill(int32_t *t, int32_t n, int32_t seed)
{
    for (int32_t i = 0; i < n; i++)
        t[i] = (seed * 131 + i * 17) % 400;
}

static void index_exact(prefix_cache_hash_fn hash, const char *what)
{
    char err[256];
    kvb_pool pool;
    prefix_cache pc;
    CHECK(kvb_pool_init(&pool, 8, err, sizeof err) == 0);
    CHECK(prefix_cache_init(&pc, &pool, err, sizeof err) == 0);
    prefix_cache_set_hash(&pc, hash);
    /* a = X Y, b = X Z: same first block, different second. */
    int32_t a[3 * B], b[3 * B], c[3 * B], found[3];
    fill(a, 3 * B, 1);
    memcpy(b, a, sizeof b);
    fill(b + B, 2 * B, 2);
    kvb_table ta = {0}, tb = {0};
    int32_t ia = 0, ib = 0;
    CHECK(kvb_table_reserve(&pool, &ta, 2 * B) == 0);
    prefix_cache_commit(&pc, &ta, a, 2 * B, &ia);
    CHECKF(ia == 2 && pc.num_indexed == 2, "%s: indexed %d", what, ia);
    CHECK(prefix_cache_match(&pc, b, 3 * B, found) == 1 && found[0] == ta.blocks[0]);
    kvb_table view = {.blocks = found, .num_blocks = 1, .capacity = 1};
    CHECK(kvb_table_share(&pool, &tb, &view, 1) == 0 && kvb_table_reserve(&pool, &tb, 2 * B) == 0);
    ib = 1;
    prefix_cache_commit(&pc, &tb, b, 2 * B, &ib);
    CHECK(ib == 2 && pool.refcount[ta.blocks[0]] == 2);
    /* Each sequence finds its own second block, whatever the keys. */
    CHECKF(prefix_cache_match(&pc, a, 3 * B, found) == 2 && found[1] == ta.blocks[1],
           "%s: a's second block", what);
    CHECKF(prefix_cache_match(&pc, b, 3 * B, found) == 2 && found[1] == tb.blocks[1],
           "%s: b's second block", what);
    /* Other content in the first block: nothing. */
    fill(c, 3 * B, 3);
    CHECKF(prefix_cache_match(&pc, c, 3 * B, found) == 0, "%s: other content matched", what);
    /* Fewer tokens than a block: nothing. */
    CHECK(prefix_cache_match(&pc, a, B - 1, found) == 0);

    /* Freed: a's blocks, then b's; the leaves are evicted first, the shared root last. */
    kvb_table_release(&pool, &ta);
    kvb_table_release(&pool, &tb);
    int32_t y = ta.blocks[1], z = tb.blocks[1], root = ta.blocks[0];
    CHECKF(pool.num_evictable == 3 && pool.num_free == 5, "%s: %d evictable, %d free", what,
           pool.num_evictable, pool.num_free);
    CHECKF(pool.lru_head == y && pool.lru_tail == root, "%s: eviction order", what);
    /* Used again, the leaves move behind the root: reserving past the free blocks evicts it. */
    int32_t leaves[2] = {y, z};
    for (int i = 0; i < 2; i++) {
        kvb_table v = {.blocks = &leaves[i], .num_blocks = 1, .capacity = 1}, t = {0};
        CHECK(kvb_table_share(&pool, &t, &v, 1) == 0);
        kvb_table_release(&pool, &t);
        kvb_table_free(&t);
    }
    kvb_table tc = {0};
    CHECK(kvb_table_reserve(&pool, &tc, 6 * B) == 0);
    CHECKF(tc.blocks[5] == root && pc.num_indexed == 2, "%s: evicted %d, expected the root %d",
           what, tc.blocks[5], root);
    CHECK(prefix_cache_match(&pc, a, 3 * B, found) == 0);
    /* The root's id now holds other content, followed by a's second block's tokens: a's old child
     * is still indexed, but it names its parent by content id, so it is not found through it. */
    int32_t c2[2 * B];
    fill(c2, B, 4);
    memcpy(c2 + B, a + B, sizeof(int32_t) * B);
    kvb_table vroot = {.blocks = &tc.blocks[5], .num_blocks = 1, .capacity = 1};
    int32_t ic = 0;
    prefix_cache_commit(&pc, &vroot, c2, B, &ic);
    CHECKF(prefix_cache_match(&pc, c2, 2 * B, found) == 1 && found[0] == root,
           "%s: a child of the evicted root was found under new content", what);
    CHECK(prefix_cache_match(&pc, c, 3 * B, found) == 0);

    /* Reset: unheld blocks become free, and nothing is found. */
    kvb_table_release(&pool, &tc);
    CHECK(pool.num_evictable == 3);
    prefix_cache_reset(&pc);
    CHECK(pc.num_indexed == 0 && pool.num_evictable == 0 && pool.num_free == 8);
    CHECK(prefix_cache_match(&pc, c2, 2 * B, found) == 0);
    kvb_table_free(&ta);
    kvb_table_free(&tb);
    kvb_table_free(&tc);
    prefix_cache_free(&pc);
    kvb_pool_free(&pool);
}

/* ---- the engine ---- */

typedef struct run_out {
    int32_t tokens[64];
    int32_t n, cached;
} run_out;

static engine *start(model *m, engine_config cfg)
{
    char err[512];
    engine *e = NULL;
    CHECKF(engine_start(&e, m, &cfg, err, sizeof err) == 0, "engine_start: %s", err);
    return e;
}

static engine_request_params params(int32_t max_tokens, uint64_t seed)
{
    engine_request_params p = {.max_tokens = max_tokens};
    p.sampling = (sampling_params){.temperature = seed ? 1.0f : 0.0f,
                                   .top_p = 1,
                                   .repetition_penalty = 1,
                                   .logprobs = -1,
                                   .seed = seed};
    return p;
}

static engine_request *submit(engine *e, const int32_t *prompt, int32_t len, int32_t max_tokens,
                              uint64_t seed)
{
    char err[512];
    engine_request *r = NULL;
    engine_request_params p = params(max_tokens, seed);
    CHECKF(engine_submit(e, prompt, len, &p, &r, err, sizeof err) == ENGINE_OK, "submit: %s", err);
    return r;
}

static void drain(engine_request *r, run_out *o)
{
    memset(o, 0, sizeof *o);
    engine_event ev;
    int rc;
    while ((rc = engine_next(r, &ev, 20000)) == 1) {
        if (ev.has_token && o->n < 64) o->tokens[o->n++] = ev.token.token;
        o->cached = ev.cached_tokens;
    }
    CHECKF(rc == -1, "engine_next timed out");
    engine_release(r);
}

/* The engine ends idle with every block free or cached: none held. */
static void end_idle(engine *e, const char *what)
{
    engine_stats st;
    for (int i = 0; i < 1000; i++) {
        engine_get_stats(e, &st);
        if (st.running == 0 && st.waiting == 0 && st.kv_blocks_used == 0) break;
        usleep(2000);
    }
    CHECKF(st.kv_blocks_used == 0 && st.running == 0 && st.waiting == 0, "%s: %d blocks still held",
           what, st.kv_blocks_used);
    CHECKF(st.prefix_cache_blocks <= st.kv_blocks_total, "%s: %d cached of %d", what,
           st.prefix_cache_blocks, st.kv_blocks_total);
    engine_reset_prefix_cache(e);
    engine_get_stats(e, &st);
    CHECKF(st.prefix_cache_blocks == 0 && st.kv_blocks_used == 0, "%s: after reset %d cached", what,
           st.prefix_cache_blocks);
}

#define MAX_RUNS 16

typedef struct scenario_out {
    run_out runs[MAX_RUNS];
    int32_t num_runs;
    int32_t prompt_len[MAX_RUNS];
    uint64_t preemptions, hits;
} scenario_out;

/* Six turns: each prompt is the previous one, its answer and a new user message. */
static void multi_turn(engine *e, scenario_out *s)
{
    int32_t conv[256], len = 27;
    fill(conv, len, 11);
    for (int t = 0; t < 6; t++) {
        s->prompt_len[t] = len;
        drain(submit(e, conv, len, 12, t % 2 ? 0 : 77 + (uint64_t)t), &s->runs[t]);
        memcpy(conv + len, s->runs[t].tokens, sizeof(int32_t) * (size_t)s->runs[t].n);
        len += s->runs[t].n;
        fill(conv + len, 5, 20 + t);
        len += 5;
    }
    s->num_runs = 6;
}

/* Six requests at once: a 48-token system prompt, then each its own question; seeded. */
static void shared_system(engine *e, scenario_out *s)
{
    int32_t prompts[6][64];
    engine_request *r[6];
    for (int i = 0; i < 6; i++) {
        fill(prompts[i], 48, 5);
        fill(prompts[i] + 48, 5 + i, 30 + i);
        s->prompt_len[i] = 53 + i;
        r[i] = submit(e, prompts[i], 53 + i, 16, 100 + (uint64_t)i);
    }
    for (int i = 0; i < 6; i++)
        drain(r[i], &s->runs[i]);
    s->num_runs = 6;
}

/* n = 4: one prompt, four seeded choices submitted together, as the server does. */
static void four_choices(engine *e, scenario_out *s)
{
    int32_t prompt[37];
    fill(prompt, 37, 9);
    engine_request *r[4];
    for (int i = 0; i < 4; i++)
        r[i] = submit(e, prompt, 37, 20, 500 + (uint64_t)i);
    for (int i = 0; i < 4; i++)
        drain(r[i], &s->runs[i]), s->prompt_len[i] = 37;
    s->num_runs = 4;
}

/* Eight greedy requests sharing a prefix in a pool that holds about two: constant preemption. */
static void preemption(engine *e, scenario_out *s)
{
    int32_t prompts[8][64];
    engine_request *r[8];
    for (int i = 0; i < 8; i++) {
        fill(prompts[i], 40, 3);
        fill(prompts[i] + 40, 8, 40 + i);
        s->prompt_len[i] = 48;
        r[i] = submit(e, prompts[i], 48, 40, i % 3 ? 0 : 900 + (uint64_t)i);
    }
    for (int i = 0; i < 8; i++)
        drain(r[i], &s->runs[i]);
    s->num_runs = 8;
}

/* One after another in a 12-block pool: A, three others that push A's blocks out, A, A again. */
static void eviction(engine *e, scenario_out *s)
{
    int32_t a[64], other[64];
    fill(a, 64, 60);
    int k = 0;
    drain(submit(e, a, 64, 16, 0), &s->runs[k++]);
    for (int i = 0; i < 3; i++) {
        fill(other, 64, 61 + i);
        drain(submit(e, other, 64, 16, 0), &s->runs[k++]);
    }
    drain(submit(e, a, 64, 16, 0), &s->runs[k++]);
    drain(submit(e, a, 64, 16, 0), &s->runs[k++]);
    for (int i = 0; i < k; i++)
        s->prompt_len[i] = 64;
    s->num_runs = k;
}

typedef void (*scenario_fn)(engine *e, scenario_out *s);

static void run_scenario(const char *dir, bk_backend *be, engine_config cfg, scenario_fn fn,
                         scenario_out *s)
{
    char err[512];
    model *m = NULL;
    memset(s, 0, sizeof *s);
    if (model_load(&m, dir, be, err, sizeof err)) {
        CHECKF(0, "%s", err);
        return;
    }
    engine *e = start(m, cfg);
    if (e) {
        fn(e, s);
        engine_stats st;
        engine_get_stats(e, &st);
        s->preemptions = st.preemptions_total;
        s->hits = st.prefix_cache_hits_total;
        end_idle(e, "scenario");
        engine_stop(e);
    }
    model_free(m);
}

/* Runs fn with caching off, on, and on with every key colliding: same tokens each time. */
static void compare(const char *dir, bk_backend *be, engine_config cfg, scenario_fn fn,
                    const char *what, scenario_out *on)
{
    scenario_out off, collide;
    engine_config c = cfg;
    c.prefix_caching = -1;
    run_scenario(dir, be, c, fn, &off);
    c.prefix_caching = 0;
    run_scenario(dir, be, c, fn, on);
    c.prefix_cache_hash = constant_hash;
    run_scenario(dir, be, c, fn, &collide);
    CHECKF(off.num_runs == on->num_runs && off.num_runs > 0, "%s: runs", what);
    for (int i = 0; i < off.num_runs; i++) {
        CHECKF(off.runs[i].n == on->runs[i].n && off.runs[i].n > 0 &&
                   !memcmp(off.runs[i].tokens, on->runs[i].tokens,
                           sizeof(int32_t) * (size_t)off.runs[i].n),
               "%s: run %d differs with caching on", what, i);
        CHECKF(off.runs[i].n == collide.runs[i].n &&
                   !memcmp(off.runs[i].tokens, collide.runs[i].tokens,
                           sizeof(int32_t) * (size_t)off.runs[i].n),
               "%s: run %d differs with colliding keys", what, i);
        CHECKF(off.runs[i].cached == 0, "%s: run %d cached %d with caching off", what, i,
               off.runs[i].cached);
    }
    CHECKF(off.hits == 0 && on->hits > 0 && collide.hits == on->hits,
           "%s: hits off %llu, on %llu, colliding %llu", what, (unsigned long long)off.hits,
           (unsigned long long)on->hits, (unsigned long long)collide.hits);
}

int main(void)
{
    index_exact(NULL, "default keys");
    index_exact(constant_hash, "colliding keys");

    char dir[1024], err[1024];
    test_source_path("tests/fixtures/qwen3-tiny-f32-untied", dir, sizeof dir);
    bk_backend *be = bk_cpu_create(0, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    scenario_out on;
    engine_config roomy = {
        .max_num_seqs = 8, .max_batched_tokens = 64, .max_model_len = 256, .num_kv_blocks = 96};

    compare(dir, be, roomy, multi_turn, "multi-turn", &on);
    for (int t = 1; t < on.num_runs; t++)
        CHECKF(on.runs[t].cached >= on.prompt_len[t - 1] / B * B,
               "multi-turn: turn %d cached %d, previous prompt %d", t + 1, on.runs[t].cached,
               on.prompt_len[t - 1]);

    engine_config chunked = roomy;
    chunked.max_batched_tokens = 24;
    compare(dir, be, chunked, shared_system, "shared system prompt, chunked", &on);
    for (int i = 1; i < 6; i++)
        CHECKF(on.runs[i].cached == 48, "shared system prompt: request %d cached %d", i,
               on.runs[i].cached);

    compare(dir, be, roomy, four_choices, "n = 4", &on);
    CHECKF(on.runs[0].cached == 0, "n = 4: the first choice cached %d", on.runs[0].cached);
    for (int i = 1; i < 4; i++)
        CHECKF(on.runs[i].cached == 32, "n = 4: choice %d cached %d of its 37 (expected 32)", i,
               on.runs[i].cached);

    engine_config tight = {
        .max_num_seqs = 8, .max_batched_tokens = 32, .max_model_len = 96, .num_kv_blocks = 8};
    compare(dir, be, tight, preemption, "preemption", &on);
    CHECKF(on.preemptions > 0, "preemption: none happened");

    engine_config small = {
        .max_num_seqs = 4, .max_batched_tokens = 64, .max_model_len = 128, .num_kv_blocks = 12};
    compare(dir, be, small, eviction, "eviction", &on);
    CHECKF(on.runs[4].cached == 0 && on.runs[5].cached == 48,
           "eviction: A again cached %d (expected 0, evicted), then %d (expected 48)",
           on.runs[4].cached, on.runs[5].cached);

    be->ops->destroy(be);
    return test_finish("prefix_cache");
}
