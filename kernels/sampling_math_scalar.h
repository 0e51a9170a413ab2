/* The scalar arithmetic of sampling, shared by the host (kernels/sampling_math.c) and the CUDA
 * kernel (kernels/cuda/cuda_sample.cu), so both compute bit-identical keys, weights and draws.
 * Must not: be included anywhere else; the includer defines SM_FN (linkage) first. */
#ifndef BERTH_KERNELS_SAMPLING_MATH_SCALAR_H
#define BERTH_KERNELS_SAMPLING_MATH_SCALAR_H

#include <math.h>
#include <stdint.h>

#ifndef SM_FN
#error "define SM_FN before including kernels/sampling_math_scalar.h"
#endif

/* Every float and double operation goes through the SM_* macros: on the device they are the _rn
 * intrinsics, which nvcc never fuses into FMAs; on the host only kernels/sampling_math.c includes
 * this file, compiled in ISO C mode without -ffp-contract=fast, so the host never fuses either. */
#ifdef __CUDA_ARCH__
#define SM_DADD(a, b) __dadd_rn((a), (b))
#define SM_DMUL(a, b) __dmul_rn((a), (b))
#define SM_FADD(a, b) __fadd_rn((a), (b))
#define SM_FMUL(a, b) __fmul_rn((a), (b))
#define SM_FDIV(a, b) __fdiv_rn((a), (b))
#define SM_F2U(x) __float_as_uint(x)
#else
#include <string.h>
#define SM_DADD(a, b) ((a) + (b))
#define SM_DMUL(a, b) ((a) * (b))
#define SM_FADD(a, b) ((a) + (b))
#define SM_FMUL(a, b) ((a) * (b))
#define SM_FDIV(a, b) ((a) / (b))
static inline uint32_t sm_f2u_host(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
#define SM_F2U(x) sm_f2u_host(x)
#endif

/* Candidate weights are integers: the tempered softmax numerator exp(x - max) in units of 2^-40.
 * Integer sums are exact in any order, so a GPU tree reduction and the host's sequential scan agree
 * bit for bit. A candidate below 2^-40 of the top one gets weight 0 (never drawn). Sums stay below
 * 2^63 for vocabularies up to 2^23 (BK_SAMPLE_MAX_VOCAB, which the ops check). */
#define SM_WEIGHT_ONE ((uint64_t)1 << 40)

/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"): the uniform in
 * [0, 1) that (seed, step) selects. */
SM_FN double sm_uniform(uint64_t seed, uint64_t step)
{
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    uint32_t c0 = (uint32_t)step, c1 = (uint32_t)(step >> 32), c2 = 0, c3 = 0;
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    /* 53 random bits -> [0, 1) */
    uint64_t bits = ((uint64_t)c0 << 21) ^ ((uint64_t)c1 >> 11);
    return (double)(bits & ((1ull << 53) - 1)) / (double)(1ull << 53);
}

/* Repetition (HF/vLLM), presence and frequency (OpenAI) penalties on one logit. count: times the
 * token was generated; in_prompt: it occurs in the prompt. */
SM_FN float sm_penalize(float l, int32_t count, int in_prompt, float repetition, float presence,
                        float frequency)
{
    if (repetition != 1.0f && (count || in_prompt))
        l = l > 0 ? SM_FDIV(l, repetition) : SM_FMUL(l, repetition);
    if (count) l = SM_FADD(l, -SM_FADD(presence, SM_FMUL(frequency, (float)count)));
    return l;
}

/* The sample op's logit before temperature: raw + bias, then the penalties. A bias of -inf is
 * min_tokens suppression, which the host sampler applies last: the logit becomes -inf whatever it
 * was (NaN and +inf included). */
SM_FN float sm_prepare(float raw, float bias, int32_t count, int in_prompt, float repetition,
                       float presence, float frequency)
{
    if (bias == -INFINITY) return -INFINITY;
    float l = SM_FADD(raw, bias);
    if (count || in_prompt) l = sm_penalize(l, count, in_prompt, repetition, presence, frequency);
    return l;
}

/* A constrained row's raw logit: -inf where the packed mask (bit set = allowed) disallows the
 * token, whatever the logit was (NaN included); mask NULL: unconstrained. */
SM_FN float sm_masked(float raw, const uint32_t *mask, int64_t i)
{
    if (mask && !((mask[i >> 5] >> (i & 31)) & 1u)) return -INFINITY;
    return raw;
}

SM_FN float sm_temper(float l, float temperature)
{
    return SM_FDIV(l, temperature);
}

/* The sampling order as one integer: larger key = earlier candidate. Descending value, index
 * ascending on ties; -0 counts as +0; NaN sorts after -inf. */
SM_FN uint32_t sm_ord(float x)
{
    uint32_t b = x == 0.0f ? 0u : SM_F2U(x);
    if (x != x) return 0;
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

SM_FN uint64_t sm_key(float x, int32_t i)
{
    return ((uint64_t)sm_ord(x) << 32) | (uint64_t)(0xFFFFFFFFu - (uint32_t)i);
}

SM_FN int32_t sm_key_index(uint64_t key)
{
    return (int32_t)(0xFFFFFFFFu - (uint32_t)key);
}

/* exp(d) for d in (-28, 0] from + and * only (libm's exp differs between glibc and CUDA by an ulp).
 * 2^k · e^r with |r| <= ln2/2 and a degree-13 Taylor polynomial: error about 1 ulp. */
SM_FN double sm_exp_neg(double d)
{
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double k = floor(SM_DADD(SM_DMUL(d, 1.44269504088896338700e+00), 0.5));
    double r = SM_DADD(SM_DADD(d, -SM_DMUL(k, ln2_hi)), -SM_DMUL(k, ln2_lo));
    double p = 1.0 / 6227020800.0;
    const double inv_fact[13] = {1.0 / 479001600.0,
                                 1.0 / 39916800.0,
                                 1.0 / 3628800.0,
                                 1.0 / 362880.0,
                                 1.0 / 40320.0,
                                 1.0 / 5040.0,
                                 1.0 / 720.0,
                                 1.0 / 120.0,
                                 1.0 / 24.0,
                                 1.0 / 6.0,
                                 0.5,
                                 1.0,
                                 1.0};
    for (int i = 0; i < 13; i++)
        p = SM_DADD(SM_DMUL(p, r), inv_fact[i]);
    return ldexp(p, (int)k);
}

/* The integer weight of tempered logit x when the top candidate's is max. A NaN max means a row
 * of NaN (NaN sorts last): every candidate weighs the same, so the total is never 0. */
SM_FN uint64_t sm_weight(float x, float max)
{
    if (x == max || max != max) return SM_WEIGHT_ONE;
    double d = SM_DADD((double)x, -(double)max);
    if (!(d > -28.0)) return 0;
    return (uint64_t)SM_DMUL(sm_exp_neg(d), (double)SM_WEIGHT_ONE);
}

/* min-p keeps the candidates whose probability is at least min_p times the top one's. */
SM_FN int sm_min_p_keeps(uint64_t w, float min_p)
{
    return (double)w >= SM_DMUL((double)min_p, (double)SM_WEIGHT_ONE);
}

/* top-p keeps the shortest prefix whose weight reaches this (at least one candidate). */
SM_FN uint64_t sm_top_p_limit(float top_p, uint64_t total)
{
    double l = ceil(SM_DMUL((double)top_p, (double)total));
    uint64_t lim = l < 1.0 ? 1 : (uint64_t)l;
    return lim > total ? total : lim;
}

/* The draw picks the first candidate whose cumulative weight exceeds this. */
SM_FN uint64_t sm_draw_target(double u, uint64_t total)
{
    uint64_t t = (uint64_t)SM_DMUL(u, (double)total);
    return t >= total ? total - 1 : t;
}

/* ---- the cuts as radix searches over keys (the CUDA kernel's and CPU op's way: no sort) ---- */

/* What the cuts so far leave of the candidates, and how they weigh. */
typedef struct sm_cut {
    float temperature, xmax, min_p; /* xmax: the top candidate's tempered logit */
    uint64_t kmax;                  /* the top candidate's key */
    uint64_t floor;                 /* candidates have key >= floor (top-k, then top-p) */
    int by_count;                   /* weight 1 per candidate: the top-k search */
} sm_cut;

/* A candidate's weight (0 when a cut removes it), from its tempered logit x and key. */
SM_FN uint64_t sm_cand_weight(const sm_cut *c, float x, uint64_t key)
{
    if (key < c->floor) return 0;
    if (c->by_count) return 1;
    uint64_t w = sm_weight(x, c->xmax);
    if (c->min_p > 0 && key != c->kmax && !sm_min_p_keeps(w, c->min_p)) return 0;
    return w;
}

/* MSB-first search, 8 bits per level (shift 56, 48, .., 0), for the first key in candidate order
 * whose cumulative weight exceeds a target. Each level histograms the weights of the keys that
 * share the prefix found so far by their next digit; the digits above the chosen one are passed
 * over. At the end prefix is the key and above + last its cumulative weight. */
typedef struct sm_search {
    uint64_t prefix, above, last;
} sm_search;

SM_FN int sm_search_match(const sm_search *s, uint64_t key, int shift)
{
    return shift == 56 || (key >> (shift + 8)) == (s->prefix >> (shift + 8));
}

SM_FN void sm_search_pick(sm_search *s, const unsigned long long *hist, int shift, uint64_t target)
{
    int d = 255;
    for (; d > 0; d--) {
        if (s->above + hist[d] > target) break;
        s->above += hist[d];
    }
    s->prefix |= (uint64_t)d << shift;
    s->last = hist[d];
}

#endif
