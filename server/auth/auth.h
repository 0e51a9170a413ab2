/* The one call the HTTP layer makes per request: given the Authorization header and the endpoint
 * name, answer 200, 401 or 403 with a message safe to send. Ties bearer_token, key_store, policy
 * and api_keys together; owns the live key store (reload on SIGHUP) but no HTTP, no logging. */
#ifndef BERTH_AUTH_AUTH_H
#define BERTH_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/auth/bearer_token.h"

#define AUTH_DEFAULT_CLOCK_SKEW 300

typedef struct {
    const char *keystore_path;  /* JSON identities for SigV4 bearer tokens; NULL: none */
    const char *const *regions; /* regions tokens may be scoped to; required with a key store */
    size_t n_regions;
    bool accept_bedrock;         /* also take bedrock-api-key- tokens */
    int64_t clock_skew;          /* seconds; AUTH_DEFAULT_CLOCK_SKEW is AWS's 5 minutes */
    const char *sagemaker_host;  /* host tokens are signed for; NULL: sagemaker.amazonaws.com */
    const char *bedrock_host;    /* NULL: bedrock.amazonaws.com */
    const char *const *api_keys; /* static keys (--api-key); may be empty */
    size_t n_api_keys;
    const char *api_keys_file; /* one key per line; NULL: none */
} auth_config;

typedef struct auth_ctx auth_ctx;

typedef struct {
    int status;              /* 200, 401 or 403 */
    const char *error_type;  /* OpenAI envelope type: NULL on 200 */
    const char *message;     /* static text, reveals nothing beyond the class */
    bearer_status reason;    /* why, for tests and counters; never send it */
    char principal_arn[256]; /* who, on 200 through a bearer token; "" for API keys */
} auth_result;

/* With neither a key store nor API keys auth is off and every request gets 200. A bad key file or
 * keys file is NULL and a message (the server refuses to start). */
auth_ctx *auth_create(const auth_config *cfg, char *err, size_t errlen);
bool auth_enabled(const auth_ctx *a);
/* `authorization` is the header value or NULL; `endpoint_name` the endpoint the request addresses
 * (an inference component resolves to its endpoint); `now` Unix seconds. Thread-safe. */
int auth_check_request(auth_ctx *a, const char *authorization, const char *endpoint_name,
                       int64_t now, auth_result *out);
/* The inference-component admin API: 200 only for a SageMaker bearer token whose identity's
 * policy allows `action` (e.g. "sagemaker:CreateInferenceComponent") on
 * arn:aws:sagemaker:REGION:ACCOUNT:inference-component/COMPONENT (on "*" when component is NULL, as
 * for List). Static API keys never pass here (the router has its own admin keys). Thread-safe. */
int auth_check_admin(auth_ctx *a, const char *authorization, const char *action, const char *component,
                     int64_t now, auth_result *out);
bool auth_has_key_store(const auth_ctx *a);

/* Re-reads the key store (SIGHUP). On error the old store stays in force and err says why. */
int auth_reload(auth_ctx *a, char *err, size_t errlen);
void auth_destroy(auth_ctx *a);

#endif
