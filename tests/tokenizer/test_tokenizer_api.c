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
    snprintf(buf, sizeof buf, "%s\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0]]}}",
             tiny_head);
    write_file("tokenizer.json", buf);
    expect_load_error("Unigram", "model.type is \"Unigram\"", "expected \"BPE\" or \"WordPiece\"");

    snprintf(buf, sizeof buf,
             "%s\"model\":{\"type\":\"WordPiece\",\"max_input_chars_per_word\":-1,"
             "\"vocab\":{\"a\":0}}}",
             tiny_head);
    write_file("tokenizer.json", buf);
    expect_load_error("WordPiece word limit", "model.max_input_chars_per_word",
                      "non-negative integer");

    snprintf(
        buf, sizeof buf,
        "%s\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[[\"a\",\"c\"]]}}",
        tiny_head);
    write_file("tokenizer.json", buf);
    expect_load_error("merge of an unknown token", "model.merges[0]", "missing from model.vocab");

    snprintf(buf, sizeof buf,
             "{\"normalizer\":{\"type\":\"Precompiled\"},\"pre_tokenizer\":{\"type\":\"ByteLevel\","
             "\"add_prefix_space\":false},"
             "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},"
             "\"merges\":[]}}");
    write_file("tokenizer.json", buf);
    expect_load_error("Precompiled normalizer", "normalizer.type \"Precompiled\" is not supported",
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
    static const char sparse[] =
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":865555555},\"merges\":[]}}";
    CHECK(tok_load_json(&t, sparse, strlen(sparse), NULL, 0, "gguf:z", err, sizeof err) ==
              TOK_ERR &&
          t == NULL);
    CHECKF(strstr(err, "gguf:z") && strstr(err, "token id 865555555 is far beyond the 2 tokens"),
           "sparse ids: %s", err);
    CHECK(tok_load_json(&t, buf, strlen(buf), "[1]", 3, "gguf:y", err, sizeof err) == TOK_ERR &&
          t == NULL);
    CHECKF(strstr(err, "gguf:y (tokenizer_config)") && strstr(err, "not a JSON object"),
           "bad config: %s", err);
}

/* A SentencePiece-style tokenizer (Llama 2's layout) from memory: Prepend/Replace normalizers,
 * byte_fallback, BOS from TemplateProcessing only with add_special_tokens, and the decoder's
 * leading-space strip on the first token only. */
static void test_sentencepiece_layout(void)
{
    static const char json[] =
        "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},{\"id\":1,"
        "\"content\":\"<s>\",\"special\":true}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":"
        "\"\u2581\"},"
        "{\"type\":\"Replace\",\"pattern\":{\"String\":\" "
        "\"},\"content\":\"\u2581\"}]},\"pre_tokenizer\":null,"
        "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":"
        "\"<s>\",\"type_id\":0}},"
        "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{\"<s>\":{"
        "\"id\":\"<s>\",\"ids\":[1],"
        "\"tokens\":[\"<s>\"]}}},"
        "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{"
        "\"String\":\"\u2581\"},"
        "\"content\":\" "
        "\"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" "
        "\",\"start\":1,"
        "\"stop\":0}]},"
        "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":"
        "true,"
        "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"<0x0A>\":2,\"<0xC3>\":3,\"<0xA9>\":4,\"\u2581\":5,"
        "\"a\":6,\"b\":7,"
        "\"\u2581a\":8,\"\u2581ab\":9},\"merges\":[\"\u2581 a\",\"\u2581a b\"]}}";
    tok_tokenizer *t = NULL;
    char err[512];
    CHECKF(tok_load_json(&t, json, strlen(json), NULL, 0, "spm", err, sizeof err) == TOK_OK,
           "spm: %s", err);
    if (!t) return;
    int32_t *ids = NULL;
    size_t n = 0;
    /* "ab a\né": ▁ab ▁a <0x0A> <0xC3> <0xA9>, and <s> first only with special tokens. */
    CHECK(tok_encode_special(t, "ab a\n\xc3\xa9", 7, true, &ids, &n, err, sizeof err) == TOK_OK);
    const int32_t want[] = {1, 9, 8, 2, 3, 4};
    CHECKF(n == 6 && memcmp(ids, want, sizeof want) == 0, "spm encode: %zu ids, first %d", n,
           n ? ids[0] : -1);
    free(ids);
    CHECK(tok_encode(t, "ab", 2, &ids, &n, err, sizeof err) == TOK_OK && n == 1 && ids[0] == 9);
    free(ids);
    size_t len;
    const uint8_t *b = tok_token_bytes(t, 2, &len);
    CHECK(len == 1 && b[0] == '\n');
    b = tok_token_bytes(t, 3, &len);
    CHECK(len == 1 && b[0] == 0xC3);
    b = tok_token_bytes(t, 8, &len);
    CHECK(len == 2 && memcmp(b, " a", 2) == 0);
    char *text;
    const int32_t seq[] = {9, 8, 3, 4};
    CHECK(tok_decode(t, seq, 4, false, &text, &len, err, sizeof err) == TOK_OK);
    CHECKF(strcmp(text, "ab a\xc3\xa9") == 0, "spm decode: \"%s\"", text);
    free(text);
    tok_stream *st = tok_stream_new(t, false);
    /* A run of byte tokens waits for its end: one more invalid byte would turn all of it into
     * U+FFFD. */
    const char *pieces[] = {"ab", " a", "", ""};
    for (int i = 0; i < 4 && st; i++) {
        CHECK(tok_stream_push(st, seq[i], &text, &len) == TOK_OK);
        CHECKF(strcmp(text, pieces[i]) == 0, "spm stream piece %d: \"%s\"", i, text);
        free(text);
    }
    if (st) {
        CHECK(tok_stream_finish(st, &text, &len) == TOK_OK && strcmp(text, "\xc3\xa9") == 0);
        free(text);
    }
    tok_stream_free(st);
    tok_free(t);
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
    test_sentencepiece_layout();
    test_qwen3();
    rmdir(tmpdir);
    return test_finish("tokenizer_api");
}
