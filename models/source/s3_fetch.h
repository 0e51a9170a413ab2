/* The download engine behind model_source_fetch: list a prefix, compare with the manifest, check
 * free space, fetch the missing parts with a pool of threads (one curl handle each), verify each
 * file and rename it into place, then write the manifest. Progress goes to stderr.
 * Must not: parse URLs or choose directories (model_source does), or sign requests (s3_client). */
#ifndef BERTH_MODELS_SOURCE_S3_FETCH_H
#define BERTH_MODELS_SOURCE_S3_FETCH_H

#include <stddef.h>

#include "models/source/model_source.h"
#include "models/source/s3_client.h"

#define S3_PARTIAL_DIR ".berth-partial"

/* 0 once every object under bucket/prefix is in dir, verified, and the manifest is written; -1
 * with a message otherwise. require_model: refuse a prefix without config.json and *.safetensors.
 */
int s3_fetch_prefix(s3_client *c, const char *bucket, const char *prefix, const char *dir,
                    const model_source_options *o, char *err, size_t errlen);

#endif
