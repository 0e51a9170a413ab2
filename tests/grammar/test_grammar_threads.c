/* One compiled grammar and one vocabulary shared by matchers on several threads at once (the
 * engine's pattern: a matcher per sequence, masks on host threads): every thread's masks along a
 * JSON document equal those computed alone first. */
#include <pthread.h>

#include "tests/grammar/grammar_test_util.h"
#include "tests/grammar/json_gbnf.h"

enum { THREADS = 4, ROUNDS = 3 };

static const gr_grammar *grammar;
static const gr_vocab *vocab;
static const int32_t *ids;
static size_t n_ids, words;
static const uint32_t *expected; /* (n_ids + 1) masks */

static void *walk(void *arg)
{
    long *bad = arg;
    uint32_t *mask = malloc(words * sizeof *mask);
    for (int r = 0; r < ROUNDS; r++) {
        gr_matcher *m = gr_matcher_new(grammar);
        for (size_t i = 0; m && i <= n_ids; i++) {
            if (gr_matcher_fill_mask(m, mask) != GR_OK ||
                memcmp(mask, expected + i * words, words * sizeof *mask) != 0)
                (*bad)++;
            if (i < n_ids && gr_matcher_accept_token(m, ids[i]) != GR_OK) (*bad)++;
        }
        if (!m) (*bad)++;
        gr_matcher_free(m);
    }
    free(mask);
    return NULL;
}

int main(void)
{
    char path[512], err[512];
    tok_tokenizer *tok = NULL;
    test_shared_path("data/qwen3-tokenizer/tokenizer.json.gz", path, sizeof path);
    CHECKF(tok_load_file(&tok, path, err, sizeof err) == TOK_OK, "%s", err);
    if (!tok) return test_finish("grammar_threads");
    int32_t eos = tok_token_id(tok, "<|im_end|>");
    gr_vocab *v = NULL;
    CHECK(gr_vocab_new(&v, tok, &eos, 1, err, sizeof err) == GR_OK);
    gr_grammar *g = compile(v, json_gbnf);
    int32_t *toks = NULL;
    CHECK(tok_encode(tok, json_doc, strlen(json_doc), &toks, &n_ids, err, sizeof err) == TOK_OK);
    vocab = v, grammar = g, ids = toks, words = gr_mask_words(v);
    uint32_t *exp = malloc((n_ids + 1) * words * sizeof *exp);
    gr_matcher *m = gr_matcher_new(g);
    for (size_t i = 0; i <= n_ids; i++) {
        CHECK(gr_matcher_fill_mask(m, exp + i * words) == GR_OK);
        if (i < n_ids) CHECK(gr_matcher_accept_token(m, toks[i]) == GR_OK);
    }
    gr_matcher_free(m);
    expected = exp;
    pthread_t th[THREADS];
    long bad[THREADS] = {0};
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&th[t], NULL, walk, &bad[t]) == 0);
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECKF(bad[t] == 0, "thread %d: %ld masks or tokens differ", t, bad[t]);
    }
    free(exp), free(toks);
    gr_grammar_free(g);
    gr_vocab_free(v);
    tok_free(tok);
    return test_finish("grammar_threads");
}
