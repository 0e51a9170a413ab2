/* One connection of the HTTP server, driven by the I/O thread: bytes in and out (plain or GnuTLS),
 * the state machine per request (TLS handshake, head, body, handler, answer, linger) and the
 * answers the loop writes itself. It never blocks and never runs a handler; http_loop.c owns the
 * sockets' lifetime, the ready list and the deadlines' heap. */
#ifndef BERTH_HTTP_SESSION_H
#define BERTH_HTTP_SESSION_H

#include "server/http/http_loop_internal.h"

/* Moves c as far as its bytes and its handler allow (reads, parses, dispatches, writes, closes). */
void http_session_pump(http_loop_conn *c);
/* c's deadline passed: what that means follows its state (a 408, a truncated body, a close). */
void http_session_timeout(http_loop_conn *c);

#endif
