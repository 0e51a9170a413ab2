#include "models/source/s3_partial.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK (1 << 20)

static int hash_and_crc(int fd, uint64_t off, uint64_t len, unsigned char sha[32], uLong *crc,
                        const char *name, char *err, size_t errlen)
{
    unsigned char *buf = malloc(CHUNK);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = -1;
    if (!buf || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        snprintf(err, errlen, "%s: out of memory hashing", name);
        goto done;
    }
    if (crc) *crc = crc32(0L, Z_NULL, 0);
    for (uint64_t pos = 0; pos < len;) {
        size_t want = len - pos < CHUNK ? (size_t)(len - pos) : CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)(off + pos));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            snprintf(err, errlen, "%s: reading at byte %llu: %s", name,
                     (unsigned long long)(off + pos),
                     got < 0 ? strerror(errno) : "unexpected end of file");
            goto done;
        }
        EVP_DigestUpdate(md, buf, (size_t)got);
        if (crc) *crc = crc32(*crc, buf, (uInt)got);
        pos += (uint64_t)got;
    }
    unsigned int n = 32;
    EVP_DigestFinal_ex(md, sha, &n);
    rc = 0;
done:
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

int s3_hash_range(int fd, uint64_t off, uint64_t len, char hex[65], const char *name, char *err,
                  size_t errlen)
{
    unsigned char sha[32];
    if (hash_and_crc(fd, off, len, sha, NULL, name, err, errlen) != 0) return -1;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    return 0;
}

int s3_verify_file(int fd, uint64_t size, const char *sha256_b64, const char *crc32_b64,
                   const char *name, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != size) {
        snprintf(err, errlen, "%s: the download has %lld bytes, S3 says %llu", name,
                 (long long)st.st_size, (unsigned long long)size);
        return -1;
    }
    int want_sha = sha256_b64 && *sha256_b64, want_crc = !want_sha && crc32_b64 && *crc32_b64;
    if (!want_sha && !want_crc) return 0;
    unsigned char sha[32];
    uLong crc = 0;
    if (hash_and_crc(fd, 0, size, sha, want_crc ? &crc : NULL, name, err, errlen) != 0) return -1;
    unsigned char raw[32];
    size_t n = 32;
    if (want_crc) {
        for (int i = 0; i < 4; i++)
            raw[i] = (unsigned char)(crc >> (24 - 8 * i));
        n = 4;
    } else {
        memcpy(raw, sha, 32);
    }
    char ours[48];
    EVP_EncodeBlock((unsigned char *)ours, raw, (int)n);
    const char *theirs = want_sha ? sha256_b64 : crc32_b64;
    if (strcmp(ours, theirs) != 0) {
        snprintf(err, errlen, "%s: %s mismatch: S3 has %s, the downloaded bytes give %s", name,
                 want_sha ? "SHA-256" : "CRC32", theirs, ours);
        return -1;
    }
    return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads the sidecar; marks each part whose recorded SHA-256 matches the bytes now in the file.
 * Returns 1 when the sidecar belongs to this object, 0 when it must be started over. */
static int load_sidecar(s3_partial *p, const char *sidecar, const char *header, uint64_t size,
                        uint64_t part_size, const char *name)
{
    FILE *f = fopen(sidecar, "r");
    if (!f) return 0;
    char *line = NULL;
    size_t cap = 0;
    int ok = getline(&line, &cap, f) > 0 && strcmp(line, header) == 0;
    while (ok && getline(&line, &cap, f) > 0) {
        size_t idx;
        char hex[65], tail;
        if (sscanf(line, "%zu %64[0-9a-f]%c", &idx, hex, &tail) != 3 || tail != '\n' ||
            strlen(hex) != 64 || idx >= p->n_parts || p->done[idx])
            continue; /* a torn last line from a killed run */
        uint64_t off = idx * part_size, len = off + part_size > size ? size - off : part_size;
        char got[65], herr[256];
        if (s3_hash_range(p->fd, off, len, got, name, herr, sizeof herr) == 0 &&
            !strcmp(got, hex)) {
            p->done[idx] = 1;
            p->n_done++;
            p->bytes_done += len;
        }
    }
    free(line);
    fclose(f);
    return ok;
}

int s3_partial_open(s3_partial *p, const char *path, const char *sidecar, uint64_t size,
                    uint64_t part_size, const char *etag, char *err, size_t errlen)
{
    *p = (s3_partial){.fd = -1, .sidecar_fd = -1};
    p->n_parts = size ? (size_t)((size + part_size - 1) / part_size) : 0;
    p->done = calloc(p->n_parts ? p->n_parts : 1, 1);
    if (!p->done) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    char header[300];
    snprintf(header, sizeof header, "berth-parts 1 size=%llu part=%llu etag=%s\n",
             (unsigned long long)size, (unsigned long long)part_size, etag);
    p->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    struct stat st;
    if (p->fd < 0 || fstat(p->fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        s3_partial_close(p);
        return -1;
    }
    int resume =
        (uint64_t)st.st_size == size && load_sidecar(p, sidecar, header, size, part_size, path);
    if (!resume) {
        memset(p->done, 0, p->n_parts ? p->n_parts : 1);
        p->n_done = 0;
        p->bytes_done = 0;
        /* Sparse: space is taken as parts land; the up-front statvfs check covers the total. */
        if (ftruncate(p->fd, 0) != 0 || ftruncate(p->fd, (off_t)size) != 0) {
            snprintf(err, errlen, "%s: sizing to %llu bytes: %s", path, (unsigned long long)size,
                     strerror(errno));
            s3_partial_close(p);
            return -1;
        }
    }
    p->sidecar_fd =
        open(sidecar, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (resume ? 0 : O_TRUNC), 0644);
    if (p->sidecar_fd < 0 || (!resume && write_all(p->sidecar_fd, header, strlen(header)) != 0)) {
        snprintf(err, errlen, "%s: %s", sidecar, strerror(errno));
        s3_partial_close(p);
        return -1;
    }
    return 0;
}

int s3_partial_record(s3_partial *p, size_t part, const char sha256_hex[65], char *err,
                      size_t errlen)
{
    char line[96];
    int n = snprintf(line, sizeof line, "%zu %s\n", part, sha256_hex);
    if (write_all(p->sidecar_fd, line, (size_t)n) != 0) {
        snprintf(err, errlen, "recording part %zu: %s", part, strerror(errno));
        return -1;
    }
    p->done[part] = 1;
    p->n_done++;
    return 0;
}

void s3_partial_close(s3_partial *p)
{
    if (p->fd >= 0) close(p->fd);
    if (p->sidecar_fd >= 0) close(p->sidecar_fd);
    free(p->done);
    *p = (s3_partial){.fd = -1, .sidecar_fd = -1};
}
