/* berth-bench: command line over the dataset, the client and the statistics. Flags and defaults
 * follow `vllm bench serve` so the two tables can be compared line by line. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/bench/bench_client.h"
#include "tools/bench/bench_dataset.h"
#include "tools/bench/bench_stats.h"

static const char usage[] =
    "usage: berth-bench --base-url URL [options]\n"
    "\n"
    "Load test of an OpenAI-compatible server with the metrics of `vllm bench serve`: streamed\n"
    "requests of a random dataset with fixed input and output lengths (ignore_eos, temperature 0,\n"
    "stream_options.include_usage), one run per concurrency of the sweep, each printed as vllm's\n"
    "table (TTFT, TPOT, ITL, E2EL: mean, median, p90, p99; throughputs over the wall time).\n"
    "\n"
    "  --base-url URL        the API root, e.g. http://127.0.0.1:8080/v1\n"
    "  --endpoint PATH       /completions (default; prompts of random token ids) or\n"
    "                        /chat/completions (a user message of random words)\n"
    "  --model NAME          model field of the requests (default: the first of GET /models)\n"
    "  --concurrency LIST    most requests in flight, a comma list for a sweep (default 1)\n"
    "  --num-prompts N       requests per run (default 20 x concurrency)\n"
    "  --input-len N         prompt tokens (default 1024; words for chat)\n"
    "  --output-len N        generated tokens, max_tokens with ignore_eos (default 128)\n"
    "  --vocab-size N        prompt token ids are drawn from [0, N) (default 32000)\n"
    "  --request-rate R      Poisson arrivals at R requests/s, or inf (default inf: all at once,\n"
    "                        limited by --concurrency)\n"
    "  --seed N              seed of prompts and arrivals (default 0)\n"
    "  --api-key KEY         sent as Authorization: Bearer KEY [BERTH_API_KEY]\n"
    "  --header K:V          an extra request header; repeat for several\n"
    "  --result-json FILE    write every run's numbers (vllm's key names) to FILE\n"
    "  --timeout SECONDS     per-request limit (default 600; 0: none)\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: 0 when every request succeeded, 1 when any failed (the report says how many\n"
    "and shows the first error) or the client could not run, 2 for bad options.\n";

typedef struct {
    const char *base_url, *endpoint, *model, *api_key, *result_json;
    int concurrency[32];
    int n_concurrency;
    long num_prompts; /* 0: 20 x concurrency */
    int input_len, output_len, vocab_size;
    double request_rate; /* 0: inf */
    unsigned long long seed;
    double timeout_s;
    struct curl_slist *headers;
} options;

static int bad(const char *flag, const char *value, const char *expected)
{
    fprintf(stderr, "berth-bench: %s '%s': expected %s (see --help)\n", flag, value, expected);
    return 2;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_int(const char *s, long lo, long hi, int *out)
{
    long v;
    if (!parse_long(s, lo, hi, &v)) return false;
    *out = (int)v;
    return true;
}

static bool parse_concurrency(const char *s, options *o)
{
    o->n_concurrency = 0;
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[16];
        if (len == 0 || len >= sizeof item || o->n_concurrency == 32) return false;
        memcpy(item, p, len);
        item[len] = '\0';
        if (!parse_int(item, 1, 100000, &o->concurrency[o->n_concurrency++])) return false;
        p += len;
        if (*p == ',' && *++p == '\0') return false;
    }
    return o->n_concurrency > 0;
}

static int add_header(options *o, const char *h)
{
    struct curl_slist *l = curl_slist_append(o->headers, h);
    if (!l) {
        fprintf(stderr, "berth-bench: out of memory adding a header\n");
        return 1;
    }
    o->headers = l;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    enum { O_BASE = 1000, O_ENDPOINT, O_MODEL, O_CONC, O_NUM, O_IN, O_OUT, O_VOCAB, O_RATE,
           O_SEED, O_KEY, O_HEADER, O_JSON, O_TIMEOUT };
    static const struct option longopts[] = {
        {"base-url", required_argument, 0, O_BASE},   {"endpoint", required_argument, 0, O_ENDPOINT},
        {"model", required_argument, 0, O_MODEL},     {"concurrency", required_argument, 0, O_CONC},
        {"num-prompts", required_argument, 0, O_NUM}, {"input-len", required_argument, 0, O_IN},
        {"output-len", required_argument, 0, O_OUT},  {"vocab-size", required_argument, 0, O_VOCAB},
        {"request-rate", required_argument, 0, O_RATE}, {"seed", required_argument, 0, O_SEED},
        {"api-key", required_argument, 0, O_KEY},     {"header", required_argument, 0, O_HEADER},
        {"result-json", required_argument, 0, O_JSON}, {"timeout", required_argument, 0, O_TIMEOUT},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    *o = (options){.endpoint = "/completions", .concurrency = {1}, .n_concurrency = 1,
                   .input_len = 1024, .output_len = 128, .vocab_size = 32000, .timeout_s = 600};
    o->api_key = getenv("BERTH_API_KEY");
    int c;
    long v;
    char *end;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case O_BASE: o->base_url = a; break;
        case O_ENDPOINT: o->endpoint = a; break;
        case O_MODEL: o->model = a; break;
        case O_CONC:
            if (!parse_concurrency(a, o))
                return bad("--concurrency", a, "positive integers separated by commas, e.g. 1,8,32");
            break;
        case O_NUM:
            if (!parse_long(a, 1, 10000000, &o->num_prompts))
                return bad("--num-prompts", a, "an integer from 1 to 10000000");
            break;
        case O_IN:
            if (!parse_int(a, 1, 1000000, &o->input_len))
                return bad("--input-len", a, "an integer from 1 to 1000000");
            break;
        case O_OUT:
            if (!parse_int(a, 1, 1000000, &o->output_len))
                return bad("--output-len", a, "an integer from 1 to 1000000");
            break;
        case O_VOCAB:
            if (!parse_int(a, 1, 100000000, &o->vocab_size))
                return bad("--vocab-size", a, "an integer from 1 to 100000000");
            break;
        case O_RATE:
            if (strcmp(a, "inf") == 0) {
                o->request_rate = 0;
                break;
            }
            o->request_rate = strtod(a, &end);
            if (end == a || *end || !(o->request_rate > 0) || !isfinite(o->request_rate))
                return bad("--request-rate", a, "a positive number of requests/s, or inf");
            break;
        case O_SEED:
            if (!parse_long(a, 0, 0x7fffffffffffffffL, &v))
                return bad("--seed", a, "a non-negative integer");
            o->seed = (unsigned long long)v;
            break;
        case O_KEY: o->api_key = a; break;
        case O_HEADER: {
            const char *colon = strchr(a, ':');
            if (!colon || colon == a || strpbrk(a, "\r\n"))
                return bad("--header", a, "NAME:VALUE on one line");
            if (add_header(o, a)) return 1;
            break;
        }
        case O_JSON: o->result_json = a; break;
        case O_TIMEOUT:
            o->timeout_s = strtod(a, &end);
            if (end == a || *end || !(o->timeout_s >= 0) || o->timeout_s > 1e6)
                return bad("--timeout", a, "seconds from 0 (none) to 1000000");
            break;
        case 'h': fputs(usage, stdout); return -1;
        default:
            fprintf(stderr, "berth-bench: unknown option or missing value: %s (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "berth-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (!o->base_url) {
        fprintf(stderr, "berth-bench: --base-url is required, e.g. http://127.0.0.1:8080/v1\n");
        return 2;
    }
    if (strncmp(o->base_url, "http://", 7) != 0 && strncmp(o->base_url, "https://", 8) != 0)
        return bad("--base-url", o->base_url, "an http:// or https:// URL");
    if (strcmp(o->endpoint, "/completions") != 0 && strcmp(o->endpoint, "/chat/completions") != 0)
        return bad("--endpoint", o->endpoint, "/completions or /chat/completions");
    return 0;
}

/* The first model id of GET {base}/models, as vllm does when --model is not given. */
static char *first_model(const char *base, const options *o, char *err, size_t errlen)
{
    char url[2048], *body;
    snprintf(url, sizeof url, "%s/models", base);
    if (bench_client_get(url, o->headers, (long)(o->timeout_s * 1e3), &body, err, errlen))
        return NULL;
    cJSON *root = cJSON_Parse(body);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, 0), "id");
    char *model = cJSON_IsString(id) ? strdup(id->valuestring) : NULL;
    if (!model)
        snprintf(err, errlen, "GET %.300s: expected {\"data\": [{\"id\": ...}]}; give --model", url);
    cJSON_Delete(root);
    free(body);
    return model;
}

/* One point of the sweep: builds the dataset, runs it, prints and summarizes. */
static int run_point(const options *o, const char *url, const char *model, int concurrency,
                     bench_summary *s)
{
    size_t n = o->num_prompts ? (size_t)o->num_prompts : 20 * (size_t)concurrency;
    char **bodies = calloc(n, sizeof *bodies);
    double *arrivals = calloc(n, sizeof *arrivals);
    bench_request *reqs = calloc(n, sizeof *reqs);
    int rc = 1;
    char err[512];
    if (!bodies || !arrivals || !reqs) {
        fprintf(stderr, "berth-bench: out of memory for %zu requests\n", n);
        goto out;
    }
    bench_rng rng;
    bench_rng_seed(&rng, o->seed);
    bench_dataset_spec spec = {.chat = strcmp(o->endpoint, "/chat/completions") == 0,
                               .model = model, .input_len = o->input_len,
                               .output_len = o->output_len, .vocab_size = o->vocab_size};
    for (size_t i = 0; i < n; i++)
        if (!(bodies[i] = bench_dataset_body(&spec, &rng))) {
            fprintf(stderr, "berth-bench: out of memory building request %zu\n", i);
            goto out;
        }
    bench_dataset_arrivals(&rng, o->request_rate, arrivals, n);
    printf("berth-bench: %s, concurrency %d, %zu requests, input %d, output %d, rate %s\n", url,
           concurrency, n, o->input_len, o->output_len, o->request_rate > 0 ? "poisson" : "inf");
    fflush(stdout);
    bench_client_config cfg = {.url = url, .headers = o->headers,
                               .timeout_ms = (long)(o->timeout_s * 1e3), .concurrency = concurrency};
    double duration;
    if (bench_client_run(&cfg, bodies, arrivals, n, reqs, &duration, err, sizeof err) ||
        bench_summarize(reqs, n, duration, concurrency, o->request_rate, s, err, sizeof err)) {
        fprintf(stderr, "berth-bench: %s\n", err);
        goto out;
    }
    bench_summary_print(stdout, s);
    fflush(stdout);
    rc = 0;
out:
    for (size_t i = 0; bodies && i < n; i++) free(bodies[i]);
    for (size_t i = 0; reqs && i < n; i++) bench_request_free(&reqs[i]);
    free(bodies);
    free(arrivals);
    free(reqs);
    return rc;
}

static void print_sweep(const bench_summary *s, int n)
{
    printf("\n%-11s %8s %6s %8s %12s %11s %11s %11s %10s %11s\n", "concurrency", "requests",
           "failed", "req/s", "output tok/s", "total tok/s", "TTFT med ms", "TPOT med ms",
           "ITL med ms", "E2EL med ms");
    for (int i = 0; i < n; i++)
        printf("%-11d %8zu %6zu %8.2f %12.2f %11.2f %11.2f %11.2f %10.2f %11.2f\n",
               s[i].concurrency, s[i].num_prompts, s[i].failed, s[i].request_throughput,
               s[i].output_throughput, s[i].total_token_throughput, s[i].ttft.median,
               s[i].tpot.median, s[i].itl.median, s[i].e2el.median);
}

static int write_json(const options *o, const char *base, const char *model,
                      const bench_summary *s, int n)
{
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON *root = cJSON_CreateObject(), *runs = NULL;
    bool ok = root && cJSON_AddStringToObject(root, "backend", "berth-bench") &&
              cJSON_AddStringToObject(root, "date", date) &&
              cJSON_AddStringToObject(root, "base_url", base) &&
              cJSON_AddStringToObject(root, "endpoint", o->endpoint) &&
              cJSON_AddStringToObject(root, "model_id", model) &&
              cJSON_AddNumberToObject(root, "input_len", o->input_len) &&
              cJSON_AddNumberToObject(root, "output_len", o->output_len) &&
              cJSON_AddNumberToObject(root, "seed", (double)o->seed) &&
              (runs = cJSON_AddArrayToObject(root, "runs"));
    for (int i = 0; ok && i < n; i++) {
        cJSON *r = bench_summary_json(&s[i]);
        ok = r && cJSON_AddItemToArray(runs, r);
        if (!ok) cJSON_Delete(r);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    FILE *f = text ? fopen(o->result_json, "w") : NULL;
    bool written = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) written = false;
    free(text);
    if (!written) {
        fprintf(stderr, "berth-bench: --result-json %s: %s\n", o->result_json,
                text ? strerror(errno) : "out of memory");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc) {
        curl_slist_free_all(o.headers);
        return rc < 0 ? 0 : rc;
    }
    char base[2048], url[2100], header[4200], err[512];
    bench_summary summaries[32];
    char *model = NULL;
    snprintf(base, sizeof base, "%s", o.base_url);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') base[--bl] = '\0';
    snprintf(url, sizeof url, "%s%s", base, o.endpoint);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = add_header(&o, "Content-Type: application/json");
    if (!rc && o.api_key && *o.api_key) {
        snprintf(header, sizeof header, "Authorization: Bearer %s", o.api_key);
        rc = add_header(&o, header);
    }
    if (!rc && !o.model) {
        model = first_model(base, &o, err, sizeof err);
        if (!model) {
            fprintf(stderr, "berth-bench: %s\n", err);
            rc = 1;
        }
    }
    const char *name = o.model ? o.model : model;
    int done = 0;
    while (!rc && done < o.n_concurrency) {
        rc = run_point(&o, url, name, o.concurrency[done], &summaries[done]);
        if (!rc) done++;
    }
    if (done > 1) print_sweep(summaries, done);
    if (!rc && o.result_json) rc = write_json(&o, base, name, summaries, done);
    for (int i = 0; !rc && i < done; i++)
        if (summaries[i].failed) rc = 1;
    free(model);
    curl_slist_free_all(o.headers);
    curl_global_cleanup();
    return rc;
}
