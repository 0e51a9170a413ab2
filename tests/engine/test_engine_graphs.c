/* The engine's decode steps as CUDA graphs, on the CUDA backend (the CPU emulator of
 * tests/cuda_emu, or a real GPU): the same requests give identical tokens and logprobs with graphs
 * on and off, and the greedy ones equal the CPU backend's tokens on the f32 fixture (logprobs
 * within 1e-4: the CUDA backend's logits depend on the batch at ~1e-6, as a chunk of more than 8
 * tokens goes through cuBLASLt instead of the GEMV, and a padded step is a bigger batch); batches
 * change size across buckets as requests join and finish mid-bucket, and under KV pressure
 * sequences are preempted; graphs are really replayed with them on and never with them off; every
 * KV block is free at the end (the trash block of padded rows is not counted), and the cache holds
 * what the config asked for. When every recording fails, the steps run op by op, tokens unchanged.
 * Two requests are constrained (a toy token set, tests/engine/toy_constraint.h): their steps replay
 * the forward's graph and sample after the masks are uploaded, with the same tokens as op by op. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "server/engine/engine.h"
#include "tests/engine/toy_constraint.h"
#include "tests/model/reference_fixture.h"
#include "tests/support/test_support.h"

#define NUM_REQ 7
#define MAX_OUT 40

typedef struct output {
    int32_t n;
    int32_t tokens[MAX_OUT];
    float logprob[MAX_OUT];
    finish_reason finish;
} output;

typedef struct request_set {
    engine_request_params p[NUM_REQ];
    const ref_case *c[NUM_REQ];
    bool greedy[NUM_REQ];
    int32_t bias_id;
    float bias_value;
    toy_grammar *g[2]; /* requests 1 (greedy) and 5 (seeded) */
} request_set;

static void make_requests(request_set *s, const ref_fixture *f)
{
    memset(s, 0, sizeof *s);
    s->bias_id = 3;
    s->bias_value = 2.5f;
    for (int i = 0; i < NUM_REQ; i++) {
        s->c[i] = &f->cases[i % f->num_cases];
        /* Different lengths: requests finish at different steps, mid-bucket. */
        int32_t len = 6 + 5 * i;
        if (len > s->c[i]->greedy_len) len = s->c[i]->greedy_len;
        if (len > MAX_OUT) len = MAX_OUT;
        s->p[i] = (engine_request_params){.sampling = {.temperature = 0,
                                                       .top_p = 1,
                                                       .repetition_penalty = 1,
                                                       .logprobs = -1,
                                                       .seed = 77 + (uint64_t)i},
                                          .max_tokens = len};
        s->greedy[i] = true;
    }
    s->p[0].sampling.logprobs = 3;
    sampling_params *q = &s->p[2].sampling;
    q->temperature = 0.9f;
    q->top_k = 30;
    q->top_p = 0.9f;
    s->greedy[2] = false;
    q = &s->p[4].sampling;
    q->temperature = 1.1f;
    q->frequency_penalty = 0.5f;
    q->bias_ids = &s->bias_id;
    q->bias_values = &s->bias_value;
    q->num_bias = 1;
    q->logprobs = 1;
    s->greedy[4] = false;
    for (int k = 0; k < 2; k++) {
        toy_grammar *g = calloc(1, sizeof *g);
        for (int j = 0; j < 7; j++) {
            int32_t t = (int32_t)((53 * (k + 1) + 97 * j) % (f->vocab - 1));
            g->allowed[t / 32] |= 1u << (t % 32);
        }
        g->length = 1000; /* ends by max_tokens */
        s->g[k] = g;
        engine_request_params *p = &s->p[k == 0 ? 1 : 5];
        p->constraint = (engine_constraint){.ops = &toy_ops, .grammar = g, .trigger_token = -1};
    }
    s->p[5].sampling.temperature = 1.0f;
    s->p[5].sampling.logprobs = 2;
    s->greedy[5] = false;
}

static void read_events(engine_request *r, output *o, int32_t want)
{
    engine_event ev;
    int rc = 0;
    while ((want < 0 || o->n < want) && (rc = engine_next(r, &ev, 120000)) == 1) {
        if (ev.has_token && o->n < MAX_OUT) {
            o->logprob[o->n] = ev.token.logprob;
            o->tokens[o->n++] = ev.token.token;
        }
        if (ev.finish) o->finish = ev.finish;
    }
    if (want < 0) CHECKF(rc == -1, "engine_next timed out");
}

/* Runs the set on a fresh model; staggered: each request joins once the previous one has two
 * tokens. Returns the final stats. */
static engine_stats run_set(const char *dir, bk_backend *be, const request_set *s,
                            engine_config cfg, bool staggered, output *outs)
{
    char err[512];
    model *m = NULL;
    engine *e = NULL;
    engine_stats st = {0};
    memset(outs, 0, sizeof(output) * NUM_REQ);
    int32_t asked_blocks = cfg.num_kv_blocks;
    if (model_load(&m, dir, be, err, sizeof err) || engine_start(&e, m, &cfg, err, sizeof err)) {
        CHECKF(0, "model/engine start: %s", err);
        if (m) model_free(m);
        return st;
    }
    engine_request *reqs[NUM_REQ];
    for (int i = 0; i < NUM_REQ; i++) {
        if (s->p[i].constraint.ops)
            atomic_fetch_add(&((toy_grammar *)s->p[i].constraint.grammar)->refs, 1);
        CHECKF(engine_submit(e, s->c[i]->prompt, s->c[i]->prompt_len, &s->p[i], &reqs[i], err,
                             sizeof err) == ENGINE_OK,
               "submit %d: %s", i, err);
        if (staggered) read_events(reqs[i], &outs[i], 2);
    }
    for (int i = 0; i < NUM_REQ; i++) {
        read_events(reqs[i], &outs[i], -1);
        engine_release(reqs[i]);
    }
    for (int i = 0; i < 1000; i++) {
        engine_get_stats(e, &st);
        if (st.running == 0 && st.waiting == 0) break;
        usleep(2000);
    }
    CHECKF(st.kv_blocks_used == 0, "%d KV blocks still used", st.kv_blocks_used);
    CHECKF(st.kv_blocks_total == asked_blocks, "%d KV blocks for sequences, %d asked for",
           st.kv_blocks_total, asked_blocks);
    engine_stop(e);
    model_free(m);
    return st;
}

static void compare(const request_set *s, const output *a, const output *b, bool greedy_only,
                    const char *what)
{
    for (int i = 0; i < NUM_REQ; i++) {
        if (greedy_only && !s->greedy[i]) continue;
        CHECKF(a[i].n == b[i].n && a[i].finish == b[i].finish, "%s, request %d: %d vs %d tokens",
               what, i, a[i].n, b[i].n);
        CHECKF(a[i].n == 0 || !memcmp(a[i].tokens, b[i].tokens, sizeof(int32_t) * (size_t)a[i].n),
               "%s, request %d: the tokens differ", what, i);
        if (greedy_only) continue;
        for (int32_t k = 0; k < a[i].n && k < b[i].n; k++)
            CHECKF(fabsf(a[i].logprob[k] - b[i].logprob[k]) <=
                       1e-4f * fmaxf(1.0f, fabsf(b[i].logprob[k])),
                   "%s, request %d token %d: logprob %.9g vs %.9g", what, i, k, a[i].logprob[k],
                   b[i].logprob[k]);
    }
}

/* The CUDA backend with recording that always fails: the engine must fall back to op by op. */
static bk_ops failing_ops;
static const bk_ops *real_ops;

static int failing_capture_end(bk_backend *be, bk_graph **out)
{
    if (real_ops->graph_capture_end(be, out) == 0) real_ops->graph_free(be, *out);
    *out = NULL;
    return -1;
}

int main(void)
{
    if (bk_cuda_device_count() < 1) {
        printf("SKIPPED: no CUDA device\n");
        return 77;
    }
    char dir[1024], err[1024];
    test_source_path("tests/fixtures/qwen3-tiny-f32-untied", dir, sizeof dir);
    ref_fixture f;
    if (ref_fixture_load(&f, dir, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    bk_backend *cpu = bk_cpu_create(0, 0, err, sizeof err);
    bk_backend *cuda = cpu ? bk_cuda_create(0, (size_t)256 << 20, err, sizeof err) : NULL;
    if (!cuda) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* An f32 cache, so the greedy tokens can be held to the CPU backend's. */
    cuda->kv_dtype = BK_F32;

    request_set *s = malloc(sizeof *s);
    output *ref = malloc(sizeof(output) * NUM_REQ), *on = malloc(sizeof(output) * NUM_REQ),
           *off = malloc(sizeof(output) * NUM_REQ);
    vocab_words = (f.vocab + 31) / 32;
    make_requests(s, &f);
    engine_config roomy = {
        .max_num_seqs = 8, .max_batched_tokens = 32, .max_model_len = 128, .num_kv_blocks = 64};
    engine_config tight = roomy;
    tight.num_kv_blocks = 10;
    tight.max_num_seqs = 5; /* buckets 1, 2, 4, 5: three sequences run padded to four */
    struct {
        const char *name;
        engine_config cfg;
        bool staggered;
    } modes[] = {{"staggered", roomy, true}, {"preempting", tight, false}};

    run_set(dir, cpu, s, roomy, true, ref);
    for (int k = 0; k < 2; k++) {
        const output *o = &ref[k == 0 ? 1 : 5];
        CHECKF(o->n > 0, "constrained request %d made no token", k == 0 ? 1 : 5);
        for (int32_t t = 0; t < o->n; t++)
            CHECKF(toy_has(s->g[k], o->tokens[t]), "constrained request %d token %d: %d",
                   k == 0 ? 1 : 5, t, o->tokens[t]);
    }
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        engine_config cfg = modes[m].cfg;
        cfg.cuda_graphs = -1;
        engine_stats st_off = run_set(dir, cuda, s, cfg, modes[m].staggered, off);
        CHECKF(st_off.graph_steps_total == 0, "%s: %llu graph steps with graphs off", modes[m].name,
               (unsigned long long)st_off.graph_steps_total);
        cfg.cuda_graphs = 0;
        engine_stats st_on = run_set(dir, cuda, s, cfg, modes[m].staggered, on);
        CHECKF(st_on.graph_steps_total > 0, "%s: no step ran as a graph", modes[m].name);
        if (cfg.num_kv_blocks == tight.num_kv_blocks)
            CHECKF(st_on.preemptions_total > 0 && st_off.preemptions_total > 0,
                   "%s: expected preemptions (%llu on, %llu off)", modes[m].name,
                   (unsigned long long)st_on.preemptions_total,
                   (unsigned long long)st_off.preemptions_total);
        printf("%s: %llu of %llu steps replayed as graphs\n", modes[m].name,
               (unsigned long long)st_on.graph_steps_total, (unsigned long long)st_on.steps_total);
        char what[128];
        snprintf(what, sizeof what, "%s: graphs on vs off", modes[m].name);
        compare(s, on, off, false, what);
        snprintf(what, sizeof what, "%s: cuda vs cpu greedy", modes[m].name);
        compare(s, on, ref, true, what);
        if (m > 0) continue;
        real_ops = cuda->ops;
        failing_ops = *cuda->ops;
        failing_ops.graph_capture_end = failing_capture_end;
        cuda->ops = &failing_ops;
        cfg.cuda_graphs = 0;
        engine_stats st_fail = run_set(dir, cuda, s, cfg, modes[m].staggered, on);
        cuda->ops = real_ops;
        CHECKF(st_fail.graph_steps_total == 0, "%llu graph steps although every recording failed",
               (unsigned long long)st_fail.graph_steps_total);
        snprintf(what, sizeof what, "%s: failed recordings vs graphs off", modes[m].name);
        compare(s, on, off, false, what);
    }
    for (int k = 0; k < 2; k++) {
        CHECKF(atomic_load(&s->g[k]->refs) == 0, "grammar %d: %d references left", k,
               atomic_load(&s->g[k]->refs));
        free(s->g[k]);
    }
    free(s);
    free(ref);
    free(on);
    free(off);
    cuda->ops->destroy(cuda);
    cpu->ops->destroy(cpu);
    ref_fixture_free(&f);
    return test_finish("engine_graphs");
}
