#include "models/source/s3_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_ERROR_BODY (64 * 1024)
#define MAX_LIST_BODY (64 * 1024 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- addressing ----------------------------------------------------------------------------- */

int s3_addr_parse_endpoint(const char *url, s3_addr *addr, char *err, size_t errlen)
{
    const char *sep = strstr(url, "://");
    size_t slen = sep ? (size_t)(sep - url) : 0;
    if (!sep || !((slen == 4 && !strncasecmp(url, "http", 4)) ||
                  (slen == 5 && !strncasecmp(url, "https", 5)))) {
        snprintf(err, errlen, "S3 endpoint '%s': expected http://HOST[:PORT][/PATH] or https://...",
                 url);
        return -1;
    }
    const char *h = sep + 3;
    size_t hlen = strcspn(h, "/?#");
    const char *rest = h + hlen;
    if (hlen == 0 || hlen >= sizeof addr->host || strchr(rest, '?') || strchr(rest, '#') ||
        strlen(rest) >= sizeof addr->base_path) {
        snprintf(err, errlen,
                 "S3 endpoint '%s': expected http://HOST[:PORT][/PATH] without a query", url);
        return -1;
    }
    snprintf(addr->scheme, sizeof addr->scheme, "%.*s", (int)slen, url);
    for (char *p = addr->scheme; *p; p++)
        *p = (char)(*p | 0x20);
    snprintf(addr->host, sizeof addr->host, "%.*s", (int)hlen, h);
    snprintf(addr->base_path, sizeof addr->base_path, "%s", rest);
    size_t bl = strlen(addr->base_path);
    while (bl > 0 && addr->base_path[bl - 1] == '/')
        addr->base_path[--bl] = '\0';
    addr->path_style = true;
    return 0;
}

int s3_build_url(const s3_addr *addr, const char *region, const char *bucket, const char *key,
                 const char *query, sigv4_buf *url, sigv4_buf *host, sigv4_buf *path)
{
    bool custom = addr->host[0] != '\0';
    bool path_style = addr->path_style || custom || strchr(bucket, '.');
    if (custom) {
        sigv4_buf_puts(host, addr->host);
        sigv4_buf_puts(path, addr->base_path);
    } else {
        if (!path_style) {
            sigv4_buf_puts(host, bucket);
            sigv4_buf_puts(host, ".");
        }
        sigv4_buf_puts(host, "s3.");
        sigv4_buf_puts(host, region);
        sigv4_buf_puts(host, ".amazonaws.com");
    }
    if (path_style) {
        sigv4_buf_puts(path, "/");
        sigv4_buf_puts(path, bucket);
    }
    sigv4_buf_puts(path, "/");
    sigv4_buf_puts(path, key);
    sigv4_buf_puts(url, custom ? addr->scheme : "https");
    sigv4_buf_puts(url, "://");
    sigv4_buf_puts(url, host->data);
    sigv4_uri_encode(url, path->data, path->len, true);
    if (query && *query) {
        sigv4_buf_puts(url, "?");
        sigv4_buf_puts(url, query);
    }
    return url->oom || host->oom || path->oom ? -1 : 0;
}

/* ---- client --------------------------------------------------------------------------------- */

/* A positive integer from the environment, or `def` when unset or empty. */
static int env_long(const char *name, long max, long def, long *out, char *err, size_t errlen)
{
    const char *v = getenv(name);
    *out = def;
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < 1 || n > max) {
        snprintf(err, errlen, "%s='%s': expected an integer from 1 to %ld", name, v, max);
        return -1;
    }
    *out = n;
    return 0;
}

int s3_client_init(s3_client *c, const s3_client_options *o, char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_init_once);
    *c = (s3_client){0};
    c->cred_opt = (awscred_options){.profile = o->profile};
    /* The AWS CLI's patience by default (botocore: 60 s to connect, 60 s without a byte, 5
     * attempts in its legacy retry mode and in s3transfer's download retries). */
    long attempts = o->max_attempts;
    c->connect_timeout_s = o->connect_timeout_s;
    c->read_timeout_s = o->read_timeout_s;
    if ((attempts <= 0 && env_long("AWS_MAX_ATTEMPTS", 256, 5, &attempts, err, errlen) != 0) ||
        (c->connect_timeout_s <= 0 &&
         env_long("BERTH_S3_CONNECT_TIMEOUT", 3600, 60, &c->connect_timeout_s, err, errlen) != 0) ||
        (c->read_timeout_s <= 0 &&
         env_long("BERTH_S3_READ_TIMEOUT", 3600, 60, &c->read_timeout_s, err, errlen) != 0))
        return -1;
    c->max_attempts = (int)attempts;
    const char *ep = o->endpoint && *o->endpoint ? o->endpoint : getenv("AWS_ENDPOINT_URL_S3");
    if (!ep || !*ep) ep = getenv("AWS_ENDPOINT_URL");
    if (ep && *ep) {
        if (s3_addr_parse_endpoint(ep, &c->addr, err, errlen) != 0) return -1;
    } else {
        snprintf(c->addr.scheme, sizeof c->addr.scheme, "https");
    }
    c->addr.path_style = c->addr.path_style || o->path_style;
    char rerr[256];
    if (awscred_region(o->region, o->profile, c->region, sizeof c->region, rerr, sizeof rerr) != 0)
        snprintf(c->region, sizeof c->region, "us-east-1");
    char cerr[768];
    if (awscred_resolve(&c->cred_opt, &c->cred, cerr, sizeof cerr) != 0) {
        snprintf(err, errlen, "no AWS credentials for S3: %s", cerr);
        return -1;
    }
    pthread_mutex_init(&c->mu, NULL);
    return 0;
}

void s3_client_free(s3_client *c)
{
    awscred_clear(&c->cred);
    pthread_mutex_destroy(&c->mu);
}

CURL *s3_handle_new(void)
{
    pthread_once(&curl_once, curl_init_once);
    return curl_easy_init();
}

void s3_response_free(s3_response *r)
{
    sigv4_buf_free(&r->body);
    *r = (s3_response){0};
}

/* ---- one request ---------------------------------------------------------------------------- */

typedef struct {
    CURL *h;
    s3_response *resp;
    const s3_sink *sink;
    uint64_t got;
    bool sink_failed, body_too_large;
    bool range_ignored; /* a 200 to a Range that does not start at 0 */
    bool refuse_200;
    size_t body_cap;
    /* Stall detection: botocore's read timeout, no byte for read_timeout_s (libcurl's own low-speed
     * limit averages over its window, so a slow trickle that botocore waits for would fail it). */
    long read_timeout_s;
    curl_off_t last_bytes;
    double last_change;
    bool stalled;
} xfer;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* libcurl calls this at least once a second while a transfer runs, also when no byte arrives. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)ultotal, (void)ulnow;
    xfer *x = ud;
    double now = mono_s();
    if (dlnow != x->last_bytes) {
        x->last_bytes = dlnow;
        x->last_change = now;
        return 0;
    }
    if (now - x->last_change < (double)x->read_timeout_s) return 0;
    x->stalled = true;
    return 1;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    xfer *x = ud;
    size_t n = sz * nm;
    long code = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200 && x->refuse_200) {
        x->range_ignored = true;
        return 0;
    }
    if (code / 100 == 2 && x->sink) {
        if (x->sink->write(x->sink->ctx, p, n) != 0) {
            x->sink_failed = true;
            return 0;
        }
    } else if (x->resp->body.len + n <= x->body_cap) {
        sigv4_buf_append(&x->resp->body, p, n);
    } else {
        x->body_too_large = true;
        return 0;
    }
    x->got += n;
    return n;
}

static void header_value(const char *line, size_t n, char *out, size_t outlen)
{
    const char *colon = memchr(line, ':', n);
    if (!colon) return;
    const char *v = colon + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    snprintf(out, outlen, "%.*s", (int)(e - v), v);
}

static int header_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && line[k] == ':' && strncasecmp(line, name, k) == 0;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    xfer *x = ud;
    s3_response *r = x->resp;
    size_t n = sz * nm;
    char v[128];
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        sigv4_buf body = r->body;
        *r = (s3_response){.body = body};
    } else if (header_is(p, n, "etag")) {
        header_value(p, n, r->etag, sizeof r->etag);
    } else if (header_is(p, n, "x-amz-checksum-sha256")) {
        header_value(p, n, r->checksum_sha256, sizeof r->checksum_sha256);
    } else if (header_is(p, n, "x-amz-checksum-crc32")) {
        header_value(p, n, r->checksum_crc32, sizeof r->checksum_crc32);
    } else if (header_is(p, n, "x-amz-checksum-type")) {
        header_value(p, n, r->checksum_type, sizeof r->checksum_type);
    } else if (header_is(p, n, "x-amz-bucket-region")) {
        header_value(p, n, r->bucket_region, sizeof r->bucket_region);
    } else if (header_is(p, n, "content-length")) {
        header_value(p, n, v, sizeof v);
        char *end;
        errno = 0;
        unsigned long long len = strtoull(v, &end, 10);
        if (!errno && end != v && !*end) {
            r->content_length = len;
            r->has_content_length = true;
        }
    }
    return n;
}

static bool retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static void backoff_sleep(int attempt, unsigned *seed)
{
    long ms = 200L << (attempt > 6 ? 6 : attempt);
    if (ms > 10000) ms = 10000;
    ms = ms / 2 + (long)(rand_r(seed) % (unsigned)(ms / 2 + 1));
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Credentials from the container or instance endpoints expire; refresh them five minutes early so
 * that a long download keeps signing with valid keys. Called with c->mu held. */
static int refresh_credentials(s3_client *c, char *err, size_t errlen)
{
    if (!c->cred.expiration || time(NULL) < c->cred.expiration - 300) return 0;
    awscred fresh;
    char cerr[768];
    if (awscred_resolve(&c->cred_opt, &fresh, cerr, sizeof cerr) != 0) {
        snprintf(err, errlen, "refreshing expired AWS credentials: %s", cerr);
        return -1;
    }
    awscred_clear(&c->cred);
    c->cred = fresh;
    return 0;
}

/* Builds the URL and the signed header list for one attempt. */
static int sign(s3_client *c, const char *method, const char *bucket, const char *key,
                const char *query, const sigv4_header *headers, size_t n_headers, sigv4_buf *url,
                struct curl_slist **list, char *err, size_t errlen)
{
    sigv4_buf host = {0}, path = {0}, line = {0};
    sigv4_header *all = calloc(n_headers + 1, sizeof *all);
    sigv4_result res = {0};
    int rc = -1;
    pthread_mutex_lock(&c->mu);
    if (!all || refresh_credentials(c, err, errlen) != 0) goto done;
    if (s3_build_url(&c->addr, c->region, bucket, key, query, url, &host, &path) != 0) {
        snprintf(err, errlen, "S3: out of memory");
        goto done;
    }
    all[0] = (sigv4_header){"host", host.data};
    if (n_headers) memcpy(all + 1, headers, n_headers * sizeof *headers);
    sigv4_signer s = {.access_key_id = c->cred.access_key_id,
                      .secret_access_key = c->cred.secret_access_key,
                      .session_token = c->cred.session_token,
                      .region = c->region,
                      .service = "s3",
                      .time = (int64_t)time(NULL),
                      .flags = SIGV4_CONTENT_SHA256_HEADER};
    sigv4_request req = {.method = method,
                         .path = path.data,
                         .query = query,
                         .headers = all,
                         .n_headers = n_headers + 1,
                         .payload_hash = SIGV4_EMPTY_SHA256};
    if (sigv4_sign_headers(&s, &req, &res, err, errlen) != 0) goto done;
    const char *pairs[][2] = {{"Host", host.data},
                              {"x-amz-date", res.amz_date},
                              {"x-amz-content-sha256", res.payload_hash},
                              {"Authorization", res.output.data},
                              {"x-amz-security-token", c->cred.session_token}};
    size_t np = c->cred.session_token && *c->cred.session_token ? 5 : 4;
    for (size_t i = 0; i < np + n_headers; i++) {
        const char *name = i < np ? pairs[i][0] : headers[i - np].name;
        const char *value = i < np ? pairs[i][1] : headers[i - np].value;
        line.len = 0;
        sigv4_buf_puts(&line, name);
        sigv4_buf_puts(&line, ": ");
        sigv4_buf_puts(&line, value);
        struct curl_slist *nl = line.oom ? NULL : curl_slist_append(*list, line.data);
        if (!nl) {
            snprintf(err, errlen, "S3: out of memory");
            goto done;
        }
        *list = nl;
    }
    rc = 0;
done:
    pthread_mutex_unlock(&c->mu);
    sigv4_result_free(&res);
    sigv4_buf_free(&host);
    sigv4_buf_free(&path);
    sigv4_buf_free(&line);
    free(all);
    return rc;
}

/* A ranged GET's progress across attempts: `value` is the Range header the caller's header list
 * points at, rewritten before each attempt to ask for the bytes not yet held. */
typedef struct {
    uint64_t start, len, held;
    char value[64];
} range_state;

static int perform(s3_client *c, CURL *h, const char *method, const char *bucket, const char *key,
                   const char *query, const sigv4_header *headers, size_t n_headers,
                   const s3_sink *sink, uint64_t expect_len, range_state *rg, s3_response *resp,
                   char *err, size_t errlen)
{
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)h;
    bool redirected = false;
    *resp = (s3_response){0};
    for (int attempt = 0;;) {
        uint64_t held_before = rg ? rg->held : 0;
        if (rg) {
            snprintf(rg->value, sizeof rg->value, "bytes=%llu-%llu",
                     (unsigned long long)(rg->start + rg->held),
                     (unsigned long long)(rg->start + rg->len - 1));
            expect_len = rg->len - rg->held;
        }
        sigv4_buf url = {0};
        struct curl_slist *list = NULL;
        if (sign(c, method, bucket, key, query, headers, n_headers, &url, &list, err, errlen) !=
            0) {
            sigv4_buf_free(&url);
            curl_slist_free_all(list);
            return -1;
        }
        resp->body.len = 0;
        if (resp->body.data) resp->body.data[0] = '\0';
        if (sink && sink->reset && !rg) sink->reset(sink->ctx);
        xfer x = {.h = h,
                  .resp = resp,
                  .sink = sink,
                  .body_cap = sink ? MAX_ERROR_BODY : MAX_LIST_BODY,
                  .refuse_200 = rg && rg->start + rg->held > 0,
                  .read_timeout_s = c->read_timeout_s,
                  .last_change = mono_s()};
        char cerr[CURL_ERROR_SIZE] = "";
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url.data);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
        if (!strcmp(method, "HEAD")) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "berth-s3/1");
        CURLcode rc = curl_easy_perform(h);
        atomic_fetch_add(&c->requests, 1);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_slist_free_all(list);
        char where[600];
        snprintf(where, sizeof where, "%s %s", method, url.data);
        sigv4_buf_free(&url);
        if (rg && resp->status / 100 == 2) rg->held += x.got;
        if (x.sink_failed) return -1; /* the sink wrote its own message */
        if (x.range_ignored) {
            snprintf(err, errlen,
                     "%s: the server answered 200 with the whole object to a request "
                     "for bytes from %llu (it ignores Range)",
                     where, (unsigned long long)(rg->start + held_before));
            return -1;
        }
        if (x.body_too_large) {
            snprintf(err, errlen, "%s: response body over %d bytes", where,
                     sink ? MAX_ERROR_BODY : MAX_LIST_BODY);
            return -1;
        }
        bool retry;
        if (x.stalled) {
            retry = true;
            snprintf(err, errlen, "%s: no data received for %ld s (read timeout)", where,
                     c->read_timeout_s);
        } else if (rc != CURLE_OK) {
            retry = retryable_curl(rc);
            snprintf(err, errlen, "%s: %s", where, cerr[0] ? cerr : curl_easy_strerror(rc));
        } else if (resp->status / 100 == 2 && expect_len != UINT64_MAX && x.got != expect_len) {
            retry = true;
            snprintf(err, errlen, "%s: got %llu body bytes, expected %llu", where,
                     (unsigned long long)x.got, (unsigned long long)expect_len);
        } else if ((resp->status == 301 || resp->status == 307 || resp->status == 400) &&
                   !redirected && resp->bucket_region[0]) {
            pthread_mutex_lock(&c->mu);
            bool changed = strcmp(c->region, resp->bucket_region) != 0;
            if (changed) snprintf(c->region, sizeof c->region, "%s", resp->bucket_region);
            pthread_mutex_unlock(&c->mu);
            if (!changed) return 0;
            redirected = true;
            continue;
        } else {
            retry = resp->status >= 500 || resp->status == 429;
            if (!retry) return 0;
            char desc[256];
            s3_describe_status(resp, desc, sizeof desc);
            snprintf(err, errlen, "%s: %s", where, desc);
        }
        /* Bytes received since the last attempt: the server is slow, not gone. Only attempts
         * in a row that bring nothing count towards giving up. */
        if (retry && rg && rg->held > held_before) {
            attempt = 0;
            atomic_fetch_add(&c->resumes, 1);
        }
        if (!retry || ++attempt >= c->max_attempts) {
            if (retry) {
                size_t l = strlen(err);
                snprintf(err + l, errlen - l, " (gave up after %d attempts)", attempt);
            }
            return -1;
        }
        atomic_fetch_add(&c->retries, 1);
        backoff_sleep(attempt - 1, &seed);
    }
}

int s3_request(s3_client *c, CURL *h, const char *method, const char *bucket, const char *key,
               const char *query, const sigv4_header *headers, size_t n_headers,
               const s3_sink *sink, uint64_t expect_len, s3_response *resp, char *err,
               size_t errlen)
{
    return perform(c, h, method, bucket, key, query, headers, n_headers, sink, expect_len, NULL,
                   resp, err, errlen);
}

int s3_get_range(s3_client *c, CURL *h, const char *bucket, const char *key, const char *etag,
                 uint64_t start, uint64_t len, const s3_sink *sink, s3_response *resp, char *err,
                 size_t errlen)
{
    range_state rg = {.start = start, .len = len};
    sigv4_header hs[2] = {{"range", rg.value}, {"if-match", etag}};
    return perform(c, h, "GET", bucket, key, NULL, hs, etag && *etag ? 2 : 1, sink, len, &rg, resp,
                   err, errlen);
}

void s3_describe_status(const s3_response *r, char *out, size_t outlen)
{
    char code[64], msg[256];
    s3_error_parse(r->body.data ? r->body.data : "", r->body.len, code, sizeof code, msg,
                   sizeof msg);
    /* Built whole, then cut to the caller's buffer: a cut description is still useful, since the
     * status and code come first. */
    char whole[sizeof code + sizeof msg + 32];
    if (code[0])
        snprintf(whole, sizeof whole, "%ld %s%s%s", r->status, code, msg[0] ? ": " : "", msg);
    else
        snprintf(whole, sizeof whole, "HTTP %ld", r->status);
    if (outlen == 0) return;
    size_t n = strlen(whole) < outlen - 1 ? strlen(whole) : outlen - 1;
    memcpy(out, whole, n);
    out[n] = 0;
}

/* ---- ListObjectsV2 -------------------------------------------------------------------------- */

void s3_objects_free(s3_list_object *objects, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(objects[i].key);
        free(objects[i].etag);
    }
    free(objects);
}

int s3_list_all(s3_client *c, CURL *h, const char *bucket, const char *prefix, int page_size,
                s3_list_object **objects, size_t *n, char *err, size_t errlen)
{
    *objects = NULL;
    *n = 0;
    size_t cap = 0;
    char *token = NULL;
    int rc = -1;
    for (int page = 0;; page++) {
        sigv4_buf q = {0};
        if (token) {
            sigv4_buf_puts(&q, "continuation-token=");
            sigv4_uri_encode(&q, token, strlen(token), false);
            sigv4_buf_puts(&q, "&");
        }
        sigv4_buf_puts(&q, "list-type=2");
        if (page_size > 0) {
            char num[32];
            snprintf(num, sizeof num, "&max-keys=%d", page_size);
            sigv4_buf_puts(&q, num);
        }
        sigv4_buf_puts(&q, "&prefix=");
        sigv4_uri_encode(&q, prefix, strlen(prefix), false);
        s3_response r;
        int qrc = q.oom ? -1
                        : s3_request(c, h, "GET", bucket, "", q.data, NULL, 0, NULL, UINT64_MAX, &r,
                                     err, errlen);
        sigv4_buf_free(&q);
        if (qrc != 0) {
            if (q.oom) snprintf(err, errlen, "S3: out of memory");
            break;
        }
        if (r.status != 200) {
            char desc[400];
            s3_describe_status(&r, desc, sizeof desc);
            if (r.status == 403)
                snprintf(err, errlen, "access denied listing s3://%s/%s (%s); credentials from %s",
                         bucket, prefix, desc, c->cred.source);
            else if (r.status == 404)
                snprintf(err, errlen, "bucket '%s' not found listing s3://%s/%s (%s)", bucket,
                         bucket, prefix, desc);
            else
                snprintf(err, errlen, "listing s3://%s/%s failed: %s", bucket, prefix, desc);
            s3_response_free(&r);
            break;
        }
        s3_list_page pg;
        char perr[400];
        int prc = s3_list_parse(r.body.data ? r.body.data : "", r.body.len, &pg, perr, sizeof perr);
        s3_response_free(&r);
        if (prc != 0) {
            snprintf(err, errlen, "listing s3://%s/%s (page %d): %s", bucket, prefix, page + 1,
                     perr);
            break;
        }
        if (*n + pg.n_objects > cap) {
            size_t ncap = cap ? cap * 2 : 64;
            while (ncap < *n + pg.n_objects)
                ncap *= 2;
            s3_list_object *o = realloc(*objects, ncap * sizeof *o);
            if (!o) {
                s3_list_page_free(&pg);
                snprintf(err, errlen, "S3: out of memory");
                break;
            }
            *objects = o;
            cap = ncap;
        }
        if (pg.n_objects) memcpy(*objects + *n, pg.objects, pg.n_objects * sizeof *pg.objects);
        *n += pg.n_objects;
        free(pg.objects);
        free(token);
        token = pg.next_token;
        if (!pg.truncated) {
            rc = 0;
            break;
        }
    }
    free(token);
    if (rc != 0) {
        s3_objects_free(*objects, *n);
        *objects = NULL;
        *n = 0;
    }
    return rc;
}
