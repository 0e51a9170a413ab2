/* Benchmark (not a ctest): the cost of what every request pays with auth on: auth_check_request
 * on a SageMaker bearer token (parse, key lookup, re-sign, policy), plus its parts, and the static
 * API key check. Usage: bench_auth [ITERATIONS]. Results go in docs/benchmarks/auth.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/auth/api_keys.h"
#include "server/auth/auth.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const int64_t T0 = 1704067200;

#define BENCH(label, iters, body)                                                                  \
    do {                                                                                           \
        double w0_ = clock_s(CLOCK_MONOTONIC), c0_ = clock_s(CLOCK_THREAD_CPUTIME_ID);             \
        for (long i_ = 0; i_ < (iters); i_++) {                                                    \
            body;                                                                                  \
        }                                                                                          \
        double wall_ = (clock_s(CLOCK_MONOTONIC) - w0_) * 1e6 / (double)(iters);                   \
        double cpu_ = (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0_) * 1e6 / (double)(iters);            \
        printf("%-40s %8.2f us/op CPU %8.2f us/op wall\n", label, cpu_, wall_);                    \
    } while (0)

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 100000;
    char dir[] = "/tmp/berth-bench-XXXXXX", path[256], err[512];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/keys.json", dir);
    FILE *f = fopen(path, "w");
    /* 1000 identities: lookup cost is part of the measurement. */
    fputs("{\"identities\":[", f);
    for (int i = 0; i < 1000; i++)
        fprintf(
            f,
            "%s{\"access_key_id\":\"AKIA%016d\",\"secret_access_key\":\"secret-%d\","
            "\"principal_arn\":\"arn:aws:iam::111122223333:user/u%d\",\"policy\":{\"Statement\":["
            "{\"Effect\":\"Allow\",\"Action\":\"sagemaker:CallWithBearerToken\",\"Resource\":\"*\"}"
            ","
            "{\"Effect\":\"Allow\",\"Action\":\"sagemaker:InvokeEndpoint\","
            "\"Resource\":\"arn:aws:sagemaker:us-east-1:111122223333:endpoint/llm-*\"}]}}",
            i ? "," : "", i, i, i);
    fputs("]}", f);
    fclose(f);
    const char *regions[] = {"us-east-1"};
    auth_config cfg = {
        .keystore_path = path, .regions = regions, .n_regions = 1, .clock_skew = 300};
    auth_ctx *a = auth_create(&cfg, err, sizeof err);
    if (!a) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char akid[32];
    snprintf(akid, sizeof akid, "AKIA%016d", 500);
    bearer_request g = {.region = "us-east-1",
                        .access_key_id = akid,
                        .secret_access_key = "secret-500",
                        .now = T0,
                        .expires = 43200};
    sigv4_buf tok;
    if (bearer_generate(&g, &tok, err, sizeof err) != 0) return 1;
    char *header = malloc(tok.len + 8);
    sprintf(header, "Bearer %s", tok.data);
    auth_result r;
    auth_check_request(a, header, "llm-prod", T0, &r);
    if (r.status != 200) {
        fprintf(stderr, "benchmark token refused: %s\n", bearer_status_name(r.reason));
        return 1;
    }
    bearer_options opt = {.regions = regions, .n_regions = 1, .clock_skew = 300};
    bearer_key key = {.secret_access_key = "secret-500"};
    printf("iterations: %ld, token length: %zu, identities: 1000\n", iters, strlen(header));
    BENCH("auth_check_request (token, 200)", iters,
          auth_check_request(a, header, "llm-prod", T0, &r));
    BENCH("auth_check_request (token, 403)", iters, auth_check_request(a, header, "other", T0, &r));
    BENCH("bearer_parse", iters, {
        bearer_token t;
        bearer_parse(tok.data, tok.len, &opt, &t);
        bearer_token_free(&t);
    });
    bearer_token t;
    bearer_parse(tok.data, tok.len, &opt, &t);
    BENCH("bearer_verify (re-sign + compare)", iters, bearer_verify(&t, &key, &opt, T0));
    bearer_token_free(&t);
    BENCH("bearer_generate", iters / 10, {
        sigv4_buf b;
        bearer_generate(&g, &b, err, sizeof err);
        sigv4_buf_free(&b);
    });
    const char *keys[] = {"k1-0123456789abcdef", "k2-0123456789abcdef", "k3-0123456789abcdef"};
    apikeys *k = apikeys_create(keys, 3, NULL, err, sizeof err);
    BENCH("apikeys_check (3 keys)", iters, apikeys_check(k, "k3-0123456789abcdef", 19));
    apikeys_free(k);
    free(header);
    sigv4_buf_free(&tok);
    auth_destroy(a);
    unlink(path);
    rmdir(dir);
    return 0;
}
