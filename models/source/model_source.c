#include "models/source/model_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/source/s3_client.h"
#include "models/source/s3_fetch.h"

bool model_source_is_s3(const char *model_arg)
{
    return model_arg && !strncmp(model_arg, "s3://", 5);
}

int model_source_parse_s3_url(const char *url, char *bucket, size_t bucketlen, char *prefix,
                              size_t prefixlen, char *err, size_t errlen)
{
    if (!model_source_is_s3(url)) {
        snprintf(err, errlen, "'%s' is not an S3 URL: expected s3://BUCKET/PREFIX/", url);
        return -1;
    }
    const char *b = url + 5;
    size_t blen = strcspn(b, "/");
    bool ok = blen >= 3 && blen <= 63 && blen < bucketlen;
    for (size_t i = 0; ok && i < blen; i++) {
        char ch = b[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '-' || ch == '_';
    }
    if (!ok) {
        snprintf(err, errlen,
                 "'%s': the bucket name '%.*s' is not valid (expected 3 to 63 letters, "
                 "digits, '.', '-' or '_')",
                 url, (int)(blen > 80 ? 80 : blen), b);
        return -1;
    }
    const char *p = b[blen] == '/' ? b + blen + 1 : b + blen;
    size_t plen = strlen(p);
    bool slash = plen > 0 && p[plen - 1] != '/';
    if (plen + slash >= prefixlen) {
        snprintf(err, errlen, "'%s': the prefix is longer than %zu bytes", url, prefixlen - 2);
        return -1;
    }
    snprintf(bucket, bucketlen, "%.*s", (int)blen, b);
    snprintf(prefix, prefixlen, "%s%s", p, slash ? "/" : "");
    return 0;
}

/* The prefix becomes folder names under the cache root, so it must not climb out of it. */
static bool prefix_is_safe_path(const char *prefix)
{
    for (const char *seg = prefix; *seg;) {
        size_t n = strcspn(seg, "/");
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && !strncmp(seg, "..", 2))) return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)seg[i] < 0x20) return false;
        seg += n;
        if (*seg == '/') seg++;
    }
    return true;
}

int model_source_cache_path(const char *url, const char *cache_dir, char *out, size_t outlen,
                            char *err, size_t errlen)
{
    char bucket[64], prefix[1100], root[4096];
    if (model_source_parse_s3_url(url, bucket, sizeof bucket, prefix, sizeof prefix, err, errlen) !=
        0)
        return -1;
    if (!prefix_is_safe_path(prefix)) {
        snprintf(err, errlen,
                 "'%s': the prefix has '.', '..' or empty path segments, so it cannot name "
                 "a cache directory; use berth fetch with an explicit directory",
                 url);
        return -1;
    }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (cache_dir && *cache_dir)
        snprintf(root, sizeof root, "%s", cache_dir);
    else if (xdg && xdg[0] == '/')
        snprintf(root, sizeof root, "%s/berth/s3", xdg);
    else if (home && *home)
        snprintf(root, sizeof root, "%s/.cache/berth/s3", home);
    else {
        snprintf(err, errlen,
                 "no cache directory for %s: pass a cache directory, or set XDG_CACHE_HOME "
                 "or HOME",
                 url);
        return -1;
    }
    size_t plen = strlen(prefix);
    int n = plen ? snprintf(out, outlen, "%s/%s/%.*s", root, bucket, (int)(plen - 1), prefix)
                 : snprintf(out, outlen, "%s/%s/_root", root, bucket);
    if (n < 0 || (size_t)n >= outlen) {
        snprintf(err, errlen, "the cache path for %s is longer than %zu bytes", url, outlen - 1);
        return -1;
    }
    return 0;
}

int model_source_fetch(const char *s3_url, const char *dir, const model_source_options *opt,
                       char *err, size_t errlen)
{
    char bucket[64], prefix[1100];
    if (model_source_parse_s3_url(s3_url, bucket, sizeof bucket, prefix, sizeof prefix, err,
                                  errlen) != 0)
        return -1;
    s3_client_options co = {.profile = opt->profile,
                            .region = opt->region,
                            .endpoint = opt->endpoint,
                            .path_style = opt->path_style,
                            .max_attempts = opt->max_attempts,
                            .connect_timeout_s = opt->connect_timeout_s,
                            .read_timeout_s = opt->read_timeout_s};
    s3_client c;
    char cerr[1024];
    if (s3_client_init(&c, &co, cerr, sizeof cerr) != 0) {
        snprintf(err, errlen, "%s: %s", s3_url, cerr);
        return -1;
    }
    int rc = s3_fetch_prefix(&c, bucket, prefix, dir, opt, err, errlen);
    s3_client_free(&c);
    return rc;
}

int model_source_resolve(const char *model_arg, const model_source_options *opt, char *local_dir,
                         size_t len, char *err, size_t errlen)
{
    if (!model_source_is_s3(model_arg)) {
        if ((size_t)snprintf(local_dir, len, "%s", model_arg) >= len) {
            snprintf(err, errlen, "model path '%s' is longer than %zu bytes", model_arg, len - 1);
            return -1;
        }
        return 0;
    }
    char dir[4096];
    if (model_source_cache_path(model_arg, opt->cache_dir, dir, sizeof dir, err, errlen) != 0 ||
        model_source_fetch(model_arg, dir, opt, err, errlen) != 0)
        return -1;
    if ((size_t)snprintf(local_dir, len, "%s", dir) >= len) {
        snprintf(err, errlen, "the cache path %s is longer than %zu bytes", dir, len - 1);
        return -1;
    }
    return 0;
}
