/* The worker threads that run request handlers (which may block) off the I/O thread: a pool that
 * grows when every worker is busy and shrinks when workers stay idle. Knows nothing of HTTP. */
#ifndef BERTH_HTTP_POOL_H
#define BERTH_HTTP_POOL_H

typedef struct http_pool http_pool;
typedef void (*http_pool_fn)(void *arg);

/* idle_exit_s: a worker idle this long exits. NULL on OOM. */
http_pool *http_pool_new(unsigned idle_exit_s);
/* Runs fn(arg) on a worker, starting one if none is idle. 0, or -1 if no thread could be started
 * and none is running (fn is not called). */
int http_pool_submit(http_pool *p, http_pool_fn fn, void *arg);
/* Threads alive now (for tests and /metrics-like checks). */
unsigned http_pool_threads(http_pool *p);
/* Waits for queued and running jobs, joins every worker, frees. NULL is fine. */
void http_pool_free(http_pool *p);

#endif
