/* The sampler: greedy, temperature sampling matching the softmax distribution, top-k/top-p/min-p cuts,
 * penalties, logit bias, min_tokens suppression, logprobs, and seed determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/engine/sampler.h"
#include "tests/support/test_support.h"

#define V 8
static const float base_logits[V] = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f, 2.5f, 0.0f, 1.5f};

static sampled_token sample(const sampling_params *p, const sampler_state *s, uint64_t step)
{
    float logits[V], sf[V];
    int32_t si[V];
    memcpy(logits, base_logits, sizeof logits);
    sampled_token t;
    sampler_sample(p, s, logits, step, sf, si, &t);
    return t;
}

static sampling_params greedy(void)
{
    return (sampling_params){.temperature = 0, .top_p = 1, .repetition_penalty = 1, .logprobs = -1};
}

static void test_distribution(const sampler_state *s)
{
    /* temperature 1, no cuts: frequencies follow softmax(base_logits). */
    sampling_params p = greedy();
    p.temperature = 1.0f;
    p.seed = 1234;
    int counts[V] = {0}, n = 20000;
    for (int i = 0; i < n; i++) counts[sample(&p, s, (uint64_t)i).token]++;
    double z = 0;
    for (int i = 0; i < V; i++) z += exp(base_logits[i]);
    for (int i = 0; i < V; i++) {
        double want = exp(base_logits[i]) / z, got = (double)counts[i] / n;
        /* 5 standard deviations of a binomial proportion. */
        double tol = 5 * sqrt(want * (1 - want) / n);
        CHECKF(fabs(got - want) <= tol, "token %d frequency %.4f, softmax %.4f (tol %.4f)", i, got,
               want, tol);
    }
}

static void test_cuts(const sampler_state *s)
{
    sampling_params p = greedy();
    p.temperature = 1.0f;
    p.seed = 7;
    p.top_k = 2; /* only tokens 3 and 5 */
    for (int i = 0; i < 500; i++) {
        int32_t t = sample(&p, s, (uint64_t)i).token;
        CHECKF(t == 3 || t == 5, "top_k 2 sampled %d", t);
    }
    p.top_k = 0;
    p.top_p = 0.5f; /* p(3) = 0.41, p(5) = 0.25: the nucleus is {3, 5} */
    for (int i = 0; i < 500; i++) {
        int32_t t = sample(&p, s, (uint64_t)i).token;
        CHECKF(t == 3 || t == 5, "top_p 0.5 sampled %d", t);
    }
    p.top_p = 1;
    p.min_p = 0.5f; /* keeps tokens with p >= 0.5 p(3): 3 (1.0) and 5 (e^-0.5 = 0.61) */
    for (int i = 0; i < 500; i++) {
        int32_t t = sample(&p, s, (uint64_t)i).token;
        CHECKF(t == 3 || t == 5, "min_p 0.5 sampled %d", t);
    }
    p.min_p = 0;
    p.temperature = 1e-4f; /* near-greedy */
    for (int i = 0; i < 100; i++) CHECK(sample(&p, s, (uint64_t)i).token == 3);
}

static void test_processors(void)
{
    sampler_state s;
    int32_t prompt[] = {5};
    CHECK(sampler_state_init(&s, V, prompt, 1) == 0);
    sampling_params p = greedy();
    CHECK(sample(&p, &s, 0).token == 3);

    /* logit bias decides. */
    int32_t ids[] = {4};
    float vals[] = {10.0f};
    p.bias_ids = ids;
    p.bias_values = vals;
    p.num_bias = 1;
    CHECK(sample(&p, &s, 0).token == 4);
    p.num_bias = 0;

    /* presence/frequency act on generated tokens: after 3 was generated twice, 5 wins. */
    sampler_state_record(&s, 3);
    sampler_state_record(&s, 3);
    p.frequency_penalty = 0.3f; /* 3.0 - 0.6 = 2.4 < 2.5 */
    CHECK(sample(&p, &s, 0).token == 5);
    p.frequency_penalty = 0;
    p.presence_penalty = 0.4f; /* 3.0 - 0.4 = 2.6 > 2.5 */
    CHECK(sample(&p, &s, 0).token == 3);
    p.presence_penalty = 0;

    /* repetition penalty divides positive logits of prompt and generated tokens: 3 -> 1.5, 5 -> 1.25;
     * then 1 (2.0) wins. */
    p.repetition_penalty = 2.0f;
    CHECK(sample(&p, &s, 0).token == 1);
    p.repetition_penalty = 1;

    /* suppression (min_tokens) masks stop tokens. */
    int32_t stop[] = {3};
    p.suppress_ids = stop;
    p.num_suppress = 1;
    p.suppress = true;
    CHECK(sample(&p, &s, 0).token == 5);
    p.suppress = false;
    CHECK(sample(&p, &s, 0).token == 3);

    /* logprobs are the raw log-softmax, top list sorted. */
    p.logprobs = 3;
    sampled_token t = sample(&p, &s, 0);
    double z = 0;
    for (int i = 0; i < V; i++) z += exp(base_logits[i]);
    CHECK(fabs(t.logprob - (base_logits[3] - log(z))) < 1e-5);
    CHECK(t.num_top == 3 && t.top_ids[0] == 3 && t.top_ids[1] == 5 && t.top_ids[2] == 1);
    CHECK(t.top_logprobs[0] >= t.top_logprobs[1] && t.top_logprobs[1] >= t.top_logprobs[2]);
    CHECK(fabs(t.top_logprobs[1] - (base_logits[5] - log(z))) < 1e-5);
    sampler_state_free(&s);
}

static void test_philox(void)
{
    double sum = 0;
    int distinct = 0;
    double prev = -1;
    for (uint64_t i = 0; i < 10000; i++) {
        double u = sampler_uniform(99, i);
        CHECK(u >= 0 && u < 1);
        sum += u;
        distinct += u != prev;
        prev = u;
        CHECK(u == sampler_uniform(99, i));
    }
    CHECKF(fabs(sum / 10000 - 0.5) < 0.02, "mean %.4f", sum / 10000);
    CHECK(distinct == 10000);
    CHECK(sampler_uniform(1, 0) != sampler_uniform(2, 0));
}

int main(void)
{
    sampler_state s;
    CHECK(sampler_state_init(&s, V, NULL, 0) == 0);
    test_distribution(&s);
    test_cuts(&s);
    sampler_state_free(&s);
    test_processors();
    test_philox();
    return test_finish("sampler");
}
