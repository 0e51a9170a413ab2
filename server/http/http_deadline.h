/* Per-connection deadlines libmicrohttpd cannot keep itself (its timeout restarts on every byte):
 * the request head within a time limit, the body at a minimum rate. Tracks connections through
 * MHD_OPTION_NOTIFY_CONNECTION and closes late ones from a sweeper thread; never answers or touches
 * a request (http.c tells it which phase a connection is in). */
#ifndef BERTH_HTTP_DEADLINE_H
#define BERTH_HTTP_DEADLINE_H

#include <microhttpd.h>
#include <stddef.h>

typedef enum {
    HTTP_PHASE_HEAD,   /* waiting for a request head: due by a deadline */
    HTTP_PHASE_BODY,   /* head complete, body arriving: must keep the minimum rate */
    HTTP_PHASE_ANSWER, /* being answered: no deadline (a long stream is never cut) */
} http_phase;

typedef struct http_deadlines http_deadlines;

/* plain_http: a body cut for its rate gets a 400 before the close (not possible under TLS).
 * header_timeout_s: a new connection's head is due this long after it opens, and a body may pause
 * this long before min_body_rate (bytes/s) applies; idle_timeout_s: a kept-alive connection's next
 * head is due this long after its previous answer. NULL on OOM. */
http_deadlines *http_deadlines_new(unsigned header_timeout_s, unsigned idle_timeout_s,
                                   unsigned min_body_rate, int plain_http);
/* Starts the sweeper thread; 0 or -1. */
int http_deadlines_start(http_deadlines *d);
/* The MHD_OPTION_NOTIFY_CONNECTION callback; its cls is the http_deadlines. */
void http_deadlines_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode code);
void http_deadlines_phase(http_deadlines *d, struct MHD_Connection *conn, http_phase phase);
/* n more body bytes arrived on conn. */
void http_deadlines_body(http_deadlines *d, struct MHD_Connection *conn, size_t n);
/* Writes a complete 400 answer (OpenAI envelope, Connection: close) for a request whose body ended
 * or stalled before its framing said it would, directly on a plain-HTTP socket MHD is abandoning.
 */
void http_deadlines_send_truncated(int fd);
/* Stops the sweeper. Call before MHD_stop_daemon; free after it (its CLOSED notifications unlink
 * the last tracks). */
void http_deadlines_stop(http_deadlines *d);
void http_deadlines_free(http_deadlines *d);

#endif
