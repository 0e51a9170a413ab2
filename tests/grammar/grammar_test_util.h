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

#include "tests/grammar/small_vocab.h"

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
