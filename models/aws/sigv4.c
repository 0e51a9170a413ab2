#include "models/aws/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- byte strings ------------------------------------------------------------------------------
 */

static void buf_reserve(sigv4_buf *b, size_t extra)
{
    if (b->oom) return;
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = malloc(cap);
    if (!p) {
        b->oom = true;
        return;
    }
    /* Copy by hand instead of realloc so the old bytes can be wiped: they may be secret. */
    if (b->data) {
        memcpy(p, b->data, b->len);
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    b->data = p;
    b->cap = cap;
}

void sigv4_buf_append(sigv4_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->oom) return;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sigv4_buf_puts(sigv4_buf *b, const char *s)
{
    sigv4_buf_append(b, s, strlen(s));
}

static void buf_putc(sigv4_buf *b, char c)
{
    if (b->len + 2 <= b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return;
    }
    sigv4_buf_append(b, &c, 1);
}

void sigv4_buf_free(sigv4_buf *b)
{
    if (b->data) {
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    *b = (sigv4_buf){0};
}

/* ---- hashing -----------------------------------------------------------------------------------
 */

static void to_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

/* OpenSSL 3 looks an algorithm up in its provider table on every implicit use (EVP_sha256(),
 * SHA256(), HMAC()); fetching it once takes that lookup off the per-request path. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, fetch_sha256);
    return sha256_md ? sha256_md : EVP_sha256();
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    EVP_Digest(data, len, md, NULL, sha256(), NULL);
    to_hex(md, sizeof md, out);
}

void sigv4_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                       unsigned char out[32])
{
    unsigned int outlen = 32;
    HMAC(sha256(), key, (int)keylen, msg, msglen, out, &outlen);
}

void sigv4_signing_key(const char *secret, const char *date8, const char *region,
                       const char *service, unsigned char out[32])
{
    size_t slen = strlen(secret);
    char *k = malloc(slen + 5);
    unsigned char a[32], b[32];
    if (!k) {
        /* An all-zero key signs nothing anyone else can reproduce; callers compare signatures. */
        memset(out, 0, 32);
        return;
    }
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, slen + 1);
    sigv4_hmac_sha256(k, slen + 4, date8, strlen(date8), a);
    OPENSSL_cleanse(k, slen + 5);
    free(k);
    sigv4_hmac_sha256(a, 32, region, strlen(region), b);
    sigv4_hmac_sha256(b, 32, service, strlen(service), a);
    sigv4_hmac_sha256(a, 32, "aws4_request", 12, out);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
}

/* ---- URI encoding ------------------------------------------------------------------------------
 */

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

void sigv4_uri_encode(sigv4_buf *out, const char *s, size_t n, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            size_t run = 1;
            while (i + run < n &&
                   (unreserved((unsigned char)s[i + run]) || (keep_slash && s[i + run] == '/')))
                run++;
            sigv4_buf_append(out, s + i, run);
            i += run - 1;
        } else {
            char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
            sigv4_buf_append(out, esc, 3);
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int sigv4_percent_decode(sigv4_buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            const char *pct = memchr(s + i, '%', n - i);
            size_t run = pct ? (size_t)(pct - (s + i)) : n - i;
            sigv4_buf_append(out, s + i, run);
            i += run - 1;
            continue;
        }
        int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) return -1;
        buf_putc(out, (char)(hi * 16 + lo));
        i += 2;
    }
    if (!out->data) sigv4_buf_append(out, "", 0);
    return 0;
}

/* ---- time --------------------------------------------------------------------------------------
 */

void sigv4_format_time(int64_t t, char out[17])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04d%02d%02dT%02d%02d%02dZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, tmp, 16);
    out[16] = '\0';
}

int sigv4_parse_time(const char *s, size_t n, int64_t *out)
{
    if (n != 16 || s[8] != 'T' || s[15] != 'Z') return -1;
    for (size_t i = 0; i < 15; i++)
        if (i != 8 && (s[i] < '0' || s[i] > '9')) return -1;
    struct tm tm = {0};
    int v[6];
    const int offs[6] = {0, 4, 6, 9, 11, 13}, lens[6] = {4, 2, 2, 2, 2, 2};
    for (int f = 0; f < 6; f++) {
        v[f] = 0;
        for (int k = 0; k < lens[f]; k++)
            v[f] = v[f] * 10 + (s[offs[f] + k] - '0');
    }
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    int64_t t = (int64_t)timegm(&tm);
    /* timegm normalises 20240231 to March 2nd: a round trip rejects such dates. */
    char back[17];
    sigv4_format_time(t, back);
    if (memcmp(back, s, 16) != 0) return -1;
    *out = t;
    return 0;
}

int sigv4_parse_iso8601(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, used = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
        used != 19)
        return -1;
    const char *p = s + used;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int offset = 0;
    if (*p == 'Z' && p[1] == '\0') {
        offset = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2) return -1;
        offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
    } else {
        return -1;
    }
    char compact[40];
    snprintf(compact, sizeof compact, "%04d%02d%02dT%02d%02d%02dZ", y % 10000, mo % 100, d % 100,
             h % 100, mi % 100, sec % 100);
    int64_t t;
    if (sigv4_parse_time(compact, 16, &t) != 0) return -1;
    *out = t - offset;
    return 0;
}

/* ---- canonical pieces --------------------------------------------------------------------------
 */

typedef struct {
    char *key; /* encoded */
    char *value;
} enc_pair;

typedef struct {
    char *name;  /* lowercase */
    char *value; /* trimmed, whitespace runs folded */
} canon_header;

static int pair_cmp(const void *a, const void *b)
{
    const enc_pair *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s, size_t n)
{
    sigv4_buf b = {0};
    sigv4_uri_encode(&b, s, n, false);
    sigv4_buf_append(&b, "", 0);
    return b.oom ? NULL : b.data;
}

/* Splits the raw query into encoded pairs: decode first so that both "%E1%88%B4" and raw UTF-8
 * end up as the same canonical bytes. */
static int parse_query(const char *q, enc_pair **pairs, size_t *n, char *err, size_t errlen)
{
    *pairs = NULL;
    *n = 0;
    if (!q || !*q) return 0;
    size_t count = 1;
    for (const char *p = q; *p; p++)
        count += *p == '&';
    enc_pair *arr = calloc(count, sizeof *arr);
    if (!arr) goto oom;
    size_t k = 0;
    for (const char *p = q;;) {
        const char *end = strchr(p, '&');
        if (!end) end = p + strlen(p);
        if (end > p) {
            const char *eq = memchr(p, '=', (size_t)(end - p));
            const char *kend = eq ? eq : end;
            sigv4_buf dk = {0}, dv = {0};
            if (sigv4_percent_decode(&dk, p, (size_t)(kend - p)) != 0 ||
                sigv4_percent_decode(&dv, eq ? eq + 1 : end, eq ? (size_t)(end - eq - 1) : 0) !=
                    0) {
                sigv4_buf_free(&dk);
                sigv4_buf_free(&dv);
                snprintf(err, errlen, "sigv4: query string: malformed %%-escape in parameter %zu",
                         k + 1);
                for (size_t i = 0; i < k; i++)
                    free(arr[i].key), free(arr[i].value);
                free(arr);
                return -1;
            }
            arr[k].key = encode_dup(dk.data, dk.len);
            arr[k].value = encode_dup(dv.data, dv.len);
            sigv4_buf_free(&dk);
            sigv4_buf_free(&dv);
            k++;
            if (!arr[k - 1].key || !arr[k - 1].value) {
                *pairs = arr;
                *n = k;
                goto oom;
            }
        }
        if (!*end) break;
        p = end + 1;
    }
    *pairs = arr;
    *n = k;
    return 0;
oom:
    snprintf(err, errlen, "sigv4: out of memory");
    return -1;
}

static void free_pairs(enc_pair *pairs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(pairs[i].key);
        free(pairs[i].value);
    }
    free(pairs);
}

static void canonical_uri(sigv4_buf *out, const char *path, bool normalize)
{
    if (!path || !*path) {
        buf_putc(out, '/');
        return;
    }
    if (!normalize) {
        sigv4_uri_encode(out, path, strlen(path), true);
        return;
    }
    /* RFC 3986 dot-segment removal plus folding of empty segments, as aws-c-auth normalises. */
    size_t n = strlen(path), nseg = 0;
    const char **seg = malloc((n + 1) * sizeof *seg);
    size_t *len = malloc((n + 1) * sizeof *len);
    if (!seg || !len) {
        free(seg);
        free(len);
        out->oom = true;
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        size_t l = j - i;
        if (l == 0 || (l == 1 && path[i] == '.')) {
            /* skip */
        } else if (l == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (nseg) nseg--;
        } else {
            seg[nseg] = path + i;
            len[nseg++] = l;
        }
        i = j + 1;
    }
    for (size_t s = 0; s < nseg; s++) {
        buf_putc(out, '/');
        sigv4_uri_encode(out, seg[s], len[s], false);
    }
    if (nseg == 0 || path[n - 1] == '/') buf_putc(out, '/');
    free(seg);
    free(len);
}

static char *fold_value(const char *v)
{
    sigv4_buf b = {0};
    const char *ws = " \t\r\n";
    while (*v && strchr(ws, *v))
        v++;
    bool pending_space = false;
    for (; *v; v++) {
        if (strchr(ws, *v)) {
            pending_space = true;
            continue;
        }
        if (pending_space) buf_putc(&b, ' ');
        pending_space = false;
        buf_putc(&b, *v);
    }
    sigv4_buf_append(&b, "", 0);
    return b.oom ? NULL : b.data;
}

static char *lower_dup(const char *s)
{
    char *d = strdup(s);
    if (d)
        for (char *p = d; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return d;
}

/* Writes "name:value\n" lines (duplicates joined with ',' in request order) into `lines` and the
 * "a;b;c" list into `names`. Insertion sort keeps equal names in request order. */
static int canonical_headers(const sigv4_header *h, size_t n, const sigv4_header *extra,
                             size_t nextra, sigv4_buf *lines, sigv4_buf *names)
{
    size_t total = n + nextra;
    canon_header *c = calloc(total ? total : 1, sizeof *c);
    if (!c) return -1;
    int rc = 0;
    for (size_t i = 0; i < total; i++) {
        const sigv4_header *src = i < n ? &h[i] : &extra[i - n];
        c[i].name = lower_dup(src->name);
        c[i].value = fold_value(src->value ? src->value : "");
        if (!c[i].name || !c[i].value) rc = -1;
    }
    if (rc == 0) {
        for (size_t i = 1; i < total; i++) {
            canon_header t = c[i];
            size_t j = i;
            while (j > 0 && strcmp(c[j - 1].name, t.name) > 0) {
                c[j] = c[j - 1];
                j--;
            }
            c[j] = t;
        }
        for (size_t i = 0; i < total; i++) {
            bool same = i > 0 && strcmp(c[i - 1].name, c[i].name) == 0;
            if (same) {
                buf_putc(lines, ',');
            } else {
                if (i > 0) {
                    buf_putc(lines, '\n');
                    buf_putc(names, ';');
                }
                sigv4_buf_puts(lines, c[i].name);
                buf_putc(lines, ':');
                sigv4_buf_puts(names, c[i].name);
            }
            sigv4_buf_puts(lines, c[i].value);
        }
        if (total) buf_putc(lines, '\n');
        sigv4_buf_append(names, "", 0);
    }
    for (size_t i = 0; i < total; i++) {
        free(c[i].name);
        free(c[i].value);
    }
    free(c);
    return rc;
}

/* ---- signing -----------------------------------------------------------------------------------
 */

static bool has_token(const sigv4_signer *s)
{
    return s->session_token && *s->session_token;
}

static void scope(sigv4_buf *b, const sigv4_signer *s, const char *amz_date)
{
    sigv4_buf_append(b, amz_date, 8);
    buf_putc(b, '/');
    sigv4_buf_puts(b, s->region);
    buf_putc(b, '/');
    sigv4_buf_puts(b, s->service);
    sigv4_buf_puts(b, "/aws4_request");
}

static int check_signer(const sigv4_signer *s, const sigv4_request *req, char *err, size_t errlen)
{
    const char *missing = !s->access_key_id             ? "access_key_id"
                          : !s->secret_access_key       ? "secret_access_key"
                          : !s->region || !*s->region   ? "region"
                          : !s->service || !*s->service ? "service"
                          : !req->method                ? "method"
                                                        : NULL;
    if (missing) {
        snprintf(err, errlen, "sigv4: %s is required", missing);
        return -1;
    }
    return 0;
}

/* The common tail: canonical request -> string to sign -> signature. `query` is the canonical
 * query string, `hdr_lines`/`hdr_names` the canonical headers. */
static void finish(const sigv4_signer *s, const sigv4_request *req, const char *query,
                   const sigv4_buf *hdr_lines, const sigv4_buf *hdr_names, sigv4_result *out)
{
    sigv4_buf *cr = &out->canonical_request;
    sigv4_buf_puts(cr, req->method);
    buf_putc(cr, '\n');
    canonical_uri(cr, req->path, s->flags & SIGV4_NORMALIZE_PATH);
    buf_putc(cr, '\n');
    sigv4_buf_puts(cr, query);
    buf_putc(cr, '\n');
    if (hdr_lines->data) sigv4_buf_puts(cr, hdr_lines->data);
    buf_putc(cr, '\n');
    if (hdr_names->data) sigv4_buf_puts(cr, hdr_names->data);
    buf_putc(cr, '\n');
    sigv4_buf_puts(cr, out->payload_hash);

    char crhash[65];
    sigv4_sha256_hex(cr->data ? cr->data : "", cr->len, crhash);
    sigv4_buf *sts = &out->string_to_sign;
    sigv4_buf_puts(sts, SIGV4_ALGORITHM "\n");
    sigv4_buf_puts(sts, out->amz_date);
    buf_putc(sts, '\n');
    scope(sts, s, out->amz_date);
    buf_putc(sts, '\n');
    sigv4_buf_puts(sts, crhash);

    char date8[9];
    memcpy(date8, out->amz_date, 8);
    date8[8] = '\0';
    unsigned char key[32], sig[32];
    sigv4_signing_key(s->secret_access_key, date8, s->region, s->service, key);
    sigv4_hmac_sha256(key, 32, sts->data ? sts->data : "", sts->len, sig);
    to_hex(sig, 32, out->signature);
    OPENSSL_cleanse(key, sizeof key);
}

static void begin(const sigv4_signer *s, const sigv4_request *req, sigv4_result *out)
{
    *out = (sigv4_result){0};
    sigv4_format_time(s->time, out->amz_date);
    if (req->payload_hash) {
        snprintf(out->payload_hash, sizeof out->payload_hash, "%s", req->payload_hash);
    } else {
        sigv4_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0,
                         out->payload_hash);
    }
}

static int end(sigv4_result *out, int rc, char *err, size_t errlen)
{
    if (rc == 0 && (out->canonical_request.oom || out->string_to_sign.oom || out->output.oom)) {
        snprintf(err, errlen, "sigv4: out of memory");
        rc = -1;
    }
    if (rc != 0) sigv4_result_free(out);
    return rc;
}

static void join_pairs(sigv4_buf *b, const enc_pair *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(b, '&');
        sigv4_buf_puts(b, p[i].key);
        buf_putc(b, '=');
        sigv4_buf_puts(b, p[i].value);
    }
    sigv4_buf_append(b, "", 0);
}

int sigv4_sign_headers(const sigv4_signer *s, const sigv4_request *req, sigv4_result *out,
                       char *err, size_t errlen)
{
    *out = (sigv4_result){0};
    if (check_signer(s, req, err, errlen) != 0) return -1;
    begin(s, req, out);
    enc_pair *pairs;
    size_t np;
    if (parse_query(req->query, &pairs, &np, err, errlen) != 0) {
        free_pairs(pairs, np);
        return end(out, -1, err, errlen);
    }
    if (np) qsort(pairs, np, sizeof *pairs, pair_cmp);
    sigv4_buf query = {0}, lines = {0}, names = {0};
    join_pairs(&query, pairs, np);
    free_pairs(pairs, np);

    sigv4_header extra[3];
    size_t nextra = 0;
    extra[nextra++] = (sigv4_header){"x-amz-date", out->amz_date};
    if (has_token(s) && !(s->flags & SIGV4_OMIT_SESSION_TOKEN))
        extra[nextra++] = (sigv4_header){"x-amz-security-token", s->session_token};
    if (s->flags & SIGV4_CONTENT_SHA256_HEADER)
        extra[nextra++] = (sigv4_header){"x-amz-content-sha256", out->payload_hash};
    int rc = canonical_headers(req->headers, req->n_headers, extra, nextra, &lines, &names);
    if (rc == 0) {
        finish(s, req, query.data, &lines, &names, out);
        sigv4_buf *a = &out->output;
        sigv4_buf_puts(a, SIGV4_ALGORITHM " Credential=");
        sigv4_buf_puts(a, s->access_key_id);
        buf_putc(a, '/');
        scope(a, s, out->amz_date);
        sigv4_buf_puts(a, ", SignedHeaders=");
        sigv4_buf_puts(a, names.data);
        sigv4_buf_puts(a, ", Signature=");
        sigv4_buf_puts(a, out->signature);
    } else {
        snprintf(err, errlen, "sigv4: out of memory");
    }
    sigv4_buf_free(&query);
    sigv4_buf_free(&lines);
    sigv4_buf_free(&names);
    return end(out, rc, err, errlen);
}

int sigv4_presign(const sigv4_signer *s, const sigv4_request *req, sigv4_result *out, char *err,
                  size_t errlen)
{
    *out = (sigv4_result){0};
    if (check_signer(s, req, err, errlen) != 0) return -1;
    if (s->expires <= 0) {
        snprintf(err, errlen, "sigv4: expires must be a positive number of seconds, got %lld",
                 (long long)s->expires);
        return -1;
    }
    begin(s, req, out);
    enc_pair *pairs;
    size_t np;
    if (parse_query(req->query, &pairs, &np, err, errlen) != 0) {
        free_pairs(pairs, np);
        return end(out, -1, err, errlen);
    }
    sigv4_buf lines = {0}, names = {0}, cred = {0}, query = {0};
    int rc = canonical_headers(req->headers, req->n_headers, NULL, 0, &lines, &names);
    enc_pair *all = calloc(np + 6, sizeof *all);
    if (rc != 0 || !all) {
        rc = -1;
        snprintf(err, errlen, "sigv4: out of memory");
        goto done;
    }
    sigv4_buf_puts(&cred, s->access_key_id);
    buf_putc(&cred, '/');
    scope(&cred, s, out->amz_date);
    char expires[24];
    snprintf(expires, sizeof expires, "%lld", (long long)s->expires);
    const char *auth[6][2] = {
        {"X-Amz-Algorithm", SIGV4_ALGORITHM}, {"X-Amz-Credential", cred.data},
        {"X-Amz-Date", out->amz_date},        {"X-Amz-Expires", expires},
        {"X-Amz-SignedHeaders", names.data},  {"X-Amz-Security-Token", s->session_token},
    };
    size_t nauth = has_token(s) ? 6 : 5;
    size_t nall = 0;
    for (size_t i = 0; i < np; i++)
        all[nall++] = pairs[i];
    for (size_t i = 0; i < nauth; i++) {
        all[nall].key = encode_dup(auth[i][0], strlen(auth[i][0]));
        all[nall].value = encode_dup(auth[i][1], strlen(auth[i][1]));
        if (!all[nall].key || !all[nall].value) rc = -1;
        nall++;
    }
    if (rc == 0) {
        /* The output keeps botocore's order; the canonical query is the sorted copy. */
        join_pairs(&out->output, all, nall);
        size_t nsigned = nall - ((has_token(s) && (s->flags & SIGV4_OMIT_SESSION_TOKEN)) ? 1 : 0);
        enc_pair *sorted = malloc(nsigned * sizeof *sorted);
        if (sorted) {
            memcpy(sorted, all, nsigned * sizeof *sorted);
            qsort(sorted, nsigned, sizeof *sorted, pair_cmp);
            join_pairs(&query, sorted, nsigned);
            free(sorted);
            finish(s, req, query.data, &lines, &names, out);
            sigv4_buf_puts(&out->output, "&X-Amz-Signature=");
            sigv4_buf_puts(&out->output, out->signature);
        } else {
            rc = -1;
        }
    }
    if (rc != 0) snprintf(err, errlen, "sigv4: out of memory");
    for (size_t i = np; i < nall; i++) {
        free(all[i].key);
        free(all[i].value);
    }
done:
    free(all);
    free_pairs(pairs, np);
    sigv4_buf_free(&lines);
    sigv4_buf_free(&names);
    sigv4_buf_free(&cred);
    sigv4_buf_free(&query);
    return end(out, rc, err, errlen);
}

void sigv4_result_free(sigv4_result *r)
{
    sigv4_buf_free(&r->canonical_request);
    sigv4_buf_free(&r->string_to_sign);
    sigv4_buf_free(&r->output);
    OPENSSL_cleanse(r->signature, sizeof r->signature);
}
