/* Where requests go: virtual-hosted and path-style URLs, endpoint overrides, key encoding, s3://
 * URL parsing and the cache directory an s3:// model lands in. */
#include <stdlib.h>
#include <string.h>

#include "models/source/model_source.h"
#include "models/source/s3_client.h"
#include "tests/support/test_support.h"

static void expect_url(const s3_addr *a, const char *region, const char *bucket, const char *key,
                       const char *query, const char *url, const char *host, const char *path)
{
    sigv4_buf u = {0}, h = {0}, p = {0};
    CHECK(s3_build_url(a, region, bucket, key, query, &u, &h, &p) == 0);
    CHECKF(!strcmp(u.data, url), "url %s, expected %s", u.data, url);
    CHECKF(!strcmp(h.data, host), "host %s, expected %s", h.data, host);
    CHECKF(!strcmp(p.data, path), "path %s, expected %s", p.data, path);
    sigv4_buf_free(&u);
    sigv4_buf_free(&h);
    sigv4_buf_free(&p);
}

static void test_aws_addressing(void)
{
    s3_addr a = {.scheme = "https"};
    expect_url(&a, "us-west-2", "my-bucket", "models/a b/c+d.json", NULL,
               "https://my-bucket.s3.us-west-2.amazonaws.com/models/a%20b/c%2Bd.json",
               "my-bucket.s3.us-west-2.amazonaws.com", "/models/a b/c+d.json");
    expect_url(&a, "eu-west-1", "my-bucket", "", "list-type=2&prefix=m%2F",
               "https://my-bucket.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=m%2F",
               "my-bucket.s3.eu-west-1.amazonaws.com", "/");
    /* Dotted names cannot match the *.s3 wildcard certificate: path-style. */
    expect_url(&a, "us-east-1", "my.bucket", "k", NULL,
               "https://s3.us-east-1.amazonaws.com/my.bucket/k", "s3.us-east-1.amazonaws.com",
               "/my.bucket/k");
    a.path_style = true;
    expect_url(&a, "us-east-1", "b1b", "k/é", NULL,
               "https://s3.us-east-1.amazonaws.com/b1b/k/%C3%A9", "s3.us-east-1.amazonaws.com",
               "/b1b/k/é");
}

static void test_endpoint_override(void)
{
    s3_addr a = {0};
    char err[256];
    CHECK(s3_addr_parse_endpoint("http://127.0.0.1:9000/", &a, err, sizeof err) == 0);
    CHECK(a.path_style);
    expect_url(&a, "us-east-1", "bkt", "p/model.safetensors", NULL,
               "http://127.0.0.1:9000/bkt/p/model.safetensors", "127.0.0.1:9000",
               "/bkt/p/model.safetensors");
    CHECK(s3_addr_parse_endpoint("HTTPS://minio.local/base//", &a, err, sizeof err) == 0);
    expect_url(&a, "r", "bkt", "k", "x=1", "https://minio.local/base/bkt/k?x=1", "minio.local",
               "/base/bkt/k");
    const char *bad[] = {"ftp://h", "http://", "minio.local:9000", "http://h/?q=1", "http://h#f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECKF(s3_addr_parse_endpoint(bad[i], &a, err, sizeof err) == -1, "accepted %s", bad[i]);
        CHECKF(strstr(err, bad[i]) != NULL, "error '%s' does not name %s", err, bad[i]);
    }
}

static void test_parse_s3_url(void)
{
    char b[64], p[256], err[256];
    CHECK(model_source_parse_s3_url("s3://bkt/pre", b, sizeof b, p, sizeof p, err, sizeof err) ==
          0);
    CHECK(!strcmp(b, "bkt") && !strcmp(p, "pre/"));
    CHECK(model_source_parse_s3_url("s3://bkt/a/b/", b, sizeof b, p, sizeof p, err, sizeof err) ==
          0);
    CHECK(!strcmp(p, "a/b/"));
    CHECK(model_source_parse_s3_url("s3://bkt", b, sizeof b, p, sizeof p, err, sizeof err) == 0);
    CHECK(!strcmp(b, "bkt") && !strcmp(p, ""));
    CHECK(model_source_parse_s3_url("s3://bkt/", b, sizeof b, p, sizeof p, err, sizeof err) == 0);
    CHECK(!strcmp(p, ""));
    CHECK(model_source_parse_s3_url("s3://ab/x", b, sizeof b, p, sizeof p, err, sizeof err) == -1);
    CHECKF(strstr(err, "bucket name 'ab'") != NULL, "%s", err);
    CHECK(model_source_parse_s3_url("s3://bad bucket/x", b, sizeof b, p, sizeof p, err,
                                    sizeof err) == -1);
    CHECK(model_source_parse_s3_url("/local/dir", b, sizeof b, p, sizeof p, err, sizeof err) == -1);
    CHECK(strstr(err, "not an S3 URL") != NULL);
    CHECK(model_source_is_s3("s3://x") && !model_source_is_s3("./s3") && !model_source_is_s3(NULL));
}

static void test_cache_path(void)
{
    char out[512], err[512];
    CHECK(model_source_cache_path("s3://bkt/org/model", "/c", out, sizeof out, err, sizeof err) ==
          0);
    CHECKF(!strcmp(out, "/c/bkt/org/model"), "%s", out);
    CHECK(model_source_cache_path("s3://bkt", "/c", out, sizeof out, err, sizeof err) == 0);
    CHECKF(!strcmp(out, "/c/bkt/_root"), "%s", out);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    CHECK(model_source_cache_path("s3://bkt/m/", NULL, out, sizeof out, err, sizeof err) == 0);
    CHECKF(!strcmp(out, "/xdg/berth/s3/bkt/m"), "%s", out);
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    CHECK(model_source_cache_path("s3://bkt/m/", NULL, out, sizeof out, err, sizeof err) == 0);
    CHECKF(!strcmp(out, "/home/u/.cache/berth/s3/bkt/m"), "%s", out);
    const char *escapes[] = {"s3://bkt/../../etc/", "s3://bkt/a//b/", "s3://bkt/./a"};
    for (size_t i = 0; i < 3; i++) {
        CHECKF(model_source_cache_path(escapes[i], "/c", out, sizeof out, err, sizeof err) == -1,
               "accepted %s", escapes[i]);
        CHECK(strstr(err, "cannot name a cache directory") != NULL);
    }
    char tiny[8];
    CHECK(model_source_cache_path("s3://bkt/m", "/c", tiny, sizeof tiny, err, sizeof err) == -1);
    CHECK(strstr(err, "longer than") != NULL);
}

static void test_resolve_local(void)
{
    model_source_options o = {0};
    char dir[64], err[256];
    CHECK(model_source_resolve("/models/qwen", &o, dir, sizeof dir, err, sizeof err) == 0);
    CHECK(!strcmp(dir, "/models/qwen"));
}

int main(void)
{
    test_aws_addressing();
    test_endpoint_override();
    test_parse_s3_url();
    test_cache_path();
    test_resolve_local();
    return test_finish("test_s3_addressing");
}
