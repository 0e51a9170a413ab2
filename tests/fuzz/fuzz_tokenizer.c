/* Fuzz target for the tokenizer's encode and decode on the real Qwen3 tokenizer and on a small BERT
 * one (WordPiece: BertNormalizer, BertPreTokenizer, "##" pieces, an 8-character word limit, the
 * WordPiece decoder): any bytes are encoded (invalid UTF-8 included), the ids decoded whole and
 * streamed, and the two must agree and be valid UTF-8; the same bytes read as little-endian ids are
 * decoded too. Aborts on a mismatch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tokenizer.h"

static tok_tokenizer *load(void)
{
    static tok_tokenizer *t;
    if (t) return t;
    char dir[1024], err[512];
    const char *shared = getenv("BERTH_SHARED_DIR");
    if (shared) {
        snprintf(dir, sizeof dir, "%s/data/qwen3-tokenizer", shared);
    } else { /* CMake compiles this file by its absolute path: <repo>/tests/fuzz/fuzz_tokenizer.c */
        snprintf(dir, sizeof dir, "%s", __FILE__);
        char *cut = strstr(dir, "/tests/fuzz/fuzz_tokenizer.c");
        if (cut) snprintf(cut, sizeof dir - (size_t)(cut - dir), "/../shared/data/qwen3-tokenizer");
    }
    if (tok_load_dir(&t, dir, err, sizeof err) != TOK_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    return t;
}

static const char bert_json[] =
    "{\"added_tokens\":[{\"id\":0,\"content\":\"[UNK]\",\"special\":true,\"normalized\":false},"
    "{\"id\":1,\"content\":\"[CLS]\",\"special\":true,\"normalized\":false},"
    "{\"id\":2,\"content\":\"[SEP]\",\"special\":true,\"normalized\":false}],"
    "\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true},"
    "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",2],\"cls\":[\"[CLS]\",1]},"
    "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"max_input_chars_per_word\":8,"
    "\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"a\":3,\"##a\":4,\"b\":5,\"##b\":6,\"ab\":7,"
    "\"##ab\":8,\"e\":9,\"##e\":10,\".\":11,\"'\":12,\"s\":13,\"##s\":14,\"中\":15,\"##\":16,\"#\":17,"
    "\"n't\":18,\"do\":19,\"##\xc3\xa9\":20}}}";

static tok_tokenizer *load_bert(void)
{
    static tok_tokenizer *t;
    char err[512];
    if (!t && tok_load_json(&t, bert_json, sizeof bert_json - 1, NULL, 0, "bert", err, sizeof err) !=
                  TOK_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    return t;
}

static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
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
        int rc = i < n ? tok_stream_push(s, ids[i], &piece, &len) : tok_stream_finish(s, &piece, &len);
        if (rc != TOK_OK || !valid_utf8(piece, len) || at + len > whole_len || memcmp(whole + at, piece, len) != 0) abort();
        at += len;
        free(piece);
    }
    if (at != whole_len) abort();
    tok_stream_free(s);
    free(whole);
}

static void run(const tok_tokenizer *t, const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(load(), data, size);
    run(load_bert(), data, size);
    return 0;
}

static void run(const tok_tokenizer *t, const uint8_t *data, size_t size)
{
    int32_t *ids;
    size_t n;
    char err[256];
    if (tok_encode_special(t, (const char *)data, size, t == load_bert(), &ids, &n, err, sizeof err) !=
        TOK_OK)
        abort();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tok_vocab_size(t)) abort();
    decode_both_ways(t, ids, n, false);
    decode_both_ways(t, ids, n, true);
    free(ids);

    size_t k = size / 4;
    int32_t *raw = malloc((k ? k : 1) * sizeof *raw);
    if (!raw) return;
    for (size_t i = 0; i < k; i++)
        raw[i] = (int32_t)((uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 | (uint32_t)data[4 * i + 2] << 16 |
                           (uint32_t)(data[4 * i + 3] & 0x03) << 24); /* mostly in or near the vocabulary */
    for (size_t i = 0; i < k; i++)
        if (t == load_bert()) raw[i] %= tok_vocab_size(t) + 2; /* near its 21 ids */
    decode_both_ways(t, raw, k, false);
    free(raw);
}
