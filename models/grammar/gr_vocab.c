/* The vocabulary as the matcher walks it: every ordinary token's bytes in one trie laid out in
 * depth-first preorder, so that a mask is one forward pass that skips whole subtrees the grammar
 * rejects. Special tokens stay out of the trie (never allowed inside a structure); the
 * end-of-sequence ids are handled by the matcher directly. */
#include <stdlib.h>
#include <string.h>

#include "models/grammar/gr_internal.h"

/* Tokens sorted by their bytes (no global comparator state: vocabularies may be built on several
 * threads at once). */
typedef struct sort_tok {
    const uint8_t *b;
    uint32_t len;
    int32_t id;
} sort_tok;

static int cmp_tokens(const void *a, const void *b)
{
    const sort_tok *x = a, *y = b;
    int c = memcmp(x->b, y->b, x->len < y->len ? x->len : y->len);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : 1;
}

const int gr_tier_len[GR_N_TIERS] = {0, 16, 12, 8, 6, 4};

int gr_slice_next(int slice, int q, unsigned b)
{
    switch (q) {
    case 0:
        if (b < 0x80) {
            if (slice == GR_SLICE_JSON_CHARS && (b < 0x20 || b == '"' || b == '\\')) return -1;
            return 0;
        }
        if (b >= 0xC2 && b <= 0xDF) return 1;
        if (b == 0xE0) return 4;
        if (b == 0xED) return 5;
        if (b >= 0xE1 && b <= 0xEF) return 2;
        if (b == 0xF0) return 6;
        if (b >= 0xF1 && b <= 0xF3) return 3;
        if (b == 0xF4) return 7;
        return -1;
    case 1:
        return b >= 0x80 && b <= 0xBF ? 0 : -1;
    case 2:
        return b >= 0x80 && b <= 0xBF ? 1 : -1;
    case 3:
        return b >= 0x80 && b <= 0xBF ? 2 : -1;
    case 4:
        return b >= 0xA0 && b <= 0xBF ? 1 : -1;
    case 5:
        return b >= 0x80 && b <= 0x9F ? 1 : -1;
    case 6:
        return b >= 0x90 && b <= 0xBF ? 2 : -1;
    case 7:
        return b >= 0x80 && b <= 0x8F ? 2 : -1;
    }
    return -1;
}

static void trie_free(gr_trie *t)
{
    free(t->byte), free(t->depth), free(t->end), free(t->tok_first), free(t->tok);
    memset(t, 0, sizeof *t);
}

void gr_vocab_free(gr_vocab *v)
{
    if (!v) return;
    trie_free(&v->all);
    trie_free(&v->all0);
    trie_free(&v->all1);
    for (int k = 0; k < GR_N_SLICES; k++) {
        for (int t = 0; t < GR_N_TIERS; t++) {
            trie_free(&v->rest[k][t]);
            free(v->slice_mask[k][t]);
        }
        trie_free(&v->rest1[k]);
        free(v->slice_mask1[k]);
    }
    free(v->eos), free(v->is_eos), free(v->is_special), free(v->bytes), free(v->len);
    free(v->ids1);
    free(v);
}

/* The trie of tokens order[0..m) (sorted by bytes); false when out of memory. */
static bool build_trie(gr_vocab *v, gr_trie *t, const int32_t *order, int32_t m)
{
    size_t cap = 1;
    for (int32_t k = 0; k < m; k++)
        cap += v->len[order[k]];
    t->byte = malloc(cap);
    t->depth = malloc(cap * sizeof *t->depth);
    t->end = malloc(cap * sizeof *t->end);
    t->tok_first = malloc((cap + 1) * sizeof *t->tok_first);
    t->tok = malloc(((size_t)m + 1) * sizeof *t->tok);
    int32_t *path = malloc(65537 * sizeof *path);
    if (!t->byte || !t->depth || !t->end || !t->tok_first || !t->tok || !path) {
        free(path);
        return false;
    }
    int32_t nn = 1, nt = 0, top = 0; /* path[0..top] = nodes on the current path (path[0] root) */
    t->byte[0] = 0;
    t->depth[0] = 0;
    t->tok_first[0] = 0;
    path[0] = 0;
    const uint8_t *prev = NULL;
    uint32_t prev_len = 0;
    for (int32_t k = 0; k < m; k++) {
        int32_t id = order[k];
        const uint8_t *b = v->bytes[id];
        uint32_t len = v->len[id], lcp = 0;
        while (lcp < len && lcp < prev_len && b[lcp] == prev[lcp])
            lcp++;
        while ((uint32_t)top > lcp)
            t->end[path[top--]] = nn;
        for (uint32_t d = lcp; d < len; d++) {
            t->byte[nn] = b[d];
            t->depth[nn] = (uint16_t)(d + 1);
            t->tok_first[nn] = nt;
            if ((int32_t)d + 1 > v->max_depth) v->max_depth = (int32_t)d + 1;
            path[++top] = nn++;
        }
        t->tok[nt++] = id;
        prev = b;
        prev_len = len;
    }
    while (top >= 0)
        t->end[path[top--]] = nn;
    t->tok_first[nn] = nt;
    t->n_nodes = nn;
    free(path);
    return true;
}

static bool in_slice(const gr_vocab *v, int slice, int32_t id)
{
    int q = 0;
    for (uint32_t i = 0; i < v->len[id] && q >= 0; i++)
        q = gr_slice_next(slice, q, v->bytes[id][i]);
    return q >= 0;
}

int gr_vocab_new(gr_vocab **out, const tok_tokenizer *tok, const int32_t *eos_ids, size_t n_eos,
                 char *err, size_t errlen)
{
    *out = NULL;
    int32_t n = tok_vocab_size(tok);
    if (n <= 0) {
        gr_errf(err, errlen, "vocabulary: the tokenizer has no tokens");
        return GR_ERR;
    }
    int32_t *order = NULL, *rest = NULL;
    gr_vocab *v = calloc(1, sizeof *v);
    if (!v) goto oom;
    v->n_vocab = n;
    v->n_words = ((size_t)n + 31) / 32;
    v->n_eos = n_eos;
    v->eos = malloc((n_eos + 1) * sizeof *v->eos);
    v->is_eos = calloc((size_t)n, 1);
    v->is_special = calloc((size_t)n, 1);
    v->bytes = calloc((size_t)n, sizeof *v->bytes);
    v->len = calloc((size_t)n, sizeof *v->len);
    if (!v->eos || !v->is_eos || !v->is_special || !v->bytes || !v->len) goto oom;
    for (size_t i = 0; i < n_eos; i++) {
        if (eos_ids[i] < 0 || eos_ids[i] >= n) {
            gr_errf(err, errlen,
                    "vocabulary: end-of-sequence id %d is outside the vocabulary (0..%d)",
                    eos_ids[i], n - 1);
            gr_vocab_free(v);
            return GR_ERR;
        }
        v->eos[i] = eos_ids[i];
        v->is_eos[eos_ids[i]] = true;
    }
    order = malloc((size_t)n * sizeof *order);
    rest = malloc((size_t)n * sizeof *rest);
    if (!order || !rest) goto oom;
    int32_t m = 0;
    for (int32_t id = 0; id < n; id++) {
        size_t len = 0;
        v->bytes[id] = tok_token_bytes(tok, id, &len);
        v->len[id] = len <= 65535 ? (uint32_t)len : 0; /* no real token is that long */
        v->is_special[id] = tok_is_special(tok, id);
        if (v->bytes[id] && v->len[id] > 0 && !v->is_special[id] && !v->is_eos[id]) order[m++] = id;
    }
    sort_tok *st = malloc(((size_t)m + 1) * sizeof *st);
    if (!st) goto oom;
    for (int32_t i = 0; i < m; i++)
        st[i] = (sort_tok){v->bytes[order[i]], v->len[order[i]], order[i]};
    qsort(st, (size_t)m, sizeof *st, cmp_tokens);
    for (int32_t i = 0; i < m; i++)
        order[i] = st[i].id;
    free(st);
    if (!build_trie(v, &v->all, order, m)) goto oom;
    for (int band = 0; band < 2; band++) {
        int32_t r = 0;
        for (int32_t i = 0; i < m; i++)
            if ((v->len[order[i]] > GR_BAND0_LEN) == band) rest[r++] = order[i];
        if (!build_trie(v, band ? &v->all1 : &v->all0, rest, r)) goto oom;
        if (band == 0) continue;
        v->n1 = r;
        v->n1_words = ((size_t)r + 31) / 32;
        if (!(v->ids1 = malloc(((size_t)r + 1) * sizeof *v->ids1))) goto oom;
        memcpy(v->ids1, rest, (size_t)r * sizeof *rest);
    }
    /* band 1's tries and masks by index in ids1 (idx1: id -> index, only read for band 1) */
    int32_t *idx1 = malloc((size_t)n * sizeof *idx1);
    if (!idx1) goto oom;
    for (int32_t j = 0; j < v->n1; j++)
        idx1[v->ids1[j]] = j;
    for (int k = 0; k < GR_N_SLICES; k++)
        for (int t = 0; t <= GR_N_TIERS; t++) { /* t == GR_N_TIERS: band 1 */
            uint32_t *sm = calloc(t < GR_N_TIERS ? v->n_words : v->n1_words + 1, sizeof *sm);
            if (!sm) {
                free(idx1);
                goto oom;
            }
            if (t < GR_N_TIERS)
                v->slice_mask[k][t] = sm;
            else
                v->slice_mask1[k] = sm;
            uint32_t lo = t < GR_N_TIERS ? 0 : GR_BAND0_LEN + 1;
            uint32_t hi = t == GR_N_TIERS ? UINT32_MAX : (uint32_t)gr_tier_len[t <= 1 ? 1 : t];
            int32_t r = 0;
            for (int32_t i = 0; i < m; i++) {
                int32_t id = order[i];
                if ((t < GR_N_TIERS) != (v->len[id] <= GR_BAND0_LEN)) continue; /* other band */
                int32_t bit = t < GR_N_TIERS ? id : idx1[id];
                if (in_slice(v, k, id) && v->len[id] >= lo && v->len[id] <= hi)
                    sm[bit >> 5] |= 1u << (bit & 31);
                else
                    rest[r++] = id;
            }
            gr_trie *tr = t < GR_N_TIERS ? &v->rest[k][t] : &v->rest1[k];
            if (!build_trie(v, tr, rest, r)) {
                free(idx1);
                goto oom;
            }
            if (t == GR_N_TIERS)
                for (int32_t j = 0; j < tr->tok_first[tr->n_nodes]; j++)
                    tr->tok[j] = idx1[tr->tok[j]];
        }
    for (int32_t j = 0; j < v->all1.tok_first[v->all1.n_nodes]; j++)
        v->all1.tok[j] = idx1[v->all1.tok[j]];
    free(idx1);
    free(order), free(rest);
    *out = v;
    return GR_OK;
oom:
    free(order), free(rest);
    gr_vocab_free(v);
    gr_errf(err, errlen, "vocabulary: out of memory");
    return GR_ERR;
}

int32_t gr_vocab_size(const gr_vocab *v)
{
    return v->n_vocab;
}

size_t gr_mask_words(const gr_vocab *v)
{
    return v->n_words;
}
