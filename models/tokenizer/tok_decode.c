/* Decoding: ids to text as HF's ByteLevel decoder does (pieces back to bytes, then a lossy UTF-8
 * conversion of the whole byte string), the streaming detokenizer, and the small accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_utf8.h"

/* HF's decode skips ids it has no token for, and special tokens when asked to. */
static bool emits(const tok_tokenizer *t, int32_t id, bool skip_special)
{
    return id >= 0 && id < t->n_ids && t->piece_off[id] != UINT32_MAX && !(skip_special && t->special[id]);
}

int tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, bool skip_special_tokens, char **text,
               size_t *len, char *err, size_t errlen)
{
    *text = NULL;
    *len = 0;
    size_t raw_len = 0;
    for (size_t i = 0; i < n; i++)
        if (emits(t, ids[i], skip_special_tokens)) raw_len += t->dec_len[ids[i]];
    uint8_t *raw = malloc(raw_len ? raw_len : 1);
    char *out = malloc(raw_len * 3 + 1);
    if (!raw || !out) {
        free(raw);
        free(out);
        snprintf(err, errlen, "tok_decode: out of memory");
        return TOK_ERR;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!emits(t, ids[i], skip_special_tokens)) continue;
        memcpy(raw + k, t->dec_blob + t->dec_off[ids[i]], t->dec_len[ids[i]]);
        k += t->dec_len[ids[i]];
    }
    *len = tok_utf8_lossy(raw, k, (uint8_t *)out);
    out[*len] = '\0';
    free(raw);
    *text = out;
    return TOK_OK;
}

struct tok_stream {
    const tok_tokenizer *t;
    bool skip_special;
    uint8_t pending[4]; /* a valid but unfinished UTF-8 sequence carried to the next id */
    size_t n_pending;
};

tok_stream *tok_stream_new(const tok_tokenizer *t, bool skip_special_tokens)
{
    tok_stream *s = calloc(1, sizeof *s);
    if (s) {
        s->t = t;
        s->skip_special = skip_special_tokens;
    }
    return s;
}

void tok_stream_free(tok_stream *s)
{
    free(s);
}

/* Converts pending + bytes, keeping back a trailing sequence that more bytes could still complete.
 * Everything before it converts the same way whatever follows, so the pieces concatenate to the
 * conversion of the whole byte string. */
static int stream_emit(tok_stream *s, const uint8_t *bytes, size_t n, bool final, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    size_t total = s->n_pending + n;
    uint8_t *buf = malloc(total ? total : 1);
    char *out = malloc(total * 3 + 1);
    if (!buf || !out) {
        free(buf);
        free(out);
        return TOK_ERR;
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
    *len = tok_utf8_lossy(buf, total - keep, (uint8_t *)out);
    out[*len] = '\0';
    memcpy(s->pending, buf + total - keep, keep);
    s->n_pending = keep;
    free(buf);
    *text = out;
    return TOK_OK;
}

int tok_stream_push(tok_stream *s, int32_t id, char **text, size_t *len)
{
    const tok_tokenizer *t = s->t;
    if (!emits(t, id, s->skip_special)) return stream_emit(s, NULL, 0, false, text, len);
    return stream_emit(s, t->dec_blob + t->dec_off[id], t->dec_len[id], false, text, len);
}

int tok_stream_finish(tok_stream *s, char **text, size_t *len)
{
    return stream_emit(s, NULL, 0, true, text, len);
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
