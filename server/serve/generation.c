#include "server/serve/generation.h"

#include <cjson/cJSON.h>
#include "server/serve/constraint.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/api/api_response.h"
#include "server/serve/chat_prompt.h"
#include "server/serve/output_parser.h"
#include "server/serve/text_output.h"

/* ---- per-choice state ---- */

typedef struct token_logprob_owned {
    api_token_logprob lp;
    api_top_logprob top[SAMPLER_MAX_LOGPROBS];
} token_logprob_owned;

typedef struct gen_choice {
    int index;
    const int32_t *prompt;
    int32_t prompt_len;
    engine_request *req;
    text_output out;
    op_parser parse; /* chat with tools or a <think> template: reasoning and tool calls */
    bool parsing;
    bool keep_special; /* mistral tool parsing: special tokens decoded, the final stop token not */
    bool done, started;
    const char *finish_reason;
    const char *error; /* its constraint failed (engine_event.error): the request answers an error */
    int32_t completion_tokens;
    int32_t cached_tokens; /* prompt tokens the engine found in its prefix cache */
    char *text; /* non-streaming: everything emitted */
    size_t text_len, text_cap;
    token_logprob_owned *lps; /* non-streaming logprobs */
    size_t n_lps, cap_lps;
} gen_choice;

typedef struct gen_job {
    serve_ctx *s;
    bool chat, streaming, include_usage, continuous_usage, echo, want_logprobs;
    op_think_mode think; /* chat: from the template and the rendered prompt */
    bool parse_tools;    /* chat: the request has tools and tool_choice is not "none" */
    int32_t top_logprobs;
    char id[64];
    int64_t created;
    http_stream *stream;
    atomic_bool client_gone;
    gen_choice *choices;
    size_t n_choices;
    int64_t prompt_tokens;
    double t_start, t_last_token;
    bool first_token_seen;
    api_chat_request chat_req;
    api_completion_request comp_req;
    int32_t **prompts; /* owned tokenized prompts */
    size_t n_prompts;
    char **prompt_texts; /* echo */
    char *rendered;      /* chat: the prompt text the template rendered */
    int32_t *scripted;   /* test only (--test-scripted-outputs): every choice's output tokens */
    int32_t n_scripted;
    sc_request constraint; /* structured output / enforced tool calls (entry NULL: none) */
} gen_job;

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

static void job_free(gen_job *j)
{
    for (size_t i = 0; i < j->n_choices; i++) {
        gen_choice *c = &j->choices[i];
        if (c->req) engine_release(c->req);
        text_output_free(&c->out);
        if (c->parsing) op_free(&c->parse);
        free(c->text);
        for (size_t k = 0; k < c->n_lps; k++) {
            free((char *)c->lps[k].lp.token);
            for (size_t t = 0; t < c->lps[k].lp.n_top; t++) free((char *)c->lps[k].top[t].token);
        }
        free(c->lps);
    }
    free(j->choices);
    for (size_t i = 0; i < j->n_prompts; i++) {
        free(j->prompts[i]);
        if (j->prompt_texts) free(j->prompt_texts[i]);
    }
    free(j->prompts);
    free(j->prompt_texts);
    free(j->scripted);
    free(j->rendered);
    if (j->chat) api_chat_request_free(&j->chat_req);
    else api_completion_request_free(&j->comp_req);
    sc_request_release(&j->constraint);
    free(j);
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
    rp->ep.max_tokens = (int32_t)(a->max_tokens >= 0 ? a->max_tokens : room);
    rp->ep.min_tokens = (int32_t)a->min_tokens;
}

/* ---- output ---- */

static void push_sse(gen_job *j, const char *json)
{
    if (!json) return;
    char *ev = api_sse_data(json);
    if (ev && http_stream_push(j->stream, ev, strlen(ev)) != 0) atomic_store(&j->client_gone, true);
    free(ev);
}

static int append_text(gen_choice *c, const char *s, size_t n)
{
    if (c->text_len + n + 1 > c->text_cap) {
        size_t cap = c->text_cap ? c->text_cap * 2 : 256;
        while (cap < c->text_len + n + 1) cap *= 2;
        char *grown = realloc(c->text, cap);
        if (!grown) return -1;
        c->text = grown;
        c->text_cap = cap;
    }
    memcpy(c->text + c->text_len, s, n);
    c->text_len += n;
    c->text[c->text_len] = 0;
    return 0;
}

static char *token_string(const serve_ctx *s, int32_t id)
{
    char *text = NULL, err[128];
    size_t len;
    if (tok_decode(s->tok, &id, 1, false, &text, &len, err, sizeof err) != 0) return strdup("");
    return text;
}

/* A constraint's masked tokens have logprob -inf, which JSON cannot carry: -9999.0, as vLLM. */
static double json_logprob(float lp)
{
    return lp < -9999.0f ? -9999.0 : lp;
}

/* The logprobs of one sampled token, with strings owned by *o. */
static void fill_logprob(const gen_job *j, const sampled_token *t, token_logprob_owned *o)
{
    memset(o, 0, sizeof *o);
    o->lp.token = token_string(j->s, t->token);
    o->lp.logprob = json_logprob(t->logprob);
    o->lp.n_top = (size_t)(t->num_top < j->top_logprobs ? t->num_top : j->top_logprobs);
    for (size_t k = 0; k < o->lp.n_top; k++) {
        o->top[k].token = token_string(j->s, t->top_ids[k]);
        o->top[k].logprob = json_logprob(t->top_logprobs[k]);
    }
    o->lp.top = o->top;
}

static void free_logprob(token_logprob_owned *o)
{
    free((char *)o->lp.token);
    for (size_t k = 0; k < o->lp.n_top; k++) free((char *)o->top[k].token);
}

static api_usage usage_of(const gen_job *j)
{
    api_usage u = {.prompt_tokens = j->prompt_tokens};
    for (size_t i = 0; i < j->n_choices; i++) u.completion_tokens += j->choices[i].completion_tokens;
    /* Each prompt counts once in prompt_tokens, so its cached tokens are its first choice's (the
     * other choices share that choice's blocks). */
    size_t n = j->n_prompts ? j->n_choices / j->n_prompts : 1;
    for (size_t p = 0; p < j->n_prompts; p++)
        u.cached_tokens += j->choices[p * n].cached_tokens;
    return u;
}

static void push_chat_delta(gen_job *j, gen_choice *c, api_chat_delta *d)
{
    api_usage u = usage_of(j);
    d->with_role = !c->started;
    /* The first chunk always says something, as OpenAI's does: content "" when nothing else. */
    if (!c->started && !d->content && !d->reasoning_content && !d->n_tool_calls) d->content = "";
    char *json = api_chat_chunk_json(j->id, j->created, j->s->model_name, d, 1,
                                     j->continuous_usage ? &u : NULL, j->include_usage);
    c->started = true;
    push_sse(j, json);
    free(json);
}

/* Streams one delta of choice c: text (may be NULL), a logprob (may be NULL), finish (may be NULL). */
static void stream_delta(gen_job *j, gen_choice *c, const char *text, const token_logprob_owned *lp,
                         const char *finish)
{
    if (j->chat) {
        api_chat_delta d = {.index = c->index, .content = text, .finish_reason = finish,
                            .has_logprobs = lp != NULL, .logprobs = lp ? &lp->lp : NULL,
                            .n_logprobs = lp ? 1 : 0};
        push_chat_delta(j, c, &d);
        return;
    }
    char *echoed = NULL;
    if (j->echo && !c->started) {
        /* The first chunk of an echoed completion starts with the prompt. */
        const char *p = j->prompt_texts[(size_t)c->index / (j->n_choices / j->n_prompts)];
        echoed = malloc(strlen(p) + (text ? strlen(text) : 0) + 1);
        if (echoed) {
            strcpy(echoed, p);
            if (text) strcat(echoed, text);
            text = echoed;
        }
    }
    api_usage u = usage_of(j);
    api_completion_choice d = {.index = c->index, .text = text ? text : "", .finish_reason = finish,
                               .has_logprobs = lp != NULL, .logprobs = lp ? &lp->lp : NULL,
                               .n_logprobs = lp ? 1 : 0};
    char *json = api_completion_chunk_json(j->id, j->created, j->s->model_name, &d, 1,
                                           j->continuous_usage ? &u : NULL, j->include_usage);
    free(echoed);
    c->started = true;
    push_sse(j, json);
    free(json);
}

/* Streams the output parser's events for choice c, one chunk each (a tool call's start and its
 * arguments are separate deltas, as PROTOCOL.md §4 has them); the first carries lp. */
static void stream_events(gen_job *j, gen_choice *c, const op_event *ev, size_t n,
                          const token_logprob_owned *lp)
{
    if (n == 0 && (lp || !c->started)) stream_delta(j, c, NULL, lp, NULL);
    for (size_t k = 0; k < n; k++) {
        api_chat_delta d = {.index = c->index};
        api_tool_call_delta tc;
        op_event_delta(&ev[k], &d, &tc);
        if (k == 0 && lp) {
            d.has_logprobs = 1;
            d.logprobs = &lp->lp;
            d.n_logprobs = 1;
        }
        push_chat_delta(j, c, &d);
    }
}

/* Ends the parse of choice c: streams what was held back, or parses the whole text at once. */
static const char *finish_parse(gen_job *j, gen_choice *c, const char *tail, size_t tail_len,
                                const char *reason)
{
    const op_event *ev;
    size_t n;
    if (j->streaming) {
        if (op_feed(&c->parse, tail, tail_len, &ev, &n) == 0 && n) stream_events(j, c, ev, n, NULL);
    } else {
        op_feed(&c->parse, c->text ? c->text : "", c->text_len, &ev, &n);
    }
    if (op_finish(&c->parse, &ev, &n) == 0 && j->streaming && n) stream_events(j, c, ev, n, NULL);
    return op_finish_reason(&c->parse, reason);
}

static void finish_choice(gen_job *j, gen_choice *c, const char *reason)
{
    char *tail = NULL;
    size_t tail_len = 0;
    if (!c->out.stopped) text_output_finish(&c->out, &tail, &tail_len);
    if (c->out.stopped) reason = "stop";
    if (c->parsing) {
        if (!j->streaming && tail_len) append_text(c, tail, tail_len);
        reason = finish_parse(j, c, tail, tail_len, reason);
        if (j->streaming) stream_delta(j, c, NULL, NULL, reason);
    } else if (j->streaming) {
        stream_delta(j, c, tail_len ? tail : NULL, NULL, reason);
    } else if (tail_len) {
        append_text(c, tail, tail_len);
    }
    free(tail);
    c->finish_reason = reason;
    c->done = true;
}

static void on_event(gen_job *j, gen_choice *c, const engine_event *ev)
{
    serve_ctx *s = j->s;
    c->cached_tokens = ev->cached_tokens;
    if (ev->has_token) {
        double now = serve_now();
        if (!j->first_token_seen) {
            j->first_token_seen = true;
            metrics_observe_ttft(&s->metrics, now - j->t_start);
        } else {
            metrics_observe_itl(&s->metrics, now - j->t_last_token);
        }
        j->t_last_token = now;
        c->completion_tokens = ev->completion_tokens;
        char *emit = NULL;
        size_t emit_len = 0;
        /* The end-of-sequence token that stopped it is no text (vLLM drops it likewise); a
         * constraint's last token (finished because its grammar is) is ordinary text. */
        if (!(c->keep_special && ev->finish == FINISH_STOP &&
              tok_is_special(s->tok, ev->token.token)))
            text_output_push(&c->out, ev->token.token, &emit, &emit_len);
        token_logprob_owned lp;
        bool with_lp = j->want_logprobs;
        if (with_lp) fill_logprob(j, &ev->token, &lp);
        if (j->streaming && c->parsing) {
            const op_event *evs = NULL;
            size_t n = 0;
            op_feed(&c->parse, emit ? emit : "", emit_len, &evs, &n);
            stream_events(j, c, evs, n, with_lp ? &lp : NULL);
            if (with_lp) free_logprob(&lp);
        } else if (j->streaming) {
            if (emit_len || with_lp || !c->started) stream_delta(j, c, emit_len ? emit : NULL, with_lp ? &lp : NULL, NULL);
            if (with_lp) free_logprob(&lp);
        } else {
            if (emit_len) append_text(c, emit, emit_len);
            if (with_lp) {
                if (c->n_lps == c->cap_lps) {
                    c->cap_lps = c->cap_lps ? c->cap_lps * 2 : 32;
                    c->lps = realloc(c->lps, sizeof *c->lps * c->cap_lps);
                }
                c->lps[c->n_lps] = lp;
                c->lps[c->n_lps].lp.top = c->lps[c->n_lps].top;
                c->n_lps++;
            }
        }
        free(emit);
        if (c->out.stopped) {
            /* A stop string matched: the engine can drop the sequence now. */
            engine_cancel(c->req);
            finish_choice(j, c, "stop");
            return;
        }
    }
    if (ev->finish == FINISH_ERROR) c->error = ev->error ? ev->error : "the constraint failed";
    if (ev->finish != FINISH_NONE)
        finish_choice(j, c,
                      ev->finish == FINISH_LENGTH  ? "length"
                      : ev->finish == FINISH_ERROR ? "abort" /* its constraint failed: vLLM's */
                                                   : "stop");
}

static void respond_complete(gen_job *j)
{
    api_usage u = usage_of(j);
    char *json;
    if (j->chat) {
        api_chat_choice *cs = calloc(j->n_choices, sizeof *cs);
        api_token_logprob **lps = calloc(j->n_choices, sizeof *lps);
        api_tool_call_out **calls = calloc(j->n_choices, sizeof *calls);
        for (size_t i = 0; i < j->n_choices; i++) {
            gen_choice *c = &j->choices[i];
            lps[i] = calloc(c->n_lps ? c->n_lps : 1, sizeof **lps);
            for (size_t k = 0; k < c->n_lps; k++) lps[i][k] = c->lps[k].lp;
            cs[i] = (api_chat_choice){.index = c->index, .content = c->text ? c->text : "",
                                      .finish_reason = c->finish_reason,
                                      .has_logprobs = j->want_logprobs, .logprobs = lps[i],
                                      .n_logprobs = c->n_lps};
            if (c->parsing) {
                calls[i] = calloc(c->parse.n_calls ? c->parse.n_calls : 1, sizeof **calls);
                if (calls[i]) op_message(&c->parse, &cs[i], calls[i]);
            }
        }
        json = api_chat_completion_json(j->id, j->created, j->s->model_name, cs, j->n_choices, &u);
        for (size_t i = 0; i < j->n_choices; i++) {
            free(lps[i]);
            free(calls[i]);
        }
        free(calls);
        free(lps);
        free(cs);
    } else {
        api_completion_choice *cs = calloc(j->n_choices, sizeof *cs);
        api_token_logprob **lps = calloc(j->n_choices, sizeof *lps);
        char **texts = calloc(j->n_choices, sizeof *texts);
        for (size_t i = 0; i < j->n_choices; i++) {
            gen_choice *c = &j->choices[i];
            lps[i] = calloc(c->n_lps ? c->n_lps : 1, sizeof **lps);
            for (size_t k = 0; k < c->n_lps; k++) lps[i][k] = c->lps[k].lp;
            const char *body = c->text ? c->text : "";
            if (j->echo) {
                const char *p = j->prompt_texts[(size_t)c->index / (j->n_choices / j->n_prompts)];
                texts[i] = malloc(strlen(p) + strlen(body) + 1);
                strcpy(texts[i], p);
                strcat(texts[i], body);
            }
            cs[i] = (api_completion_choice){.index = c->index, .text = j->echo ? texts[i] : body,
                                            .finish_reason = c->finish_reason,
                                            .has_logprobs = j->want_logprobs, .logprobs = lps[i],
                                            .n_logprobs = c->n_lps};
        }
        json = api_text_completion_json(j->id, j->created, j->s->model_name, cs, j->n_choices, &u);
        for (size_t i = 0; i < j->n_choices; i++) {
            free(lps[i]);
            free(texts[i]);
        }
        free(lps);
        free(texts);
        free(cs);
    }
    if (json) http_stream_complete(j->stream, 200, "application/json", json, strlen(json));
    else {
        http_response_error e;
        http_error_set(&e, 500, "server_error", NULL, NULL, "out of memory building the response");
        http_stream_complete_error(j->stream, &e);
    }
    free(json);
}

static void *produce(void *arg)
{
    gen_job *j = arg;
    serve_ctx *s = j->s;
    size_t active = j->n_choices;
    int wait_ms = j->n_choices == 1 ? 200 : 2;
    bool timed_out = false;
    while (active > 0 && !atomic_load(&j->client_gone)) {
        if (s->opts.request_timeout_s > 0 && serve_now() - j->t_start > s->opts.request_timeout_s) {
            timed_out = true;
            break;
        }
        for (size_t i = 0; i < j->n_choices; i++) {
            gen_choice *c = &j->choices[i];
            if (c->done) continue;
            engine_event ev;
            int rc = engine_next(c->req, &ev, wait_ms);
            if (rc == 1) on_event(j, c, &ev);
            else if (rc < 0) finish_choice(j, c, "stop"); /* ended without a finish event (shutdown) */
            if (c->done) active--;
        }
    }
    for (size_t i = 0; i < j->n_choices; i++)
        if (!j->choices[i].done) engine_cancel(j->choices[i].req);
    bool gone = atomic_load(&j->client_gone);
    const gen_choice *broken = NULL; /* a choice whose constraint failed: its output is not valid */
    for (size_t i = 0; i < j->n_choices && !broken; i++)
        if (j->choices[i].error) broken = &j->choices[i];
    if (broken && !timed_out && !gone) {
        api_error e;
        api_error_set(&e, 500, "server_error", NULL, "constraint_failed",
                      "choice %d: %s; its output so far does not complete the constraint",
                      broken->index, broken->error);
        if (j->streaming) { /* after the choice's last chunk (finish_reason abort), as a timeout */
            char *json = api_error_json(&e);
            if (json) push_sse(j, json);
            free(json);
            http_stream_close(j->stream);
        } else {
            http_response_error he = to_http_error(&e);
            http_stream_complete_error(j->stream, &he);
        }
        metrics_count_request(&s->metrics, 500);
    } else if (timed_out && !gone) {
        api_error e;
        api_error_set(&e, 408, "timeout_error", NULL, "request_timeout",
                      "the request did not finish within %.0f s (--request-timeout)",
                      s->opts.request_timeout_s);
        if (j->streaming) {
            char *json = api_error_json(&e);
            push_sse(j, json);
            free(json);
            http_stream_close(j->stream);
        } else {
            http_response_error he = to_http_error(&e);
            http_stream_complete_error(j->stream, &he);
        }
        metrics_count_request(&s->metrics, 408);
    } else if (j->streaming) {
        if (!gone && j->include_usage) {
            api_usage u = usage_of(j);
            char *json = j->chat ? api_chat_usage_chunk_json(j->id, j->created, s->model_name, &u)
                                 : api_completion_usage_chunk_json(j->id, j->created, s->model_name, &u);
            push_sse(j, json);
            free(json);
        }
        if (!gone) http_stream_push(j->stream, API_SSE_DONE, strlen(API_SSE_DONE));
        http_stream_close(j->stream);
        metrics_count_request(&s->metrics, gone ? 499 : 200);
    } else if (gone) {
        http_stream_close(j->stream);
        metrics_count_request(&s->metrics, 499);
    } else {
        respond_complete(j);
        metrics_count_request(&s->metrics, 200);
    }
    metrics_observe_e2e(&s->metrics, serve_now() - j->t_start);
    job_free(j);
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
    j->created = (int64_t)time(NULL);
    api_make_id(j->id, sizeof j->id, j->chat ? "chatcmpl-" : "cmpl-");
    api_error e;
    if (check_token_params(s, a, &e)) {
        serve_respond_error(s, hr, &e);
        job_free(j);
        return;
    }
    for (size_t i = 0; i < j->n_prompts; i++) {
        int32_t len = (int32_t)(j->choices[i * (size_t)a->n].prompt_len);
        if (api_check_context(len, a->max_tokens, s->engine_cfg.max_model_len,
                              j->chat ? "messages" : "prompt", &e)) {
            serve_respond_error(s, hr, &e);
            job_free(j);
            return;
        }
    }
    /* A request refused above takes no scripted output: the next one gets it. */
    if (take_scripted(j, j->chat ? &j->rendered : j->prompt_texts, j->n_prompts, &e) ||
        submit_choices(j, a, a->stop, a->n_stop, &e)) {
        serve_respond_error(s, hr, &e);
        job_free(j);
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
        job_free(j);
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
        job_free(j);
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
        job_free(j);
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
            j->prompt_texts[p] = strdup(ap->text);
        } else {
            len = (int32_t)ap->n_ids;
            j->prompts[p] = malloc(sizeof(int32_t) * (ap->n_ids ? ap->n_ids : 1));
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
                j->prompt_texts[p] = text;
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
fail:
    serve_respond_error(s, hr, &e);
    job_free(j);
}
