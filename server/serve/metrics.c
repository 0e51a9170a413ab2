#include "server/serve/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seconds; the same bucket edges vLLM uses for its latency histograms, trimmed. */
static const double bucket_edges[METRICS_BUCKETS] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08,
                                                     0.1,   0.25,  0.5,  1.0,  2.5,  5.0,  10.0};

void metrics_init(metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
}

void metrics_destroy(metrics *m)
{
    pthread_mutex_destroy(&m->lock);
}

void metrics_count_request(metrics *m, int status)
{
    pthread_mutex_lock(&m->lock);
    int i = 0;
    metrics_counts *c = &m->c;
    while (i < c->num_statuses && c->statuses[i] != status)
        i++;
    if (i == c->num_statuses && i < METRICS_STATUSES) c->statuses[c->num_statuses++] = status;
    if (i < METRICS_STATUSES)
        c->status_counts[i]++;
    else
        c->other_status_count++;
    pthread_mutex_unlock(&m->lock);
}

static void observe(metrics *m, metrics_histogram *h, double v)
{
    pthread_mutex_lock(&m->lock);
    int b = 0;
    while (b < METRICS_BUCKETS && v > bucket_edges[b])
        b++;
    h->counts[b]++;
    h->sum += v;
    h->total++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_observe_ttft(metrics *m, double s)
{
    observe(m, &m->c.ttft, s);
}

void metrics_observe_itl(metrics *m, double s)
{
    observe(m, &m->c.itl, s);
}

void metrics_observe_e2e(metrics *m, double s)
{
    observe(m, &m->c.e2e, s);
}

typedef struct text {
    char *buf;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *grown = realloc(t->buf, cap);
        if (!grown) return;
        t->buf = grown;
        t->cap = cap;
    }
}

static void histogram(text *t, const char *name, const char *help, const metrics_histogram *h,
                      const char *model_id)
{
    put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int b = 0; b < METRICS_BUCKETS; b++) {
        cum += h->counts[b];
        put(t, "%s_bucket{model_name=\"%s\",le=\"%g\"} %llu\n", name, model_id, bucket_edges[b],
            (unsigned long long)cum);
    }
    cum += h->counts[METRICS_BUCKETS];
    put(t, "%s_bucket{model_name=\"%s\",le=\"+Inf\"} %llu\n", name, model_id,
        (unsigned long long)cum);
    put(t, "%s_sum{model_name=\"%s\"} %.6f\n%s_count{model_name=\"%s\"} %llu\n", name, model_id,
        h->sum, name, model_id, (unsigned long long)h->total);
}

char *metrics_render(metrics *m, const engine_stats *st, const char *model_id)
{
    text t = {0};
    metrics_counts snap;
    pthread_mutex_lock(&m->lock);
    snap = m->c;
    pthread_mutex_unlock(&m->lock);
    const metrics_counts *c = &snap;
    put(&t, "# HELP berth_requests_total HTTP requests answered, by status code.\n"
            "# TYPE berth_requests_total counter\n");
    for (int i = 0; i < c->num_statuses; i++)
        put(&t, "berth_requests_total{model_name=\"%s\",status=\"%d\"} %llu\n", model_id,
            c->statuses[i], (unsigned long long)c->status_counts[i]);
    if (c->other_status_count)
        put(&t, "berth_requests_total{model_name=\"%s\",status=\"other\"} %llu\n", model_id,
            (unsigned long long)c->other_status_count);
    put(&t,
        "# HELP berth_num_requests_running Sequences in the running batch.\n"
        "# TYPE berth_num_requests_running gauge\nberth_num_requests_running{model_name=\"%s\"} "
        "%d\n"
        "# HELP berth_num_requests_waiting Sequences waiting for admission.\n"
        "# TYPE berth_num_requests_waiting gauge\nberth_num_requests_waiting{model_name=\"%s\"} "
        "%d\n"
        "# HELP berth_kv_cache_blocks_used KV-cache blocks in use.\n"
        "# TYPE berth_kv_cache_blocks_used gauge\nberth_kv_cache_blocks_used{model_name=\"%s\"} "
        "%d\n"
        "# HELP berth_kv_cache_blocks_total KV-cache blocks in the pool.\n"
        "# TYPE berth_kv_cache_blocks_total gauge\nberth_kv_cache_blocks_total{model_name=\"%s\"} "
        "%d\n"
        "# HELP berth_prompt_tokens_total Prompt tokens processed.\n"
        "# TYPE berth_prompt_tokens_total counter\nberth_prompt_tokens_total{model_name=\"%s\"} "
        "%llu\n"
        "# HELP berth_generation_tokens_total Tokens generated.\n"
        "# TYPE berth_generation_tokens_total counter\n"
        "berth_generation_tokens_total{model_name=\"%s\"} %llu\n"
        "# HELP berth_num_preemptions_total Sequences preempted for lack of KV blocks.\n"
        "# TYPE berth_num_preemptions_total counter\n"
        "berth_num_preemptions_total{model_name=\"%s\"} %llu\n"
        "# HELP berth_graph_steps_total Engine steps replayed as a CUDA graph.\n"
        "# TYPE berth_graph_steps_total counter\n"
        "berth_graph_steps_total{model_name=\"%s\"} %llu\n"
        "# HELP berth_constrained_steps_total Engine steps with at least one constrained row.\n"
        "# TYPE berth_constrained_steps_total counter\n"
        "berth_constrained_steps_total{model_name=\"%s\"} %llu\n"
        "# HELP berth_mask_wait_seconds_total Time the engine waited for constraint masks after "
        "its forward.\n"
        "# TYPE berth_mask_wait_seconds_total counter\n"
        "berth_mask_wait_seconds_total{model_name=\"%s\"} %.6f\n"
        "# HELP berth_mask_compute_seconds_total Time the mask threads spent computing constraint "
        "masks.\n"
        "# TYPE berth_mask_compute_seconds_total counter\n"
        "berth_mask_compute_seconds_total{model_name=\"%s\"} %.6f\n"
        "# HELP berth_prefix_cache_queries_total Prompt tokens looked up in the prefix cache.\n"
        "# TYPE berth_prefix_cache_queries_total counter\n"
        "berth_prefix_cache_queries_total{model_name=\"%s\"} %llu\n"
        "# HELP berth_prefix_cache_hits_total Prompt tokens found in the prefix cache.\n"
        "# TYPE berth_prefix_cache_hits_total counter\n"
        "berth_prefix_cache_hits_total{model_name=\"%s\"} %llu\n"
        "# HELP berth_prefix_cache_blocks KV-cache blocks whose content the prefix cache indexes.\n"
        "# TYPE berth_prefix_cache_blocks gauge\n"
        "berth_prefix_cache_blocks{model_name=\"%s\"} %d\n"
        "# HELP berth_abandoned_steps_total Engine steps stopped between layers for a cancelled "
        "prefill.\n"
        "# TYPE berth_abandoned_steps_total counter\n"
        "berth_abandoned_steps_total{model_name=\"%s\"} %llu\n",
        model_id, st->running, model_id, st->waiting, model_id, st->kv_blocks_used, model_id,
        st->kv_blocks_total, model_id, (unsigned long long)st->prompt_tokens_total, model_id,
        (unsigned long long)st->generation_tokens_total, model_id,
        (unsigned long long)st->preemptions_total, model_id,
        (unsigned long long)st->graph_steps_total, model_id,
        (unsigned long long)st->constrained_steps_total, model_id,
        (double)st->mask_wait_ns_total / 1e9, model_id, (double)st->mask_compute_ns_total / 1e9,
        model_id, (unsigned long long)st->prefix_cache_queries_total, model_id,
        (unsigned long long)st->prefix_cache_hits_total, model_id, st->prefix_cache_blocks,
        model_id, (unsigned long long)st->abandoned_steps_total);
    put(&t,
        "# HELP berth_kv_cache_tokens Tokens the KV cache holds (its blocks times the block "
        "size).\n"
        "# TYPE berth_kv_cache_tokens gauge\nberth_kv_cache_tokens{model_name=\"%s\"} %lld\n"
        "# HELP berth_memory_share_bytes The backend's memory budget (--memory-mib); 0 = no "
        "limit.\n"
        "# TYPE berth_memory_share_bytes gauge\nberth_memory_share_bytes{model_name=\"%s\"} %zu\n"
        "# HELP berth_memory_in_use_bytes Backend memory held: weights, KV cache, workspace.\n"
        "# TYPE berth_memory_in_use_bytes gauge\nberth_memory_in_use_bytes{model_name=\"%s\"} %zu\n"
        "# HELP berth_memory_peak_bytes The most backend memory held since start.\n"
        "# TYPE berth_memory_peak_bytes gauge\nberth_memory_peak_bytes{model_name=\"%s\"} %zu\n",
        model_id, (long long)st->kv_blocks_total * BK_KV_BLOCK, model_id, st->memory_budget_bytes,
        model_id, st->memory_in_use_bytes, model_id, st->memory_peak_bytes);
    histogram(&t, "berth_time_to_first_token_seconds", "Time to first token.", &c->ttft, model_id);
    histogram(&t, "berth_inter_token_latency_seconds", "Time between streamed tokens.", &c->itl,
              model_id);
    histogram(&t, "berth_e2e_request_latency_seconds", "Request latency, receipt to last token.",
              &c->e2e, model_id);
    return t.buf;
}
