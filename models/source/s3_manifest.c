#include "models/source/s3_manifest.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *str_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

int s3_manifest_load(const char *path, s3_manifest *m)
{
    *m = (s3_manifest){0};
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char buf[8192];
    size_t n;
    while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(f);
    if (!mem) return -1;
    fclose(mem);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    int count = cJSON_IsArray(files) ? cJSON_GetArraySize(files) : -1;
    m->bucket = str_field(root, "bucket");
    m->prefix = str_field(root, "prefix");
    m->files = count > 0 ? calloc((size_t)count, sizeof *m->files) : NULL;
    int ok = m->bucket && m->prefix && count >= 0 && (count == 0 || m->files);
    const cJSON *e, *list = ok ? files : NULL;
    cJSON_ArrayForEach(e, list)
    {
        s3_manifest_entry *d = &m->files[m->n_files++];
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(e, "size");
        d->path = str_field(e, "path");
        d->etag = str_field(e, "etag");
        d->sha256 = str_field(e, "sha256");
        d->crc32 = str_field(e, "crc32");
        if (!d->path || !d->etag || !d->sha256 || !d->crc32 || !cJSON_IsNumber(size) ||
            size->valuedouble < 0 || size->valuedouble > 9007199254740992.0) {
            ok = 0;
            break;
        }
        d->size = (uint64_t)size->valuedouble;
    }
    cJSON_Delete(root);
    if (!ok) {
        s3_manifest_free(m);
        return -1;
    }
    return 0;
}

int s3_manifest_save(const char *path, const s3_manifest *m, char *err, size_t errlen)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *files = cJSON_CreateArray();
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddStringToObject(root, "bucket", m->bucket);
    cJSON_AddStringToObject(root, "prefix", m->prefix);
    cJSON_AddItemToObject(root, "files", files);
    for (size_t i = 0; i < m->n_files; i++) {
        const s3_manifest_entry *d = &m->files[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", d->path);
        cJSON_AddNumberToObject(e, "size", (double)d->size);
        cJSON_AddStringToObject(e, "etag", d->etag);
        cJSON_AddStringToObject(e, "sha256", d->sha256);
        cJSON_AddStringToObject(e, "crc32", d->crc32);
        cJSON_AddItemToArray(files, e);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    int oom = !text;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = text ? fopen(tmp, "w") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = (f && fclose(f) == 0) && ok;
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "writing the manifest %s: %s", path,
                 oom ? "out of memory" : strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

const s3_manifest_entry *s3_manifest_find(const s3_manifest *m, const char *rel)
{
    for (size_t i = 0; i < m->n_files; i++)
        if (!strcmp(m->files[i].path, rel)) return &m->files[i];
    return NULL;
}

void s3_manifest_free(s3_manifest *m)
{
    for (size_t i = 0; i < m->n_files; i++) {
        free(m->files[i].path);
        free(m->files[i].etag);
        free(m->files[i].sha256);
        free(m->files[i].crc32);
    }
    free(m->files);
    free(m->bucket);
    free(m->prefix);
    *m = (s3_manifest){0};
}
