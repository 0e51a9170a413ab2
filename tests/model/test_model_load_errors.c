/* A model directory that does not match its config is refused with a message naming the problem. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/cpu_backend.h"
#include "models/arch/model.h"
#include "tests/support/test_support.h"

static char fixture[1024];

/* A temp dir holding the fixture's weights (symlinked) and its config.json after edit(). */
static void make_variant(char *dir, size_t len, void (*edit)(cJSON *cfg))
{
    snprintf(dir, len, "/tmp/berth-model-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    char src[2048], dst[2048];
    snprintf(src, sizeof src, "%s/model.safetensors", fixture);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    if (symlink(src, dst)) perror("symlink");
    snprintf(src, sizeof src, "%s/config.json", fixture);
    FILE *f = fopen(src, "rb");
    if (!f) {
        fprintf(stderr, "fixture missing: %s (see tools/reference)\n", src);
        exit(1);
    }
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *cfg = cJSON_Parse(buf);
    edit(cfg);
    char *out = cJSON_Print(cfg);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    f = fopen(dst, "wb");
    fputs(out, f);
    fclose(f);
    free(out);
    cJSON_Delete(cfg);
}

static void remove_variant(const char *dir)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    rmdir(dir);
}

static void untie(cJSON *cfg)
{
    cJSON_ReplaceItemInObject(cfg, "tie_word_embeddings", cJSON_CreateFalse());
}

static void wider(cJSON *cfg)
{
    cJSON *h = cJSON_GetObjectItem(cfg, "intermediate_size");
    cJSON_SetNumberValue(h, h->valueint + 8);
}

static void more_layers(cJSON *cfg)
{
    cJSON *h = cJSON_GetObjectItem(cfg, "num_hidden_layers");
    cJSON_SetNumberValue(h, h->valueint + 1);
}

static void unchanged(cJSON *cfg)
{
    (void)cfg;
}

static void expect_error(bk_backend *be, void (*edit)(cJSON *), const char *what, const char *want1,
                         const char *want2)
{
    char dir[256], err[1024] = "";
    make_variant(dir, sizeof dir, edit);
    model *m = NULL;
    int rc = model_load(&m, dir, be, err, sizeof err);
    CHECKF(rc != 0 && m == NULL, "%s: load should fail", what);
    CHECKF(strstr(err, want1) && strstr(err, want2), "%s: message '%s' should name '%s' and '%s'",
           what, err, want1, want2);
    model_free(m);
    remove_variant(dir);
}

int main(void)
{
    test_source_path("tests/fixtures/qwen3-tiny-f32-tied", fixture, sizeof fixture);
    char err[1024];
    bk_backend *be = bk_cpu_create(1, 0, err, sizeof err);
    CHECKF(be != NULL, "%s", err);
    if (!be) return test_finish("model_load_errors");

    /* The unedited copy loads: the failures below come from the edits alone. */
    char dir[256];
    make_variant(dir, sizeof dir, unchanged);
    model *m = NULL;
    CHECKF(model_load(&m, dir, be, err, sizeof err) == 0, "unchanged copy: %s", err);
    model_free(m);
    remove_variant(dir);

    expect_error(be, untie, "untied without lm_head", "lm_head.weight", "tie_word_embeddings");
    expect_error(be, wider, "intermediate_size mismatch", "mlp.gate_proj.weight", "shape");
    expect_error(be, more_layers, "extra layer", "model.layers.", "no tensor");

    m = NULL;
    CHECK(model_load(&m, "/nonexistent/berth-model", be, err, sizeof err) != 0);
    CHECKF(strstr(err, "/nonexistent/berth-model") != NULL, "missing dir message: %s", err);
    be->ops->destroy(be);
    return test_finish("model_load_errors");
}
