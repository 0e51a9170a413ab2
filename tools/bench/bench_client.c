/* One thread drives every transfer so that timestamps are taken the moment bytes are handed over by
 * libcurl, with no lock or thread wake-up between the socket and the clock. */
#include "tools/bench/bench_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/bench/bench_chunk.h"
#include "tools/bench/bench_sse.h"

enum { ERR_BODY_MAX = 1024, MAX_EVENT_BYTES = 1 << 20 };

typedef struct {
    CURL *easy;
    bench_request *req;
    bench_sse sse;
    double t_send, t_last_token, t_last_byte, t_now;
    bool got_token, got_done, got_usage;
    long status;                /* HTTP status once headers are in */
    char *fail;                 /* first failure seen inside the stream (owned) */
    char body[ERR_BODY_MAX + 1]; /* start of a non-200 body, for the error message */
    size_t body_len;
    char curl_err[CURL_ERROR_SIZE];
} transfer;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void set_fail(transfer *t, const char *msg)
{
    if (!t->fail) t->fail = strdup(msg);
}

static int on_event(void *ctx, const char *data, size_t len)
{
    transfer *t = ctx;
    bench_chunk c;
    bench_chunk_parse(data, len, &c);
    if (c.error) {
        set_fail(t, c.message);
        return 1;
    }
    if (c.done) {
        t->got_done = true;
        return 0;
    }
    if (c.token) {
        if (!t->got_token) {
            t->req->ttft_s = t->t_now - t->t_send;
            t->got_token = true;
        } else if (bench_request_add_itl(t->req, t->t_now - t->t_last_token)) {
            set_fail(t, "out of memory recording inter-token latencies");
            return 1;
        }
        t->t_last_token = t->t_now;
    }
    if (c.usage) {
        t->got_usage = true;
        t->req->prompt_tokens = c.prompt_tokens;
        t->req->output_tokens = c.completion_tokens;
    }
    return 0;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    transfer *t = userdata;
    size_t n = size * nmemb;
    t->t_now = t->t_last_byte = now_s();
    if (t->status == 0) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
    if (t->status != 200) {
        size_t room = ERR_BODY_MAX - t->body_len, k = n < room ? n : room;
        memcpy(t->body + t->body_len, ptr, k);
        t->body_len += k;
        return n;
    }
    char err[256];
    int rc = bench_sse_feed(&t->sse, ptr, n, on_event, t, err, sizeof err);
    if (rc < 0) set_fail(t, err);
    return rc ? 0 : n; /* 0 makes libcurl abort the transfer */
}

static int start(CURLM *multi, const bench_client_config *cfg, const char *body, bench_request *req,
                 transfer *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->req = req;
    bench_sse_init(&t->sse, MAX_EVENT_BYTES);
    t->easy = curl_easy_init();
    if (!t->easy) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, cfg->url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, cfg->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
    t->t_send = now_s();
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
        snprintf(err, errlen, "curl_multi_add_handle failed");
        curl_easy_cleanup(e);
        t->easy = NULL;
        return -1;
    }
    return 0;
}

static void finish(CURLM *multi, transfer *t, CURLcode result)
{
    bench_request *r = t->req;
    char msg[ERR_BODY_MAX + 128];
    msg[0] = '\0';
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
    if (t->fail) {
        snprintf(msg, sizeof msg, "%s", t->fail);
    } else if (result != CURLE_OK) {
        snprintf(msg, sizeof msg, "%s%s%s", curl_easy_strerror(result), t->curl_err[0] ? ": " : "",
                 t->curl_err);
    } else if (t->status != 200) {
        t->body[t->body_len] = '\0';
        snprintf(msg, sizeof msg, "HTTP %ld: %s", t->status, t->body);
    } else if (!t->got_done) {
        snprintf(msg, sizeof msg, "the stream ended before data: [DONE]");
    } else if (!t->got_token) {
        snprintf(msg, sizeof msg, "the stream carried no generated token");
    } else if (!t->got_usage) {
        snprintf(msg, sizeof msg,
                 "no usage chunk: the server ignored stream_options.include_usage, so the "
                 "output token count is unknown");
    }
    r->e2el_s = t->t_last_byte - t->t_send;
    r->ok = msg[0] == '\0';
    if (!r->ok) r->error = strdup(msg);
    curl_multi_remove_handle(multi, t->easy);
    curl_easy_cleanup(t->easy);
    bench_sse_free(&t->sse);
    free(t->fail);
    t->easy = NULL;
    t->fail = NULL;
}

int bench_client_run(const bench_client_config *cfg, char *const *bodies, const double *arrival_s,
                     size_t n, bench_request *reqs, double *duration_s, char *err, size_t errlen)
{
    size_t cap = cfg->concurrency > 0 && (size_t)cfg->concurrency < n ? (size_t)cfg->concurrency : n;
    transfer *slots = calloc(cap ? cap : 1, sizeof *slots);
    CURLM *multi = curl_multi_init();
    if (!slots || !multi) {
        snprintf(err, errlen, "out of memory starting %zu transfers", cap);
        free(slots);
        if (multi) curl_multi_cleanup(multi);
        return -1;
    }
    /* Keep every connection open between requests, as a pooled client does. */
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)(cap ? cap : 1));
    int rc = 0;
    size_t next = 0, finished = 0, in_flight = 0;
    double t0 = now_s();
    while (finished < n) {
        double now = now_s() - t0;
        for (size_t s = 0; next < n && in_flight < cap && arrival_s[next] <= now; s++) {
            if (slots[s].easy) continue;
            if (start(multi, cfg, bodies[next], &reqs[next], &slots[s], err, errlen)) {
                rc = -1;
                goto out;
            }
            next++;
            in_flight++;
        }
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            transfer *t;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            finish(multi, t, m->data.result);
            in_flight--;
            finished++;
        }
        if (finished == n) break;
        long wait_ms = 1000;
        if (next < n && in_flight < cap) {
            double until = (arrival_s[next] - (now_s() - t0)) * 1e3;
            wait_ms = until <= 0 ? 0 : until < 1000 ? (long)until + 1 : 1000;
        }
        if (wait_ms > 0) curl_multi_poll(multi, NULL, 0, (int)wait_ms, NULL);
    }
    *duration_s = now_s() - t0;
out:
    for (size_t s = 0; s < cap; s++)
        if (slots[s].easy) {
            curl_multi_remove_handle(multi, slots[s].easy);
            curl_easy_cleanup(slots[s].easy);
            bench_sse_free(&slots[s].sse);
            free(slots[s].fail);
        }
    curl_multi_cleanup(multi);
    free(slots);
    return rc;
}

static size_t on_get(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    char **buf = userdata;
    size_t n = size * nmemb, have = *buf ? strlen(*buf) : 0;
    if (have + n > (1u << 24)) return 0;
    char *b = realloc(*buf, have + n + 1);
    if (!b) return 0;
    memcpy(b + have, ptr, n);
    b[have + n] = '\0';
    *buf = b;
    return n;
}

int bench_client_get(const char *url, const struct curl_slist *headers, long timeout_ms, char **out,
                     char *err, size_t errlen)
{
    *out = NULL;
    CURL *e = curl_easy_init();
    if (!e) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_get);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    CURLcode res = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    if (res != CURLE_OK || status != 200) {
        if (res != CURLE_OK)
            snprintf(err, errlen, "GET %s: %s%s%s", url, curl_easy_strerror(res),
                     curl_err[0] ? ": " : "", curl_err);
        else
            snprintf(err, errlen, "GET %s: HTTP %ld: %.200s", url, status, *out ? *out : "");
        free(*out);
        *out = NULL;
        return -1;
    }
    if (!*out) *out = strdup("");
    return 0;
}
