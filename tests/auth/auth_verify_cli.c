/* berth-auth-verify: a test-only front end to auth_check_request, so the Python tests can check
 * tokens made by botocore against the C verifier. Reads the Authorization header value from stdin
 * (one line) and prints "STATUS REASON" and the message. Not installed, not part of the server. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/auth/auth.h"

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"keys", required_argument, NULL, 'k'},
                                         {"region", required_argument, NULL, 'r'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"endpoint", required_argument, NULL, 'e'},
                                         {"bedrock", no_argument, NULL, 'b'},
                                         {"api-key", required_argument, NULL, 'a'},
                                         {"skew", required_argument, NULL, 's'},
                                         {"host", required_argument, NULL, 'H'},
                                         {NULL, 0, NULL, 0}};
    const char *regions[8], *api_keys[8];
    auth_config cfg = {
        .regions = regions, .api_keys = api_keys, .clock_skew = AUTH_DEFAULT_CLOCK_SKEW};
    const char *endpoint = "default";
    int64_t now = (int64_t)time(NULL);
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            cfg.keystore_path = optarg;
            break;
        case 'r':
            if (cfg.n_regions < 8) regions[cfg.n_regions++] = optarg;
            break;
        case 'a':
            if (cfg.n_api_keys < 8) api_keys[cfg.n_api_keys++] = optarg;
            break;
        case 'e':
            endpoint = optarg;
            break;
        case 'b':
            cfg.accept_bedrock = true;
            break;
        case 'H':
            cfg.sagemaker_host = optarg;
            break;
        case 's':
            cfg.clock_skew = strtoll(optarg, NULL, 10);
            break;
        case 'n':
            if (sigv4_parse_time(optarg, strlen(optarg), &now) != 0)
                now = strtoll(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr,
                    "usage: berth-auth-verify [--keys F --region R...] [--api-key K] [--bedrock] "
                    "[--skew S] [--host H] [--now T] [--endpoint NAME] < header\n");
            return 2;
        }
    }
    char err[1024];
    auth_ctx *a = auth_create(&cfg, err, sizeof err);
    if (!a) {
        fprintf(stderr, "berth-auth-verify: %s\n", err);
        return 1;
    }
    static char header[65536];
    size_t n = fread(header, 1, sizeof header - 1, stdin);
    header[n] = '\0';
    header[strcspn(header, "\r\n")] = '\0';
    auth_result r;
    auth_check_request(a, n ? header : NULL, endpoint, now, &r);
    printf("%d %s\n%s\n%s\n", r.status, bearer_status_name(r.reason), r.message, r.principal_arn);
    auth_destroy(a);
    return 0;
}
