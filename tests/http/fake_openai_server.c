/* A test server: berth_http + berth_api wired to a FAKE generator, so the HTTP and OpenAI layers can be
 * driven by real clients without a model. The generator is deterministic: it answers with the words of
 * the last user message (chat) or of the prompt (completions), one word per token and per chunk, after
 * --delay-ms each; it honours max_tokens, stop, n and reports usage (a word is a token).
 * GET /debug (this server only) reports how many cancel callbacks ran, for the disconnect tests.
 *
 * usage: fake_openai_server [--host H] [--port P] [--endpoint NAME]... [--max-body BYTES]
 *        [--keepalive-ms MS] [--delay-ms MS] [--tls-cert PEM --tls-key PEM] [--api-key KEY]
 *        [--max-model-len N] [--model NAME] [--max-active N] [--connection-limit N]
 *        [--idle-timeout S]
 * Prints "listening on PORT" once ready; SIGTERM or SIGINT stops it (exit 0). */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/api/api_error.h"
#include "server/api/api_request.h"
#include "server/api/api_response.h"
#include "server/http/http.h"

typedef struct {
    const char *model;
    unsigned delay_ms;
    int64_t max_model_len;
    const char *api_key;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int active;   /* producer threads running */
    int max_active; /* more running than this: 429 with Retry-After (0 = no limit) */
    int stopping; /* shutdown: producers stop at their next word */
    atomic_int cancelled, started, finished;
    char last_endpoint[64], last_component[64];
} fake;

/* One generation: every choice echoes the same word list (per prompt for completions). */
typedef struct {
    fake *f;
    http_stream *out;
    int chat, streaming, include_usage, continuous;
    char id[64];
    int64_t created;
    char **words;
    size_t n_words;
    size_t n_choices;
    int64_t max_tokens;
    char **stop;
    size_t n_stop;
    int include_stop;
    char *echo_prefix; /* completions with echo: the prompt text */
    int64_t prompt_tokens;
    atomic_int cancelled;
} job;

static void respond_api_error(http_request *req, const api_error *e)
{
    http_response_error h;
    http_error_set(&h, e->status, e->type, e->param[0] ? e->param : NULL, e->code[0] ? e->code : NULL,
                   "%s", e->message);
    h.retry_after = e->retry_after;
    http_respond_error(req, &h);
}

static size_t split_words(const char *text, char ***out)
{
    size_t n = 0, cap = 8;
    char **w = malloc(cap * sizeof *w);
    char *copy = strdup(text ? text : ""), *save = NULL;
    for (char *t = strtok_r(copy, " \t\n\r", &save); t; t = strtok_r(NULL, " \t\n\r", &save)) {
        if (n == cap) w = realloc(w, (cap *= 2) * sizeof *w);
        w[n++] = strdup(t);
    }
    free(copy);
    *out = w;
    return n;
}

static void job_free(job *j)
{
    for (size_t i = 0; i < j->n_words; i++) free(j->words[i]);
    free(j->words);
    for (size_t i = 0; i < j->n_stop; i++) free(j->stop[i]);
    free(j->stop);
    free(j->echo_prefix);
    free(j);
}

static void on_cancel(void *ctx)
{
    job *j = ctx;
    atomic_store(&j->cancelled, 1);
    atomic_fetch_add(&j->f->cancelled, 1);
}

static int push_json(job *j, char *json)
{
    char *ev = json ? api_sse_data(json) : NULL;
    int rc = ev ? http_stream_push(j->out, ev, strlen(ev)) : -1;
    free(ev);
    free(json);
    return rc;
}

static int should_stop(job *j)
{
    pthread_mutex_lock(&j->f->mu);
    int s = j->f->stopping;
    pthread_mutex_unlock(&j->f->mu);
    return s || atomic_load(&j->cancelled);
}

static void emit_piece(job *j, const char *piece, const char *finish, int first, api_usage *u)
{
    const api_usage *cu = j->continuous ? u : NULL;
    if (j->chat) {
        api_chat_delta d[API_MAX_N];
        for (size_t c = 0; c < j->n_choices; c++)
            d[c] = (api_chat_delta){.index = (int)c, .with_role = first, .content = piece,
                                    .finish_reason = finish};
        push_json(j, api_chat_chunk_json(j->id, j->created, j->f->model, d, j->n_choices, cu,
                                         j->include_usage));
    } else {
        api_completion_choice *d = calloc(j->n_choices, sizeof *d);
        for (size_t c = 0; c < j->n_choices; c++)
            d[c] = (api_completion_choice){.index = (int)c, .text = piece ? piece : "", .finish_reason = finish};
        push_json(j, api_completion_chunk_json(j->id, j->created, j->f->model, d, j->n_choices, cu,
                                               j->include_usage));
        free(d);
    }
}

static void *produce(void *arg)
{
    job *j = arg;
    size_t cap = 64, len = 0;
    char *text = calloc(1, cap);
    const char *finish = "stop";
    int64_t generated = 0;
    api_usage u = {.prompt_tokens = j->prompt_tokens};
    if (j->streaming && j->chat) emit_piece(j, "", NULL, 1, &u);
    for (size_t i = 0; i < j->n_words; i++) {
        if (generated == j->max_tokens) {
            finish = "length";
            break;
        }
        usleep(j->f->delay_ms * 1000);
        if (should_stop(j)) break;
        char piece[512];
        snprintf(piece, sizeof piece, "%s%s", len ? " " : "", j->words[i]);
        int stopped = 0;
        for (size_t s = 0; s < j->n_stop && !stopped; s++) {
            char *at = strstr(piece, j->stop[s]);
            if (at) {
                at[j->include_stop ? strlen(j->stop[s]) : 0] = 0;
                stopped = 1;
            }
        }
        generated++;
        u.completion_tokens = generated * (int64_t)j->n_choices;
        if (len + strlen(piece) + 1 > cap) text = realloc(text, cap = (len + strlen(piece) + 1) * 2);
        memcpy(text + len, piece, strlen(piece) + 1);
        len += strlen(piece);
        if (j->streaming && piece[0]) emit_piece(j, piece, NULL, 0, &u);
        if (stopped) break;
    }
    u.completion_tokens = generated * (int64_t)j->n_choices;
    int cancelled = atomic_load(&j->cancelled); /* the client is gone: nothing to send */
    if (!cancelled && should_stop(j)) {
        if (!j->streaming) {
            http_response_error e;
            http_error_set(&e, 503, "server_error", NULL, NULL, "the server is shutting down");
            http_stream_complete_error(j->out, &e);
            j->out = NULL;
        }
    } else if (!cancelled) {
        if (j->streaming) {
            emit_piece(j, j->chat ? NULL : "", finish, 0, &u);
            if (j->include_usage) {
                push_json(j, j->chat ? api_chat_usage_chunk_json(j->id, j->created, j->f->model, &u)
                                     : api_completion_usage_chunk_json(j->id, j->created, j->f->model, &u));
            }
            http_stream_push(j->out, API_SSE_DONE, strlen(API_SSE_DONE));
        } else {
            char *json;
            if (j->chat) {
                api_chat_choice ch[API_MAX_N];
                for (size_t c = 0; c < j->n_choices; c++)
                    ch[c] = (api_chat_choice){.index = (int)c, .content = text, .finish_reason = finish};
                json = api_chat_completion_json(j->id, j->created, j->f->model, ch, j->n_choices, &u);
            } else {
                size_t plen = j->echo_prefix ? strlen(j->echo_prefix) : 0;
                char *full = malloc(plen + len + 1);
                memcpy(full, j->echo_prefix ? j->echo_prefix : "", plen);
                memcpy(full + plen, text, len + 1);
                api_completion_choice *ch = calloc(j->n_choices, sizeof *ch);
                for (size_t c = 0; c < j->n_choices; c++)
                    ch[c] = (api_completion_choice){.index = (int)c, .text = full, .finish_reason = finish};
                json = api_text_completion_json(j->id, j->created, j->f->model, ch, j->n_choices, &u);
                free(ch);
                free(full);
            }
            http_stream_complete(j->out, 200, "application/json", json, strlen(json));
            free(json);
            j->out = NULL;
        }
    }
    if (j->out) http_stream_close(j->out);
    free(text);
    fake *f = j->f;
    job_free(j);
    atomic_fetch_add(&f->finished, 1);
    pthread_mutex_lock(&f->mu);
    f->active--;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* Takes over j: starts its producer and answers the request through it (or 429 when full). */
static void start_job(fake *f, http_request *req, job *j)
{
    pthread_mutex_lock(&f->mu);
    int full = f->max_active && f->active >= f->max_active;
    pthread_mutex_unlock(&f->mu);
    if (full) {
        api_error e;
        api_error_overloaded(&e, 2);
        respond_api_error(req, &e);
        job_free(j);
        return;
    }
    j->f = f;
    j->created = (int64_t)time(NULL);
    api_make_id(j->id, sizeof j->id, j->chat ? "chatcmpl-" : "cmpl-");
    j->out = j->streaming ? http_respond_stream(req, on_cancel, j) : http_respond_deferred(req, on_cancel, j);
    pthread_mutex_lock(&f->mu);
    f->active++;
    pthread_mutex_unlock(&f->mu);
    atomic_fetch_add(&f->started, 1);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &attr, produce, j);
    pthread_attr_destroy(&attr);
}

static void note_endpoint(fake *f, http_request *req)
{
    pthread_mutex_lock(&f->mu);
    const char *e = http_request_endpoint(req), *c = http_request_component(req);
    snprintf(f->last_endpoint, sizeof f->last_endpoint, "%s", e ? e : "");
    snprintf(f->last_component, sizeof f->last_component, "%s", c ? c : "");
    pthread_mutex_unlock(&f->mu);
}

static void copy_sampling(job *j, const api_sampling *s, int64_t prompt_tokens, int64_t max_model_len)
{
    j->max_tokens = s->max_tokens >= 0 ? s->max_tokens : max_model_len - prompt_tokens;
    j->prompt_tokens = prompt_tokens;
    j->stop = calloc(s->n_stop + 1, sizeof *j->stop);
    for (size_t i = 0; i < s->n_stop; i++) j->stop[i] = strdup(s->stop[i]);
    j->n_stop = s->n_stop;
    j->include_stop = s->include_stop_str_in_output;
}

static void handle_chat(fake *f, http_request *req)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    api_chat_request r;
    api_error e;
    note_endpoint(f, req);
    if (api_parse_chat_request(body, len, &r, &e)) {
        respond_api_error(req, &e);
        return;
    }
    int64_t prompt_tokens = 0;
    const char *last_user = NULL;
    for (size_t i = 0; i < r.n_messages; i++) {
        char **w;
        size_t n = split_words(r.messages[i].content, &w);
        for (size_t k = 0; k < n; k++) free(w[k]);
        free(w);
        prompt_tokens += (int64_t)n;
        if (r.messages[i].role == API_ROLE_USER) last_user = r.messages[i].content;
    }
    if (api_check_context(prompt_tokens, r.sampling.max_tokens, f->max_model_len, "messages", &e)) {
        api_chat_request_free(&r);
        respond_api_error(req, &e);
        return;
    }
    job *j = calloc(1, sizeof *j);
    j->chat = 1;
    j->streaming = r.stream.stream;
    j->include_usage = r.stream.include_usage || r.stream.continuous_usage_stats;
    j->continuous = r.stream.continuous_usage_stats;
    j->n_choices = (size_t)r.sampling.n;
    j->n_words = split_words(last_user, &j->words);
    copy_sampling(j, &r.sampling, prompt_tokens, f->max_model_len);
    api_chat_request_free(&r);
    start_job(f, req, j);
}

static void handle_completion(fake *f, http_request *req)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    api_completion_request r;
    api_error e;
    note_endpoint(f, req);
    if (api_parse_completion_request(body, len, &r, &e)) {
        respond_api_error(req, &e);
        return;
    }
    if (r.n_prompts != 1) {
        api_error_set(&e, 400, NULL, "prompt", "invalid_value",
                      "the fake server takes one prompt per request, got %zu", r.n_prompts);
        api_completion_request_free(&r);
        respond_api_error(req, &e);
        return;
    }
    job *j = calloc(1, sizeof *j);
    const api_prompt *p = &r.prompts[0];
    if (p->text) {
        j->n_words = split_words(p->text, &j->words);
        if (r.echo) j->echo_prefix = strdup(p->text);
    } else {
        j->words = calloc(p->n_ids + 1, sizeof *j->words);
        for (size_t i = 0; i < p->n_ids; i++) {
            char w[24];
            snprintf(w, sizeof w, "t%d", p->ids[i]);
            j->words[j->n_words++] = strdup(w);
        }
    }
    int64_t prompt_tokens = (int64_t)j->n_words;
    if (api_check_context(prompt_tokens, r.sampling.max_tokens, f->max_model_len, "prompt", &e)) {
        job_free(j);
        api_completion_request_free(&r);
        respond_api_error(req, &e);
        return;
    }
    j->streaming = r.stream.stream;
    j->include_usage = r.stream.include_usage || r.stream.continuous_usage_stats;
    j->continuous = r.stream.continuous_usage_stats;
    j->n_choices = (size_t)r.sampling.n;
    copy_sampling(j, &r.sampling, prompt_tokens, f->max_model_len);
    api_completion_request_free(&r);
    start_job(f, req, j);
}

static void on_chat(void *ctx, http_request *req) { handle_chat(ctx, req); }
static void on_completion(void *ctx, http_request *req) { handle_completion(ctx, req); }

static void on_invocations(void *ctx, http_request *req)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    api_error e;
    switch (api_detect_kind(body, len, &e)) {
    case API_KIND_CHAT: handle_chat(ctx, req); break;
    case API_KIND_COMPLETION: handle_completion(ctx, req); break;
    default: respond_api_error(req, &e);
    }
}

static void on_ping(void *ctx, http_request *req) { http_respond_json(req, 200, "{}"); }

static void on_models(void *ctx, http_request *req)
{
    fake *f = ctx;
    char *json = api_models_json(&f->model, 1, 1700000000, "berth");
    http_respond_json(req, 200, json);
    free(json);
}

static void on_debug(void *ctx, http_request *req)
{
    fake *f = ctx;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "cancelled", atomic_load(&f->cancelled));
    cJSON_AddNumberToObject(o, "started", atomic_load(&f->started));
    cJSON_AddNumberToObject(o, "finished", atomic_load(&f->finished));
    pthread_mutex_lock(&f->mu);
    cJSON_AddNumberToObject(o, "active", f->active);
    cJSON_AddStringToObject(o, "last_endpoint", f->last_endpoint);
    cJSON_AddStringToObject(o, "last_component", f->last_component);
    pthread_mutex_unlock(&f->mu);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    http_respond_json(req, 200, json);
    free(json);
}

static int authorize(void *ctx, const http_request *req, http_response_error *out)
{
    fake *f = ctx;
    const char *h = http_request_header(req, "Authorization");
    if (h && !strncmp(h, "Bearer ", 7) && !strcmp(h + 7, f->api_key)) return 0;
    http_error_set(out, 401, "authentication_error", NULL, "invalid_api_key",
                   h ? "the API key is not valid" : "missing Authorization: Bearer header");
    return -1;
}

int main(int argc, char **argv)
{
    static fake f = {.model = "fake-model", .max_model_len = 4096};
    http_config cfg = {.port = 0};
    const char *endpoints[16];
    size_t n_endpoints = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "fake_openai_server: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--host")) cfg.host = v;
        else if (!strcmp(a, "--port")) cfg.port = atoi(v);
        else if (!strcmp(a, "--endpoint") && n_endpoints < 16) endpoints[n_endpoints++] = v;
        else if (!strcmp(a, "--max-body")) cfg.max_body_bytes = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--keepalive-ms")) cfg.keepalive_ms = (unsigned)atoi(v);
        else if (!strcmp(a, "--delay-ms")) f.delay_ms = (unsigned)atoi(v);
        else if (!strcmp(a, "--tls-cert")) cfg.tls_cert_path = v;
        else if (!strcmp(a, "--tls-key")) cfg.tls_key_path = v;
        else if (!strcmp(a, "--tls-priorities")) cfg.tls_priorities = v;
        else if (!strcmp(a, "--api-key")) f.api_key = v;
        else if (!strcmp(a, "--max-model-len")) f.max_model_len = atoll(v);
        else if (!strcmp(a, "--model")) f.model = v;
        else if (!strcmp(a, "--max-active")) f.max_active = atoi(v);
        else if (!strcmp(a, "--connection-limit")) cfg.connection_limit = (unsigned)atoi(v);
        else if (!strcmp(a, "--idle-timeout")) cfg.idle_timeout_s = (unsigned)atoi(v);
        else if (!strcmp(a, "--header-timeout")) cfg.header_timeout_s = (unsigned)atoi(v);
        else if (!strcmp(a, "--min-body-rate")) cfg.min_body_rate = (unsigned)atoi(v);
        else if (!strcmp(a, "--connection-limit-per-ip"))
            cfg.connection_limit_per_ip = (unsigned)atoi(v);
        else {
            fprintf(stderr, "fake_openai_server: unknown option %s\n", a);
            return 2;
        }
    }
    cfg.endpoints = endpoints;
    cfg.n_endpoints = n_endpoints;
    if (f.api_key) {
        cfg.authorize = authorize;
        cfg.authorize_ctx = &f;
    }
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, NULL);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    char err[512];
    http_server *s = http_server_new(&cfg, err, sizeof err);
    struct {
        int method;
        const char *path;
        int flags;
        http_handler_fn fn;
    } routes[] = {
        /* /ping inline on the I/O thread as berth serve's, /health on a worker: the tests that
         * probe both under load cover both paths. */
        {HTTP_GET, "/ping", HTTP_ROUTE_ROOT | HTTP_ROUTE_NO_AUTH | HTTP_ROUTE_INLINE, on_ping},
        {HTTP_GET, "/health", HTTP_ROUTE_ROOT | HTTP_ROUTE_NO_AUTH, on_ping},
        {HTTP_GET, "/debug", HTTP_ROUTE_ROOT | HTTP_ROUTE_NO_AUTH, on_debug},
        {HTTP_POST, "/invocations", HTTP_ROUTE_ROOT, on_invocations},
        {HTTP_GET, "/models", HTTP_ROUTE_OPENAI, on_models},
        {HTTP_POST, "/chat/completions", HTTP_ROUTE_OPENAI, on_chat},
        {HTTP_POST, "/completions", HTTP_ROUTE_OPENAI, on_completion},
    };
    for (size_t i = 0; s && i < sizeof routes / sizeof routes[0]; i++)
        if (http_server_route(s, routes[i].method, routes[i].path, routes[i].flags, routes[i].fn, &f, err,
                              sizeof err)) {
            http_server_free(s);
            s = NULL;
        }
    if (!s || http_server_start(s, err, sizeof err)) {
        fprintf(stderr, "fake_openai_server: %s\n", err);
        http_server_free(s);
        return 1;
    }
    printf("listening on %d\n", http_server_port(s));
    fflush(stdout);
    int sig;
    /* SIGHUP re-reads the TLS pair, as berth serve does; the line tells the tests it happened. */
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) {
        int rc = http_server_reload_tls(s, err, sizeof err);
        fprintf(stderr, rc == 0 ? "tls reloaded\n" : "tls not reloaded: %s\n", rc < 0 ? err : "no TLS");
    }
    pthread_mutex_lock(&f.mu);
    f.stopping = 1;
    while (f.active) pthread_cond_wait(&f.cv, &f.mu);
    pthread_mutex_unlock(&f.mu);
    http_server_free(s);
    pthread_mutex_destroy(&f.mu);
    pthread_cond_destroy(&f.cv);
    return 0;
}
