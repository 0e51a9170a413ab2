/* The tokenizer's internal state, shared by its .c files (load, encode, bpe, decode). Nothing
 * outside models/tokenizer/ includes this; the public surface is tokenizer.h. */
#ifndef BERTH_TOK_INTERNAL_H
#define BERTH_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "models/tokenizer/tok_map.h"
#include "models/tokenizer/tokenizer.h"

#include <cjson/cJSON.h>

#define TOK_MAX_STEPS 16 /* per component, a Sequence flattened */

int tok_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *tok_json_type(const cJSON *obj); /* the "type" string, or NULL */
bool tok_json_flag(const cJSON *obj, const char *name, bool dflt);
/* One step of a component: fn(ctx, step, where) for a single normalizer, pre-tokenizer, ... */
typedef int (*tok_step_fn)(void *ctx, const cJSON *step, const char *where, char *err,
                           size_t errlen);
/* Calls fn on node, or, when node is a "Sequence", on each step of its array named list, nested
 * Sequences flattened in order; where names node in error messages (e.g. "normalizer", extended to
 * "normalizer.normalizers[1]"). Returns TOK_ERR at the first step that fails. */
int tok_json_steps(const cJSON *node, const char *where, const char *list, tok_step_fn fn,
                   void *ctx, char *err, size_t errlen);

/* A piece of a string: [s, e) and whether a pattern matched it (tokenizers' find_matches). */
typedef struct {
    size_t s, e;
    bool match;
} tok_span;

typedef struct {
    tok_span *v;
    size_t n, cap;
} tok_spans;

int tok_span_push(tok_spans *v, size_t s, size_t e, bool match);

enum {
    TOK_NORM_NFC,
    TOK_NORM_NFD,
    TOK_NORM_NFKC,
    TOK_NORM_NFKD,
    TOK_NORM_PREPEND,
    TOK_NORM_REPLACE,
    TOK_NORM_STRIP,
    TOK_NORM_BERT /* BertNormalizer, and Lowercase and StripAccents as its parts */
};

typedef struct {
    int kind;
    char *text; /* Prepend's string, Replace's content */
    size_t text_len;
    pcre2_code *re; /* Replace's pattern; NULL for an empty String pattern (which never matches) */
    bool left, right;                                                       /* Strip */
    bool clean_text, chinese, nfd, strip_marks, strip_all_marks, lowercase; /* BERT */
} tok_norm_step;

enum {
    TOK_PRE_SPLIT,
    TOK_PRE_BYTELEVEL,
    TOK_PRE_DIGITS,
    TOK_PRE_METASPACE,
    TOK_PRE_WHITESPACE,
    TOK_PRE_WSPLIT,
    TOK_PRE_BERT
};
enum {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_PREV,
    TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS
};
enum { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER };

typedef struct {
    int kind;
    int behavior; /* Split, and the fixed behaviours of the others */
    bool invert;
    pcre2_code *re;        /* Split's pattern; ByteLevel's GPT-2 pattern when use_regex */
    bool add_prefix_space; /* ByteLevel */
    bool individual;       /* Digits */
    char repl[5];          /* Metaspace's replacement character (UTF-8) */
    size_t repl_len;
    int prepend; /* Metaspace */
    bool split;  /* Metaspace */
} tok_pre_step;

enum {
    TOK_DEC_REPLACE,
    TOK_DEC_STRIP,
    TOK_DEC_METASPACE,
    TOK_DEC_BYTEFALLBACK,
    TOK_DEC_FUSE,
    TOK_DEC_BYTELEVEL,
    TOK_DEC_WORDPIECE
};

typedef struct {
    int kind;
    pcre2_code *re;     /* Replace; NULL for an empty String pattern */
    size_t literal_len; /* Replace: the String pattern's length (0 for a Regex) */
    char *content;      /* Replace's content; WordPiece's prefix */
    size_t content_len;
    bool cleanup;  /* WordPiece */
    char strip[5]; /* Strip's character (UTF-8) */
    size_t strip_len, start, stop;
    char repl[5]; /* Metaspace */
    size_t repl_len;
    bool prepend_never;
} tok_dec_step;

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

    tok_strmap vocab;     /* model vocabulary (byte-level strings) -> id */
    tok_strmap added_map; /* added-token content -> id */
    tok_added_token *added;
    size_t n_added;
    tok_matcher raw_match, norm_match;

    tok_pairmap merges;
    int32_t byte_id[256]; /* id of the ByteLevel token for each byte, -1 if the vocab lacks it */
    int32_t
        byte_token[256]; /* id of the "<0xNN>" token (byte_fallback), -1 if the vocab lacks it */
    int32_t unk_id;
    bool unk_missing; /* model.unk_token names a token the vocabulary lacks: encoding an unknown
                         fails */
    bool ignore_merges, byte_fallback, fuse_unk;
    bool wordpiece;  /* model.type WordPiece: greedy longest match, no merges */
    char *wp_prefix; /* its continuing_subword_prefix ("##") */
    size_t wp_prefix_len, wp_max_chars;

    tok_norm_step norm[TOK_MAX_STEPS];
    size_t n_norm;
    bool nfc_only; /* the normalizer is NFC alone: text tok_needs_nfc passes is left as it is */
    tok_pre_step pre[TOK_MAX_STEPS];
    size_t n_pre;
    bool byte_level; /* the last pre-tokenizer is ByteLevel: words reach the model as raw bytes */
    tok_dec_step dec[TOK_MAX_STEPS];
    size_t n_dec;
    size_t dec_join; /* index of the first Fuse or ByteLevel decoder; n_dec when none */
    bool has_decoder, plain_byte_level_decoder;
    int32_t *post_prefix, *post_suffix; /* what post-processing adds around one sequence */
    size_t n_post_prefix, n_post_suffix;

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

/* Appends the ids of one pre-tokenized word: raw bytes the model sees through GPT-2's byte alphabet
 * when byte_level, else UTF-8 text looked up character by character. Returns 0, -1 when out of
 * memory, -2 when an unknown character needs model.unk_token and the vocabulary lacks it. */
int tok_bpe_word(const tok_tokenizer *t, const uint8_t *w, size_t n, bool byte_level, tok_ids *out,
                 tok_bpe_scratch *s);
void tok_bpe_scratch_free(tok_bpe_scratch *s);
/* WordPiece over one pre-tokenized word (UTF-8), as HF's WordPiece::tokenize: the longest
 * vocabulary piece from the left, later pieces looked up with the continuing prefix; a word longer
 * than max_input_chars_per_word characters, or with a rest no piece starts, is one unk. Returns 0,
 * -1 when out of memory, -2 when unk is needed and the vocabulary lacks it. */
int tok_wordpiece_word(const tok_tokenizer *t, const char *w, size_t n, tok_ids *out);

/* Builds raw_match (added tokens with normalized=false) and norm_match (normalized=true, matched
 * by their normalized content) from t->added. */
int tok_build_matchers(tok_tokenizer *t, char *err, size_t errlen);
void tok_matcher_free(tok_matcher *m);

/* Receives the pieces of a split in order: token >= 0 for an added token (the piece may include
 * the whitespace an lstrip/rstrip token swallows), -1 for ordinary text. Non-zero stops the split.
 */
typedef int (*tok_piece_fn)(void *ctx, const char *p, size_t n, int32_t token);

/* Splits text on the added tokens of m exactly as HF's AddedVocabulary::find_matches does,
 * honouring single_word, lstrip and rstrip. Returns the first non-zero result of fn, or 0. */
int tok_split_added(const tok_tokenizer *t, const tok_matcher *m, const char *text, size_t n,
                    tok_piece_fn fn, void *ctx);

/* NFC of p[0..n) (valid UTF-8) as HF computes it, into a malloc'd *out; NULL *out with *outlen 0
 * for empty input. Returns -1 on failure. tok_normal_form is the same for NFD, NFKC and NFKD. */
int tok_nfc(const char *p, size_t n, char **out, size_t *outlen);
int tok_normal_form(const char *p, size_t n, bool compose, bool compat, char **out, size_t *outlen);
/* False when p[0..n) is certainly already NFC (a cheap scan that lets most text skip tok_nfc). */
bool tok_needs_nfc(const char *p, size_t n);

/* Translates a pattern written for Oniguruma (what HF's tokenizers compiles) into PCRE2 syntax with
 * the same meaning, and compiles it (JIT when available). */
pcre2_code *tok_regex_compile(const char *pattern, char *err, size_t errlen);
/* A pattern matching the string s[0..n) literally. */
pcre2_code *tok_regex_literal(const char *s, size_t n, char *err, size_t errlen);
/* The matches of re in p[0..n) and the gaps between them, in order, covering p (one empty
 * non-match for empty p), with Oniguruma's rules for empty matches. */
int tok_regex_find(const pcre2_code *re, pcre2_match_data *md, const char *p, size_t n,
                   tok_spans *out, char *err, size_t errlen);

/* Component parsers (tok_normalize.c, tok_pretok.c, tok_post.c, tok_decoder.c): each reads its
 * part of tokenizer.json into t and refuses what it cannot reproduce, naming the component by
 * its path (e.g. pre_tokenizer.pretokenizers[1].type). */
int tok_parse_pattern(const cJSON *pat, const char *where, pcre2_code **re, char *err,
                      size_t errlen);
int tok_parse_normalizer(tok_tokenizer *t, const cJSON *root, char *err, size_t errlen);
int tok_parse_pre_tokenizer(tok_tokenizer *t, const cJSON *root, char *err, size_t errlen);
int tok_parse_post_processor(tok_tokenizer *t, const cJSON *root, char *err, size_t errlen);
int tok_parse_decoder(tok_tokenizer *t, const cJSON *root, char *err, size_t errlen);
void tok_components_free(tok_tokenizer *t);

/* The normalizer over p[0..n): *out is NULL when the text is unchanged, else malloc'd. */
int tok_normalize(const tok_tokenizer *t, const char *p, size_t n, char **out, size_t *outlen);

/* Receives each word the pre-tokenizer makes (non-zero stops it). */
typedef int (*tok_word_fn)(void *ctx, const char *p, size_t n);
/* Pre-tokenizes p[0..n); first says the piece starts the input (Metaspace's prepend_scheme
 * "first"). */
int tok_pre_tokenize(const tok_tokenizer *t, const char *p, size_t n, bool first,
                     pcre2_match_data *md, tok_word_fn fn, void *ctx, char *err, size_t errlen);

/* Per-id bytes for tok_token_bytes (what the id decodes to in the middle of a text). */
int tok_build_decode_table(tok_tokenizer *t, char *err, size_t errlen);

/* A growable byte string (tok_decoder.c). */
typedef struct {
    char *s;
    size_t n, cap;
} tok_buf;
int tok_buf_put(tok_buf *b, const char *p, size_t n);

/* One decoder step over one whole token, as tokenizers' decode_chain does for a token at index idx
 * (Replace, Strip, Metaspace; ByteFallback and ByteLevel on a lone token). Appends to out. */
int tok_dec_apply(const tok_dec_step *d, const char *p, size_t n, size_t idx, tok_buf *out);
/* Whether p[0..n) is a "<0xNN>" token, and its byte. */
bool tok_dec_byte_token(const char *p, size_t n, uint8_t *byte);
/* ByteLevel's decoding of one token: GPT-2 characters back to bytes, or the token's own UTF-8 when
 * a character is outside that alphabet. */
int tok_dec_byte_level(const char *p, size_t n, tok_buf *out);

/* GPT-2's byte <-> printable-character table used by ByteLevel. */
int32_t tok_byte_to_char(uint8_t b);
int tok_char_to_byte(int32_t cp); /* -1 when cp is not in the table */

#endif
