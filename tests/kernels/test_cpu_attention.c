/* The CPU backend's attention-block ops against naive references written here (double math):
 * qk_norm_rope_store (per-head RMSNorm, NeoX RoPE, paged K/V store; untouched slots stay
 * untouched) and causal paged attention over shuffled block tables, for GQA ratios 1/2/4, head_dim
 * 32/36/40/64/128, F32 and BF16 caches, T = 1, S = 1, mixed prefill/decode batches, prefill chunks
 * over a cached prefix and contexts crossing many blocks, with and without a sliding window; every
 * token attended alone gives the bits it got in its batch. Outputs are poisoned (NaN) before every
 * op. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/op_harness.h"
#include "tests/kernels/cpu_isa_forced.h"
#include "tests/support/test_support.h"

typedef struct shape_case {
    int hq, hkv, d;
    int window; /* sliding_window, 0 = none */
} shape_case;

/* GQA 1, 2 and 4 across head_dim 32, 64 and 128; sliding windows of 1 (a token sees only itself),
 * 16 (block-aligned), and 40 (inside a block, shorter than most contexts). head_dim 40 and 36 are
 * not multiples of the 16- and 8-lane tiles the K transpose works in, so its column tail runs. */
static const shape_case shapes[] = {
    {4, 4, 32, 0},  {8, 4, 64, 0}, {16, 4, 128, 0},  {4, 2, 128, 0}, {8, 2, 32, 0},
    {8, 2, 64, 40}, {4, 4, 32, 1}, {16, 4, 128, 16}, {4, 1, 40, 0},  {4, 2, 36, 0}};
#define NUM_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

typedef struct batch_case {
    const char *name;
    int S;
    int cached[4], fresh[4];
} batch_case;

static const batch_case batches[] = {
    {"decode at position 0 (T = 1, S = 1)", 1, {0}, {1}},
    {"prefill of 37 tokens (S = 1)", 1, {0}, {37}},
    {"mixed: long decode, chunk over a cached prefix, first token, 1000-token context",
     4,
     {300, 50, 0, 1000},
     {1, 20, 1, 1}},
    {"decode at position 3000", 2, {3000, 7}, {1, 2}},
};
#define NUM_BATCHES ((int)(sizeof batches / sizeof batches[0]))

static int has(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

/* Reference RMSNorm (skipped when nw is NULL) and NeoX rotation; the angle is the f32 product the
 * spec fixes, its cosine and sine in double. */
static void ref_norm_rope(double *dst, const float *src, const float *nw, float eps, int pos,
                          const float *invf, int D)
{
    double tmp[128], ss = 0;
    for (int i = 0; i < D; i++)
        ss += (double)src[i] * src[i];
    double inv = 1.0 / sqrt(ss / D + eps);
    for (int i = 0; i < D; i++)
        tmp[i] = nw ? nw[i] * (src[i] * inv) : src[i];
    for (int i = 0; i < D / 2; i++) {
        float ang = (float)pos * invf[i];
        double c = cos((double)ang), s = sin((double)ang), x1 = tmp[i], x2 = tmp[i + D / 2];
        dst[i] = x1 * c - x2 * s;
        dst[i + D / 2] = x2 * c + x1 * s;
    }
}

/* Reference attention over the f32 values of the whole pool (kv: [blocks][Hkv][16][D]). */
static void ref_attention(const oh_batch *b, const float *q, const float *kv_k, const float *kv_v,
                          shape_case sc, float scale, double *out)
{
    int D = sc.d, group = sc.hq / sc.hkv;
    int max_len = 1;
    for (int s = 0; s < b->S; s++)
        max_len = b->seq_lens[s] > max_len ? b->seq_lens[s] : max_len;
    double *w = malloc(sizeof(double) * (size_t)max_len);
    for (int s = 0; s < b->S; s++)
        for (int t = b->query_start[s]; t < b->query_start[s + 1]; t++)
            for (int h = 0; h < sc.hq; h++) {
                int p = b->positions[t], g = h / group;
                const float *qv = q + ((size_t)t * sc.hq + h) * D;
                double mx = -INFINITY, sum = 0;
                int lo = sc.window > 0 && p >= sc.window ? p - sc.window + 1 : 0;
                for (int j = lo; j <= p; j++) {
                    int blk = b->block_tables[s * b->max_blocks + j / 16];
                    const float *kr = kv_k + (((size_t)blk * sc.hkv + g) * 16 + j % 16) * D;
                    double dot = 0;
                    for (int i = 0; i < D; i++)
                        dot += (double)qv[i] * kr[i];
                    w[j] = scale * dot;
                    mx = w[j] > mx ? w[j] : mx;
                }
                for (int j = lo; j <= p; j++)
                    sum += (w[j] = exp(w[j] - mx));
                double *o = out + ((size_t)t * sc.hq + h) * D;
                for (int i = 0; i < D; i++)
                    o[i] = 0;
                for (int j = lo; j <= p; j++) {
                    int blk = b->block_tables[s * b->max_blocks + j / 16];
                    const float *vr = kv_v + (((size_t)blk * sc.hkv + g) * 16 + j % 16) * D;
                    for (int i = 0; i < D; i++)
                        o[i] += w[j] / sum * vr[i];
                }
            }
    free(w);
}

/* The f32 values of a downloaded cache in its dtype. */
static void cache_values(const void *raw, bk_dtype dt, size_t n, float *vals)
{
    for (size_t i = 0; i < n; i++)
        vals[i] =
            dt == BK_BF16 ? oh_bf16_to_f32(((const uint16_t *)raw)[i]) : ((const float *)raw)[i];
}

/* Batch invariance: every token of the batch, attended alone (T = 1, its own sequence's block
 * table and length, the same cache), gives the very bits it got inside the batch, whatever item
 * (token chunk, q heads) the batch put it in. The engine relies on it (engine_sampling). */
static void check_alone(bk_backend *be, const oh_batch *hb, const bk_kv_layer *kv, const float *q,
                        const float *got, shape_case sc, float scale, const char *what)
{
    const bk_ops *o = be->ops;
    const int W = sc.hq * sc.d;
    int same = 1, bad = -1;
    float *one = malloc((size_t)W * 4);
    for (int t = 0; t < hb->T; t++) {
        int s = 0;
        while (hb->query_start[s + 1] <= t)
            s++;
        int32_t zero = 0, qs[2] = {0, 1};
        oh_batch ob = {.T = 1,
                       .S = 1,
                       .max_blocks = hb->max_blocks,
                       .num_blocks = hb->num_blocks,
                       .token_ids = &zero,
                       .positions = hb->positions + t,
                       .slot_mapping = hb->slot_mapping + t,
                       .query_start = qs,
                       .seq_lens = hb->seq_lens + s,
                       .block_tables = hb->block_tables + (size_t)s * hb->max_blocks};
        bk_batch db;
        bk_tensor tq, out;
        CHECK(oh_batch_upload(be, &ob, &db) == 0);
        CHECK(oh_upload(be, &tq, BK_F32, 1, W, q + (size_t)t * W) == 0);
        CHECK(oh_alloc_poisoned(be, &out, 1, W) == 0);
        bk_attn_shape sh = {sc.hq, sc.hkv, sc.d, sc.window};
        CHECKF(o->attention(be, &out, &tq, kv, &db, sh, scale) == 0, "attention alone: %s",
               o->last_error(be));
        CHECK(oh_download(be, &out, 1, one) == 0);
        if (memcmp(one, got + (size_t)t * W, (size_t)W * 4) && same) same = 0, bad = t;
        o->tensor_free(be, &tq);
        o->tensor_free(be, &out);
        oh_batch_release(be, &db);
    }
    CHECKF(same,
           "attention %s: Hq=%d Hkv=%d D=%d window %d %s: token %d alone differs from its row in "
           "the batch",
           what, sc.hq, sc.hkv, sc.d, sc.window, bk_dtype_name(kv->k.dtype), bad);
    free(one);
}

/* Runs attention on the device and checks it against the reference on the pool's values. The
 * output is a convex combination of V rows with |v| <= 1: 2e-5 covers f32 dot products of
 * 128 terms feeding the softmax. */
static void check_attention(bk_backend *be, const oh_batch *hb, const bk_batch *db,
                            const bk_kv_layer *kv, const float *q, const float *kvals,
                            const float *vvals, shape_case sc, const char *what)
{
    const bk_ops *o = be->ops;
    int T = hb->T, W = sc.hq * sc.d;
    float scale = 1.0f / sqrtf((float)sc.d), *got = malloc((size_t)T * W * 4);
    double *ref = malloc((size_t)T * W * 8);
    bk_tensor tq, out;
    CHECK(oh_upload(be, &tq, BK_F32, T, W, q) == 0);
    CHECK(oh_alloc_poisoned(be, &out, T, W) == 0);
    bk_attn_shape sh = {sc.hq, sc.hkv, sc.d, sc.window};
    CHECKF(o->attention(be, &out, &tq, kv, db, sh, scale) == 0, "attention: %s", o->last_error(be));
    CHECK(oh_download(be, &out, T, got) == 0);
    ref_attention(hb, q, kvals, vvals, sc, scale, ref);
    CHECKF(oh_close("attention", got, ref, (size_t)T * W, 2e-5),
           "attention %s: Hq=%d Hkv=%d D=%d window %d %s", what, sc.hq, sc.hkv, sc.d, sc.window,
           bk_dtype_name(kv->k.dtype));
    check_alone(be, hb, kv, q, got, sc, scale, what);
    o->tensor_free(be, &tq);
    o->tensor_free(be, &out);
    free(got), free(ref);
}

/* Stores the step's K/V with qk_norm_rope_store, checks q_out and every cache slot (written slots
 * against the reference, the others byte-for-byte unchanged), then runs attention on the result:
 * a prefill chunk reads its cached prefix and the keys it just wrote. */
static void store_then_attend(bk_backend *be, oh_rng *r, shape_case sc, bk_dtype kvdt,
                              const batch_case *bc, int use_norm)
{
    const bk_ops *o = be->ops;
    oh_batch hb;
    bk_batch db;
    CHECK(oh_make_batch(r, &hb, bc->S, bc->cached, bc->fresh, 3) == 0);
    CHECK(oh_batch_upload(be, &hb, &db) == 0);
    const int T = hb.T, D = sc.d, W = (sc.hq + 2 * sc.hkv) * D;
    const size_t pool = (size_t)hb.num_blocks * sc.hkv * 16 * D, es = bk_dtype_size(kvdt);
    float *qkv = malloc((size_t)T * W * 4), qn[128], kn[128], invf[64];
    float *kvals = malloc(pool * 4), *vvals = malloc(pool * 4), *qgot = malloc((size_t)T * W * 4);
    void *kinit = malloc(pool * es), *vinit = malloc(pool * es);
    void *kgot = malloc(pool * es), *vgot = malloc(pool * es);
    oh_fill_uniform(r, qkv, (size_t)T * W, -2, 2);
    oh_fill_uniform(r, qn, (size_t)D, 0.5f, 1.5f);
    oh_fill_uniform(r, kn, (size_t)D, 0.5f, 1.5f);
    for (int i = 0; i < D / 2; i++)
        invf[i] = powf(1e6f, -2.0f * (float)i / (float)D);
    oh_random_weights(r, kvdt, pool, 1.0f, kinit, kvals);
    oh_random_weights(r, kvdt, pool, 1.0f, vinit, vvals);

    bk_kv_layer kv;
    bk_tensor tqkv, tqn, tkn, tinv, qout;
    int64_t kv_cols = (int64_t)sc.hkv * 16 * D;
    CHECK(oh_upload(be, &kv.k, kvdt, hb.num_blocks, kv_cols, kinit) == 0);
    CHECK(oh_upload(be, &kv.v, kvdt, hb.num_blocks, kv_cols, vinit) == 0);
    CHECK(oh_upload(be, &tqkv, BK_F32, T, W, qkv) == 0);
    CHECK(oh_upload(be, &tqn, BK_F32, 1, D, qn) == 0);
    CHECK(oh_upload(be, &tkn, BK_F32, 1, D, kn) == 0);
    CHECK(oh_upload(be, &tinv, BK_F32, 1, D / 2, invf) == 0);
    CHECK(oh_alloc_poisoned(be, &qout, T, (int64_t)sc.hq * D) == 0);
    bk_attn_shape sh = {sc.hq, sc.hkv, sc.d, sc.window};
    CHECKF(o->qk_norm_rope_store(be, &qout, &tqkv, use_norm ? &tqn : NULL, use_norm ? &tkn : NULL,
                                 &tinv, 1e-6f, &kv, &db, sh) == 0,
           "qk_norm_rope_store: %s", o->last_error(be));
    CHECK(oh_download(be, &qout, T, qgot) == 0);
    CHECK(oh_download(be, &kv.k, hb.num_blocks, kgot) == 0);
    CHECK(oh_download(be, &kv.v, hb.num_blocks, vgot) == 0);

    /* q: 1e-5 absolute on O(1) normalized values. K/V in BF16: the op rounds its f32 result once,
     * so half a bf16 ulp (at most 2^-8 relative: 8 significant bits) plus the f32 error. */
    double qref[128], kref[128];
    int q_ok = 1, kv_ok = 1;
    char *written = calloc((size_t)hb.num_blocks * 16, 1);
    for (int t = 0; t < T; t++) {
        for (int h = 0; h < sc.hq; h++) {
            ref_norm_rope(qref, qkv + (size_t)t * W + h * D, use_norm ? qn : NULL, 1e-6f,
                          hb.positions[t], invf, D);
            q_ok &= oh_close("q_out", qgot + ((size_t)t * sc.hq + h) * D, qref, (size_t)D, 1e-5);
        }
        int slot = hb.slot_mapping[t], blk = slot / 16, off = slot % 16;
        written[slot] = 1;
        for (int g = 0; g < sc.hkv; g++) {
            size_t at = (((size_t)blk * sc.hkv + g) * 16 + off) * D;
            ref_norm_rope(kref, qkv + (size_t)t * W + (size_t)(sc.hq + g) * D, use_norm ? kn : NULL,
                          1e-6f, hb.positions[t], invf, D);
            for (int i = 0; i < D; i++) {
                double vref = qkv[(size_t)t * W + (size_t)(sc.hq + sc.hkv + g) * D + i];
                float kg, vg;
                cache_values((const char *)kgot + (at + i) * es, kvdt, 1, &kg);
                cache_values((const char *)vgot + (at + i) * es, kvdt, 1, &vg);
                double kt = kvdt == BK_BF16 ? 0x1p-8 * fabs(kref[i]) + 1e-5 : 1e-5;
                double vt = kvdt == BK_BF16 ? 0x1p-8 * fabs(vref) : 0.0;
                kv_ok &= fabs(kg - kref[i]) <= kt && fabs(vg - vref) <= vt;
            }
        }
    }
    /* Every (block, head, offset) row not written by this step keeps its initial bytes. */
    int untouched = 1;
    for (size_t row = 0; row < pool / D; row++) {
        size_t slot = (row / (16 * (size_t)sc.hkv)) * 16 + row % 16;
        if (written[slot]) continue;
        untouched &=
            memcmp((char *)kgot + row * D * es, (char *)kinit + row * D * es, D * es) == 0 &&
            memcmp((char *)vgot + row * D * es, (char *)vinit + row * D * es, D * es) == 0;
    }
    CHECKF(q_ok && kv_ok && untouched,
           "qk_norm_rope_store %s: Hq=%d Hkv=%d D=%d %s norm=%d: q %s, "
           "k/v %s, other slots %s",
           bc->name, sc.hq, sc.hkv, D, bk_dtype_name(kvdt), use_norm, q_ok ? "ok" : "WRONG",
           kv_ok ? "ok" : "WRONG", untouched ? "untouched" : "CHANGED");

    cache_values(kgot, kvdt, pool, kvals);
    cache_values(vgot, kvdt, pool, vvals);
    float *q = malloc((size_t)T * sc.hq * D * 4);
    oh_fill_uniform(r, q, (size_t)T * sc.hq * D, -4, 4); /* peaky softmax, not a near-average */
    check_attention(be, &hb, &db, &kv, q, kvals, vvals, sc, bc->name);

    o->tensor_free(be, &kv.k), o->tensor_free(be, &kv.v), o->tensor_free(be, &tqkv);
    o->tensor_free(be, &tqn), o->tensor_free(be, &tkn), o->tensor_free(be, &tinv);
    o->tensor_free(be, &qout);
    oh_batch_release(be, &db);
    oh_batch_free(&hb);
    free(qkv), free(kvals), free(vvals), free(qgot), free(kinit), free(vinit), free(kgot);
    free(vgot), free(written), free(q);
}

/* Bad slot, bad block id, position past seq_lens, bad head split, wrong KV dtype: -1 and a
 * message, nothing written. */
static void test_errors(bk_backend *be, oh_rng *r)
{
    const bk_ops *o = be->ops;
    const int cached[2] = {20, 0}, fresh[2] = {2, 3};
    oh_batch hb;
    bk_batch db;
    CHECK(oh_make_batch(r, &hb, 2, cached, fresh, 0) == 0);
    CHECK(oh_batch_upload(be, &hb, &db) == 0);
    bk_attn_shape sh = {4, 2, 32, 0};
    int64_t cols = 2 * 16 * 32;
    bk_kv_layer kv, kv16;
    bk_tensor qkv, q, out, invf;
    CHECK(o->tensor_alloc(be, &kv.k, BK_F32, hb.num_blocks, cols) == 0);
    CHECK(o->tensor_alloc(be, &kv.v, BK_F32, hb.num_blocks, cols) == 0);
    CHECK(o->fill_bytes(be, &kv.k, 0) == 0 && o->fill_bytes(be, &kv.v, 0) == 0);
    CHECK(o->tensor_alloc(be, &qkv, BK_F32, hb.T, (4 + 4) * 32) == 0);
    CHECK(o->fill_bytes(be, &qkv, 0) == 0);
    CHECK(o->tensor_alloc(be, &q, BK_F32, hb.T, 4 * 32) == 0);
    CHECK(o->fill_bytes(be, &q, 0) == 0);
    CHECK(o->tensor_alloc(be, &out, BK_F32, hb.T, 4 * 32) == 0);
    CHECK(o->tensor_alloc(be, &invf, BK_F32, 1, 16) == 0);
    CHECK(o->fill_bytes(be, &invf, 0) == 0);

    int32_t bad = hb.num_blocks * 16;
    int32_t slots[5];
    memcpy(slots, hb.slot_mapping, sizeof slots);
    slots[3] = bad;
    CHECK(o->upload_rows(be, &db.slot_mapping, 0, 1, slots) == 0);
    CHECK(o->qk_norm_rope_store(be, &q, &qkv, NULL, NULL, &invf, 1e-6f, &kv, &db, sh) == -1);
    CHECKF(has(o->last_error(be), "slot_mapping[3]"), "bad slot message: %s", o->last_error(be));
    CHECK(o->upload_rows(be, &db.slot_mapping, 0, 1, hb.slot_mapping) == 0);

    CHECK(o->attention(be, &out, &q, &kv, &db, sh, 0.1f) == 0);
    int32_t *bt = malloc(sizeof(int32_t) * 2 * (size_t)hb.max_blocks);
    memcpy(bt, hb.block_tables, sizeof(int32_t) * 2 * (size_t)hb.max_blocks);
    bt[1] = hb.num_blocks; /* sequence 0's second block: position 20 reads it */
    CHECK(o->upload_rows(be, &db.block_tables, 0, 2, bt) == 0);
    CHECK(o->attention(be, &out, &q, &kv, &db, sh, 0.1f) == -1);
    CHECKF(has(o->last_error(be), "block_tables[0][1]"), "bad block message: %s",
           o->last_error(be));
    CHECK(o->upload_rows(be, &db.block_tables, 0, 2, hb.block_tables) == 0);

    int32_t lens[2] = {21, 3}; /* sequence 0 ends before its last token's position 21 */
    CHECK(o->upload_rows(be, &db.seq_lens, 0, 1, lens) == 0);
    CHECK(o->attention(be, &out, &q, &kv, &db, sh, 0.1f) == -1 &&
          has(o->last_error(be), "positions[1]"));
    CHECK(o->upload_rows(be, &db.seq_lens, 0, 1, hb.seq_lens) == 0);

    bk_attn_shape odd = {4, 3, 32, 0};
    CHECK(o->attention(be, &out, &q, &kv, &db, odd, 0.1f) == -1 &&
          has(o->last_error(be), "kv_heads"));
    bk_attn_shape negative = {4, 2, 32, -1};
    CHECK(o->attention(be, &out, &q, &kv, &db, negative, 0.1f) == -1 &&
          has(o->last_error(be), "sliding_window is -1"));
    CHECK(o->attention(be, &q, &q, &kv, &db, sh, 0.1f) == -1);
    CHECK(o->tensor_alloc(be, &kv16.k, BK_F16, hb.num_blocks, cols) == 0);
    kv16.v = kv16.k;
    CHECK(o->attention(be, &out, &q, &kv16, &db, sh, 0.1f) == -1 && has(o->last_error(be), "F16"));
    CHECK(o->qk_norm_rope_store(be, &q, &q, NULL, NULL, &invf, 1e-6f, &kv, &db, sh) == -1 &&
          has(o->last_error(be), "qkv"));

    o->tensor_free(be, &kv16.k);
    o->tensor_free(be, &kv.k), o->tensor_free(be, &kv.v), o->tensor_free(be, &qkv);
    o->tensor_free(be, &q), o->tensor_free(be, &out), o->tensor_free(be, &invf);
    oh_batch_release(be, &db);
    oh_batch_free(&hb);
    free(bt);
}

int main(void)
{
    char err[256];
    oh_rng r;
    oh_seed(&r, 777);
    cpu_isa_forced_guard("test_cpu_attention");
    bk_backend *be = bk_cpu_create(2, 0, err, sizeof err);
    CHECKF(be, "bk_cpu_create: %s", err);
    if (!be) return test_finish("test_cpu_attention");
    cpu_isa_forced_check(be);
    const bk_dtype kv_dtypes[2] = {BK_F32, BK_BF16};
    for (int si = 0; si < NUM_SHAPES; si++)
        for (int ki = 0; ki < 2; ki++)
            for (int bi = 0; bi < NUM_BATCHES; bi++)
                store_then_attend(be, &r, shapes[si], kv_dtypes[ki], &batches[bi], (si + bi) % 2);
    test_errors(be, &r);
    CHECKF(bk_cpu_bytes_in_use(be) == 0, "%zu bytes leaked by the tests", bk_cpu_bytes_in_use(be));
    be->ops->destroy(be);
    return test_finish("test_cpu_attention");
}
