/* The manifest a completed fetch leaves in its directory (.berth-manifest.json): the source bucket
 * and prefix and, per file, key, size, ETag and checksums. A rerun compares the listing with it to
 * download nothing that is unchanged. Must not: talk to S3 or touch the files it lists. */
#ifndef BERTH_MODELS_SOURCE_S3_MANIFEST_H
#define BERTH_MODELS_SOURCE_S3_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define S3_MANIFEST_NAME ".berth-manifest.json"

typedef struct {
    char *path; /* relative to the directory: the key minus the prefix */
    char *etag;
    char *sha256; /* base64 as S3 gives it, "" when S3 has none */
    char *crc32;
    uint64_t size;
} s3_manifest_entry;

typedef struct {
    char *bucket, *prefix;
    s3_manifest_entry *files;
    size_t n_files;
} s3_manifest;

/* 0 with the manifest, -1 when there is none or it cannot be read (treated as an empty cache:
 * everything is downloaded again, which is always safe). */
int s3_manifest_load(const char *path, s3_manifest *m);
/* Written to a temporary name and renamed, so a reader sees the old or the new manifest. */
int s3_manifest_save(const char *path, const s3_manifest *m, char *err, size_t errlen);
const s3_manifest_entry *s3_manifest_find(const s3_manifest *m, const char *rel);
void s3_manifest_free(s3_manifest *m);

#endif
