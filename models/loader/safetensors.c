/* One safetensors file's bytes -> validated tensor descriptors. The bytes come from disk, S3 or a
 * fuzzer, so every number in the header is checked before it is used as an offset. */
#include "models/loader/safetensors.h"
#include "models/loader/loader_error.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [ST_F64] = {"F64", 8},   [ST_F32] = {"F32", 4},         [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I64] = {"I64", 8},         [ST_I32] = {"I32", 4},
    [ST_I16] = {"I16", 2},   [ST_I8] = {"I8", 1},           [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};
#define NUM_DTYPES (sizeof dtype_info / sizeof dtype_info[0])
#define KNOWN_DTYPES "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3, F8_E5M2"

/* Header numbers are JSON doubles: above 2^53 they are no longer exact integers. */
#define MAX_EXACT_INT 9007199254740992.0

const char *st_dtype_name(st_dtype d)
{
    return (unsigned)d < NUM_DTYPES ? dtype_info[d].name : "unknown";
}

size_t st_dtype_size(st_dtype d)
{
    return (unsigned)d < NUM_DTYPES ? dtype_info[d].size : 0;
}


/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as the reference
 * implementation requires of the header. Returns the offset of the first bad byte, or len. */
static size_t utf8_check(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, cp = c & 0x07;
        } else {
            return i;
        }
        if (len - i <= n) return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return len;
}

static bool exact_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= MAX_EXACT_INT) || d != floor(d)) return false;
    *out = (uint64_t)d;
    return true;
}

/* The one member `key` of `obj`; a key given twice is as bad as a missing one (cJSON keeps both).
 */
static const cJSON *sole_member(const cJSON *obj, const char *key, int *times)
{
    const cJSON *found = NULL;
    *times = 0;
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (c->string && strcmp(c->string, key) == 0) {
            if (!found) found = c;
            (*times)++;
        }
    }
    return found;
}

static void shape_text(const st_tensor *t, char *buf, size_t len)
{
    size_t at = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%" PRId64, i ? ", " : "", t->shape[i]);
    if (at < len) snprintf(buf + at, len - at, "]");
}

/* Fills t (except name/path) from one header entry whose data section is `data` of `data_len`
 * bytes. */
static int parse_entry(const cJSON *e, const char *path, const char *name, const uint8_t *data,
                       uint64_t data_len, st_tensor *t, char *err, size_t errlen)
{
    if (!cJSON_IsObject(e))
        return loader_fail(err, errlen,
                    "%s: tensor \"%.200s\": expected an object with dtype, shape and "
                    "data_offsets",
                    path, name);
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    const cJSON *item[3];
    for (int f = 0; f < 3; f++) {
        int times;
        item[f] = sole_member(e, fields[f], &times);
        if (times != 1)
            return loader_fail(err, errlen, "%s: tensor \"%.200s\": field \"%s\" %s", path, name,
                        fields[f], times ? "appears more than once" : "is missing");
    }

    if (!cJSON_IsString(item[0]))
        return loader_fail(err, errlen,
                    "%s: tensor \"%.200s\": field \"dtype\": expected a string, one of %s", path,
                    name, KNOWN_DTYPES);
    size_t d = 0;
    while (d < NUM_DTYPES && strcmp(item[0]->valuestring, dtype_info[d].name) != 0)
        d++;
    if (d == NUM_DTYPES)
        return loader_fail(err, errlen,
                    "%s: tensor \"%.200s\": field \"dtype\": unsupported dtype \"%.40s\" "
                    "(expected one of %s)",
                    path, name, item[0]->valuestring, KNOWN_DTYPES);
    t->dtype = (st_dtype)d;

    const cJSON *shape = item[1];
    int ndim = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return loader_fail(err, errlen,
                    "%s: tensor \"%.200s\": field \"shape\": expected an array of at most "
                    "%d non-negative integers",
                    path, name, ST_MAX_DIMS);
    t->ndim = ndim;
    uint64_t elems = 1;
    bool overflow = false;
    int k = 0;
    for (const cJSON *c = shape->child; c; c = c->next, k++) {
        uint64_t dim;
        if (!exact_uint(c, &dim))
            return loader_fail(err, errlen,
                        "%s: tensor \"%.200s\": field \"shape\": dimension %d is not a "
                        "non-negative integer",
                        path, name, k);
        t->shape[k] = (int64_t)dim;
        overflow |= __builtin_mul_overflow(elems, dim, &elems);
    }
    uint64_t need;
    overflow |= __builtin_mul_overflow(elems, (uint64_t)dtype_info[d].size, &need);
    char shp[128];
    shape_text(t, shp, sizeof shp);
    if (overflow)
        return loader_fail(err, errlen,
                    "%s: tensor \"%.200s\": field \"shape\": %s of %s overflows 64 bits", path,
                    name, shp, dtype_info[d].name);

    const cJSON *off = item[2];
    uint64_t begin, end;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !exact_uint(off->child, &begin) ||
        !exact_uint(off->child->next, &end))
        return loader_fail(err, errlen,
                    "%s: tensor \"%.200s\": field \"data_offsets\": expected [begin, end], "
                    "two non-negative integers",
                    path, name);
    if (begin > end)
        return loader_fail(err, errlen,
                    "%s: tensor \"%.200s\": field \"data_offsets\": begin %" PRIu64
                    " is after end %" PRIu64,
                    path, name, begin, end);
    if (end > data_len)
        return loader_fail(err, errlen,
                    "%s: tensor \"%.200s\": field \"data_offsets\": end %" PRIu64
                    " is past the data section (%" PRIu64 " bytes): file truncated?",
                    path, name, end, data_len);
    if (end - begin != need)
        return loader_fail(err, errlen,
                    "%s: tensor \"%.200s\": field \"data_offsets\": spans %" PRIu64
                    " bytes but shape %s of %s needs %" PRIu64,
                    path, name, end - begin, shp, dtype_info[d].name, need);
    t->data = data + begin;
    t->nbytes = need;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

static int by_data(const void *a, const void *b)
{
    const uint8_t *x = (*(const st_tensor *const *)a)->data,
                  *y = (*(const st_tensor *const *)b)->data;
    return x < y ? -1 : x > y;
}

static int check_names_and_overlaps(st_tensor *ts, size_t n, const uint8_t *data, const char *path,
                                    char *err, size_t errlen)
{
    st_tensor **order = malloc((n ? n : 1) * sizeof *order);
    if (!order) return loader_fail(err, errlen, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++)
        order[i] = &ts[i];
    qsort(order, n, sizeof *order, by_name);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            loader_fail(err, errlen, "%s: tensor \"%.200s\" appears more than once in the header", path,
                 order[i]->name);
            free(order);
            return -1;
        }
    }
    /* Empty tensors own no bytes, so they can sit anywhere; the rest must not share a byte. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ts[i].nbytes) order[m++] = &ts[i];
    qsort(order, m, sizeof *order, by_data);
    for (size_t i = 1; i < m; i++) {
        const st_tensor *a = order[i - 1], *b = order[i];
        if ((const uint8_t *)a->data + a->nbytes > (const uint8_t *)b->data) {
            uint64_t ab = (uint64_t)((const uint8_t *)a->data - data);
            uint64_t bb = (uint64_t)((const uint8_t *)b->data - data);
            loader_fail(err, errlen,
                 "%s: tensors \"%.200s\" (data_offsets [%" PRIu64 ", %" PRIu64 "]) and "
                 "\"%.200s\" (data_offsets [%" PRIu64 ", %" PRIu64 "]) overlap",
                 path, a->name, ab, ab + a->nbytes, b->name, bb, bb + b->nbytes);
            free(order);
            return -1;
        }
    }
    free(order);
    return 0;
}

static int parse_header(const cJSON *root, const char *path, const uint8_t *data, uint64_t data_len,
                        st_tensor **tensors, size_t *count, char *err, size_t errlen)
{
    size_t n = 0, meta = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") != 0) {
            n++;
            continue;
        }
        if (++meta > 1)
            return loader_fail(err, errlen, "%s: field \"__metadata__\" appears more than once", path);
        bool ok = cJSON_IsObject(c);
        for (const cJSON *m = ok ? c->child : NULL; m; m = m->next)
            ok &= cJSON_IsString(m);
        if (!ok)
            return loader_fail(err, errlen, "%s: field \"__metadata__\": expected an object of strings",
                        path);
    }
    st_tensor *ts = calloc(n ? n : 1, sizeof *ts);
    if (!ts) return loader_fail(err, errlen, "%s: out of memory for %zu tensors", path, n);
    size_t i = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) continue;
        ts[i].path = path;
        if (parse_entry(c, path, c->string, data, data_len, &ts[i], err, errlen) != 0) {
            st_tensors_free(ts, i);
            return -1;
        }
        if (!(ts[i].name = strdup(c->string))) {
            st_tensors_free(ts, i);
            return loader_fail(err, errlen, "%s: out of memory", path);
        }
        i++;
    }
    if (check_names_and_overlaps(ts, n, data, path, err, errlen) != 0) {
        st_tensors_free(ts, n);
        return -1;
    }
    *tensors = ts;
    *count = n;
    return 0;
}

int st_parse(const uint8_t *bytes, size_t len, const char *path, st_tensor **tensors, size_t *count,
             char *err, size_t errlen)
{
    *tensors = NULL;
    *count = 0;
    if (!path) path = "(memory)";
    if (len < 8)
        return loader_fail(err, errlen, "%s: file is %zu bytes, shorter than the 8-byte header length",
                    path, len);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)bytes[i] << (8 * i);
    if (hlen == 0) return loader_fail(err, errlen, "%s: header length is 0; expected a JSON object", path);
    if (hlen > ST_MAX_HEADER_BYTES)
        return loader_fail(err, errlen,
                    "%s: header length %" PRIu64 " is over the format's limit of %u bytes", path,
                    hlen, ST_MAX_HEADER_BYTES);
    if (hlen > len - 8)
        return loader_fail(err, errlen,
                    "%s: header length %" PRIu64 " runs past the end of the file (%zu "
                    "bytes follow the length field): file truncated?",
                    path, hlen, len - 8);

    const uint8_t *hdr = bytes + 8;
    size_t bad = utf8_check(hdr, hlen);
    if (bad < hlen)
        return loader_fail(err, errlen, "%s: header is not valid UTF-8 (byte %zu of the header)", path,
                    bad);
    if (memchr(hdr, 0, hlen))
        return loader_fail(err, errlen, "%s: header contains a NUL byte; expected JSON text", path);
    /* cJSON wants a terminated string; a private copy keeps it inside bounds on any input. */
    char *text = malloc(hlen + 1);
    if (!text)
        return loader_fail(err, errlen, "%s: out of memory for a %" PRIu64 "-byte header", path, hlen);
    memcpy(text, hdr, hlen);
    text[hlen] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, hlen, &end, false);
    int rc = -1;
    if (!root) {
        loader_fail(err, errlen, "%s: header is not valid JSON (error at byte %zu of %" PRIu64 ")", path,
             end ? (size_t)(end - text) : (size_t)0, hlen);
    } else if (end + strspn(end, " \t\r\n") != text + hlen) {
        loader_fail(err, errlen, "%s: header has text after the JSON object (byte %zu of %" PRIu64 ")",
             path, (size_t)(end - text), hlen);
    } else if (!cJSON_IsObject(root)) {
        loader_fail(err, errlen, "%s: header is JSON but not an object of tensors", path);
    } else {
        rc = parse_header(root, path, hdr + hlen, len - 8 - hlen, tensors, count, err, errlen);
    }
    cJSON_Delete(root);
    free(text);
    return rc;
}

void st_tensors_free(st_tensor *tensors, size_t count)
{
    if (!tensors) return;
    for (size_t i = 0; i < count; i++)
        free((char *)tensors[i].name);
    free(tensors);
}
