/* Streaming safetensors writer for berth-make-model: header JSON via cJSON, then each tensor's bytes
 * produced chunk by chunk, so memory stays constant whatever the model size. Writes to PATH.tmp and
 * renames on success: a failed run never leaves a truncated model.safetensors. Knows nothing of HF. */
#ifndef BERTH_MM_ST_WRITER_H
#define BERTH_MM_ST_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "tools/make_model/mm_spec.h"

/* Writes every tensor of spec to path, filled by mm_init's seeded streams. On success stores the file
 * size in *bytes_written and returns 0; else -1 with a message naming the path. */
int mm_st_write(const char *path, const mm_spec *spec, uint64_t *bytes_written, char *err, size_t errlen);

#endif
