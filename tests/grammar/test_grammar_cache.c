/* The matcher's caches never change a mask. On real schemas (jsonschemabench, Qwen3's vocabulary)
 * random walks (each token drawn from the reference mask) compare, at every state, the masks of
 * (a) a pooled matcher (gr_matcher_new: warm from the grammar's earlier walks, with its memoised
 * states, slices, rule hints and recent masks), (b) a fresh matcher with slices but no pool, and
 * (c) the reference: a fresh matcher that walks the whole vocabulary trie at every mask, without
 * slices or recent masks. All three must accept the drawn token. */
#include <cjson/cJSON.h>
#include <zlib.h>

#include "models/grammar/gr_match_int.h"
#include "tests/grammar/grammar_test_util.h"

/* Every schema of the shared file whose line number is a multiple of this is walked. */
#define STRIDE 181
#define WALKS 3
#define STEPS 25

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* A token allowed by mask, drawn uniformly (eos only when nothing else is allowed or, once
 * complete, with probability 1/4): -1 when the mask is empty. */
static bool has(const uint32_t *mask, int32_t t)
{
    return (mask[t >> 5] >> (t & 31)) & 1;
}

static int32_t draw(const uint32_t *mask, size_t words, const int32_t *eos, bool complete)
{
    if (complete && next_rand() % 4 == 0) return eos[0];
    int32_t n = 0;
    for (size_t w = 0; w < words; w++)
        n += __builtin_popcount(mask[w]);
    n -= has(mask, eos[0]) + has(mask, eos[1]);
    if (n == 0) return complete ? eos[0] : -1;
    int32_t k = (int32_t)(next_rand() % (uint32_t)n);
    for (int32_t t = 0; t < (int32_t)(words * 32); t++)
        if (has(mask, t) && t != eos[0] && t != eos[1] && k-- == 0) return t;
    return -1;
}

static const gr_vocab *draw_vocab;
static bool avoid_quote; /* redraw tokens holding '"' (keeps a walk inside a long string) */

/* One walk: returns the number of masks compared. */
static int walk(const gr_vocab *v, const gr_grammar *g, const int32_t *eos, const char *id,
                int steps)
{
    size_t words = gr_mask_words(v);
    uint32_t *ma = malloc(words * 4), *mb = malloc(words * 4), *mc = malloc(words * 4);
    gr_matcher *a = gr_matcher_new(g), *b = gr_matcher_new_uncached(g, false),
               *c = gr_matcher_new_uncached(g, true);
    CHECK(ma && mb && mc && a && b && c);
    int compared = 0;
    for (int step = 0; step < steps && a && b && c; step++) {
        int ra = gr_matcher_fill_mask(a, ma), rb = gr_matcher_fill_mask(b, mb),
            rc = gr_matcher_fill_mask(c, mc);
        CHECKF(ra == GR_OK && rb == GR_OK && rc == GR_OK, "%s step %d: a mask call failed", id,
               step);
        if (ra != GR_OK || rb != GR_OK || rc != GR_OK) break;
        compared++;
        size_t bad_a = 0, bad_b = 0;
        for (size_t w = 0; w < words; w++) {
            bad_a += (size_t)__builtin_popcount(ma[w] ^ mc[w]);
            bad_b += (size_t)__builtin_popcount(mb[w] ^ mc[w]);
        }
        CHECKF(bad_a == 0, "%s step %d: the pooled matcher's mask differs on %zu tokens", id, step,
               bad_a);
        CHECKF(bad_b == 0, "%s step %d: the fresh matcher's mask differs on %zu tokens", id, step,
               bad_b);
        bool complete = gr_matcher_is_complete(c);
        int32_t t = draw(mc, words, eos, complete);
        for (int tries = 0; avoid_quote && t >= 0 && t != eos[0] && tries < 50; tries++) {
            if (!memchr(draw_vocab->bytes[t], '"', draw_vocab->len[t])) break;
            t = draw(mc, words, eos, complete);
        }
        CHECKF(t >= 0, "%s step %d: empty mask while the grammar can continue", id, step);
        if (t < 0 || t == eos[0]) break;
        CHECKF(gr_matcher_accept_token(a, t) == GR_OK && gr_matcher_accept_token(b, t) == GR_OK &&
                   gr_matcher_accept_token(c, t) == GR_OK,
               "%s step %d: token %d allowed by the mask but refused", id, step, t);
    }
    gr_matcher_free(a);
    gr_matcher_free(b);
    gr_matcher_free(c);
    free(ma), free(mb), free(mc);
    return compared;
}

/* Counted repetitions: the states of a long bounded repetition take their masks from stand-ins
 * (gr_mabs in gr_match.c). Long walks inside the strings (tokens with '"' redrawn) cross both
 * bands' thresholds: each mask still equals the reference's. */
static const char *const bounded_schemas[] = {
    "{\"type\":\"string\",\"maxLength\":300}",
    "{\"type\":\"string\",\"minLength\":20,\"maxLength\":60}",
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"maxLength\":40},"
    "\"b\":{\"type\":\"array\",\"maxItems\":50,\"items\":{\"type\":\"object\",\"properties\":"
    "{\"k\":{\"type\":\"string\",\"maxLength\":200}},\"required\":[\"k\"]}}},\"required\":[\"a\","
    "\"b\"]}",
    "{\"type\":\"array\",\"maxItems\":200,\"items\":{\"type\":\"integer\"}}",
    "{\"type\":\"string\",\"pattern\":\"^[a-z ]{0,150}x$\"}",
};

static int bounded_walks(const gr_vocab *v, const int32_t *eos)
{
    int masks = 0;
    char err[512];
    avoid_quote = true;
    for (size_t i = 0; i < sizeof bounded_schemas / sizeof *bounded_schemas; i++) {
        gr_grammar *g = NULL;
        const char *s = bounded_schemas[i];
        CHECKF(gr_compile_json_schema(&g, v, s, strlen(s), NULL, err, sizeof err) == GR_OK,
               "%s: %s", s, err);
        if (!g) continue;
        CHECKF(g->chain_k != NULL, "%s: no counted repetition found", s);
        for (int w = 0; w < 2; w++)
            masks += walk(v, g, eos, s, 90);
        gr_grammar_free(g);
    }
    avoid_quote = false;
    return masks;
}

/* Every position of a maxLength string with more than 17 characters left shares one band-0
 * stand-in (one mask), with more than 129 one band-1 stand-in; closer to the bound, each position
 * stands for itself. */
static void stand_ins(const gr_vocab *v, const tok_tokenizer *tok)
{
    const char *s = "{\"type\":\"string\",\"maxLength\":1000}";
    char err[512];
    gr_grammar *g = NULL;
    CHECKF(gr_compile_json_schema(&g, v, s, strlen(s), NULL, err, sizeof err) == GR_OK, "%s", err);
    gr_matcher *m = g ? gr_matcher_new(g) : NULL;
    uint32_t *mask = malloc(gr_mask_words(v) * sizeof *mask);
    int32_t a = tok_token_id(tok, "a");
    CHECK(m && mask && a >= 0 && gr_matcher_accept_bytes(m, (const uint8_t *)"\"", 1) == GR_OK);
    int32_t first0 = -1, first1 = -1, bad = 0;
    for (int pos = 0; m && pos <= 1000; pos++) {
        CHECK(gr_matcher_fill_mask(m, mask) == GR_OK);
        const mstate *st = &m->states[m->cur];
        int left = 1000 - pos;
        if (first0 < 0) first0 = st->abs[0], first1 = st->abs[1];
        bool ok0 = left > 17 ? st->abs[0] == first0 : st->abs[0] == m->cur;
        bool ok1 = left > 129 ? st->abs[1] == first1 : st->abs[1] == m->cur;
        if (!ok0 || !ok1) bad++;
        bool has_a = (mask[a >> 5] >> (a & 31)) & 1;
        CHECKF(has_a == (left > 0), "position %d: 'a' allowed %d", pos, has_a);
        if (left > 0) CHECK(gr_matcher_accept_token(m, a) == GR_OK);
    }
    CHECKF(bad == 0, "%d positions of a maxLength 1000 string with the wrong stand-in", bad);
    gr_matcher_free(m);
    gr_grammar_free(g);
    free(mask);
}

int main(void)
{
    char path[512], err[1024];
    tok_tokenizer *tok = NULL;
    test_shared_path("data/qwen3-tokenizer/tokenizer.json.gz", path, sizeof path);
    CHECKF(tok_load_file(&tok, path, err, sizeof err) == TOK_OK, "%s", err);
    if (!tok) return test_finish("grammar_cache");
    int32_t eos[2] = {tok_token_id(tok, "<|im_end|>"), tok_token_id(tok, "<|endoftext|>")};
    gr_vocab *v = NULL;
    CHECKF(gr_vocab_new(&v, tok, eos, 2, err, sizeof err) == GR_OK, "%s", err);
    draw_vocab = v;
    stand_ins(v, tok);
    int bounded = bounded_walks(v, eos);
    printf("grammar_cache: %d states of bounded repetitions compared\n", bounded);
    CHECK(bounded >= 5 * 2 * 40);
    test_shared_path("data/jsonschemabench/maskbench-shared.jsonl.gz", path, sizeof path);
    gzFile f = gzopen(path, "rb");
    CHECKF(f != NULL, "cannot open %s", path);
    size_t cap = 1 << 22;
    char *line = malloc(cap);
    int schemas = 0, masks = 0;
    for (long lineno = 0; f && line && gzgets(f, line, (int)cap); lineno++) {
        if (lineno % STRIDE != 0) continue;
        cJSON *doc = cJSON_Parse(line);
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(doc, "schema");
        const cJSON *idv = cJSON_GetObjectItemCaseSensitive(doc, "id");
        char *text = schema ? cJSON_PrintUnformatted(schema) : NULL;
        CHECKF(text != NULL, "line %ld: no schema", lineno + 1);
        gr_grammar *g = NULL;
        if (text &&
            gr_compile_json_schema(&g, v, text, strlen(text), NULL, err, sizeof err) == GR_OK) {
            const char *id = cJSON_IsString(idv) ? idv->valuestring : "?";
            schemas++;
            for (int w = 0; w < WALKS; w++)
                masks += walk(v, g, eos, id, STEPS);
            gr_grammar_free(g);
        }
        free(text);
        cJSON_Delete(doc);
    }
    if (f) gzclose(f);
    free(line);
    printf("grammar_cache: %d schemas, %d states compared\n", schemas, masks);
    CHECK(schemas >= 30 && masks >= 30 * WALKS * 5);
    gr_vocab_free(v);
    tok_free(tok);
    return test_finish("grammar_cache");
}
