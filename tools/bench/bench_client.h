/* The load generator of berth-bench: sends streamed requests with libcurl's multi interface from one
 * thread (a concurrency cap, scheduled send times) and measures each one into a bench_request.
 * Owns the transfers and the clock; bodies, headers and statistics belong to the caller. */
#ifndef BERTH_BENCH_CLIENT_H
#define BERTH_BENCH_CLIENT_H

#include <curl/curl.h>
#include <stddef.h>

#include "tools/bench/bench_stats.h"

typedef struct {
    const char *url;                  /* the full endpoint URL */
    const struct curl_slist *headers; /* Content-Type, Authorization, --header ones */
    long timeout_ms;                  /* per request; 0: none */
    int concurrency;                  /* most requests in flight; 0: no limit */
} bench_client_config;

/* Sends bodies[i] no earlier than arrival_s[i] after the start, at most cfg->concurrency at once,
 * and fills reqs[i] (zeroed by the caller). A failed request is recorded in its bench_request, not
 * returned: -1 (with err) means the client itself could not run. duration_s is the wall time from
 * the start to the last completion. */
int bench_client_run(const bench_client_config *cfg, char *const *bodies, const double *arrival_s,
                     size_t n, bench_request *reqs, double *duration_s, char *err, size_t errlen);

/* GET url and return the body (malloc'd) in *out, for /models. Returns 0, or -1 with err. */
int bench_client_get(const char *url, const struct curl_slist *headers, long timeout_ms, char **out,
                     char *err, size_t errlen);

#endif
