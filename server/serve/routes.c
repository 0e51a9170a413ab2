/* Which handler answers which path. Generation routes parse and validate, then hand over to
 * generation.c; the rest (health, models, metrics, tokenize, ...) answer here. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/api_response.h"
#include "server/serve/chat_prompt.h"
#include "server/serve/generation.h"
#include "server/serve/serve.h"

static bool require_ready(serve_ctx *s, http_request *r)
{
    if (atomic_load(&s->ready)) return true;
    api_error e;
    api_error_set(&e, 503, NULL, NULL, NULL, "the model is still loading");
    serve_respond_error(s, r, &e);
    return false;
}

static void respond_json(serve_ctx *s, http_request *r, int status, char *json)
{
    if (!json) {
        api_error e;
        api_error_set(&e, 500, NULL, NULL, NULL, "out of memory");
        serve_respond_error(s, r, &e);
        return;
    }
    metrics_count_request(&s->metrics, status);
    http_respond_json(r, status, json);
    free(json);
}

static void handle_chat(void *ctx, http_request *r)
{
    serve_ctx *s = ctx;
    if (!require_ready(s, r)) return;
    size_t len;
    const char *body = http_request_body(r, &len);
    api_chat_request req;
    api_error e;
    if (api_parse_chat_request(body, len, &req, &e)) {
        serve_respond_error(s, r, &e);
        return;
    }
    gen_chat(s, r, &req);
}

static void handle_completion(void *ctx, http_request *r)
{
    serve_ctx *s = ctx;
    if (!require_ready(s, r)) return;
    size_t len;
    const char *body = http_request_body(r, &len);
    api_completion_request req;
    api_error e;
    if (api_parse_completion_request(body, len, &req, &e)) {
        serve_respond_error(s, r, &e);
        return;
    }
    gen_completion(s, r, &req);
}

/* SageMaker's /invocations: a chat body has "messages", a completion body "prompt". */
static void handle_invocations(void *ctx, http_request *r)
{
    serve_ctx *s = ctx;
    if (!require_ready(s, r)) return;
    size_t len;
    const char *body = http_request_body(r, &len);
    api_error e;
    switch (api_detect_kind(body, len, &e)) {
    case API_KIND_CHAT:
        handle_chat(ctx, r);
        return;
    case API_KIND_COMPLETION:
        handle_completion(ctx, r);
        return;
    default:
        serve_respond_error(s, r, &e);
    }
}

static void handle_models(void *ctx, http_request *r)
{
    serve_ctx *s = ctx;
    const char *ids[1] = {s->model_name};
    respond_json(s, r, 200, api_models_json(ids, 1, s->created, "berth"));
}

static void handle_health(void *ctx, http_request *r)
{
    serve_ctx *s = ctx;
    if (!require_ready(s, r)) return;
    metrics_count_request(&s->metrics, 200);
    http_respond(r, 200, "application/json", "{}", 2);
}

static void handle_version(void *ctx, http_request *r)
{
    serve_ctx *s = ctx;
    char json[128];
    snprintf(json, sizeof json, "{\"version\": \"%s\"}", BERTH_VERSION);
    respond_json(s, r, 200, strdup(json));
}

static void handle_metrics(void *ctx, http_request *r)
{
    serve_ctx *s = ctx;
    engine_stats st = {0};
    /* The engine exists only while ready; before and after, the gauges read 0. */
    if (atomic_load(&s->ready)) engine_get_stats(s->eng, &st);
    char *text = metrics_render(&s->metrics, &st, s->model_name);
    if (!text) {
        api_error e;
        api_error_set(&e, 500, NULL, NULL, NULL, "out of memory");
        serve_respond_error(s, r, &e);
        return;
    }
    metrics_count_request(&s->metrics, 200);
    http_respond(r, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
}

/* POST /reset_prefix_cache, as vLLM: forgets every cached block (held ones stay with their
 * sequences); answers once the engine has done it. */
static void handle_reset_prefix_cache(void *ctx, http_request *r)
{
    serve_ctx *s = ctx;
    if (!require_ready(s, r)) return;
    engine_reset_prefix_cache(s->eng);
    respond_json(s, r, 200, strdup("{}"));
}

/* POST /tokenize: {"prompt": "..."} or {"messages": [...]} (templated first), as vLLM. */
static void handle_tokenize(void *ctx, http_request *r)
{
    serve_ctx *s = ctx;
    if (!require_ready(s, r)) return;
    size_t len;
    const char *body = http_request_body(r, &len);
    api_error e;
    char *text = NULL;
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (cJSON_IsString(prompt)) {
        text = strdup(prompt->valuestring);
        if (!text) {
            cJSON_Delete(root);
            api_error_set(&e, 500, NULL, NULL, NULL, "out of memory");
            serve_respond_error(s, r, &e);
            return;
        }
    } else if (cJSON_GetObjectItemCaseSensitive(root, "messages")) {
        api_chat_request req;
        if (api_parse_chat_request(body, len, &req, &e) == 0) {
            int rc = chat_prompt_render(s, &req, &text, &e);
            api_chat_request_free(&req);
            if (rc) text = NULL;
        }
        if (!text) {
            cJSON_Delete(root);
            serve_respond_error(s, r, &e);
            return;
        }
    } else {
        cJSON_Delete(root);
        api_error_set(&e, 400, NULL, "prompt", NULL, "expected {\"prompt\": string} or {\"messages\": [...]}");
        serve_respond_error(s, r, &e);
        return;
    }
    cJSON_Delete(root);
    int32_t *ids = NULL;
    size_t n = 0;
    char err[256];
    if (tok_encode(s->tok, text, strlen(text), &ids, &n, err, sizeof err)) {
        free(text);
        api_error_set(&e, 400, NULL, "prompt", NULL, "tokenizer: %s", err);
        serve_respond_error(s, r, &e);
        return;
    }
    free(text);
    cJSON *out = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(out, "tokens");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
    cJSON_AddNumberToObject(out, "count", (double)n);
    cJSON_AddNumberToObject(out, "max_model_len", s->engine_cfg.max_model_len);
    free(ids);
    respond_json(s, r, 200, cJSON_PrintUnformatted(out));
    cJSON_Delete(out);
}

/* POST /detokenize: {"tokens": [ids]} -> {"prompt": text}. */
static void handle_detokenize(void *ctx, http_request *r)
{
    serve_ctx *s = ctx;
    if (!require_ready(s, r)) return;
    size_t len;
    const char *body = http_request_body(r, &len);
    api_error e;
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    int n = cJSON_GetArraySize(tokens);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    bool ok = cJSON_IsArray(tokens) && ids;
    for (int i = 0; ok && i < n; i++) {
        const cJSON *t = cJSON_GetArrayItem(tokens, i);
        ok = cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble < s->cfg->vocab_size &&
             t->valuedouble == (double)(int32_t)t->valuedouble;
        if (ok) ids[i] = (int32_t)t->valuedouble;
    }
    cJSON_Delete(root);
    if (!ok) {
        free(ids);
        api_error_set(&e, 400, NULL, "tokens", NULL,
                      "tokens must be an array of token ids in [0, %d)", s->cfg->vocab_size);
        serve_respond_error(s, r, &e);
        return;
    }
    char *text = NULL, err[256];
    size_t tl;
    int rc = tok_decode(s->tok, ids, (size_t)n, false, &text, &tl, err, sizeof err);
    free(ids);
    if (rc) {
        api_error_set(&e, 400, NULL, "tokens", NULL, "%s", err);
        serve_respond_error(s, r, &e);
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "prompt", text);
    free(text);
    respond_json(s, r, 200, cJSON_PrintUnformatted(out));
    cJSON_Delete(out);
}

int serve_register_routes(serve_ctx *s, http_server *srv, char *err, size_t errlen)
{
    const struct {
        int method;
        const char *path;
        int flags;
        http_handler_fn fn;
    } routes[] = {
        /* HTTP_ROUTE_INLINE: answered on the HTTP I/O thread, so each must stay quick and never
         * block: an atomic, a few bytes of JSON and the metrics counter's short mutex. /metrics
         * takes the engine's lock and the rest tokenize or wait for the engine: they stay on
         * workers. */
        {HTTP_POST, "/chat/completions", HTTP_ROUTE_OPENAI, handle_chat},
        {HTTP_POST, "/completions", HTTP_ROUTE_OPENAI, handle_completion},
        {HTTP_GET, "/models", HTTP_ROUTE_OPENAI | HTTP_ROUTE_INLINE, handle_models},
        {HTTP_POST, "/invocations", HTTP_ROUTE_ROOT, handle_invocations},
        {HTTP_GET, "/health", HTTP_ROUTE_ROOT | HTTP_ROUTE_NO_AUTH | HTTP_ROUTE_INLINE,
         handle_health},
        {HTTP_GET, "/ping", HTTP_ROUTE_ROOT | HTTP_ROUTE_NO_AUTH | HTTP_ROUTE_INLINE,
         handle_health},
        {HTTP_GET, "/version", HTTP_ROUTE_ROOT | HTTP_ROUTE_INLINE, handle_version},
        {HTTP_GET, "/metrics", HTTP_ROUTE_ROOT, handle_metrics},
        {HTTP_POST, "/tokenize", HTTP_ROUTE_ROOT, handle_tokenize},
        {HTTP_POST, "/reset_prefix_cache", HTTP_ROUTE_ROOT, handle_reset_prefix_cache},
        {HTTP_POST, "/detokenize", HTTP_ROUTE_ROOT, handle_detokenize},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_server_route(srv, routes[i].method, routes[i].path, routes[i].flags, routes[i].fn, s,
                              err, errlen))
            return -1;
    return 0;
}
