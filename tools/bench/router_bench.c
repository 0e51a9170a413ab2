/* berth-router-bench: what the router of `berth serve --config` adds to a request and to each
 * streamed token. A fake worker (the HTTP layer on a Unix socket, no model) answers small JSON
 * bodies and streams SSE events stamped with their send time; the client asks it directly over
 * TCP, then through the router's proxy (TCP in, libcurl over the Unix socket out), and compares.
 * Per token: receive time minus the stamped send time, events spaced like real tokens so nothing
 * queues. Per request: the round trip of a small non-streamed answer. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/http/http.h"
#include "server/router/proxy.h"

static int n_events = 2000, gap_us = 500, n_requests = 2000;

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ---- the fake worker ---- */

/* A typical chat chunk's size, so the bytes per event are realistic. */
static const char PAD[] =
    "\"object\":\"chat.completion.chunk\",\"model\":\"bench\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\" word\"},\"logprobs\":null,\"finish_reason\":null}]";

static void *produce(void *arg)
{
    http_stream *s = arg;
    char ev[512];
    for (int i = 0; i < n_events; i++) {
        int64_t t0 = now_ns();
        int n = snprintf(ev, sizeof ev, "data: {\"t\":%lld,%s}\n\n", (long long)now_ns(), PAD);
        if (http_stream_push(s, ev, (size_t)n)) break;
        while (now_ns() - t0 < gap_us * 1000ll)
            usleep(50);
    }
    http_stream_push(s, "data: [DONE]\n\n", 14);
    http_stream_close(s);
    return NULL;
}

static void fake_stream(void *ctx, http_request *r)
{
    (void)ctx;
    http_stream *s = http_respond_stream(r, NULL, NULL);
    pthread_t t;
    if (s && pthread_create(&t, NULL, produce, s) == 0) pthread_detach(t);
}

static void fake_plain(void *ctx, http_request *r)
{
    (void)ctx;
    http_respond_json(r, 200, "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[]}");
}

/* ---- the router's proxy, as router.c calls it ---- */

static char worker_socket[108];

static void via_proxy(void *ctx, http_request *r)
{
    (void)ctx;
    proxy_forward(r, worker_socket, http_request_path(r), "bench", NULL, NULL);
}

/* ---- the client ---- */

typedef struct rx {
    char line[1024];
    size_t len;
    double *lat_us;
    int n;
} rx;

static size_t on_data(char *p, size_t sz, size_t nm, void *u)
{
    rx *x = u;
    int64_t t = now_ns();
    for (size_t i = 0; i < sz * nm; i++) {
        if (p[i] != '\n') {
            if (x->len < sizeof x->line - 1) x->line[x->len++] = p[i];
            continue;
        }
        x->line[x->len] = 0;
        long long sent;
        if (sscanf(x->line, "data: {\"t\":%lld", &sent) == 1 && x->n < n_events)
            x->lat_us[x->n++] = (double)(t - sent) / 1000.0;
        x->len = 0;
    }
    return sz * nm;
}

static size_t sink(char *p, size_t sz, size_t nm, void *u)
{
    (void)p, (void)u;
    return sz * nm;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n ? v[(int)(p * (n - 1))] : 0;
}

typedef struct result {
    double tok_p50, tok_p99, req_p50, req_p99;
    int tokens;
} result;

static int measure(int port, result *out)
{
    char url[128];
    CURL *h = curl_easy_init();
    double *lat = calloc((size_t)(n_events > n_requests ? n_events : n_requests), sizeof *lat);
    rx x = {.lat_us = lat};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stream", port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{\"stream\":true}");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    int rc = curl_easy_perform(h) != CURLE_OK || x.n != n_events;
    out->tokens = x.n;
    out->tok_p50 = pct(lat, x.n, 0.5);
    out->tok_p99 = pct(lat, x.n, 0.99);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/plain", port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    for (int i = 0; i < n_requests && !rc; i++) {
        int64_t t0 = now_ns();
        rc = curl_easy_perform(h) != CURLE_OK;
        lat[i] = (double)(now_ns() - t0) / 1000.0;
    }
    out->req_p50 = pct(lat, n_requests, 0.5);
    out->req_p99 = pct(lat, n_requests, 0.99);
    free(lat);
    curl_easy_cleanup(h);
    return rc;
}

static http_server *serve(const char *unix_path, http_handler_fn stream_fn,
                          http_handler_fn plain_fn)
{
    char err[256];
    http_config cfg = {.host = unix_path ? NULL : "127.0.0.1", .unix_socket_path = unix_path};
    http_server *s = http_server_new(&cfg, err, sizeof err);
    if (!s ||
        http_server_route(s, HTTP_POST, "/stream", HTTP_ROUTE_ROOT, stream_fn, NULL, err,
                          sizeof err) ||
        http_server_route(s, HTTP_POST, "/plain", HTTP_ROUTE_ROOT, plain_fn, NULL, err,
                          sizeof err) ||
        http_server_start(s, err, sizeof err)) {
        fprintf(stderr, "berth-router-bench: %s\n", err);
        http_server_free(s);
        return NULL;
    }
    return s;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--events"))
            n_events = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--gap-us"))
            gap_us = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--requests"))
            n_requests = atoi(argv[i + 1]);
        else {
            fprintf(stderr,
                    "usage: berth-router-bench [--events N] [--gap-us US] [--requests N]\n");
            return 2;
        }
    }
    if (n_events < 1 || gap_us < 0 || n_requests < 1) {
        fprintf(stderr,
                "berth-router-bench: --events and --requests must be >= 1, --gap-us >= 0\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(worker_socket, sizeof worker_socket, "/tmp/berth-router-bench-%d.sock", (int)getpid());
    http_server *worker = serve(worker_socket, fake_stream, fake_plain);
    http_server *direct = serve(NULL, fake_stream, fake_plain);
    http_server *router = serve(NULL, via_proxy, via_proxy);
    if (!worker || !direct || !router) return 1;
    result d, r;
    if (measure(http_server_port(direct), &d) || measure(http_server_port(router), &r)) {
        fprintf(stderr, "berth-router-bench: a transfer failed\n");
        return 1;
    }
    printf("events %d every %d us, %d sequential requests\n", n_events, gap_us, n_requests);
    printf("%-26s %10s %10s %10s\n", "", "direct", "router", "added");
    printf("%-26s %10.1f %10.1f %10.1f\n", "per token p50 (us)", d.tok_p50, r.tok_p50,
           r.tok_p50 - d.tok_p50);
    printf("%-26s %10.1f %10.1f %10.1f\n", "per token p99 (us)", d.tok_p99, r.tok_p99,
           r.tok_p99 - d.tok_p99);
    printf("%-26s %10.1f %10.1f %10.1f\n", "per request p50 (us)", d.req_p50, r.req_p50,
           r.req_p50 - d.req_p50);
    printf("%-26s %10.1f %10.1f %10.1f\n", "per request p99 (us)", d.req_p99, r.req_p99,
           r.req_p99 - d.req_p99);
    http_server_free(router);
    http_server_free(direct);
    http_server_free(worker);
    curl_global_cleanup();
    return 0;
}
