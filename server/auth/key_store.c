#include "server/auth/key_store.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/aws/sigv4.h"

#define MAX_KEY_FILE (16u << 20)

struct keystore {
    atomic_int refs;
    keystore_identity *ids; /* sorted by access_key_id */
    size_t n;
};

struct keystore_handle {
    pthread_mutex_t mu;
    keystore *current;
    char *path;
};

static void wipe_free(char *s)
{
    if (!s) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

static void free_store(keystore *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        keystore_identity *id = &ks->ids[i];
        free(id->access_key_id);
        wipe_free(id->secret_access_key);
        free(id->principal_arn);
        wipe_free(id->session_token);
        policy_free(&id->policy);
    }
    free(ks->ids);
    free(ks);
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(((const keystore_identity *)a)->access_key_id,
                  ((const keystore_identity *)b)->access_key_id);
}

static const char *opt_string(const cJSON *obj, const char *name, bool required, const char *where,
                              char *err, size_t errlen, bool *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v && !required) return NULL;
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        snprintf(err, errlen, "%s.%s: expected a non-empty string", where, name);
        *bad = true;
        return NULL;
    }
    return v->valuestring;
}

/* arn:{partition}:iam::{account}:... or arn:{partition}:sts::{account}:assumed-role/... */
static int account_of(const char *arn, char account[13])
{
    const char *p = arn;
    for (int field = 0; field < 4; field++) {
        p = strchr(p, ':');
        if (!p) return -1;
        p++;
    }
    if (strncmp(arn, "arn:", 4) != 0) return -1;
    for (int i = 0; i < 12; i++)
        if (p[i] < '0' || p[i] > '9') return -1;
    if (p[12] != ':' || p[13] == '\0') return -1;
    memcpy(account, p, 12);
    account[12] = '\0';
    return 0;
}

static int parse_identity(const cJSON *o, const char *where, keystore_identity *id, char *err,
                          size_t errlen)
{
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "%s: expected an object", where);
        return -1;
    }
    static const char *const known[] = {"access_key_id", "secret_access_key", "principal_arn",
                                        "session_token", "expiration",        "policy"};
    for (const cJSON *f = o->child; f; f = f->next) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            ok |= strcmp(f->string, known[i]) == 0;
        if (!ok) {
            snprintf(err, errlen,
                     "%s.%s: unknown field (expected access_key_id, secret_access_key, "
                     "principal_arn, session_token, expiration, policy)",
                     where, f->string);
            return -1;
        }
    }
    bool bad = false;
    const char *akid = opt_string(o, "access_key_id", true, where, err, errlen, &bad);
    const char *secret =
        bad ? NULL : opt_string(o, "secret_access_key", true, where, err, errlen, &bad);
    const char *arn = bad ? NULL : opt_string(o, "principal_arn", true, where, err, errlen, &bad);
    const char *token =
        bad ? NULL : opt_string(o, "session_token", false, where, err, errlen, &bad);
    const char *exp = bad ? NULL : opt_string(o, "expiration", false, where, err, errlen, &bad);
    if (bad) return -1;
    for (const char *c = akid; *c; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')) ||
            c - akid >= 128) {
            snprintf(err, errlen, "%s.access_key_id: expected 1..128 letters and digits", where);
            return -1;
        }
    }
    if (account_of(arn, id->account) != 0) {
        snprintf(err, errlen,
                 "%s.principal_arn: expected arn:aws:iam::<12-digit account>:<resource>", where);
        return -1;
    }
    if (exp && sigv4_parse_iso8601(exp, &id->expiration) != 0) {
        snprintf(err, errlen,
                 "%s.expiration: expected an ISO 8601 time such as 2030-01-01T00:00:00Z", where);
        return -1;
    }
    char pwhere[600];
    snprintf(pwhere, sizeof pwhere, "%s.policy", where);
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(o, "policy");
    if (!pol) {
        snprintf(err, errlen,
                 "%s: missing (every identity needs a policy; access is denied by default)",
                 pwhere);
        return -1;
    }
    if (policy_parse(pol, pwhere, &id->policy, err, errlen) != 0) return -1;
    id->access_key_id = strdup(akid);
    id->secret_access_key = strdup(secret);
    id->principal_arn = strdup(arn);
    id->session_token = token ? strdup(token) : NULL;
    if (!id->access_key_id || !id->secret_access_key || !id->principal_arn ||
        (token && !id->session_token)) {
        snprintf(err, errlen, "%s: out of memory", where);
        return -1;
    }
    return 0;
}

keystore *keystore_parse(const char *json, size_t len, const char *source, char *err, size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= json && at <= json + len ? (long)(at - json) : -1;
        snprintf(err, errlen, "%s: not valid JSON (near byte %ld)", source, off);
        return NULL;
    }
    keystore *ks = calloc(1, sizeof *ks);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(root, "identities");
    if (!ks) {
        snprintf(err, errlen, "%s: out of memory", source);
        goto fail;
    }
    atomic_init(&ks->refs, 1);
    if (!cJSON_IsObject(root) || !cJSON_IsArray(ids)) {
        snprintf(err, errlen, "%s: expected an object with an \"identities\" list", source);
        goto fail;
    }
    size_t n = (size_t)cJSON_GetArraySize(ids);
    ks->ids = calloc(n ? n : 1, sizeof *ks->ids);
    if (!ks->ids) {
        snprintf(err, errlen, "%s: out of memory", source);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        char where[512];
        snprintf(where, sizeof where, "%s: identities[%zu]", source, i);
        keystore_identity *id = &ks->ids[i];
        int rc = parse_identity(cJSON_GetArrayItem(ids, (int)i), where, id, err, errlen);
        ks->n = i + 1;
        if (rc != 0) goto fail;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ks->ids[j].access_key_id, id->access_key_id) == 0) {
                snprintf(err, errlen, "%s.access_key_id: the same key as identities[%zu]", where,
                         j);
                goto fail;
            }
        }
    }
    qsort(ks->ids, ks->n, sizeof *ks->ids, id_cmp);
    cJSON_Delete(root);
    return ks;
fail:
    if (ks) free_store(ks);
    cJSON_Delete(root);
    return NULL;
}

keystore *keystore_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open key file: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_KEY_FILE);
    size_t n = buf ? fread(buf, 1, MAX_KEY_FILE, f) : 0;
    bool too_big = buf && n == MAX_KEY_FILE;
    fclose(f);
    if (!buf || too_big) {
        snprintf(err, errlen, "%s: %s", path,
                 buf ? "key file larger than 16 MiB" : "out of memory");
        free(buf);
        return NULL;
    }
    keystore *ks = keystore_parse(buf, n, path, err, errlen);
    OPENSSL_cleanse(buf, n);
    free(buf);
    return ks;
}

void keystore_retain(keystore *ks)
{
    atomic_fetch_add(&ks->refs, 1);
}

void keystore_release(keystore *ks)
{
    if (ks && atomic_fetch_sub(&ks->refs, 1) == 1) free_store(ks);
}

size_t keystore_count(const keystore *ks)
{
    return ks->n;
}

const keystore_identity *keystore_find(const keystore *ks, const char *access_key_id)
{
    keystore_identity key = {.access_key_id = (char *)access_key_id};
    return bsearch(&key, ks->ids, ks->n, sizeof *ks->ids, id_cmp);
}

int keystore_endpoint_arn(char *out, size_t outlen, const char *region, const char *account,
                          const char *endpoint_name)
{
    int n = snprintf(out, outlen, "arn:aws:sagemaker:%s:%s:endpoint/%s", region, account,
                     endpoint_name);
    if (n < 0 || (size_t)n >= outlen) return -1;
    for (char *p = strrchr(out, '/') + 1; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return 0;
}

keystore_handle *keystore_handle_open(const char *path, char *err, size_t errlen)
{
    keystore *ks = keystore_load(path, err, errlen);
    if (!ks) return NULL;
    keystore_handle *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(path))) {
        free(h);
        keystore_release(ks);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    h->current = ks;
    return h;
}

keystore *keystore_handle_acquire(keystore_handle *h)
{
    pthread_mutex_lock(&h->mu);
    keystore *ks = h->current;
    keystore_retain(ks);
    pthread_mutex_unlock(&h->mu);
    return ks;
}

int keystore_handle_reload(keystore_handle *h, char *err, size_t errlen)
{
    /* Parse outside the lock: readers never wait on file I/O. */
    keystore *fresh = keystore_load(h->path, err, errlen);
    if (!fresh) return -1;
    pthread_mutex_lock(&h->mu);
    keystore *old = h->current;
    h->current = fresh;
    pthread_mutex_unlock(&h->mu);
    keystore_release(old);
    return 0;
}

void keystore_handle_close(keystore_handle *h)
{
    if (!h) return;
    keystore_release(h->current);
    pthread_mutex_destroy(&h->mu);
    free(h->path);
    free(h);
}
