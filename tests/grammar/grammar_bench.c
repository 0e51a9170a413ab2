/* Mask and compile timings on a real tokenizer (not a test): builds the vocabulary, compiles the
 * generic JSON grammar, then walks a JSON document token by token with a fresh matcher per pass,
 * timing gr_matcher_fill_mask before every token (one thread).
 *   grammar_bench TOKENIZER_JSON[.gz] [PASSES] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/grammar/grammar.h"
#include "tests/grammar/json_gbnf.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_d);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: grammar_bench TOKENIZER_JSON[.gz] [PASSES]\n");
        return 2;
    }
    int passes = argc > 2 ? atoi(argv[2]) : 5;
    char err[512];
    tok_tokenizer *tok = NULL;
    if (tok_load_file(&tok, argv[1], err, sizeof err) != TOK_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int32_t eos = tok_token_id(tok, "<|im_end|>");
    gr_vocab *v = NULL;
    double t0 = now_us();
    if (gr_vocab_new(&v, tok, &eos, eos >= 0, err, sizeof err) != GR_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("vocab: %d tokens, built in %.1f ms\n", gr_vocab_size(v), (now_us() - t0) / 1e3);
    double comp[50];
    gr_grammar *g = NULL;
    for (int i = 0; i < 50; i++) {
        gr_grammar_free(g);
        t0 = now_us();
        if (gr_compile_gbnf(&g, v, json_gbnf, strlen(json_gbnf), err, sizeof err) != GR_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        comp[i] = now_us() - t0;
    }
    printf("compile json grammar: p50 %.1f us\n", pct(comp, 50, 0.5));
    int32_t *ids = NULL;
    size_t n = 0;
    tok_encode(tok, json_doc, strlen(json_doc), &ids, &n, err, sizeof err);
    uint32_t *mask = malloc(gr_mask_words(v) * sizeof *mask);
    double *t = malloc(sizeof *t * (n + 1) * (size_t)passes), *first = malloc(sizeof *t * (n + 1));
    size_t k = 0;
    for (int p = 0; p < passes; p++) {
        gr_matcher *m = gr_matcher_new(g);
        for (size_t i = 0; i <= n; i++) {
            t0 = now_us();
            gr_matcher_fill_mask(m, mask);
            double dt = now_us() - t0;
            t[k++] = dt;
            if (p == 0) first[i] = dt;
            if (i < n && gr_matcher_accept_token(m, ids[i]) != GR_OK) {
                fprintf(stderr, "token %zu rejected\n", i);
                return 1;
            }
        }
        gr_matcher_free(m);
    }
    double total = 0;
    for (size_t i = 0; i < k; i++)
        total += t[i];
    printf(
        "mask per token (%zu tokens x %d passes, fresh matcher each pass): p50 %.1f us, p99 %.1f "
        "us, max %.1f us, mean %.1f us\n",
        n + 1, passes, pct(t, k, 0.5), pct(t, k, 0.99), t[k - 1], total / (double)k);
    gr_grammar_free(g);
    gr_vocab_free(v);
    tok_free(tok);
    free(ids), free(mask), free(t), free(first);
    return 0;
}
