/* Resumable partial files: parts recorded in the sidecar survive a reopen only while their bytes
 * still hash to what was recorded; a sidecar for another ETag starts over; the final size and
 * checksum checks refuse bad bytes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/source/s3_partial.h"
#include "tests/support/test_support.h"

static char dir[64], path[128], sidecar[160];

static void put(int fd, uint64_t off, uint64_t len, unsigned char v)
{
    unsigned char buf[4096];
    memset(buf, v, sizeof buf);
    CHECK(pwrite(fd, buf, len, (off_t)off) == (ssize_t)len);
}

static void record(s3_partial *p, size_t part, uint64_t off, uint64_t len)
{
    char hex[65], err[256];
    CHECK(s3_hash_range(p->fd, off, len, hex, "t", err, sizeof err) == 0);
    CHECK(s3_partial_record(p, part, hex, err, sizeof err) == 0);
}

static void test_resume(void)
{
    s3_partial p;
    char err[512];
    CHECKF(s3_partial_open(&p, path, sidecar, 10000, 4096, "\"e1\"", err, sizeof err) == 0, "%s",
           err);
    CHECK(p.n_parts == 3 && p.n_done == 0);
    struct stat st;
    CHECK(fstat(p.fd, &st) == 0 && st.st_size == 10000);
    put(p.fd, 0, 4096, 'a');
    record(&p, 0, 0, 4096);
    put(p.fd, 8192, 1808, 'c');
    record(&p, 2, 8192, 1808);
    s3_partial_close(&p);

    CHECK(s3_partial_open(&p, path, sidecar, 10000, 4096, "\"e1\"", err, sizeof err) == 0);
    CHECK(p.n_done == 2 && p.done[0] && !p.done[1] && p.done[2]);
    CHECK(p.bytes_done == 4096 + 1808);
    s3_partial_close(&p);

    /* A torn line from a killed run, then a corrupted byte in part 2. */
    FILE *f = fopen(sidecar, "a");
    fputs("1 abcd", f);
    fclose(f);
    int fd = open(path, O_RDWR);
    put(fd, 9000, 1, 'X');
    close(fd);
    CHECK(s3_partial_open(&p, path, sidecar, 10000, 4096, "\"e1\"", err, sizeof err) == 0);
    CHECKF(p.n_done == 1 && p.done[0] && !p.done[2], "n_done %zu", p.n_done);
    s3_partial_close(&p);

    /* Another version of the object: nothing is kept and the file is zeroed. */
    CHECK(s3_partial_open(&p, path, sidecar, 10000, 4096, "\"e2\"", err, sizeof err) == 0);
    CHECK(p.n_done == 0 && p.bytes_done == 0);
    unsigned char b = 1;
    CHECK(pread(p.fd, &b, 1, 0) == 1 && b == 0);
    s3_partial_close(&p);
    /* Another part size: also started over. */
    CHECK(s3_partial_open(&p, path, sidecar, 10000, 2048, "\"e2\"", err, sizeof err) == 0);
    CHECK(p.n_parts == 5 && p.n_done == 0);
    s3_partial_close(&p);
    CHECK(s3_partial_open(&p, path, sidecar, 0, 2048, "\"e3\"", err, sizeof err) == 0);
    CHECK(p.n_parts == 0);
    s3_partial_close(&p);
}

static void test_verify(void)
{
    int fd = open(path, O_RDWR | O_TRUNC);
    CHECK(write(fd, "hello", 5) == 5);
    char err[512];
    const char *sha = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=", *crc = "NhCmhg==";
    CHECK(s3_verify_file(fd, 5, sha, NULL, "s3://b/k", err, sizeof err) == 0);
    CHECK(s3_verify_file(fd, 5, NULL, crc, "s3://b/k", err, sizeof err) == 0);
    CHECK(s3_verify_file(fd, 5, NULL, NULL, "s3://b/k", err, sizeof err) == 0);
    CHECK(s3_verify_file(fd, 5, "AAAAul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=", NULL, "s3://b/k",
                         err, sizeof err) == -1);
    CHECKF(strstr(err, "s3://b/k: SHA-256 mismatch") && strstr(err, sha), "%s", err);
    CHECK(s3_verify_file(fd, 5, NULL, "AAAAAA==", "s3://b/k", err, sizeof err) == -1);
    CHECKF(strstr(err, "CRC32 mismatch") != NULL, "%s", err);
    CHECK(s3_verify_file(fd, 6, NULL, NULL, "s3://b/k", err, sizeof err) == -1);
    CHECKF(strstr(err, "5 bytes, S3 says 6") != NULL, "%s", err);
    close(fd);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/berth-s3-partial-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/model.safetensors.partial", dir);
    snprintf(sidecar, sizeof sidecar, "%s.parts", path);
    test_resume();
    test_verify();
    unlink(sidecar);
    unlink(path);
    rmdir(dir);
    return test_finish("test_s3_partial");
}
