/* berth-token: command line over aws_credentials (who signs), bearer_token (the token) and the
 * clock. All policy lives in the library; this file parses flags and prints. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/aws/aws_credentials.h"
#include "server/auth/bearer_token.h"

static const char usage[] =
    "usage: berth-token [--region R] [--expiry DURATION] [--profile P] [--service "
    "sagemaker|bedrock]\n"
    "                   [--endpoint-url URL]\n"
    "\n"
    "Prints a bearer token (\"sagemaker-api-key-...\") for `Authorization: Bearer <token>`, built "
    "as the\n"
    "SageMaker SDK's generate_token builds it, from the standard AWS credential chain: the "
    "environment,\n"
    "the shared credentials and config files (with --profile / AWS_PROFILE and "
    "credential_process),\n"
    "container credentials, then EC2 instance metadata (IMDSv2).\n"
    "\n"
    "  --region R         region of the credential scope (else AWS_REGION, AWS_DEFAULT_REGION, "
    "the\n"
    "                     profile's region)\n"
    "  --expiry DURATION  lifetime: seconds, or a number with s, m or h (1s..12h; default 12h)\n"
    "  --profile P        profile of the shared files (skips the environment's keys)\n"
    "  --service S        sagemaker (default) or bedrock (a bedrock-api-key- token)\n"
    "  --endpoint-url URL the https URL the token presigns (default "
    "https://<service>.amazonaws.com/)\n"
    "  --help             this text\n"
    "\n"
    "Testing aid: BERTH_TOKEN_NOW=yyyymmddThhmmssZ (or Unix seconds) pins the signing time.\n";

/* "3600", "3600s", "60m", "12h" -> seconds; -1 when not one of those. */
static long parse_duration(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0 || v > 1000000) return -1;
    long mult = 1;
    if (*end == 'h')
        mult = 3600, end++;
    else if (*end == 'm')
        mult = 60, end++;
    else if (*end == 's')
        end++;
    return *end ? -1 : v * mult;
}

static int pinned_now(int64_t *now)
{
    const char *s = getenv("BERTH_TOKEN_NOW");
    if (!s || !*s) {
        *now = (int64_t)time(NULL);
        return 0;
    }
    if (sigv4_parse_time(s, strlen(s), now) == 0) return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end != s && !*end && v >= 0) {
        *now = v;
        return 0;
    }
    fprintf(stderr, "berth-token: BERTH_TOKEN_NOW: expected yyyymmddThhmmssZ or Unix seconds\n");
    return -1;
}

/* "https://host" or "https://host/" -> host. */
static int endpoint_host(const char *url, char *host, size_t hostlen)
{
    if (strncmp(url, "https://", 8) != 0) return -1;
    const char *h = url + 8;
    size_t n = strcspn(h, "/");
    if (n == 0 || n >= hostlen || (h[n] && strcmp(h + n, "/") != 0)) return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"region", required_argument, NULL, 'r'},
                                         {"expiry", required_argument, NULL, 'e'},
                                         {"profile", required_argument, NULL, 'p'},
                                         {"service", required_argument, NULL, 's'},
                                         {"endpoint-url", required_argument, NULL, 'u'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *region = NULL, *profile = NULL, *endpoint = NULL;
    long expiry = BEARER_MAX_EXPIRES;
    bearer_kind kind = BEARER_SAGEMAKER;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            region = optarg;
            break;
        case 'p':
            profile = optarg;
            break;
        case 'u':
            endpoint = optarg;
            break;
        case 'e':
            expiry = parse_duration(optarg);
            if (expiry < 1 || expiry > BEARER_MAX_EXPIRES) {
                fprintf(
                    stderr,
                    "berth-token: --expiry %s: expected 1s..12h (1..%d seconds), e.g. 3600 or 1h\n",
                    optarg, BEARER_MAX_EXPIRES);
                return 2;
            }
            break;
        case 's':
            if (strcmp(optarg, "sagemaker") == 0) {
                kind = BEARER_SAGEMAKER;
            } else if (strcmp(optarg, "bedrock") == 0) {
                kind = BEARER_BEDROCK;
            } else {
                fprintf(stderr, "berth-token: --service %s: expected sagemaker or bedrock\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "berth-token: unexpected argument %s\n%s", argv[optind], usage);
        return 2;
    }
    char host[256];
    if (endpoint && endpoint_host(endpoint, host, sizeof host) != 0) {
        fprintf(stderr, "berth-token: --endpoint-url %s: expected https://HOST or https://HOST/\n",
                endpoint);
        return 2;
    }
    int64_t now;
    if (pinned_now(&now) != 0) return 2;
    char err[1024], reg[64];
    if (awscred_region(region, profile, reg, sizeof reg, err, sizeof err) != 0) {
        fprintf(stderr, "berth-token: %s\n", err);
        return 1;
    }
    awscred cred;
    awscred_options o = {.profile = profile};
    if (awscred_resolve(&o, &cred, err, sizeof err) != 0) {
        fprintf(stderr, "berth-token: %s\n", err);
        return 1;
    }
    /* Like generate_token, the expiry is not cut to the credentials' own expiration: the verifier
     * caps the token's lifetime by it. */
    bearer_request g = {.kind = kind,
                        .host = endpoint ? host : NULL,
                        .region = reg,
                        .access_key_id = cred.access_key_id,
                        .secret_access_key = cred.secret_access_key,
                        .session_token = cred.session_token,
                        .now = now,
                        .expires = expiry};
    sigv4_buf token;
    int rc = bearer_generate(&g, &token, err, sizeof err);
    awscred_clear(&cred);
    if (rc != 0) {
        fprintf(stderr, "berth-token: %s\n", err);
        return 1;
    }
    puts(token.data);
    sigv4_buf_free(&token);
    return 0;
}
