/* berth-gguf: what berth reads from a GGUF file, from the command line.
 *   info FILE                 header, metadata and tensors (a corrupt file: the loader's message,
 * exit 1) dump FILE TENSOR          the tensor dequantised to float32, little-endian, on stdout
 *   tokenizer FILE DIR        writes DIR/tokenizer.json and DIR/tokenizer_config.json
 *   tokenize FILE INPUTS      encodes each input of a llama.cpp vocab-test .inp file (inputs
 *                             separated by "\n__ggml_vocab_test__\n"), one line of ids per input */
#include "models/loader/gguf.h"
#include "models/loader/gguf_quant.h"
#include "models/loader/gguf_tokenizer.h"
#include "models/tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: berth-gguf info FILE | dump FILE TENSOR [bf16|f16] | tokenizer FILE DIR | "
            "tokenize FILE INPUTS\n");
    return 2;
}

static void print_value(const gguf_kv *kv)
{
    switch (kv->type) {
    case GGUF_STRING:
        printf("\"%.*s\"", kv->v.str.len > 60 ? 60 : (int)kv->v.str.len, kv->v.str.s);
        if (kv->v.str.len > 60) printf("... (%llu bytes)", (unsigned long long)kv->v.str.len);
        break;
    case GGUF_ARRAY:
        printf("array of %llu", (unsigned long long)kv->v.arr.n);
        break;
    case GGUF_FLOAT32:
    case GGUF_FLOAT64:
        printf("%.9g", kv->v.f);
        break;
    case GGUF_BOOL:
        printf("%s", kv->v.b ? "true" : "false");
        break;
    case GGUF_INT8:
    case GGUF_INT16:
    case GGUF_INT32:
    case GGUF_INT64:
        printf("%lld", (long long)kv->v.i);
        break;
    default:
        printf("%llu", (unsigned long long)kv->v.u);
        break;
    }
}

static int cmd_info(gguf_file *f)
{
    printf("version %u, alignment %u, %zu metadata keys, %zu tensors\n", f->version, f->alignment,
           f->nkv, f->ntensors);
    for (size_t i = 0; i < f->nkv; i++) {
        printf("%s = ", f->kvs[i].key);
        print_value(&f->kvs[i]);
        printf("\n");
    }
    for (size_t i = 0; i < f->ntensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        printf("%s %s [", t->name, gguf_type_name(t->type));
        for (int d = 0; d < t->ndim; d++)
            printf("%s%lld", d ? ", " : "", (long long)t->ne[d]);
        printf("] offset %llu\n", (unsigned long long)t->offset);
    }
    return 0;
}

static int cmd_dump(gguf_file *f, const char *name, const char *as)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) {
        fprintf(stderr, "berth-gguf: %s has no tensor %s\n", f->path, name);
        return 1;
    }
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    float *x = malloc(sizeof(float) * (size_t)n);
    if (!x || gguf_dequant(t->type, t->data, x, n)) {
        fprintf(stderr, "berth-gguf: cannot dequantise %s (%s)\n", name, gguf_type_name(t->type));
        free(x);
        return 1;
    }
    if (!as) {
        fwrite(x, sizeof(float), (size_t)n, stdout);
    } else {
        bool bf16 = !strcmp(as, "bf16");
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = bf16 ? gguf_f32_to_bf16(x[i]) : gguf_f32_to_f16(x[i]);
            fwrite(&h, 2, 1, stdout);
        }
    }
    free(x);
    return 0;
}

static int write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(text, 1, len, fp) != len || fclose(fp)) {
        fprintf(stderr, "berth-gguf: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap);
    for (size_t got; p && (got = fread(p + n, 1, cap - n, fp)) > 0;) {
        n += got;
        if (n == cap) {
            char *q = realloc(p, cap *= 2);
            if (!q) free(p);
            p = q;
        }
    }
    fclose(fp);
    if (p) *len = n;
    return p;
}

static int cmd_tokenize(const tok_tokenizer *tok, const char *inputs)
{
    size_t len;
    char *text = read_all(inputs, &len);
    if (!text) {
        fprintf(stderr, "berth-gguf: cannot read %s\n", inputs);
        return 1;
    }
    static const char marker[] = "\n__ggml_vocab_test__\n";
    size_t mlen = sizeof marker - 1, at = 0;
    int rc = 0;
    while (at < len) {
        const char *end = NULL;
        for (size_t i = at; i + mlen <= len; i++)
            if (!memcmp(text + i, marker, mlen)) {
                end = text + i;
                break;
            }
        size_t n = end ? (size_t)(end - (text + at)) : len - at;
        int32_t *ids;
        size_t count;
        char err[512];
        if (tok_encode(tok, text + at, n, &ids, &count, err, sizeof err)) {
            fprintf(stderr, "berth-gguf: %s\n", err);
            rc = 1;
            break;
        }
        for (size_t i = 0; i < count; i++)
            printf(" %d", ids[i]);
        printf("\n");
        free(ids);
        if (!end) break;
        at = (size_t)(end - text) + mlen;
    }
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) return usage();
    const char *cmd = argv[1];
    char err[1024];
    gguf_file *f;
    if (gguf_open(&f, argv[2], err, sizeof err)) {
        fprintf(stderr, "berth-gguf: %s\n", err);
        return 1;
    }
    int rc;
    if (!strcmp(cmd, "info") && argc == 3) {
        rc = cmd_info(f);
    } else if (!strcmp(cmd, "dump") && (argc == 4 || (argc == 5 && (!strcmp(argv[4], "bf16") ||
                                                                    !strcmp(argv[4], "f16"))))) {
        rc = cmd_dump(f, argv[3], argc == 5 ? argv[4] : NULL);
    } else if ((!strcmp(cmd, "tokenizer") || !strcmp(cmd, "tokenize")) && argc == 4) {
        gguf_tok_docs d;
        rc = 1;
        if (gguf_tokenizer_docs(f, &d, err, sizeof err)) {
            fprintf(stderr, "berth-gguf: %s\n", err);
        } else if (!strcmp(cmd, "tokenizer")) {
            rc = write_file(argv[3], "tokenizer.json", d.tokenizer_json, d.tokenizer_len) ||
                 write_file(argv[3], "tokenizer_config.json", d.config_json, d.config_len);
        } else {
            tok_tokenizer *tok;
            if (tok_load_json(&tok, d.tokenizer_json, d.tokenizer_len, d.config_json, d.config_len,
                              f->path, err, sizeof err)) {
                fprintf(stderr, "berth-gguf: %s\n", err);
            } else {
                rc = cmd_tokenize(tok, argv[3]);
                tok_free(tok);
            }
        }
        gguf_tok_docs_free(&d);
    } else {
        rc = usage();
    }
    gguf_close(f);
    return rc;
}
