/* The matcher on the real Qwen3 vocabulary (152k byte-level tokens, special and added tokens): a
 * JSON grammar walked along the tokenisation of a document, with the mask at several states checked
 * against trying every token; EOS ids exactly when complete; special tokens never; <tool_call> (an
 * added, non-special token) matched by its bytes. */
#include "tests/grammar/grammar_test_util.h"
#include "tests/grammar/json_gbnf.h"

int main(void)
{
    char path[512], err[512];
    tok_tokenizer *tok = NULL;
    test_shared_path("data/qwen3-tokenizer/tokenizer.json.gz", path, sizeof path);
    CHECKF(tok_load_file(&tok, path, err, sizeof err) == TOK_OK, "%s", err);
    if (!tok) return test_finish("grammar_qwen3");
    int32_t eos[2] = {tok_token_id(tok, "<|im_end|>"), tok_token_id(tok, "<|endoftext|>")};
    int32_t tool_call = tok_token_id(tok, "<tool_call>");
    CHECK(eos[0] > 0 && eos[1] > 0 && tool_call > 0 && !tok_is_special(tok, tool_call));
    gr_vocab *v = NULL;
    CHECKF(gr_vocab_new(&v, tok, eos, 2, err, sizeof err) == GR_OK, "%s", err);
    gr_grammar *g = compile(v, json_gbnf);
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(tok_encode(tok, json_doc, strlen(json_doc), &ids, &n, err, sizeof err) == TOK_OK);
    gr_matcher *m = gr_matcher_new(g);
    size_t at = 0;
    for (size_t i = 0; i <= n; i++) {
        /* brute force at the start, inside strings and numbers, and at the end */
        if (i == 0 || i == 1 || i == 3 || i == n / 2 || i + 2 == n || i == n) {
            char what[64];
            snprintf(what, sizeof what, "json after %zu tokens", i);
            int allowed = check_mask(v, g, m, (const uint8_t *)json_doc, at, eos, 2, tok, what);
            CHECKF(allowed > 0, "%s: empty mask", what);
            printf("%s: %d tokens allowed\n", what, allowed);
        }
        if (i == n) break;
        size_t len;
        tok_token_bytes(tok, ids[i], &len);
        CHECKF(gr_matcher_accept_token(m, ids[i]) == GR_OK, "token %zu (id %d) rejected", i,
               ids[i]);
        at += len;
    }
    CHECK(gr_matcher_is_complete(m) && gr_matcher_is_terminated(m));
    CHECK(gr_matcher_accept_token(m, eos[0]) == GR_OK &&
          gr_matcher_accept_token(m, eos[1]) == GR_OK);
    gr_matcher_free(m);
    gr_grammar_free(g);
    free(ids);

    /* a bounded string: masks take the shorter-token tiers of the slices, then the full walk near
     * the bound; every state checked against the brute force */
    static const char bounded[] = "\"Hello wörld, 世界 ok\"";
    g = compile(v, "root ::= \"\\\"\" [^\"\\\\]{0,19} \"\\\"\"");
    CHECK(tok_encode(tok, bounded, strlen(bounded), &ids, &n, err, sizeof err) == TOK_OK);
    m = gr_matcher_new(g);
    at = 0;
    for (size_t i = 0; i <= n; i++) {
        char what[64];
        snprintf(what, sizeof what, "bounded string after %zu tokens", i);
        check_mask(v, g, m, (const uint8_t *)bounded, at, eos, 2, tok, what);
        if (i == n) break;
        size_t len;
        tok_token_bytes(tok, ids[i], &len);
        CHECKF(gr_matcher_accept_token(m, ids[i]) == GR_OK, "bounded: token %zu rejected", i);
        at += len;
    }
    CHECK(gr_matcher_is_terminated(m));
    gr_matcher_free(m);
    gr_grammar_free(g);
    free(ids);

    /* an added non-special token matches by its bytes; a special one never does */
    g = compile(v, "root ::= \"<tool_call>\" [a-z]+ \"</tool_call>\"");
    m = gr_matcher_new(g);
    CHECK(gr_matcher_accept_token(m, tok_token_id(tok, "<|im_start|>")) == GR_ERR);
    CHECK(gr_matcher_accept_token(m, tool_call) == GR_OK);
    check_mask(v, g, m, (const uint8_t *)"<tool_call>", 11, eos, 2, tok, "after <tool_call>");
    gr_matcher_free(m);
    gr_grammar_free(g);
    g = compile(v, "root ::= \"<|im_start|>\"");
    m = gr_matcher_new(g);
    CHECK(gr_matcher_accept_token(m, tok_token_id(tok, "<|im_start|>")) == GR_ERR);
    check_mask(v, g, m, NULL, 0, eos, 2, tok, "special text by bytes only");
    gr_matcher_free(m);
    gr_grammar_free(g);
    gr_vocab_free(v);
    tok_free(tok);
    return test_finish("grammar_qwen3");
}
