#include "tests/model/reference_fixture.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/loader/safetensors.h"
#include "tests/support/test_support.h"

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

static int32_t *int_array(const cJSON *a, int32_t *n)
{
    *n = cJSON_GetArraySize(a);
    int32_t *out = malloc(sizeof(int32_t) * (size_t)(*n ? *n : 1));
    for (int i = 0; i < *n; i++) out[i] = (int32_t)cJSON_GetArrayItem(a, i)->valueint;
    return out;
}

int ref_fixture_load(ref_fixture *f, const char *dir, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    char path[1200];
    size_t len;
    snprintf(path, sizeof path, "%s/reference.json", dir);
    char *json = (char *)read_file(path, &len);
    if (!json) {
        snprintf(err, errlen, "cannot read %s", path);
        return -1;
    }
    cJSON *root = cJSON_Parse(json);
    free(json);
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    const cJSON *dtype = cJSON_GetObjectItem(root, "dtype"), *name = cJSON_GetObjectItem(root, "model");
    if (!root || !cJSON_IsArray(cases) || !cJSON_IsString(dtype) || !cJSON_IsString(name)) {
        snprintf(err, errlen, "%s: expected {model, dtype, cases: [...]}", path);
        cJSON_Delete(root);
        return -1;
    }
    snprintf(f->name, sizeof f->name, "%s", name->valuestring);
    f->bf16 = strcmp(dtype->valuestring, "bfloat16") == 0;

    snprintf(path, sizeof path, "%s/reference_logits.safetensors", dir);
    f->logits_file = read_file(path, &len);
    st_tensor *tensors = NULL;
    if (!f->logits_file ||
        st_parse(f->logits_file, len, path, &tensors, &f->num_tensors, err, errlen) != 0) {
        if (!f->logits_file) snprintf(err, errlen, "cannot read %s", path);
        cJSON_Delete(root);
        return -1;
    }
    f->tensors = tensors;
    f->num_cases = cJSON_GetArraySize(cases);
    f->cases = calloc((size_t)f->num_cases, sizeof *f->cases);
    for (int i = 0; i < f->num_cases; i++) {
        const cJSON *c = cJSON_GetArrayItem(cases, i);
        ref_case *rc = &f->cases[i];
        rc->prompt = int_array(cJSON_GetObjectItem(c, "prompt"), &rc->prompt_len);
        rc->greedy = int_array(cJSON_GetObjectItem(c, "greedy"), &rc->greedy_len);
        int64_t rows = rc->prompt_len + rc->greedy_len;
        const char *fields[2] = {"logits", "logits_f32"};
        const float **dst[2] = {&rc->logits, &rc->logits_f32};
        for (int k = 0; k < 2; k++) {
            const char *tname = cJSON_GetStringValue(cJSON_GetObjectItem(c, fields[k]));
            if (!tname && k == 1) continue; /* only bf16 fixtures have an f32 twin */
            const st_tensor *t = NULL;
            for (size_t j = 0; tname && j < f->num_tensors; j++)
                if (!strcmp(tensors[j].name, tname)) t = &tensors[j];
            if (!t || t->dtype != ST_F32 || t->ndim != 2 || t->shape[0] != rows) {
                snprintf(err, errlen, "%s: case %d: %s tensor %s missing or not F32 [%lld][vocab]", path,
                         i, fields[k], tname ? tname : "(unnamed)", (long long)rows);
                cJSON_Delete(root);
                return -1;
            }
            f->vocab = (int32_t)t->shape[1];
            *dst[k] = t->data;
        }
    }
    cJSON_Delete(root);
    return 0;
}

void ref_fixture_free(ref_fixture *f)
{
    for (int i = 0; i < f->num_cases; i++) {
        free(f->cases[i].prompt);
        free(f->cases[i].greedy);
    }
    free(f->cases);
    st_tensors_free(f->tensors, f->num_tensors);
    free(f->logits_file);
    memset(f, 0, sizeof *f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ref_fixture_list(char ***dirs, int *count)
{
    char base[1024], path[2048];
    test_source_path("tests/fixtures", base, sizeof base);
    DIR *d = opendir(base);
    *dirs = NULL;
    *count = 0;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s/reference.json", base, e->d_name);
        if (access(path, R_OK) != 0) continue;
        *dirs = realloc(*dirs, sizeof(char *) * (size_t)(*count + 1));
        snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        (*dirs)[(*count)++] = strdup(path);
    }
    closedir(d);
    qsort(*dirs, (size_t)*count, sizeof(char *), cmp_str);
    return 0;
}
