/* The Hugging Face side files berth-make-model writes next to the weights. */
#include "tools/make_model/mm_hf_files.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { QWEN3_VOCAB = 151936, QWEN3_BOS = 151643, QWEN3_EOS = 151645 };

int mm_bos_id(const mm_spec *s) { return s->vocab == QWEN3_VOCAB ? QWEN3_BOS : s->vocab - 2; }
int mm_eos_id(const mm_spec *s) { return s->vocab == QWEN3_VOCAB ? QWEN3_EOS : s->vocab - 1; }

static int join(char *out, size_t len, const char *dir, const char *name, char *err, size_t errlen) {
    if (snprintf(out, len, "%s/%s", dir, name) >= (int)len) {
        snprintf(err, errlen, "%s/%s: path too long", dir, name);
        return -1;
    }
    return 0;
}

static int write_json(const char *dir, const char *name, cJSON *root, char *err, size_t errlen) {
    char path[4096];
    if (join(path, sizeof path, dir, name, err, errlen) != 0) return -1;
    char *text = root ? cJSON_Print(root) : NULL;
    if (!text) {
        snprintf(err, errlen, "%s: out of memory building the JSON", path);
        return -1;
    }
    FILE *f = fopen(path, "w");
    int rc = -1;
    if (!f) {
        snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    } else if (fputs(text, f) < 0 || fputc('\n', f) == EOF) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
    } else {
        rc = 0;
    }
    if (f && fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        rc = -1;
    }
    free(text);
    return rc;
}

int mm_write_configs(const char *dir, const mm_spec *s, char *err, size_t errlen) {
    /* The layout of the Hub's Qwen/Qwen3-* config.json (top-level rope_theta, rope_scaling null), which
     * is what users download; the transformers-5 layout (rope_parameters) is covered by the fixtures. */
    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("Qwen3ForCausalLM"));
    cJSON_AddFalseToObject(c, "attention_bias");
    cJSON_AddNumberToObject(c, "attention_dropout", 0.0);
    cJSON_AddNumberToObject(c, "bos_token_id", mm_bos_id(s));
    cJSON_AddNumberToObject(c, "eos_token_id", mm_eos_id(s));
    cJSON_AddNumberToObject(c, "head_dim", s->head_dim);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddNumberToObject(c, "hidden_size", s->hidden);
    cJSON_AddNumberToObject(c, "initializer_range", s->init_std);
    cJSON_AddNumberToObject(c, "intermediate_size", s->intermediate);
    cJSON_AddNumberToObject(c, "max_position_embeddings", s->max_pos);
    cJSON_AddNumberToObject(c, "max_window_layers", s->layers);
    cJSON_AddStringToObject(c, "model_type", "qwen3");
    cJSON_AddNumberToObject(c, "num_attention_heads", s->heads);
    cJSON_AddNumberToObject(c, "num_hidden_layers", s->layers);
    cJSON_AddNumberToObject(c, "num_key_value_heads", s->kv_heads);
    cJSON_AddNumberToObject(c, "rms_norm_eps", s->rms_eps);
    cJSON_AddNullToObject(c, "rope_scaling");
    cJSON_AddNumberToObject(c, "rope_theta", s->rope_theta);
    cJSON_AddNullToObject(c, "sliding_window");
    cJSON_AddBoolToObject(c, "tie_word_embeddings", s->tied);
    cJSON_AddStringToObject(c, "torch_dtype", s->dtype == MM_BF16 ? "bfloat16" : "float32");
    cJSON_AddTrueToObject(c, "use_cache");
    cJSON_AddFalseToObject(c, "use_sliding_window");
    cJSON_AddNumberToObject(c, "vocab_size", s->vocab);
    int rc = write_json(dir, "config.json", c, err, errlen);
    cJSON_Delete(c);
    if (rc != 0) return rc;

    /* Qwen3's own sampling defaults; eos as a list, as Qwen3 ships it (end of turn, end of text). */
    cJSON *g = cJSON_CreateObject();
    cJSON_AddNumberToObject(g, "bos_token_id", mm_bos_id(s));
    cJSON_AddTrueToObject(g, "do_sample");
    cJSON *eos = cJSON_AddArrayToObject(g, "eos_token_id");
    cJSON_AddItemToArray(eos, cJSON_CreateNumber(mm_eos_id(s)));
    cJSON_AddItemToArray(eos, cJSON_CreateNumber(mm_bos_id(s)));
    cJSON_AddNumberToObject(g, "pad_token_id", mm_bos_id(s));
    cJSON_AddNumberToObject(g, "temperature", 0.6);
    cJSON_AddNumberToObject(g, "top_k", 20);
    cJSON_AddNumberToObject(g, "top_p", 0.95);
    rc = write_json(dir, "generation_config.json", g, err, errlen);
    cJSON_Delete(g);
    return rc;
}

/* gzread passes uncompressed input through unchanged, so one path copies both kinds of file. */
static int copy_file(const char *from, const char *to, char *err, size_t errlen) {
    gzFile in = gzopen(from, "rb");
    if (!in) {
        snprintf(err, errlen, "%s: cannot open: %s", from, strerror(errno));
        return -1;
    }
    FILE *out = fopen(to, "wb");
    if (!out) {
        snprintf(err, errlen, "%s: cannot create: %s", to, strerror(errno));
        gzclose(in);
        return -1;
    }
    char buf[1 << 16];
    int rc = 0, n;
    while ((n = gzread(in, buf, sizeof buf)) > 0) {
        if (fwrite(buf, 1, (size_t)n, out) != (size_t)n) {
            snprintf(err, errlen, "%s: write failed: %s", to, strerror(errno));
            rc = -1;
            break;
        }
    }
    if (rc == 0 && n < 0) {
        int zerr;
        const char *msg = gzerror(in, &zerr);
        snprintf(err, errlen, "%s: cannot read (corrupt gzip?): %s", from, msg);
        rc = -1;
    }
    gzclose(in);
    if (fclose(out) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: write failed: %s", to, strerror(errno));
        rc = -1;
    }
    if (rc != 0) remove(to);
    return rc;
}

static int exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

int mm_copy_tokenizer(const char *src, const char *dir, int *copied, char *err, size_t errlen) {
    char from[4096], to[4096];
    *copied = 0;
    if (join(from, sizeof from, src, "tokenizer.json", err, errlen) != 0) return -1;
    if (!exists(from)) {
        if (join(from, sizeof from, src, "tokenizer.json.gz", err, errlen) != 0) return -1;
        if (!exists(from)) {
            snprintf(err, errlen, "--tokenizer %s: neither tokenizer.json nor tokenizer.json.gz is there", src);
            return -1;
        }
    }
    if (join(to, sizeof to, dir, "tokenizer.json", err, errlen) != 0 || copy_file(from, to, err, errlen) != 0)
        return -1;
    (*copied)++;
    static const char *const optional[] = {"tokenizer_config.json", "chat_template.jinja"};
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++) {
        if (join(from, sizeof from, src, optional[i], err, errlen) != 0) return -1;
        if (!exists(from)) continue;
        if (join(to, sizeof to, dir, optional[i], err, errlen) != 0 || copy_file(from, to, err, errlen) != 0)
            return -1;
        (*copied)++;
    }
    return 0;
}
