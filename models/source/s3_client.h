/* A minimal S3 REST client over libcurl: addressing (virtual-hosted or path-style, endpoint
 * override), SigV4-signed requests with retries and exponential backoff, region redirects, and the
 * three calls the model fetcher needs (ListObjectsV2, HeadObject, ranged GetObject).
 * Must not: touch files or know about models; signing and credentials come from models/aws. */
#ifndef BERTH_MODELS_SOURCE_S3_CLIENT_H
#define BERTH_MODELS_SOURCE_S3_CLIENT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/source/s3_xml.h"
#include "models/aws/aws_credentials.h"
#include "models/aws/sigv4.h"

typedef struct {
    const char *profile;  /* NULL: $AWS_PROFILE, else "default" */
    const char *region;   /* NULL: the credential chain's region, else us-east-1 */
    const char *endpoint; /* NULL: $AWS_ENDPOINT_URL_S3, else $AWS_ENDPOINT_URL, else AWS */
    bool path_style;      /* force path-style addressing */
    int max_attempts;     /* attempts without progress per request, 0: $AWS_MAX_ATTEMPTS, else 5 */
    long connect_timeout_s; /* 0: $BERTH_S3_CONNECT_TIMEOUT, else 60 s (botocore's connect_timeout)
                             */
    long read_timeout_s;    /* no byte for this long fails an attempt; 0: $BERTH_S3_READ_TIMEOUT,
                             * else 60 s (botocore's read_timeout) */
} s3_client_options;

/* Where requests go. Pure data so that URL construction can be tested on its own. */
typedef struct {
    char scheme[8];      /* "https" or "http" */
    char host[256];      /* authority of an endpoint override (host[:port]); "" for AWS */
    char base_path[256]; /* path of an endpoint override, no trailing slash */
    bool path_style;
} s3_addr;

typedef struct {
    s3_addr addr;
    awscred cred;
    char region[64];
    awscred_options cred_opt;
    int max_attempts;
    long connect_timeout_s, read_timeout_s;
    pthread_mutex_t mu; /* guards region and cred: a redirect or a refresh changes them */
    atomic_ulong requests, retries;
    atomic_ulong resumes; /* ranged GETs retried from the first byte not yet received */
} s3_client;

typedef struct {
    long status;
    char etag[128];
    char checksum_sha256[64];
    char checksum_crc32[16];
    char checksum_type[32];
    char bucket_region[64];
    uint64_t content_length;
    bool has_content_length;
    sigv4_buf body; /* error bodies, and the body of calls without a sink */
} s3_response;

/* Receives a successful response's body. `reset` (optional) runs before every attempt of
 * s3_request, so a retried body starts over; s3_get_range never calls it. `write` returns 0, or -1
 * with a message in the sink's own buffer to abort. */
typedef struct {
    void (*reset)(void *ctx);
    int (*write)(void *ctx, const char *data, size_t n);
    void *ctx;
} s3_sink;

/* Parses an endpoint URL ("http://127.0.0.1:9000", "https://minio.local/base") into addr.
 * 0, or -1 naming what is wrong. */
int s3_addr_parse_endpoint(const char *url, s3_addr *addr, char *err, size_t errlen);
/* The request URL, the Host header and the unencoded path to sign, for a bucket and a key (key
 * "" for bucket-level calls) and an already-encoded query (or NULL). Dots in a bucket name force
 * path-style on AWS hosts, as TLS wildcard certificates cannot match them. */
int s3_build_url(const s3_addr *addr, const char *region, const char *bucket, const char *key,
                 const char *query, sigv4_buf *url, sigv4_buf *host, sigv4_buf *path);

/* Resolves credentials, region and endpoint. 0, or -1 with a message (no credentials: names what
 * the chain tried). */
int s3_client_init(s3_client *c, const s3_client_options *o, char *err, size_t errlen);
void s3_client_free(s3_client *c);
/* One curl easy handle per thread; it keeps its connection alive across requests. */
CURL *s3_handle_new(void);

/* One signed request with retries: 5xx, 429, timeouts (no byte for read_timeout_s) and connection
 * errors back off exponentially (200 ms doubling, capped at 10 s, with jitter) up to max_attempts;
 * a 301/400 that names the bucket's region in x-amz-bucket-region switches the region once. When
 * expect_len is not UINT64_MAX a 2xx body of another length counts as a dropped connection and is
 * retried. Returns 0 with resp filled (any status: the caller judges 4xx), -1 when no response came
 * (message in err). headers: extra headers to send and sign. */
int s3_request(s3_client *c, CURL *h, const char *method, const char *bucket, const char *key,
               const char *query, const sigv4_header *headers, size_t n_headers,
               const s3_sink *sink, uint64_t expect_len, s3_response *resp, char *err,
               size_t errlen);
void s3_response_free(s3_response *r);

/* GET bytes [start, start + len) of an object (If-Match: etag when etag is not empty) into sink,
 * as s3_request retries, but resuming: a failed attempt's bytes stay in the sink and the next
 * attempt asks only for the rest, and an attempt that received bytes does not count against
 * max_attempts (only consecutive attempts without progress do). A 200 to a range that does not
 * start at 0 is refused (the server ignored Range). Returns as s3_request; on 0, resp is the last
 * attempt's response. */
int s3_get_range(s3_client *c, CURL *h, const char *bucket, const char *key, const char *etag,
                 uint64_t start, uint64_t len, const s3_sink *sink, s3_response *resp, char *err,
                 size_t errlen);

/* "403 AccessDenied: Access Denied" from a response, for messages. */
void s3_describe_status(const s3_response *r, char *out, size_t outlen);

/* Every object under a prefix, following continuation tokens. page_size 0: the server's default.
 * 0 with objects (free with s3_objects_free), -1 with a message naming bucket and prefix. */
int s3_list_all(s3_client *c, CURL *h, const char *bucket, const char *prefix, int page_size,
                s3_list_object **objects, size_t *n, char *err, size_t errlen);
void s3_objects_free(s3_list_object *objects, size_t n);

#endif
