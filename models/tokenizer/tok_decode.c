/* Decoding: ids to text through the decoder chain exactly as HF's decode does, and the streaming
 * detokenizer, which runs the same chain incrementally so that its pieces concatenate to the whole
 * decode. The plain ByteLevel chain (GPT-2, Qwen, Llama 3) has a direct path over per-id bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_utf8.h"

/* HF's decode skips ids it has no token for, and special tokens when asked to. */
static bool emits(const tok_tokenizer *t, int32_t id, bool skip_special)
{
    return id >= 0 && id < t->n_ids && t->piece_off[id] != UINT32_MAX &&
           !(skip_special && t->special[id]);
}

/* The stream. Steps before the join (the first Fuse or ByteLevel) see whole tokens; ByteFallback
 * keeps a run of byte tokens until it ends. The join turns tokens into one growing text, and the
 * steps after it act on that text as it grows: Strip holds back what it may still remove from the
 * end, a String Replace what may still start a match; a step that needs the whole text (a Regex
 * Replace, ByteFallback, ByteLevel or WordPiece after the join) makes the rest wait for
 * tok_stream_finish. */
struct tok_stream {
    const tok_tokenizer *t;
    bool skip_special;
    uint8_t
        pending[4]; /* a valid but unfinished UTF-8 sequence carried to the next id (ByteLevel) */
    size_t n_pending;
    size_t count[TOK_MAX_STEPS + 1]; /* tokens each step before the join has received */
    tok_buf run[TOK_MAX_STEPS];      /* ByteFallback's byte tokens waiting for their run to end */
    tok_buf hold[TOK_MAX_STEPS];     /* after the join: text a step holds back */
    size_t lead[TOK_MAX_STEPS];      /* Strip after the join: copies removed from the front */
    bool lead_done[TOK_MAX_STEPS];
    size_t hold_from; /* steps from here on wait for the whole text */
    tok_buf all;
    tok_buf out; /* what the current call emits */
};

tok_stream *tok_stream_new(const tok_tokenizer *t, bool skip_special_tokens)
{
    tok_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->t = t;
    s->skip_special = skip_special_tokens;
    s->hold_from = t->n_dec;
    for (size_t k = t->dec_join + 1; k < t->n_dec; k++) {
        const tok_dec_step *d = &t->dec[k];
        if (d->kind == TOK_DEC_BYTEFALLBACK || d->kind == TOK_DEC_BYTELEVEL ||
            d->kind == TOK_DEC_WORDPIECE ||
            (d->kind == TOK_DEC_REPLACE && d->re && !d->literal_len)) {
            s->hold_from = k;
            break;
        }
    }
    return s;
}

void tok_stream_free(tok_stream *s)
{
    if (!s) return;
    for (size_t i = 0; i < TOK_MAX_STEPS; i++) {
        free(s->run[i].s);
        free(s->hold[i].s);
    }
    free(s->all.s);
    free(s->out.s);
    free(s);
}

/* Text after the join, entering step k. */
static int after_join(tok_stream *s, size_t k, const char *p, size_t n)
{
    const tok_tokenizer *t = s->t;
    if (k == t->n_dec) return tok_buf_put(&s->out, p, n);
    if (k >= s->hold_from) return tok_buf_put(&s->all, p, n);
    const tok_dec_step *d = &t->dec[k];
    if (d->kind == TOK_DEC_METASPACE) {
        tok_buf m = {0};
        int rc = tok_dec_apply(d, p, n, 0, &m) != 0 ? -1 : after_join(s, k + 1, m.s, m.n);
        free(m.s);
        return rc;
    }
    if (d->kind == TOK_DEC_STRIP) {
        size_t i = 0, c = d->strip_len;
        while (!s->lead_done[k] && i < n) {
            if (s->lead[k] < d->start && n - i >= c && memcmp(p + i, d->strip, c) == 0) {
                i += c;
                s->lead[k]++;
            } else {
                s->lead_done[k] = true;
            }
        }
        if (d->stop == 0) return after_join(s, k + 1, p + i, n - i);
        tok_buf *h = &s->hold[k];
        if (tok_buf_put(h, p + i, n - i) != 0) return -1;
        size_t keep = 0; /* the trailing copies Strip may still remove, at most stop of them */
        while (keep < d->stop && h->n >= (keep + 1) * c &&
               memcmp(h->s + h->n - (keep + 1) * c, d->strip, c) == 0)
            keep++;
        size_t emit = h->n - keep * c;
        int rc = after_join(s, k + 1, h->s, emit);
        memmove(h->s, h->s + emit, keep * c);
        h->n = keep * c;
        return rc;
    }
    if (d->kind == TOK_DEC_REPLACE && d->re) {
        tok_buf *h = &s->hold[k];
        if (tok_buf_put(h, p, n) != 0) return -1;
        pcre2_match_data *md = pcre2_match_data_create(1, NULL);
        tok_spans sp = {0};
        char msg[160];
        int rc = md ? tok_regex_find(d->re, md, h->s, h->n, &sp, msg, sizeof msg) : TOK_ERR;
        pcre2_match_data_free(md);
        /* Matches are final once found; after the last one, only the last literal_len - 1 bytes can
         * still begin a match. */
        size_t last_end = 0;
        for (size_t i = 0; i < sp.n; i++)
            if (sp.v[i].match) last_end = sp.v[i].e;
        size_t emit = h->n >= d->literal_len - 1 ? h->n - (d->literal_len - 1) : 0;
        while (emit > last_end && emit < h->n && ((uint8_t)h->s[emit] & 0xC0) == 0x80)
            emit--;
        if (emit < last_end) emit = last_end;
        tok_buf r = {0};
        for (size_t i = 0; i < sp.n && rc == TOK_OK && sp.v[i].s < emit; i++) {
            const tok_span *x = &sp.v[i];
            if (x->match)
                rc = tok_buf_put(&r, d->content, d->content_len);
            else
                rc = tok_buf_put(&r, h->s + x->s, (x->e < emit ? x->e : emit) - x->s);
        }
        free(sp.v);
        if (rc == TOK_OK) rc = after_join(s, k + 1, r.s ? r.s : "", r.n);
        free(r.s);
        memmove(h->s, h->s + emit, h->n - emit);
        h->n -= emit;
        return rc;
    }
    return after_join(s, k + 1, p, n); /* Fuse, or a Replace that never matches */
}

/* Converts pending + bytes, keeping back a trailing sequence that more bytes could still complete.
 * Everything before it converts the same way whatever follows. */
static int join_bytes(tok_stream *s, const uint8_t *bytes, size_t n, bool final, tok_buf *dst)
{
    size_t total = s->n_pending + n;
    uint8_t *buf = malloc(total ? total : 1);
    char *out = malloc(total * 3 + 1);
    if (!buf || !out) {
        free(buf);
        free(out);
        return -1;
    }
    memcpy(buf, s->pending, s->n_pending);
    if (n) memcpy(buf + s->n_pending, bytes, n);
    size_t keep = 0;
    if (!final) {
        /* Only the last three bytes can hold an unfinished sequence (at most four bytes long). */
        for (size_t back = total < 3 ? total : 3; back > 0; back--)
            if (tok_utf8_incomplete(buf + total - back, back)) {
                keep = back;
                break;
            }
    }
    size_t len = tok_utf8_lossy(buf, total - keep, (uint8_t *)out);
    memcpy(s->pending, buf + total - keep, keep);
    s->n_pending = keep;
    int rc = tok_buf_put(dst, out, len);
    free(buf);
    free(out);
    return rc;
}

static int join(tok_stream *s, const char *p, size_t n)
{
    const tok_tokenizer *t = s->t;
    if (!t->has_decoder) { /* tokens joined by spaces */
        bool first = s->count[t->dec_join]++ == 0;
        return (!first && tok_buf_put(&s->out, " ", 1) != 0) ? -1 : tok_buf_put(&s->out, p, n);
    }
    s->count[t->dec_join]++;
    if (t->dec_join == t->n_dec) return tok_buf_put(&s->out, p, n);
    if (t->dec[t->dec_join].kind == TOK_DEC_FUSE) return after_join(s, t->dec_join + 1, p, n);
    tok_buf raw = {0}, text = {0};
    int rc = tok_dec_byte_level(p, n, &raw) != 0
                 ? -1
                 : join_bytes(s, (const uint8_t *)raw.s, raw.n, false, &text);
    if (rc == 0) rc = after_join(s, t->dec_join + 1, text.s ? text.s : "", text.n);
    free(raw.s);
    free(text.s);
    return rc;
}

static int before_join(tok_stream *s, size_t i, const char *p, size_t n);

/* ByteFallback's run: one token when the bytes are UTF-8, else one U+FFFD per byte. */
static int flush_run(tok_stream *s, size_t i)
{
    tok_buf r = s->run[i];
    s->run[i] = (tok_buf){0};
    int rc = 0;
    if (r.n && tok_utf8_valid_prefix((const uint8_t *)r.s, r.n) == r.n)
        rc = before_join(s, i + 1, r.s, r.n);
    else
        for (size_t k = 0; k < r.n && rc == 0; k++)
            rc = before_join(s, i + 1, "\xEF\xBF\xBD", 3);
    free(r.s);
    return rc;
}

static int before_join(tok_stream *s, size_t i, const char *p, size_t n)
{
    const tok_tokenizer *t = s->t;
    if (i == t->dec_join) return join(s, p, n);
    const tok_dec_step *d = &t->dec[i];
    size_t idx = s->count[i]++;
    uint8_t b;
    if (d->kind == TOK_DEC_BYTEFALLBACK) {
        if (tok_dec_byte_token(p, n, &b)) return tok_buf_put(&s->run[i], (const char *)&b, 1);
        return flush_run(s, i) != 0 ? -1 : before_join(s, i + 1, p, n);
    }
    tok_buf m = {0};
    int rc = tok_dec_apply(d, p, n, idx, &m) != 0 ? -1 : before_join(s, i + 1, m.s ? m.s : "", m.n);
    free(m.s);
    return rc;
}

static int take_out(tok_stream *s, int rc, char **text, size_t *len)
{
    if (rc == 0 && !s->out.s) rc = tok_buf_put(&s->out, "", 0);
    if (rc != 0) {
        free(s->out.s);
        s->out = (tok_buf){0};
        return TOK_ERR;
    }
    *text = s->out.s;
    *len = s->out.n;
    s->out = (tok_buf){0};
    return TOK_OK;
}

int tok_stream_push(tok_stream *s, int32_t id, char **text, size_t *len)
{
    const tok_tokenizer *t = s->t;
    *text = NULL;
    *len = 0;
    if (!emits(t, id, s->skip_special)) return take_out(s, 0, text, len);
    if (t->plain_byte_level_decoder)
        return take_out(s,
                        join_bytes(s, t->dec_blob + t->dec_off[id], t->dec_len[id], false, &s->out),
                        text, len);
    const char *p = t->blob + t->piece_off[id];
    return take_out(s, before_join(s, 0, p, strlen(p)), text, len);
}

int tok_stream_finish(tok_stream *s, char **text, size_t *len)
{
    const tok_tokenizer *t = s->t;
    *text = NULL;
    *len = 0;
    int rc = 0;
    if (t->plain_byte_level_decoder)
        return take_out(s, join_bytes(s, NULL, 0, true, &s->out), text, len);
    for (size_t i = 0; i < t->dec_join && rc == 0; i++)
        if (t->dec[i].kind == TOK_DEC_BYTEFALLBACK) rc = flush_run(s, i);
    if (rc == 0 && t->dec_join < t->n_dec) {
        if (t->dec[t->dec_join].kind == TOK_DEC_BYTELEVEL) {
            tok_buf text2 = {0};
            rc = join_bytes(s, NULL, 0, true, &text2);
            if (rc == 0) rc = after_join(s, t->dec_join + 1, text2.s ? text2.s : "", text2.n);
            free(text2.s);
        }
        for (size_t k = t->dec_join + 1; k < s->hold_from && rc == 0; k++) {
            tok_buf h = s->hold[k];
            s->hold[k] = (tok_buf){0};
            /* Strip's held copies are the ones it removes; a Replace's tail holds no match. */
            if (t->dec[k].kind != TOK_DEC_STRIP) rc = after_join(s, k + 1, h.s ? h.s : "", h.n);
            free(h.s);
        }
        if (rc == 0 && s->hold_from < t->n_dec) {
            tok_buf cur = s->all;
            s->all = (tok_buf){0};
            if (!cur.s) rc = tok_buf_put(&cur, "", 0);
            for (size_t k = s->hold_from; k < t->n_dec && rc == 0; k++) {
                tok_buf next = {0};
                rc = tok_dec_apply(&t->dec[k], cur.s, cur.n, 0, &next);
                free(cur.s);
                cur = next;
            }
            if (rc == 0) rc = tok_buf_put(&s->out, cur.s ? cur.s : "", cur.n);
            free(cur.s);
        }
    }
    return take_out(s, rc, text, len);
}

int tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, bool skip_special_tokens,
               char **text, size_t *len, char *err, size_t errlen)
{
    *text = NULL;
    *len = 0;
    tok_stream *s = tok_stream_new(t, skip_special_tokens);
    tok_buf all = {0};
    int rc = s ? 0 : -1;
    for (size_t i = 0; i <= n && rc == 0; i++) {
        char *piece;
        size_t plen;
        rc =
            i < n ? tok_stream_push(s, ids[i], &piece, &plen) : tok_stream_finish(s, &piece, &plen);
        if (rc == 0) {
            rc = tok_buf_put(&all, piece, plen);
            free(piece);
        }
    }
    tok_stream_free(s);
    if (rc == 0 && !all.s) rc = tok_buf_put(&all, "", 0);
    if (rc != 0) {
        free(all.s);
        snprintf(err, errlen, "tok_decode: out of memory");
        return TOK_ERR;
    }
    *text = all.s;
    *len = all.n;
    return TOK_OK;
}

int32_t tok_vocab_size(const tok_tokenizer *t)
{
    return t->n_ids;
}

int32_t tok_token_id(const tok_tokenizer *t, const char *token)
{
    size_t n = strlen(token);
    int32_t id = tok_strmap_get(&t->added_map, token, n);
    return id >= 0 ? id : tok_strmap_get(&t->vocab, token, n);
}

const char *tok_token_text(const tok_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_ids || t->piece_off[id] == UINT32_MAX) return NULL;
    return t->blob + t->piece_off[id];
}

bool tok_is_special(const tok_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_ids && t->special[id];
}

const uint8_t *tok_token_bytes(const tok_tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_ids || t->piece_off[id] == UINT32_MAX) {
        *len = 0;
        return NULL;
    }
    *len = t->dec_len[id];
    return t->dec_blob + t->dec_off[id];
}

const char *tok_chat_template(const tok_tokenizer *t)
{
    return t->chat_template;
}

const char *tok_eos_token(const tok_tokenizer *t)
{
    return t->eos;
}

const char *tok_bos_token(const tok_tokenizer *t)
{
    return t->bos;
}

const char *tok_pad_token(const tok_tokenizer *t)
{
    return t->pad;
}
