/* A download in progress: the object's bytes in a .partial file sized up front, plus a sidecar
 * that records each completed part with its SHA-256, so an interrupted download resumes with only
 * the parts that are provably on disk. Also the whole-file checks run before the final rename.
 * Must not: talk to S3, or rename anything into place (s3_fetch does). */
#ifndef BERTH_MODELS_SOURCE_S3_PARTIAL_H
#define BERTH_MODELS_SOURCE_S3_PARTIAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int fd;
    int sidecar_fd;
    size_t n_parts;
    unsigned char *done; /* one flag per part */
    size_t n_done;
    uint64_t bytes_done;
} s3_partial;

/* Opens (creating when needed) path and its sidecar for an object of `size` bytes cut into
 * `part_size` parts. A sidecar written for another size, part size or ETag is discarded; every part
 * it lists is re-hashed and kept only if the bytes still match. 0, or -1 with a message. */
int s3_partial_open(s3_partial *p, const char *path, const char *sidecar, uint64_t size,
                    uint64_t part_size, const char *etag, char *err, size_t errlen);
/* Appends "part sha256" to the sidecar; call after the part's bytes were written. */
int s3_partial_record(s3_partial *p, size_t part, const char sha256_hex[65], char *err,
                      size_t errlen);
void s3_partial_close(s3_partial *p);

/* SHA-256 (hex) of len bytes of fd from off. 0, or -1 with a message naming `name`. */
int s3_hash_range(int fd, uint64_t off, uint64_t len, char hex[65], const char *name, char *err,
                  size_t errlen);

/* The whole-file checks before a download is renamed into place: the size, then the SHA-256 or
 * CRC32 checksum S3 holds for the object (base64, as in x-amz-checksum-*), when it has one that
 * covers the full object. 0, or -1 with a message naming `name`, S3's value and ours. */
int s3_verify_file(int fd, uint64_t size, const char *sha256_b64, const char *crc32_b64,
                   const char *name, char *err, size_t errlen);

#endif
