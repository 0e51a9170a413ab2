/* GGUF parsing. Every read goes through the cursor below, which refuses to step past the end, so a
 * truncated or hostile file fails with the offset where it went wrong instead of reading out of
 * bounds. Counts are checked against the bytes left before anything is allocated for them. */
#include "models/loader/gguf.h"
#include "models/loader/loader_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC "GGUF"
/* Nested arrays deeper than this are hostile (llama.cpp writes none). */
#define GGUF_MAX_NESTING 4

typedef struct cursor {
    const uint8_t *p;
    size_t len, at;
    const char *path;
    char *err;
    size_t errlen;
} cursor;

static int cur_fail(cursor *c, const char *what)
{
    return loader_fail(c->err, c->errlen, "%s: %.400s (at byte %zu of %zu)", c->path, what, c->at,
                       c->len);
}

static int take(cursor *c, size_t n, const uint8_t **out, const char *what)
{
    if (n > c->len - c->at) {
        char msg[512];
        snprintf(msg, sizeof msg, "truncated reading %s: needs %zu bytes, %zu left", what, n,
                 c->len - c->at);
        return cur_fail(c, msg);
    }
    *out = c->p + c->at;
    c->at += n;
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what)
{
    const uint8_t *b = NULL;
    if (take(c, 4, &b, what)) return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what)
{
    const uint8_t *b = NULL;
    if (take(c, 8, &b, what)) return -1;
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | b[i];
    *v = x;
    return 0;
}

static int rd_str(cursor *c, gguf_str *s, const char *what)
{
    uint64_t n;
    const uint8_t *b = NULL;
    if (rd_u64(c, &n, what)) return -1;
    if (n > c->len - c->at) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s claims %llu bytes but only %zu are left", what,
                 (unsigned long long)n, c->len - c->at);
        return cur_fail(c, msg);
    }
    if (take(c, (size_t)n, &b, what)) return -1;
    s->s = (const char *)b;
    s->len = n;
    return 0;
}

static char *dup_str(gguf_str s)
{
    char *p = malloc((size_t)s.len + 1);
    if (!p) return NULL;
    memcpy(p, s.s, (size_t)s.len);
    p[s.len] = '\0';
    return p;
}

static size_t scalar_size(gguf_vtype t)
{
    switch (t) {
    case GGUF_UINT8:
    case GGUF_INT8:
    case GGUF_BOOL:
        return 1;
    case GGUF_UINT16:
    case GGUF_INT16:
        return 2;
    case GGUF_UINT32:
    case GGUF_INT32:
    case GGUF_FLOAT32:
        return 4;
    case GGUF_UINT64:
    case GGUF_INT64:
    case GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

static uint64_t le(const uint8_t *b, size_t n)
{
    uint64_t x = 0;
    for (size_t i = n; i-- > 0;)
        x = x << 8 | b[i];
    return x;
}

/* One scalar into kv's union (type already set). */
static void decode_scalar(gguf_vtype t, const uint8_t *b, gguf_kv *kv)
{
    size_t n = scalar_size(t);
    uint64_t raw = le(b, n);
    switch (t) {
    case GGUF_INT8:
        kv->v.i = (int8_t)raw;
        break;
    case GGUF_INT16:
        kv->v.i = (int16_t)raw;
        break;
    case GGUF_INT32:
        kv->v.i = (int32_t)raw;
        break;
    case GGUF_INT64:
        kv->v.i = (int64_t)raw;
        break;
    case GGUF_FLOAT32: {
        uint32_t u = (uint32_t)raw;
        float f;
        memcpy(&f, &u, 4);
        kv->v.f = f;
        break;
    }
    case GGUF_FLOAT64:
        memcpy(&kv->v.f, &raw, 8);
        break;
    case GGUF_BOOL:
        kv->v.b = raw != 0;
        break;
    default:
        kv->v.u = raw;
        break;
    }
}

/* Validates (and skips) an array's elements; fills strs for a top-level STRING array. */
static int read_array(cursor *c, gguf_kv *kv, int depth, const char *key)
{
    char what[160];
    snprintf(what, sizeof what, "key %s: array", key);
    if (depth > GGUF_MAX_NESTING) return cur_fail(c, "arrays nested too deeply");
    uint32_t et;
    uint64_t n;
    if (rd_u32(c, &et, what) || rd_u64(c, &n, what)) return -1;
    if (et > GGUF_FLOAT64) {
        snprintf(what, sizeof what, "key %s: array element type %u is not a GGUF value type", key,
                 et);
        return cur_fail(c, what);
    }
    size_t left = c->len - c->at;
    size_t min_each = et == GGUF_STRING ? 8 : et == GGUF_ARRAY ? 12 : scalar_size((gguf_vtype)et);
    if (n > left / min_each) {
        snprintf(what, sizeof what,
                 "key %s: array of %llu elements cannot fit in the %zu bytes left", key,
                 (unsigned long long)n, left);
        return cur_fail(c, what);
    }
    if (kv) {
        kv->v.arr.type = (gguf_vtype)et;
        kv->v.arr.n = n;
        kv->v.arr.data = c->p + c->at;
    }
    if (et == GGUF_STRING) {
        gguf_str *strs = NULL;
        if (kv && n) {
            strs = malloc(sizeof *strs * (size_t)n);
            if (!strs) return cur_fail(c, "out of memory for a string array");
            kv->v.arr.strs = strs;
        }
        for (uint64_t i = 0; i < n; i++) {
            gguf_str s;
            if (rd_str(c, &s, what)) return -1;
            if (strs) strs[i] = s;
        }
    } else if (et == GGUF_ARRAY) {
        for (uint64_t i = 0; i < n; i++)
            if (read_array(c, NULL, depth + 1, key)) return -1;
    } else {
        const uint8_t *b = NULL;
        if (take(c, (size_t)n * min_each, &b, what)) return -1;
    }
    return 0;
}

static int read_kv(cursor *c, gguf_kv *kv, uint64_t index)
{
    char what[160];
    snprintf(what, sizeof what, "metadata key %llu", (unsigned long long)index);
    gguf_str key;
    uint32_t t;
    if (rd_str(c, &key, what)) return -1;
    kv->key = dup_str(key);
    if (!kv->key) return cur_fail(c, "out of memory");
    if (memchr(kv->key, '\0', (size_t)key.len)) {
        snprintf(what, sizeof what, "metadata key %llu contains a NUL byte",
                 (unsigned long long)index);
        return cur_fail(c, what);
    }
    snprintf(what, sizeof what, "key %s: value type", kv->key);
    if (rd_u32(c, &t, what)) return -1;
    if (t > GGUF_FLOAT64) {
        snprintf(what, sizeof what, "key %s: value type %u is not a GGUF value type", kv->key, t);
        return cur_fail(c, what);
    }
    kv->type = (gguf_vtype)t;
    snprintf(what, sizeof what, "key %s: value", kv->key);
    if (t == GGUF_STRING) return rd_str(c, &kv->v.str, what);
    if (t == GGUF_ARRAY) return read_array(c, kv, 0, kv->key);
    const uint8_t *b = NULL;
    if (take(c, scalar_size(kv->type), &b, what)) return -1;
    decode_scalar(kv->type, b, kv);
    return 0;
}

typedef struct type_info {
    uint32_t type;
    const char *name;
    int64_t elems;
    size_t bytes;
} type_info;

static const type_info types[] = {
    {GGML_F32, "F32", 1, 4},
    {GGML_F16, "F16", 1, 2},
    {GGML_Q4_0, "Q4_0", 32, 18},
    {GGML_Q4_1, "Q4_1", 32, 20},
    {GGML_Q5_0, "Q5_0", 32, 22},
    {GGML_Q5_1, "Q5_1", 32, 24},
    {GGML_Q8_0, "Q8_0", 32, 34},
    {GGML_Q8_1, "Q8_1", 32, 36},
    {GGML_Q2_K, "Q2_K", 256, 84},
    {GGML_Q3_K, "Q3_K", 256, 110},
    {GGML_Q4_K, "Q4_K", 256, 144},
    {GGML_Q5_K, "Q5_K", 256, 176},
    {GGML_Q6_K, "Q6_K", 256, 210},
    {GGML_Q8_K, "Q8_K", 256, 292},
    {24, "I8", 1, 1},
    {25, "I16", 1, 2},
    {26, "I32", 1, 4},
    {27, "I64", 1, 8},
    {28, "F64", 1, 8},
    {GGML_BF16, "BF16", 1, 2},
};

static const type_info *find_type(uint32_t t)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].type == t) return &types[i];
    return NULL;
}

const char *gguf_type_name(uint32_t t)
{
    const type_info *ti = find_type(t);
    return ti ? ti->name : "an unknown ggml type";
}

int64_t gguf_block_elems(uint32_t t)
{
    const type_info *ti = find_type(t);
    return ti ? ti->elems : 0;
}

size_t gguf_block_bytes(uint32_t t)
{
    const type_info *ti = find_type(t);
    return ti ? ti->bytes : 0;
}

static int read_tensor_info(cursor *c, gguf_tensor *t, uint64_t index)
{
    char what[320];
    snprintf(what, sizeof what, "tensor info %llu", (unsigned long long)index);
    gguf_str name;
    uint32_t nd, type;
    if (rd_str(c, &name, what)) return -1;
    t->name = dup_str(name);
    if (!t->name) return cur_fail(c, "out of memory");
    snprintf(what, sizeof what, "tensor %s", t->name);
    if (rd_u32(c, &nd, what)) return -1;
    if (nd < 1 || nd > GGUF_MAX_DIMS) {
        snprintf(what, sizeof what, "tensor %s has %u dimensions; GGUF allows 1 to %d", t->name, nd,
                 GGUF_MAX_DIMS);
        return cur_fail(c, what);
    }
    t->ndim = (int)nd;
    uint64_t total = 1;
    for (int i = 0; i < GGUF_MAX_DIMS; i++)
        t->ne[i] = 1;
    for (uint32_t i = 0; i < nd; i++) {
        uint64_t d;
        if (rd_u64(c, &d, what)) return -1;
        if (d == 0 || d > (uint64_t)INT64_MAX || total > (uint64_t)INT64_MAX / d) {
            snprintf(what, sizeof what,
                     "tensor %s: dimension %u is %llu (zero, or the element count "
                     "overflows)",
                     t->name, i, (unsigned long long)d);
            return cur_fail(c, what);
        }
        t->ne[i] = (int64_t)d;
        total *= d;
    }
    if (rd_u32(c, &type, what) || rd_u64(c, &t->offset, what)) return -1;
    t->type = type;
    const type_info *ti = find_type(type);
    if (!ti) {
        snprintf(what, sizeof what, "tensor %s has ggml type %u, which berth does not know",
                 t->name, type);
        return cur_fail(c, what);
    }
    if (t->ne[0] % ti->elems) {
        snprintf(what, sizeof what,
                 "tensor %s: row length %lld is not a multiple of %s's block of %lld", t->name,
                 (long long)t->ne[0], ti->name, (long long)ti->elems);
        return cur_fail(c, what);
    }
    uint64_t blocks = total / (uint64_t)ti->elems;
    if (blocks > UINT64_MAX / ti->bytes) return cur_fail(c, "tensor size overflows");
    t->nbytes = blocks * ti->bytes;
    return 0;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const gguf_tensor *)a)->name, ((const gguf_tensor *)b)->name);
}

int gguf_parse(gguf_file **out, const uint8_t *bytes, size_t len, const char *path, char *err,
               size_t errlen)
{
    *out = NULL;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return loader_fail(err, errlen, "%s: out of memory", path);
    f->path = path;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    cursor c = {bytes, len, 0, path, err, errlen};
    const uint8_t *magic = NULL;
    uint64_t ntensors, nkv;
    if (take(&c, 4, &magic, "the magic")) goto fail;
    if (memcmp(magic, GGUF_MAGIC, 4)) {
        loader_fail(err, errlen, "%s: not a GGUF file (the first 4 bytes are not \"GGUF\")", path);
        goto fail;
    }
    if (rd_u32(&c, &f->version, "the version")) goto fail;
    if (f->version != 2 && f->version != 3) {
        loader_fail(err, errlen, "%s: GGUF version %u; berth reads versions 2 and 3", path,
                    f->version);
        goto fail;
    }
    if (rd_u64(&c, &ntensors, "the tensor count") || rd_u64(&c, &nkv, "the metadata count"))
        goto fail;
    /* A key/value takes at least 12 bytes, a tensor info at least 28. */
    if (nkv > (len - c.at) / 12 || ntensors > (len - c.at) / 28) {
        loader_fail(err, errlen,
                    "%s: header claims %llu tensors and %llu metadata keys; the file is "
                    "too small to hold them",
                    path, (unsigned long long)ntensors, (unsigned long long)nkv);
        goto fail;
    }
    f->kvs = calloc((size_t)nkv ? (size_t)nkv : 1, sizeof *f->kvs);
    f->tensors = calloc((size_t)ntensors ? (size_t)ntensors : 1, sizeof *f->tensors);
    if (!f->kvs || !f->tensors) {
        loader_fail(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    for (uint64_t i = 0; i < nkv; i++) {
        f->nkv = (size_t)i + 1;
        if (read_kv(&c, &f->kvs[i], i)) goto fail;
        for (uint64_t j = 0; j < i; j++)
            if (!strcmp(f->kvs[j].key, f->kvs[i].key)) {
                loader_fail(err, errlen, "%s: metadata key %s appears twice", path, f->kvs[i].key);
                goto fail;
            }
    }
    const gguf_kv *al = gguf_find(f, "general.alignment");
    if (al) {
        if (al->type != GGUF_UINT32 || al->v.u == 0 || (al->v.u & (al->v.u - 1))) {
            loader_fail(err, errlen, "%s: general.alignment must be a power of two (UINT32)", path);
            goto fail;
        }
        f->alignment = (uint32_t)al->v.u;
    }
    for (uint64_t i = 0; i < ntensors; i++) {
        f->ntensors = (size_t)i + 1;
        if (read_tensor_info(&c, &f->tensors[i], i)) goto fail;
    }
    size_t data_start = c.at + (f->alignment - c.at % f->alignment) % f->alignment;
    if (ntensors && data_start > len) {
        loader_fail(err, errlen, "%s: the data section would start at byte %zu, past the end (%zu)",
                    path, data_start, len);
        goto fail;
    }
    for (size_t i = 0; i < f->ntensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset % f->alignment || t->offset > len - data_start ||
            t->nbytes > len - data_start - t->offset) {
            loader_fail(err, errlen,
                        "%s: tensor %s: data at offset %llu (+%llu bytes) is misaligned "
                        "or beyond the end of the file (data section of %zu bytes)",
                        path, t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                        len - data_start);
            goto fail;
        }
        t->data = bytes + data_start + t->offset;
    }
    /* Sorted by name for gguf_find_tensor; duplicates are an error, as for llama.cpp. */
    qsort(f->tensors, f->ntensors, sizeof *f->tensors, cmp_tensor_name);
    for (size_t i = 1; i < f->ntensors; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name)) {
            loader_fail(err, errlen, "%s: tensor %s appears twice", path, f->tensors[i].name);
            goto fail;
        }
    *out = f;
    return 0;
fail:
    gguf_close(f);
    return -1;
}

int gguf_open(gguf_file **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return loader_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return loader_fail(err, errlen, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return loader_fail(err, errlen, "%s: empty file, not GGUF", path);
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return loader_fail(err, errlen, "%s: cannot map: %s", path, strerror(e));
    char *owned = strdup(path);
    if (!owned) {
        munmap(m, (size_t)sb.st_size);
        return loader_fail(err, errlen, "%s: out of memory", path);
    }
    if (gguf_parse(out, m, (size_t)sb.st_size, owned, err, errlen)) {
        munmap(m, (size_t)sb.st_size);
        free(owned);
        return -1;
    }
    (*out)->map = m;
    (*out)->map_len = (size_t)sb.st_size;
    (*out)->owns_path = true;
    return 0;
}

void gguf_close(gguf_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->nkv; i++) {
        free(f->kvs[i].key);
        if (f->kvs[i].type == GGUF_ARRAY) free(f->kvs[i].v.arr.strs);
    }
    for (size_t i = 0; i < f->ntensors; i++)
        free(f->tensors[i].name);
    free(f->kvs);
    free(f->tensors);
    if (f->map) munmap(f->map, f->map_len);
    if (f->owns_path) free((char *)f->path);
    free(f);
}

const gguf_kv *gguf_find(const gguf_file *f, const char *key)
{
    for (size_t i = 0; i < f->nkv; i++)
        if (!strcmp(f->kvs[i].key, key)) return &f->kvs[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    gguf_tensor key = {.name = (char *)name};
    return bsearch(&key, f->tensors, f->ntensors, sizeof key, cmp_tensor_name);
}

static const char *vtype_name(gguf_vtype t)
{
    static const char *const names[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                        "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                        "UINT64", "INT64",   "FLOAT64"};
    return (unsigned)t <= GGUF_FLOAT64 ? names[t] : "?";
}

static const gguf_kv *need(const gguf_file *f, const char *key, char *err, size_t errlen)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) loader_fail(err, errlen, "%s: metadata has no %s", f->path, key);
    return kv;
}

static bool is_unsigned(gguf_vtype t)
{
    return t == GGUF_UINT8 || t == GGUF_UINT16 || t == GGUF_UINT32 || t == GGUF_UINT64;
}

static bool is_signed(gguf_vtype t)
{
    return t == GGUF_INT8 || t == GGUF_INT16 || t == GGUF_INT32 || t == GGUF_INT64;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, char *err, size_t errlen)
{
    const gguf_kv *kv = need(f, key, err, errlen);
    if (!kv) return -1;
    if (is_signed(kv->type)) {
        *out = kv->v.i;
        return 0;
    }
    if (is_unsigned(kv->type) && kv->v.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)kv->v.u;
        return 0;
    }
    return loader_fail(err, errlen, "%s: %s is %s; expected an integer", f->path, key,
                       vtype_name(kv->type));
}

int gguf_get_f64(const gguf_file *f, const char *key, double *out, char *err, size_t errlen)
{
    const gguf_kv *kv = need(f, key, err, errlen);
    if (!kv) return -1;
    if (kv->type == GGUF_FLOAT32 || kv->type == GGUF_FLOAT64) {
        *out = kv->v.f;
        return 0;
    }
    int64_t i;
    if (gguf_get_i64(f, key, &i, err, errlen)) return -1;
    *out = (double)i;
    return 0;
}

int gguf_get_bool(const gguf_file *f, const char *key, bool *out, char *err, size_t errlen)
{
    const gguf_kv *kv = need(f, key, err, errlen);
    if (!kv) return -1;
    if (kv->type != GGUF_BOOL)
        return loader_fail(err, errlen, "%s: %s is %s; expected BOOL", f->path, key,
                           vtype_name(kv->type));
    *out = kv->v.b;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, char *err, size_t errlen)
{
    const gguf_kv *kv = need(f, key, err, errlen);
    if (!kv) return -1;
    if (kv->type != GGUF_STRING)
        return loader_fail(err, errlen, "%s: %s is %s; expected STRING", f->path, key,
                           vtype_name(kv->type));
    *out = kv->v.str;
    return 0;
}

int64_t gguf_arr_i64(const gguf_kv *kv, uint64_t i)
{
    gguf_vtype t = kv->v.arr.type;
    size_t n = scalar_size(t);
    uint64_t raw = le(kv->v.arr.data + i * n, n);
    gguf_kv tmp = {.type = t};
    decode_scalar(t, kv->v.arr.data + i * n, &tmp);
    if (is_signed(t)) return tmp.v.i;
    if (t == GGUF_FLOAT32 || t == GGUF_FLOAT64) return (int64_t)tmp.v.f;
    return (int64_t)raw;
}

double gguf_arr_f64(const gguf_kv *kv, uint64_t i)
{
    gguf_vtype t = kv->v.arr.type;
    gguf_kv tmp = {.type = t};
    decode_scalar(t, kv->v.arr.data + i * scalar_size(t), &tmp);
    if (t == GGUF_FLOAT32 || t == GGUF_FLOAT64) return tmp.v.f;
    if (is_signed(t)) return (double)tmp.v.i;
    return (double)tmp.v.u;
}
