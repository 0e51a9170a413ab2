#include "server/serve/generation.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/api/api_response.h"
#include "server/serve/chat_prompt.h"
#include "server/serve/constraint.h"
#include "server/serve/gen_job.h"
#include "server/serve/output_parser.h"
#include "server/serve/text_output.h"

/* The api layer's error as the http layer's (the same envelope fields; http knows no api types). */
static http_response_error to_http_error(const api_error *e)
{
    http_response_error he;
    memset(&he, 0, sizeof he);
    he.status = e->status;
    he.retry_after = e->retry_after;
    snprintf(he.type, sizeof he.type, "%s", e->type);
    snprintf(he.param, sizeof he.param, "%s", e->param);
    snprintf(he.code, sizeof he.code, "%s", e->code);
    snprintf(he.message, sizeof he.message, "%s", e->message);
    return he;
}

void serve_respond_error(serve_ctx *s, http_request *hr, const api_error *e)
{
    http_response_error he = to_http_error(e);
    metrics_count_request(&s->metrics, e->status);
    http_respond_error(hr, &he);
}

/* ---- sampling parameters: request, then generation_config.json, then OpenAI's defaults ---- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t fresh_seed(void)
{
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return splitmix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ atomic_fetch_add(&counter, 1));
}

#define GEN_MAX_STOP_IDS 256 /* stop_token_ids plus the model's end-of-sequence ids */
#define GEN_MAX_BIAS 512

typedef struct resolved_params {
    engine_request_params ep;
    int32_t stop_ids[GEN_MAX_STOP_IDS];
    int32_t bias_ids[GEN_MAX_BIAS];
    float bias_values[GEN_MAX_BIAS];
} resolved_params;

/* Token ids the request names must be in the vocabulary, and the lists must fit resolved_params:
 * a 400 naming the field, never an entry silently dropped. */
static int check_token_params(const serve_ctx *s, const api_sampling *a, api_error *e)
{
    const int32_t vocab = s->cfg->vocab_size;
    if (a->n_logit_bias > GEN_MAX_BIAS) {
        api_error_set(e, 400, NULL, "logit_bias", NULL,
                      "'logit_bias' has %zu entries; at most %d are accepted", a->n_logit_bias,
                      GEN_MAX_BIAS);
        return -1;
    }
    for (size_t i = 0; i < a->n_logit_bias; i++) {
        if (a->logit_bias[i].token >= vocab) {
            api_error_set(e, 400, NULL, "logit_bias", NULL,
                          "'logit_bias' token id %d is outside the vocabulary (size %d)",
                          a->logit_bias[i].token, vocab);
            return -1;
        }
    }
    if (a->n_stop_token_ids + (size_t)s->num_eos > GEN_MAX_STOP_IDS) {
        api_error_set(e, 400, NULL, "stop_token_ids", NULL,
                      "'stop_token_ids' has %zu entries; at most %d are accepted",
                      a->n_stop_token_ids, GEN_MAX_STOP_IDS - s->num_eos);
        return -1;
    }
    for (size_t i = 0; i < a->n_stop_token_ids; i++) {
        if (a->stop_token_ids[i] >= vocab) {
            api_error_set(e, 400, NULL, "stop_token_ids", NULL,
                          "'stop_token_ids' token id %d is outside the vocabulary (size %d)",
                          a->stop_token_ids[i], vocab);
            return -1;
        }
    }
    return 0;
}

static void resolve_params(const serve_ctx *s, const api_sampling *a, int32_t prompt_len,
                           resolved_params *rp)
{
    const generation_config *g = s->gen;
    sampling_params *sp = &rp->ep.sampling;
    memset(rp, 0, sizeof *rp);
    sp->temperature = (float)(a->has_temperature ? a->temperature : g->has_temperature ? g->temperature : 1.0);
    sp->top_p = (float)(a->has_top_p ? a->top_p : g->has_top_p ? g->top_p : 1.0);
    sp->top_k = a->has_top_k ? a->top_k : g->has_top_k ? g->top_k : 0;
    sp->min_p = (float)(a->has_min_p ? a->min_p : g->has_min_p ? g->min_p : 0.0);
    sp->repetition_penalty = (float)(a->has_repetition_penalty ? a->repetition_penalty
                                     : g->has_repetition_penalty ? g->repetition_penalty : 1.0);
    sp->presence_penalty = (float)(a->has_presence_penalty ? a->presence_penalty : 0);
    sp->frequency_penalty = (float)(a->has_frequency_penalty ? a->frequency_penalty : 0);
    sp->seed = a->has_seed ? (uint64_t)a->seed : fresh_seed();
    sp->logprobs = a->logprobs ? a->top_logprobs : -1;
    size_t nb = a->n_logit_bias; /* check_token_params bounds it */
    for (size_t i = 0; i < nb; i++) {
        rp->bias_ids[i] = a->logit_bias[i].token;
        rp->bias_values[i] = a->logit_bias[i].bias;
    }
    sp->bias_ids = rp->bias_ids;
    sp->bias_values = rp->bias_values;
    sp->num_bias = (int32_t)nb;
    int32_t n = 0;
    for (size_t i = 0; i < a->n_stop_token_ids && n < GEN_MAX_STOP_IDS; i++)
        rp->stop_ids[n++] = a->stop_token_ids[i];
    if (!a->ignore_eos)
        for (int i = 0; i < s->num_eos && n < GEN_MAX_STOP_IDS; i++) rp->stop_ids[n++] = s->eos_ids[i];
    rp->ep.stop_token_ids = rp->stop_ids;
    rp->ep.num_stop_token_ids = n;
    int64_t room = (int64_t)s->engine_cfg.max_model_len - prompt_len;
    /* max_tokens 0 (echo): one token generated and dropped, as vLLM does. */
    rp->ep.max_tokens = (int32_t)(a->max_tokens > 0    ? a->max_tokens
                                  : a->max_tokens == 0 ? 1
                                                       : room);
    rp->ep.min_tokens = (int32_t)a->min_tokens;
}

/* Ends a job that cannot answer normally with e: streamed, an error event after the chunks already
 * sent (the status line went out with the first one); not streamed, the envelope. */
static void end_with_error(gen_job *j, const api_error *e)
{
    if (j->streaming) {
        char *json = api_error_json(e);
        gen_job_push_sse(j, json);
        free(json);
        http_stream_close(j->stream);
    } else {
        http_response_error he = to_http_error(e);
        http_stream_complete_error(j->stream, &he);
    }
    metrics_count_request(&j->s->metrics, e->status);
}

static void *produce(void *arg)
{
    gen_job *j = arg;
    serve_ctx *s = j->s;
    size_t active = j->n_choices;
    int wait_ms = j->n_choices == 1 ? 200 : 2;
    bool timed_out = false;
    while (active > 0 && !atomic_load(&j->client_gone) && !j->failed) {
        if (s->opts.request_timeout_s > 0 && serve_now() - j->t_start > s->opts.request_timeout_s) {
            timed_out = true;
            break;
        }
        for (size_t i = 0; i < j->n_choices; i++) {
            gen_choice *c = &j->choices[i];
            if (c->done) continue;
            engine_event ev;
            int rc = engine_next(c->req, &ev, wait_ms);
            if (rc == 1) gen_job_on_event(j, c, &ev);
            else if (rc < 0) gen_job_finish_choice(j, c, "stop"); /* ended without a finish event (shutdown) */
            if (c->done) active--;
        }
    }
    for (size_t i = 0; i < j->n_choices; i++)
        if (!j->choices[i].done) engine_cancel(j->choices[i].req);
    bool gone = atomic_load(&j->client_gone);
    const gen_choice *broken = NULL; /* a choice whose constraint failed: its output is not valid */
    for (size_t i = 0; i < j->n_choices && !broken; i++)
        if (j->choices[i].error && (!j->failed || j->choices[i].out_of_memory))
            broken = &j->choices[i];
    if (broken && broken->out_of_memory && !gone) {
        api_error e;
        api_error_set(&e, 500, "server_error", NULL, "out_of_memory",
                      "choice %d: out of memory while generating; the request was stopped and its "
                      "sequences freed",
                      broken->index);
        end_with_error(j, &e); /* streamed: after the choice's last chunk (finish_reason abort) */
    } else if (broken && !timed_out && !gone) {
        api_error e;
        api_error_set(&e, 500, "server_error", NULL, "constraint_failed",
                      "choice %d: %s; its output so far does not complete the constraint",
                      broken->index, broken->error);
        end_with_error(j, &e); /* streamed: after the choice's last chunk (finish_reason abort) */
    } else if (timed_out && !gone) {
        api_error e;
        api_error_set(&e, 408, "timeout_error", NULL, "request_timeout",
                      "the request did not finish within %.0f s (--request-timeout)",
                      s->opts.request_timeout_s);
        end_with_error(j, &e);
    } else if (j->streaming) {
        if (!gone && j->include_usage) {
            api_usage u = gen_job_usage(j);
            char *json = j->chat ? api_chat_usage_chunk_json(j->id, j->created, s->model_name, &u)
                                 : api_completion_usage_chunk_json(j->id, j->created, s->model_name, &u);
            gen_job_push_sse(j, json);
            free(json);
        }
        if (!gone) http_stream_push(j->stream, API_SSE_DONE, strlen(API_SSE_DONE));
        http_stream_close(j->stream);
        metrics_count_request(&s->metrics, gone ? 499 : 200);
    } else if (gone) {
        http_stream_close(j->stream);
        metrics_count_request(&s->metrics, 499);
    } else {
        metrics_count_request(&s->metrics, gen_job_respond(j));
    }
    metrics_observe_e2e(&s->metrics, serve_now() - j->t_start);
    gen_job_free(j);
    return NULL;
}

static void on_client_gone(void *ctx)
{
    gen_job *j = ctx;
    atomic_store(&j->client_gone, true);
}

/* ---- submission ---- */

/* The param a request's sequence count is blamed on: n when it asks for several choices. */
static const char *seqs_param(const gen_job *j)
{
    return j->n_choices > j->n_prompts ? "n" : j->chat ? "messages" : "prompt";
}

/* Every choice goes to the engine as one group: all queued or none, admitted round-robin with the
 * other requests' sequences. */
static int submit_group(gen_job *j, const api_sampling *a, api_error *e)
{
    serve_ctx *s = j->s;
    size_t n = j->n_choices;
    resolved_params *rps = calloc(n, sizeof *rps);
    engine_request_params *eps = calloc(n, sizeof *eps);
    const int32_t **prompts = calloc(n, sizeof *prompts);
    int32_t *lens = calloc(n, sizeof *lens);
    engine_request **reqs = calloc(n, sizeof *reqs);
    int rc = -1;
    if (!rps || !eps || !prompts || !lens || !reqs) {
        api_error_set(e, 500, NULL, NULL, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        gen_choice *c = &j->choices[i];
        resolve_params(s, a, c->prompt_len, &rps[i]);
        /* Choice 0 uses the request's seed as given; the others derive theirs from it. */
        if (i % (size_t)a->n) rps[i].ep.sampling.seed = splitmix64(rps[i].ep.sampling.seed + i);
        rps[i].ep.scripted_tokens = j->scripted;
        rps[i].ep.num_scripted_tokens = j->n_scripted;
        /* Echo with logprobs shows the prompt's; prompt_logprobs (vLLM) may ask more top entries.
         */
        bool echoed = j->echo && a->logprobs;
        if (echoed || a->prompt_logprobs >= 0) {
            int32_t top = echoed ? a->top_logprobs : 0;
            rps[i].ep.prompt_logprobs = true;
            rps[i].ep.prompt_top_logprobs = a->prompt_logprobs > top ? a->prompt_logprobs : top;
        }
        sc_request_constraint(&j->constraint, &rps[i].ep.constraint);
        eps[i] = rps[i].ep;
        prompts[i] = c->prompt;
        lens[i] = c->prompt_len;
    }
    char err[512];
    engine_status st =
        engine_submit_group(s->eng, (int32_t)n, prompts, lens, eps, reqs, err, sizeof err);
    if (st != ENGINE_OK) {
        for (size_t i = 0; i < n; i++)
            if (eps[i].constraint.ops) eps[i].constraint.ops->release(eps[i].constraint.grammar);
        if (st == ENGINE_OVERLOADED) api_error_overloaded(e, s->opts.retry_after_s);
        else if (st == ENGINE_TOO_LONG)
            api_error_set(e, 400, NULL, j->chat ? "messages" : "prompt", "context_length_exceeded",
                          "%s", err);
        else if (st == ENGINE_TOO_MANY) api_error_set(e, 400, NULL, seqs_param(j), NULL, "%s", err);
        else if (st == ENGINE_STOPPED) api_error_set(e, 503, NULL, NULL, NULL, "%s", err);
        else api_error_set(e, 400, NULL, j->chat ? "messages" : "prompt", NULL, "%s", err);
        goto done;
    }
    for (size_t i = 0; i < n; i++) j->choices[i].req = reqs[i];
    rc = 0;
done:
    free(rps);
    free(eps);
    free(prompts);
    free(lens);
    free(reqs);
    return rc;
}

static int submit_choices(gen_job *j, const api_sampling *a, char *const *stops, size_t n_stops,
                          api_error *e)
{
    serve_ctx *s = j->s;
    if (submit_group(j, a, e)) return -1;
    for (size_t i = 0; i < j->n_choices; i++) {
        gen_choice *c = &j->choices[i];
        /* As vLLM's mistral parser asks: [TOOL_CALLS] and [ARGS] are special tokens, and the
         * parser must see them. */
        c->keep_special = j->chat && j->parse_tools && s->tool_format == OP_TOOLS_MISTRAL;
        if (text_output_init(&c->out, s->tok, a->skip_special_tokens && !c->keep_special, stops, n_stops,
                             a->include_stop_str_in_output)) {
            api_error_set(e, 500, NULL, NULL, NULL, "out of memory");
            return -1;
        }
        if (j->chat && (j->think != OP_THINK_OFF || j->parse_tools)) {
            op_init(&c->parse, j->think, j->parse_tools);
            op_set_tool_format(&c->parse, s->tool_format, j->chat_req.parallel_tool_calls ? 0 : 1);
            c->parsing = true;
        }
    }
    return 0;
}

/* Test only (--test-scripted-outputs): the next scripted output as this request's tokens, followed
 * by the end-of-sequence token, and one stderr line with the prompts the request rendered, so a
 * test can check what the server was sent. The HTTP handler's prompts are given as text (NULL:
 * token ids). */
static int take_scripted(gen_job *j, char *const *prompts, size_t n_prompts, api_error *e)
{
    serve_ctx *s = j->s;
    if (!s->opts.test_scripted_outputs) return 0;
    char err[512], *text = NULL;
    size_t line = 0, count = 0;
    int32_t *ids = NULL;
    if (scripted_outputs_next(&s->scripted, &text, &line, err, sizeof err) ||
        tok_encode(s->tok, text, strlen(text), &ids, &count, err, sizeof err)) {
        fprintf(stderr, "berth serve: %s\n", err);
        api_error_set(e, 500, NULL, NULL, NULL, "%s", err);
        free(text);
        return -1;
    }
    int32_t *grown = realloc(ids, sizeof *ids * (count + 1));
    if (!grown) {
        free(ids);
        free(text);
        api_error_set(e, 500, NULL, NULL, NULL, "out of memory");
        return -1;
    }
    j->scripted = grown;
    if (s->num_eos > 0) j->scripted[count++] = s->eos_ids[0];
    j->n_scripted = (int32_t)count;
    cJSON *log = cJSON_CreateObject();
    cJSON_AddNumberToObject(log, "line", (double)line);
    cJSON *ps = cJSON_AddArrayToObject(log, "prompts");
    for (size_t i = 0; ps && i < n_prompts; i++)
        cJSON_AddItemToArray(ps, prompts[i] ? cJSON_CreateString(prompts[i]) : cJSON_CreateNull());
    cJSON_AddStringToObject(log, "output", text);
    char *json = cJSON_PrintUnformatted(log);
    fprintf(stderr, "berth serve: test-scripted-outputs: %s\n", json ? json : "(out of memory)");
    free(json);
    cJSON_Delete(log);
    free(text);
    return 0;
}

static void start_job(gen_job *j, http_request *hr, const api_sampling *a, const api_stream_options *so)
{
    serve_ctx *s = j->s;
    j->streaming = so->stream;
    j->include_usage = so->include_usage;
    j->continuous_usage = so->continuous_usage_stats;
    j->want_logprobs = a->logprobs;
    j->top_logprobs = a->top_logprobs;
    j->prompt_logprobs = a->prompt_logprobs;
    j->echo_only = j->echo && a->max_tokens == 0;
    j->created = (int64_t)time(NULL);
    api_make_id(j->id, sizeof j->id, j->chat ? "chatcmpl-" : "cmpl-");
    api_error e;
    if (check_token_params(s, a, &e)) {
        serve_respond_error(s, hr, &e);
        gen_job_free(j);
        return;
    }
    for (size_t i = 0; i < j->n_prompts; i++) {
        int32_t len = (int32_t)(j->choices[i * (size_t)a->n].prompt_len);
        if (api_check_context(len, a->max_tokens == 0 ? 1 : a->max_tokens,
                              s->engine_cfg.max_model_len, j->chat ? "messages" : "prompt", &e)) {
            serve_respond_error(s, hr, &e);
            gen_job_free(j);
            return;
        }
    }
    /* A request refused above takes no scripted output: the next one gets it. */
    if (take_scripted(j, j->chat ? &j->rendered : j->prompt_texts, j->n_prompts, &e) ||
        submit_choices(j, a, a->stop, a->n_stop, &e)) {
        serve_respond_error(s, hr, &e);
        gen_job_free(j);
        return;
    }
    j->stream = j->streaming ? http_respond_stream(hr, on_client_gone, j)
                             : http_respond_deferred(hr, on_client_gone, j);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (!j->stream || pthread_create(&t, &attr, produce, j) != 0) {
        /* Without a producer nobody would answer: finish here. */
        if (j->stream) {
            http_response_error he;
            http_error_set(&he, 500, "server_error", NULL, NULL, "cannot start the response thread");
            http_stream_complete_error(j->stream, &he);
        }
        gen_job_free(j);
    }
    pthread_attr_destroy(&attr);
}

static gen_job *job_new(serve_ctx *s, bool chat, size_t n_prompts, int32_t n)
{
    gen_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->s = s;
    j->chat = chat;
    j->t_start = serve_now();
    j->n_prompts = n_prompts;
    j->n_choices = n_prompts * (size_t)n;
    j->prompts = calloc(n_prompts, sizeof *j->prompts);
    j->prompt_texts = calloc(n_prompts, sizeof *j->prompt_texts);
    j->choices = calloc(j->n_choices, sizeof *j->choices);
    if (!j->prompts || !j->prompt_texts || !j->choices) {
        free(j->prompts);
        free(j->prompt_texts);
        free(j->choices);
        free(j);
        return NULL;
    }
    for (size_t i = 0; i < j->n_choices; i++) j->choices[i].index = (int)i;
    return j;
}

/* --max-seqs-per-request: checked before any prompt is tokenized. */
static int check_seq_count(const serve_ctx *s, const gen_job *j, int32_t n, api_error *e)
{
    if (s->opts.max_seqs_per_request <= 0 || j->n_choices <= (size_t)s->opts.max_seqs_per_request)
        return 0;
    api_error_set(e, 400, NULL, seqs_param(j), NULL,
                  "this request asks for %zu sequences (%zu prompt%s x n = %d); the server accepts "
                  "at most %d per request (--max-seqs-per-request)",
                  j->n_choices, j->n_prompts, j->n_prompts == 1 ? "" : "s", n,
                  s->opts.max_seqs_per_request);
    return -1;
}

static int tokenize(serve_ctx *s, const char *text, int32_t **ids, int32_t *n, const char *param,
                    api_error *e)
{
    size_t count = 0;
    char err[256];
    if (tok_encode(s->tok, text, strlen(text), ids, &count, err, sizeof err) != 0) {
        api_error_set(e, 400, NULL, param, NULL, "tokenizer: %s", err);
        return -1;
    }
    if (count == 0) {
        api_error_set(e, 400, NULL, param, NULL, "the prompt is empty after tokenization");
        return -1;
    }
    *n = (int32_t)count;
    return 0;
}

void gen_chat(serve_ctx *s, http_request *hr, api_chat_request *req)
{
    api_error e;
    gen_job *j = job_new(s, true, 1, req->sampling.n);
    if (!j) {
        api_error_set(&e, 500, NULL, NULL, NULL, "out of memory");
        serve_respond_error(s, hr, &e);
        api_chat_request_free(req);
        return;
    }
    j->chat_req = *req;
    char *prompt = NULL;
    int32_t len = 0;
    if (check_seq_count(s, j, req->sampling.n, &e) ||
        chat_prompt_render(s, &j->chat_req, &prompt, &e) ||
        tokenize(s, prompt, &j->prompts[0], &len, "messages", &e)) {
        free(prompt);
        serve_respond_error(s, hr, &e);
        gen_job_free(j);
        return;
    }
    j->think = op_think_mode_for(tok_chat_template(s->tok), prompt);
    j->parse_tools = j->chat_req.n_tools > 0 && j->chat_req.tool_choice != API_TOOL_CHOICE_NONE;
    if (s->opts.test_scripted_outputs)
        j->rendered = prompt; /* logged by take_scripted */
    else
        free(prompt);
    if (sc_for_chat(s->constraints, &j->chat_req, j->think, s->tool_format,
                    &j->constraint, &e)) {
        serve_respond_error(s, hr, &e);
        gen_job_free(j);
        return;
    }
    j->prompt_tokens = len;
    for (size_t i = 0; i < j->n_choices; i++) {
        j->choices[i].prompt = j->prompts[0];
        j->choices[i].prompt_len = len;
    }
    start_job(j, hr, &j->chat_req.sampling, &j->chat_req.stream);
}

void gen_completion(serve_ctx *s, http_request *hr, api_completion_request *req)
{
    api_error e;
    gen_job *j = job_new(s, false, req->n_prompts, req->sampling.n);
    if (!j) {
        api_error_set(&e, 500, NULL, NULL, NULL, "out of memory");
        serve_respond_error(s, hr, &e);
        api_completion_request_free(req);
        return;
    }
    j->comp_req = *req;
    j->echo = req->echo;
    if (check_seq_count(s, j, req->sampling.n, &e)) goto fail;
    if (sc_for_completion(s->constraints, &req->structured, &j->constraint, &e)) goto fail;
    int32_t vocab = s->cfg->vocab_size;
    for (size_t p = 0; p < req->n_prompts; p++) {
        const api_prompt *ap = &req->prompts[p];
        int32_t len = 0;
        if (ap->text) {
            if (tokenize(s, ap->text, &j->prompts[p], &len, "prompt", &e)) goto fail;
            if (!(j->prompt_texts[p] = strdup(ap->text))) goto oom;
        } else {
            len = (int32_t)ap->n_ids;
            j->prompts[p] = malloc(sizeof(int32_t) * (ap->n_ids ? ap->n_ids : 1));
            if (!j->prompts[p]) goto oom;
            for (size_t k = 0; k < ap->n_ids; k++) {
                if (ap->ids[k] < 0 || ap->ids[k] >= vocab) {
                    api_error_set(&e, 400, NULL, "prompt", NULL,
                                  "token id %d is outside the vocabulary (size %d)", ap->ids[k], vocab);
                    goto fail;
                }
                j->prompts[p][k] = ap->ids[k];
            }
            if (j->echo) {
                char *text = NULL, err[128];
                size_t tl;
                if (tok_decode(s->tok, ap->ids, ap->n_ids, false, &text, &tl, err, sizeof err)) text = strdup("");
                if (!(j->prompt_texts[p] = text)) goto oom;
            }
        }
        j->prompt_tokens += len;
        for (int32_t k = 0; k < req->sampling.n; k++) {
            gen_choice *c = &j->choices[p * (size_t)req->sampling.n + (size_t)k];
            c->prompt = j->prompts[p];
            c->prompt_len = len;
        }
    }
    start_job(j, hr, &j->comp_req.sampling, &j->comp_req.stream);
    return;
oom:
    api_error_set(&e, 500, NULL, NULL, NULL, "out of memory");
fail:
    serve_respond_error(s, hr, &e);
    gen_job_free(j);
}
