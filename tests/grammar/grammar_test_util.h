/* Helpers shared by the grammar tests: a small synthetic byte-level vocabulary (every single byte,
 * some multi-byte tokens, a special end token and a non-special added token), whole-string
 * matching, and the brute-force mask check (every token tried one by one from the same state). */
#ifndef BERTH_GRAMMAR_TEST_UTIL_H
#define BERTH_GRAMMAR_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/grammar/grammar.h"
#include "tests/support/test_support.h"

/* ids: 0..255 the single bytes; then the multi-byte tokens below; then <|end|> (special, the EOS),
 * <|pad|> (special) and <tc> (added, not special). */
static const char *const small_multi[] = {
    "ab",   "abc",      "ba",   "{\"",      "\"}",
    "\":",  "\",\"",    "true", "false",    "null",
    "12",   "123",      "0.",   "\xce\xb1", "\xce\xb1\xce\xb2",
    "\xce", "\xb1\xce", "é",    "aé",       "\xf0\x9f\x98",
    "\x80", "((",       "))",   "()",       "a(",
    "\n\n", "\\n",      "\\\"", "xyz",      "<tc>x"};
#define SMALL_N_MULTI ((int)(sizeof small_multi / sizeof *small_multi))
#define SMALL_EOS (256 + SMALL_N_MULTI)
#define SMALL_PAD (SMALL_EOS + 1)
#define SMALL_TC (SMALL_EOS + 2)

static void json_piece(char **w, const uint8_t *bytes, size_t len)
{
    /* GPT-2 byte-to-unicode mapping, then JSON string escaping */
    for (size_t i = 0; i < len; i++) {
        unsigned b = bytes[i], cp;
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174)) {
            cp = b;
        } else {
            unsigned n = 0;
            for (unsigned c = 0; c < b; c++)
                if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174))) n++;
            cp = 256 + n;
        }
        if (cp == '"' || cp == '\\') {
            *(*w)++ = '\\';
            *(*w)++ = (char)cp;
        } else if (cp < 0x80) {
            *(*w)++ = (char)cp;
        } else {
            *(*w)++ = (char)(0xC0 | (cp >> 6));
            *(*w)++ = (char)(0x80 | (cp & 0x3F));
        }
    }
}

/* Writes the synthetic tokenizer.json into a fresh temp dir and loads it. */
static __attribute__((unused)) tok_tokenizer *small_tokenizer(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/berth-grammar-XXXXXX");
    if (!mkdtemp(dir)) return NULL;
    char *buf = malloc(1 << 16), *w = buf;
    w += sprintf(w,
                 "{\"added_tokens\":[{\"id\":%d,\"content\":\"<|end|>\",\"special\":true},"
                 "{\"id\":%d,\"content\":\"<|pad|>\",\"special\":true},"
                 "{\"id\":%d,\"content\":\"<tc>\",\"special\":false}],"
                 "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\","
                 "\"add_prefix_space\":false,\"use_regex\":true},\"decoder\":{\"type\":"
                 "\"ByteLevel\"},\"post_processor\":null,\"model\":{\"type\":\"BPE\",\"vocab\":{",
                 SMALL_EOS, SMALL_PAD, SMALL_TC);
    for (int id = 0; id < 256 + SMALL_N_MULTI; id++) {
        uint8_t one = (uint8_t)id;
        const uint8_t *bytes = id < 256 ? &one : (const uint8_t *)small_multi[id - 256];
        size_t len = id < 256 ? 1 : strlen(small_multi[id - 256]);
        *w++ = '"';
        json_piece(&w, bytes, len);
        w += sprintf(w, "\":%d,", id);
    }
    w += sprintf(w, "\"<|end|>\":%d,\"<|pad|>\":%d,\"<tc>\":%d},\"merges\":[]}}", SMALL_EOS,
                 SMALL_PAD, SMALL_TC);
    char path[128];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return free(buf), NULL;
    fwrite(buf, 1, (size_t)(w - buf), f);
    fclose(f);
    free(buf);
    tok_tokenizer *t = NULL;
    char err[256];
    if (tok_load_file(&t, path, err, sizeof err) != TOK_OK)
        fprintf(stderr, "small tokenizer: %s\n", err);
    unlink(path);
    rmdir(dir);
    return t;
}

/* Compiles GBNF or fails the test (NULL). */
static __attribute__((unused)) gr_grammar *compile(const gr_vocab *v, const char *gbnf)
{
    gr_grammar *g = NULL;
    char err[512] = "";
    int rc = gr_compile_gbnf(&g, v, gbnf, strlen(gbnf), err, sizeof err);
    CHECKF(rc == GR_OK && g, "grammar should compile: %s\n--- %s", err, gbnf);
    return g;
}

/* Whether the whole of s is a sentence of g. */
static __attribute__((unused)) bool matches(const gr_grammar *g, const char *s, size_t len)
{
    gr_matcher *m = gr_matcher_new(g);
    if (!m) return false;
    bool ok =
        gr_matcher_accept_bytes(m, (const uint8_t *)s, len) == GR_OK && gr_matcher_is_complete(m);
    gr_matcher_free(m);
    return ok;
}

/* The mask at m's state agrees with trying every token from a fresh matcher fed the same bytes
 * (accepted by accept_bytes, then the matcher rebuilt; or, in large vocabularies, tried without
 * advancing); EOS exactly when complete; special tokens never. Returns the number allowed. */
static __attribute__((unused)) int check_mask(const gr_vocab *v, const gr_grammar *g, gr_matcher *m,
                                              const uint8_t *prefix, size_t plen,
                                              const int32_t *eos, size_t n_eos,
                                              const tok_tokenizer *tok, const char *what)
{
    size_t words = gr_mask_words(v);
    uint32_t *mask = malloc(words * sizeof *mask);
    CHECK(gr_matcher_fill_mask(m, mask) == GR_OK);
    gr_matcher *ref = gr_matcher_new(g);
    CHECK(ref && gr_matcher_accept_bytes(ref, prefix, plen) == GR_OK);
    int allowed = 0, bad = 0;
    for (int32_t t = 0; t < gr_vocab_size(v); t++) {
        bool bit = (mask[t >> 5] >> (t & 31)) & 1;
        bool is_eos = false;
        for (size_t k = 0; k < n_eos; k++)
            is_eos |= eos[k] == t;
        bool want;
        if (is_eos) {
            want = gr_matcher_is_complete(m);
        } else if (tok_is_special(tok, t)) {
            want = false;
        } else {
            size_t len;
            const uint8_t *b = tok_token_bytes(tok, t, &len);
            if (n_eos > 0 && gr_vocab_size(v) > 100000) {
                want = len > 0 && gr_matcher_allows_token(ref, t);
            } else {
                want = len > 0 && gr_matcher_accept_bytes(ref, b, len) == GR_OK;
            }
            if (want &&
                gr_vocab_size(v) <= 100000) { /* replay to undo: a fresh reference matcher */
                gr_matcher_free(ref);
                ref = gr_matcher_new(g);
                gr_matcher_accept_bytes(ref, prefix, plen);
            }
        }
        CHECK(gr_matcher_allows_token(m, t) == want);
        if (bit != want && bad++ < 5)
            CHECKF(false, "%s: token %d mask bit %d but brute force says %d", what, t, bit, want);
        allowed += bit;
    }
    CHECKF(bad == 0, "%s: %d tokens disagree", what, bad);
    for (size_t i = (size_t)gr_vocab_size(v); i < words * 32; i++)
        CHECK(!((mask[i >> 5] >> (i & 31)) & 1));
    gr_matcher_free(ref);
    free(mask);
    return allowed;
}

#endif
