/* berth-make-model: writes a random Qwen3-architecture checkpoint that berth can load, for tests and
 * demos. Command line only; the files are written by the mm_* modules. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/make_model/mm_hf_files.h"
#include "tools/make_model/mm_spec.h"
#include "tools/make_model/mm_st_writer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: berth-make-model --out DIR [options]\n"
            "\n"
            "Writes a Qwen3-architecture checkpoint with seeded random weights: DIR/config.json,\n"
            "DIR/generation_config.json and DIR/model.safetensors (streamed; memory use is constant).\n"
            "\n"
            "  --out DIR            folder to write (created with its parents when missing)\n"
            "  --preset NAME        shapes to start from: %s (default tiny)\n"
            "                         tiny        hidden 64, 2 layers, 4/2 heads, head_dim 32, vocab 512\n"
            "                         demo        hidden 256, 4 layers, 8/4 heads, head_dim 64, vocab 151936\n"
            "                                     (Qwen3's vocabulary: works with its tokenizer)\n"
            "                         qwen3-0.6b  Qwen3-0.6B's shapes (hidden 1024, 28 layers, 16/8 heads)\n"
            "                         qwen3-4b    Qwen3-4B's shapes (hidden 2560, 36 layers, 32/8 heads)\n"
            "  --dtype bf16|f32     weight dtype (default bf16)\n"
            "  --seed N             random seed (default 0); same seed and shapes give identical files\n"
            "  --tokenizer DIR      copy tokenizer.json (or decompress tokenizer.json.gz),\n"
            "                       tokenizer_config.json and chat_template.jinja from DIR\n"
            "  --force              overwrite files already in DIR\n"
            "  --help               show this help\n"
            "\n"
            "Overrides of the preset's shapes:\n"
            "  --hidden N  --layers N  --heads N  --kv-heads N  --head-dim N  --intermediate N\n"
            "  --vocab N  --max-pos N  --rope-theta X  --rms-eps X\n"
            "  --tied | --untied    share the embedding with the output head, or write lm_head.weight\n"
            "  --init-std X         std of the embedding and linear weights (default 0.02); norm\n"
            "                       weights are uniform in [0.9, 1.1]\n",
            mm_preset_names);
}

static int parse_int(const char *opt, const char *v, int *out, char *err, size_t errlen) {
    char *end;
    errno = 0;
    const long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x <= 0 || x > INT_MAX) {
        snprintf(err, errlen, "%s: got '%s', expected a positive integer", opt, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int parse_double(const char *opt, const char *v, double *out, char *err, size_t errlen) {
    char *end;
    errno = 0;
    const double x = strtod(v, &end);
    if (errno || end == v || *end || !(x > 0)) {
        snprintf(err, errlen, "%s: got '%s', expected a positive number", opt, v);
        return -1;
    }
    *out = x;
    return 0;
}

typedef struct {
    const char *out, *tokenizer;
    int force, help;
} options;

/* Two passes: the preset first (wherever it appears), then overrides on top of it. */
static int parse_args(int argc, char **argv, mm_spec *spec, options *o, char *err, size_t errlen) {
    const char *preset = "tiny";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) preset = argv[++i];
    }
    if (mm_spec_preset(preset, spec, err, errlen) != 0) return -1;
    static const struct {
        const char *opt;
        size_t offset;
    } ints[] = {{"--hidden", offsetof(mm_spec, hidden)},        {"--layers", offsetof(mm_spec, layers)},
                {"--heads", offsetof(mm_spec, heads)},          {"--kv-heads", offsetof(mm_spec, kv_heads)},
                {"--head-dim", offsetof(mm_spec, head_dim)},    {"--intermediate", offsetof(mm_spec, intermediate)},
                {"--vocab", offsetof(mm_spec, vocab)},          {"--max-pos", offsetof(mm_spec, max_pos)}};
    static const struct {
        const char *opt;
        size_t offset;
    } reals[] = {{"--rope-theta", offsetof(mm_spec, rope_theta)},
                 {"--rms-eps", offsetof(mm_spec, rms_eps)},
                 {"--init-std", offsetof(mm_spec, init_std)}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
            return 0;
        }
        if (strcmp(a, "--force") == 0) { o->force = 1; continue; }
        if (strcmp(a, "--tied") == 0) { spec->tied = 1; continue; }
        if (strcmp(a, "--untied") == 0) { spec->tied = 0; continue; }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (options start with --; see --help)", a);
            return -1;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int known = 0, rc = 0;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !known; k++) {
            if (strcmp(a, ints[k].opt) == 0 && (known = 1) && v)
                rc = parse_int(a, v, (int *)((char *)spec + ints[k].offset), err, errlen);
        }
        for (size_t k = 0; k < sizeof reals / sizeof reals[0] && !known; k++) {
            if (strcmp(a, reals[k].opt) == 0 && (known = 1) && v)
                rc = parse_double(a, v, (double *)((char *)spec + reals[k].offset), err, errlen);
        }
        if (!known) {
            if (strcmp(a, "--out") == 0 || strcmp(a, "--tokenizer") == 0 || strcmp(a, "--preset") == 0 ||
                strcmp(a, "--dtype") == 0 || strcmp(a, "--seed") == 0) {
                known = 1;
            } else {
                snprintf(err, errlen, "unknown option '%s' (see --help)", a);
                return -1;
            }
            if (v && strcmp(a, "--out") == 0) o->out = v;
            if (v && strcmp(a, "--tokenizer") == 0) o->tokenizer = v;
            if (v && strcmp(a, "--dtype") == 0) {
                if (strcmp(v, "bf16") == 0) spec->dtype = MM_BF16;
                else if (strcmp(v, "f32") == 0) spec->dtype = MM_F32;
                else {
                    snprintf(err, errlen, "--dtype: got '%s', expected bf16 or f32", v);
                    return -1;
                }
            }
            if (v && strcmp(a, "--seed") == 0) {
                char *end;
                errno = 0;
                spec->seed = strtoull(v, &end, 10);
                if (errno || end == v || *end || v[0] == '-') {
                    snprintf(err, errlen, "--seed: got '%s', expected a non-negative integer", v);
                    return -1;
                }
            }
        }
        if (!v) {
            snprintf(err, errlen, "%s: missing value", a);
            return -1;
        }
        if (rc != 0) return -1;
        i++;
    }
    if (!o->out) {
        snprintf(err, errlen, "--out DIR is required (see --help)");
        return -1;
    }
    return mm_spec_validate(spec, err, errlen);
}

static int make_dirs(const char *dir, char *err, size_t errlen) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        snprintf(err, errlen, "--out %s: path too long", dir);
        return -1;
    }
    for (char *p = path + 1;; p++) {
        const int end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            struct stat st;
            if (mkdir(path, 0777) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "--out %s: cannot create %s: %s", dir, path, strerror(errno));
                return -1;
            }
            if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
                snprintf(err, errlen, "--out %s: %s is not a directory", dir, path);
                return -1;
            }
            if (end) return 0;
            *p = '/';
        }
    }
}

/* Refuses to overwrite a model unless --force; with --force removes a stale shard index, which would
 * otherwise make loaders look for shards instead of the new model.safetensors. */
static int check_out(const options *o, char *err, size_t errlen) {
    static const char *const ours[] = {"config.json", "generation_config.json", "model.safetensors",
                                       "model.safetensors.index.json", "tokenizer.json",
                                       "tokenizer_config.json", "chat_template.jinja"};
    char path[4096];
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", o->out, ours[i]);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (!o->force) {
            snprintf(err, errlen, "%s exists; pass --force to overwrite", path);
            return -1;
        }
        if (strcmp(ours[i], "model.safetensors.index.json") == 0 && remove(path) != 0) {
            snprintf(err, errlen, "%s: cannot remove the stale shard index: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    char err[3 * 4096 + 256] = ""; /* room for messages that quote two paths */
    mm_spec spec;
    options o = {0};
    if (parse_args(argc, argv, &spec, &o, err, sizeof err) != 0) {
        fprintf(stderr, "berth-make-model: %s\n", err);
        return 2;
    }
    if (o.help) {
        usage(stdout);
        return 0;
    }
    if (make_dirs(o.out, err, sizeof err) != 0 || check_out(&o, err, sizeof err) != 0 ||
        mm_write_configs(o.out, &spec, err, sizeof err) != 0) {
        fprintf(stderr, "berth-make-model: %s\n", err);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", o.out);
    uint64_t bytes = 0;
    if (mm_st_write(path, &spec, &bytes, err, sizeof err) != 0) {
        fprintf(stderr, "berth-make-model: %s\n", err);
        return 1;
    }
    int copied = 0;
    if (o.tokenizer && mm_copy_tokenizer(o.tokenizer, o.out, &copied, err, sizeof err) != 0) {
        fprintf(stderr, "berth-make-model: %s\n", err);
        return 1;
    }
    const int64_t params = mm_spec_param_count(&spec);
    printf("berth-make-model: wrote %s: %" PRId64 " parameters (%.3f B), %s, model.safetensors %" PRIu64
           " bytes (%.2f GiB)",
           o.out, params, (double)params / 1e9, spec.dtype == MM_BF16 ? "bf16" : "f32", bytes,
           (double)bytes / (1024.0 * 1024.0 * 1024.0));
    if (o.tokenizer) printf(", %d tokenizer file%s copied", copied, copied == 1 ? "" : "s");
    printf("\n");
    return 0;
}
