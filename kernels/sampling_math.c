#include "kernels/sampling_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SM_FN
#include "kernels/sampling_math_scalar.h"

/* sm_choose sorts the order-preserving integers of the tempered logits (sm_ord) stored in place of
 * them: a comparison is then two integer loads, as fast as comparing floats, in the key order. */
static uint32_t ord_at(const float *x, int32_t i)
{
    uint32_t o;
    memcpy(&o, &x[i], sizeof o);
    return o;
}

/* The float an sm_ord value came from (-0 comes back as +0 and NaN as a NaN: same weights). */
static float ord_value(const float *x, int32_t i)
{
    uint32_t o = ord_at(x, i), b = (o & 0x80000000u) ? (o & 0x7FFFFFFFu) : ~o;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static int cmp_key_desc(const void *a, const void *b, void *ctx)
{
    const float *x = ctx;
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    uint32_t oi = ord_at(x, i), oj = ord_at(x, j);
    if (oi != oj) return oi > oj ? -1 : 1;
    return i < j ? -1 : 1;
}

int32_t sm_choose(float *x, int32_t V, float temperature, int32_t top_k, float top_p, float min_p,
                  double u, int32_t *order)
{
    if (temperature <= 0.0f) {
        int32_t best = 0;
        for (int32_t i = 1; i < V; i++)
            if (x[i] > x[best]) best = i;
        return best;
    }
    for (int32_t i = 0; i < V; i++) {
        uint32_t o = sm_ord(sm_temper(x[i], temperature));
        memcpy(&x[i], &o, sizeof o);
        order[i] = i;
    }
    qsort_r(order, (size_t)V, sizeof(int32_t), cmp_key_desc, x);
    int32_t n = top_k > 0 && top_k < V ? top_k : V;
    float max = ord_value(x, order[0]);
    if (min_p > 0) {
        int32_t keep = 1;
        for (int32_t i = 1; i < n; i++)
            if (sm_min_p_keeps(sm_weight(ord_value(x, order[i]), max), min_p))
                order[keep++] = order[i];
        n = keep;
    }
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++)
        total += sm_weight(ord_value(x, order[i]), max);
    if (top_p < 1.0f) {
        uint64_t limit = sm_top_p_limit(top_p, total), acc = 0;
        int32_t keep = 0;
        while (keep < n && acc < limit)
            acc += sm_weight(ord_value(x, order[keep++]), max);
        n = keep;
        total = acc;
    }
    uint64_t target = sm_draw_target(u, total), acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += sm_weight(ord_value(x, order[i]), max);
        if (acc > target) return order[i];
    }
    return order[n - 1];
}

/* One sm_search over the row; w NULL weighs every candidate 1. */
static sm_search search_row(const uint64_t *keys, const uint64_t *w, int32_t V, uint64_t floor,
                            uint64_t target)
{
    sm_search s = {0, 0, 0};
    unsigned long long hist[256];
    for (int shift = 56; shift >= 0; shift -= 8) {
        memset(hist, 0, sizeof hist);
        for (int32_t i = 0; i < V; i++) {
            uint64_t wi = w ? w[i] : 1;
            if (wi && keys[i] >= floor && sm_search_match(&s, keys[i], shift))
                hist[(keys[i] >> shift) & 255] += wi;
        }
        sm_search_pick(&s, hist, shift, target);
    }
    return s;
}

int32_t sm_choose_radix(float *x, int32_t V, float temperature, int32_t top_k, float top_p,
                        float min_p, double u, uint64_t *keys, uint64_t *weights)
{
    if (temperature <= 0.0f) return sm_choose(x, V, temperature, top_k, top_p, min_p, u, NULL);
    sm_cut c = {temperature, 0.0f, min_p, 0, 0, 0};
    for (int32_t i = 0; i < V; i++) {
        x[i] = sm_temper(x[i], temperature);
        keys[i] = sm_key(x[i], i);
        if (keys[i] > c.kmax) c.kmax = keys[i];
    }
    c.xmax = x[sm_key_index(c.kmax)];
    uint64_t floor = 0;
    if (top_k > 0 && top_k < V) floor = search_row(keys, NULL, V, 0, (uint64_t)top_k - 1).prefix;
    /* The weights before the top-k and top-p floors, which search_row applies. */
    uint64_t total = 0;
    for (int32_t i = 0; i < V; i++) {
        weights[i] = sm_cand_weight(&c, x[i], keys[i]);
        if (keys[i] >= floor) total += weights[i];
    }
    if (top_p < 1.0f) {
        sm_search cut = search_row(keys, weights, V, floor, sm_top_p_limit(top_p, total) - 1);
        floor = cut.prefix;
        total = cut.above + cut.last;
    }
    return sm_key_index(search_row(keys, weights, V, floor, sm_draw_target(u, total)).prefix);
}

int32_t sm_raw_logprobs(const float *raw, int32_t V, int32_t token, int32_t num_top, float *logprob,
                        int32_t *top_ids, float *top_logprobs)
{
    double max = -INFINITY, sum = 0;
    for (int32_t i = 0; i < V; i++)
        if (raw[i] > max) max = raw[i];
    for (int32_t i = 0; i < V; i++)
        sum += exp((double)raw[i] - max);
    double lse = max + log(sum);
    *logprob = (float)((double)raw[token] - lse);
    if (num_top > SM_MAX_TOP) num_top = SM_MAX_TOP;
    if (num_top > V) num_top = V;
    /* Insertion into a small sorted list: n <= 20, one pass over the vocabulary. */
    int32_t n = 0;
    for (int32_t i = 0; i < V && num_top > 0; i++) {
        float v = raw[i];
        if (n == num_top && v <= raw[top_ids[n - 1]]) continue;
        int32_t j = n < num_top ? n++ : n - 1;
        while (j > 0 && raw[top_ids[j - 1]] < v) {
            top_ids[j] = top_ids[j - 1];
            j--;
        }
        top_ids[j] = i;
    }
    for (int32_t k = 0; k < num_top; k++)
        top_logprobs[k] = (float)((double)raw[top_ids[k]] - lse);
    return num_top;
}
