/* berth fetch: download a model from S3 into a directory (or the cache) with the same machinery
 * that `--model s3://...` uses, so that a model can be staged ahead of time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/source/model_source.h"

static void fetch_usage(FILE *f)
{
    fprintf(
        f,
        "usage: berth fetch [OPTIONS] s3://BUCKET/PREFIX/ [DIR]\n"
        "\n"
        "Downloads every object under the prefix into DIR (key minus prefix = relative path), or "
        "into\n"
        "the cache directory that `--model s3://...` uses when DIR is omitted, and prints the\n"
        "directory. Interrupted downloads resume; a rerun with an unchanged prefix downloads "
        "nothing.\n"
        "\n"
        "options:\n"
        "  --cache-dir DIR     cache root when DIR is omitted (default $XDG_CACHE_HOME/berth/s3\n"
        "                      or ~/.cache/berth/s3)\n"
        "  --profile NAME      AWS profile (default $AWS_PROFILE, else \"default\")\n"
        "  --region REGION     bucket region (default: AWS_REGION, AWS_DEFAULT_REGION, the "
        "profile)\n"
        "  --endpoint URL      S3-compatible endpoint (default $AWS_ENDPOINT_URL_S3, "
        "$AWS_ENDPOINT_URL)\n"
        "  --path-style        path-style addressing (implied by an endpoint)\n"
        "  --part-size BYTES   bytes per ranged GET, suffixes K M G (default 8M)\n"
        "  --concurrency N     parallel GETs (default 8)\n"
        "  --max-attempts N    attempts in a row that receive nothing before a request gives up;\n"
        "                      an attempt that received bytes resumes from them and does not\n"
        "                      count (default $AWS_MAX_ATTEMPTS, else 5)\n"
        "  --read-timeout S    an attempt that receives no byte for S seconds is retried (default\n"
        "                      $BERTH_S3_READ_TIMEOUT, else 60, as the AWS CLI's)\n"
        "  --connect-timeout S seconds to connect (default $BERTH_S3_CONNECT_TIMEOUT, else 60)\n"
        "  --progress MODE     auto (bar on a terminal, else log lines), bar, log or none\n"
        "  --stats             print a JSON line of transfer statistics on stdout\n"
        "  -h, --help          this text\n");
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-') return -1;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift) end++;
    if (*end || v == 0 || v > (UINT64_MAX >> shift)) return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Test hooks, documented in docs/s3.md: read here rather than in the library so that only the
 * command line can be told to misbehave. */
static int read_test_hooks(model_source_options *o)
{
    const char *v = getenv("BERTH_S3_TEST_FAIL_AFTER_PARTS");
    long n;
    if (v && *v) {
        if (parse_int(v, 1, 1L << 30, &n) != 0) {
            fprintf(stderr,
                    "berth fetch: BERTH_S3_TEST_FAIL_AFTER_PARTS='%s', expected a positive count\n",
                    v);
            return -1;
        }
        o->fail_after_parts = n;
    }
    v = getenv("BERTH_S3_TEST_FREE_BYTES");
    if (v && *v && parse_size(v, &o->assume_free_bytes) != 0) {
        fprintf(stderr, "berth fetch: BERTH_S3_TEST_FREE_BYTES='%s', expected a byte count\n", v);
        return -1;
    }
    v = getenv("BERTH_S3_TEST_LIST_PAGE_SIZE");
    if (v && *v) {
        if (parse_int(v, 1, 1000, &n) != 0) {
            fprintf(stderr, "berth fetch: BERTH_S3_TEST_LIST_PAGE_SIZE='%s', expected 1 to 1000\n",
                    v);
            return -1;
        }
        o->list_page_size = (int)n;
    }
    return 0;
}

int cmd_fetch(int argc, char **argv)
{
    model_source_options o = {0};
    model_source_stats stats = {0};
    const char *pos[2] = {NULL, NULL};
    int npos = 0, want_stats = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fetch_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--path-style")) {
            o.path_style = true;
            continue;
        } else if (!strcmp(a, "--stats")) {
            want_stats = 1;
            continue;
        } else if (a[0] != '-' || !a[1]) {
            if (npos == 2) {
                fprintf(stderr, "berth fetch: unexpected argument '%s'\n", a);
                return 2;
            }
            pos[npos++] = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "berth fetch: %s needs a value (see berth fetch --help)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--cache-dir"))
            o.cache_dir = v;
        else if (!strcmp(a, "--profile"))
            o.profile = v;
        else if (!strcmp(a, "--region"))
            o.region = v;
        else if (!strcmp(a, "--endpoint"))
            o.endpoint = v;
        else if (!strcmp(a, "--part-size")) {
            if (parse_size(v, &o.part_size) != 0 || o.part_size < 1024) {
                fprintf(stderr,
                        "berth fetch: --part-size '%s', expected a byte count of at least 1K\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--concurrency") || !strcmp(a, "--max-attempts")) {
            if (parse_int(v, 1, 256, &n) != 0) {
                fprintf(stderr, "berth fetch: %s '%s', expected 1 to 256\n", a, v);
                return 2;
            }
            if (a[2] == 'c')
                o.concurrency = (int)n;
            else
                o.max_attempts = (int)n;
        } else if (!strcmp(a, "--read-timeout") || !strcmp(a, "--connect-timeout")) {
            if (parse_int(v, 1, 3600, &n) != 0) {
                fprintf(stderr, "berth fetch: %s '%s', expected 1 to 3600 seconds\n", a, v);
                return 2;
            }
            if (a[2] == 'r')
                o.read_timeout_s = n;
            else
                o.connect_timeout_s = n;
        } else if (!strcmp(a, "--progress")) {
            if (!strcmp(v, "auto"))
                o.progress = MS_PROGRESS_AUTO;
            else if (!strcmp(v, "bar"))
                o.progress = MS_PROGRESS_BAR;
            else if (!strcmp(v, "log"))
                o.progress = MS_PROGRESS_LOG;
            else if (!strcmp(v, "none"))
                o.progress = MS_PROGRESS_NONE;
            else {
                fprintf(stderr, "berth fetch: --progress '%s', expected auto, bar, log or none\n",
                        v);
                return 2;
            }
        } else {
            fprintf(stderr, "berth fetch: unknown option '%s' (see berth fetch --help)\n", a);
            return 2;
        }
    }
    if (npos == 0 || !model_source_is_s3(pos[0])) {
        fprintf(stderr, "berth fetch: expected s3://BUCKET/PREFIX/ as the first argument\n\n");
        fetch_usage(stderr);
        return 2;
    }
    if (read_test_hooks(&o) != 0) return 2;
    o.stats = &stats;
    char dir[4096], err[8192];
    int rc;
    if (pos[1]) {
        snprintf(dir, sizeof dir, "%s", pos[1]);
        rc = model_source_fetch(pos[0], dir, &o, err, sizeof err);
    } else {
        rc = model_source_resolve(pos[0], &o, dir, sizeof dir, err, sizeof err);
    }
    if (want_stats)
        printf("{\"objects\": %zu, \"downloaded\": %zu, \"skipped\": %zu, \"bytes_total\": %llu, "
               "\"bytes_downloaded\": %llu, \"parts_fetched\": %zu, \"parts_resumed\": %zu, "
               "\"requests\": %lu, \"retries\": %lu, \"resumes\": %lu, \"seconds\": %.3f}\n",
               stats.objects, stats.downloaded, stats.skipped,
               (unsigned long long)stats.bytes_total, (unsigned long long)stats.bytes_downloaded,
               stats.parts_fetched, stats.parts_resumed, stats.requests, stats.retries,
               stats.resumes, stats.seconds);
    if (rc != 0) {
        fprintf(stderr, "berth fetch: %s\n", err);
        return 1;
    }
    printf("%s\n", dir);
    return 0;
}
