/* Where a model comes from: a local directory is used as is; an s3://bucket/prefix/ URL is
 * downloaded (parallel ranged GETs, resumable, verified) into a cache directory that is returned
 * only once complete. Must not: parse model files beyond checking that config.json and weights
 * exist; signing and credentials belong to server/auth. */
#ifndef BERTH_MODELS_SOURCE_MODEL_SOURCE_H
#define BERTH_MODELS_SOURCE_MODEL_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    MS_PROGRESS_AUTO, /* a bar when stderr is a terminal, log lines otherwise */
    MS_PROGRESS_NONE,
    MS_PROGRESS_BAR,
    MS_PROGRESS_LOG,
} ms_progress;

typedef struct {
    size_t objects;             /* listed under the prefix */
    size_t downloaded, skipped; /* objects that needed a download in this run / were up to date */
    uint64_t bytes_total;       /* all listed objects */
    uint64_t bytes_downloaded;  /* body bytes received in this run, retries included */
    size_t parts_fetched, parts_resumed;
    unsigned long requests, retries;
    unsigned long resumes; /* retried GETs that continued from the bytes already received */
    double seconds;
} model_source_stats;

typedef struct {
    const char *cache_dir; /* NULL: $XDG_CACHE_HOME/berth/s3, else ~/.cache/berth/s3 */
    const char *profile;   /* NULL: $AWS_PROFILE, else "default" */
    const char *region;    /* NULL: the credential chain's region, else us-east-1 */
    const char *endpoint;  /* NULL: $AWS_ENDPOINT_URL_S3, else $AWS_ENDPOINT_URL, else AWS */
    bool path_style;       /* always path-style addressing (also implied by an endpoint override) */
    uint64_t part_size;    /* bytes per ranged GET, 0: 8 MiB */
    int concurrency;       /* parallel GETs, 0: 8 */
    int max_attempts;      /* attempts in a row without progress, 0: $AWS_MAX_ATTEMPTS, else 5 */
    long connect_timeout_s; /* 0: $BERTH_S3_CONNECT_TIMEOUT, else 60 */
    long read_timeout_s;    /* no byte for this long fails an attempt, 0: $BERTH_S3_READ_TIMEOUT,
                             * else 60 */
    int list_page_size;     /* ListObjectsV2 max-keys, 0: the server's default (1000) */
    ms_progress progress;
    long log_interval_ms;      /* log-line progress period, 0: 5000 */
    model_source_stats *stats; /* filled when not NULL */
    /* Test hooks (documented in docs/s3.md): stop with an error after this many parts were written
     * in this run (0: never), and pretend the file system has this many bytes free (0: statvfs). */
    long fail_after_parts;
    uint64_t assume_free_bytes;
} model_source_options;

bool model_source_is_s3(const char *model_arg);

/* Splits "s3://bucket/prefix" into bucket and prefix; a non-empty prefix gets a trailing '/' so
 * that "models/a" does not also match "models/ab/". 0, or -1 naming what is wrong. */
int model_source_parse_s3_url(const char *url, char *bucket, size_t bucketlen, char *prefix,
                              size_t prefixlen, char *err, size_t errlen);

/* The cache directory for an S3 URL: <cache root>/<bucket>/<prefix without its trailing '/'>, or
 * <cache root>/<bucket>/_root for the whole bucket. */
int model_source_cache_path(const char *url, const char *cache_dir, char *out, size_t outlen,
                            char *err, size_t errlen);

/* Downloads every object under an s3:// URL into dir (key minus prefix = relative path). Returns 0
 * only when every file is complete and verified and the manifest is written; -1 with a message
 * otherwise (what finished is kept and a rerun resumes). */
int model_source_fetch(const char *s3_url, const char *dir, const model_source_options *opt,
                       char *err, size_t errlen);

/* A local path is copied to local_dir as is; an s3:// URL is fetched into its cache directory and
 * that directory is returned. 0, or -1 with a message. */
int model_source_resolve(const char *model_arg, const model_source_options *opt, char *local_dir,
                         size_t len, char *err, size_t errlen);

#endif
