/* Byte-level BPE over one pre-tokenized word, with the merge order of HF's Word::merge_all: the
 * pair of lowest rank merges first, the leftmost one on ties. Short words use a direct scan; long
 * ones (a 100 KB run of CJK letters is a single word) a heap over a linked list of symbols. */
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_utf8.h"

#define TOK_SCAN_MAX 48 /* up to this many bytes the quadratic scan beats the heap */

struct tok_sym {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    int32_t alive;
};

struct tok_merge {
    int32_t rank;
    int32_t pos;
    int32_t merged;
};

int tok_ids_push(tok_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = realloc(ids->v, cap * sizeof *v);
        if (!v) return -1;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return 0;
}

void tok_bpe_scratch_free(tok_bpe_scratch *s)
{
    free(s->syms);
    free(s->heap);
    memset(s, 0, sizeof *s);
}

/* The initial symbols of BPE's merge_word: one per character (for a byte-level word, per byte,
 * through GPT-2's alphabet). A character the vocabulary lacks becomes its "<0xNN>" byte tokens
 * (byte_fallback, when all exist) or unk; consecutive unks fuse when fuse_unk. As in tokenizers,
 * byte tokens are added before an unk still pending from earlier characters. Returns the count, or
 * -2 when unk is needed and model.unk_token is not in the vocabulary. */
static long initial_symbols(const tok_tokenizer *t, const uint8_t *w, size_t n, bool byte_level,
                            int32_t *out)
{
    size_t k = 0;
    bool unk_pending = false;
    for (size_t i = 0; i < n;) {
        int32_t id, cp;
        size_t len;
        uint8_t mapped[4];
        const uint8_t *ch = w + i;
        if (byte_level) {
            len = 1;
            id = t->byte_id[w[i]];
            cp = tok_byte_to_char(w[i]);
            size_t m = cp < 0x80 ? (mapped[0] = (uint8_t)cp, 1)
                                 : (mapped[0] = (uint8_t)(0xC0 | (cp >> 6)),
                                    mapped[1] = (uint8_t)(0x80 | (cp & 0x3F)), 2);
            ch = mapped;
            i += 1;
            len = m;
        } else {
            len = tok_utf8_next(w + i, n - i, &cp);
            if (len == 0) len = 1;
            id = tok_strmap_get(&t->vocab, (const char *)w + i, len);
            i += len;
        }
        if (id >= 0) {
            if (unk_pending) out[k++] = t->unk_id;
            unk_pending = false;
            out[k++] = id;
            continue;
        }
        if (t->byte_fallback) {
            bool all = true;
            for (size_t j = 0; j < len; j++)
                all = all && t->byte_token[ch[j]] >= 0;
            if (all) {
                for (size_t j = 0; j < len; j++)
                    out[k++] = t->byte_token[ch[j]];
                continue;
            }
        }
        if (t->unk_missing) return -2;
        if (t->unk_id < 0) continue;
        if (unk_pending && !t->fuse_unk) out[k++] = t->unk_id;
        unk_pending = true;
    }
    if (unk_pending) out[k++] = t->unk_id;
    return (long)k;
}

static int merge_scan(const tok_tokenizer *t, int32_t *ids, size_t k, tok_ids *out)
{
    int32_t rank[TOK_SCAN_MAX];
    int32_t merged[TOK_SCAN_MAX];
    for (size_t i = 0; i + 1 < k; i++) {
        const tok_pairmap_slot *m = tok_pairmap_get(&t->merges, ids[i], ids[i + 1]);
        rank[i] = m ? m->rank : INT32_MAX;
        merged[i] = m ? m->merged : -1;
    }
    while (k > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < k; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == INT32_MAX) break;
        ids[best] = merged[best];
        memmove(ids + best + 1, ids + best + 2, (k - best - 2) * sizeof *ids);
        memmove(rank + best + 1, rank + best + 2, (k - best - 2) * sizeof *rank);
        memmove(merged + best + 1, merged + best + 2, (k - best - 2) * sizeof *merged);
        k--;
        for (size_t i = best ? best - 1 : 0; i <= best && i + 1 < k; i++) {
            const tok_pairmap_slot *m = tok_pairmap_get(&t->merges, ids[i], ids[i + 1]);
            rank[i] = m ? m->rank : INT32_MAX;
            merged[i] = m ? m->merged : -1;
        }
    }
    for (size_t i = 0; i < k; i++)
        if (tok_ids_push(out, ids[i]) != 0) return -1;
    return 0;
}

static bool merge_less(const struct tok_merge *a, const struct tok_merge *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(struct tok_merge *h, size_t *n, struct tok_merge m)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_less(&m, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = m;
}

static struct tok_merge heap_pop(struct tok_merge *h, size_t *n)
{
    struct tok_merge top = h[0];
    struct tok_merge last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && merge_less(&h[c + 1], &h[c])) c++;
        if (!merge_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static void push_pair(const tok_tokenizer *t, struct tok_sym *s, int32_t pos, struct tok_merge *h,
                      size_t *hn)
{
    if (pos < 0 || s[pos].next < 0) return;
    int32_t next = s[pos].next;
    const tok_pairmap_slot *m = tok_pairmap_get(&t->merges, s[pos].id, s[next].id);
    if (m) heap_push(h, hn, (struct tok_merge){m->rank, pos, m->merged});
}

static int merge_heap(const tok_tokenizer *t, const int32_t *ids, size_t k, tok_ids *out,
                      tok_bpe_scratch *sc)
{
    if (sc->syms_cap < k) {
        struct tok_sym *ns = realloc(sc->syms, k * sizeof *ns);
        if (!ns) return -1;
        sc->syms = ns;
        sc->syms_cap = k;
    }
    /* Every merge pushes at most two entries, and there are at most k - 1 merges. */
    size_t heap_need = 3 * k;
    if (sc->heap_cap < heap_need) {
        struct tok_merge *nh = realloc(sc->heap, heap_need * sizeof *nh);
        if (!nh) return -1;
        sc->heap = nh;
        sc->heap_cap = heap_need;
    }
    struct tok_sym *s = sc->syms;
    struct tok_merge *h = sc->heap;
    size_t hn = 0;
    for (size_t i = 0; i < k; i++)
        s[i] = (struct tok_sym){ids[i], (int32_t)i - 1, i + 1 < k ? (int32_t)i + 1 : -1, 1};
    for (size_t i = 0; i + 1 < k; i++)
        push_pair(t, s, (int32_t)i, h, &hn);
    while (hn > 0) {
        struct tok_merge top = heap_pop(h, &hn);
        struct tok_sym *cur = &s[top.pos];
        if (!cur->alive || cur->next < 0) continue;
        /* A queue entry is stale when its pair has changed since it was pushed. */
        const tok_pairmap_slot *m = tok_pairmap_get(&t->merges, cur->id, s[cur->next].id);
        if (!m || m->merged != top.merged) continue;
        struct tok_sym *right = &s[cur->next];
        cur->id = top.merged;
        right->alive = 0;
        cur->next = right->next;
        if (right->next >= 0) s[right->next].prev = top.pos;
        push_pair(t, s, cur->prev, h, &hn);
        push_pair(t, s, top.pos, h, &hn);
    }
    for (int32_t i = 0; i >= 0; i = s[i].next)
        if (tok_ids_push(out, s[i].id) != 0) return -1;
    return 0;
}

/* ignore_merges: a word that is itself a vocabulary entry is that one token. A byte-level word is
 * mapped to the vocabulary's alphabet first. */
static int32_t whole_word_id(const tok_tokenizer *t, const uint8_t *w, size_t n, bool byte_level)
{
    if (!byte_level) return tok_strmap_get(&t->vocab, (const char *)w, n);
    char buf[256];
    if (n > sizeof buf / 2) return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = tok_byte_to_char(w[i]);
        if (c < 0x80) {
            buf[k++] = (char)c;
        } else {
            buf[k++] = (char)(0xC0 | (c >> 6));
            buf[k++] = (char)(0x80 | (c & 0x3F));
        }
    }
    return tok_strmap_get(&t->vocab, buf, k);
}

int tok_bpe_word(const tok_tokenizer *t, const uint8_t *w, size_t n, bool byte_level, tok_ids *out,
                 tok_bpe_scratch *s)
{
    if (n == 0) return 0;
    if (t->ignore_merges) {
        int32_t id = whole_word_id(t, w, n, byte_level);
        if (id >= 0) return tok_ids_push(out, id);
    }
    /* At most four symbols per byte (a character of up to four bytes each falling back to a byte
     * token, plus one unk). */
    int32_t small[4 * TOK_SCAN_MAX + 1];
    int32_t *ids = n <= TOK_SCAN_MAX ? small : malloc((4 * n + 1) * sizeof *ids);
    if (!ids) return -1;
    long k = initial_symbols(t, w, n, byte_level, ids);
    int rc = k < 0               ? (int)k
             : k == 0            ? 0
             : k <= TOK_SCAN_MAX ? merge_scan(t, ids, (size_t)k, out)
                                 : merge_heap(t, ids, (size_t)k, out, s);
    if (ids != small) free(ids);
    return rc;
}

/* GPT-2's table: printable Latin-1 bytes stand for themselves; the other 68 (0x00-0x20, 0x7F-0xA0,
 * 0xAD) are numbered upward from U+0100 in byte order. */
int32_t tok_byte_to_char(uint8_t b)
{
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7F && b <= 0xA0) return 0x100 + 33 + (b - 0x7F);
    if (b == 0xAD) return 0x143;
    return b;
}

int tok_char_to_byte(int32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return cp;
    if (cp < 0x100 || cp > 0x143) return -1;
    int32_t k = cp - 0x100;
    if (k < 33) return k;
    if (k < 67) return 0x7F + (k - 33);
    return 0xAD;
}
