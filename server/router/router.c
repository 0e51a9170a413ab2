/* Which component and which copy answers a request, and the router's own routes (/ping, /health,
 * a component's /health, /v1/models, /metrics, /version). Bytes are proxy.c's business. */
#include "server/router/router.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/api/api_response.h"
#include "server/router/proxy.h"
#include "server/router/router_internal.h"
#include "server/router/supervisor.h"
#include "server/router/worker_metrics.h"

void router_count_unrouted(router *rt, int status)
{
    if (status > 0 && status < ROUTER_CODES) atomic_fetch_add(&rt->unrouted[status], 1);
}

static void respond_error(router *rt, http_request *r, int status, const char *type,
                          const char *param, const char *code, const char *msg)
{
    http_response_error e;
    http_error_set(&e, status, type, param, code, "%s", msg);
    if (status == 503) e.retry_after = 1;
    router_count_unrouted(rt, status);
    http_respond_error(r, &e);
}

static void names_list(const router *rt, char *out, size_t cap)
{
    out[0] = 0;
    EACH_ACTIVE(rt, i)
    snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? ", " : "",
             rt->cfg.components[i].name);
}

int router_find(const router *rt, const char *name)
{
    EACH_ACTIVE(rt, i)
    if (!strcmp(rt->cfg.components[i].name, name)) return i;
    return -1;
}

int router_n_active(const router *rt)
{
    int n = 0;
    EACH_ACTIVE(rt, i)
    n++;
    return n;
}

/* The one component when there is exactly one. */
static int only_component(const router *rt)
{
    EACH_ACTIVE(rt, i)
    return i;
    return -1;
}

static void not_found(router *rt, http_request *r, const char *name)
{
    char list[1200], msg[1400];
    names_list(rt, list, sizeof list);
    snprintf(msg, sizeof msg, "inference component '%.64s' not found (this endpoint has: %s)", name,
             list);
    respond_error(rt, r, 404, "invalid_request_error", "model", "model_not_found", msg);
}

/* The component an OpenAI route addresses: the path's {component}, else the body's "model" (any
 * name when there is one component). -1 once r is answered. */
static int component_of_openai(router *rt, http_request *r)
{
    const char *c = http_request_component(r);
    if (c) {
        int i = router_find(rt, c);
        if (i < 0) not_found(rt, r, c);
        return i;
    }
    if (router_n_active(rt) == 1) return only_component(rt);
    size_t len;
    const char *body = http_request_body(r, &len);
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    int i = -1;
    if (!cJSON_IsString(m)) {
        char list[1200], msg[1400];
        names_list(rt, list, sizeof list);
        snprintf(msg, sizeof msg,
                 "model: name one of this endpoint's inference components (%s), or "
                 "use /endpoints/{endpoint}/inference-components/{name}/openai/v1",
                 list);
        respond_error(rt, r, 400, "invalid_request_error", "model", "invalid_value", msg);
    } else if ((i = router_find(rt, m->valuestring)) < 0) {
        not_found(rt, r, m->valuestring);
    }
    cJSON_Delete(root);
    return i;
}

typedef struct inflight {
    router *rt;
    int idx;
    sup_copy *copy;
} inflight;

static void on_done(void *ctx, int status, int worker_failed)
{
    inflight *f = ctx;
    comp_stats *st = &f->rt->stats[f->idx];
    if (status > 0 && status < ROUTER_CODES) atomic_fetch_add(&st->by_code[status], 1);
    if (worker_failed) atomic_fetch_add(&st->worker_failures, 1);
    atomic_fetch_sub(&st->in_flight, 1);
    sup_release(f->copy);
    atomic_fetch_sub(&f->rt->in_flight, 1);
    free(f);
}

/* Called with the read lock held (so the component cannot go away while a copy is chosen);
 * releases it before the long wait on the worker. */
static void forward(router *rt, http_request *r, int idx, const char *worker_path)
{
    char name[CC_NAME_MAX + 1], msg[256];
    memcpy(name, rt->cfg.components[idx].name, sizeof name);
    if (atomic_load(&rt->draining)) {
        respond_error(rt, r, 503, "server_error", NULL, NULL, "the server is shutting down");
        pthread_rwlock_unlock(&rt->lock);
        return;
    }
    sup_copy *c = sup_acquire(rt->sup, idx);
    inflight *f = c ? malloc(sizeof *f) : NULL;
    if (f) {
        *f = (inflight){rt, idx, c};
        atomic_fetch_add(&rt->in_flight, 1);
        atomic_fetch_add(&rt->stats[idx].in_flight, 1);
    }
    pthread_rwlock_unlock(&rt->lock);
    if (!c) {
        snprintf(msg, sizeof msg,
                 "inference component '%s' has no ready copy yet (starting or restarting); retry "
                 "shortly",
                 name);
        respond_error(rt, r, 503, "server_error", NULL, "component_not_ready", msg);
        return;
    }
    if (!f) {
        sup_release(c);
        respond_error(rt, r, 500, "server_error", NULL, NULL, "out of memory");
        return;
    }
    proxy_forward(r, sup_copy_socket(c), worker_path, name, on_done, f);
}

static void route_openai(router *rt, http_request *r, const char *worker_path)
{
    pthread_rwlock_rdlock(&rt->lock);
    int i = component_of_openai(rt, r);
    if (i >= 0)
        forward(rt, r, i, worker_path);
    else
        pthread_rwlock_unlock(&rt->lock);
}

static void handle_chat(void *ctx, http_request *r)
{
    route_openai(ctx, r, "/v1/chat/completions");
}

static void handle_completion(void *ctx, http_request *r)
{
    route_openai(ctx, r, "/v1/completions");
}

static void invocations_locked(router *rt, http_request *r);

/* SageMaker's InvokeEndpoint names the component in this header (one component: optional). */
static void handle_invocations(void *ctx, http_request *r)
{
    router *rt = ctx;
    pthread_rwlock_rdlock(&rt->lock);
    invocations_locked(rt, r);
}

static void invocations_locked(router *rt, http_request *r)
{
    const char *c = http_request_header(r, "X-Amzn-SageMaker-Inference-Component");
    int i = only_component(rt);
    if (c) {
        if ((i = router_find(rt, c)) < 0) {
            not_found(rt, r, c);
            pthread_rwlock_unlock(&rt->lock);
            return;
        }
    } else if (router_n_active(rt) != 1) {
        char list[1200], msg[1400];
        names_list(rt, list, sizeof list);
        snprintf(msg, sizeof msg,
                 "X-Amzn-SageMaker-Inference-Component: required on an endpoint with "
                 "several inference components (%s)",
                 list);
        respond_error(rt, r, 400, "invalid_request_error", "X-Amzn-SageMaker-Inference-Component",
                      "missing_header", msg);
        pthread_rwlock_unlock(&rt->lock);
        return;
    }
    forward(rt, r, i, "/invocations");
}

static void handle_models_locked(void *ctx, http_request *r)
{
    router *rt = ctx;
    const char *ids[CC_MAX_COMPONENTS];
    size_t n = 0;
    const char *c = http_request_component(r);
    if (c) {
        int i = router_find(rt, c);
        if (i < 0) {
            not_found(rt, r, c);
            return;
        }
        ids[n++] = rt->cfg.components[i].name;
    } else {
        EACH_ACTIVE(rt, i)
        ids[n++] = rt->cfg.components[i].name;
    }
    char *json = api_models_json(ids, n, rt->created, "berth");
    if (!json) {
        respond_error(rt, r, 500, "server_error", NULL, NULL, "out of memory");
        return;
    }
    router_count_unrouted(rt, 200);
    http_respond_json(r, 200, json);
    free(json);
}

static void handle_models(void *ctx, http_request *r)
{
    router *rt = ctx;
    pthread_rwlock_rdlock(&rt->lock);
    handle_models_locked(ctx, r);
    pthread_rwlock_unlock(&rt->lock);
}

/* /ping and /health: 200 once every component has a ready copy. */
static void handle_health_locked(void *ctx, http_request *r)
{
    router *rt = ctx;
    char waiting[1200] = "";
    EACH_ACTIVE(rt, i)
    if (sup_ready_copies(rt->sup, i) == 0)
        snprintf(waiting + strlen(waiting), sizeof waiting - strlen(waiting), "%s%s",
                 waiting[0] ? ", " : "", rt->cfg.components[i].name);
    char msg[1400];
    if (atomic_load(&rt->draining)) {
        respond_error(rt, r, 503, "server_error", NULL, NULL, "the server is shutting down");
    } else if (waiting[0]) {
        snprintf(msg, sizeof msg, "inference components without a ready copy: %s", waiting);
        respond_error(rt, r, 503, "server_error", NULL, "component_not_ready", msg);
    } else {
        router_count_unrouted(rt, 200);
        http_respond(r, 200, "application/json", "{}", 2);
    }
}

static void handle_health(void *ctx, http_request *r)
{
    router *rt = ctx;
    pthread_rwlock_rdlock(&rt->lock);
    handle_health_locked(ctx, r);
    pthread_rwlock_unlock(&rt->lock);
}

/* /endpoints/{endpoint}/inference-components/{name}/health */
static void handle_component_health_locked(void *ctx, http_request *r)
{
    router *rt = ctx;
    const char *c = http_request_component(r);
    int i = c ? router_find(rt, c) : -1;
    if (i < 0) {
        not_found(rt, r, c ? c : "");
        return;
    }
    int ready = sup_ready_copies(rt->sup, i);
    const cc_component *k = &rt->cfg.components[i];
    char json[256 + CC_MAX_COPIES * 112];
    int n = snprintf(json, sizeof json,
                     "{\"name\":\"%s\",\"ready_copies\":%d,\"copies\":%d,\"restarts\":%lu,"
                     "\"workers\":[",
                     k->name, ready, k->copies, sup_restarts(rt->sup, i));
    for (int j = 0, listed = 0; j < CC_MAX_COPIES; j++)
        if (sup_copy_live(rt->sup, i, j) || sup_pid(rt->sup, i, j))
            n += snprintf(json + n, sizeof json - (size_t)n,
                          "%s{\"copy\":%d,\"pid\":%d,\"ready\":%s,\"outstanding\":%d,"
                          "\"idle_connections\":%d}",
                          listed++ ? "," : "", j, (int)sup_pid(rt->sup, i, j),
                          sup_copy_ready(rt->sup, i, j) ? "true" : "false",
                          sup_copy_outstanding(rt->sup, i, j),
                          proxy_idle_connections(sup_copy_socket_of(rt->sup, i, j)));
    snprintf(json + n, sizeof json - (size_t)n, "]}");
    int status = ready > 0 && !atomic_load(&rt->draining) ? 200 : 503;
    router_count_unrouted(rt, status);
    http_respond_json(r, status, json);
}

static void handle_component_health(void *ctx, http_request *r)
{
    router *rt = ctx;
    pthread_rwlock_rdlock(&rt->lock);
    handle_component_health_locked(ctx, r);
    pthread_rwlock_unlock(&rt->lock);
}

static void handle_version(void *ctx, http_request *r)
{
    router *rt = ctx;
    router_count_unrouted(rt, 200);
    http_respond_json(r, 200, "{\"version\": \"" BERTH_VERSION "\"}");
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !b->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* The router's own series, and the sockets of the ready copies whose metrics follow them. */
static void render_metrics(router *rt, sbuf *out, const char **sockets, int *copies, size_t *n_sockets)
{
    sbuf b = {0};
    *n_sockets = 0;
    EACH_ACTIVE(rt, i)
    for (int j = 0; j < CC_MAX_COPIES; j++)
        if (sup_copy_ready(rt->sup, i, j)) {
            sockets[*n_sockets] = sup_copy_socket_of(rt->sup, i, j);
            copies[(*n_sockets)++] = j;
        }
    put(&b,
        "# HELP berth_component_requests_total Requests routed to an inference component, by the "
        "status the client got (a stream counts 200 when it starts).\n"
        "# TYPE berth_component_requests_total counter\n");
    EACH_ACTIVE(rt, i)
    for (int code = 0; code < ROUTER_CODES; code++) {
        unsigned long n = atomic_load(&rt->stats[i].by_code[code]);
        if (n)
            put(&b, "berth_component_requests_total{component=\"%s\",code=\"%d\"} %lu\n",
                rt->cfg.components[i].name, code, n);
    }
    const struct {
        const char *name, *type, *help;
    } series[] = {
        {"berth_component_worker_failures_total", "counter",
         "Requests whose worker failed under them (5xx, or an SSE error event mid-stream)."},
        {"berth_component_restarts_total", "counter", "Worker restarts after an exit or crash."},
        {"berth_component_ready_copies", "gauge", "Copies whose worker answers /health."},
        {"berth_component_copies", "gauge", "Configured copies."},
        {"berth_component_requests_in_flight", "gauge",
         "Requests being answered by the component."},
    };
    for (size_t s = 0; s < sizeof series / sizeof series[0]; s++) {
        put(&b, "# HELP %s %s\n# TYPE %s %s\n", series[s].name, series[s].help, series[s].name,
            series[s].type);
        EACH_ACTIVE(rt, i)
        {
            long v = s == 0   ? (long)atomic_load(&rt->stats[i].worker_failures)
                     : s == 1 ? (long)sup_restarts(rt->sup, i)
                     : s == 2 ? sup_ready_copies(rt->sup, i)
                     : s == 3 ? rt->cfg.components[i].copies
                              : atomic_load(&rt->stats[i].in_flight);
            put(&b, "%s{component=\"%s\"} %ld\n", series[s].name, rt->cfg.components[i].name, v);
        }
    }
    put(&b,
        "# HELP berth_router_requests_total Requests the router answered itself (health, models, "
        "metrics, unknown components, no ready copy), by status.\n"
        "# TYPE berth_router_requests_total counter\n");
    for (int code = 0; code < ROUTER_CODES; code++) {
        unsigned long n = atomic_load(&rt->unrouted[code]);
        if (n) put(&b, "berth_router_requests_total{code=\"%d\"} %lu\n", code, n);
    }
    put(&b,
        "# HELP berth_router_idle_worker_connections Connections to workers kept open for the next "
        "requests (closed at once when their worker retires, exits or restarts).\n"
        "# TYPE berth_router_idle_worker_connections gauge\n"
        "berth_router_idle_worker_connections %d\n",
        proxy_idle_connections(NULL));
    *out = b;
}

static void handle_metrics(void *ctx, http_request *r)
{
    router *rt = ctx;
    sbuf b;
    const char *sockets[CC_MAX_COMPONENTS * CC_MAX_COPIES];
    char paths[CC_MAX_COMPONENTS * CC_MAX_COPIES][108];
    int copies[CC_MAX_COMPONENTS * CC_MAX_COPIES];
    size_t n;
    pthread_rwlock_rdlock(&rt->lock);
    render_metrics(rt, &b, sockets, copies, &n);
    pthread_rwlock_unlock(&rt->lock);
    /* the workers are asked without the lock: a slow one must not hold up the admin API */
    for (size_t i = 0; i < n; i++) {
        snprintf(paths[i], sizeof paths[i], "%s", sockets[i]);
        sockets[i] = paths[i];
    }
    char *workers = wm_collect(sockets, copies, n);
    if (b.oom || !workers) {
        free(b.p);
        free(workers);
        respond_error(rt, r, 500, "server_error", NULL, NULL, "out of memory");
        return;
    }
    put(&b, "%s", workers);
    free(workers);
    if (b.oom) {
        free(b.p);
        respond_error(rt, r, 500, "server_error", NULL, NULL, "out of memory");
        return;
    }
    router_count_unrouted(rt, 200);
    http_respond(r, 200, "text/plain; version=0.0.4", b.p, b.len);
    free(b.p);
}

/* Frees the slot of a deleted component once its copies are gone and its requests answered. */
static void *keep(void *arg)
{
    router *rt = arg;
    while (!atomic_load(&rt->stop_keeper)) {
        struct timespec tick = {0, 100 * 1000 * 1000};
        nanosleep(&tick, NULL);
        pthread_rwlock_wrlock(&rt->lock);
        router_tend_updates(rt);
        for (int i = 0; i < CC_MAX_COMPONENTS; i++)
            if (rt->state[i] == SLOT_DELETING && sup_live_copies(rt->sup, i) == 0 &&
                atomic_load(&rt->stats[i].in_flight) == 0) {
                fprintf(stderr, "berth router: component %s deleted\n", rt->cfg.components[i].name);
                free(rt->cfg.components[i].model);
                memset(&rt->cfg.components[i], 0, sizeof rt->cfg.components[i]);
                rt->state[i] = SLOT_FREE;
            }
        pthread_rwlock_unlock(&rt->lock);
    }
    return NULL;
}

router *router_start(cc_config *cfg, const http_config *hc, const router_options *o, char *err,
                     size_t errlen)
{
    router *rt = calloc(1, sizeof *rt);
    if (!rt) {
        snprintf(err, errlen, "out of memory");
        cc_config_free(cfg);
        return NULL;
    }
    rt->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    rt->opt = *o;
    rt->created = (int64_t)time(NULL);
    pthread_rwlock_init(&rt->lock, NULL);
    for (int i = 0; i < rt->cfg.n_components; i++) {
        rt->state[i] = SLOT_ACTIVE;
        rt->created_at[i] = rt->modified_at[i] = rt->created;
    }
    rt->cfg.n_components =
        CC_MAX_COMPONENTS; /* slots from here on (cc_config_free frees them all) */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    http_config h = *hc;
    const char *endpoints[1] = {rt->cfg.endpoint};
    h.endpoints = endpoints;
    h.n_endpoints = 1;
    h.unix_socket_path = NULL;
    const struct {
        int method;
        const char *path;
        int flags;
        http_handler_fn fn;
    } routes[] = {
        {HTTP_POST, "/chat/completions", HTTP_ROUTE_OPENAI, handle_chat},
        {HTTP_POST, "/completions", HTTP_ROUTE_OPENAI, handle_completion},
        {HTTP_GET, "/models", HTTP_ROUTE_OPENAI, handle_models},
        {HTTP_POST, "/invocations", HTTP_ROUTE_ROOT, handle_invocations},
        {HTTP_GET, "/health", HTTP_ROUTE_ROOT | HTTP_ROUTE_NO_AUTH, handle_health},
        {HTTP_GET, "/ping", HTTP_ROUTE_ROOT | HTTP_ROUTE_NO_AUTH, handle_health},
        {HTTP_GET, "/health", HTTP_ROUTE_COMPONENT, handle_component_health},
        {HTTP_GET, "/version", HTTP_ROUTE_ROOT, handle_version},
        {HTTP_GET, "/metrics", HTTP_ROUTE_ROOT, handle_metrics},
        /* its own authentication: admin keys or key-store identities, never plain API keys */
        {HTTP_POST, "/", HTTP_ROUTE_ROOT | HTTP_ROUTE_NO_AUTH, router_handle_admin},
    };
    rt->srv = http_server_new(&h, err, errlen);
    for (size_t i = 0; rt->srv && i < sizeof routes / sizeof routes[0]; i++)
        if (http_server_route(rt->srv, routes[i].method, routes[i].path, routes[i].flags,
                              routes[i].fn, rt, err, errlen))
            goto fail;
    if (!rt->srv || http_server_start(rt->srv, err, errlen)) goto fail;
    if (!(rt->sup = sup_start(&rt->cfg, o->exe, err, errlen))) goto fail;
    sup_on_socket_reset(rt->sup, proxy_forget_socket);
    for (int i = 0; i < CC_MAX_COMPONENTS; i++)
        if (rt->state[i] == SLOT_ACTIVE) sup_add(rt->sup, i, &rt->cfg.components[i]);
    if (pthread_create(&rt->keeper, NULL, keep, rt)) {
        snprintf(err, errlen, "cannot start a router thread");
        sup_stop(rt->sup, 0);
        goto fail;
    }
    return rt;
fail:
    http_server_free(rt->srv);
    cc_config_free(&rt->cfg);
    free(rt);
    return NULL;
}

int router_port(const router *rt)
{
    return http_server_port(rt->srv);
}

http_server *router_http_server(router *rt)
{
    return rt->srv;
}

void router_stop_accepting(router *rt)
{
    atomic_store(&rt->draining, true);
}

int router_in_flight(router *rt)
{
    return atomic_load(&rt->in_flight);
}

void router_free(router *rt, double grace_s)
{
    if (!rt) return;
    atomic_store(&rt->draining, true);
    /* Workers first: a stream still open then ends with its error event, and the HTTP server's
     * stop (which waits for every connection) does not wait on a generation. */
    atomic_store(&rt->stop_keeper, true);
    pthread_join(rt->keeper, NULL);
    sup_stop(rt->sup, grace_s);
    http_server_free(rt->srv);
    for (int i = 0; i < CC_MAX_COMPONENTS; i++)
        free(rt->pending[i].model);
    pthread_rwlock_destroy(&rt->lock);
    cc_config_free(&rt->cfg);
    free(rt);
}
