/* The vocabulary as the matcher walks it: every ordinary token's bytes in one trie laid out in
 * depth-first preorder, so that a mask is one forward pass that skips whole subtrees the grammar
 * rejects. Special tokens stay out of the trie (never allowed inside a structure); the
 * end-of-sequence ids are handled by the matcher directly. */
#include <stdlib.h>
#include <string.h>

#include "models/grammar/gr_internal.h"

static const gr_vocab *sort_vocab;

static int cmp_tokens(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = sort_vocab->len[x], ly = sort_vocab->len[y];
    int c = memcmp(sort_vocab->bytes[x], sort_vocab->bytes[y], lx < ly ? lx : ly);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : 1;
}

void gr_vocab_free(gr_vocab *v)
{
    if (!v) return;
    free(v->byte), free(v->depth), free(v->end), free(v->tok_first), free(v->tok);
    free(v->eos), free(v->is_eos), free(v->is_special), free(v->bytes), free(v->len);
    free(v);
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
    int32_t *order = malloc((size_t)n * sizeof *order);
    if (!order) goto oom;
    int32_t m = 0;
    size_t total = 0;
    for (int32_t id = 0; id < n; id++) {
        size_t len = 0;
        v->bytes[id] = tok_token_bytes(tok, id, &len);
        v->len[id] = (uint32_t)len;
        v->is_special[id] = tok_is_special(tok, id);
        if (v->bytes[id] && len > 0 && !v->is_special[id] && !v->is_eos[id]) {
            order[m++] = id;
            total += len;
            if (len > 65535) v->len[id] = 0, m--; /* no real token is that long */
        }
    }
    sort_vocab = v;
    qsort(order, (size_t)m, sizeof *order, cmp_tokens);
    sort_vocab = NULL;
    /* at most one node per byte of every token, plus the root */
    size_t cap = total + 1;
    v->byte = malloc(cap);
    v->depth = malloc(cap * sizeof *v->depth);
    v->end = malloc(cap * sizeof *v->end);
    v->tok_first = malloc((cap + 1) * sizeof *v->tok_first);
    v->tok = malloc(((size_t)m + 1) * sizeof *v->tok);
    int32_t *path = malloc(65537 * sizeof *path);
    if (!v->byte || !v->depth || !v->end || !v->tok_first || !v->tok || !path) {
        free(order), free(path);
        goto oom;
    }
    int32_t nn = 1, nt = 0, top = 0; /* path[0..top] = nodes on the current path (path[0] root) */
    v->byte[0] = 0;
    v->depth[0] = 0;
    v->tok_first[0] = 0;
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
            v->end[path[top--]] = nn;
        for (uint32_t d = lcp; d < len; d++) {
            v->byte[nn] = b[d];
            v->depth[nn] = (uint16_t)(d + 1);
            v->tok_first[nn] = nt;
            if ((int32_t)d + 1 > v->max_depth) v->max_depth = (int32_t)d + 1;
            path[++top] = nn++;
        }
        v->tok[nt++] = id;
        prev = b;
        prev_len = len;
    }
    while (top >= 0)
        v->end[path[top--]] = nn;
    v->tok_first[nn] = nt;
    v->n_nodes = nn;
    free(order), free(path);
    *out = v;
    return GR_OK;
oom:
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
