#include "server/http/http_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define POOL_MIN 2       /* workers started without waiting */
#define SPAWN_AFTER_MS 2 /* a job waiting this long with no idle worker gets a new one */

struct job {
    http_pool_fn fn;
    void *arg;
    struct job *next;
    struct timespec queued;
};

/* A worker; one that exits on its own parks here until someone joins it (a detached thread could
 * still be inside pthread_mutex_unlock on the pool's mutex when the pool is freed). */
struct worker {
    pthread_t t;
    http_pool *p;
    struct worker *next;
};

struct http_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv, done_cv, mgr_cv;
    pthread_t mgr;
    int mgr_started;
    struct job *head, *tail;
    unsigned n_threads, n_idle, idle_exit_s;
    int stopping;
    struct worker *exited;
};

static void reap(http_pool *p)
{
    pthread_mutex_lock(&p->mu);
    struct worker *w = p->exited;
    p->exited = NULL;
    pthread_mutex_unlock(&p->mu);
    while (w) {
        struct worker *n = w->next;
        pthread_join(w->t, NULL);
        free(w);
        w = n;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    http_pool *p = w->p;
    pthread_setname_np(pthread_self(), "berth-http-wk"); /* top -H tells them from the I/O thread */
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += p->idle_exit_s;
            p->n_idle++;
            int rc = pthread_cond_timedwait(&p->cv, &p->mu, &ts);
            p->n_idle--;
            if (rc && !p->head) goto out;
        }
        if (!p->head) break; /* stopping, nothing left */
        struct job *j = p->head;
        p->head = j->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&p->mu);
    }
out:
    p->n_threads--;
    w->next = p->exited;
    p->exited = w;
    pthread_cond_broadcast(&p->done_cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

http_pool *http_pool_new(unsigned idle_exit_s)
{
    http_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_cond_init(&p->mgr_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&p->done_cv, NULL);
    p->idle_exit_s = idle_exit_s ? idle_exit_s : 1;
    return p;
}

/* Called with p->mu held. */
static int spawn(http_pool *p)
{
    struct worker *w = calloc(1, sizeof *w);
    if (!w) return -1;
    w->p = p;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1u << 20);
    int rc = pthread_create(&w->t, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    if (rc) {
        free(w);
        return -1;
    }
    p->n_threads++;
    return 0;
}

static long waited_ms(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* Grows the pool only for jobs that wait: a burst of quick handlers is served by the workers there
 * are, while handlers that block (a proxied stream) get a thread each after SPAWN_AFTER_MS. */
static void *manager_main(void *arg)
{
    http_pool *p = arg;
    pthread_setname_np(pthread_self(), "berth-http-mgr");
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        if (!p->head) {
            pthread_cond_wait(&p->mgr_cv, &p->mu);
            continue;
        }
        long w = waited_ms(&p->head->queued);
        if (w >= SPAWN_AFTER_MS && p->n_idle == 0) {
            spawn(p);
            w = 0;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (SPAWN_AFTER_MS - (w < SPAWN_AFTER_MS ? w : 0)) * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->mgr_cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int http_pool_submit(http_pool *p, http_pool_fn fn, void *arg)
{
    reap(p);
    struct job *j = malloc(sizeof *j);
    if (!j) return -1;
    *j = (struct job){fn, arg, NULL, {0, 0}};
    clock_gettime(CLOCK_MONOTONIC, &j->queued);
    pthread_mutex_lock(&p->mu);
    if (!p->mgr_started && pthread_create(&p->mgr, NULL, manager_main, p) == 0) p->mgr_started = 1;
    if ((p->n_threads < POOL_MIN || !p->mgr_started) && p->n_idle == 0 && spawn(p) &&
        !p->n_threads) {
        pthread_mutex_unlock(&p->mu);
        free(j);
        return -1;
    }
    int was_empty = !p->head;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    /* Wake-ups are the cost of a hand-off: only an idle worker is woken, and the manager only when
     * the queue was empty (otherwise it is already timing the head). */
    if (p->n_idle) pthread_cond_signal(&p->cv);
    if (was_empty) pthread_cond_signal(&p->mgr_cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

unsigned http_pool_threads(http_pool *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->n_threads;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void http_pool_free(http_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_cond_signal(&p->mgr_cv);
    int mgr = p->mgr_started;
    pthread_mutex_unlock(&p->mu);
    if (mgr) pthread_join(p->mgr, NULL);
    pthread_mutex_lock(&p->mu);
    while (p->n_threads)
        pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    reap(p);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->done_cv);
    pthread_cond_destroy(&p->mgr_cv);
    free(p);
}
