/* GGUF tokenizer metadata -> tokenizer.json. The documents are written as text directly (a
 * 250k-token vocabulary is built in one pass), with every string JSON-escaped. llama.cpp's
 * pre-tokenizer names map to the pre-tokenizer of the Hugging Face tokenizer.json each was
 * converted from: the .out files of llama.cpp's vocab tests were made by Hugging Face, so that is
 * what must be reproduced. */
#include "models/loader/gguf_tokenizer.h"
#include "models/loader/loader_error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growing text buffer; `failed` sticks after an allocation failure ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string literal. Bytes >= 0x80 pass through (the documents are UTF-8). */
static void sb_json(sbuf *b, const char *s, size_t n)
{
    sb_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_put(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        sb_str(b, esc);
    }
    sb_put(b, s + run, n - run);
    sb_put(b, "\"", 1);
}

static void sb_jsonz(sbuf *b, const char *s)
{
    sb_json(b, s, strlen(s));
}

/* ---- pre-tokenizers ---- */

#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define LLAMA3_RE                                                                                  \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "                     \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_RE                                                                                   \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "                          \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN35_RE                                                                                  \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| "                  \
    "?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define CJK_RE "[一-龥ࠀ-一가-퟿]+"

typedef enum {
    PRE_BYTELEVEL,        /* ByteLevel with its own (GPT-2) regex */
    PRE_DIGITS_BYTELEVEL, /* Digits(individual) then ByteLevel with its regex */
    PRE_SPLITS            /* each regex a Split (Isolated), then ByteLevel without regex */
} pre_kind;

typedef struct pre_map {
    const char *names; /* llama.cpp's tokenizer.ggml.pre values, '|'-separated */
    pre_kind kind;
    const char *res[6];
} pre_map;

/* Characters that Unicode normalisation would rewrite (U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126,
 * U+212A: each canonically equivalent to another code point) are written as escapes so that no
 * editor or tool can silently change the ranges. */
static const pre_map pres[] = {
    {"gpt-2|phi-2|mpt|olmo|jais|jina-es|jina-de|jina-v2-es|jina-v2-de|jina-v2-code|roberta-bpe|"
     "gigachat|trillion|granite-docling",
     PRE_BYTELEVEL,
     {NULL}},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", PRE_DIGITS_BYTELEVEL, {NULL}},
    {"llama3|llama-v3|llama-bpe|falcon3|pixtral|chatglm-bpe|dbrx|smaug-bpe",
     PRE_SPLITS,
     {LLAMA3_RE}},
    {"qwen2|qwen2.5|deepseek-r1-qwen|stablelm2|megrez|hunyuan", PRE_SPLITS, {QWEN2_RE}},
    {"qwen35", PRE_SPLITS, {QWEN35_RE}},
    {"deepseek-llm",
     PRE_SPLITS,
     {"[\r\n]",
      "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-"
      "ᏽᲐ-"
      "ᲺᲽ-"
      "Ჿᴀ-"
      "ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-"
      "Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-"
      "ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-"
      "ꚛꜢ-"
      "ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-"
      "𐳲𑢠-"
      "𑣟𞤀-"
      "𞥃]"
      "+",
      "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", CJK_RE, "\\p{N}+"}},
    {"deepseek-coder", PRE_SPLITS, {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CJK_RE, "\\p{N}"}},
    {"deepseek-v3",
     PRE_SPLITS,
     {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
      "[!\"#$%&'()*+,\\-./"
      ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
      "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
    {"falcon", PRE_SPLITS, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]"}},
    {"default", PRE_SPLITS, {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"}},
};

static const pre_map *find_pre(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
        const char *p = pres[i].names;
        while (*p) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len == n && !memcmp(p, name, n)) return &pres[i];
            p += len + (bar ? 1 : 0);
        }
    }
    return NULL;
}

static void sb_bytelevel(sbuf *b, bool use_regex)
{
    sb_printf(b,
              "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_"
              "regex\":%s}",
              use_regex ? "true" : "false");
}

static void sb_pre(sbuf *b, const pre_map *pm)
{
    if (pm->kind == PRE_BYTELEVEL) {
        sb_bytelevel(b, true);
        return;
    }
    sb_str(b, "{\"type\":\"Sequence\",\"pretokenizers\":[");
    if (pm->kind == PRE_DIGITS_BYTELEVEL) {
        /* Digits(individual_digits) isolates each char::is_numeric() character: \p{N}. */
        sb_str(b,
               "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{N}\"},\"behavior\":\"Isolated\","
               "\"invert\":false},");
        sb_bytelevel(b, true);
    } else {
        for (int i = 0; i < 6 && pm->res[i]; i++) {
            sb_str(b, "{\"type\":\"Split\",\"pattern\":{\"Regex\":");
            sb_jsonz(b, pm->res[i]);
            sb_str(b, "},\"behavior\":\"Isolated\",\"invert\":false},");
        }
        sb_bytelevel(b, false);
    }
    sb_str(b, "]}");
}

/* ---- a string -> id hash table (open addressing) for the SentencePiece merges ---- */

typedef struct strtab {
    const gguf_str *keys;
    int32_t *slots; /* id + 1; 0 = empty */
    size_t mask;
} strtab;

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int strtab_init(strtab *t, const gguf_str *keys, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    t->keys = keys;
    t->mask = cap - 1;
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots) return -1;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)fnv(keys[i].s, (size_t)keys[i].len) & t->mask;
        while (t->slots[h]) {
            const gguf_str *k = &keys[t->slots[h] - 1];
            if (k->len == keys[i].len && !memcmp(k->s, keys[i].s, (size_t)k->len)) break;
            h = (h + 1) & t->mask;
        }
        if (!t->slots[h]) t->slots[h] = (int32_t)i + 1; /* the first id wins, as in HF's vocab */
    }
    return 0;
}

static int32_t strtab_get(const strtab *t, const char *s, size_t n)
{
    size_t h = (size_t)fnv(s, n) & t->mask;
    while (t->slots[h]) {
        const gguf_str *k = &t->keys[t->slots[h] - 1];
        if (k->len == n && !memcmp(k->s, s, n)) return t->slots[h] - 1;
        h = (h + 1) & t->mask;
    }
    return -1;
}

typedef struct spm_merge {
    float score;
    int32_t piece, left, right;
} spm_merge;

static int cmp_merge(const void *a, const void *b)
{
    const spm_merge *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->piece != y->piece) return x->piece < y->piece ? -1 : 1;
    if (x->left != y->left) return x->left < y->left ? -1 : 1;
    return (x->right > y->right) - (x->right < y->right);
}

static size_t utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/* transformers' SentencePieceExtractor: every split of a piece into two pieces of the vocabulary
 * is a merge ranked by the whole piece's score (higher first; ties keep vocabulary order, then the
 * parts' ids). */
static int spm_merges(sbuf *b, const gguf_str *toks, const gguf_kv *scores, size_t n)
{
    strtab t;
    if (strtab_init(&t, toks, n)) return -1;
    size_t cap = 1024, count = 0;
    spm_merge *m = malloc(cap * sizeof *m);
    if (!m) {
        free(t.slots);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = toks[i].s;
        size_t len = (size_t)toks[i].len;
        for (size_t cut = utf8_len((unsigned char)s[0]); cut < len;
             cut += utf8_len((unsigned char)s[cut])) {
            int32_t l = strtab_get(&t, s, cut), r = strtab_get(&t, s + cut, len - cut);
            if (l < 0 || r < 0) continue;
            if (count == cap) {
                spm_merge *q = realloc(m, (cap *= 2) * sizeof *m);
                if (!q) {
                    free(m);
                    free(t.slots);
                    return -1;
                }
                m = q;
            }
            m[count++] = (spm_merge){(float)gguf_arr_f64(scores, i), (int32_t)i, l, r};
        }
    }
    qsort(m, count, sizeof *m, cmp_merge);
    for (size_t i = 0; i < count; i++) {
        sb_str(b, i ? ",[" : "[");
        sb_json(b, toks[m[i].left].s, (size_t)toks[m[i].left].len);
        sb_str(b, ",");
        sb_json(b, toks[m[i].right].s, (size_t)toks[m[i].right].len);
        sb_str(b, "]");
    }
    free(m);
    free(t.slots);
    return 0;
}

/* ---- WordPiece (tokenizer.ggml.model "bert") ---- */

/* llama.cpp's converter writes BERT's vocabulary in "phantom space" form: a word-initial piece
 * "x" as "\u2581x", a continuing "##x" as "x", "[...]" tokens unchanged. This writes the
 * tokenizer.json form back, so that HF's WordPiece rules (which made the .out files) apply. */
static void sb_wpm_token(sbuf *b, const char *s, size_t n)
{
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        sb_json(b, s, n);
    } else if (n >= 3 && !memcmp(s, "\u2581", 3)) {
        sb_json(b, s + 3, n - 3);
    } else {
        sbuf t = {0};
        sb_str(&t, "##");
        sb_put(&t, s, n);
        if (t.failed) b->failed = true;
        sb_json(b, t.p ? t.p : "", t.len);
        free(t.p);
    }
}

/* BertWordPieceTokenizer's components for an uncased BERT vocabulary, as llama.cpp's WPM
 * tokenizer assumes (it always lowercases): BertNormalizer, BertPreTokenizer, [CLS] ... [SEP],
 * the WordPiece decoder, and the model with "##" and the 100-character word limit. */
static void sb_wpm(sbuf *b, const gguf_str *tok, size_t n, int64_t unk, int64_t cls, int64_t sep)
{
    sb_str(b, "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,"
              "\"handle_chinese_chars\":true,\"strip_accents\":null,\"lowercase\":true},"
              "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},\"post_processor\":");
    if (cls >= 0 && sep >= 0) {
        sb_str(b, "{\"type\":\"BertProcessing\",\"sep\":[");
        sb_json(b, tok[sep].s, (size_t)tok[sep].len);
        sb_printf(b, ",%lld],\"cls\":[", (long long)sep);
        sb_json(b, tok[cls].s, (size_t)tok[cls].len);
        sb_printf(b, ",%lld]},", (long long)cls);
    } else {
        sb_str(b, "null,");
    }
    sb_str(b, "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
              "\"model\":{\"type\":\"WordPiece\",\"unk_token\":");
    sb_json(b, tok[unk].s, (size_t)tok[unk].len);
    sb_str(b, ",\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,"
              "\"vocab\":{");
    for (size_t i = 0; i < n; i++) {
        if (i) sb_put(b, ",", 1);
        sb_wpm_token(b, tok[i].s, (size_t)tok[i].len);
        sb_printf(b, ":%zu", i);
    }
    sb_str(b, "}}}");
}

/* ---- the documents ---- */

enum {
    TT_NORMAL = 1,
    TT_UNKNOWN = 2,
    TT_CONTROL = 3,
    TT_USER_DEFINED = 4,
    TT_UNUSED = 5,
    TT_BYTE = 6
};

static bool str_is(gguf_str s, const char *z)
{
    return s.len == strlen(z) && !memcmp(s.s, z, (size_t)s.len);
}

static const gguf_kv *array_of(const gguf_file *f, const char *key, gguf_vtype t, uint64_t n,
                               char *err, size_t errlen)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return NULL;
    bool num_ok = t == GGUF_INT32 ? (kv->v.arr.type == GGUF_INT32 || kv->v.arr.type == GGUF_UINT32)
                                  : kv->v.arr.type == t;
    if (kv->type != GGUF_ARRAY || !num_ok || (n && kv->v.arr.n != n)) {
        loader_fail(err, errlen, "%s: %s must be an array of %llu elements of the right type",
                    f->path, key, (unsigned long long)n);
        return (const gguf_kv *)-1;
    }
    return kv;
}

/* An optional special-token id: -1 when absent or out of range (as llama.cpp ignores it). */
static int64_t special_id(const gguf_file *f, const char *key, size_t n)
{
    int64_t id;
    char e[8];
    if (!gguf_find(f, key) || gguf_get_i64(f, key, &id, e, sizeof e)) return -1;
    return id >= 0 && (uint64_t)id < n ? id : -1;
}

int gguf_tokenizer_docs(const gguf_file *f, gguf_tok_docs *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    gguf_str model, pre = {"default", 7};
    if (gguf_get_str(f, "tokenizer.ggml.model", &model, err, errlen)) return -1;
    /* gemma4: SentencePiece-style BPE (spaces as U+2581, byte fallback) with its own merges, run
     * on lines and newline runs, as llama.cpp's LLAMA_VOCAB_PRE_TYPE_GEMMA4 reads it. */
    bool spm = str_is(model, "llama"), bpe = str_is(model, "gpt2"), g4 = str_is(model, "gemma4");
    bool wpm = str_is(model, "bert");
    if (!spm && !bpe && !g4 && !wpm)
        return loader_fail(err, errlen,
                           "%s: tokenizer.ggml.model is \"%.*s\"; berth supports \"gpt2\" "
                           "(byte-level BPE), \"llama\" (SentencePiece BPE), \"gemma4\" and "
                           "\"bert\" (WordPiece)",
                           f->path, (int)(model.len > 32 ? 32 : model.len), model.s);
    if (gguf_find(f, "tokenizer.ggml.pre") &&
        gguf_get_str(f, "tokenizer.ggml.pre", &pre, err, errlen))
        return -1;
    const pre_map *pm = NULL;
    if (bpe && !(pm = find_pre(pre.s, (size_t)pre.len)))
        return loader_fail(err, errlen,
                           "%s: tokenizer.ggml.pre \"%.*s\" is a pre-tokenizer berth does "
                           "not know",
                           f->path, (int)(pre.len > 64 ? 64 : pre.len), pre.s);
    const gguf_kv *toks = array_of(f, "tokenizer.ggml.tokens", GGUF_STRING, 0, err, errlen);
    if (!toks)
        return loader_fail(err, errlen, "%s: metadata has no tokenizer.ggml.tokens", f->path);
    if (toks == (const gguf_kv *)-1) return -1;
    size_t n = (size_t)toks->v.arr.n;
    const gguf_str *tok = toks->v.arr.strs;
    const gguf_kv *types = array_of(f, "tokenizer.ggml.token_type", GGUF_INT32, n, err, errlen);
    const gguf_kv *scores = array_of(f, "tokenizer.ggml.scores", GGUF_FLOAT32, n, err, errlen);
    const gguf_kv *merges = array_of(f, "tokenizer.ggml.merges", GGUF_STRING, 0, err, errlen);
    if (types == (const gguf_kv *)-1 || scores == (const gguf_kv *)-1 ||
        merges == (const gguf_kv *)-1)
        return -1;
    if ((bpe || g4) && !merges)
        return loader_fail(err, errlen, "%s: a %s tokenizer needs tokenizer.ggml.merges", f->path,
                           bpe ? "gpt2" : "gemma4");
    if (spm && !scores)
        return loader_fail(err, errlen, "%s: a llama tokenizer needs tokenizer.ggml.scores",
                           f->path);
    if (n == 0) return loader_fail(err, errlen, "%s: tokenizer.ggml.tokens is empty", f->path);
    int64_t unk = special_id(f, "tokenizer.ggml.unknown_token_id", n);
    int64_t bos = special_id(f, "tokenizer.ggml.bos_token_id", n);
    int64_t eos = special_id(f, "tokenizer.ggml.eos_token_id", n);
    int64_t pad = special_id(f, "tokenizer.ggml.padding_token_id", n);
    int64_t cls = special_id(f, "tokenizer.ggml.cls_token_id", n);
    int64_t sep = special_id(f, "tokenizer.ggml.seperator_token_id", n);
    if (wpm && unk < 0)
        return loader_fail(err, errlen,
                           "%s: a bert tokenizer needs tokenizer.ggml.unknown_token_id", f->path);
    bool add_bos = spm, add_prefix = spm;
    const gguf_kv *kv;
    if ((kv = gguf_find(f, "tokenizer.ggml.add_bos_token")) && kv->type == GGUF_BOOL)
        add_bos = kv->v.b;
    if ((kv = gguf_find(f, "tokenizer.ggml.add_space_prefix")) && kv->type == GGUF_BOOL)
        add_prefix = kv->v.b;
    if ((spm || g4) && unk < 0) unk = 0;

    sbuf b = {0};
    sb_str(&b, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        int64_t ty = types ? gguf_arr_i64(types, i) : TT_NORMAL;
        bool special = ty == TT_CONTROL || (int64_t)i == unk;
        if (!special && ty != TT_USER_DEFINED) continue;
        sb_printf(&b, "%s{\"id\":%zu,\"content\":", first ? "" : ",", i);
        sb_json(&b, tok[i].s, (size_t)tok[i].len);
        sb_printf(&b,
                  ",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":%s,"
                  "\"special\":%s}",
                  special ? "false" : "true", special ? "true" : "false");
        first = false;
    }
    sb_str(&b, "],");
    if (wpm) {
        sb_wpm(&b, tok, n, unk, cls, sep);
        goto config;
    }
    if (spm) {
        if (add_prefix)
            sb_str(&b,
                   "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\","
                   "\"prepend\":\"\u2581\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
                   "\"content\":\"\u2581\"}]},");
        else
            sb_str(&b, "\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
                       "\"content\":\"\u2581\"},");
        sb_str(&b, "\"pre_tokenizer\":null,");
    } else if (g4) {
        sb_str(&b,
               "\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
               "\"content\":\"\u2581\"},\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":"
               "{\"Regex\":\"[^\\\\n]+|[\\\\n]+\"},\"behavior\":\"Isolated\",\"invert\":false},");
    } else {
        sb_str(&b, "\"normalizer\":null,\"pre_tokenizer\":");
        sb_pre(&b, pm);
        sb_str(&b, ",");
    }
    /* No TemplateProcessing even when add_bos_token is set: berth encodes rendered chat templates,
     * which carry their own BOS text, as transformers' apply_chat_template does (without special
     * tokens); add_bos_token stays in tokenizer_config.json for the record. */
    sb_str(&b, "\"post_processor\":null,");
    if (spm || g4) {
        sb_str(&b,
               "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":"
               "{\"String\":\"\u2581\"},\"content\":\" "
               "\"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}");
        if (add_prefix)
            sb_str(&b, ",{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}");
        sb_str(&b, "]},");
    } else {
        sb_str(
            &b,
            "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,"
            "\"use_regex\":true},");
    }
    sb_str(&b, "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":");
    if (unk >= 0)
        sb_json(&b, tok[unk].s, (size_t)tok[unk].len);
    else
        sb_str(&b, "null");
    /* Llama 3 ships ignore_merges: true; gemma4 takes a piece that is a token whole (llama.cpp
     * does for runs of newlines, which its merges do not build). */
    bool ignore_merges = (pm && pm->res[0] == pres[2].res[0]) || g4;
    sb_printf(&b,
              ",\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":%s,"
              "\"byte_fallback\":%s,\"ignore_merges\":%s,\"vocab\":{",
              spm || g4 ? "true" : "false", spm || g4 ? "true" : "false",
              ignore_merges ? "true" : "false");
    for (size_t i = 0; i < n; i++) {
        if (i) sb_put(&b, ",", 1);
        sb_json(&b, tok[i].s, (size_t)tok[i].len);
        sb_printf(&b, ":%zu", i);
    }
    sb_str(&b, "},\"merges\":[");
    if (bpe || g4) {
        for (uint64_t i = 0; i < merges->v.arr.n; i++) {
            gguf_str m = merges->v.arr.strs[i];
            /* "a b": llama.cpp splits at the first space after the first byte. */
            const char *sp = m.len > 1 ? memchr(m.s + 1, ' ', (size_t)m.len - 1) : NULL;
            if (!sp) {
                free(b.p);
                return loader_fail(err, errlen, "%s: tokenizer.ggml.merges[%llu] is not \"a b\"",
                                   f->path, (unsigned long long)i);
            }
            sb_str(&b, i ? ",[" : "[");
            sb_json(&b, m.s, (size_t)(sp - m.s));
            sb_str(&b, ",");
            sb_json(&b, sp + 1, (size_t)(m.s + m.len - sp - 1));
            sb_str(&b, "]");
        }
    } else if (spm_merges(&b, tok, scores, n)) {
        b.failed = true;
    }
    sb_str(&b, "]}}");

config:;
    sbuf c = {0};
    sb_str(&c, "{");
    gguf_str tmpl;
    char e2[8];
    if (gguf_find(f, "tokenizer.chat_template") &&
        !gguf_get_str(f, "tokenizer.chat_template", &tmpl, e2, sizeof e2)) {
        sb_str(&c, "\"chat_template\":");
        sb_json(&c, tmpl.s, (size_t)tmpl.len);
        sb_str(&c, ",");
    }
    const struct {
        const char *field;
        int64_t id;
    } named[] = {{"bos_token", bos}, {"eos_token", eos}, {"unk_token", unk}, {"pad_token", pad}};
    for (size_t i = 0; i < 4; i++) {
        if (named[i].id < 0) continue;
        sb_printf(&c, "\"%s\":", named[i].field);
        sb_json(&c, tok[named[i].id].s, (size_t)tok[named[i].id].len);
        sb_str(&c, ",");
    }
    sb_printf(&c, "\"add_bos_token\":%s}", add_bos ? "true" : "false");
    if (b.failed || c.failed) {
        free(b.p);
        free(c.p);
        return loader_fail(err, errlen, "%s: out of memory building the tokenizer", f->path);
    }
    out->tokenizer_json = b.p;
    out->tokenizer_len = b.len;
    out->config_json = c.p;
    out->config_len = c.len;
    return 0;
}

void gguf_tok_docs_free(gguf_tok_docs *d)
{
    free(d->tokenizer_json);
    free(d->config_json);
    memset(d, 0, sizeof *d);
}
