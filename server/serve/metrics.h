/* Prometheus metrics of one served model: request counts by status, token counters and queue sizes
 * (read from the engine), and TTFT / inter-token latency histograms. Thread-safe; rendering is the
 * only reader. Must not know about HTTP routing. */
#ifndef BERTH_SERVE_METRICS_H
#define BERTH_SERVE_METRICS_H

#include <pthread.h>
#include <stdint.h>

#include "server/engine/engine.h"

#define METRICS_BUCKETS 14
#define METRICS_STATUSES 8

typedef struct metrics_histogram {
    uint64_t counts[METRICS_BUCKETS + 1]; /* last = +Inf */
    double sum;
    uint64_t total;
} metrics_histogram;

/* The counters; rendering formats a copy taken under the lock, so the lock is only ever held for
 * a few stores or one copy (inline handlers on the HTTP I/O thread count requests too). */
typedef struct metrics_counts {
    int statuses[METRICS_STATUSES];
    uint64_t status_counts[METRICS_STATUSES];
    int num_statuses;
    uint64_t other_status_count;
    metrics_histogram ttft, itl, e2e;
} metrics_counts;

typedef struct metrics {
    pthread_mutex_t lock;
    metrics_counts c;
} metrics;

void metrics_init(metrics *m);
void metrics_destroy(metrics *m);
void metrics_count_request(metrics *m, int status);
void metrics_observe_ttft(metrics *m, double seconds);
void metrics_observe_itl(metrics *m, double seconds);
void metrics_observe_e2e(metrics *m, double seconds);
/* The Prometheus text exposition (malloc'd). */
char *metrics_render(metrics *m, const engine_stats *st, const char *model_name);

#endif
