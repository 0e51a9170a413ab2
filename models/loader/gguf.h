/* llama.cpp's GGUF container (versions 2 and 3): header, metadata key/values, tensor infos and the
 * aligned data section, validated byte by byte over a read-only memory map.
 * Owns: the file format. Must not: map tensor names to a model or convert tensor data
 * (gguf_model.c, gguf_quant.c do that). */
#ifndef BERTH_MODELS_LOADER_GGUF_H
#define BERTH_MODELS_LOADER_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    GGUF_UINT8 = 0,
    GGUF_INT8 = 1,
    GGUF_UINT16 = 2,
    GGUF_INT16 = 3,
    GGUF_UINT32 = 4,
    GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6,
    GGUF_BOOL = 7,
    GGUF_STRING = 8,
    GGUF_ARRAY = 9,
    GGUF_UINT64 = 10,
    GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12
} gguf_vtype;

/* ggml tensor types berth can name (others are reported by number). */
enum {
    GGML_F32 = 0,
    GGML_F16 = 1,
    GGML_Q4_0 = 2,
    GGML_Q4_1 = 3,
    GGML_Q5_0 = 6,
    GGML_Q5_1 = 7,
    GGML_Q8_0 = 8,
    GGML_Q8_1 = 9,
    GGML_Q2_K = 10,
    GGML_Q3_K = 11,
    GGML_Q4_K = 12,
    GGML_Q5_K = 13,
    GGML_Q6_K = 14,
    GGML_Q8_K = 15,
    GGML_BF16 = 30
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct gguf_str {
    const char *s; /* into the file's bytes: not NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    char *key; /* NUL-terminated copy */
    gguf_vtype type;
    union {
        uint64_t u; /* UINT8..UINT64 */
        int64_t i;  /* INT8..INT64 */
        double f;   /* FLOAT32, FLOAT64 */
        bool b;
        gguf_str str;
        struct {
            gguf_vtype type; /* element type; nested arrays are validated but not exposed */
            uint64_t n;
            const uint8_t *data; /* the elements' bytes (numeric arrays) */
            gguf_str *strs;      /* STRING arrays: n entries, malloc'd */
        } arr;
    } v;
} gguf_kv;

typedef struct gguf_tensor {
    char *name; /* NUL-terminated copy */
    int ndim;
    int64_t ne[GGUF_MAX_DIMS]; /* ggml order: ne[0] is the innermost (row length) */
    uint32_t type;
    uint64_t offset; /* from the start of the data section */
    const uint8_t *data;
    uint64_t nbytes;
} gguf_tensor;

typedef struct gguf_file {
    const char *path; /* the caller's pointer (gguf_parse) or an owned copy (gguf_open) */
    uint32_t version;
    uint32_t alignment;
    gguf_kv *kvs;
    size_t nkv;
    gguf_tensor *tensors;
    size_t ntensors;
    void *map; /* gguf_open only */
    size_t map_len;
    bool owns_path;
} gguf_file;

/* Parses and validates `len` bytes; every string, count, dimension, type and offset is checked
 * against the bytes there are. Tensors and string values point into `bytes`. Returns 0, or -1 with
 * err naming `path` and what is wrong (the key or tensor and the offset). */
int gguf_parse(gguf_file **out, const uint8_t *bytes, size_t len, const char *path, char *err,
               size_t errlen);
/* Maps `path` read-only and parses it. */
int gguf_open(gguf_file **out, const char *path, char *err, size_t errlen);
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find(const gguf_file *f, const char *key); /* NULL when absent */
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters: 0 on success; -1 with err (naming the file and key) when the key is absent or
 * of another type. Integers of any width and signedness convert when the value fits. */
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, char *err, size_t errlen);
int gguf_get_f64(const gguf_file *f, const char *key, double *out, char *err, size_t errlen);
int gguf_get_bool(const gguf_file *f, const char *key, bool *out, char *err, size_t errlen);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, char *err, size_t errlen);
/* Element i of a numeric array as i64 / f64 (the caller has checked i < n and the type). */
int64_t gguf_arr_i64(const gguf_kv *kv, uint64_t i);
double gguf_arr_f64(const gguf_kv *kv, uint64_t i);

const char *gguf_type_name(uint32_t ggml_type); /* "Q4_1" ...; "type N" for others (static) */
/* Elements per block and bytes per block for a ggml type; 0 for types berth does not know. */
int64_t gguf_block_elems(uint32_t ggml_type);
size_t gguf_block_bytes(uint32_t ggml_type);

#endif
