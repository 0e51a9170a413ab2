/* Bearer tokens in the format of the SageMaker SDK's generate_token (and Amazon Bedrock's
 * short-term API keys): parse, verify against the signing identity's secret, and generate. No I/O,
 * no clock (callers pass `now`), no key lookup or policy (key_store), and never a token or secret
 * in output. */
#ifndef BERTH_AUTH_BEARER_TOKEN_H
#define BERTH_AUTH_BEARER_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/aws/sigv4.h"

#define BEARER_SAGEMAKER_PREFIX "sagemaker-api-key-"
#define BEARER_BEDROCK_PREFIX "bedrock-api-key-"
#define BEARER_MAX_TOKEN_LEN 16384 /* characters after the prefix */
#define BEARER_MAX_EXPIRES 43200   /* 12 hours, as AWS allows */

/* Every reason a token is refused is a 401; the reason is for tests and the server's own counters,
 * never for the client. */
typedef enum {
    BEARER_OK = 0,
    BEARER_MISSING,
    BEARER_MALFORMED,
    BEARER_UNKNOWN_KEY,
    BEARER_BAD_SIGNATURE,
    BEARER_EXPIRED,
    BEARER_NOT_YET_VALID,
    BEARER_WRONG_REGION,
    BEARER_WRONG_SERVICE,
    BEARER_SESSION_TOKEN_MISMATCH,
} bearer_status;

const char *bearer_status_name(bearer_status s);

typedef enum { BEARER_SAGEMAKER, BEARER_BEDROCK } bearer_kind;

typedef struct {
    const char *const *regions; /* regions the server serves; at least one */
    size_t n_regions;
    bool accept_bedrock;        /* also take bedrock-api-key- tokens (service bedrock) */
    int64_t clock_skew;         /* seconds a token may be dated in the future */
    const char *sagemaker_host; /* NULL: sagemaker.amazonaws.com */
    const char *bedrock_host;   /* NULL: bedrock.amazonaws.com */
} bearer_options;

typedef struct {
    bearer_kind kind;
    char service[16];
    char access_key_id[129];
    char region[64];
    char amz_date[17];
    int64_t signed_at;
    int64_t expires;
    char signature[65];
    char *session_token; /* decoded X-Amz-Security-Token, or NULL; owned */
} bearer_token;

/* Parses `value` (the credential after "Bearer ") and checks everything that needs no secret:
 * prefix, base64, URL shape, parameters, credential scope (service, allowed region) and the
 * X-Amz-Expires range. BEARER_OK fills `out` (free it with bearer_token_free in every case). */
bearer_status bearer_parse(const char *value, size_t len, const bearer_options *opt,
                           bearer_token *out);
void bearer_token_free(bearer_token *t);

/* The signing identity as the key store knows it. */
typedef struct {
    const char *secret_access_key;
    const char *session_token; /* NULL for long-term keys */
    int64_t expiration;        /* Unix seconds; 0 = never */
} bearer_key;

/* Recomputes the signature (constant-time compare), then checks the session token and the time
 * window: dated no later than now + clock_skew, not past X-Amz-Date + X-Amz-Expires, and not past
 * the signing credentials' own expiration. */
bearer_status bearer_verify(const bearer_token *t, const bearer_key *key, const bearer_options *opt,
                            int64_t now);

typedef struct {
    bearer_kind kind;
    const char *host; /* NULL: the kind's default host */
    const char *region;
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL for long-term keys */
    int64_t now;
    int64_t expires; /* 1..BEARER_MAX_EXPIRES */
} bearer_request;

/* Builds the token exactly as generate_token does. 0 on success, -1 with a message. */
int bearer_generate(const bearer_request *g, sigv4_buf *out, char *err, size_t errlen);

#endif
