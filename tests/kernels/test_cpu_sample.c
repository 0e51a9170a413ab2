/* The CPU sample op against the engine's host sampler (server/engine/sampler.c) on seeded random
 * logits, ties included, over many mixes of temperature, top-k, top-p, min-p, penalties, bias,
 * suppression, constraint masks and logprobs (rows with NaN logits too): token ids must be
 * identical and logprobs within 1e-6; a masked row picks an allowed token, an unmasked row ignores
 * whatever its mask row holds. Also: greedy rows
 * equal the argmax op, the draws follow the softmax, rows do not depend on their batch, and the
 * argument checks. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#include "server/engine/sampler.h"
#include "tests/support/test_support.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float rndf(void)
{
    return (float)rnd() / 4294967296.0f;
}

typedef struct row_case {
    bk_sample_params p;
    int32_t *bias_ids, num_bias;
    float *bias_values;
    int32_t *suppress_ids, num_suppress;
    int32_t *counts; /* [V] in the op's packing */
    uint32_t *mask;  /* the row's mask words; p.masked says whether they apply */
} row_case;

static const float temps[] = {0.0f, 0.3f, 1.0f, 1.7f};
static const int32_t top_ks[] = {0, 1, 2, 7, 50, 1 << 20};
static const float top_ps[] = {1.0f, 0.95f, 0.6f, 0.5f, 0.1f};
static const float min_ps[] = {0.0f, 0.02f, 0.3f};

static void make_case(row_case *c, int32_t V, int idx)
{
    memset(c, 0, sizeof *c);
    c->p.seed = ((uint64_t)rnd() << 32) | rnd();
    c->p.step = rnd() % 1000;
    c->p.temperature = temps[idx % 4];
    c->p.top_k = top_ks[(idx / 4) % 6];
    c->p.top_p = top_ps[(idx / 24) % 5];
    c->p.min_p = min_ps[(idx / 120) % 3];
    c->p.repetition_penalty = 1.0f;
    if (rnd() % 2) {
        c->p.repetition_penalty = 1.0f + rndf();
        c->p.presence_penalty = rndf();
        c->p.frequency_penalty = rndf() * 0.5f;
        c->counts = calloc((size_t)V, sizeof(int32_t));
        for (int k = 0; k < V / 10; k++) {
            int32_t t = (int32_t)(rnd() % (uint32_t)V);
            if (rnd() % 2)
                c->counts[t] |= BK_SAMPLE_IN_PROMPT;
            else
                c->counts[t] += 1 + (int32_t)(rnd() % 3);
        }
    }
    c->p.num_logprobs = (int32_t)(rnd() % 24) - 3; /* -3..20: none, 0, some, 20 */
    if (c->p.num_logprobs < -1) c->p.num_logprobs = -1;
    if (rnd() % 3 == 0) {
        c->num_bias = 5;
        c->bias_ids = malloc(sizeof(int32_t) * 5);
        c->bias_values = malloc(sizeof(float) * 5);
        for (int k = 0; k < 5; k++) {
            c->bias_ids[k] = (int32_t)(k * (V / 5) + (int32_t)(rnd() % (uint32_t)(V / 5)));
            c->bias_values[k] = (rndf() - 0.5f) * 20.0f;
        }
    }
    if (rnd() % 3 == 0) {
        c->num_suppress = 2;
        c->suppress_ids = malloc(sizeof(int32_t) * 2);
        for (int k = 0; k < 2; k++)
            c->suppress_ids[k] = (int32_t)(rnd() % (uint32_t)V);
    }
}

/* Half the rows constrained: one allowed token, a few, or about half of them. Unconstrained rows
 * get random words too, which the op must ignore. */
static void make_mask(row_case *c, int32_t V)
{
    int32_t W = BK_SAMPLE_MASK_WORDS(V);
    c->mask = calloc((size_t)W, sizeof(uint32_t));
    c->p.masked = (int32_t)(rnd() % 2);
    int kind = (int)(rnd() % 3);
    if (!c->p.masked || kind == 2) {
        for (int32_t w = 0; w < W; w++)
            c->mask[w] = rnd() ^ (rnd() << 16);
    } else {
        int n = kind == 0 ? 1 : 2 + (int)(rnd() % 5);
        for (int k = 0; k < n; k++) {
            int32_t t = (int32_t)(rnd() % (uint32_t)V);
            c->mask[t / 32] |= 1u << (t % 32);
        }
    }
    /* at least one allowed token (what a grammar guarantees) */
    int32_t t = (int32_t)(rnd() % (uint32_t)V);
    c->mask[t / 32] |= 1u << (t % 32);
}

static bool allowed(const row_case *c, int32_t t)
{
    return !c->p.masked || (t >= 0 && ((c->mask[t / 32] >> (t % 32)) & 1u));
}

static void free_case(row_case *c)
{
    free(c->mask);
    free(c->bias_ids);
    free(c->bias_values);
    free(c->suppress_ids);
    free(c->counts);
}

/* The host sampler on the same row, its state rebuilt from the op's count packing. */
static sampled_token host_sample(const row_case *c, const float *raw, int32_t V)
{
    sampling_params sp = {
        .temperature = c->p.temperature,
        .top_p = c->p.top_p,
        .top_k = c->p.top_k,
        .min_p = c->p.min_p,
        .presence_penalty = c->p.presence_penalty,
        .frequency_penalty = c->p.frequency_penalty,
        .repetition_penalty = c->p.repetition_penalty,
        .seed = c->p.seed,
        .logprobs = c->p.num_logprobs,
        .bias_ids = c->bias_ids,
        .bias_values = c->bias_values,
        .num_bias = c->num_bias,
        .suppress_ids = c->suppress_ids,
        .num_suppress = c->num_suppress,
        .suppress = c->num_suppress > 0,
        .mask = c->p.masked ? c->mask : NULL,
    };
    sampler_state st;
    CHECK(sampler_state_init(&st, V, NULL, 0) == 0);
    for (int32_t i = 0; c->counts && i < V; i++) {
        st.output_counts[i] = c->counts[i] & (BK_SAMPLE_IN_PROMPT - 1);
        st.in_prompt[i] = (c->counts[i] & BK_SAMPLE_IN_PROMPT) != 0;
    }
    float *l = malloc(sizeof(float) * (size_t)V), *sf = malloc(sizeof(float) * (size_t)V);
    int32_t *si = malloc(sizeof(int32_t) * (size_t)V);
    memcpy(l, raw, sizeof(float) * (size_t)V);
    sampled_token t;
    memset(&t, 0, sizeof t);
    sampler_sample(&sp, &st, l, c->p.step, sf, si, &t);
    free(l);
    free(sf);
    free(si);
    sampler_state_free(&st);
    return t;
}

static void fill_logits(float *l, int32_t V, int kind)
{
    for (int32_t i = 0; i < V; i++) {
        float v = (rndf() - 0.5f) * 12.0f;
        /* kind 1: few distinct values, so ties decide; kind 2: one dominant logit; kind 3: some NaN
         * (a broken model); kind 4: all NaN. */
        if (kind == 1) v = floorf(v);
        if (kind == 4 || (kind == 3 && rnd() % 4 == 0)) v = NAN;
        l[i] = v;
    }
    if (kind == 2) l[rnd() % (uint32_t)V] = 40.0f;
}

static void test_against_host(bk_backend *be, int32_t R, int32_t V, int rounds)
{
    const bk_ops *o = be->ops;
    bk_tensor logits, params, bias, counts, out, lp, ids, mask;
    const int32_t W = BK_SAMPLE_MASK_WORDS(V);
    CHECK(o->tensor_alloc(be, &mask, BK_I32, R, W) == 0);
    uint32_t *hm = malloc(sizeof(uint32_t) * (size_t)R * (size_t)W);
    CHECK(o->tensor_alloc(be, &logits, BK_F32, R, V) == 0);
    CHECK(o->tensor_alloc(be, &params, BK_I32, R, BK_SAMPLE_PARAM_WORDS) == 0);
    CHECK(o->tensor_alloc(be, &bias, BK_F32, R, V) == 0);
    CHECK(o->tensor_alloc(be, &counts, BK_I32, R, V) == 0);
    CHECK(o->tensor_alloc(be, &out, BK_I32, 1, R) == 0);
    CHECK(o->tensor_alloc(be, &lp, BK_F32, R, 1 + BK_SAMPLE_MAX_TOP) == 0);
    CHECK(o->tensor_alloc(be, &ids, BK_I32, R, BK_SAMPLE_MAX_TOP) == 0);
    float *hl = malloc(sizeof(float) * (size_t)R * (size_t)V);
    float *hb = malloc(sizeof(float) * (size_t)R * (size_t)V);
    int32_t *hc = malloc(sizeof(int32_t) * (size_t)R * (size_t)V);
    bk_sample_params *hp = malloc(sizeof(bk_sample_params) * (size_t)R);
    row_case *cases = malloc(sizeof(row_case) * (size_t)R);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)R);
    float *hlp = malloc(sizeof(float) * (size_t)R * (1 + BK_SAMPLE_MAX_TOP));
    int32_t *hids = malloc(sizeof(int32_t) * (size_t)R * BK_SAMPLE_MAX_TOP);
    int mismatches = 0, case_idx = 0;
    for (int round = 0; round < rounds; round++) {
        for (int32_t r = 0; r < R; r++) {
            row_case *c = &cases[r];
            make_case(c, V, case_idx++);
            make_mask(c, V);
            memcpy(hm + (size_t)r * W, c->mask, sizeof(uint32_t) * (size_t)W);
            int kind = (int)(rnd() % 5);
            fill_logits(hl + (size_t)r * V, V, kind);
            if (kind >= 3) c->p.num_logprobs = -1; /* NaN logprobs are compared nowhere */
            float *b = hb + (size_t)r * V;
            for (int32_t i = 0; i < V; i++)
                b[i] = 0.0f;
            for (int32_t k = 0; k < c->num_bias; k++)
                b[c->bias_ids[k]] = c->bias_values[k];
            for (int32_t k = 0; k < c->num_suppress; k++)
                b[c->suppress_ids[k]] = -INFINITY;
            for (int32_t i = 0; i < V; i++)
                hc[(size_t)r * V + i] = c->counts ? c->counts[i] : 0;
            hp[r] = c->p;
        }
        CHECK(o->upload_rows(be, &logits, 0, R, hl) == 0);
        CHECK(o->upload_rows(be, &params, 0, R, hp) == 0);
        CHECK(o->upload_rows(be, &bias, 0, R, hb) == 0);
        CHECK(o->upload_rows(be, &counts, 0, R, hc) == 0);
        CHECK(o->upload_rows(be, &mask, 0, R, hm) == 0);
        CHECK(o->fill_bytes(be, &out, 0xFF) == 0);
        CHECK(o->fill_bytes(be, &lp, 0xFF) == 0);
        CHECK(o->fill_bytes(be, &ids, 0xFF) == 0);
        CHECKF(o->sample(be, &out, &lp, &ids, &logits, &params, &bias, &counts, &mask, R) == 0,
               "sample: %s", o->last_error(be));
        CHECK(o->download_rows(be, &out, 1, tok) == 0);
        CHECK(o->download_rows(be, &lp, R, hlp) == 0);
        CHECK(o->download_rows(be, &ids, R, hids) == 0);
        for (int32_t r = 0; r < R; r++) {
            sampled_token want = host_sample(&cases[r], hl + (size_t)r * V, V);
            /* A row of NaN allowed logits sorts them after the masked -inf (a broken model). */
            bool has_nan = false;
            for (int32_t i = 0; i < V; i++)
                has_nan |= isnan(hl[(size_t)r * V + i]);
            if (!has_nan)
                CHECKF(allowed(&cases[r], tok[r]), "row %d: token %d is masked", r, tok[r]);
            if (tok[r] != want.token) {
                mismatches++;
                CHECKF(0, "row %d (T %.2f k %d p %.2f min_p %.2f): op %d, host %d", r,
                       cases[r].p.temperature, cases[r].p.top_k, cases[r].p.top_p, cases[r].p.min_p,
                       tok[r], want.token);
            }
            if (cases[r].p.num_logprobs >= 0) {
                const float *l = hlp + (size_t)r * (1 + BK_SAMPLE_MAX_TOP);
                const int32_t *ti = hids + (size_t)r * BK_SAMPLE_MAX_TOP;
                CHECKF(fabsf(l[0] - want.logprob) <= 1e-6f, "row %d logprob %g vs %g", r, l[0],
                       want.logprob);
                for (int32_t k = 0; k < want.num_top; k++) {
                    CHECKF(ti[k] == want.top_ids[k], "row %d top %d: id %d vs %d", r, k, ti[k],
                           want.top_ids[k]);
                    /* a masked token among the top ones: -inf on both sides */
                    CHECKF(l[1 + k] == want.top_logprobs[k] ||
                               fabsf(l[1 + k] - want.top_logprobs[k]) <= 1e-6f,
                           "row %d top %d", r, k);
                }
            }
            free_case(&cases[r]);
        }
    }
    CHECKF(mismatches == 0, "%d of %d rows differ from the host sampler", mismatches, R * rounds);
    free(hl);
    free(hb);
    free(hc);
    free(hp);
    free(cases);
    free(tok);
    free(hlp);
    free(hids);
    free(hm);
    bk_tensor *ts[] = {&logits, &params, &bias, &counts, &out, &lp, &ids, &mask};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        o->tensor_free(be, ts[i]);
}

/* One op call on a single row with params only (no bias, counts or logprobs). */
static int32_t sample_one(bk_backend *be, const float *row, int32_t V, const bk_sample_params *p)
{
    const bk_ops *o = be->ops;
    bk_tensor logits, params, out;
    int32_t tok = -1;
    CHECK(o->tensor_from_host(be, &logits, BK_F32, 1, V, row) == 0);
    CHECK(o->tensor_from_host(be, &params, BK_I32, 1, BK_SAMPLE_PARAM_WORDS, p) == 0);
    CHECK(o->tensor_from_host(be, &out, BK_I32, 1, 1, &tok) == 0);
    CHECKF(o->sample(be, &out, NULL, NULL, &logits, &params, NULL, NULL, NULL, 1) == 0,
           "sample: %s", o->last_error(be));
    return tok;
}

/* Temperature 0 is the argmax op's choice; temperature 1 draws follow the softmax; a row's token
 * does not depend on the other rows of its batch. */
static void test_greedy_distribution_batch(bk_backend *be)
{
    const bk_ops *o = be->ops;
    enum { R = 16, V = 300 };
    static float l[R * V];
    static bk_sample_params p[R];
    for (int32_t i = 0; i < R * V; i++)
        l[i] = floorf((rndf() - 0.5f) * 8.0f);
    memset(p, 0, sizeof p);
    bk_tensor logits, params, out, am;
    int32_t got[R], want[R];
    CHECK(o->tensor_from_host(be, &logits, BK_F32, R, V, l) == 0);
    CHECK(o->tensor_from_host(be, &params, BK_I32, R, BK_SAMPLE_PARAM_WORDS, p) == 0);
    CHECK(o->tensor_from_host(be, &out, BK_I32, 1, R, got) == 0);
    CHECK(o->tensor_from_host(be, &am, BK_I32, 1, R, want) == 0);
    CHECK(o->sample(be, &out, NULL, NULL, &logits, &params, NULL, NULL, NULL, R) == 0);
    CHECK(o->argmax(be, &am, &logits, R) == 0);
    for (int r = 0; r < R; r++)
        CHECKF(got[r] == want[r], "greedy row %d: %d vs argmax %d", r, got[r], want[r]);

    for (int r = 0; r < R; r++) {
        p[r].temperature = 0.8f;
        p[r].top_k = r % 3 ? 20 : 0;
        p[r].top_p = r % 2 ? 0.7f : 1.0f;
        p[r].seed = 1000 + (uint64_t)r;
        p[r].step = (uint64_t)r * 7;
    }
    CHECK(o->sample(be, &out, NULL, NULL, &logits, &params, NULL, NULL, NULL, R) == 0);
    for (int r = 0; r < R; r++)
        CHECKF(sample_one(be, l + r * V, V, &p[r]) == got[r], "row %d alone differs from its batch",
               r);

    /* Frequencies over steps against the softmax: 8 logits, 20000 draws. */
    const float dl[8] = {1.0f, 0.5f, -0.5f, 2.0f, 0.0f, 1.5f, -1.0f, 0.25f};
    bk_sample_params dp;
    memset(&dp, 0, sizeof dp);
    dp.temperature = 1.0f;
    dp.top_p = 1.0f;
    dp.seed = 42;
    int hist[8] = {0};
    bk_tensor dlt, dpt, dot;
    static bk_sample_params dps[1000];
    static float dls[1000 * 8];
    int32_t dtok[1000];
    for (int i = 0; i < 1000; i++)
        memcpy(dls + i * 8, dl, sizeof dl);
    CHECK(o->tensor_from_host(be, &dlt, BK_F32, 1000, 8, dls) == 0);
    CHECK(o->tensor_from_host(be, &dpt, BK_I32, 1000, BK_SAMPLE_PARAM_WORDS, dps) == 0);
    CHECK(o->tensor_from_host(be, &dot, BK_I32, 1, 1000, dtok) == 0);
    for (int batch = 0; batch < 20; batch++) {
        for (int i = 0; i < 1000; i++) {
            dps[i] = dp;
            dps[i].step = (uint64_t)(batch * 1000 + i);
        }
        CHECK(o->sample(be, &dot, NULL, NULL, &dlt, &dpt, NULL, NULL, NULL, 1000) == 0);
        for (int i = 0; i < 1000; i++)
            hist[dtok[i]]++;
    }
    double z = 0;
    for (int i = 0; i < 8; i++)
        z += exp(dl[i]);
    for (int i = 0; i < 8; i++) {
        double want_f = exp(dl[i]) / z, got_f = hist[i] / 20000.0;
        double tol = 4 * sqrt(want_f * (1 - want_f) / 20000.0);
        CHECKF(fabs(got_f - want_f) <= tol, "token %d frequency %.4f, softmax %.4f", i, got_f,
               want_f);
    }
}

static void test_errors(bk_backend *be)
{
    const bk_ops *o = be->ops;
    float l[4] = {0};
    int32_t pw[2 * BK_SAMPLE_PARAM_WORDS] = {0}, tok[2];
    bk_tensor logits, params, short_params, out;
    CHECK(o->tensor_from_host(be, &logits, BK_F32, 2, 2, l) == 0);
    CHECK(o->tensor_from_host(be, &params, BK_I32, 2, BK_SAMPLE_PARAM_WORDS, pw) == 0);
    CHECK(o->tensor_from_host(be, &short_params, BK_I32, 2, 4, pw) == 0);
    CHECK(o->tensor_from_host(be, &out, BK_I32, 1, 2, tok) == 0);
    CHECK(o->sample(be, &out, NULL, NULL, &logits, &short_params, NULL, NULL, NULL, 2) == -1);
    CHECKF(strstr(o->last_error(be), "params") != NULL, "message: %s", o->last_error(be));
    CHECK(o->sample(be, &out, NULL, NULL, &logits, &params, NULL, NULL, NULL, 3) == -1);
    CHECK(o->sample(be, &out, &logits, NULL, &logits, &params, NULL, NULL, NULL, 2) == -1);
    CHECKF(strstr(o->last_error(be), "top_ids") != NULL, "message: %s", o->last_error(be));
    CHECK(o->sample(be, &out, NULL, NULL, &logits, &params, &params, NULL, NULL, 2) == -1);
    CHECKF(strstr(o->last_error(be), "bias") != NULL, "message: %s", o->last_error(be));
    /* the mask of a 2-token vocabulary is one word per row, not BK_SAMPLE_PARAM_WORDS */
    CHECK(o->sample(be, &out, NULL, NULL, &logits, &params, NULL, NULL, &params, 2) == -1);
    CHECKF(strstr(o->last_error(be), "mask") != NULL, "message: %s", o->last_error(be));
    CHECK(o->sample(be, &out, NULL, NULL, &logits, &params, NULL, NULL, NULL, 2) == 0);
}

int main(void)
{
    char err[256];
    bk_backend *be = bk_cpu_create(2, 0, err, sizeof err);
    CHECKF(be, "bk_cpu_create: %s", err);
    if (!be) return test_finish("test_cpu_sample");
    test_against_host(be, 64, 1000, 8);
    test_against_host(be, 8, 37, 20);
    test_greedy_distribution_batch(be);
    test_errors(be);
    be->ops->destroy(be);
    return test_finish("test_cpu_sample");
}
