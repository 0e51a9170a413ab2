#include "server/http/http_tls.h"

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHAIN 16

/* One loaded pair. Sets are never freed while the server lives: a handshake that got a pointer
 * from the callback may still use it after a reload, and rotations are rare (a few KB each). */
struct cert_set {
    gnutls_pcert_st pcert[MAX_CHAIN];
    unsigned n_pcert;
    gnutls_privkey_t key;
    struct cert_set *older;
};

struct http_tls {
    char *cert_path, *key_path;
    pthread_mutex_t mu;
    struct cert_set *current; /* read by handshakes under mu */
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static http_tls *g_tls;

static void set_free(struct cert_set *c)
{
    while (c) {
        struct cert_set *o = c->older;
        for (unsigned i = 0; i < c->n_pcert; i++)
            gnutls_pcert_deinit(&c->pcert[i]);
        if (c->key) gnutls_privkey_deinit(c->key);
        free(c);
        c = o;
    }
}

static int read_file(const char *path, const char *what, gnutls_datum_t *out, char *err,
                     size_t errlen)
{
    int rc = gnutls_load_file(path, out);
    if (rc < 0) {
        snprintf(err, errlen, "http: cannot read TLS %s file %s: %s", what, path,
                 gnutls_strerror(rc));
        return -1;
    }
    if (!out->data || !strstr((const char *)out->data, "-----BEGIN ")) {
        snprintf(err, errlen, "http: TLS %s file %s is empty or not PEM (expected -----BEGIN)",
                 what, path);
        gnutls_free(out->data);
        return -1;
    }
    return 0;
}

static struct cert_set *load(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    gnutls_datum_t cert = {0}, key = {0};
    if (read_file(cert_path, "certificate", &cert, err, errlen)) return NULL;
    if (read_file(key_path, "key", &key, err, errlen)) {
        gnutls_free(cert.data);
        return NULL;
    }
    struct cert_set *c = calloc(1, sizeof *c);
    gnutls_certificate_credentials_t check = NULL;
    int rc = c ? 0 : GNUTLS_E_MEMORY_ERROR;
    const char *step = "out of memory";
    if (rc == 0) {
        c->n_pcert = MAX_CHAIN;
        step = "certificate";
        rc =
            gnutls_pcert_list_import_x509_raw(c->pcert, &c->n_pcert, &cert, GNUTLS_X509_FMT_PEM, 0);
        if (rc < 0) c->n_pcert = 0;
    }
    if (rc == 0) {
        step = "key";
        rc = gnutls_privkey_init(&c->key);
        if (rc == 0)
            rc = gnutls_privkey_import_x509_raw(c->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    }
    /* The pair must match, or every handshake would fail after a bad rotation. */
    if (rc == 0) {
        step = "certificate and key (do they match?)";
        rc = gnutls_certificate_allocate_credentials(&check);
        if (rc == 0)
            rc = gnutls_certificate_set_x509_key_mem(check, &cert, &key, GNUTLS_X509_FMT_PEM);
        if (rc > 0) rc = 0;
    }
    if (check) gnutls_certificate_free_credentials(check);
    gnutls_free(cert.data);
    gnutls_memset(key.data, 0, key.size);
    gnutls_free(key.data);
    if (rc < 0) {
        snprintf(err, errlen, "http: TLS %s (%s, %s): %s", step, cert_path, key_path,
                 gnutls_strerror(rc));
        set_free(c);
        return NULL;
    }
    return c;
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    (void)session, (void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    pthread_mutex_lock(&g_mu);
    http_tls *t = g_tls;
    struct cert_set *c = NULL;
    if (t) {
        pthread_mutex_lock(&t->mu);
        c = t->current;
        pthread_mutex_unlock(&t->mu);
    }
    pthread_mutex_unlock(&g_mu);
    if (!c) return -1;
    *pcert = c->pcert;
    *pcert_length = c->n_pcert;
    *pkey = c->key;
    return 0;
}

void *http_tls_retrieve_callback(void)
{
    return (void *)(gnutls_certificate_retrieve_function2 *)retrieve;
}

http_tls *http_tls_new(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    http_tls *t = calloc(1, sizeof *t);
    if (!t || !(t->cert_path = strdup(cert_path)) || !(t->key_path = strdup(key_path))) {
        snprintf(err, errlen, "http: out of memory");
        if (t) free(t->cert_path);
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    t->current = load(cert_path, key_path, err, errlen);
    pthread_mutex_lock(&g_mu);
    int taken = g_tls != NULL;
    if (!taken && t->current) g_tls = t;
    pthread_mutex_unlock(&g_mu);
    if (taken && t->current)
        snprintf(err, errlen, "http: only one TLS server per process (one is already running)");
    if (!t->current || taken) {
        http_tls_free(t);
        return NULL;
    }
    return t;
}

int http_tls_reload(http_tls *t, char *err, size_t errlen)
{
    struct cert_set *c = load(t->cert_path, t->key_path, err, errlen);
    if (!c) return -1;
    pthread_mutex_lock(&t->mu);
    c->older = t->current;
    t->current = c;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

int http_tls_check_priorities(const char *priorities, char *err, size_t errlen)
{
    gnutls_priority_t p;
    const char *where = NULL;
    int rc = gnutls_priority_init(&p, priorities, &where);
    if (rc < 0) {
        snprintf(err, errlen, "http: bad TLS priority string at \"%.40s\": %s",
                 where ? where : priorities, gnutls_strerror(rc));
        return -1;
    }
    gnutls_priority_deinit(p);
    return 0;
}

void http_tls_free(http_tls *t)
{
    if (!t) return;
    pthread_mutex_lock(&g_mu);
    if (g_tls == t) g_tls = NULL;
    pthread_mutex_unlock(&g_mu);
    set_free(t->current);
    pthread_mutex_destroy(&t->mu);
    free(t->cert_path);
    free(t->key_path);
    free(t);
}
