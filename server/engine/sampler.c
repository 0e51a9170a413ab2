#include "server/engine/sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3") ---- */

static void philox_round(uint32_t ctr[4], const uint32_t key[2])
{
    uint64_t p0 = (uint64_t)0xD2511F53u * ctr[0], p1 = (uint64_t)0xCD9E8D57u * ctr[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ ctr[1] ^ key[0], n2 = hi0 ^ ctr[3] ^ key[1];
    ctr[0] = n0;
    ctr[1] = lo1;
    ctr[2] = n2;
    ctr[3] = lo0;
}

double sampler_uniform(uint64_t seed, uint64_t step)
{
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)step, (uint32_t)(step >> 32), 0, 0};
    for (int r = 0; r < 10; r++) {
        philox_round(ctr, key);
        key[0] += 0x9E3779B9u;
        key[1] += 0xBB67AE85u;
    }
    /* 53 random bits -> [0, 1) */
    uint64_t bits = ((uint64_t)ctr[0] << 21) ^ ((uint64_t)ctr[1] >> 11);
    return (double)(bits & ((1ull << 53) - 1)) / (double)(1ull << 53);
}

/* ---- state ---- */

int sampler_state_init(sampler_state *s, int32_t vocab, const int32_t *prompt, int32_t prompt_len)
{
    s->vocab = vocab;
    s->output_counts = calloc((size_t)vocab, sizeof(int32_t));
    s->in_prompt = calloc((size_t)vocab, 1);
    if (!s->output_counts || !s->in_prompt) {
        sampler_state_free(s);
        return -1;
    }
    for (int32_t i = 0; i < prompt_len; i++)
        if (prompt[i] >= 0 && prompt[i] < vocab) s->in_prompt[prompt[i]] = 1;
    return 0;
}

void sampler_state_free(sampler_state *s)
{
    free(s->output_counts);
    free(s->in_prompt);
    s->output_counts = NULL;
    s->in_prompt = NULL;
}

void sampler_state_record(sampler_state *s, int32_t token)
{
    if (token >= 0 && token < s->vocab) s->output_counts[token]++;
}

/* ---- sampling ---- */

static void raw_logprobs(const sampling_params *p, const float *logits, int32_t vocab,
                         sampled_token *out)
{
    double max = -INFINITY, sum = 0;
    for (int32_t i = 0; i < vocab; i++)
        if (logits[i] > max) max = logits[i];
    for (int32_t i = 0; i < vocab; i++) sum += exp((double)logits[i] - max);
    double lse = max + log(sum);
    out->logprob = (float)((double)logits[out->token] - lse);
    out->num_top = p->logprobs > SAMPLER_MAX_LOGPROBS ? SAMPLER_MAX_LOGPROBS : p->logprobs;
    /* Insertion into a small sorted list: n ≤ 20, one pass over the vocabulary. */
    int32_t n = 0;
    for (int32_t i = 0; i < vocab && out->num_top > 0; i++) {
        float v = logits[i];
        if (n == out->num_top && v <= logits[out->top_ids[n - 1]]) continue;
        int32_t j = n < out->num_top ? n++ : n - 1;
        while (j > 0 && logits[out->top_ids[j - 1]] < v) {
            out->top_ids[j] = out->top_ids[j - 1];
            j--;
        }
        out->top_ids[j] = i;
    }
    for (int32_t k = 0; k < out->num_top; k++)
        out->top_logprobs[k] = (float)((double)logits[out->top_ids[k]] - lse);
}

static int32_t argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int cmp_desc(const void *a, const void *b, void *ctx)
{
    const float *v = ctx;
    float x = v[*(const int32_t *)a], y = v[*(const int32_t *)b];
    if (x != y) return x > y ? -1 : 1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

void sampler_sample(const sampling_params *p, const sampler_state *s, float *logits, uint64_t step,
                    float *scratch_f, int32_t *scratch_i, sampled_token *out)
{
    int32_t V = s->vocab;
    bool want_logprobs = p->logprobs >= 0;
    if (want_logprobs) memcpy(scratch_f, logits, sizeof(float) * (size_t)V);

    for (int32_t i = 0; i < p->num_bias; i++)
        if (p->bias_ids[i] >= 0 && p->bias_ids[i] < V) logits[p->bias_ids[i]] += p->bias_values[i];
    if (p->repetition_penalty != 1.0f || p->presence_penalty != 0 || p->frequency_penalty != 0) {
        for (int32_t i = 0; i < V; i++) {
            int32_t c = s->output_counts[i];
            if (p->repetition_penalty != 1.0f && (c || s->in_prompt[i]))
                logits[i] = logits[i] > 0 ? logits[i] / p->repetition_penalty
                                          : logits[i] * p->repetition_penalty;
            if (c) logits[i] -= p->presence_penalty + p->frequency_penalty * (float)c;
        }
    }
    if (p->suppress)
        for (int32_t i = 0; i < p->num_suppress; i++)
            if (p->suppress_ids[i] >= 0 && p->suppress_ids[i] < V) logits[p->suppress_ids[i]] = -INFINITY;

    if (p->temperature <= 0.0f) {
        out->token = argmax(logits, V);
    } else {
        /* Candidates sorted by logit; top-k, then min-p and top-p on the tempered softmax. */
        int32_t n = V;
        for (int32_t i = 0; i < V; i++) {
            logits[i] /= p->temperature;
            scratch_i[i] = i;
        }
        qsort_r(scratch_i, (size_t)V, sizeof(int32_t), cmp_desc, logits);
        if (p->top_k > 0 && p->top_k < n) n = p->top_k;
        double max = logits[scratch_i[0]], sum = 0;
        double *prob = malloc(sizeof(double) * (size_t)n);
        for (int32_t i = 0; i < n; i++) sum += prob[i] = exp((double)logits[scratch_i[i]] - max);
        if (p->min_p > 0) {
            double floor = p->min_p * prob[0];
            int32_t keep = 1;
            while (keep < n && prob[keep] >= floor) keep++;
            for (int32_t i = keep; i < n; i++) sum -= prob[i];
            n = keep;
        }
        if (p->top_p < 1.0f) {
            double acc = 0, limit = p->top_p * sum;
            int32_t keep = 0;
            while (keep < n && (keep == 0 || acc < limit)) acc += prob[keep++];
            n = keep;
            sum = acc;
        }
        double u = sampler_uniform(p->seed, step) * sum, acc = 0;
        int32_t pick = n - 1;
        for (int32_t i = 0; i < n; i++) {
            acc += prob[i];
            if (u < acc) {
                pick = i;
                break;
            }
        }
        out->token = scratch_i[pick];
        free(prob);
    }
    out->num_top = 0;
    out->logprob = 0;
    if (want_logprobs) raw_logprobs(p, scratch_f, V, out);
}
