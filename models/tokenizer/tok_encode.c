/* Encoding in HF's order: UTF-8 repair, the non-normalized added tokens split out, the normalizer
 * over each piece between them, the normalized added tokens, the pre-tokenizer, BPE per word, and
 * (when asked for special tokens) the post-processor's ids around the sequence. Stateless per call,
 * so many threads may encode with one tokenizer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_utf8.h"

typedef struct {
    const tok_tokenizer *t;
    tok_ids ids;
    tok_bpe_scratch bpe;
    pcre2_match_data *md;
    const char *raw_start,
        *norm_start; /* where the whole input and the current normalized piece start */
    bool raw_first;  /* the current raw piece starts the input */
    char *err;
    size_t errlen;
} enc_ctx;

static int enc_fail(enc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int enc_fail(enc_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return TOK_ERR;
}

static int word(void *ctx, const char *p, size_t n)
{
    enc_ctx *c = ctx;
    int rc = c->t->wordpiece
                 ? tok_wordpiece_word(c->t, p, n, &c->ids)
                 : tok_bpe_word(c->t, (const uint8_t *)p, n, c->t->byte_level, &c->ids, &c->bpe);
    if (rc == -2)
        return enc_fail(c,
                        "tok_encode: the text needs model.unk_token, which the vocabulary lacks");
    return rc == 0 ? TOK_OK : enc_fail(c, "tok_encode: out of memory");
}

static int normalized_piece(void *ctx, const char *p, size_t n, int32_t token)
{
    enc_ctx *c = ctx;
    if (token >= 0)
        return tok_ids_push(&c->ids, token) == 0 ? TOK_OK
                                                 : enc_fail(c, "tok_encode: out of memory");
    return tok_pre_tokenize(c->t, p, n, c->raw_first && p == c->norm_start, c->md, word, c, c->err,
                            c->errlen);
}

static int raw_piece(void *ctx, const char *p, size_t n, int32_t token)
{
    enc_ctx *c = ctx;
    if (token >= 0)
        return tok_ids_push(&c->ids, token) == 0 ? TOK_OK
                                                 : enc_fail(c, "tok_encode: out of memory");
    char *norm = NULL;
    size_t norm_len = n;
    if (tok_normalize(c->t, p, n, &norm, &norm_len) != TOK_OK)
        return enc_fail(c, "tok_encode: normalization failed");
    c->raw_first = p == c->raw_start;
    c->norm_start = norm ? norm : p;
    int rc = tok_split_added(c->t, &c->t->norm_match, c->norm_start, norm_len, normalized_piece, c);
    free(norm);
    return rc;
}

static int push_all(tok_ids *ids, const int32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tok_ids_push(ids, v[i]) != 0) return -1;
    return 0;
}

int tok_encode_special(const tok_tokenizer *t, const char *text, size_t len,
                       bool add_special_tokens, int32_t **ids, size_t *n, char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    enc_ctx c = {.t = t, .err = err, .errlen = errlen};
    char *fixed = NULL;
    if (tok_utf8_valid_prefix((const uint8_t *)text, len) != len) {
        fixed = malloc(len * 3 + 1);
        if (!fixed) return enc_fail(&c, "tok_encode: out of memory");
        len = tok_utf8_lossy((const uint8_t *)text, len, (uint8_t *)fixed);
        text = fixed;
    }
    c.raw_start = text;
    c.md = pcre2_match_data_create(1, NULL);
    int rc = c.md ? TOK_OK : enc_fail(&c, "tok_encode: out of memory");
    if (rc == TOK_OK && add_special_tokens &&
        push_all(&c.ids, t->post_prefix, t->n_post_prefix) != 0)
        rc = enc_fail(&c, "tok_encode: out of memory");
    if (rc == TOK_OK) rc = tok_split_added(t, &t->raw_match, text, len, raw_piece, &c);
    if (rc == TOK_OK && add_special_tokens &&
        push_all(&c.ids, t->post_suffix, t->n_post_suffix) != 0)
        rc = enc_fail(&c, "tok_encode: out of memory");
    pcre2_match_data_free(c.md);
    tok_bpe_scratch_free(&c.bpe);
    free(fixed);
    if (rc != TOK_OK) {
        free(c.ids.v);
        return TOK_ERR;
    }
    *ids = c.ids.v;
    *n = c.ids.n;
    return TOK_OK;
}

int tok_encode(const tok_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
               char *err, size_t errlen)
{
    return tok_encode_special(t, text, len, false, ids, n, err, errlen);
}

int tok_pre_tokenize_text(const tok_tokenizer *t, const char *text, size_t len,
                          int (*fn)(void *ctx, const char *word, size_t n), void *ctx, char *err,
                          size_t errlen)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return tok_fail(err, errlen, "tok_pre_tokenize_text: out of memory");
    int rc = tok_pre_tokenize(t, text, len, true, md, fn, ctx, err, errlen);
    pcre2_match_data_free(md);
    return rc;
}

int tok_normalize_text(const tok_tokenizer *t, const char *text, size_t len, char **out,
                       size_t *outlen, char *err, size_t errlen)
{
    if (tok_normalize(t, text, len, out, outlen) != TOK_OK)
        return tok_fail(err, errlen, "tok_normalize_text: out of memory");
    if (!*out) { /* unchanged; the normalizer's own results are NUL-terminated already */
        if (!(*out = malloc(len + 1)))
            return tok_fail(err, errlen, "tok_normalize_text: out of memory");
        memcpy(*out, text, len);
        (*out)[len] = '\0';
        *outlen = len;
    }
    return TOK_OK;
}
