#include "tests/kernels/op_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void oh_seed(oh_rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t oh_next(oh_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float oh_uniform(oh_rng *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)((double)(oh_next(r) >> 11) * 0x1p-53);
}

int oh_randint(oh_rng *r, int lo, int hi)
{
    return lo + (int)(oh_next(r) % (uint64_t)(hi - lo));
}

void oh_fill_uniform(oh_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = oh_uniform(r, lo, hi);
}

void oh_shuffle(oh_rng *r, int32_t *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = oh_randint(r, 0, i + 1);
        int32_t t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

float oh_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t oh_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if (isnan(f)) return (uint16_t)((u >> 16) | 0x40u);
    uint32_t lower = u & 0xffffu, upper = u >> 16;
    if (lower > 0x8000u || (lower == 0x8000u && (upper & 1u))) upper++;
    return (uint16_t)upper;
}

float oh_f16_to_f32(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0)
        v = ldexp(m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp(1024 + m, e - 25);
    return (float)(sign ? -v : v);
}

void oh_random_weights(oh_rng *r, bk_dtype dtype, size_t n, float scale, void *raw, float *values)
{
    for (size_t i = 0; i < n; i++) {
        float v = oh_uniform(r, -scale, scale);
        if (dtype == BK_BF16) {
            uint16_t h = oh_f32_to_bf16(v);
            ((uint16_t *)raw)[i] = h;
            values[i] = oh_bf16_to_f32(h);
        } else if (dtype == BK_F16) {
            /* Random bit patterns with exponents 1..emax keep |v| below scale; every 16th is a
             * subnormal so the conversion's subnormal path is exercised. */
            int emax = 14 + (int)floor(log2(scale));
            emax = emax < 1 ? 1 : emax > 14 ? 14 : emax;
            uint16_t sign = (uint16_t)((oh_next(r) & 1) << 15), m = (uint16_t)(oh_next(r) & 1023);
            uint16_t e = (i % 16 == 5) ? 0 : (uint16_t)oh_randint(r, 1, emax + 1);
            uint16_t h = (uint16_t)(sign | e << 10 | m);
            ((uint16_t *)raw)[i] = h;
            values[i] = oh_f16_to_f32(h);
        } else {
            ((float *)raw)[i] = v;
            values[i] = v;
        }
    }
}

int oh_upload(bk_backend *be, bk_tensor *t, bk_dtype dtype, int64_t rows, int64_t cols,
              const void *host)
{
    if (be->ops->tensor_alloc(be, t, dtype, rows, cols) ||
        be->ops->upload_rows(be, t, 0, rows, host)) {
        fprintf(stderr, "oh_upload: %s\n", be->ops->last_error(be));
        return -1;
    }
    return 0;
}

int oh_alloc_poisoned(bk_backend *be, bk_tensor *t, int64_t rows, int64_t cols)
{
    if (be->ops->tensor_alloc(be, t, BK_F32, rows, cols) || be->ops->fill_bytes(be, t, 0xFF)) {
        fprintf(stderr, "oh_alloc_poisoned: %s\n", be->ops->last_error(be));
        return -1;
    }
    return 0;
}

int oh_download(bk_backend *be, const bk_tensor *t, int64_t rows, void *host)
{
    if (be->ops->download_rows(be, t, rows, host)) {
        fprintf(stderr, "oh_download: %s\n", be->ops->last_error(be));
        return -1;
    }
    return 0;
}

int oh_close(const char *what, const float *got, const double *ref, size_t n, double tol)
{
    double worst = 0.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (isnan(got[i]) || isnan(d)) d = INFINITY;
        if (d > worst) worst = d, wi = i;
    }
    if (worst <= tol) return 1;
    fprintf(stderr, "%s: max abs err %.3g at [%zu] (got %.9g, ref %.9g) exceeds tolerance %.3g\n",
            what, worst, wi, (double)got[wi], ref[wi], tol);
    return 0;
}

double oh_max_abs(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

int oh_make_batch(oh_rng *r, oh_batch *b, int S, const int *cached, const int *new_tokens,
                  int spare_blocks)
{
    memset(b, 0, sizeof *b);
    b->S = S;
    int used = 0;
    for (int s = 0; s < S; s++) {
        int blocks = (cached[s] + new_tokens[s] + 15) / 16;
        b->T += new_tokens[s];
        used += blocks;
        if (blocks > b->max_blocks) b->max_blocks = blocks;
    }
    b->max_blocks += 1; /* one -1 column past every sequence's last block */
    b->num_blocks = used + spare_blocks;
    int T = b->T ? b->T : 1;
    b->token_ids = calloc((size_t)T, sizeof(int32_t));
    b->positions = calloc((size_t)T, sizeof(int32_t));
    b->slot_mapping = calloc((size_t)T, sizeof(int32_t));
    b->query_start = calloc((size_t)S + 1, sizeof(int32_t));
    b->seq_lens = calloc((size_t)S, sizeof(int32_t));
    b->block_tables = malloc((size_t)S * (size_t)b->max_blocks * sizeof(int32_t));
    int32_t *pool = malloc((size_t)(b->num_blocks ? b->num_blocks : 1) * sizeof(int32_t));
    if (!b->token_ids || !b->positions || !b->slot_mapping || !b->query_start || !b->seq_lens ||
        !b->block_tables || !pool) {
        free(pool);
        oh_batch_free(b);
        return -1;
    }
    oh_shuffle(r, pool, b->num_blocks);
    int next_block = 0, t = 0;
    for (int s = 0; s < S; s++) {
        int len = cached[s] + new_tokens[s], blocks = (len + 15) / 16;
        int32_t *row = b->block_tables + (size_t)s * (size_t)b->max_blocks;
        for (int j = 0; j < b->max_blocks; j++)
            row[j] = j < blocks ? pool[next_block++] : -1;
        b->seq_lens[s] = len;
        b->query_start[s] = t;
        for (int p = cached[s]; p < len; p++, t++) {
            b->positions[t] = p;
            b->slot_mapping[t] = row[p / 16] * 16 + p % 16;
        }
    }
    b->query_start[S] = t;
    free(pool);
    return 0;
}

void oh_batch_free(oh_batch *b)
{
    free(b->token_ids);
    free(b->positions);
    free(b->slot_mapping);
    free(b->query_start);
    free(b->seq_lens);
    free(b->block_tables);
    memset(b, 0, sizeof *b);
}

int oh_batch_upload(bk_backend *be, const oh_batch *hb, bk_batch *out)
{
    memset(out, 0, sizeof *out);
    int T = hb->T ? hb->T : 1;
    out->num_tokens = hb->T;
    out->num_seqs = hb->S;
    out->num_logit_rows = 0;
    out->max_blocks = hb->max_blocks;
    for (int s = 0; s < hb->S; s++)
        if (hb->seq_lens[s] > out->max_seq_len) out->max_seq_len = hb->seq_lens[s];
    if (oh_upload(be, &out->token_ids, BK_I32, 1, T, hb->token_ids) ||
        oh_upload(be, &out->positions, BK_I32, 1, T, hb->positions) ||
        oh_upload(be, &out->slot_mapping, BK_I32, 1, T, hb->slot_mapping) ||
        oh_upload(be, &out->query_start, BK_I32, 1, hb->S + 1, hb->query_start) ||
        oh_upload(be, &out->seq_lens, BK_I32, 1, hb->S, hb->seq_lens) ||
        oh_upload(be, &out->block_tables, BK_I32, hb->S, hb->max_blocks, hb->block_tables) ||
        oh_upload(be, &out->logit_rows, BK_I32, 1, 1, hb->token_ids))
        return -1;
    return 0;
}

void oh_batch_release(bk_backend *be, bk_batch *b)
{
    be->ops->tensor_free(be, &b->token_ids);
    be->ops->tensor_free(be, &b->positions);
    be->ops->tensor_free(be, &b->slot_mapping);
    be->ops->tensor_free(be, &b->query_start);
    be->ops->tensor_free(be, &b->seq_lens);
    be->ops->tensor_free(be, &b->block_tables);
    be->ops->tensor_free(be, &b->logit_rows);
}
