/* Fuzz target for the tokenizer.json loader and every component it builds: the input is a
 * tokenizer.json document (tok_load_json). One that loads must then encode fixed texts and the
 * input itself (with and without special tokens) to ids inside the vocabulary, decode them whole
 * and streamed to the same valid UTF-8, and give tok_token_bytes for every id. Aborts otherwise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tokenizer.h"

static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80                 ? 1
                   : c >= 0xC2 && c <= 0xDF ? 2
                   : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4
                                            : 0;
        if (k == 0 || i + k > n) return false;
        for (size_t j = 1; j < k; j++)
            if (((unsigned char)s[i + j] & 0xC0) != 0x80) return false;
        i += k;
    }
    return true;
}

static void decode_both_ways(const tok_tokenizer *t, const int32_t *ids, size_t n, bool skip)
{
    char *whole, err[256];
    size_t whole_len;
    if (tok_decode(t, ids, n, skip, &whole, &whole_len, err, sizeof err) != TOK_OK) abort();
    if (!valid_utf8(whole, whole_len)) abort();
    tok_stream *s = tok_stream_new(t, skip);
    if (!s) abort();
    size_t at = 0;
    for (size_t i = 0; i <= n; i++) {
        char *piece;
        size_t len;
        int rc =
            i < n ? tok_stream_push(s, ids[i], &piece, &len) : tok_stream_finish(s, &piece, &len);
        if (rc != TOK_OK || !valid_utf8(piece, len) || at + len > whole_len ||
            memcmp(whole + at, piece, len) != 0)
            abort();
        at += len;
        free(piece);
    }
    if (at != whole_len) abort();
    tok_stream_free(s);
    free(whole);
}

static void encode_decode(const tok_tokenizer *t, const char *text, size_t len)
{
    for (int special = 0; special < 2; special++) {
        int32_t *ids;
        size_t n;
        char err[256];
        /* An encode error is allowed (e.g. an unk_token the vocabulary lacks); a crash is not. */
        if (tok_encode_special(t, text, len, special, &ids, &n, err, sizeof err) != TOK_OK)
            continue;
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= tok_vocab_size(t)) abort();
        decode_both_ways(t, ids, n, false);
        decode_both_ways(t, ids, n, true);
        free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tok_tokenizer *t;
    char err[512];
    if (tok_load_json(&t, (const char *)data, size, NULL, 0, "fuzz", err, sizeof err) != TOK_OK) {
        if (t != NULL || !err[0]) abort();
        return 0;
    }
    static const char *const texts[] = {"",
                                        " ",
                                        "Hello world",
                                        "  two  spaces\n\n",
                                        "a1b22c333 -x-",
                                        "é e\xcc\x81 ﬁ",
                                        "\xf0\x9f\x91\x8d\xf0\x9f\xab\xb6",
                                        "<s>x</s>",
                                        "\xff\xfe",
                                        "▁a ▁"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        encode_decode(t, texts[i], strlen(texts[i]));
    encode_decode(t, (const char *)data, size < 512 ? size : 512);
    int32_t all[64];
    size_t k = 0;
    for (int32_t id = 0; id < tok_vocab_size(t); id++) {
        size_t n;
        const uint8_t *b = tok_token_bytes(t, id, &n);
        if (!b && n) abort();
        if (k < 64) all[k++] = id;
    }
    decode_both_ways(t, all, k, false);
    tok_free(t);
    return 0;
}
