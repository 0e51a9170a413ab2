/* Streaming safetensors writer for berth-make-model. */
#include "tools/make_model/mm_st_writer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/make_model/mm_init.h"

enum { CHUNK_ELEMS = 1 << 20 };

/* The header: {"__metadata__": {"format": "pt"}, name: {dtype, shape, data_offsets}, ...} with offsets
 * contiguous from 0, in file order. Returns a malloc'd string or NULL. */
static char *build_header(const mm_spec *spec, uint64_t *data_bytes) {
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    int ok = root && meta && cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t offset = 0;
    mm_tensor t;
    for (int i = 0; ok && i < mm_spec_tensor_count(spec); i++) {
        mm_spec_tensor(spec, i, &t);
        const uint64_t size = (uint64_t)mm_tensor_elems(&t) * mm_dtype_size(spec->dtype);
        cJSON *entry = cJSON_AddObjectToObject(root, t.name);
        cJSON *shape = cJSON_CreateArray(), *offsets = cJSON_CreateArray();
        ok = entry && shape && offsets;
        if (ok) {
            cJSON_AddItemToObject(entry, "dtype", cJSON_CreateString(spec->dtype == MM_BF16 ? "BF16" : "F32"));
            cJSON_AddItemToObject(entry, "shape", shape);
            cJSON_AddItemToObject(entry, "data_offsets", offsets);
            for (int d = 0; d < t.ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t.shape[d]));
            /* Offsets stay below 2^53, so a double holds them exactly and cJSON prints integers. */
            cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset));
            cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(offset + size)));
        } else {
            cJSON_Delete(shape);
            cJSON_Delete(offsets);
        }
        offset += size;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    *data_bytes = offset;
    return text;
}

static int write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

static int write_body(FILE *f, const mm_spec *spec, unsigned char *buf) {
    mm_tensor t;
    mm_rng rng;
    const size_t width = mm_dtype_size(spec->dtype);
    for (int i = 0; i < mm_spec_tensor_count(spec); i++) {
        mm_spec_tensor(spec, i, &t);
        mm_rng_start(&rng, spec->seed, i, t.init, spec->init_std);
        for (int64_t left = mm_tensor_elems(&t); left > 0;) {
            const size_t n = left < CHUNK_ELEMS ? (size_t)left : CHUNK_ELEMS;
            mm_rng_fill(&rng, spec->dtype, n, buf);
            if (write_all(f, buf, n * width) != 0) return -1;
            left -= (int64_t)n;
        }
    }
    return 0;
}

int mm_st_write(const char *path, const mm_spec *spec, uint64_t *bytes_written, char *err, size_t errlen) {
    uint64_t data_bytes = 0;
    char *header = build_header(spec, &data_bytes);
    if (!header) {
        snprintf(err, errlen, "%s: out of memory building the safetensors header", path);
        return -1;
    }
    /* Pad the header with spaces to a multiple of 8 so the data starts 8-byte aligned, as the
     * safetensors library does: loaders may then map tensors straight from the file. */
    const size_t len = strlen(header), padded = (len + 7) / 8 * 8;
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++) prefix[i] = (unsigned char)((uint64_t)padded >> (8 * i));

    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        free(header);
        return -1;
    }
    unsigned char *buf = malloc((size_t)CHUNK_ELEMS * 4);
    FILE *f = fopen(tmp, "wb");
    int rc = -1;
    if (!buf || !f) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, !buf ? "out of memory" : strerror(errno));
        goto done;
    }
    static const char spaces[] = "       "; /* at most 7 bytes of padding */
    if (write_all(f, prefix, 8) != 0 || write_all(f, header, len) != 0 ||
        write_all(f, spaces, padded - len) != 0 || write_body(f, spec, buf) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        goto done;
    }
    if (fclose(f) != 0) {
        f = NULL;
        snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        goto done;
    }
    f = NULL;
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        goto done;
    }
    *bytes_written = 8 + padded + data_bytes;
    rc = 0;
done:
    if (f) fclose(f);
    if (rc != 0) remove(tmp);
    free(buf);
    free(header);
    return rc;
}
