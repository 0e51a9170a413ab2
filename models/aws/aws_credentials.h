/* The standard AWS credential chain (environment; shared credentials and config files with profiles
 * and credential_process; container credentials; EC2 IMDSv2) and region resolution, as botocore
 * resolves them. Network calls only to the container and instance-metadata endpoints, with short
 * timeouts. Never prints a secret; signs nothing (sigv4, bearer_token do). */
#ifndef BERTH_MODELS_AWS_AWS_CREDENTIALS_H
#define BERTH_MODELS_AWS_AWS_CREDENTIALS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char access_key_id[129];
    char secret_access_key[129];
    char *session_token; /* NULL for long-term keys */
    int64_t expiration;  /* Unix seconds; 0 = none */
    char source[48];     /* "environment", "shared-credentials-file", "credential_process",
                            "config-file", "container", "instance-metadata" */
} awscred;

typedef struct {
    const char *profile; /* an explicit profile (--profile); NULL: $AWS_PROFILE, else "default" */
    long timeout_ms;     /* container and instance-metadata requests; 0: 1000 */
} awscred_options;

/* 0 with credentials in out (clear them with awscred_clear), -1 with a message naming what was
 * tried. An explicit profile skips the environment keys, as botocore does. */
int awscred_resolve(const awscred_options *opt, awscred *out, char *err, size_t errlen);
void awscred_clear(awscred *c);

/* Region: explicit, else $AWS_REGION, else $AWS_DEFAULT_REGION, else the profile's `region` in the
 * config file. */
int awscred_region(const char *explicit_region, const char *profile, char *out, size_t outlen,
                   char *err, size_t errlen);

#endif
