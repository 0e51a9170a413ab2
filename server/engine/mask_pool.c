/* Threads take jobs by index under the lock: a step has at most max_num_seqs jobs of tens to
 * hundreds of microseconds each, so the lock is never the cost. */
#include "server/engine/mask_pool.h"

#include <stdio.h>
#include <stdlib.h>

static void *worker(void *arg)
{
    mask_pool *p = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stopping && (p->generation == seen || p->next_job >= p->num_jobs))
            pthread_cond_wait(&p->start, &p->lock);
        if (p->stopping) break;
        seen = p->generation;
        while (p->next_job < p->num_jobs) {
            mask_job job = p->jobs[p->next_job++];
            pthread_mutex_unlock(&p->lock);
            int rc = job.fn(job.arg);
            pthread_mutex_lock(&p->lock);
            if (rc) p->failed_jobs++;
            if (++p->finished_jobs == p->num_jobs) pthread_cond_broadcast(&p->done);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int mask_pool_init(mask_pool *p, int32_t num_threads, char *err, size_t errlen)
{
    *p = (mask_pool){.num_threads = 0};
    if (num_threads < 1) {
        snprintf(err, errlen, "mask threads: %d, expected >= 1", num_threads);
        return -1;
    }
    p->threads = calloc((size_t)num_threads, sizeof *p->threads);
    if (!p->threads) {
        snprintf(err, errlen, "out of host memory for %d mask threads", num_threads);
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int32_t i = 0; i < num_threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p)) {
            snprintf(err, errlen, "cannot start mask thread %d of %d", i + 1, num_threads);
            mask_pool_free(p);
            return -1;
        }
        p->num_threads++;
    }
    return 0;
}

void mask_pool_free(mask_pool *p)
{
    if (!p->threads) return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    for (int32_t i = 0; i < p->num_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    *p = (mask_pool){0};
}

void mask_pool_start(mask_pool *p, mask_job *jobs, int32_t n)
{
    pthread_mutex_lock(&p->lock);
    p->jobs = jobs;
    p->num_jobs = n;
    p->next_job = p->finished_jobs = p->failed_jobs = 0;
    p->generation++;
    p->busy = n > 0;
    if (n > 0) pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
}

int32_t mask_pool_wait(mask_pool *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->busy && p->finished_jobs < p->num_jobs)
        pthread_cond_wait(&p->done, &p->lock);
    int32_t failed = p->failed_jobs;
    p->busy = false;
    p->jobs = NULL;
    p->num_jobs = p->next_job = 0;
    pthread_mutex_unlock(&p->lock);
    return failed;
}
