/* SigV4: SHA-256 and HMAC (OpenSSL libcrypto), AWS URI encoding, canonical request, string to sign,
 * signing key, header signing and presigned-query signing. Pure computation shared by the server,
 * berth-token and the S3 client: no I/O, no clock, no credential lookup, no token format. */
#ifndef BERTH_MODELS_AWS_SIGV4_H
#define BERTH_MODELS_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* A growable byte string, always NUL-terminated. An allocation failure sets `oom` and later appends
 * do nothing, so callers check once at the end. */
typedef struct {
    char *data;
    size_t len, cap;
    bool oom;
} sigv4_buf;

void sigv4_buf_append(sigv4_buf *b, const char *s, size_t n);
void sigv4_buf_puts(sigv4_buf *b, const char *s);
/* Zeroes the bytes before freeing: buffers here may hold secrets or tokens. */
void sigv4_buf_free(sigv4_buf *b);

void sigv4_sha256_hex(const void *data, size_t len, char out[65]);
void sigv4_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                       unsigned char out[32]);
/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date8), region), service), "aws4_request"). */
void sigv4_signing_key(const char *secret, const char *date8, const char *region,
                       const char *service, unsigned char out[32]);

/* Percent-encodes every byte except A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash), uppercase hex.
 */
void sigv4_uri_encode(sigv4_buf *out, const char *s, size_t n, bool keep_slash);
/* Decodes %XX escapes ('+' stays '+'); returns -1 on a malformed escape. */
int sigv4_percent_decode(sigv4_buf *out, const char *s, size_t n);

/* Unix seconds <-> "yyyymmddThhmmssZ". Parsing is strict: exactly 16 characters, a real calendar
 * date; returns -1 otherwise. */
void sigv4_format_time(int64_t t, char out[17]);
int sigv4_parse_time(const char *s, size_t n, int64_t *out);
/* ISO 8601 as AWS writes expirations: "2024-01-01T12:00:00Z", optional fractional seconds, "Z" or a
 * "+hh:mm" / "-hh:mm" offset. Returns -1 when it is anything else. */
int sigv4_parse_iso8601(const char *s, int64_t *out);

typedef struct {
    const char *name;
    const char *value;
} sigv4_header;

typedef struct {
    const char *method;
    /* The path bytes as the client wrote them (before '?'); every byte outside the unreserved set
     * and
     * '/' is percent-encoded for the canonical URI. */
    const char *path;
    /* The raw query string after '?', or NULL. Pairs are percent-decoded, then re-encoded and
     * sorted for the canonical query; a presigned query keeps them first, in this order. */
    const char *query;
    const sigv4_header *headers;
    size_t n_headers;
    /* Hex payload hash to sign (e.g. SIGV4_UNSIGNED_PAYLOAD for S3 presigning); NULL: SHA-256 of
     * body. */
    const char *payload_hash;
    const void *body;
    size_t body_len;
} sigv4_request;

enum {
    SIGV4_NORMALIZE_PATH = 1u << 0,        /* remove "." / ".." segments and repeated slashes */
    SIGV4_CONTENT_SHA256_HEADER = 1u << 1, /* header signing adds a signed x-amz-content-sha256 */
    SIGV4_OMIT_SESSION_TOKEN = 1u << 2,    /* add the session token after signing, unsigned */
};

typedef struct {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "" for long-term credentials */
    const char *region;
    const char *service;
    int64_t time;    /* Unix seconds of the signature */
    int64_t expires; /* presigning: X-Amz-Expires in seconds */
    unsigned flags;
} sigv4_signer;

typedef struct {
    sigv4_buf canonical_request;
    sigv4_buf string_to_sign;
    char signature[65];
    char amz_date[17];
    /* Header signing: the Authorization header value. Presigning: the full query string, with the
     * request's own parameters first, then X-Amz-Algorithm, -Credential, -Date, -Expires,
     * -SignedHeaders, -Security-Token and -Signature (botocore's order). */
    sigv4_buf output;
    char payload_hash[65];
} sigv4_result;

/* Both return 0 on success, -1 with a message in err (invalid input or out of memory). */
int sigv4_sign_headers(const sigv4_signer *s, const sigv4_request *req, sigv4_result *out,
                       char *err, size_t errlen);
int sigv4_presign(const sigv4_signer *s, const sigv4_request *req, sigv4_result *out, char *err,
                  size_t errlen);
void sigv4_result_free(sigv4_result *r);

#endif
