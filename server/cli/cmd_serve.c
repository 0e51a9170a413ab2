/* berth serve: one model over the OpenAI API. The HTTP server starts first so that /health and /ping
 * answer 503 while the weights load, then 200. SIGTERM/SIGINT: new requests get 503 while those in
 * flight finish (at most --shutdown-timeout), then everything is released. SIGHUP reloads the auth
 * key store. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels/backends.h"
#include "server/cli/commands.h"
#include "server/cli/serve_args.h"
#include "server/engine/memory_share.h"
#include "server/router/router.h"
#include "server/serve/serve.h"
#include "server/serve/serve_auth.h"

/* Auth is off (NULL, no error) unless a key store or an API key is configured. */
static int create_auth(const serve_args *a, auth_ctx **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!a->auth_key_store && !a->n_api_keys && !a->api_keys_file) return 0;
    auth_config cfg = {.keystore_path = a->auth_key_store, .regions = a->auth_regions,
                       .n_regions = a->n_auth_regions, .accept_bedrock = a->auth_accept_bedrock,
                       .clock_skew = a->auth_clock_skew, .sagemaker_host = a->auth_token_host,
                       .api_keys = a->api_keys,
                       .n_api_keys = a->n_api_keys, .api_keys_file = a->api_keys_file};
    *out = auth_create(&cfg, err, errlen);
    if (!*out) return -1;
    char regions[256] = "";
    for (size_t i = 0; a->auth_key_store && i < a->n_auth_regions; i++)
        snprintf(regions + strlen(regions), sizeof regions - strlen(regions), "%s%s", i ? ", " : "",
                 a->auth_regions[i]);
    /* What is configured, never a key: the count of static keys and the key store's path. */
    fprintf(stderr, "berth serve: authentication on: key store %s%s%s%s, %zu API key%s%s%s\n",
            a->auth_key_store ? a->auth_key_store : "none", a->auth_key_store ? " (regions " : "",
            regions, a->auth_key_store ? ")" : "", a->n_api_keys, a->n_api_keys == 1 ? "" : "s",
            a->api_keys_file ? " + keys file " : "", a->api_keys_file ? a->api_keys_file : "");
    return 0;
}

static http_server *g_reload_srv; /* set once listening: SIGHUP re-reads its TLS pair too */

/* SIGHUP: a new key store for the next requests; requests in flight keep the snapshot they hold.
 * With TLS, the certificate and key are re-read the same way. */
static void reload_auth(auth_ctx *auth, const char *path)
{
    char err[1024];
    int tls = g_reload_srv ? http_server_reload_tls(g_reload_srv, err, sizeof err) : 1;
    if (tls < 0)
        fprintf(stderr, "berth serve: SIGHUP: TLS certificate not reloaded, the previous one stays in force: %s\n", err);
    else if (tls == 0)
        fprintf(stderr, "berth serve: SIGHUP: TLS certificate and key reloaded\n");
    if (tls <= 0 && !path) return;
    if (!auth || !path) {
        fprintf(stderr, "berth serve: SIGHUP: no --auth-key-store to reload\n");
        return;
    }
    if (auth_reload(auth, err, sizeof err))
        fprintf(stderr, "berth serve: SIGHUP: key store not reloaded, the previous one stays in force: %s\n",
                err);
    else
        fprintf(stderr, "berth serve: SIGHUP: key store %s reloaded\n", path);
}

/* After SIGTERM/SIGINT: /ping, /health and new requests answer 503 while the requests in flight
 * finish, for at most timeout_s; a second SIGTERM/SIGINT ends the wait at once. */
static void drain(serve_ctx *s, const sigset_t *sigs, int first, double timeout_s, auth_ctx *auth,
                  const char *key_store)
{
    atomic_store(&s->ready, false);
    engine_stats st;
    engine_get_stats(s->eng, &st);
    fprintf(stderr, "berth serve: %s: refusing new requests, %d in flight (waiting at most %.0f s)\n",
            first == SIGINT ? "SIGINT" : "SIGTERM", st.running + st.waiting, timeout_s);
    double end = serve_now() + timeout_s;
    struct timespec tick = {0, 100 * 1000 * 1000};
    while (st.running + st.waiting > 0 && serve_now() < end) {
        int sig = sigtimedwait(sigs, NULL, &tick);
        if (sig == SIGHUP) reload_auth(auth, key_store);
        else if (sig == SIGINT || sig == SIGTERM) break;
        engine_get_stats(s->eng, &st);
    }
    if (st.running + st.waiting > 0)
        fprintf(stderr, "berth serve: aborting %d requests still in flight\n", st.running + st.waiting);
    fprintf(stderr, "berth serve: shutting down\n");
}

/* What the memory shares must fit in, in MiB, and what that is (for the error); -1 with err when
 * an explicitly chosen CUDA device cannot be read. On CUDA that is the device's memory less one
 * measured CUDA context per worker started now (copies created at runtime are checked against the
 * same figure, so each of those contexts is not counted). On the CPU backend: physical memory. */
static int share_capacity(const cc_config *cfg, int64_t *mib, char *what, size_t whatlen, char *err,
                          size_t errlen)
{
    bool want_cuda = !strcmp(cfg->backend, "cuda") ||
                     (strcmp(cfg->backend, "cpu") && strstr(bk_available(), "cuda"));
    memshare_device dev;
    if (want_cuda && memshare_probe("cuda", 0, &dev, err, errlen) == 0) {
        size_t copies = 0;
        for (int i = 0; i < cfg->n_components; i++) copies += (size_t)cfg->components[i].copies;
        size_t contexts = dev.per_process * copies;
        *mib = dev.total > contexts ? (int64_t)((dev.total - contexts) >> 20) : 0;
        snprintf(what, whatlen, "CUDA device 0's %zu MiB less %zu CUDA contexts of %zu MiB (%s)",
                 dev.total >> 20, copies, dev.per_process >> 20,
                 dev.measured ? "measured" : "not measured: the documented default");
        return 0;
    }
    if (want_cuda && !strcmp(cfg->backend, "cuda")) return -1; /* err says which call failed */
    if (memshare_probe("cpu", 0, &dev, err, errlen)) return -1;
    *mib = (int64_t)(dev.total >> 20);
    snprintf(what, whatlen, "this machine's physical memory");
    return 0;
}

/* berth serve --config: the router, its workers, and the same signals as one model. */
static int run_router(const serve_args *a, auth_ctx *auth, const sigset_t *sigs)
{
    char err[1024] = "";
    cc_config cfg;
    if (cc_config_load(a->config_path, &cfg, err, sizeof err)) {
        fprintf(stderr, "berth serve: --config %s\n", err);
        return 2;
    }
    char capacity_what[160];
    int64_t capacity_mib = 0;
    if (share_capacity(&cfg, &capacity_mib, capacity_what, sizeof capacity_what, err, sizeof err)) {
        fprintf(stderr, "berth serve: --config %s: cannot check the memory shares: %s\n", a->config_path,
                err);
        cc_config_free(&cfg);
        return 2;
    }
    router_options ro = {.share_capacity_mib = capacity_mib, .share_capacity_what = capacity_what, .auth = auth,
                         .admin_keys = a->admin_keys, .n_admin_keys = a->n_admin_keys,
                         .drain_s = a->shutdown_timeout_s};
    if (ro.share_capacity_mib &&
        cc_check_shares(&cfg, ro.share_capacity_mib, ro.share_capacity_what, err, sizeof err)) {
        fprintf(stderr, "berth serve: --config %s: %s\n", a->config_path, err);
        cc_config_free(&cfg);
        return 2;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "berth serve: cannot find the berth binary for the workers: /proc/self/exe: %s\n",
                strerror(errno));
        cc_config_free(&cfg);
        return 1;
    }
    exe[n] = 0;
    ro.exe = exe;
    char endpoint[CC_NAME_MAX + 1], names[1200] = "";
    snprintf(endpoint, sizeof endpoint, "%s", cfg.endpoint);
    for (int i = 0; i < cfg.n_components; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s (%d cop%s)", i ? ", " : "",
                 cfg.components[i].name, cfg.components[i].copies, cfg.components[i].copies == 1 ? "y" : "ies");
    http_config hc = {.host = a->host, .port = a->port, .max_body_bytes = a->max_body_bytes,
                      .keepalive_ms = a->keepalive_ms, .idle_timeout_s = a->idle_timeout_s,
                      .tls_cert_path = a->tls_cert, .tls_key_path = a->tls_key,
                      .tls_priorities = a->tls_priorities, .connection_limit = a->max_connections,
                      .connection_limit_per_ip = a->max_connections_per_ip,
                      .header_timeout_s = a->header_timeout_s, .min_body_rate = a->min_body_rate};
    serve_auth sa = {.auth = auth, .default_endpoint = endpoint, .metrics = NULL};
    if (auth) {
        hc.authorize = serve_auth_authorize;
        hc.authorize_ctx = &sa;
    }
    router *rt = router_start(&cfg, &hc, &ro, err, sizeof err);
    if (!rt) {
        fprintf(stderr, "berth serve: %s\n", err);
        return 1;
    }
    fprintf(stderr, "berth serve: router listening on %s://%s:%d, endpoint %s: %s\n",
            a->tls_cert ? "https" : "http", a->host, router_port(rt), endpoint, names);
    g_reload_srv = router_http_server(rt);
    if (http_server_tls_priorities(g_reload_srv))
        fprintf(stderr, "berth serve: TLS priorities %s\n", http_server_tls_priorities(g_reload_srv));
    int sig = 0;
    while (sigwait(sigs, &sig) == 0 && sig == SIGHUP) reload_auth(auth, a->auth_key_store);
    router_stop_accepting(rt);
    fprintf(stderr, "berth serve: %s: refusing new requests, %d in flight (waiting at most %.0f s)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", router_in_flight(rt), a->shutdown_timeout_s);
    double end = serve_now() + a->shutdown_timeout_s;
    struct timespec tick = {0, 100 * 1000 * 1000};
    while (router_in_flight(rt) > 0 && serve_now() < end) {
        int s2 = sigtimedwait(sigs, NULL, &tick);
        if (s2 == SIGHUP) reload_auth(auth, a->auth_key_store);
        else if (s2 == SIGINT || s2 == SIGTERM) break;
    }
    if (router_in_flight(rt) > 0)
        fprintf(stderr, "berth serve: aborting %d requests still in flight\n", router_in_flight(rt));
    fprintf(stderr, "berth serve: shutting down\n");
    g_reload_srv = NULL;
    router_free(rt, 3);
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    serve_args a;
    if (serve_args_parse(argc, argv, &a)) return 2;

    /* Signals go to sigwait below, never to a worker thread. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[1024] = "";
    auth_ctx *auth = NULL;
    if (create_auth(&a, &auth, err, sizeof err)) {
        fprintf(stderr, "berth serve: %s\n", err);
        return 1;
    }
    if (a.config_path) {
        int rrc = run_router(&a, auth, &sigs);
        auth_destroy(auth);
        return rrc;
    }
    int rc = 1;
    serve_ctx *s = calloc(1, sizeof *s);
    s->opts = a.opts;
    s->engine_cfg = a.engine;
    metrics_init(&s->metrics);
    bk_backend *be = NULL;
    http_config hc = {.host = a.host, .port = a.port, .max_body_bytes = a.max_body_bytes,
                      .keepalive_ms = a.keepalive_ms, .idle_timeout_s = a.idle_timeout_s,
                      .tls_cert_path = a.tls_cert,
                      .tls_key_path = a.tls_key, .tls_priorities = a.tls_priorities,
                      .connection_limit = a.max_connections,
                      .connection_limit_per_ip = a.max_connections_per_ip,
                      .header_timeout_s = a.header_timeout_s, .min_body_rate = a.min_body_rate,
                      .endpoints = a.endpoints, .n_endpoints = a.n_endpoints,
                      .unix_socket_path = a.unix_socket};
    serve_auth sa = {.auth = auth, .default_endpoint = a.endpoints[0], .metrics = &s->metrics};
    if (auth) {
        hc.authorize = serve_auth_authorize;
        hc.authorize_ctx = &sa;
    }
    http_server *srv = http_server_new(&hc, err, sizeof err);
    serve_set_identity(s);
    if (!srv || serve_register_routes(s, srv, err, sizeof err) || http_server_start(srv, err, sizeof err))
        goto out;
    if (a.unix_socket)
        fprintf(stderr, "berth serve: listening on unix:%s, loading %s\n", a.unix_socket, a.opts.model_dir);
    else
        fprintf(stderr, "berth serve: listening on %s://%s:%d, loading %s\n", a.tls_cert ? "https" : "http",
                a.host, http_server_port(srv), a.opts.model_dir);
    g_reload_srv = srv;
    if (http_server_tls_priorities(srv))
        fprintf(stderr, "berth serve: TLS priorities %s\n", http_server_tls_priorities(srv));

    be = bk_create(&a.backend, err, sizeof err);
    if (!be) goto out;
    char desc[256];
    bk_describe(be, desc, sizeof desc);
    fprintf(stderr, "berth serve: backend %s\n", desc);
    double t0 = serve_now();
    if (serve_load(s, be, err, sizeof err)) goto out;
    fprintf(stderr,
            "berth serve: ready in %.1f s: model %s (%d layers, vocab %d), backend %s, max_model_len %d, "
            "max_num_seqs %d, KV cache %d tokens\n",
            serve_now() - t0, s->model_name, s->cfg->num_layers, s->cfg->vocab_size, be->name,
            s->engine_cfg.max_model_len, s->engine_cfg.max_num_seqs,
            s->engine_cfg.num_kv_blocks * BK_KV_BLOCK);
    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) reload_auth(auth, a.auth_key_store);
    drain(s, &sigs, sig, a.shutdown_timeout_s, auth, a.auth_key_store);
    rc = 0;
out:
    if (rc) fprintf(stderr, "berth serve: %s\n", err);
    /* The engine is shut down (its requests end) before the HTTP server stops, which waits for
     * every connection; it is freed only after, since a handler that passed its ready check just
     * before may still call into it (and then gets ENGINE_STOPPED, a 503). */
    atomic_store(&s->ready, false);
    engine_shutdown(s->eng);
    http_server_free(srv);
    serve_unload(s);
    if (be) be->ops->destroy(be);
    metrics_destroy(&s->metrics);
    free(s);
    auth_destroy(auth);
    return rc;
}
