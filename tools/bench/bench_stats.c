/* Metric definitions follow PERFORMANCE.md "How to measure" (the same as `vllm bench serve`), so a
 * berth-bench table can sit next to a vllm one. */
#include "tools/bench/bench_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void bench_request_free(bench_request *r)
{
    free(r->error);
    free(r->itl_s);
    memset(r, 0, sizeof *r);
}

int bench_request_add_itl(bench_request *r, double gap_s)
{
    if (r->n_itl == r->cap_itl) {
        size_t cap = r->cap_itl ? r->cap_itl * 2 : 64;
        double *v = realloc(r->itl_s, cap * sizeof *v);
        if (!v) return -1;
        r->itl_s = v;
        r->cap_itl = cap;
    }
    r->itl_s[r->n_itl++] = gap_s;
    return 0;
}

double bench_percentile(const double *sorted, size_t n, double pct)
{
    if (n == 0) return 0.0;
    double rank = pct / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(rank);
    if (lo >= n - 1) return sorted[n - 1];
    double frac = rank - (double)lo;
    return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_dist_compute(double *values, size_t n, bench_dist *d)
{
    memset(d, 0, sizeof *d);
    if (n == 0) return;
    qsort(values, n, sizeof *values, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += values[i];
    double mean = sum / (double)n;
    double var = 0;
    for (size_t i = 0; i < n; i++) var += (values[i] - mean) * (values[i] - mean);
    d->mean = mean * 1e3;
    d->std = sqrt(var / (double)n) * 1e3; /* population std, as numpy's np.std */
    d->median = bench_percentile(values, n, 50) * 1e3;
    d->p90 = bench_percentile(values, n, 90) * 1e3;
    d->p99 = bench_percentile(values, n, 99) * 1e3;
}

int bench_summarize(const bench_request *reqs, size_t n, double duration_s, int concurrency,
                    double request_rate, bench_summary *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->concurrency = concurrency;
    s->request_rate = request_rate;
    s->num_prompts = n;
    s->duration_s = duration_s;
    size_t n_itl = 0;
    for (size_t i = 0; i < n; i++)
        if (reqs[i].ok) n_itl += reqs[i].n_itl;
    /* One allocation for the four sample sets: ttft | tpot | e2el | itl. */
    double *buf = malloc((3 * n + n_itl + 1) * sizeof *buf);
    if (!buf) {
        snprintf(err, errlen, "out of memory summarizing %zu requests", n);
        return -1;
    }
    double *ttft = buf, *tpot = buf + n, *e2el = buf + 2 * n, *itl = buf + 3 * n;
    size_t n_tpot = 0;
    n_itl = 0;
    for (size_t i = 0; i < n; i++) {
        const bench_request *r = &reqs[i];
        if (!r->ok) {
            if (s->failed++ == 0)
                snprintf(s->first_error, sizeof s->first_error, "request %zu: %s", i,
                         r->error ? r->error : "failed");
            continue;
        }
        ttft[s->completed] = r->ttft_s;
        e2el[s->completed] = r->e2el_s;
        s->completed++;
        s->total_input_tokens += r->prompt_tokens;
        s->total_output_tokens += r->output_tokens;
        if (r->output_tokens > 1)
            tpot[n_tpot++] = (r->e2el_s - r->ttft_s) / (double)(r->output_tokens - 1);
        if (r->n_itl) memcpy(itl + n_itl, r->itl_s, r->n_itl * sizeof *itl);
        n_itl += r->n_itl;
    }
    if (duration_s > 0) {
        s->request_throughput = (double)s->completed / duration_s;
        s->output_throughput = (double)s->total_output_tokens / duration_s;
        s->total_token_throughput =
            (double)(s->total_input_tokens + s->total_output_tokens) / duration_s;
    }
    bench_dist_compute(ttft, s->completed, &s->ttft);
    bench_dist_compute(tpot, n_tpot, &s->tpot);
    bench_dist_compute(itl, n_itl, &s->itl);
    bench_dist_compute(e2el, s->completed, &s->e2el);
    free(buf);
    return 0;
}

static void rule(FILE *f, const char *title, char fill)
{
    int len = (int)strlen(title), left = (50 - len) / 2, right = 50 - len - left;
    for (int i = 0; i < left; i++) fputc(fill, f);
    fputs(title, f);
    for (int i = 0; i < right; i++) fputc(fill, f);
    fputc('\n', f);
}

static void dist_lines(FILE *f, const char *title, const char *name, const bench_dist *d)
{
    static const char *const stat[] = {"Mean", "Median", "P90", "P99"};
    const double v[] = {d->mean, d->median, d->p90, d->p99};
    char label[64];
    rule(f, title, '-');
    for (int i = 0; i < 4; i++) {
        snprintf(label, sizeof label, "%s %s (ms):", stat[i], name);
        fprintf(f, "%-40s %.2f\n", label, v[i]);
    }
}

void bench_summary_print(FILE *f, const bench_summary *s)
{
    rule(f, " Serving Benchmark Result ", '=');
    fprintf(f, "%-40s %zu\n", "Successful requests:", s->completed);
    fprintf(f, "%-40s %zu\n", "Failed requests:", s->failed);
    if (s->concurrency > 0)
        fprintf(f, "%-40s %d\n", "Maximum request concurrency:", s->concurrency);
    if (s->request_rate > 0)
        fprintf(f, "%-40s %.2f\n", "Request rate configured (RPS):", s->request_rate);
    else
        fprintf(f, "%-40s %s\n", "Request rate configured (RPS):", "inf");
    fprintf(f, "%-40s %.2f\n", "Benchmark duration (s):", s->duration_s);
    fprintf(f, "%-40s %ld\n", "Total input tokens:", s->total_input_tokens);
    fprintf(f, "%-40s %ld\n", "Total generated tokens:", s->total_output_tokens);
    fprintf(f, "%-40s %.2f\n", "Request throughput (req/s):", s->request_throughput);
    fprintf(f, "%-40s %.2f\n", "Output token throughput (tok/s):", s->output_throughput);
    fprintf(f, "%-40s %.2f\n", "Total Token throughput (tok/s):", s->total_token_throughput);
    dist_lines(f, "Time to First Token", "TTFT", &s->ttft);
    dist_lines(f, "Time per Output Token (excl. 1st token)", "TPOT", &s->tpot);
    dist_lines(f, "Inter-token Latency", "ITL", &s->itl);
    dist_lines(f, "End-to-end Latency", "E2EL", &s->e2el);
    rule(f, "", '=');
    if (s->failed) fprintf(f, "First error: %s\n", s->first_error);
}

static bool add_dist(cJSON *o, const char *name, const bench_dist *d)
{
    static const char *const stat[] = {"mean", "median", "std", "p90", "p99"};
    const double v[] = {d->mean, d->median, d->std, d->p90, d->p99};
    char key[32];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "%s_%s_ms", stat[i], name);
        if (!cJSON_AddNumberToObject(o, key, v[i])) return false;
    }
    return true;
}

cJSON *bench_summary_json(const bench_summary *s)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddNumberToObject(o, "max_concurrency", s->concurrency) &&
              (s->request_rate > 0 ? cJSON_AddNumberToObject(o, "request_rate", s->request_rate)
                                   : cJSON_AddStringToObject(o, "request_rate", "inf")) &&
              cJSON_AddNumberToObject(o, "num_prompts", (double)s->num_prompts) &&
              cJSON_AddNumberToObject(o, "completed", (double)s->completed) &&
              cJSON_AddNumberToObject(o, "failed", (double)s->failed) &&
              (s->failed ? cJSON_AddStringToObject(o, "first_error", s->first_error)
                         : cJSON_AddNullToObject(o, "first_error")) &&
              cJSON_AddNumberToObject(o, "duration", s->duration_s) &&
              cJSON_AddNumberToObject(o, "total_input_tokens", (double)s->total_input_tokens) &&
              cJSON_AddNumberToObject(o, "total_output_tokens", (double)s->total_output_tokens) &&
              cJSON_AddNumberToObject(o, "request_throughput", s->request_throughput) &&
              cJSON_AddNumberToObject(o, "output_throughput", s->output_throughput) &&
              cJSON_AddNumberToObject(o, "total_token_throughput", s->total_token_throughput) &&
              add_dist(o, "ttft", &s->ttft) && add_dist(o, "tpot", &s->tpot) &&
              add_dist(o, "itl", &s->itl) && add_dist(o, "e2el", &s->e2el);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
