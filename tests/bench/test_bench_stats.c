/* Percentiles equal numpy's, the run summary adds up (counts, tokens, throughputs, TPOT from E2EL and
 * TTFT, ITL pooled over requests, failures kept out of the latencies), the table and JSON carry
 * vllm's names, and the random dataset is seeded, sized and Poisson as promised. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/test_support.h"
#include "tools/bench/bench_dataset.h"
#include "tools/bench/bench_stats.h"

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) < 1e-9 * (1 + fabs((double)(b))))

static void test_percentile_matches_numpy(void)
{
    /* numpy.percentile([1, 2, 3, 4], [50, 90, 99, 0, 100]) = 2.5, 3.7, 3.97, 1, 4 */
    const double v[] = {1, 2, 3, 4};
    CHECK(NEAR(bench_percentile(v, 4, 50), 2.5));
    CHECK(NEAR(bench_percentile(v, 4, 90), 3.7));
    CHECK(NEAR(bench_percentile(v, 4, 99), 3.97));
    CHECK(NEAR(bench_percentile(v, 4, 0), 1));
    CHECK(NEAR(bench_percentile(v, 4, 100), 4));
    const double one[] = {7};
    CHECK(NEAR(bench_percentile(one, 1, 99), 7));
    CHECK(bench_percentile(v, 0, 50) == 0);
    /* numpy.percentile(range(101), 99) = 99 */
    double r[101];
    for (int i = 0; i <= 100; i++) r[i] = i;
    CHECK(NEAR(bench_percentile(r, 101, 99), 99));
    CHECK(NEAR(bench_percentile(r, 101, 90), 90));
}

static void test_dist_sorts_and_scales_to_ms(void)
{
    double v[] = {0.004, 0.001, 0.003, 0.002};
    bench_dist d;
    bench_dist_compute(v, 4, &d);
    CHECK(NEAR(d.mean, 2.5) && NEAR(d.median, 2.5) && NEAR(d.p90, 3.7) && NEAR(d.p99, 3.97));
    CHECK(NEAR(d.std, sqrt(1.25))); /* population std of 1..4 */
    CHECK(v[0] == 0.001 && v[3] == 0.004);
    bench_dist_compute(v, 0, &d);
    CHECK(d.mean == 0 && d.p99 == 0);
}

static bench_request ok_request(double ttft, double e2el, long in, long out, const double *gaps,
                                size_t n_gaps)
{
    bench_request r = {.ok = true, .ttft_s = ttft, .e2el_s = e2el, .prompt_tokens = in,
                       .output_tokens = out};
    for (size_t i = 0; i < n_gaps; i++)
        if (bench_request_add_itl(&r, gaps[i])) test_fail(__FILE__, __LINE__, "out of memory");
    return r;
}

static void test_summary_adds_up(void)
{
    const double g0[] = {0.010, 0.020, 0.030}, g2[] = {0.040};
    bench_request reqs[4];
    reqs[0] = ok_request(0.100, 0.160, 10, 4, g0, 3);
    reqs[1] = (bench_request){.ok = false, .error = strdup("HTTP 400: too long"), .e2el_s = 9};
    reqs[2] = ok_request(0.200, 0.240, 10, 2, g2, 1);
    reqs[3] = ok_request(0.300, 0.300, 10, 1, NULL, 0); /* one token: no TPOT, no ITL */
    bench_summary s;
    char err[128];
    CHECK(bench_summarize(reqs, 4, 2.0, 8, 0, &s, err, sizeof err) == 0);
    CHECK(s.num_prompts == 4 && s.completed == 3 && s.failed == 1);
    CHECKF(strcmp(s.first_error, "request 1: HTTP 400: too long") == 0, "first: %s", s.first_error);
    CHECK(s.total_input_tokens == 30 && s.total_output_tokens == 7);
    CHECK(NEAR(s.request_throughput, 1.5));
    CHECK(NEAR(s.output_throughput, 3.5));
    CHECK(NEAR(s.total_token_throughput, 18.5));
    /* TTFT over successes only: 100, 200, 300 ms. */
    CHECK(NEAR(s.ttft.mean, 200) && NEAR(s.ttft.median, 200));
    /* TPOT: (160-100)/3 = 20 ms and (240-200)/1 = 40 ms; the 1-token request has none. */
    CHECK(NEAR(s.tpot.mean, 30) && NEAR(s.tpot.median, 30));
    /* ITL pools 10, 20, 30, 40 ms. */
    CHECK(NEAR(s.itl.mean, 25) && NEAR(s.itl.median, 25) && NEAR(s.itl.p99, 39.7));
    /* E2EL excludes the failed request's 9 s. */
    CHECK(NEAR(s.e2el.mean, (160.0 + 240 + 300) / 3) && NEAR(s.e2el.p99, 298.8));
    CHECK(s.concurrency == 8 && s.request_rate == 0);

    cJSON *j = bench_summary_json(&s);
    CHECK(j != NULL);
    static const char *const keys[] = {"completed", "failed", "num_prompts", "duration",
                                       "total_input_tokens", "total_output_tokens",
                                       "request_throughput", "output_throughput",
                                       "total_token_throughput", "mean_ttft_ms", "median_ttft_ms",
                                       "p99_ttft_ms", "p90_tpot_ms", "std_itl_ms", "p99_e2el_ms"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        CHECKF(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, keys[i])), "key %s", keys[i]);
    CHECK(cJSON_GetObjectItemCaseSensitive(j, "completed")->valuedouble == 3);
    CHECK(NEAR(cJSON_GetObjectItemCaseSensitive(j, "median_tpot_ms")->valuedouble, 30));
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(j, "request_rate")->valuestring, "inf") == 0);
    CHECK(strstr(cJSON_GetObjectItemCaseSensitive(j, "first_error")->valuestring, "HTTP 400"));
    cJSON_Delete(j);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    bench_summary_print(f, &s);
    fclose(f);
    static const char *const lines[] = {
        "============ Serving Benchmark Result ============\n",
        "Successful requests:                     3\n",
        "Failed requests:                         1\n",
        "Benchmark duration (s):                  2.00\n",
        "Total input tokens:                      30\n",
        "Total generated tokens:                  7\n",
        "Request throughput (req/s):              1.50\n",
        "Output token throughput (tok/s):         3.50\n",
        "Total Token throughput (tok/s):          18.50\n",
        "---------------Time to First Token----------------\n",
        "Median TTFT (ms):                        200.00\n",
        "-----Time per Output Token (excl. 1st token)------\n",
        "Mean TPOT (ms):                          30.00\n",
        "P99 ITL (ms):                            39.70\n",
        "P90 E2EL (ms):                           288.00\n",
        "First error: request 1: HTTP 400: too long\n"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        CHECKF(strstr(text, lines[i]) != NULL, "table lacks %s---\n%s", lines[i], text);
    free(text);
    for (int i = 0; i < 4; i++) bench_request_free(&reqs[i]);
}

static void test_summary_of_all_failed(void)
{
    bench_request reqs[2] = {{.ok = false, .error = strdup("refused")},
                             {.ok = false, .error = strdup("refused too")}};
    bench_summary s;
    char err[128];
    CHECK(bench_summarize(reqs, 2, 0.5, 1, 2.5, &s, err, sizeof err) == 0);
    CHECK(s.completed == 0 && s.failed == 2 && s.request_throughput == 0);
    CHECK(strcmp(s.first_error, "request 0: refused") == 0);
    CHECK(s.ttft.mean == 0 && s.itl.p99 == 0);
    for (int i = 0; i < 2; i++) bench_request_free(&reqs[i]);
}

static void test_completion_bodies(void)
{
    bench_dataset_spec spec = {.chat = false, .model = "m", .input_len = 50, .output_len = 7,
                               .vocab_size = 100};
    bench_rng a, b;
    bench_rng_seed(&a, 42);
    bench_rng_seed(&b, 42);
    char *x = bench_dataset_body(&spec, &a), *y = bench_dataset_body(&spec, &b);
    char *z = bench_dataset_body(&spec, &a);
    CHECK(x && y && z && strcmp(x, y) == 0);
    CHECKF(strcmp(x, z) != 0, "two requests of one run share a prompt");
    cJSON *j = cJSON_Parse(x);
    cJSON *prompt = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    CHECK(cJSON_GetArraySize(prompt) == 50);
    int distinct = 0, seen[100] = {0};
    const cJSON *id;
    cJSON_ArrayForEach(id, prompt)
    {
        CHECK(cJSON_IsNumber(id) && id->valueint >= 0 && id->valueint < 100);
        if (cJSON_IsNumber(id) && id->valueint >= 0 && id->valueint < 100 && !seen[id->valueint]++)
            distinct++;
    }
    CHECKF(distinct > 20, "only %d distinct ids", distinct);
    CHECK(cJSON_GetObjectItemCaseSensitive(j, "max_tokens")->valueint == 7);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ignore_eos")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stream")));
    CHECK(cJSON_GetObjectItemCaseSensitive(j, "temperature")->valuedouble == 0);
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage")));
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(j, "model")->valuestring, "m") == 0);
    cJSON_Delete(j);
    free(x);
    free(y);
    free(z);
}

static void test_chat_bodies(void)
{
    bench_dataset_spec spec = {.chat = true, .model = "m", .input_len = 30, .output_len = 5,
                               .vocab_size = 100};
    bench_rng r;
    bench_rng_seed(&r, 1);
    char *x = bench_dataset_body(&spec, &r);
    cJSON *j = cJSON_Parse(x);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    CHECK(cJSON_GetArraySize(msgs) == 1);
    const cJSON *m = cJSON_GetArrayItem(msgs, 0);
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring, "user") == 0);
    const char *content = cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring;
    int words = 1;
    for (const char *p = content; *p; p++) words += *p == ' ';
    CHECKF(words == 30 && content[0] != ' ', "content: %s", content);
    CHECK(cJSON_GetObjectItemCaseSensitive(j, "max_completion_tokens")->valueint == 5);
    CHECK(cJSON_GetObjectItemCaseSensitive(j, "prompt") == NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ignore_eos")));
    cJSON_Delete(j);
    free(x);
}

static void test_arrivals(void)
{
    bench_rng r;
    bench_rng_seed(&r, 3);
    double t[20000];
    bench_dataset_arrivals(&r, 0, t, 100);
    for (int i = 0; i < 100; i++) CHECK(t[i] == 0);
    bench_dataset_arrivals(&r, 10, t, 20000);
    CHECK(t[0] == 0);
    int sorted = 1;
    for (int i = 1; i < 20000; i++) sorted &= t[i] >= t[i - 1];
    CHECK(sorted);
    /* Mean gap 1/rate; the exponential's std equals its mean (coefficient of variation 1). */
    double mean = t[19999] / 19999, var = 0;
    for (int i = 1; i < 20000; i++) var += (t[i] - t[i - 1] - mean) * (t[i] - t[i - 1] - mean);
    double cv = sqrt(var / 19999) / mean;
    CHECKF(fabs(mean - 0.1) < 0.003, "mean gap %g", mean);
    CHECKF(fabs(cv - 1) < 0.05, "coefficient of variation %g", cv);
}

int main(void)
{
    test_percentile_matches_numpy();
    test_dist_sorts_and_scales_to_ms();
    test_summary_adds_up();
    test_summary_of_all_failed();
    test_completion_bodies();
    test_chat_bodies();
    test_arrivals();
    return test_finish("bench_stats");
}
