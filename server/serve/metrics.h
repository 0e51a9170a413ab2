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

typedef struct metrics {
    pthread_mutex_t lock;
    int statuses[METRICS_STATUSES];
    uint64_t status_counts[METRICS_STATUSES];
    int num_statuses;
    uint64_t other_status_count;
    metrics_histogram ttft, itl, e2e;
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
