#include "models/source/s3_fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "models/source/s3_manifest.h"
#include "models/source/s3_partial.h"

#define FETCH_ERRLEN (2 * PATH_MAX + 512)

typedef struct {
    const char *key, *rel;
    uint64_t size;
    char etag[128], sha256[64], crc32[16];
    bool verify_checksum; /* false for composite (multipart) checksums, which cover parts only */
    char partial[PATH_MAX], sidecar[PATH_MAX + 8], final[PATH_MAX];
    s3_partial part;
    pthread_mutex_t mu;
    size_t parts_left; /* guarded by mu */
    bool need, open;
    bool complete; /* in place and verified (or unchanged): listed in the manifest; guarded by mu of
                      the run */
} fetch_file;

typedef struct {
    size_t file, part;
} fetch_task;

typedef struct {
    s3_client *c;
    const char *bucket, *prefix, *dir;
    const model_source_options *o;
    const s3_manifest *old; /* the previous manifest of this bucket and prefix, or NULL */
    char manifest[PATH_MAX];
    uint64_t part_size, bytes_needed;
    fetch_file *files;
    size_t n_files;
    fetch_task *tasks;
    size_t n_tasks;
    atomic_size_t next_task, parts_run, files_done;
    atomic_bool abort;
    atomic_ullong bytes_run;
    pthread_mutex_t mu; /* err, workers_left */
    pthread_cond_t cv;
    int workers_left;
    char err[FETCH_ERRLEN];
} fetch_run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Keeps the first error: later ones are usually consequences (aborted transfers). */
static void fail(fetch_run *r, const char *msg)
{
    pthread_mutex_lock(&r->mu);
    if (!atomic_load(&r->abort)) snprintf(r->err, sizeof r->err, "%s", msg);
    atomic_store(&r->abort, true);
    pthread_mutex_unlock(&r->mu);
}

static int mkdir_p(char *path, char *err, size_t errlen)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        int rc = mkdir(path, 0755);
        int e = errno;
        *p = saved;
        if (rc != 0 && e != EEXIST) {
            snprintf(err, errlen, "creating directory %.*s: %s", (int)(p - path), path,
                     strerror(e));
            return -1;
        }
        if (saved == '\0') return 0;
    }
}

static int mkdir_parent(const char *file, char *err, size_t errlen)
{
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", file);
    char *slash = strrchr(d, '/');
    if (!slash || slash == d) return 0;
    *slash = '\0';
    return mkdir_p(d, err, errlen);
}

/* A relative path from a key must stay inside the directory and not collide with our own files. */
static bool rel_ok(const char *rel)
{
    if (!*rel || rel[0] == '/' || strlen(rel) > 1024 || !strncmp(rel, ".berth-", 7)) return false;
    for (const char *p = rel; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '\\') return false;
    for (const char *seg = rel; seg;) {
        const char *e = strchr(seg, '/');
        size_t n = e ? (size_t)(e - seg) : strlen(seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && !strncmp(seg, "..", 2))) return false;
        seg = e ? e + 1 : NULL;
    }
    return true;
}

static void human(uint64_t b, char *out, size_t len)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(out, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* ---- one part ------------------------------------------------------------------------------- */

typedef struct {
    fetch_run *r;
    fetch_file *f;
    uint64_t start, len, off;
    EVP_MD_CTX *md;
    char err[FETCH_ERRLEN];
} part_ctx;

static int part_write(void *vctx, const char *data, size_t n)
{
    part_ctx *p = vctx;
    if (atomic_load(&p->r->abort)) {
        snprintf(p->err, sizeof p->err, "aborted");
        return -1;
    }
    if (p->off + n > p->start + p->len) {
        snprintf(p->err, sizeof p->err,
                 "s3://%s/%s: the server sent more than the %llu bytes of the "
                 "requested range",
                 p->r->bucket, p->f->key, (unsigned long long)p->len);
        return -1;
    }
    EVP_DigestUpdate(p->md, data, n);
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(p->f->part.fd, data + done, n - done, (off_t)(p->off + done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            int e = errno;
            if (e == ENOSPC || e == EDQUOT)
                snprintf(p->err, sizeof p->err,
                         "no space left writing %s: the download needs %llu more "
                         "bytes in %s",
                         p->f->partial,
                         (unsigned long long)(p->r->bytes_needed - atomic_load(&p->r->bytes_run)),
                         p->r->dir);
            else
                snprintf(p->err, sizeof p->err, "writing %s: %s", p->f->partial, strerror(e));
            return -1;
        }
        done += (size_t)w;
    }
    p->off += n;
    atomic_fetch_add(&p->r->bytes_run, n);
    return 0;
}

static int save_manifest(fetch_run *r, bool final, char *err, size_t errlen);

static int finalize_file(fetch_run *r, fetch_file *f, char *err, size_t errlen)
{
    char name[PATH_MAX + 64];
    snprintf(name, sizeof name, "s3://%s/%s", r->bucket, f->key);
    if (fdatasync(f->part.fd) != 0 && errno != EINVAL) {
        snprintf(err, errlen, "syncing %s: %s", f->partial, strerror(errno));
        return -1;
    }
    if (s3_verify_file(f->part.fd, f->size, f->verify_checksum ? f->sha256 : NULL,
                       f->verify_checksum ? f->crc32 : NULL, name, err, errlen) != 0) {
        /* Bad bytes must not be resumed from either. */
        unlink(f->partial);
        unlink(f->sidecar);
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, "; the partial file was removed, rerun to download it again");
        return -1;
    }
    s3_partial_close(&f->part);
    f->open = false;
    if (mkdir_parent(f->final, err, errlen) != 0) return -1;
    if (rename(f->partial, f->final) != 0) {
        snprintf(err, errlen, "renaming %s to %s: %s", f->partial, f->final, strerror(errno));
        return -1;
    }
    unlink(f->sidecar);
    atomic_fetch_add(&r->files_done, 1);
    /* Recorded right away, so that a run interrupted later does not fetch this file again. */
    pthread_mutex_lock(&r->mu);
    f->complete = true;
    int rc = save_manifest(r, false, err, errlen);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static void describe_get_error(fetch_run *r, fetch_file *f, const s3_response *resp, char *out,
                               size_t len)
{
    char desc[400];
    s3_describe_status(resp, desc, sizeof desc);
    if (resp->status == 412)
        snprintf(out, len,
                 "s3://%s/%s changed during the download (its ETag is no longer %s); rerun to "
                 "fetch the new version",
                 r->bucket, f->key, f->etag);
    else if (resp->status == 403)
        snprintf(out, len, "access denied reading s3://%s/%s (%s)", r->bucket, f->key, desc);
    else if (resp->status == 404)
        snprintf(out, len, "s3://%s/%s disappeared during the download (%s)", r->bucket, f->key,
                 desc);
    else
        snprintf(out, len, "reading s3://%s/%s: %s", r->bucket, f->key, desc);
}

static int fetch_part(fetch_run *r, CURL *h, const fetch_task *t)
{
    fetch_file *f = &r->files[t->file];
    part_ctx p = {.r = r, .f = f, .start = t->part * r->part_size, .md = EVP_MD_CTX_new()};
    p.len = p.start + r->part_size > f->size ? f->size - p.start : r->part_size;
    p.off = p.start;
    char err[FETCH_ERRLEN] = "";
    /* No reset: a retried GET continues where the bytes stopped (the digest keeps running). */
    s3_sink sink = {NULL, part_write, &p};
    s3_response resp = {0};
    int rc = -1;
    if (!p.md || !EVP_DigestInit_ex(p.md, EVP_sha256(), NULL)) {
        snprintf(err, sizeof err, "out of memory");
    } else if (s3_get_range(r->c, h, r->bucket, f->key, f->etag, p.start, p.len, &sink, &resp, err,
                            sizeof err) != 0) {
        if (p.err[0]) snprintf(err, sizeof err, "%s", p.err);
    } else if (!(resp.status == 206 || (resp.status == 200 && p.start == 0 && p.len == f->size))) {
        describe_get_error(r, f, &resp, err, sizeof err);
    } else {
        unsigned char sha[32];
        char hex[65];
        unsigned int n = 32;
        EVP_DigestFinal_ex(p.md, sha, &n);
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", sha[i]);
        pthread_mutex_lock(&f->mu);
        rc = s3_partial_record(&f->part, t->part, hex, err, sizeof err);
        bool last = rc == 0 && --f->parts_left == 0;
        pthread_mutex_unlock(&f->mu);
        size_t done = atomic_fetch_add(&r->parts_run, 1) + 1;
        if (rc == 0 && last) rc = finalize_file(r, f, err, sizeof err);
        if (rc == 0 && r->o->fail_after_parts > 0 && done >= (size_t)r->o->fail_after_parts) {
            snprintf(err, sizeof err, "test hook fail_after_parts=%ld: stopped after %zu parts",
                     r->o->fail_after_parts, done);
            rc = -1;
        }
    }
    s3_response_free(&resp);
    EVP_MD_CTX_free(p.md);
    if (rc != 0 && strcmp(err, "aborted") != 0) fail(r, err);
    return rc;
}

static void *worker(void *arg)
{
    fetch_run *r = arg;
    CURL *h = s3_handle_new();
    if (!h) fail(r, "curl_easy_init failed");
    while (h && !atomic_load(&r->abort)) {
        size_t t = atomic_fetch_add(&r->next_task, 1);
        if (t >= r->n_tasks || fetch_part(r, h, &r->tasks[t]) != 0) break;
    }
    if (h) curl_easy_cleanup(h);
    pthread_mutex_lock(&r->mu);
    r->workers_left--;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- progress ------------------------------------------------------------------------------- */

static void progress_line(fetch_run *r, bool bar, double elapsed)
{
    uint64_t got = atomic_load(&r->bytes_run), total = r->bytes_needed;
    int pct = total ? (int)(100.0 * (double)got / (double)total) : 100;
    char a[32], b[32], rate[32];
    human(got, a, sizeof a);
    human(total, b, sizeof b);
    human(elapsed > 0 ? (uint64_t)((double)got / elapsed) : 0, rate, sizeof rate);
    if (bar) {
        char cells[31];
        int fill = pct * 30 / 100;
        for (int i = 0; i < 30; i++)
            cells[i] = i < fill ? '#' : ' ';
        cells[30] = '\0';
        fprintf(stderr, "\r%3d%% [%s] %s / %s  %s/s   ", pct, cells, a, b, rate);
    } else {
        fprintf(stderr, "berth: s3://%s/%s: %s / %s (%d%%), %s/s, %zu of %zu files\n", r->bucket,
                r->prefix, a, b, pct, rate, atomic_load(&r->files_done), r->n_files);
    }
    fflush(stderr);
}

static void run_workers(fetch_run *r, int n)
{
    ms_progress mode = r->o->progress;
    if (mode == MS_PROGRESS_AUTO) mode = isatty(STDERR_FILENO) ? MS_PROGRESS_BAR : MS_PROGRESS_LOG;
    double interval = mode == MS_PROGRESS_BAR     ? 0.2
                      : r->o->log_interval_ms > 0 ? r->o->log_interval_ms / 1000.0
                                                  : 5.0;
    pthread_t *th = calloc((size_t)n, sizeof *th);
    int started = 0;
    r->workers_left = n;
    for (; th && started < n; started++)
        if (pthread_create(&th[started], NULL, worker, r) != 0) break;
    pthread_mutex_lock(&r->mu);
    r->workers_left -= n - started;
    if (started < n) {
        snprintf(r->err, sizeof r->err, "cannot start download threads");
        atomic_store(&r->abort, true);
    }
    double t0 = now_s(), last = t0;
    while (r->workers_left > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        double t = now_s();
        if (mode != MS_PROGRESS_NONE && t - last >= interval && r->workers_left > 0) {
            progress_line(r, mode == MS_PROGRESS_BAR, t - t0);
            last = t;
        }
    }
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    if (mode == MS_PROGRESS_BAR && started > 0) {
        progress_line(r, true, now_s() - t0);
        fputc('\n', stderr);
    }
}

/* ---- planning ------------------------------------------------------------------------------- */

static int head_object(fetch_run *r, CURL *h, fetch_file *f, char *err, size_t errlen)
{
    sigv4_header hs[1] = {{"x-amz-checksum-mode", "ENABLED"}};
    s3_response resp;
    if (s3_request(r->c, h, "HEAD", r->bucket, f->key, NULL, hs, 1, NULL, UINT64_MAX, &resp, err,
                   errlen) != 0)
        return -1;
    int rc = 0;
    if (resp.status != 200) {
        describe_get_error(r, f, &resp, err, errlen);
        rc = -1;
    } else {
        if (resp.has_content_length) f->size = resp.content_length;
        if (resp.etag[0]) snprintf(f->etag, sizeof f->etag, "%s", resp.etag);
        snprintf(f->sha256, sizeof f->sha256, "%s", resp.checksum_sha256);
        snprintf(f->crc32, sizeof f->crc32, "%s", resp.checksum_crc32);
        f->verify_checksum = strcmp(resp.checksum_type, "COMPOSITE") != 0 &&
                             !strchr(f->sha256, '-') && !strchr(f->crc32, '-');
    }
    s3_response_free(&resp);
    return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Turns the listing into files; refuses unsafe keys and prefixes that hold no model. */
static int collect(fetch_run *r, const s3_list_object *objs, size_t n, char *err, size_t errlen)
{
    r->files = calloc(n ? n : 1, sizeof *r->files);
    if (!r->files) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t plen = strlen(r->prefix);
    bool config = false, weights = false;
    for (size_t i = 0; i < n; i++) {
        const s3_list_object *o = &objs[i];
        if (strlen(o->key) <= plen || strncmp(o->key, r->prefix, plen) != 0) continue;
        if (ends_with(o->key, "/") && o->size == 0) continue; /* a console "folder" marker */
        const char *rel = o->key + plen;
        if (!rel_ok(rel)) {
            snprintf(err, errlen,
                     "s3://%s/%s: the key maps to the local path '%s', which is not a safe "
                     "relative path (expected no '.', '..' or empty segments, no leading '/', no "
                     "control "
                     "characters, no name starting with '.berth-')",
                     r->bucket, o->key, rel);
            return -1;
        }
        fetch_file *f = &r->files[r->n_files++];
        *f = (fetch_file){.key = o->key, .rel = rel, .size = o->size};
        snprintf(f->etag, sizeof f->etag, "%s", o->etag ? o->etag : "");
        pthread_mutex_init(&f->mu, NULL);
        config |= !strcmp(rel, "config.json");
        weights |= ends_with(rel, ".safetensors");
    }
    if (r->n_files == 0) {
        snprintf(err, errlen,
                 "s3://%s/%s: no objects under this prefix (check the bucket and prefix)",
                 r->bucket, r->prefix);
        return -1;
    }
    if (!config || !weights) {
        snprintf(err, errlen,
                 "s3://%s/%s holds %zu objects but %s: not a model directory (expected "
                 "config.json and *.safetensors directly under the prefix)",
                 r->bucket, r->prefix, r->n_files,
                 !config && !weights ? "neither config.json nor any *.safetensors file"
                 : !config           ? "no config.json"
                                     : "no *.safetensors file");
        return -1;
    }
    return 0;
}

/* Marks unchanged files as done, HEADs and opens the rest, and queues their missing parts. */
static int plan(fetch_run *r, CURL *h, const s3_manifest *old, char *err, size_t errlen)
{
    size_t cap = 0;
    for (size_t i = 0; i < r->n_files; i++) {
        fetch_file *f = &r->files[i];
        snprintf(f->final, sizeof f->final, "%s/%s", r->dir, f->rel);
        const s3_manifest_entry *e = old ? s3_manifest_find(old, f->rel) : NULL;
        struct stat st;
        if (e && e->size == f->size && !strcmp(e->etag, f->etag) && stat(f->final, &st) == 0 &&
            S_ISREG(st.st_mode) && (uint64_t)st.st_size == f->size) {
            snprintf(f->sha256, sizeof f->sha256, "%s", e->sha256);
            snprintf(f->crc32, sizeof f->crc32, "%s", e->crc32);
            f->complete = true;
            continue;
        }
        f->need = true;
        if (head_object(r, h, f, err, errlen) != 0) return -1;
        snprintf(f->partial, sizeof f->partial, "%s/" S3_PARTIAL_DIR "/%s", r->dir, f->rel);
        snprintf(f->sidecar, sizeof f->sidecar, "%s.parts", f->partial);
        if (mkdir_parent(f->partial, err, errlen) != 0 ||
            s3_partial_open(&f->part, f->partial, f->sidecar, f->size, r->part_size, f->etag, err,
                            errlen) != 0)
            return -1;
        f->open = true;
        f->parts_left = f->part.n_parts - f->part.n_done;
        r->bytes_needed += f->size - f->part.bytes_done;
        if (r->o->stats) r->o->stats->parts_resumed += f->part.n_done;
        if (r->n_tasks + f->parts_left > cap) {
            size_t ncap = cap ? cap : 64;
            while (ncap < r->n_tasks + f->parts_left)
                ncap *= 2;
            fetch_task *t = realloc(r->tasks, ncap * sizeof *t);
            if (!t) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            r->tasks = t;
            cap = ncap;
        }
        for (size_t p = 0; p < f->part.n_parts; p++)
            if (!f->part.done[p]) r->tasks[r->n_tasks++] = (fetch_task){i, p};
    }
    return 0;
}

static int check_space(fetch_run *r, char *err, size_t errlen)
{
    uint64_t avail = r->o->assume_free_bytes;
    if (!avail) {
        struct statvfs vfs;
        if (statvfs(r->dir, &vfs) != 0) {
            snprintf(err, errlen, "checking free space in %s: %s", r->dir, strerror(errno));
            return -1;
        }
        avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    }
    if (r->bytes_needed > avail) {
        char need[32], have[32];
        human(r->bytes_needed, need, sizeof need);
        human(avail, have, sizeof have);
        snprintf(err, errlen,
                 "not enough disk space in %s: the download needs %llu more bytes (%s), the "
                 "file system has %llu free (%s)",
                 r->dir, (unsigned long long)r->bytes_needed, need, (unsigned long long)avail,
                 have);
        return -1;
    }
    return 0;
}

/* Files from an earlier version of the prefix that are gone now, and our empty staging folders. */
static void remove_stale(fetch_run *r, const s3_manifest *old)
{
    for (size_t i = 0; old && i < old->n_files; i++) {
        bool listed = false;
        for (size_t j = 0; j < r->n_files && !listed; j++)
            listed = !strcmp(old->files[i].path, r->files[j].rel);
        char path[PATH_MAX];
        if (!listed && rel_ok(old->files[i].path) &&
            snprintf(path, sizeof path, "%s/%s", r->dir, old->files[i].path) < (int)sizeof path)
            unlink(path);
    }
    for (size_t i = 0; i < r->n_files; i++) {
        if (!r->files[i].need) continue;
        char d[PATH_MAX];
        snprintf(d, sizeof d, "%s", r->files[i].partial);
        size_t base = strlen(r->dir) + 1 + strlen(S3_PARTIAL_DIR);
        for (char *s = strrchr(d, '/'); s && (size_t)(s - d) >= base; s = strrchr(d, '/')) {
            *s = '\0';
            if (rmdir(d) != 0) break;
        }
    }
}

/* The manifest lists the files that are complete. Until the run is final it also keeps the earlier
 * manifest's files that are no longer listed: they are still on disk and removed at the end. */
static int save_manifest(fetch_run *r, bool final, char *err, size_t errlen)
{
    size_t n_old = r->old && !final ? r->old->n_files : 0;
    s3_manifest m = {.bucket = (char *)r->bucket, .prefix = (char *)r->prefix};
    m.files = calloc(r->n_files + n_old + 1, sizeof *m.files);
    if (!m.files) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->n_files; i++) {
        fetch_file *f = &r->files[i];
        if (f->complete)
            m.files[m.n_files++] = (s3_manifest_entry){.path = (char *)f->rel,
                                                       .etag = f->etag,
                                                       .sha256 = f->sha256,
                                                       .crc32 = f->crc32,
                                                       .size = f->size};
    }
    for (size_t i = 0; i < n_old; i++) {
        bool listed = false;
        for (size_t j = 0; j < r->n_files && !listed; j++)
            listed = !strcmp(r->old->files[i].path, r->files[j].rel);
        if (!listed) m.files[m.n_files++] = r->old->files[i];
    }
    int rc = s3_manifest_save(r->manifest, &m, err, errlen);
    free(m.files);
    return rc;
}

int s3_fetch_prefix(s3_client *c, const char *bucket, const char *prefix, const char *dir,
                    const model_source_options *o, char *err, size_t errlen)
{
    double t0 = now_s();
    fetch_run r = {.c = c,
                   .bucket = bucket,
                   .prefix = prefix,
                   .dir = dir,
                   .o = o,
                   .part_size = o->part_size ? o->part_size : 8u << 20};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    s3_list_object *objs = NULL;
    size_t n_objs = 0;
    s3_manifest old = {0};
    bool have_old = false;
    char dirbuf[PATH_MAX];
    int rc = -1;
    CURL *h = s3_handle_new();
    snprintf(r.manifest, sizeof r.manifest, "%s/" S3_MANIFEST_NAME, dir);
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    if (!h) {
        snprintf(err, errlen, "curl_easy_init failed");
        goto done;
    }
    if (s3_list_all(c, h, bucket, prefix, o->list_page_size, &objs, &n_objs, err, errlen) != 0 ||
        collect(&r, objs, n_objs, err, errlen) != 0 || mkdir_p(dirbuf, err, errlen) != 0)
        goto done;
    have_old = s3_manifest_load(r.manifest, &old) == 0 && !strcmp(old.bucket, bucket) &&
               !strcmp(old.prefix, prefix);
    r.old = have_old ? &old : NULL;
    if (plan(&r, h, r.old, err, errlen) != 0 || check_space(&r, err, errlen) != 0) goto done;
    for (size_t i = 0; i < r.n_files; i++)
        if (r.files[i].need && r.files[i].parts_left == 0 &&
            finalize_file(&r, &r.files[i], err, errlen) != 0)
            goto done;
    int workers = o->concurrency > 0 ? o->concurrency : 8;
    if ((size_t)workers > r.n_tasks) workers = (int)r.n_tasks;
    if (workers > 0) run_workers(&r, workers);
    if (atomic_load(&r.abort)) {
        snprintf(err, errlen, "%s", r.err);
        goto done;
    }
    remove_stale(&r, r.old);
    rc = save_manifest(&r, true, err, errlen);
done:;
    size_t downloaded = 0, skipped = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < r.n_files; i++) {
        fetch_file *f = &r.files[i];
        total += f->size;
        downloaded += f->need;
        skipped += !f->need;
        if (f->open) s3_partial_close(&f->part);
        pthread_mutex_destroy(&f->mu);
    }
    double secs = now_s() - t0;
    if (o->stats) {
        model_source_stats *s = o->stats;
        s->objects = r.n_files;
        s->downloaded = downloaded;
        s->skipped = skipped;
        s->bytes_total = total;
        s->bytes_downloaded = atomic_load(&r.bytes_run);
        s->parts_fetched = atomic_load(&r.parts_run);
        s->requests = atomic_load(&c->requests);
        s->retries = atomic_load(&c->retries);
        s->resumes = atomic_load(&c->resumes);
        s->seconds = secs;
    }
    if (rc == 0 && o->progress != MS_PROGRESS_NONE) {
        char got[32], rate[32];
        human(atomic_load(&r.bytes_run), got, sizeof got);
        human(secs > 0 ? (uint64_t)((double)atomic_load(&r.bytes_run) / secs) : 0, rate,
              sizeof rate);
        fprintf(stderr,
                "berth: s3://%s/%s -> %s: %zu files, %zu downloaded (%s in %.1f s, %s/s), %zu "
                "already up to date\n",
                bucket, prefix, dir, r.n_files, downloaded, got, secs, rate, skipped);
    }
    free(r.files);
    free(r.tasks);
    s3_objects_free(objs, n_objs);
    s3_manifest_free(&old);
    if (h) curl_easy_cleanup(h);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    return rc;
}
