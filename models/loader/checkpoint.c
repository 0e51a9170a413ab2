/* A model directory -> one table of tensors over read-only memory maps. Sharded checkpoints are
 * cross-checked against their index both ways, so a stale or hand-edited index fails at load, not
 * as a missing weight deep inside the model code. */
#include "models/loader/safetensors.h"
#include "models/loader/loader_error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"

typedef struct st_file {
    char *path;
    void *map;
    size_t len;
} st_file;

struct st_checkpoint {
    st_file *files;
    size_t nfiles;
    st_tensor *tensors; /* names are owned here */
    size_t count;
    const st_tensor **sorted; /* by name, for st_checkpoint_find */
    void *owned;              /* st_checkpoint_adopt: the one buffer every tensor points into */
};

/* One weight_map entry; `seen` marks that its shard really holds it. */
typedef struct wm_entry {
    const char *name;
    const char *file;
    bool seen;
} wm_entry;


static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t at = a;
    if (a && dir[a - 1] != '/') p[at++] = '/';
    memcpy(p + at, name, b + 1);
    return p;
}

static bool is_regular_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Maps `path` read-only. An empty file maps to nothing (mmap refuses length 0) and is left for
 * st_parse to reject with its usual message. */
static int map_file(const char *path, void **map, size_t *len, char *err, size_t errlen)
{
    *map = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return loader_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return loader_fail(err, errlen, "%s: not a regular file", path);
    }
    if (sb.st_size > 0) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return loader_fail(err, errlen, "%s: cannot map %lld bytes: %s", path, (long long)sb.st_size,
                        strerror(e));
        }
        *map = m;
        *len = (size_t)sb.st_size;
    }
    close(fd);
    return 0;
}

/* Maps and parses one safetensors file and appends its tensors to the checkpoint. */
static int add_file(st_checkpoint *ck, char *path, st_tensor **tensors, size_t *count, char *err,
                    size_t errlen)
{
    st_file *files = realloc(ck->files, (ck->nfiles + 1) * sizeof *files);
    if (!files) {
        free(path);
        return loader_fail(err, errlen, "out of memory");
    }
    ck->files = files;
    st_file *f = &files[ck->nfiles++];
    f->path = path;
    if (map_file(path, &f->map, &f->len, err, errlen) != 0) return -1;
    if (st_parse(f->map, f->len, path, tensors, count, err, errlen) != 0) return -1;
    st_tensor *all = realloc(ck->tensors, (ck->count + *count + 1) * sizeof *all);
    if (!all) {
        st_tensors_free(*tensors, *count);
        return loader_fail(err, errlen, "out of memory");
    }
    memcpy(all + ck->count, *tensors, *count * sizeof *all);
    free(*tensors); /* the names moved into ck->tensors */
    ck->tensors = all;
    *tensors = all + ck->count;
    ck->count += *count;
    return 0;
}

static int wm_by_name(const void *a, const void *b)
{
    return strcmp(((const wm_entry *)a)->name, ((const wm_entry *)b)->name);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int load_shards(st_checkpoint *ck, const char *dir, const char *index_path, const cJSON *wm,
                       char *err, size_t errlen)
{
    size_t n = (size_t)cJSON_GetArraySize(wm);
    wm_entry *entries = calloc(n ? n : 1, sizeof *entries);
    const char **shards = calloc(n ? n : 1, sizeof *shards);
    int rc = -1;
    if (!entries || !shards) {
        loader_fail(err, errlen, "%s: out of memory", index_path);
        goto done;
    }
    size_t i = 0;
    for (const cJSON *c = wm->child; c; c = c->next, i++) {
        const char *file = cJSON_IsString(c) ? c->valuestring : NULL;
        /* Shards live beside the index: a path could point anywhere on the machine. */
        if (!file || !*file || strchr(file, '/') || strcmp(file, ".") == 0 ||
            strcmp(file, "..") == 0) {
            loader_fail(err, errlen,
                 "%s: weight_map[\"%.200s\"]: expected a file name in the same directory",
                 index_path, c->string);
            goto done;
        }
        entries[i] = (wm_entry){c->string, file, false};
        shards[i] = file;
    }
    if (n == 0) {
        loader_fail(err, errlen, "%s: weight_map is empty; expected tensor names mapped to shard files",
             index_path);
        goto done;
    }
    qsort(entries, n, sizeof *entries, wm_by_name);
    for (i = 1; i < n; i++) {
        if (strcmp(entries[i - 1].name, entries[i].name) == 0) {
            loader_fail(err, errlen, "%s: weight_map names tensor \"%.200s\" more than once", index_path,
                 entries[i].name);
            goto done;
        }
    }
    qsort(shards, n, sizeof *shards, str_cmp);
    for (i = 0; i < n; i++) {
        if (i > 0 && strcmp(shards[i - 1], shards[i]) == 0) continue;
        char *path = join_path(dir, shards[i]);
        if (!path) {
            loader_fail(err, errlen, "out of memory");
            goto done;
        }
        st_tensor *ts;
        size_t count;
        if (add_file(ck, path, &ts, &count, err, errlen) != 0) goto done;
        for (size_t k = 0; k < count; k++) {
            wm_entry key = {.name = ts[k].name};
            wm_entry *e = bsearch(&key, entries, n, sizeof *entries, wm_by_name);
            if (!e || strcmp(e->file, shards[i]) != 0) {
                loader_fail(err, errlen, "%s: tensor \"%.200s\" %s%.200s%s in %s", path, ts[k].name,
                     e ? "is mapped to shard \"" : "is not listed", e ? e->file : "", e ? "\"" : "",
                     index_path);
                goto done;
            }
            e->seen = true;
        }
    }
    for (i = 0; i < n; i++) {
        if (!entries[i].seen) {
            loader_fail(err, errlen,
                 "%s: weight_map names tensor \"%.200s\" in shard \"%.200s\", which does not "
                 "contain it",
                 index_path, entries[i].name, entries[i].file);
            goto done;
        }
    }
    rc = 0;
done:
    free(entries);
    free(shards);
    return rc;
}

static int load_index(st_checkpoint *ck, const char *dir, const char *index_path, char *err,
                      size_t errlen)
{
    void *map;
    size_t len;
    if (map_file(index_path, &map, &len, err, errlen) != 0) return -1;
    const char *text = map ? map : "", *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    bool trailing = false;
    for (const char *p = root ? end : text + len; p < text + len; p++)
        trailing |= !*p || !strchr(" \t\r\n", *p);
    if (map) munmap(map, len);
    int rc = -1;
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(root) || trailing)
        loader_fail(err, errlen, "%s: not a JSON object", index_path);
    else if (!cJSON_IsObject(wm))
        loader_fail(err, errlen,
             "%s: field \"weight_map\": expected an object of tensor name -> shard file",
             index_path);
    else
        rc = load_shards(ck, dir, index_path, wm, err, errlen);
    cJSON_Delete(root);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

int st_checkpoint_open(st_checkpoint **out, const char *dir, char *err, size_t errlen)
{
    *out = NULL;
    st_checkpoint *ck = calloc(1, sizeof *ck);
    char *single = join_path(dir, SINGLE_NAME), *index = join_path(dir, INDEX_NAME);
    int rc = -1;
    if (!ck || !single || !index) {
        loader_fail(err, errlen, "out of memory");
        goto done;
    }
    if (is_regular_file(single)) {
        st_tensor *ts;
        size_t count;
        rc = add_file(ck, single, &ts, &count, err, errlen);
        single = NULL;
    } else if (is_regular_file(index)) {
        rc = load_index(ck, dir, index, err, errlen);
    } else {
        loader_fail(err, errlen, "%s: no %s or %s in this directory", dir, SINGLE_NAME, INDEX_NAME);
    }
    if (rc != 0) goto done;
    rc = -1;
    ck->sorted = malloc((ck->count ? ck->count : 1) * sizeof *ck->sorted);
    if (!ck->sorted) {
        loader_fail(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ck->count; i++)
        ck->sorted[i] = &ck->tensors[i];
    qsort(ck->sorted, ck->count, sizeof *ck->sorted, by_name);
    /* The index makes names unique across shards already; this guards the invariant find relies on.
     */
    for (size_t i = 1; i < ck->count; i++) {
        if (strcmp(ck->sorted[i - 1]->name, ck->sorted[i]->name) == 0) {
            loader_fail(err, errlen, "%s: tensor \"%.200s\" is in both %s and %s", dir,
                 ck->sorted[i]->name, ck->sorted[i - 1]->path, ck->sorted[i]->path);
            goto done;
        }
    }
    if (ck->count == 0) {
        loader_fail(err, errlen, "%s: the checkpoint holds no tensors", dir);
        goto done;
    }
    rc = 0;
done:
    free(single);
    free(index);
    if (rc == 0)
        *out = ck;
    else
        st_checkpoint_close(ck);
    return rc;
}

size_t st_checkpoint_count(const st_checkpoint *ck)
{
    return ck->count;
}

const st_tensor *st_checkpoint_tensor(const st_checkpoint *ck, size_t i)
{
    return i < ck->count ? &ck->tensors[i] : NULL;
}

const st_tensor *st_checkpoint_find(const st_checkpoint *ck, const char *name)
{
    st_tensor key = {.name = name};
    const st_tensor *pkey = &key;
    const st_tensor **hit = bsearch(&pkey, ck->sorted, ck->count, sizeof *ck->sorted, by_name);
    return hit ? *hit : NULL;
}

int st_checkpoint_adopt(st_checkpoint **out, st_tensor *tensors, size_t count, void *buffer,
                        const char *what, char *err, size_t errlen)
{
    *out = NULL;
    st_checkpoint *ck = calloc(1, sizeof *ck);
    const st_tensor **sorted = malloc((count ? count : 1) * sizeof *sorted);
    if (!ck || !sorted) {
        free(ck);
        free(sorted);
        for (size_t i = 0; i < count; i++) free((char *)tensors[i].name);
        free(tensors);
        free(buffer);
        return loader_fail(err, errlen, "%s: out of memory", what);
    }
    *ck = (st_checkpoint){.tensors = tensors, .count = count, .sorted = sorted, .owned = buffer};
    for (size_t i = 0; i < count; i++) sorted[i] = &tensors[i];
    qsort(sorted, count, sizeof *sorted, by_name);
    for (size_t i = 1; i < count; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            loader_fail(err, errlen, "%s: tensor %.200s appears twice", what, sorted[i]->name);
            st_checkpoint_close(ck);
            return -1;
        }
    *out = ck;
    return 0;
}

void st_checkpoint_close(st_checkpoint *ck)
{
    if (!ck) return;
    free(ck->owned);
    for (size_t i = 0; i < ck->count; i++)
        free((char *)ck->tensors[i].name);
    free(ck->tensors);
    free(ck->sorted);
    for (size_t i = 0; i < ck->nfiles; i++) {
        if (ck->files[i].map) munmap(ck->files[i].map, ck->files[i].len);
        free(ck->files[i].path);
    }
    free(ck->files);
    free(ck);
}
