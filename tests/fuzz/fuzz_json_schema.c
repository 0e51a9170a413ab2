/* Fuzz target: gr_json_schema_to_gbnf on arbitrary bytes returns GR_OK with a grammar whose start
 * rule is root, or GR_ERR with a message, never crashes or hangs; every grammar it writes compiles
 * with gr_compile_gbnf (except for the compiler's size limits) and a matcher can run over the
 * input's own bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/grammar/grammar.h"

/* A byte-level vocabulary: the 256 single bytes and one special end token. */
static gr_vocab *vocab(void)
{
    static gr_vocab *v;
    static tok_tokenizer *tok;
    if (v) return v;
    char dir[] = "/tmp/berth-fuzz-js-XXXXXX";
    if (!mkdtemp(dir)) abort();
    char path[64];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fprintf(f, "{\"added_tokens\":[{\"id\":256,\"content\":\"<|end|>\",\"special\":true}],"
               "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":"
               "false,\"use_regex\":true},\"decoder\":{\"type\":\"ByteLevel\"},"
               "\"post_processor\":null,\"model\":{\"type\":\"BPE\",\"vocab\":{");
    for (unsigned b = 0; b < 256; b++) {
        /* GPT-2's byte-to-unicode map */
        unsigned cp = b, n = 0;
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
            for (unsigned c = 0; c < b; c++)
                if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) n++;
            cp = 256 + n;
        }
        if (cp == '"' || cp == '\\')
            fprintf(f, "\"\\%c\":%u,", (char)cp, b);
        else if (cp < 0x80)
            fprintf(f, "\"%c\":%u,", (char)cp, b);
        else
            fprintf(f, "\"%c%c\":%u,", (char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F)), b);
    }
    fprintf(f, "\"<|end|>\":256},\"merges\":[]}}");
    fclose(f);
    char err[256];
    if (tok_load_file(&tok, path, err, sizeof err) != TOK_OK) abort();
    unlink(path);
    rmdir(dir);
    int32_t eos = 256;
    if (gr_vocab_new(&v, tok, &eos, 1, err, sizeof err) != GR_OK) abort();
    return v;
}

/* Compile errors that a valid translation may still meet: size limits, and schemas whose only
 * derivations are infinite ({"$ref": "#"} refers to itself). */
static bool acceptable(const char *err)
{
    return strstr(err, "limit") || strstr(err, "exceed") || strstr(err, "too ") ||
           strstr(err, "out of memory") || strstr(err, "matches no string");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    char *text = NULL;
    gr_json_options opt = {.flexible_whitespace = size % 2, .strict = size % 3 == 0};
    int rc = gr_json_schema_to_gbnf((const char *)data, size, "p-", &opt, &text, err, sizeof err);
    if (rc != GR_OK) {
        if (text || err[0] == '\0') abort();
        return 0;
    }
    if (!text || strncmp(text, "p-root ::= ", 11) != 0) abort();
    gr_grammar *g = NULL;
    /* the prefixed rules need a root that refers to them */
    size_t n = strlen(text) + 32;
    char *full = malloc(n);
    snprintf(full, n, "root ::= p-root\n%s", text);
    err[0] = '\0';
    if (gr_compile_gbnf(&g, vocab(), full, strlen(full), err, sizeof err) != GR_OK) {
        if (!acceptable(err)) {
            fprintf(stderr, "generated grammar does not compile: %s\n", err);
            abort();
        }
    } else {
        gr_matcher *m = gr_matcher_new(g);
        if (m) {
            gr_matcher_accept_bytes(m, data, size);
            gr_matcher_free(m);
        }
        gr_grammar_free(g);
    }
    free(full);
    free(text);
    return 0;
}
