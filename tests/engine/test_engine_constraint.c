/* Constrained requests in the engine, with a toy constraint (a token set and a length) standing in
 * for a grammar: constrained outputs keep to their masks and end when the matcher terminates; a
 * trigger token starts the constraint (free before it), a prefix set is allowed for its first
 * tokens, rearm makes it wait for the next trigger, an opener as the first token defers it to the
 * trigger; a failing mask, or a matcher over its limits on a sampled token, ends its request alone
 * (FINISH_ERROR, with an error naming which); unconstrained requests batched
 * with constrained ones give bit-identical tokens and logprobs to a run without them; the sample op
 * and the host sampler agree; preemption keeps the matcher right; every grammar reference the
 * engine took is released. */
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

#define NUM_U 4
#define NUM_C 7
#define MAX_OUT 24
#include "tests/engine/toy_constraint.h"

static uint64_t last_preemptions;

typedef struct output {
    int32_t n;
    int32_t tokens[MAX_OUT];
    float logprob[MAX_OUT];
    int32_t num_top[MAX_OUT];
    int32_t top_ids[MAX_OUT][SAMPLER_MAX_LOGPROBS];
    float top_logprobs[MAX_OUT][SAMPLER_MAX_LOGPROBS];
    finish_reason finish;
    const char *error;
} output;

typedef struct setup {
    const ref_fixture *f;
    engine_request_params p[NUM_U + NUM_C];
    const ref_case *c[NUM_U + NUM_C];
    toy_grammar *g[NUM_C];
    uint32_t prefix[MAX_WORDS];
    int32_t trigger, prefix_token;
    int32_t bias_ids[2];
    float bias_values[2];
    int32_t open_bias_ids[2];
    float open_bias_values[3];
    int32_t c4_bias_ids[2];
    float c4_bias_values[2];
} setup;

static void make_setup(setup *s, const ref_fixture *f)
{
    memset(s, 0, sizeof *s);
    s->f = f;
    int32_t V = f->vocab;
    s->trigger = V - 3;
    s->prefix_token = V - 5;
    s->prefix[s->prefix_token / 32] |= 1u << (s->prefix_token % 32);
    for (int i = 0; i < NUM_U + NUM_C; i++) {
        s->c[i] = &f->cases[i % f->num_cases];
        s->p[i] = (engine_request_params){
            .sampling = {.top_p = 1, .repetition_penalty = 1, .logprobs = -1, .seed = 7 + i},
            .max_tokens = 12 + i};
    }
    /* the unconstrained: greedy with logprobs, seeded top-k, seeded top-p with penalties */
    s->p[0].sampling.logprobs = 4;
    s->p[1].sampling.temperature = 0.9f;
    s->p[1].sampling.top_k = 30;
    s->p[2].sampling.temperature = 1.1f;
    s->p[2].sampling.top_p = 0.9f;
    s->p[2].sampling.presence_penalty = 0.5f;
    s->p[2].sampling.logprobs = 2;
    s->p[3].sampling.temperature = 0.7f;
    s->p[3].sampling.min_p = 0.05f;
    for (int k = 0; k < NUM_C; k++) {
        toy_grammar *g = calloc(1, sizeof *g);
        for (int j = 0; j < 9; j++) {
            int32_t t = (int32_t)((37 * (k + 1) + 101 * j) % (V - 8));
            g->allowed[t / 32] |= 1u << (t % 32);
        }
        g->length = 5 + k;
        s->g[k] = g;
        engine_request_params *p = &s->p[NUM_U + k];
        p->constraint = (engine_constraint){.ops = &toy_ops, .grammar = g, .trigger_token = -1};
    }
    /* C0 greedy with top logprobs; C1 seeded; C2 a trigger forced by logit_bias, then two prefix
     * tokens (also favoured), then the set, again and again (rearm) until max_tokens. */
    s->p[NUM_U + 0].sampling.logprobs = 3;
    s->p[NUM_U + 1].sampling.temperature = 1.0f;
    s->bias_ids[0] = s->trigger;
    s->bias_values[0] = 100.0f;
    s->bias_ids[1] = s->prefix_token;
    s->bias_values[1] = 50.0f;
    engine_request_params *p = &s->p[NUM_U + 2];
    p->max_tokens = 20;
    p->sampling.bias_ids = s->bias_ids;
    p->sampling.bias_values = s->bias_values;
    p->sampling.num_bias = 2;
    p->constraint.trigger_token = s->trigger;
    p->constraint.rearm = true;
    p->constraint.prefix_mask = s->prefix;
    p->constraint.prefix_max = 2;
    s->g[2]->length = 3;
    /* C3: the opener is favoured (the trigger more, but it is masked as a first token), so the
     * constraint waits for the trigger, which comes next;
     * C4: the opener is banned, so the set holds from the first token, and the prefix tokens
     * (favoured) are not allowed there: they belong after the trigger only. */
    s->open_bias_ids[0] = s->prefix_token - 1; /* the opener */
    s->open_bias_values[0] = 60.0f;
    s->open_bias_ids[1] = s->trigger;
    s->open_bias_values[1] = 100.0f;
    s->open_bias_values[2] = -100.0f;
    for (int k = 3; k < 5; k++) {
        p = &s->p[NUM_U + k];
        p->constraint.trigger_token = s->trigger;
        p->constraint.has_open = true;
        p->constraint.open_token = s->open_bias_ids[0];
        p->sampling.bias_ids = s->open_bias_ids;
        p->sampling.bias_values = k == 3 ? s->open_bias_values : s->open_bias_values + 2;
        p->sampling.num_bias = k == 3 ? 2 : 1;
        s->g[k]->length = 4;
    }
    s->c4_bias_ids[0] = s->open_bias_ids[0];
    s->c4_bias_values[0] = -100.0f;
    s->c4_bias_ids[1] = s->prefix_token;
    s->c4_bias_values[1] = 100.0f;
    p = &s->p[NUM_U + 4];
    p->sampling.bias_ids = s->c4_bias_ids;
    p->sampling.bias_values = s->c4_bias_values;
    p->sampling.num_bias = 2;
    p->constraint.prefix_mask = s->prefix;
    p->constraint.prefix_max = 2;
    /* C5: its mask fails after two tokens: it alone ends (FINISH_ERROR), the engine goes on. */
    s->g[5]->fail_at = 2;
    s->g[5]->length = 8;
    /* C6: its matcher goes over its limits on the fourth token: it alone ends (FINISH_ERROR). */
    s->g[6]->limit_at = 3;
    s->g[6]->length = 8;
}

static void read_all(engine_request *r, output *o)
{
    engine_event ev;
    int rc;
    while ((rc = engine_next(r, &ev, 20000)) == 1) {
        if (ev.has_token && o->n < MAX_OUT) {
            int32_t k = o->n++;
            o->tokens[k] = ev.token.token;
            o->logprob[k] = ev.token.logprob;
            o->num_top[k] = ev.token.num_top;
            memcpy(o->top_ids[k], ev.token.top_ids, sizeof o->top_ids[k]);
            memcpy(o->top_logprobs[k], ev.token.top_logprobs, sizeof o->top_logprobs[k]);
        }
        if (ev.finish) o->finish = ev.finish, o->error = ev.error;
    }
    CHECKF(rc == -1, "engine_next timed out");
}

/* Runs requests [0, n) together on a fresh engine; returns constrained steps seen. */
static uint64_t run(const char *dir, bk_backend *be, setup *s, int n, engine_config cfg,
                    output *outs)
{
    char err[512];
    model *m = NULL;
    engine *e = NULL;
    memset(outs, 0, sizeof(output) * (size_t)n);
    if (model_load(&m, dir, be, err, sizeof err) || engine_start(&e, m, &cfg, err, sizeof err)) {
        CHECKF(0, "model/engine start: %s", err);
        if (m) model_free(m);
        return 0;
    }
    engine_request *reqs[NUM_U + NUM_C];
    for (int i = 0; i < n; i++) {
        if (i >= NUM_U) atomic_fetch_add(&s->g[i - NUM_U]->refs, 1);
        CHECKF(engine_submit(e, s->c[i]->prompt, s->c[i]->prompt_len, &s->p[i], &reqs[i], err,
                             sizeof err) == ENGINE_OK,
               "submit %d: %s", i, err);
    }
    for (int i = 0; i < n; i++) {
        read_all(reqs[i], &outs[i]);
        engine_release(reqs[i]);
    }
    engine_stats st;
    engine_get_stats(e, &st);
    last_preemptions = st.preemptions_total;
    engine_stop(e);
    model_free(m);
    for (int k = 0; k < NUM_C; k++)
        CHECKF(atomic_load(&s->g[k]->refs) == 0, "grammar %d: %d references left", k,
               atomic_load(&s->g[k]->refs));
    return st.constrained_steps_total;
}

static void same(const output *a, const output *b, int i, const char *what, bool exact)
{
    CHECKF(a->n == b->n && a->finish == b->finish, "%s, request %d: %d tokens (%d) vs %d (%d)",
           what, i, a->n, a->finish, b->n, b->finish);
    for (int32_t k = 0; k < a->n && k < b->n; k++) {
        CHECKF(a->tokens[k] == b->tokens[k], "%s, request %d token %d: %d vs %d", what, i, k,
               a->tokens[k], b->tokens[k]);
        bool lp = exact ? memcmp(&a->logprob[k], &b->logprob[k], sizeof(float)) == 0
                        : fabsf(a->logprob[k] - b->logprob[k]) <= 1e-6f;
        CHECKF(lp, "%s, request %d token %d: logprob %.9g vs %.9g", what, i, k, a->logprob[k],
               b->logprob[k]);
        CHECKF(a->num_top[k] == b->num_top[k], "%s, request %d token %d: top counts", what, i, k);
        for (int32_t j = 0; j < a->num_top[k] && j < b->num_top[k]; j++)
            CHECKF(a->top_ids[k][j] == b->top_ids[k][j], "%s, request %d token %d top %d", what, i,
                   k, j);
    }
}

static void check_constrained(const setup *s, const output *o, const char *what)
{
    for (int k = 0; k < 2; k++) {
        const output *c = &o[NUM_U + k];
        CHECKF(c->n == s->g[k]->length && c->finish == FINISH_STOP,
               "%s, C%d: %d tokens finish %d, expected %d and a stop", what, k, c->n, c->finish,
               s->g[k]->length);
        for (int32_t t = 0; t < c->n; t++) {
            CHECKF(toy_has(s->g[k], c->tokens[t]), "%s, C%d token %d: %d is not allowed", what, k,
                   t, c->tokens[t]);
            for (int32_t j = 0; j < c->num_top[t]; j++)
                CHECKF(j >= 9 || toy_has(s->g[k], c->top_ids[t][j]) || isinf(c->top_logprobs[t][j]),
                       "%s, C%d token %d: top %d (%d) is masked but finite", what, k, t, j,
                       c->top_ids[t][j]);
        }
    }
    CHECKF(o[NUM_U].num_top[0] == 3, "%s: C0 has %d top logprobs", what, o[NUM_U].num_top[0]);
    /* C2: trigger, two prefix tokens, three of the set; repeated until max_tokens */
    const output *c = &o[NUM_U + 2];
    CHECKF(c->n == 20 && c->finish == FINISH_LENGTH, "%s, C2: %d tokens, finish %d", what, c->n,
           c->finish);
    for (int32_t t = 0; t < c->n; t++) {
        int32_t phase = t % 6;
        bool ok = phase == 0   ? c->tokens[t] == s->trigger
                  : phase <= 2 ? c->tokens[t] == s->prefix_token
                               : toy_has(s->g[2], c->tokens[t]);
        CHECKF(ok, "%s, C2 token %d (phase %d): %d", what, t, phase, c->tokens[t]);
    }
    /* C3: opener, then free (the trigger is favoured), then four of the set and a stop */
    c = &o[NUM_U + 3];
    CHECKF(c->n == 6 && c->finish == FINISH_STOP, "%s, C3: %d tokens, finish %d", what, c->n,
           c->finish);
    CHECKF(c->n == 6 && c->tokens[0] == s->open_bias_ids[0] && c->tokens[1] == s->trigger,
           "%s, C3 starts %d %d", what, c->tokens[0], c->tokens[1]);
    for (int32_t t = 2; t < c->n; t++)
        CHECKF(toy_has(s->g[3], c->tokens[t]), "%s, C3 token %d: %d", what, t, c->tokens[t]);
    /* C5: two tokens of the set, then the failed mask ends it without a token */
    c = &o[NUM_U + 5];
    CHECKF(c->n == 2 && c->finish == FINISH_ERROR, "%s, C5: %d tokens, finish %d", what, c->n,
           c->finish);
    CHECKF(c->error && strstr(c->error, "mask could not be computed"), "%s, C5: error %s", what,
           c->error ? c->error : "(none)");
    /* C6: three tokens of the set, then the matcher's limit ends it, named as such (not as a token
     * outside the constraint) */
    c = &o[NUM_U + 6];
    CHECKF(c->n == 3 && c->finish == FINISH_ERROR, "%s, C6: %d tokens, finish %d", what, c->n,
           c->finish);
    CHECKF(c->error && strstr(c->error, "work or stack limit") && !strstr(c->error, "outside"),
           "%s, C6: error %s", what, c->error ? c->error : "(none)");
    c = &o[NUM_U + 0];
    CHECKF(c->error == NULL, "%s, C0: error %s on a request that did not fail", what,
           c->error ? c->error : "");
    /* C4: the set from the first token, no prefix token before it */
    c = &o[NUM_U + 4];
    CHECKF(c->n == 4 && c->finish == FINISH_STOP, "%s, C4: %d tokens, finish %d", what, c->n,
           c->finish);
    for (int32_t t = 0; t < c->n; t++)
        CHECKF(toy_has(s->g[4], c->tokens[t]), "%s, C4 token %d: %d", what, t, c->tokens[t]);
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
    vocab_words = (f.vocab + 31) / 32;
    if (vocab_words > MAX_WORDS) {
        fprintf(stderr, "fixture vocabulary %d is larger than this test's masks\n", f.vocab);
        return 1;
    }
    bk_backend *be = bk_cpu_create(0, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    setup *s = malloc(sizeof *s);
    make_setup(s, &f);
    output *alone = malloc(sizeof(output) * NUM_U),
           *mixed = malloc(sizeof(output) * (NUM_U + NUM_C)),
           *host = malloc(sizeof(output) * (NUM_U + NUM_C));
    engine_config roomy = {
        .max_num_seqs = 8, .max_batched_tokens = 32, .max_model_len = 128, .num_kv_blocks = 64};
    engine_config tight = roomy;
    tight.num_kv_blocks = 9;
    tight.mask_threads = 1;

    engine_config hcfg = roomy;
    hcfg.host_sampling = true;
    CHECKF(run(dir, be, s, NUM_U + NUM_C, hcfg, host) > 0, "host path: no constrained step");
    check_constrained(s, host, "host sampler");

    run(dir, be, s, NUM_U, roomy, alone);
    CHECKF(run(dir, be, s, NUM_U + NUM_C, roomy, mixed) > 0, "op path: no constrained step");
    check_constrained(s, mixed, "sample op");
    for (int i = 0; i < NUM_U; i++)
        same(&alone[i], &mixed[i], i, "unconstrained alone vs with constrained", true);
    for (int i = 0; i < NUM_U + NUM_C; i++)
        same(&host[i], &mixed[i], i, "host sampler vs sample op", false);

    output *pre = malloc(sizeof(output) * (NUM_U + NUM_C));
    run(dir, be, s, NUM_U + NUM_C, tight, pre);
    CHECKF(last_preemptions > 0, "the tight cache preempted nothing");
    for (int i = 0; i < NUM_U + NUM_C; i++)
        same(&mixed[i], &pre[i], i, "roomy vs preempting", false);

    for (int k = 0; k < NUM_C; k++)
        free(s->g[k]);
    free(s);
    free(alone);
    free(mixed);
    free(host);
    free(pre);
    be->ops->destroy(be);
    ref_fixture_free(&f);
    return test_finish("test_engine_constraint");
}
