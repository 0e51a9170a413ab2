/* Safetensors checkpoints: validating one file's bytes, and opening a model directory (one file or
 * shards listed by model.safetensors.index.json) as read-only memory maps.
 * Owns: the file format and the mappings. Must not: interpret tensor names or convert dtypes. */
#ifndef BERTH_MODELS_LOADER_SAFETENSORS_H
#define BERTH_MODELS_LOADER_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ST_F64,
    ST_F32,
    ST_F16,
    ST_BF16,
    ST_I64,
    ST_I32,
    ST_I16,
    ST_I8,
    ST_U8,
    ST_BOOL,
    ST_F8_E4M3,
    ST_F8_E5M2
} st_dtype;

#define ST_MAX_DIMS 8
/* The format's own limit on the JSON header (safetensors' MAX_HEADER_SIZE): a larger one is
 * hostile. */
#define ST_MAX_HEADER_BYTES 100000000u

typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data; /* points into the read-only memory map; not necessarily aligned */
    uint64_t nbytes;
    const char *path; /* the file it lives in (for error messages) */
} st_tensor;

typedef struct st_checkpoint st_checkpoint;

/* Opens a model directory: `model.safetensors` (preferred, as Hugging Face does), else
 * `model.safetensors.index.json` whose weight_map names shard files in the same directory. Every
 * shard is validated; every name in weight_map must be in its shard and vice versa; names are
 * unique across shards. Files are mmap'd read-only (MAP_PRIVATE). Returns 0, or -1 with err set. */
int st_checkpoint_open(st_checkpoint **out, const char *dir, char *err, size_t errlen);
size_t st_checkpoint_count(const st_checkpoint *ck);
/* Tensors in shard-file order (shards sorted by file name), then header order within a file. */
const st_tensor *st_checkpoint_tensor(const st_checkpoint *ck, size_t i);
const st_tensor *st_checkpoint_find(const st_checkpoint *ck, const char *name); /* NULL if absent */
void st_checkpoint_close(st_checkpoint *ck);
/* A checkpoint over tensors already in memory (a GGUF file's, dequantised): takes ownership of the
 * tensors array, each tensor's name (malloc'd) and `buffer` (free()d at close; the tensors' data
 * point into it), also on failure. `what` names the source in errors (duplicate names). */
int st_checkpoint_adopt(st_checkpoint **out, st_tensor *tensors, size_t count, void *buffer,
                        const char *what, char *err, size_t errlen);

const char *st_dtype_name(st_dtype d); /* "BF16" ... as in the file format */
size_t st_dtype_size(st_dtype d);

/* Parses and validates one file's bytes (8-byte little-endian header length, JSON header, data).
 * On success *tensors (malloc'd array, header order; free with st_tensors_free) point into `bytes`,
 * and each tensor's `path` is the `path` pointer given here, so it must outlive them.
 * Returns 0, or -1 with err set naming `path` and, where there is one, the tensor and the field. */
int st_parse(const uint8_t *bytes, size_t len, const char *path, st_tensor **tensors, size_t *count,
             char *err, size_t errlen);
void st_tensors_free(st_tensor *tensors, size_t count);

#endif
