/* The key store: a JSON file of identities (access key, secret, principal ARN, optional session
 * token and expiration, IAM-style policy), loaded into an immutable, reference-counted snapshot and
 * swapped atomically on reload. Owns no token parsing (bearer_token) and no HTTP. */
#ifndef BERTH_AUTH_KEY_STORE_H
#define BERTH_AUTH_KEY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "server/auth/policy.h"

typedef struct {
    char *access_key_id;
    char *secret_access_key;
    char *principal_arn;
    char account[13];    /* from principal_arn */
    char *session_token; /* NULL for long-term keys */
    int64_t expiration;  /* Unix seconds; 0 = never */
    policy policy;
} keystore_identity;

typedef struct keystore keystore;

/* Parses a key file's text; `source` names it in errors. A bad file is NULL and a message naming
 * the field and index (never a secret's value). */
keystore *keystore_parse(const char *json, size_t len, const char *source, char *err,
                         size_t errlen);
keystore *keystore_load(const char *path, char *err, size_t errlen);
void keystore_retain(keystore *ks);
void keystore_release(keystore *ks); /* frees on the last reference */
size_t keystore_count(const keystore *ks);
const keystore_identity *keystore_find(const keystore *ks, const char *access_key_id);

/* `arn:aws:sagemaker:{region}:{account}:endpoint/{name}`, the name lower-cased as SageMaker writes
 * endpoint ARNs. Returns -1 when it does not fit. */
int keystore_endpoint_arn(char *out, size_t outlen, const char *region, const char *account,
                          const char *endpoint_name);

/* The live store for a file: readers take a reference, reload swaps the pointer under a mutex, so
 * a request in flight keeps the snapshot it started with. */
typedef struct keystore_handle keystore_handle;

keystore_handle *keystore_handle_open(const char *path, char *err, size_t errlen);
keystore *keystore_handle_acquire(keystore_handle *h); /* release with keystore_release */
/* Loads the file again; on success swaps it in, on failure keeps the old store and returns -1. */
int keystore_handle_reload(keystore_handle *h, char *err, size_t errlen);
void keystore_handle_close(keystore_handle *h);

#endif
