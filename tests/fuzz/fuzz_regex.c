/* Fuzz target for the regex front end: the first byte picks the flags (search, JSON string), the
 * rest up to a NUL is the pattern. A pattern either is refused with a "regex:" message or becomes
 * GBNF that compiles (or fails only on a size bound); then the bytes after the NUL are matched. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/grammar.h"
#include "tests/grammar/small_vocab.h"

static gr_vocab *vocab;
static tok_tokenizer *tok; /* kept for the process: the vocabulary points into it */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vocab) {
        tok = small_tokenizer();
        int32_t eos = SMALL_EOS;
        char err[256];
        if (!tok || gr_vocab_new(&vocab, tok, &eos, 1, err, sizeof err) != GR_OK) abort();
    }
    if (size == 0) return 0;
    unsigned flags = data[0] & 3;
    const uint8_t *nul = memchr(data + 1, 0, size - 1);
    size_t plen = nul ? (size_t)(nul - data - 1) : size - 1;
    char *pattern = malloc(plen + 1);
    memcpy(pattern, data + 1, plen);
    pattern[plen] = 0;
    char *gbnf = NULL, err[512] = "";
    if (gr_regex_to_gbnf_ex(pattern, "x_", flags, &gbnf, err, sizeof err) != GR_OK) {
        if (gbnf || strncmp(err, "regex: ", 7) != 0) abort();
        free(pattern);
        return 0;
    }
    size_t n = strlen(gbnf) + 32;
    char *full = malloc(n);
    snprintf(full, n, "root ::= x_root\n%s", gbnf);
    gr_grammar *g = NULL;
    if (gr_compile_gbnf(&g, vocab, full, strlen(full), err, sizeof err) != GR_OK) {
        /* generated GBNF is always well-formed; only bounds or an empty language may refuse it */
        if (!strstr(err, "too large") && !strstr(err, "matches no string") && !strstr(err, "limit"))
            abort();
    } else {
        gr_matcher *m = gr_matcher_new(g);
        if (!m) abort();
        size_t at = 1 + plen + 1;
        if (at < size) gr_matcher_accept_bytes(m, data + at, size - at);
        gr_matcher_free(m);
    }
    gr_grammar_free(g);
    free(full), free(gbnf), free(pattern);
    return 0;
}
