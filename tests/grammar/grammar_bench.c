/* Mask and compile timings on a real tokenizer (not a test): builds the vocabulary, then for a few
 * grammars (generic JSON, a date-time pattern, a free-text line, a tool call) compiles it and walks
 * a document token by token with a fresh matcher per pass, timing gr_matcher_fill_mask before every
 * token (one thread).
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
    static const struct {
        const char *name, *gbnf, *doc;
    } work[] = {
        {"json", json_gbnf, json_doc},
        {"bounded", "root ::= \"\\\"\" [^\"]{0,40} \"\\\"\"",
         "\"Hello world, how are you today? ok\""},
        {"regex-datetime",
         "root ::= [0-9]{4} \"-\" [0-9]{2} \"-\" [0-9]{2} \"T\" [0-9]{2} \":\" [0-9]{2} \":\" "
         "[0-9]{2} \"Z\"",
         "2024-05-06T12:34:56Z"},
        {"free-text-line", "root ::= [^\\n]* \"\\n\"",
         "The quick brown fox jumps over the lazy dog; 敏捷的棕色狐狸跳过了懒狗. Ünïcödé!\n"},
        {"tool-call",
         "root ::= \"<tool_call>\\n{\\\"name\\\": \\\"\" [a-z_]+ \"\\\", \\\"arguments\\\": \" obj "
         "\"}\\n</tool_call>\"\n"
         "obj ::= \"{\" ( str \": \" str (\", \" str \": \" str)* )? \"}\"\n"
         "str ::= \"\\\"\" [^\"\\\\]* \"\\\"\"",
         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris, France\", "
         "\"unit\": \"celsius\"}}\n</tool_call>"},
    };
    size_t nw = sizeof work / sizeof *work;
    uint32_t *mask = malloc(gr_mask_words(v) * sizeof *mask);
    double *all = malloc(sizeof *all * 100000);
    size_t n_all = 0;
    for (size_t w = 0; w < nw; w++) {
        double comp[50];
        gr_grammar *g = NULL;
        for (int i = 0; i < 50; i++) {
            gr_grammar_free(g);
            t0 = now_us();
            if (gr_compile_gbnf(&g, v, work[w].gbnf, strlen(work[w].gbnf), err, sizeof err) !=
                GR_OK) {
                fprintf(stderr, "%s: %s\n", work[w].name, err);
                return 1;
            }
            comp[i] = now_us() - t0;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        tok_encode(tok, work[w].doc, strlen(work[w].doc), &ids, &n, err, sizeof err);
        double *t = malloc(sizeof *t * (n + 1) * (size_t)passes);
        size_t k = 0;
        for (int p = 0; p < passes; p++) {
            gr_matcher *m = gr_matcher_new(g);
            for (size_t i = 0; i <= n; i++) {
                t0 = now_us();
                if (gr_matcher_fill_mask(m, mask) != GR_OK) {
                    fprintf(stderr, "%s: mask failed before token %zu\n", work[w].name, i);
                    return 1;
                }
                t[k++] = now_us() - t0;
                if (getenv("GRAMMAR_BENCH_SLOW") && t[k - 1] > 1000) {
                    size_t bl = 0;
                    const uint8_t *bb = i < n ? tok_token_bytes(tok, ids[i], &bl) : NULL;
                    printf("slow: %s pass %d token %zu (next \"%.*s\"): %.0f us\n", work[w].name, p,
                           i, (int)bl, bb ? (const char *)bb : "", t[k - 1]);
                }
                if (i < n && gr_matcher_accept_token(m, ids[i]) != GR_OK) {
                    fprintf(stderr, "%s: token %zu rejected\n", work[w].name, i);
                    return 1;
                }
            }
            if (!gr_matcher_is_complete(m)) {
                fprintf(stderr, "%s: document incomplete\n", work[w].name);
                return 1;
            }
            gr_matcher_free(m);
        }
        double total = 0;
        for (size_t i = 0; i < k; i++) {
            total += t[i];
            if (n_all < 100000) all[n_all++] = t[i];
        }
        double c50 = pct(comp, 50, 0.5), p50 = pct(t, k, 0.5), p99 = pct(t, k, 0.99);
        printf("%-15s compile p50 %7.1f us | mask (%3zu tokens x %d): p50 %7.1f us  p99 %7.1f us  "
               "max %7.1f us  mean %7.1f us\n",
               work[w].name, c50, n + 1, passes, p50, p99, t[k - 1], total / (double)k);
        free(t), free(ids);
        gr_grammar_free(g);
    }
    double p50 = pct(all, n_all, 0.5), p99 = pct(all, n_all, 0.99);
    printf("all masks: p50 %.1f us  p99 %.1f us  max %.1f us\n", p50, p99, all[n_all - 1]);
    free(all), free(mask);
    gr_vocab_free(v);
    tok_free(tok);
    return 0;
}
