/* Added tokens: matching them in text before normalization and pre-tokenization, with the flags
 * of HF's AddedToken (single_word, lstrip, rstrip, normalized). Knows nothing of BPE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_unicode.h"
#include "models/tokenizer/tok_utf8.h"

void tok_matcher_free(tok_matcher *m)
{
    free(m->entries);
    free(m->owned);
    memset(m, 0, sizeof *m);
}

static int cmp_entry(const void *a, const void *b)
{
    const tok_match_entry *x = a, *y = b;
    int fx = (uint8_t)x->pat[0], fy = (uint8_t)y->pat[0];
    return fx != fy ? fx - fy : x->added - y->added;
}

static int build_one(tok_tokenizer *t, tok_matcher *m, bool normalized)
{
    size_t count = 0, bytes = 0;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].normalized == normalized && t->added[i].len > 0) count++;
    m->entries = calloc(count ? count : 1, sizeof *m->entries);
    if (!m->entries) return -1;
    char **norm = calloc(count ? count : 1, sizeof *norm);
    size_t *norm_len = calloc(count ? count : 1, sizeof *norm_len);
    int rc = (norm && norm_len) ? 0 : -1;
    for (size_t i = 0; i < t->n_added && rc == 0; i++) {
        const tok_added_token *a = &t->added[i];
        if (a->normalized != normalized || a->len == 0) continue;
        tok_match_entry *e = &m->entries[m->n];
        *e = (tok_match_entry){a->content, a->len, (int32_t)i};
        /* HF matches a normalized token by its content after the normalizer. */
        if (normalized && t->n_norm) {
            rc = tok_normalize(t, a->content, a->len, &norm[m->n], &norm_len[m->n]);
            if (rc == TOK_OK && !norm[m->n]) { /* unchanged */
                if ((norm[m->n] = malloc(a->len + 1)))
                    memcpy(norm[m->n], a->content, a->len);
                else
                    rc = -1;
            }
            bytes += norm_len[m->n];
        }
        m->n++;
    }
    if (rc == 0 && normalized && t->n_norm) {
        m->owned = malloc(bytes ? bytes : 1);
        size_t off = 0;
        for (size_t i = 0; i < m->n && m->owned; i++) {
            memcpy(m->owned + off, norm[i], norm_len[i]);
            m->entries[i].pat = m->owned + off;
            m->entries[i].len = norm_len[i];
            off += norm_len[i];
        }
        if (!m->owned) rc = -1;
    }
    for (size_t i = 0; norm && i < count; i++)
        free(norm[i]);
    free(norm);
    free(norm_len);
    if (rc != 0) return rc;
    /* An entry whose normalized form is empty can never match; drop it. */
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->entries[i].len > 0) m->entries[k++] = m->entries[i];
    m->n = k;
    qsort(m->entries, m->n, sizeof *m->entries, cmp_entry);
    size_t i = 0;
    for (int b = 0; b <= 256; b++) {
        while (i < m->n && (uint8_t)m->entries[i].pat[0] < b)
            i++;
        m->start[b] = (uint32_t)i;
    }
    return 0;
}

int tok_build_matchers(tok_tokenizer *t, char *err, size_t errlen)
{
    if (build_one(t, &t->raw_match, false) != 0 || build_one(t, &t->norm_match, true) != 0) {
        snprintf(err, errlen, "tokenizer: out of memory building the added-token matcher");
        return TOK_ERR;
    }
    return TOK_OK;
}

static bool is_space(int32_t c)
{
    return tok_unicode_is_space(c);
}

/* Rust regex's Unicode \w, which single_word uses. */
static bool is_word(int32_t c)
{
    return tok_unicode_is_word(c);
}

/* The code point that ends at text[end) (text is valid UTF-8 and end > 0). */
static int32_t char_before(const char *text, size_t end, size_t *start)
{
    size_t s = end - 1;
    while (s > 0 && ((uint8_t)text[s] & 0xC0) == 0x80)
        s--;
    int32_t cp = 0xFFFD;
    tok_utf8_next((const uint8_t *)text + s, end - s, &cp);
    *start = s;
    return cp;
}

static int32_t char_at(const char *text, size_t n, size_t pos, size_t *len)
{
    int32_t cp = 0xFFFD;
    *len = tok_utf8_next((const uint8_t *)text + pos, n - pos, &cp);
    if (*len == 0) *len = 1;
    return cp;
}

/* Longest pattern of m that starts at text[i], or NULL. */
static const tok_match_entry *longest_at(const tok_matcher *m, const char *text, size_t n, size_t i)
{
    uint8_t b = (uint8_t)text[i];
    const tok_match_entry *best = NULL;
    for (uint32_t k = m->start[b]; k < m->start[b + 1]; k++) {
        const tok_match_entry *e = &m->entries[k];
        if (e->len <= n - i && (!best || e->len > best->len) &&
            memcmp(text + i, e->pat, e->len) == 0)
            best = e;
    }
    return best;
}

int tok_split_added(const tok_tokenizer *t, const tok_matcher *m, const char *text, size_t n,
                    tok_piece_fn fn, void *ctx)
{
    size_t start_offset = 0, i = 0;
    int rc;
    while (m->n > 0 && i < n) {
        const tok_match_entry *e = longest_at(m, text, n, i);
        if (!e) {
            i++;
            continue;
        }
        const tok_added_token *a = &t->added[e->added];
        size_t start = i, stop = i + e->len, len;
        i = stop; /* the next search resumes after the match itself, whatever the flags swallow */
        if (a->single_word) {
            size_t s;
            bool start_space = start == 0 || !is_word(char_before(text, start, &s));
            bool stop_space = stop == n || !is_word(char_at(text, n, stop, &len));
            if (!start_space || !stop_space) continue;
        }
        if (a->lstrip) {
            size_t newstart = start, s;
            while (newstart > 0 && is_space(char_before(text, newstart, &s)))
                newstart = s;
            start = newstart > start_offset ? newstart : start_offset;
        }
        if (a->rstrip)
            while (stop < n && is_space(char_at(text, n, stop, &len)))
                stop += len;
        if (start_offset < start &&
            (rc = fn(ctx, text + start_offset, start - start_offset, -1)) != 0)
            return rc;
        /* Only a whitespace-only token inside an earlier token's rstrip can end before it starts.
         */
        if ((rc = fn(ctx, text + start, stop > start ? stop - start : 0, a->id)) != 0) return rc;
        start_offset = stop;
    }
    if (start_offset < n) return fn(ctx, text + start_offset, n - start_offset, -1);
    return 0;
}
