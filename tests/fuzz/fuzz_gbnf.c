/* Fuzz target for the GBNF compiler and the matcher: the input up to the first NUL is grammar text
 * (compiled against a small synthetic vocabulary); when it compiles, the rest is fed byte by byte
 * and the mask at every step must agree with accept_token for every token, EOS exactly when
 * complete (unless the call's work budget runs out, which fails the call). Aborts on a
 * disagreement; compile errors must name a line and column. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/grammar.h"
#include "tests/grammar/small_vocab.h"

static gr_vocab *vocab;
static tok_tokenizer *tok; /* kept for the process: the vocabulary points into it */

/* false when the mask call ran out of budget (then the input is done) */
static bool check_state(gr_matcher *m)
{
    size_t words = gr_mask_words(vocab);
    uint32_t mask[64];
    if (words > 64) abort();
    /* a wildly ambiguous grammar may exhaust a call's budget: an error, never a wrong mask */
    if (gr_matcher_fill_mask(m, mask) != GR_OK) return false;
    for (int32_t t = 0; t < gr_vocab_size(vocab); t++) {
        bool bit = (mask[t >> 5] >> (t & 31)) & 1;
        bool allowed = gr_matcher_allows_token(m, t);
        if (!allowed && gr_matcher_call_failed(m)) return false; /* a limit, as for the mask */
        if (bit != allowed) abort();
        if (t == SMALL_EOS && bit != gr_matcher_is_complete(m)) abort();
        if (t == SMALL_PAD && bit) abort();
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vocab) {
        tok = small_tokenizer();
        int32_t eos = SMALL_EOS;
        char err[256];
        if (!tok || gr_vocab_new(&vocab, tok, &eos, 1, err, sizeof err) != GR_OK) abort();
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t glen = nul ? (size_t)(nul - data) : size;
    gr_grammar *g = NULL;
    char err[512] = "";
    if (gr_compile_gbnf(&g, vocab, (const char *)data, glen, err, sizeof err) != GR_OK) {
        if (g || strncmp(err, "line ", 5) != 0) abort();
        return 0;
    }
    gr_matcher *m = gr_matcher_new(g);
    if (!m) abort();
    bool ok = check_state(m);
    for (size_t i = glen + 1; ok && i < size && i < glen + 1 + 32; i++) {
        if (gr_matcher_accept_bytes(m, data + i, 1) != GR_OK) continue;
        ok = check_state(m);
    }
    gr_matcher_free(m);
    gr_grammar_free(g);
    return 0;
}
