/* A small pool of host threads that compute a step's constraint masks while the engine thread runs
 * that step's forward (a mask depends only on the tokens already sampled). Owns its threads only;
 * must not: touch the backend, the scheduler or any request beyond the jobs it is handed. */
#ifndef BERTH_ENGINE_MASK_POOL_H
#define BERTH_ENGINE_MASK_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One job: fn(arg) returns 0 or -1. */
typedef struct mask_job {
    int (*fn)(void *arg);
    void *arg;
} mask_job;

typedef struct mask_pool {
    int32_t num_threads;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    /* the batch in flight, guarded by lock */
    mask_job *jobs;
    int32_t num_jobs, next_job, finished_jobs, failed_jobs;
    uint64_t generation;
    bool stopping, busy;
} mask_pool;

/* num_threads >= 1. */
int mask_pool_init(mask_pool *p, int32_t num_threads, char *err, size_t errlen);
void mask_pool_free(mask_pool *p);
/* Hands jobs[0..n) to the threads and returns at once; jobs must stay valid until mask_pool_wait.
 * One batch at a time. */
void mask_pool_start(mask_pool *p, mask_job *jobs, int32_t n);
/* Waits for the batch; returns how many of its jobs failed. */
int32_t mask_pool_wait(mask_pool *p);

#endif
