/* Proves sigv4 against the public AWS signing test suite (every case, header and presigned-query
 * variants: canonical request, string to sign, signature, signed request) and the S3
 * documentation's presigned GET. A missing suite folder or an empty one is a failure. */
#include "models/aws/sigv4.h"
#include "tests/support/test_support.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *slurp(const char *dir, const char *name)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

typedef struct {
    char *method, *path, *query, *body;
    sigv4_header headers[16];
    char *names[16], *values[16];
    size_t n_headers;
} parsed_request;

/* request.txt: "METHOD TARGET HTTP/1.1" (the target may hold spaces), headers with folded
 * continuation lines, a blank line, the body. */
static int parse_request(char *text, parsed_request *r)
{
    memset(r, 0, sizeof *r);
    char *nl = strchr(text, '\n');
    if (!nl) return -1;
    *nl = '\0';
    char *sp1 = strchr(text, ' '), *sp2 = strrchr(text, ' ');
    if (!sp1 || sp2 == sp1) return -1;
    *sp1 = '\0';
    *sp2 = '\0';
    r->method = strdup(text);
    char *target = sp1 + 1, *q = strchr(target, '?');
    if (q) {
        *q = '\0';
        r->query = strdup(q + 1);
    }
    r->path = strdup(target);
    char *line = nl + 1;
    r->body = strdup("");
    while (*line) {
        char *e = strchr(line, '\n');
        size_t len = e ? (size_t)(e - line) : strlen(line);
        if (len == 0) {
            free(r->body);
            r->body = strdup(e ? e + 1 : "");
            break;
        }
        char *l = strndup(line, len);
        if ((l[0] == ' ' || l[0] == '\t') && r->n_headers) {
            char *prev = r->values[r->n_headers - 1];
            char *joined = malloc(strlen(prev) + strlen(l) + 2);
            sprintf(joined, "%s\n%s", prev, l);
            free(prev);
            r->values[r->n_headers - 1] = joined;
            free(l);
        } else {
            char *colon = strchr(l, ':');
            if (!colon || r->n_headers == 16) return -1;
            *colon = '\0';
            r->names[r->n_headers] = strdup(l);
            r->values[r->n_headers] = strdup(colon + 1);
            r->n_headers++;
            free(l);
        }
        if (!e) break;
        line = e + 1;
    }
    for (size_t i = 0; i < r->n_headers; i++)
        r->headers[i] = (sigv4_header){r->names[i], r->values[i]};
    return 0;
}

static void free_request(parsed_request *r)
{
    free(r->method);
    free(r->path);
    free(r->query);
    free(r->body);
    for (size_t i = 0; i < r->n_headers; i++)
        free(r->names[i]), free(r->values[i]);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *decoded(const char *s)
{
    sigv4_buf b = {0};
    if (sigv4_percent_decode(&b, s, strlen(s)) != 0) sigv4_buf_puts(&b, "(bad escape)");
    return b.data;
}

/* The suite's signer (aws-c-auth) orders the presigned parameters its own way and leaves the
 * request's own parameters as the client wrote them: the decoded set must match. */
static int same_param_set(const char *a, const char *b)
{
    char *x = decoded(a), *y = decoded(b);
    char *px[64], *py[64];
    size_t nx = 0, ny = 0;
    for (char *t = strtok(x, "&"); t && nx < 64; t = strtok(NULL, "&"))
        px[nx++] = t;
    for (char *t = strtok(y, "&"); t && ny < 64; t = strtok(NULL, "&"))
        py[ny++] = t;
    int same = nx == ny;
    if (same) {
        qsort(px, nx, sizeof *px, cmp_str);
        qsort(py, ny, sizeof *py, cmp_str);
        for (size_t i = 0; i < nx; i++)
            same &= strcmp(px[i], py[i]) == 0;
    }
    free(x);
    free(y);
    return same;
}

static void expect_file(const char *dir, const char *name, const char *got, const char *ctx)
{
    char *want = slurp(dir, name);
    CHECKF(want != NULL, "%s: missing %s", ctx, name);
    if (!want) return;
    chomp(want);
    CHECKF(got && strcmp(want, got) == 0, "%s: %s differs\n--- want\n%s\n--- got\n%s", ctx, name,
           want, got ? got : "(null)");
    free(want);
}

static void run_case(const char *root, const char *name)
{
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    char *ctx_text = slurp(dir, "context.json"), *req_text = slurp(dir, "request.txt");
    CHECKF(ctx_text && req_text, "%s: context.json or request.txt missing", name);
    if (!ctx_text || !req_text) return;
    cJSON *ctx = cJSON_Parse(ctx_text);
    CHECKF(ctx != NULL, "%s: context.json does not parse", name);
    parsed_request r;
    CHECKF(parse_request(req_text, &r) == 0, "%s: request.txt does not parse", name);

    cJSON *cred = cJSON_GetObjectItem(ctx, "credentials");
    struct tm tm = {0};
    const char *ts = cJSON_GetObjectItem(ctx, "timestamp")->valuestring;
    sscanf(ts, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
           &tm.tm_sec);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    cJSON *token = cJSON_GetObjectItem(cred, "token");
    unsigned flags = 0;
    if (cJSON_IsTrue(cJSON_GetObjectItem(ctx, "normalize"))) flags |= SIGV4_NORMALIZE_PATH;
    if (cJSON_IsTrue(cJSON_GetObjectItem(ctx, "sign_body"))) flags |= SIGV4_CONTENT_SHA256_HEADER;
    if (cJSON_IsTrue(cJSON_GetObjectItem(ctx, "omit_session_token")))
        flags |= SIGV4_OMIT_SESSION_TOKEN;
    sigv4_signer s = {
        .access_key_id = cJSON_GetObjectItem(cred, "access_key_id")->valuestring,
        .secret_access_key = cJSON_GetObjectItem(cred, "secret_access_key")->valuestring,
        .session_token = token ? token->valuestring : NULL,
        .region = cJSON_GetObjectItem(ctx, "region")->valuestring,
        .service = cJSON_GetObjectItem(ctx, "service")->valuestring,
        .time = (int64_t)timegm(&tm),
        .expires = cJSON_GetObjectItem(ctx, "expiration_in_seconds")->valueint,
        .flags = flags,
    };
    sigv4_request req = {.method = r.method,
                         .path = r.path,
                         .query = r.query,
                         .headers = r.headers,
                         .n_headers = r.n_headers,
                         .body = r.body,
                         .body_len = strlen(r.body)};
    char err[256], label[512];

    sigv4_result h;
    snprintf(label, sizeof label, "%s (header)", name);
    CHECKF(sigv4_sign_headers(&s, &req, &h, err, sizeof err) == 0, "%s: %s", label, err);
    expect_file(dir, "header-canonical-request.txt", h.canonical_request.data, label);
    expect_file(dir, "header-string-to-sign.txt", h.string_to_sign.data, label);
    expect_file(dir, "header-signature.txt", h.signature, label);
    char *signed_req = slurp(dir, "header-signed-request.txt");
    char *auth = signed_req ? strstr(signed_req, "\nAuthorization:") : NULL;
    CHECKF(auth != NULL, "%s: no Authorization line in header-signed-request.txt", label);
    if (auth) {
        auth += strlen("\nAuthorization:");
        *strchr(auth, '\n') = '\0';
        CHECKF(strcmp(auth, h.output.data) == 0, "%s: Authorization\n want %s\n got  %s", label,
               auth, h.output.data);
    }
    free(signed_req);
    sigv4_result_free(&h);

    sigv4_result q;
    snprintf(label, sizeof label, "%s (query)", name);
    CHECKF(sigv4_presign(&s, &req, &q, err, sizeof err) == 0, "%s: %s", label, err);
    expect_file(dir, "query-canonical-request.txt", q.canonical_request.data, label);
    expect_file(dir, "query-string-to-sign.txt", q.string_to_sign.data, label);
    expect_file(dir, "query-signature.txt", q.signature, label);
    signed_req = slurp(dir, "query-signed-request.txt");
    char *qs = signed_req ? strchr(signed_req, '?') : NULL;
    char *ver = qs ? strstr(qs, " HTTP/1.1") : NULL;
    CHECKF(ver != NULL, "%s: query-signed-request.txt has no query", label);
    if (ver) {
        *ver = '\0';
        CHECKF(same_param_set(qs + 1, q.output.data), "%s: signed query\n want %s\n got  %s", label,
               qs + 1, q.output.data);
    }
    free(signed_req);
    sigv4_result_free(&q);

    free_request(&r);
    cJSON_Delete(ctx);
    free(ctx_text);
    free(req_text);
}

static char *section(const char *text, const char *start, const char *stop)
{
    const char *a = strstr(text, start);
    if (!a) return strdup("");
    a += strlen(start);
    const char *b = strstr(a, stop);
    return strndup(a, b ? (size_t)(b - a) : strlen(a));
}

static void s3_example(void)
{
    char path[4096];
    test_shared_path("data/sigv4", path, sizeof path);
    char *text = slurp(path, "s3_presigned_example_AKIAIOSFODNN7EXAMPLE.txt");
    CHECKF(text != NULL, "s3 example file missing");
    if (!text) return;
    char *cr = section(text, "CanonicalRequest:\n", "\nStringToSign:");
    char *sts = section(text, "StringToSign:\n", "\nSignature:");
    char *sig = section(text, "Signature:\n", "\n");
    char *url = section(text, "URL: ", "\n");
    sigv4_header host = {"host", "examplebucket.s3.amazonaws.com"};
    int64_t t;
    CHECK(sigv4_parse_time("20130524T000000Z", 16, &t) == 0);
    sigv4_signer s = {.access_key_id = "AKIAIOSFODNN7EXAMPLE",
                      .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                      .region = "us-east-1",
                      .service = "s3",
                      .time = t,
                      .expires = 86400};
    sigv4_request req = {.method = "GET",
                         .path = "/test.txt",
                         .headers = &host,
                         .n_headers = 1,
                         .payload_hash = SIGV4_UNSIGNED_PAYLOAD};
    sigv4_result r;
    char err[256];
    CHECKF(sigv4_presign(&s, &req, &r, err, sizeof err) == 0, "s3: %s", err);
    CHECKF(strcmp(r.canonical_request.data, cr) == 0, "s3 canonical request\n%s",
           r.canonical_request.data);
    CHECKF(strcmp(r.string_to_sign.data, sts) == 0, "s3 string to sign\n%s", r.string_to_sign.data);
    CHECKF(strcmp(r.signature, sig) == 0, "s3 signature %s", r.signature);
    CHECKF(strcmp(sig, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404") == 0,
           "s3 example file no longer carries the documented signature");
    char mine[2048];
    snprintf(mine, sizeof mine, "https://examplebucket.s3.amazonaws.com/test.txt?%s",
             r.output.data);
    CHECKF(strcmp(mine, url) == 0, "s3 URL\n want %s\n got  %s", url, mine);
    sigv4_result_free(&r);
    free(cr), free(sts), free(sig), free(url), free(text);
}

static void helpers(void)
{
    int64_t t;
    CHECK(sigv4_parse_time("20240229T235959Z", 16, &t) == 0);
    CHECK(sigv4_parse_time("20230229T000000Z", 16, &t) != 0); /* not a leap year */
    CHECK(sigv4_parse_time("20240101T000000", 15, &t) != 0);
    CHECK(sigv4_parse_time("2024010AT000000Z", 16, &t) != 0);
    sigv4_buf b = {0};
    CHECK(sigv4_percent_decode(&b, "a%2", 3) != 0);
    sigv4_buf_free(&b);
    CHECK(sigv4_percent_decode(&b, "a%2fb+", 6) == 0 && strcmp(b.data, "a/b+") == 0);
    sigv4_buf_free(&b);
    sigv4_uri_encode(&b, "a/b+c=d ~", 9, false);
    CHECK(strcmp(b.data, "a%2Fb%2Bc%3Dd%20~") == 0);
    sigv4_buf_free(&b);
}

int main(void)
{
    char root[4096];
    test_shared_path("data/sigv4/aws-signing-test-suite", root, sizeof root);
    DIR *d = opendir(root);
    CHECKF(d != NULL, "cannot open %s", root);
    int cases = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            run_case(root, e->d_name);
            cases++;
        }
        closedir(d);
    }
    CHECKF(cases >= 38, "expected the 38 suite cases, found %d", cases);
    s3_example();
    helpers();
    printf("sigv4 suite: %d cases\n", cases);
    return test_finish("test_sigv4_suite");
}
