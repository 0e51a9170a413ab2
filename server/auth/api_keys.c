#include "server/auth/api_keys.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct apikeys {
    unsigned char (*digests)[SHA256_DIGEST_LENGTH];
    size_t n, cap;
};

static int add_key(apikeys *k, const char *key, size_t len)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 8;
        void *p = realloc(k->digests, cap * sizeof *k->digests);
        if (!p) return -1;
        k->digests = p;
        k->cap = cap;
    }
    SHA256((const unsigned char *)key, len, k->digests[k->n++]);
    return 0;
}

static int load_file(apikeys *k, const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open API keys file: %s", file, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        char *s = line, *e = line + got;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == s || *s == '#') continue;
        if (add_key(k, s, (size_t)(e - s)) != 0) {
            snprintf(err, errlen, "%s: out of memory", file);
            rc = -1;
            break;
        }
    }
    if (line) OPENSSL_cleanse(line, cap);
    free(line);
    fclose(f);
    return rc;
}

apikeys *apikeys_create(const char *const *keys, size_t n, const char *file, char *err,
                        size_t errlen)
{
    apikeys *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "api keys: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] || !keys[i][0]) {
            snprintf(err, errlen, "--api-key #%zu: expected a non-empty key", i + 1);
            apikeys_free(k);
            return NULL;
        }
        if (add_key(k, keys[i], strlen(keys[i])) != 0) {
            snprintf(err, errlen, "api keys: out of memory");
            apikeys_free(k);
            return NULL;
        }
    }
    if (file && load_file(k, file, err, errlen) != 0) {
        apikeys_free(k);
        return NULL;
    }
    if (k->n == 0) {
        snprintf(err, errlen, "%s: no API key found (one key per line; '#' starts a comment)",
                 file ? file : "--api-key");
        apikeys_free(k);
        return NULL;
    }
    return k;
}

bool apikeys_check(const apikeys *k, const char *presented, size_t len)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)presented, len, d);
    int found = 0;
    for (size_t i = 0; i < k->n; i++)
        found |= CRYPTO_memcmp(d, k->digests[i], sizeof d) == 0;
    OPENSSL_cleanse(d, sizeof d);
    return found != 0;
}

size_t apikeys_count(const apikeys *k)
{
    return k->n;
}

void apikeys_free(apikeys *k)
{
    if (!k) return;
    if (k->digests) OPENSSL_cleanse(k->digests, k->cap * sizeof *k->digests);
    free(k->digests);
    free(k);
}
