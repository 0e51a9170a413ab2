/* Samples strings from regexes through the matcher, for test_grammar_regex_samples.py: for each
 * pattern (one per line of PATTERNS), compiles gr_regex_to_gbnf_ex(pattern, FLAGS) against the
 * small byte vocabulary and walks N random paths of allowed printable-ASCII bytes (chosen from the
 * mask), printing "INDEX HEX" for every complete sample and "INDEX refused MESSAGE" for a refusal.
 *   grammar_sample PATTERNS FLAGS N SEED */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/grammar.h"
#include "tests/grammar/small_vocab.h"

static void sample(const gr_grammar *g, int idx, unsigned *seed)
{
    gr_matcher *m = gr_matcher_new(g);
    if (!m) return;
    uint32_t mask[64];
    char out[256];
    int len = 0;
    for (int step = 0; step < 200; step++) {
        if (gr_matcher_fill_mask(m, mask) != GR_OK) break;
        int cand[128], n = 0;
        /* printable ASCII and tab: where ECMAScript and Python's re agree on \s \w \d . and $ */
        for (int b = 0x20; b < 0x7F; b++)
            if ((mask[b >> 5] >> (b & 31)) & 1) cand[n++] = b;
        if ((mask[0] >> '\t') & 1) cand[n++] = '\t';
        bool complete = gr_matcher_is_complete(m);
        if (complete && (n == 0 || len > 40 || rand_r(seed) % 4 == 0)) {
            printf("%d ", idx);
            for (int i = 0; i < len; i++)
                printf("%02x", (unsigned char)out[i]);
            printf("\n");
            break;
        }
        if (n == 0 || len == (int)sizeof out) break;
        int pick = cand[rand_r(seed) % (unsigned)n];
        if (gr_matcher_accept_token(m, pick) != GR_OK) {
            fprintf(stderr, "pattern %d: byte %d allowed by the mask but rejected\n", idx, pick);
            exit(1);
        }
        out[len++] = (char)pick;
    }
    gr_matcher_free(m);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: grammar_sample PATTERNS FLAGS N SEED\n");
        return 2;
    }
    unsigned flags = (unsigned)atoi(argv[2]), seed = (unsigned)atoi(argv[4]);
    int n = atoi(argv[3]);
    tok_tokenizer *tok = small_tokenizer();
    int32_t eos = SMALL_EOS;
    char err[512];
    gr_vocab *v = NULL;
    FILE *f = fopen(argv[1], "r");
    if (!tok || !f || gr_vocab_new(&v, tok, &eos, 1, err, sizeof err) != GR_OK) {
        fprintf(stderr, "grammar_sample: cannot set up (%s)\n", f ? err : argv[1]);
        return 1;
    }
    static char line[1 << 16];
    for (int idx = 0; fgets(line, sizeof line, f); idx++) {
        line[strcspn(line, "\n")] = 0;
        char *gbnf = NULL;
        if (gr_regex_to_gbnf_ex(line, "p", flags, &gbnf, err, sizeof err) != GR_OK) {
            printf("%d refused %s\n", idx, err);
            continue;
        }
        size_t len = strlen(gbnf) + 32;
        char *full = malloc(len);
        snprintf(full, len, "root ::= proot\n%s", gbnf);
        gr_grammar *g = NULL;
        if (gr_compile_gbnf(&g, v, full, strlen(full), err, sizeof err) != GR_OK) {
            printf("%d refused %s\n", idx, err);
        } else {
            for (int k = 0; k < n; k++)
                sample(g, idx, &seed);
        }
        gr_grammar_free(g);
        free(full), free(gbnf);
    }
    fclose(f);
    gr_vocab_free(v);
    tok_free(tok);
    return 0;
}
