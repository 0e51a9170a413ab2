/* The tokenizer's internal state, shared by its .c files (load, encode, bpe, decode). Nothing
 * outside models/tokenizer/ includes this; the public surface is tokenizer.h. */
#ifndef BERTH_TOK_INTERNAL_H
#define BERTH_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "models/tokenizer/tok_map.h"
#include "models/tokenizer/tokenizer.h"

#define TOK_MAX_SPLITS 4 /* regex Split pre-tokenizers chained before ByteLevel */

typedef struct {
    const char *content; /* points into the tokenizer's blob */
    size_t len;
    int32_t id;
    bool single_word, lstrip, rstrip, normalized, special;
} tok_added_token;

/* Leftmost-longest matcher over a set of added tokens (HF uses Aho-Corasick with
 * MatchKind::LeftmostLongest; with a few dozen patterns a first-byte bucket scan is as exact and
 * cheap). Entries are sorted by first byte; start[b]..start[b+1] is the bucket of byte b. */
typedef struct {
    const char *pat;
    size_t len;
    int32_t added; /* index into tok_tokenizer.added */
} tok_match_entry;

typedef struct {
    tok_match_entry *entries;
    size_t n;
    uint32_t start[257];
    char *owned; /* normalized copies of the patterns, when the set is the normalized one */
} tok_matcher;

struct tok_tokenizer {
    int32_t n_ids;
    char *blob;          /* every piece and added-token content, NUL-terminated */
    uint32_t *piece_off; /* per id into blob; UINT32_MAX for ids nobody defines */
    uint8_t *special;    /* per id */
    uint8_t *dec_blob;   /* per id: the bytes the ByteLevel decoder turns the piece into */
    uint32_t *dec_off, *dec_len;

    tok_strmap vocab; /* model vocabulary (byte-level strings) -> id */
    tok_strmap added_map; /* added-token content -> id */
    tok_added_token *added;
    size_t n_added;
    tok_matcher raw_match, norm_match;

    tok_pairmap merges;
    int32_t byte_id[256]; /* id of the one-byte token for each byte, -1 if the vocab lacks it */
    int32_t unk_id;
    bool ignore_merges;
    bool nfc;

    pcre2_code *re[TOK_MAX_SPLITS];
    size_t n_re;

    char *chat_template, *eos, *bos, *pad;
};

typedef struct {
    int32_t *v;
    size_t n, cap;
} tok_ids;

int tok_ids_push(tok_ids *ids, int32_t id);

/* Scratch memory for BPE, reused across the words of one tok_encode call. */
typedef struct {
    struct tok_sym *syms;
    struct tok_merge *heap;
    size_t syms_cap, heap_cap;
} tok_bpe_scratch;

/* Appends the ids of one pre-tokenized word (raw bytes). Returns -1 only when out of memory. */
int tok_bpe_word(const tok_tokenizer *t, const uint8_t *w, size_t n, tok_ids *out, tok_bpe_scratch *s);
void tok_bpe_scratch_free(tok_bpe_scratch *s);

/* Builds raw_match (added tokens with normalized=false) and norm_match (normalized=true, matched
 * by their normalized content) from t->added. */
int tok_build_matchers(tok_tokenizer *t, char *err, size_t errlen);
void tok_matcher_free(tok_matcher *m);

/* Receives the pieces of a split in order: token >= 0 for an added token (the piece may include
 * the whitespace an lstrip/rstrip token swallows), -1 for ordinary text. Non-zero stops the split. */
typedef int (*tok_piece_fn)(void *ctx, const char *p, size_t n, int32_t token);

/* Splits text on the added tokens of m exactly as HF's AddedVocabulary::find_matches does,
 * honouring single_word, lstrip and rstrip. Returns the first non-zero result of fn, or 0. */
int tok_split_added(const tok_tokenizer *t, const tok_matcher *m, const char *text, size_t n, tok_piece_fn fn,
                    void *ctx);

/* NFC of p[0..n) (valid UTF-8) as HF computes it, into a malloc'd *out; NULL *out with *outlen 0
 * for empty input. Returns -1 on failure. */
int tok_nfc(const char *p, size_t n, char **out, size_t *outlen);
/* False when p[0..n) is certainly already NFC (a cheap scan that lets most text skip tok_nfc). */
bool tok_needs_nfc(const char *p, size_t n);

/* Translates a pattern written for Oniguruma (what HF's tokenizers compiles) into PCRE2 syntax with
 * the same meaning, and compiles it (JIT when available). */
pcre2_code *tok_regex_compile(const char *pattern, char *err, size_t errlen);

/* GPT-2's byte <-> printable-character table used by ByteLevel. */
int32_t tok_byte_to_char(uint8_t b);
int tok_char_to_byte(int32_t cp); /* -1 when cp is not in the table */

#endif
