#include "server/router/supervisor.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SUP_TICK_MS 50
#define SUP_PROBE_S 0.2 /* how often a starting copy's /health is asked */
#define SUP_BACKOFF_MIN_S 0.5
#define SUP_BACKOFF_MAX_S 30.0
/* A copy ready this long is stable: when it exits, its backoff starts over at the minimum, and the
 * component's earlier exits no longer count towards Failed (sup_recent_exits). */
#define SUP_STABLE_S 60.0

/* A copy's life: UNUSED -> WAITING -> STARTING -> READY, back to WAITING when it exits (restart
 * after a backoff); RETIRING (scaled down or deleted: no new requests, SIGTERM once idle or at its
 * deadline) -> STOPPING (SIGKILL at kill_at) -> UNUSED when reaped. */
enum { COPY_UNUSED, COPY_WAITING, COPY_STARTING, COPY_READY, COPY_RETIRING, COPY_STOPPING };

struct sup_copy {
    int idx, copy;
    char socket[108];
    atomic_int state;
    atomic_int outstanding;
    atomic_int pid;
    atomic_ulong exits; /* since the copy was last assigned a specification */
    double next_start, next_probe, ready_at, backoff_s;
    _Atomic double retire_by, kill_at;
    /* What this copy runs: a deep copy made while the copy is UNUSED (the monitor thread does not
     * touch unused copies), so a rolling update can run two specifications side by side and the
     * router may replace its own copy at any time. */
    cc_component spec;
    pthread_mutex_t log_mu;
    char last_log[256]; /* the worker's last stderr line, for a FailureReason */
};

typedef struct sup_component {
    _Atomic(const cc_component *) cfg; /* what sup_scale starts new copies with */
    sup_copy copies[CC_MAX_COPIES];
    atomic_ulong restarts;     /* every exit since sup_add (a counter, for metrics) */
    atomic_ulong recent_exits; /* exits since a copy was last stable (sup_recent_exits) */
    atomic_uint rr;            /* breaks ties between equally loaded copies */
} sup_component;

struct supervisor {
    cc_config shell; /* endpoint and backend only */
    char exe[4096];
    char dir[64];
    sup_component comps[CC_MAX_COMPONENTS];
    char **envp; /* the router's environment less BERTH_* (workers take settings from argv only) */
    pthread_t thread;
    atomic_bool stopping;
    atomic_int relays;
    double grace_s;
    _Atomic double stable_s; /* SUP_STABLE_S; tests shorten it (sup_set_stable_s) */
    void (*socket_reset)(const char *socket_path); /* sup_on_socket_reset; NULL: none */
    int thread_started;
};

#define EACH_COPY(s, c)                                                                            \
    for (int i_ = 0; i_ < CC_MAX_COMPONENTS; i_++)                                                 \
        for (int j_ = 0; j_ < CC_MAX_COPIES; j_++)                                                 \
            for (sup_copy *c = &(s)->comps[i_].copies[j_]; c; c = NULL)

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int add_arg(char **argv, int *argc, char *store, size_t store_len, size_t *used,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int add_arg(char **argv, int *argc, char *store, size_t store_len, size_t *used,
                   const char *fmt, ...)
{
    if (*argc >= SUP_MAX_ARGS || *used >= store_len) return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(store + *used, store_len - *used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= store_len - *used) return -1;
    argv[(*argc)++] = store + *used;
    argv[*argc] = NULL;
    *used += (size_t)n + 1;
    return 0;
}

int sup_worker_argv(const cc_config *cfg, const cc_component *c, const char *exe,
                    const char *socket_path, char **argv, char *store, size_t store_len)
{
    int argc = 0;
    size_t used = 0;
    int bad = 0;
#define ARG(...) (bad |= add_arg(argv, &argc, store, store_len, &used, __VA_ARGS__))
    ARG("%s", exe);
    ARG("serve");
    ARG("--model");
    ARG("%s", c->model);
    ARG("--unix-socket");
    ARG("%s", socket_path);
    /* Responses name the component, which is what clients addressed. */
    ARG("--served-model-name");
    ARG("%s", c->name);
    ARG("--endpoint-name");
    ARG("%s", cfg->endpoint);
    /* The router drains first; by the time a worker gets SIGTERM its work is done or abandoned. */
    ARG("--shutdown-timeout");
    ARG("5");
    if (cfg->backend[0]) {
        ARG("--backend");
        ARG("%s", cfg->backend);
    }
    if (c->max_num_seqs) {
        ARG("--max-num-seqs");
        ARG("%d", c->max_num_seqs);
    }
    if (c->max_waiting) {
        ARG("--max-waiting");
        ARG("%d", c->max_waiting);
    }
    if (c->max_model_len) {
        ARG("--max-model-len");
        ARG("%d", c->max_model_len);
    }
    if (c->max_num_batched_tokens) {
        ARG("--max-num-batched-tokens");
        ARG("%d", c->max_num_batched_tokens);
    }
    if (c->kv_cache_tokens) {
        ARG("--kv-cache-tokens");
        ARG("%lld", (long long)c->kv_cache_tokens);
    }
    if (c->threads) {
        ARG("--threads");
        ARG("%d", c->threads);
    }
    if (c->tool_call_parser[0]) {
        ARG("--tool-call-parser");
        ARG("%s", c->tool_call_parser);
    }
    if (c->request_timeout_s) {
        ARG("--request-timeout");
        ARG("%lld", (long long)c->request_timeout_s);
    }
    if (c->cpu_int8_weights) {
        ARG("--cpu-weights");
        ARG("int8");
    }
    if (c->memory_mib) { /* the worker holds it as a hard limit (docs/components.md) */
        ARG("--memory-mib");
        ARG("%lld", (long long)c->memory_mib);
        if (cfg->mps) ARG("--mps"); /* the driver holds the worker to its share too */
    }
#undef ARG
    return bad ? -1 : 0;
}

/* A worker's stderr, line by line, onto the router's with "[component/copy] " in front, so that
 * the logs of several workers stay apart. Ends at EOF, when the worker has exited. */
typedef struct log_relay {
    int fd;
    char prefix[96];
    sup_copy *copy;
    atomic_int *live; /* the supervisor's count of relays, which sup_stop waits for */
} log_relay;

static void *relay(void *arg)
{
    log_relay *lr = arg;
    FILE *f = fdopen(lr->fd, "r");
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        fprintf(stderr, "%s%s%s", lr->prefix, line, n && line[n - 1] == '\n' ? "" : "\n");
        pthread_mutex_lock(&lr->copy->log_mu);
        snprintf(lr->copy->last_log, sizeof lr->copy->last_log, "%.*s", (int)(n ? n - 1 : 0), line);
        pthread_mutex_unlock(&lr->copy->log_mu);
    }
    if (f)
        fclose(f);
    else
        close(lr->fd);
    atomic_fetch_sub(lr->live, 1);
    free(lr);
    return NULL;
}

/* The write end of a pipe whose read end a relay thread owns, or -1 (the worker then writes to the
 * router's own stderr). */
static int start_relay(supervisor *s, sup_copy *c, const char *name)
{
    int fds[2];
    log_relay *lr = malloc(sizeof *lr);
    if (!lr || pipe2(fds, O_CLOEXEC)) {
        free(lr);
        return -1;
    }
    lr->fd = fds[0];
    lr->copy = c;
    lr->live = &s->relays;
    atomic_fetch_add(&s->relays, 1);
    snprintf(lr->prefix, sizeof lr->prefix, "[%s/%d] ", name, c->copy);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int ok = pthread_create(&t, &attr, relay, lr) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) {
        atomic_fetch_sub(&s->relays, 1);
        close(fds[0]);
        close(fds[1]);
        free(lr);
        return -1;
    }
    return fds[1];
}

/* In a forked child: closes every descriptor from 3 up. libcurl's sockets (the probes' and the
 * metrics scrapes' connections to other workers, its wake-up socket pairs) are not close-on-exec,
 * and a worker holding them would keep the router's connections to other workers open after the
 * router closed them, and the other workers' connection slots with them. */
static void close_inherited(void)
{
    if (close_range(3, ~0U, 0) == 0) return;
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 ? max : 65536); fd++)
        close((int)fd);
}

/* Runs on the monitor thread only: PR_SET_PDEATHSIG fires when the forking *thread* ends, and the
 * monitor thread lives until every worker is stopped. */
static void spawn(supervisor *s, sup_copy *c)
{
    const cc_component *k = &c->spec;
    char *argv[SUP_MAX_ARGS + 1];
    char store[8192];
    if (!k->model || sup_worker_argv(&s->shell, k, s->exe, c->socket, argv, store, sizeof store)) {
        fprintf(stderr, "berth router: component slot %d: worker arguments too long\n", c->idx);
        atomic_store(&c->state, COPY_UNUSED);
        return;
    }
    if (s->socket_reset) s->socket_reset(c->socket);
    int log_fd = start_relay(s, c, k->name);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        if (log_fd >= 0) dup2(log_fd, 2);
        close_inherited();
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a router that dies takes its workers along */
        if (getppid() != parent) _exit(1);
        execve(s->exe, argv, s->envp);
        _exit(127);
    }
    if (log_fd >= 0) close(log_fd); /* the worker holds it now; its exit ends the relay */
    if (pid < 0) {
        fprintf(stderr, "berth router: component %s copy %d: fork: %s\n", k->name, c->copy,
                strerror(errno));
        c->next_start = now_s() + c->backoff_s;
        return;
    }
    atomic_store(&c->pid, pid);
    int expected = COPY_WAITING;
    /* scaled down while we forked: it retires at once */
    if (!atomic_compare_exchange_strong(&c->state, &expected, COPY_STARTING))
        atomic_store(&c->retire_by, 0.0);
    c->next_probe = now_s() + SUP_PROBE_S;
    fprintf(stderr, "berth router: component %s copy %d: worker pid %d starting on %s\n", k->name,
            c->copy, (int)pid, c->socket);
}

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
    (void)p;
    (void)u;
    return sz * n;
}

/* 1 when the worker answers GET /health with 200 (it answers 503 while it loads). */
static int probe(CURL *h, const char *socket)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket);
    curl_easy_setopt(h, CURLOPT_URL, "http://localhost/health");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    long code = 0;
    if (curl_easy_perform(h) != CURLE_OK) return 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return code == 200;
}

static sup_copy *copy_of_pid(supervisor *s, pid_t pid)
{
    EACH_COPY(s, c)
    if (atomic_load(&c->pid) == pid) return c;
    return NULL;
}

static const char *name_of(supervisor *s, const sup_copy *c)
{
    (void)s;
    return c->spec.name[0] ? c->spec.name : "?";
}

static void reap(supervisor *s)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        sup_copy *c = copy_of_pid(s, pid);
        if (!c) continue;
        sup_component *k = &s->comps[c->idx];
        int st = atomic_load(&c->state);
        atomic_store(&c->pid, 0);
        if (s->socket_reset) s->socket_reset(c->socket);
        char how[64];
        if (WIFSIGNALED(status))
            snprintf(how, sizeof how, "killed by signal %d (%s)", WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
        else
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
        if (atomic_load(&s->stopping) || st == COPY_RETIRING || st == COPY_STOPPING) {
            fprintf(stderr, "berth router: component %s copy %d: worker pid %d %s (stopped)\n",
                    name_of(s, c), c->copy, (int)pid, how);
            atomic_store(&c->state, COPY_UNUSED); /* last: the copy may be reassigned from here */
            continue;
        }
        double t = now_s();
        if (st == COPY_READY && t - c->ready_at >= atomic_load(&s->stable_s)) {
            c->backoff_s = SUP_BACKOFF_MIN_S;
            atomic_store(&k->recent_exits, 0); /* this exit starts a new count */
        }
        c->next_start = t + c->backoff_s;
        int expected = st;
        if (!atomic_compare_exchange_strong(&c->state, &expected, COPY_WAITING)) {
            atomic_store(&c->state, COPY_UNUSED); /* retired in the meantime */
            continue;
        }
        atomic_fetch_add(&c->exits, 1);
        atomic_fetch_add(&k->recent_exits, 1);
        unsigned long n = atomic_fetch_add(&k->restarts, 1) + 1;
        fprintf(stderr,
                "berth router: component %s copy %d: worker pid %d %s; restart %lu in %.1f s\n",
                name_of(s, c), c->copy, (int)pid, how, n, c->backoff_s);
        c->backoff_s = c->backoff_s * 2 > SUP_BACKOFF_MAX_S ? SUP_BACKOFF_MAX_S : c->backoff_s * 2;
    }
}

/* On the monitor thread (see spawn): SIGTERM, then SIGKILL after grace_s. */
static void stop_workers(supervisor *s, double grace_s)
{
    int alive = 0;
    EACH_COPY(s, c)
    {
        pid_t pid = atomic_load(&c->pid);
        if (pid > 0 && kill(pid, SIGTERM) == 0) alive++;
    }
    double end = now_s() + grace_s;
    int killed = 0;
    while (alive > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            sup_copy *c = copy_of_pid(s, pid);
            if (c) {
                atomic_store(&c->pid, 0);
                atomic_store(&c->state, COPY_UNUSED);
                alive--;
            }
            continue;
        }
        if (pid < 0 && errno != EINTR) break;
        if (!killed && now_s() >= end) {
            EACH_COPY(s, c)
            {
                pid_t p = atomic_load(&c->pid);
                if (p > 0) {
                    fprintf(stderr,
                            "berth router: worker pid %d still running after %.0f s: SIGKILL\n",
                            (int)p, grace_s);
                    kill(p, SIGKILL);
                }
            }
            killed = 1;
        }
        struct timespec tick = {0, SUP_TICK_MS * 1000000L};
        nanosleep(&tick, NULL);
    }
}

static void tend(supervisor *s, sup_copy *c, CURL *h, double t)
{
    int st = atomic_load(&c->state);
    pid_t pid = atomic_load(&c->pid);
    if (st == COPY_WAITING && t >= c->next_start) {
        spawn(s, c);
    } else if (st == COPY_STARTING && t >= c->next_probe && h) {
        c->next_probe = t + SUP_PROBE_S;
        int expected = COPY_STARTING;
        if (probe(h, c->socket) &&
            atomic_compare_exchange_strong(&c->state, &expected, COPY_READY)) {
            c->ready_at = now_s();
            fprintf(stderr, "berth router: component %s copy %d: worker pid %d ready\n",
                    name_of(s, c), c->copy, (int)pid);
        }
    } else if (st == COPY_RETIRING) {
        if (pid <= 0) {
            atomic_store(&c->state, COPY_UNUSED);
        } else if (atomic_load(&c->outstanding) == 0 || t >= atomic_load(&c->retire_by)) {
            if (atomic_load(&c->outstanding) > 0)
                fprintf(
                    stderr,
                    "berth router: component %s copy %d: %d requests still in flight at the drain "
                    "deadline\n",
                    name_of(s, c), c->copy, atomic_load(&c->outstanding));
            kill(pid, SIGTERM);
            atomic_store(&c->kill_at, t + 5);
            atomic_store(&c->state, COPY_STOPPING);
        }
    } else if (st == COPY_STOPPING && pid > 0 && t >= atomic_load(&c->kill_at)) {
        kill(pid, SIGKILL);
        atomic_store(&c->kill_at, t + 3600);
    }
}

/* A component with a stable copy forgets its earlier exits: old crashes, or the exits of a
 * rolled-back update's copies, do not make a later moment with no ready copy look like a crash
 * loop. */
static void forget_old_exits(supervisor *s, double t)
{
    double stable_s = atomic_load(&s->stable_s);
    EACH_COPY(s, c)
    if (atomic_load(&c->state) == COPY_READY && t - c->ready_at >= stable_s)
        atomic_store(&s->comps[c->idx].recent_exits, 0);
}

static void *monitor(void *arg)
{
    supervisor *s = arg;
    CURL *h = curl_easy_init();
    while (!atomic_load(&s->stopping)) {
        reap(s);
        double t = now_s();
        EACH_COPY(s, c)
        if (atomic_load(&c->state) != COPY_UNUSED) tend(s, c, h, t);
        forget_old_exits(s, t);
        struct timespec tick = {0, SUP_TICK_MS * 1000000L};
        nanosleep(&tick, NULL);
    }
    if (h) curl_easy_cleanup(h);
    stop_workers(s, s->grace_s);
    return NULL;
}

static char **worker_environment(void)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 1, sizeof *envp);
    if (!envp) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "BERTH_", 6) &&
            strncmp(environ[i], "SAGEMAKER_BIND_TO_PORT=", 23) &&
            strncmp(environ[i], "SM_MODEL_DIR=", 13))
            envp[k++] = environ[i];
    return envp;
}

supervisor *sup_start(const cc_config *cfg, const char *exe, char *err, size_t errlen)
{
    supervisor *s = calloc(1, sizeof *s);
    if (!s || !(s->envp = worker_environment())) {
        snprintf(err, errlen, "out of memory");
        free(s);
        return NULL;
    }
    atomic_store(&s->stable_s, SUP_STABLE_S);
    memcpy(s->shell.endpoint, cfg->endpoint, sizeof s->shell.endpoint);
    memcpy(s->shell.backend, cfg->backend, sizeof s->shell.backend);
    snprintf(s->exe, sizeof s->exe, "%s", exe);
    const char *tmp = getenv("TMPDIR");
    /* Unix socket paths are limited to 107 bytes: a short directory of our own (mode 0700, so only
     * this user reaches the workers, which check no credentials). */
    snprintf(s->dir, sizeof s->dir, "%s/berth-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(s->dir)) {
        snprintf(err, errlen, "cannot create the worker socket directory %s: %s", s->dir,
                 strerror(errno));
        free(s->envp);
        free(s);
        return NULL;
    }
    for (int i = 0; i < CC_MAX_COMPONENTS; i++)
        for (int j = 0; j < CC_MAX_COPIES; j++) {
            sup_copy *c = &s->comps[i].copies[j];
            c->idx = i;
            c->copy = j;
            c->backoff_s = SUP_BACKOFF_MIN_S;
            pthread_mutex_init(&c->log_mu, NULL);
            snprintf(c->socket, sizeof c->socket, "%s/%d-%d.sock", s->dir, i, j);
        }
    if (pthread_create(&s->thread, NULL, monitor, s)) {
        snprintf(err, errlen, "cannot start the supervisor thread");
        rmdir(s->dir);
        free(s->envp);
        free(s);
        return NULL;
    }
    s->thread_started = 1;
    return s;
}

void sup_add(supervisor *s, int idx, const cc_component *c)
{
    sup_component *k = &s->comps[idx];
    atomic_store(&k->restarts, 0);
    atomic_store(&k->recent_exits, 0);
    atomic_store(&k->cfg, c);
    sup_scale(s, idx, c->copies, 0);
}

void sup_on_socket_reset(supervisor *s, void (*fn)(const char *socket_path))
{
    s->socket_reset = fn;
}

void sup_set_spec(supervisor *s, int idx, const cc_component *c)
{
    atomic_store(&s->comps[idx].cfg, c);
}

static int is_live(int st)
{
    return st == COPY_WAITING || st == COPY_STARTING || st == COPY_READY;
}

unsigned sup_live_mask(supervisor *s, int idx)
{
    unsigned m = 0;
    for (int j = 0; j < CC_MAX_COPIES; j++)
        if (is_live(atomic_load(&s->comps[idx].copies[j].state))) m |= 1u << j;
    return m;
}

unsigned sup_start_copies(supervisor *s, int idx, const cc_component *spec, int n)
{
    unsigned free_slots = 0;
    int n_free = 0;
    for (int j = 0; j < CC_MAX_COPIES; j++) {
        sup_copy *c = &s->comps[idx].copies[j];
        if (atomic_load(&c->state) == COPY_UNUSED && atomic_load(&c->pid) == 0) {
            free_slots |= 1u << j;
            n_free++;
        }
    }
    if (n <= 0 || n_free < n) return 0;
    unsigned m = 0;
    for (int j = 0; j < CC_MAX_COPIES && n > 0; j++) {
        if (!(free_slots & (1u << j))) continue;
        sup_copy *c = &s->comps[idx].copies[j];
        char *model = strdup(spec->model);
        if (!model) break;
        free(c->spec.model);
        c->spec = *spec;
        c->spec.model = model;
        c->last_log[0] = 0;
        atomic_store(&c->exits, 0);
        c->backoff_s = SUP_BACKOFF_MIN_S;
        c->next_start = 0;
        int expected = COPY_UNUSED; /* publishes spec to the monitor thread */
        if (atomic_compare_exchange_strong(&c->state, &expected, COPY_WAITING)) {
            m |= 1u << j;
            n--;
        }
    }
    return m;
}

void sup_retire(supervisor *s, int idx, unsigned mask, double drain_s)
{
    double by = now_s() + drain_s;
    for (int j = 0; j < CC_MAX_COPIES; j++) {
        if (!(mask & (1u << j))) continue;
        sup_copy *c = &s->comps[idx].copies[j];
        atomic_store(&c->retire_by, by);
        for (int st = atomic_load(&c->state); is_live(st);)
            if (atomic_compare_exchange_weak(&c->state, &st, COPY_RETIRING)) {
                /* no new request goes to it: its idle connections are of no more use */
                if (s->socket_reset) s->socket_reset(c->socket);
                break;
            }
    }
}

void sup_scale(supervisor *s, int idx, int copies, double drain_s)
{
    unsigned live = sup_live_mask(s, idx);
    int n = __builtin_popcount(live);
    const cc_component *spec = atomic_load(&s->comps[idx].cfg);
    if (n < copies && spec) {
        sup_start_copies(s, idx, spec, copies - n);
        return;
    }
    /* Scaling down retires copies that are not ready yet first, then the highest-numbered. */
    unsigned retire = 0;
    for (int pass = 0; pass < 2 && n > copies; pass++)
        for (int j = CC_MAX_COPIES - 1; j >= 0 && n > copies; j--) {
            if (!(live & (1u << j)) || (retire & (1u << j))) continue;
            if (pass == 0 && atomic_load(&s->comps[idx].copies[j].state) == COPY_READY) continue;
            retire |= 1u << j;
            n--;
        }
    sup_retire(s, idx, retire, drain_s);
}

int sup_ready_in(supervisor *s, int idx, unsigned mask)
{
    int n = 0;
    for (int j = 0; j < CC_MAX_COPIES; j++)
        n += (mask & (1u << j)) && atomic_load(&s->comps[idx].copies[j].state) == COPY_READY;
    return n;
}

unsigned long sup_exits_in(supervisor *s, int idx, unsigned mask, char *last_log, size_t len)
{
    unsigned long n = 0, most = 0;
    if (len) last_log[0] = 0;
    for (int j = 0; j < CC_MAX_COPIES; j++) {
        if (!(mask & (1u << j))) continue;
        sup_copy *c = &s->comps[idx].copies[j];
        unsigned long e = atomic_load(&c->exits);
        n += e;
        if (e >= most && len) {
            most = e;
            pthread_mutex_lock(&c->log_mu);
            snprintf(last_log, len, "%s", c->last_log);
            pthread_mutex_unlock(&c->log_mu);
        }
    }
    return n;
}

int sup_copy_live(supervisor *s, int idx, int copy)
{
    return atomic_load(&s->comps[idx].copies[copy].state) != COPY_UNUSED;
}

int sup_live_copies(supervisor *s, int idx)
{
    int n = 0;
    for (int j = 0; j < CC_MAX_COPIES; j++)
        n += atomic_load(&s->comps[idx].copies[j].state) != COPY_UNUSED ||
             atomic_load(&s->comps[idx].copies[j].outstanding) > 0;
    return n;
}

void sup_stop(supervisor *s, double grace_s)
{
    if (!s) return;
    s->grace_s = grace_s;
    atomic_store(&s->stopping, true);
    if (s->thread_started) pthread_join(s->thread, NULL);
    /* every worker is gone, so each relay reads its EOF soon; they write into the copies */
    for (int i = 0; i < 200 && atomic_load(&s->relays) > 0; i++) {
        struct timespec tick = {0, 10 * 1000000L};
        nanosleep(&tick, NULL);
    }
    EACH_COPY(s, c)
    {
        unlink(c->socket);
        free(c->spec.model);
        pthread_mutex_destroy(&c->log_mu);
    }
    rmdir(s->dir);
    free(s->envp);
    free(s);
}

sup_copy *sup_acquire(supervisor *s, int idx)
{
    sup_component *k = &s->comps[idx];
    unsigned start = atomic_fetch_add(&k->rr, 1);
    sup_copy *best = NULL;
    int best_load = 0;
    for (int j = 0; j < CC_MAX_COPIES; j++) {
        sup_copy *c = &k->copies[(start + (unsigned)j) % CC_MAX_COPIES];
        if (atomic_load(&c->state) != COPY_READY) continue;
        int load = atomic_load(&c->outstanding);
        if (!best || load < best_load) {
            best = c;
            best_load = load;
        }
    }
    if (best) atomic_fetch_add(&best->outstanding, 1);
    return best;
}

void sup_release(sup_copy *c)
{
    atomic_fetch_sub(&c->outstanding, 1);
}

const char *sup_copy_socket(const sup_copy *c)
{
    return c->socket;
}

int sup_ready_copies(supervisor *s, int idx)
{
    int n = 0;
    for (int j = 0; j < CC_MAX_COPIES; j++)
        n += atomic_load(&s->comps[idx].copies[j].state) == COPY_READY;
    return n;
}

unsigned long sup_restarts(supervisor *s, int idx)
{
    return atomic_load(&s->comps[idx].restarts);
}

unsigned long sup_recent_exits(supervisor *s, int idx)
{
    return atomic_load(&s->comps[idx].recent_exits);
}

void sup_set_stable_s(supervisor *s, double stable_s)
{
    atomic_store(&s->stable_s, stable_s);
}

int sup_outstanding(supervisor *s, int idx)
{
    int n = 0;
    for (int j = 0; j < CC_MAX_COPIES; j++)
        n += atomic_load(&s->comps[idx].copies[j].outstanding);
    return n;
}

pid_t sup_pid(supervisor *s, int idx, int copy)
{
    return atomic_load(&s->comps[idx].copies[copy].pid);
}

int sup_copy_ready(supervisor *s, int idx, int copy)
{
    return atomic_load(&s->comps[idx].copies[copy].state) == COPY_READY;
}

int sup_copy_outstanding(supervisor *s, int idx, int copy)
{
    return atomic_load(&s->comps[idx].copies[copy].outstanding);
}

const char *sup_copy_socket_of(supervisor *s, int idx, int copy)
{
    return s->comps[idx].copies[copy].socket;
}
