/* The HTTPS certificate and key as GnuTLS serves them: loaded from PEM files, handed to each
 * handshake through a retrieve callback, and swapped atomically on reload (SIGHUP) so connections
 * in flight keep the pair they started with. Owns no socket and no session. */
#ifndef BERTH_HTTP_TLS_H
#define BERTH_HTTP_TLS_H

#include <stddef.h>

/* Mozilla's "intermediate" profile in GnuTLS terms: TLS 1.2 and 1.3 only; ECDHE key exchange
 * (forward secret) with AES-GCM or ChaCha20-Poly1305 (AEAD) only; no static RSA, CBC or SHA-1 MACs.
 * (DHE suites are left out: no DH parameters are set.) */
#define HTTP_TLS_DEFAULT_PRIORITIES                                                                \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL:"   \
    "+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"

typedef struct http_tls http_tls;

/* Loads and checks the pair (the key must match the certificate). NULL with err naming the file.
 * One http_tls serves the process at a time (the GnuTLS callback carries no context): a second
 * http_tls_new while one lives fails. */
http_tls *http_tls_new(const char *cert_path, const char *key_path, char *err, size_t errlen);
/* Re-reads both files; on success new handshakes get the new pair. On error the old one stays. */
int http_tls_reload(http_tls *t, char *err, size_t errlen);
/* The gnutls_certificate_retrieve_function2 every handshake gets its pair from. */
void *http_tls_retrieve_callback(void);
/* Checks a GnuTLS priority string; 0, or -1 with err naming where it fails. */
int http_tls_check_priorities(const char *priorities, char *err, size_t errlen);
void http_tls_free(http_tls *t);

#endif
