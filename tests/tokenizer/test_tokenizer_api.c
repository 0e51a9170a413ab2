/* The tokenizer's C API on the real Qwen3 tokenizer (ids checked against HF by the pytest suite),
 * and load errors: missing files, bad JSON, unsupported models and fields, each with a clear
 * message. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/tokenizer/tokenizer.h"
#include "tests/support/test_support.h"

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    size_t len = strlen(text);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    CHECKF(f != NULL, "cannot write %s", path);
    if (!f) return;
    fwrite(text, 1, len, f);
    fclose(f);
}

static void remove_file(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    unlink(path);
}

/* Loading tmpdir fails and the message contains every one of the given fragments. */
static void expect_load_error(const char *what, const char *frag1, const char *frag2)
{
    tok_tokenizer *t = NULL;
    char err[512] = "";
    int rc = tok_load_dir(&t, tmpdir, err, sizeof err);
    CHECKF(rc == TOK_ERR && t == NULL, "%s: load should fail", what);
    CHECKF(strstr(err, frag1) != NULL, "%s: error \"%s\" lacks \"%s\"", what, err, frag1);
    CHECKF(!frag2 || strstr(err, frag2) != NULL, "%s: error \"%s\" lacks \"%s\"", what, err, frag2);
    tok_free(t);
}

static const char tiny_head[] =
    "{\"added_tokens\":[{\"id\":5,\"content\":\"<s>\",\"single_word\":false,\"lstrip\":false,"
    "\"rstrip\":false,"
    "\"normalized\":false,\"special\":true}],\"normalizer\":null,"
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
    "\"decoder\":{\"type\":\"ByteLevel\"},\"post_processor\":null,";

static void test_load_errors(void)
{
    tok_tokenizer *t = NULL;
    char err[512] = "";
    CHECK(tok_load_dir(&t, "/nonexistent/berth-dir", err, sizeof err) == TOK_ERR && t == NULL);
    CHECKF(strstr(err, "/nonexistent/berth-dir") && strstr(err, "tokenizer.json"),
           "missing dir: %s", err);
    CHECK(tok_load_file(&t, "/nonexistent/tokenizer.json", err, sizeof err) == TOK_ERR);
    CHECKF(strstr(err, "/nonexistent/tokenizer.json") && strstr(err, "cannot open"),
           "missing file: %s", err);

    write_file("tokenizer.json", "{\"model\": [1, 2");
    expect_load_error("bad JSON", "tokenizer.json", "not valid JSON");

    char buf[2048];
    snprintf(buf, sizeof buf, "%s\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}",
             tiny_head);
    write_file("tokenizer.json", buf);
    expect_load_error("WordPiece", "model.type is \"WordPiece\"", "expected \"BPE\"");

    snprintf(
        buf, sizeof buf,
        "%s\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[[\"a\",\"c\"]]}}",
        tiny_head);
    write_file("tokenizer.json", buf);
    expect_load_error("merge of an unknown token", "model.merges[0]", "missing from model.vocab");

    snprintf(buf, sizeof buf,
             "{\"normalizer\":{\"type\":\"Lowercase\"},\"pre_tokenizer\":{\"type\":\"ByteLevel\","
             "\"add_prefix_space\":false},"
             "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},"
             "\"merges\":[]}}");
    write_file("tokenizer.json", buf);
    expect_load_error("Lowercase normalizer", "normalizer.type \"Lowercase\" is not supported",
                      "supported: Sequence, NFC");

    snprintf(buf, sizeof buf,
             "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\"},"
             "{\"type\":\"Punctuation\"}]},\"decoder\":{\"type\":\"ByteLevel\"},"
             "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}");
    write_file("tokenizer.json", buf);
    expect_load_error("Punctuation pre-tokenizer",
                      "pre_tokenizer.pretokenizers[1].type \"Punctuation\" is not supported",
                      "Metaspace");

    snprintf(buf, sizeof buf,
             "{\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Fuse\"},{\"type\":"
             "\"CTC\"}]},"
             "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}");
    write_file("tokenizer.json", buf);
    expect_load_error("CTC decoder", "decoder.decoders[1].type \"CTC\" is not supported", NULL);

    snprintf(buf, sizeof buf,
             "{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{"
             "\"id\":\"<s>\"}},"
             "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"<s>\":{\"ids\":[7]}}},"
             "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}");
    write_file("tokenizer.json", buf);
    expect_load_error("template id outside the vocabulary",
                      "post_processor.special_tokens[\"<s>\"].ids",
                      "expected ids in the vocabulary");

    snprintf(
        buf, sizeof buf,
        "%s\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}",
        tiny_head);
    write_file("tokenizer.json", buf);
    write_file("tokenizer_config.json",
               "{\"added_tokens_decoder\":{\"5\":{\"content\":\"</s>\"}}}");
    expect_load_error("config disagreeing with tokenizer.json", "tokenizer_config.json",
                      "added_tokens_decoder[\"5\"]");

    /* The same tiny tokenizer loads once the config agrees; "a b" merges in the older string form.
     */
    write_file("tokenizer_config.json",
               "{\"eos_token\":{\"content\":\"<s>\"},\"chat_template\":\"T\"}");
    write_file("chat_template.jinja", "{{ messages }}");
    CHECKF(tok_load_dir(&t, tmpdir, err, sizeof err) == TOK_OK, "tiny tokenizer: %s", err);
    if (t) {
        int32_t *ids = NULL;
        size_t k = 0;
        CHECK(tok_encode(t, "ab<s>ba", 7, &ids, &k, err, sizeof err) == TOK_OK);
        CHECK(k == 4 && ids[0] == 2 && ids[1] == 5 && ids[2] == 1 && ids[3] == 0);
        CHECK(strcmp(tok_eos_token(t), "<s>") == 0 && tok_bos_token(t) == NULL);
        CHECK(strcmp(tok_chat_template(t), "{{ messages }}") == 0); /* chat_template.jinja wins */
        free(ids);
        tok_free(t);
    }
    remove_file("chat_template.jinja");
    remove_file("tokenizer_config.json");
    remove_file("tokenizer.json");
}

/* tok_load_json: the same tiny tokenizer from memory, with a config document and without one. */
static void test_load_json(void)
{
    char buf[2048], err[512] = "";
    snprintf(
        buf, sizeof buf,
        "%s\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}",
        tiny_head);
    static const char cfg[] = "{\"bos_token\":\"<s>\",\"chat_template\":\"T\"}";
    tok_tokenizer *t = NULL;
    CHECKF(tok_load_json(&t, buf, strlen(buf), cfg, strlen(cfg), "gguf:x", err, sizeof err) ==
               TOK_OK,
           "load_json: %s", err);
    if (t) {
        int32_t *ids = NULL;
        size_t k = 0;
        CHECK(tok_encode(t, "ab<s>ba", 7, &ids, &k, err, sizeof err) == TOK_OK);
        CHECK(k == 4 && ids[0] == 2 && ids[1] == 5 && ids[2] == 1 && ids[3] == 0);
        CHECK(strcmp(tok_bos_token(t), "<s>") == 0 && strcmp(tok_chat_template(t), "T") == 0);
        free(ids);
        tok_free(t);
    }
    CHECK(tok_load_json(&t, buf, strlen(buf), NULL, 0, NULL, err, sizeof err) == TOK_OK &&
          tok_chat_template(t) == NULL);
    tok_free(t);
    CHECK(tok_load_json(&t, buf, 20, NULL, 0, "gguf:cut", err, sizeof err) == TOK_ERR && t == NULL);
    CHECKF(strstr(err, "gguf:cut") && strstr(err, "not valid JSON"), "truncated: %s", err);
    CHECK(tok_load_json(&t, buf, strlen(buf), "[1]", 3, "gguf:y", err, sizeof err) == TOK_ERR &&
          t == NULL);
    CHECKF(strstr(err, "gguf:y (tokenizer_config)") && strstr(err, "not a JSON object"),
           "bad config: %s", err);
}

static void check_encode(const tok_tokenizer *t, const char *text, size_t len, const int32_t *want,
                         size_t n_want)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char err[256];
    CHECKF(tok_encode(t, text, len, &ids, &n, err, sizeof err) == TOK_OK, "encode: %s", err);
    bool same = n == n_want;
    for (size_t i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    CHECKF(same, "encode(\"%.*s\") gave %zu ids, first %d", (int)len, text, n, n ? ids[0] : -1);
    free(ids);
}

static void test_qwen3(void)
{
    char dir[1024];
    test_shared_path("data/qwen3-tokenizer", dir, sizeof dir);
    tok_tokenizer *t = NULL;
    char err[512];
    CHECKF(tok_load_dir(&t, dir, err, sizeof err) == TOK_OK, "load %s: %s", dir, err);
    if (!t) return;
    CHECK(tok_vocab_size(t) == 151669);
    CHECK(strcmp(tok_eos_token(t), "<|im_end|>") == 0);
    CHECK(strcmp(tok_pad_token(t), "<|endoftext|>") == 0);
    CHECK(tok_bos_token(t) == NULL);
    CHECK(tok_chat_template(t) && strstr(tok_chat_template(t), "<|im_start|>"));
    CHECK(tok_token_id(t, "<think>") == 151667 && tok_token_id(t, "Hello") == 9707);
    CHECK(tok_token_id(t, "no such token here") == -1);
    CHECK(strcmp(tok_token_text(t, 151644), "<|im_start|>") == 0 &&
          strcmp(tok_token_text(t, 220), "Ġ") == 0);
    CHECK(tok_token_text(t, -1) == NULL && tok_token_text(t, 151669) == NULL);
    CHECK(tok_is_special(t, 151645) && !tok_is_special(t, 151667) && !tok_is_special(t, 9707) &&
          !tok_is_special(t, -3));

    /* Ids below are what HF tokenizers gives for the same strings. */
    static const int32_t hello[] = {9707, 1879, 11,     432, 594,    220, 151644,
                                    872,  198,  108386, 220, 151667, 87,  151668};
    const char *s = "Hello world, it's <|im_start|>user\n你好 <think>x</think>";
    check_encode(t, s, strlen(s), hello, 14);
    check_encode(t, "", 0, NULL, 0);
    /* Invalid UTF-8 is encoded as its U+FFFD replacement: "a\xff" == "a\uFFFD". */
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK(tok_encode(t, "a\xff", 2, &a, &na, err, sizeof err) == TOK_OK);
    CHECK(tok_encode(t, "a\xEF\xBF\xBD", 4, &b, &nb, err, sizeof err) == TOK_OK);
    CHECK(na == nb && na > 0 && memcmp(a, b, na * sizeof *a) == 0);
    free(a);
    free(b);

    int32_t ids[] = {151644, 9707, 151669, -5, 151667};
    char *text = NULL;
    size_t len = 0;
    CHECK(tok_decode(t, ids, 5, false, &text, &len, err, sizeof err) == TOK_OK);
    CHECK(text && strcmp(text, "<|im_start|>Hello<think>") == 0 &&
          len == 24); /* unknown ids skipped */
    free(text);
    CHECK(tok_decode(t, ids, 5, true, &text, &len, err, sizeof err) == TOK_OK);
    CHECK(text && strcmp(text, "Hello<think>") == 0); /* <think> is not special */
    free(text);

    tok_stream *st = tok_stream_new(t, true);
    CHECK(st != NULL);
    char *piece = NULL;
    size_t plen = 0;
    CHECK(tok_stream_push(st, 151644, &piece, &plen) == TOK_OK && plen == 0 && piece &&
          piece[0] == '\0');
    free(piece);
    CHECK(tok_stream_push(st, 9707, &piece, &plen) == TOK_OK && strcmp(piece, "Hello") == 0);
    free(piece);
    CHECK(tok_stream_finish(st, &piece, &plen) == TOK_OK && plen == 0);
    free(piece);
    tok_stream_free(st);
    tok_free(t);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/berth-tok-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    test_load_errors();
    test_load_json();
    test_qwen3();
    rmdir(tmpdir);
    return test_finish("tokenizer_api");
}
