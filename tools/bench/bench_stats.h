/* Per-request measurements of one benchmark run and their summary in vllm's terms (TTFT, TPOT, ITL,
 * E2EL, throughputs), printed as vllm's table or as JSON. Owns the arithmetic only: no network and
 * no clocks. */
#ifndef BERTH_BENCH_STATS_H
#define BERTH_BENCH_STATS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* One request as the client measured it; times in seconds from its send. */
typedef struct {
    bool ok;
    char *error;              /* why it failed (owned; NULL when ok) */
    double ttft_s;            /* send -> first chunk carrying a token */
    double e2el_s;            /* send -> end of the stream */
    double *itl_s;            /* gaps between consecutive token chunks (owned) */
    size_t n_itl, cap_itl;
    long prompt_tokens;       /* from usage */
    long output_tokens;       /* from usage */
} bench_request;

void bench_request_free(bench_request *r);
/* Appends one inter-token gap; returns -1 when memory runs out. */
int bench_request_add_itl(bench_request *r, double gap_s);

/* numpy's default percentile (linear interpolation between closest ranks) of sorted values. */
double bench_percentile(const double *sorted, size_t n, double pct);

typedef struct {
    double mean, median, std, p90, p99; /* milliseconds */
} bench_dist;

/* Sorts values in place and fills d (in ms; values are seconds). n == 0 gives all zeros. */
void bench_dist_compute(double *values, size_t n, bench_dist *d);

typedef struct {
    int concurrency;          /* 0: unlimited */
    double request_rate;      /* requests/s; 0: all at once (inf) */
    size_t num_prompts, completed, failed;
    char first_error[512];
    double duration_s;
    long total_input_tokens, total_output_tokens;
    double request_throughput, output_throughput, total_token_throughput;
    bench_dist ttft, tpot, itl, e2el;
} bench_summary;

/* Summarizes n requests of a run that took duration_s of wall time. TPOT counts requests with
 * more than one output token; ITL pools every gap of every successful request. Returns -1 when
 * memory runs out. */
int bench_summarize(const bench_request *reqs, size_t n, double duration_s, int concurrency,
                    double request_rate, bench_summary *s, char *err, size_t errlen);

void bench_summary_print(FILE *f, const bench_summary *s);
/* vllm's result-json names (completed, mean_ttft_ms, p99_itl_ms, ...); NULL when out of memory. */
cJSON *bench_summary_json(const bench_summary *s);

#endif
