#include "server/auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/auth/api_keys.h"
#include "server/auth/key_store.h"

struct auth_ctx {
    keystore_handle *keys;
    apikeys *api_keys;
    bearer_options opt;
    char **regions;
    char *sagemaker_host, *bedrock_host;
};

static const char MSG_401[] = "Invalid or missing authentication credentials.";
static const char MSG_403[] = "The authenticated identity is not allowed to access this endpoint.";

auth_ctx *auth_create(const auth_config *cfg, char *err, size_t errlen)
{
    auth_ctx *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "auth: out of memory");
        return NULL;
    }
    if (cfg->keystore_path) {
        if (cfg->n_regions == 0) {
            snprintf(err, errlen,
                     "auth: a key store needs at least one region that tokens may be "
                     "scoped to (e.g. --region us-east-1)");
            goto fail;
        }
        a->regions = calloc(cfg->n_regions, sizeof *a->regions);
        a->opt.n_regions = a->regions ? cfg->n_regions : 0;
        for (size_t i = 0; a->regions && i < cfg->n_regions; i++) {
            a->regions[i] = strdup(cfg->regions[i]);
            if (!a->regions[i]) {
                snprintf(err, errlen, "auth: out of memory");
                goto fail;
            }
        }
        if (!a->regions) {
            snprintf(err, errlen, "auth: out of memory");
            goto fail;
        }
        a->opt = (bearer_options){.regions = (const char *const *)a->regions,
                                  .n_regions = cfg->n_regions,
                                  .accept_bedrock = cfg->accept_bedrock,
                                  .clock_skew = cfg->clock_skew};
        a->sagemaker_host = cfg->sagemaker_host ? strdup(cfg->sagemaker_host) : NULL;
        a->bedrock_host = cfg->bedrock_host ? strdup(cfg->bedrock_host) : NULL;
        if ((cfg->sagemaker_host && !a->sagemaker_host) ||
            (cfg->bedrock_host && !a->bedrock_host)) {
            snprintf(err, errlen, "auth: out of memory");
            goto fail;
        }
        a->opt.sagemaker_host = a->sagemaker_host;
        a->opt.bedrock_host = a->bedrock_host;
        a->keys = keystore_handle_open(cfg->keystore_path, err, errlen);
        if (!a->keys) goto fail;
    }
    if (cfg->n_api_keys || cfg->api_keys_file) {
        a->api_keys =
            apikeys_create(cfg->api_keys, cfg->n_api_keys, cfg->api_keys_file, err, errlen);
        if (!a->api_keys) goto fail;
    }
    return a;
fail:
    auth_destroy(a);
    return NULL;
}

bool auth_enabled(const auth_ctx *a)
{
    return a->keys || a->api_keys;
}

static int finish(auth_result *out, int status, bearer_status reason)
{
    out->status = status;
    out->reason = reason;
    out->error_type = status == 200   ? NULL
                      : status == 403 ? "permission_error"
                                      : "authentication_error";
    out->message = status == 200 ? "" : status == 403 ? MSG_403 : MSG_401;
    return status;
}

/* "Bearer <credential>": the scheme is case-insensitive, spaces around the credential are not
 * part of it. */
static const char *bearer_credential(const char *h, size_t *len)
{
    while (*h == ' ' || *h == '\t')
        h++;
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) return NULL;
    h += 6;
    while (*h == ' ' || *h == '\t')
        h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    *len = n;
    return h;
}

static bool looks_like_token(const char *c, size_t n)
{
    size_t sp = strlen(BEARER_SAGEMAKER_PREFIX), bp = strlen(BEARER_BEDROCK_PREFIX);
    return (n >= sp && memcmp(c, BEARER_SAGEMAKER_PREFIX, sp) == 0) ||
           (n >= bp && memcmp(c, BEARER_BEDROCK_PREFIX, bp) == 0);
}

/* What a verified identity asks to do, decided against its policy (beside CallWithBearerToken). */
typedef bool (*grant_fn)(const bearer_token *t, const keystore_identity *id, const void *ctx);

/* Parses a signed token, verifies it against the key store, then grants: 200, 403 (signed by a
 * known identity whose policy denies) or 401 with the token's status. */
static int check_signed(auth_ctx *a, const char *cred, size_t len, int64_t now, grant_fn grant,
                        const void *ctx, auth_result *out)
{
    bearer_token t;
    bearer_status st = bearer_parse(cred, len, &a->opt, &t);
    if (st != BEARER_OK) {
        bearer_token_free(&t);
        return finish(out, 401, st);
    }
    keystore *ks = keystore_handle_acquire(a->keys);
    const keystore_identity *id = keystore_find(ks, t.access_key_id);
    bearer_key key = {0};
    if (id) key = (bearer_key){id->secret_access_key, id->session_token, id->expiration};
    st = bearer_verify(&t, id ? &key : NULL, &a->opt, now);
    int status = 401;
    if (st == BEARER_OK) {
        char call[64];
        snprintf(call, sizeof call, "%s:CallWithBearerToken", t.service);
        bool allowed =
            policy_evaluate(&id->policy, call, "*") == POLICY_ALLOW && grant(&t, id, ctx);
        status = allowed ? 200 : 403;
        snprintf(out->principal_arn, sizeof out->principal_arn, "%s", id->principal_arn);
    }
    keystore_release(ks);
    bearer_token_free(&t);
    return finish(out, status, st);
}

/* sagemaker:InvokeEndpoint on the endpoint's ARN; a name that does not fit an ARN is denied. */
static bool grant_invoke(const bearer_token *t, const keystore_identity *id, const void *ctx)
{
    const char *endpoint = ctx;
    char arn[512];
    return keystore_endpoint_arn(arn, sizeof arn, t->region, id->account,
                                 endpoint ? endpoint : "") == 0 &&
           policy_evaluate(&id->policy, "sagemaker:InvokeEndpoint", arn) == POLICY_ALLOW;
}

int auth_check_request(auth_ctx *a, const char *authorization, const char *endpoint_name,
                       int64_t now, auth_result *out)
{
    memset(out, 0, sizeof *out);
    if (!auth_enabled(a)) return finish(out, 200, BEARER_OK);
    if (!authorization || !*authorization) return finish(out, 401, BEARER_MISSING);
    size_t len;
    const char *cred = bearer_credential(authorization, &len);
    if (!cred || len == 0) return finish(out, 401, cred ? BEARER_MISSING : BEARER_MALFORMED);
    if (a->keys && looks_like_token(cred, len))
        return check_signed(a, cred, len, now, grant_invoke, endpoint_name, out);
    if (a->api_keys && apikeys_check(a->api_keys, cred, len)) return finish(out, 200, BEARER_OK);
    return finish(out, 401, a->api_keys ? BEARER_UNKNOWN_KEY : BEARER_MALFORMED);
}

bool auth_has_key_store(const auth_ctx *a)
{
    return a && a->keys;
}

typedef struct admin_ask {
    const char *action;    /* sagemaker:<Operation> */
    const char *component; /* NULL: the operation is not on one component (List) */
} admin_ask;

/* The admin action on the component's ARN ("*" when there is none). */
static bool grant_admin(const bearer_token *t, const keystore_identity *id, const void *ctx)
{
    const admin_ask *ask = ctx;
    char arn[512];
    int n = ask->component
                ? snprintf(arn, sizeof arn, "arn:aws:sagemaker:%s:%s:inference-component/%s",
                           t->region, id->account, ask->component)
                : snprintf(arn, sizeof arn, "*");
    if (n <= 0 || (size_t)n >= sizeof arn) return false;
    /* SageMaker lower-cases resource names in ARNs */
    if (ask->component)
        for (char *p = strrchr(arn, '/') + 1; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return policy_evaluate(&id->policy, ask->action, arn) == POLICY_ALLOW;
}

int auth_check_admin(auth_ctx *a, const char *authorization, const char *action,
                     const char *component, int64_t now, auth_result *out)
{
    memset(out, 0, sizeof *out);
    size_t len = 0;
    const char *cred = authorization ? bearer_credential(authorization, &len) : NULL;
    if (!a || !a->keys || !cred || len == 0 || !looks_like_token(cred, len))
        return finish(out, 401, cred && len ? BEARER_MALFORMED : BEARER_MISSING);
    admin_ask ask = {action, component};
    return check_signed(a, cred, len, now, grant_admin, &ask, out);
}

int auth_reload(auth_ctx *a, char *err, size_t errlen)
{
    if (!a->keys) {
        snprintf(err, errlen, "auth: no key store configured, nothing to reload");
        return -1;
    }
    return keystore_handle_reload(a->keys, err, errlen);
}

void auth_destroy(auth_ctx *a)
{
    if (!a) return;
    keystore_handle_close(a->keys);
    apikeys_free(a->api_keys);
    for (size_t i = 0; a->regions && i < a->opt.n_regions; i++)
        free(a->regions[i]);
    free(a->regions);
    free(a->sagemaker_host);
    free(a->bedrock_host);
    free(a);
}
