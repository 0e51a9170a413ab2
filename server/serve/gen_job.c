#include "server/serve/gen_job.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/api_response.h"

void gen_job_free(gen_job *j)
{
    for (size_t i = 0; i < j->n_choices; i++) {
        gen_choice *c = &j->choices[i];
        if (c->req) engine_release(c->req);
        text_output_free(&c->out);
        if (c->parsing) op_free(&c->parse);
        free(c->text);
        for (size_t k = 0; k < c->n_lps; k++) {
            free((char *)c->lps[k].lp.token);
            for (size_t t = 0; t < c->lps[k].lp.n_top; t++)
                free((char *)c->lps[k].top[t].token);
        }
        free(c->lps);
        free(c->prompt_logprobs_json);
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
    if (j->chat)
        api_chat_request_free(&j->chat_req);
    else
        api_completion_request_free(&j->comp_req);
    sc_request_release(&j->constraint);
    free(j);
}

void gen_job_push_sse(gen_job *j, const char *json)
{
    if (!json) return;
    char *ev = api_sse_data(json);
    if (ev && http_stream_push(j->stream, ev, strlen(ev)) != 0) atomic_store(&j->client_gone, true);
    free(ev);
}

/* Test hook (BERTH_TEST_FAIL_ALLOC_AT_TOKEN, docs/api.md): from that token of a choice on, the
 * allocations that keep its output fail once, as if memory ran out; after the choice has failed,
 * its abort chunk and the error event still go out, as they would when memory came back. */
static bool test_alloc_fails(const gen_job *j, const gen_choice *c)
{
    int64_t at = j->s->opts.test_fail_alloc_at_token;
    return at > 0 && c->completion_tokens >= at && !c->error;
}

static int append_text(const gen_job *j, gen_choice *c, const char *s, size_t n)
{
    if (test_alloc_fails(j, c)) return -1;
    if (c->text_len + n + 1 > c->text_cap) {
        size_t cap = c->text_cap ? c->text_cap * 2 : 256;
        while (cap < c->text_len + n + 1)
            cap *= 2;
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

static void free_logprob(token_logprob_owned *o)
{
    free((char *)o->lp.token);
    for (size_t k = 0; k < o->lp.n_top; k++)
        free((char *)o->top[k].token);
}

/* The logprobs of one sampled token, with strings owned by *o. -1 (nothing owned): no memory. */
static int fill_logprob(const gen_job *j, const gen_choice *c, const sampled_token *t,
                        token_logprob_owned *o)
{
    memset(o, 0, sizeof *o);
    if (test_alloc_fails(j, c)) return -1;
    o->lp.token = token_string(j->s, t->token);
    o->lp.logprob = json_logprob(t->logprob);
    size_t n_top = (size_t)(t->num_top < j->top_logprobs ? t->num_top : j->top_logprobs);
    bool ok = o->lp.token != NULL;
    for (size_t k = 0; ok && k < n_top; k++) {
        o->top[k].token = token_string(j->s, t->top_ids[k]);
        o->top[k].logprob = json_logprob(t->top_logprobs[k]);
        o->lp.n_top = k + 1;
        ok = o->top[k].token != NULL;
    }
    o->lp.top = o->top;
    if (ok) return 0;
    free_logprob(o);
    return -1;
}

/* Keeps the logprobs of a non-streamed choice's token (taking lp's strings). */
static int store_logprob(const gen_job *j, gen_choice *c, const token_logprob_owned *lp)
{
    if (test_alloc_fails(j, c)) return -1;
    if (c->n_lps == c->cap_lps) {
        size_t cap = c->cap_lps ? c->cap_lps * 2 : 32;
        token_logprob_owned *grown = realloc(c->lps, sizeof *c->lps * cap);
        if (!grown) return -1;
        /* Each entry's top points into the entry itself: the move takes them along. */
        for (size_t k = 0; k < c->n_lps; k++)
            grown[k].lp.top = grown[k].top;
        c->lps = grown;
        c->cap_lps = cap;
    }
    c->lps[c->n_lps] = *lp;
    c->lps[c->n_lps].lp.top = c->lps[c->n_lps].top;
    c->n_lps++;
    return 0;
}

api_usage gen_job_usage(const gen_job *j)
{
    api_usage u = {.prompt_tokens = j->prompt_tokens};
    for (size_t i = 0; i < j->n_choices; i++)
        u.completion_tokens += j->choices[i].completion_tokens;
    /* Each prompt counts once in prompt_tokens, so its cached tokens are its first choice's (the
     * other choices share that choice's blocks). */
    size_t n = j->n_prompts ? j->n_choices / j->n_prompts : 1;
    for (size_t p = 0; p < j->n_prompts; p++)
        u.cached_tokens += j->choices[p * n].cached_tokens;
    return u;
}

/* Streams one chat chunk of choice c. -1: out of memory building it (nothing sent). */
static int push_chat_delta(gen_job *j, gen_choice *c, api_chat_delta *d)
{
    api_usage u = gen_job_usage(j);
    d->with_role = !c->started;
    /* The first chunk always says something, as OpenAI's does: content "" when nothing else. */
    if (!c->started && !d->content && !d->reasoning_content && !d->n_tool_calls) d->content = "";
    char *json = test_alloc_fails(j, c)
                     ? NULL
                     : api_chat_chunk_json(j->id, j->created, j->s->model_name, d, 1,
                                           j->continuous_usage ? &u : NULL, j->include_usage);
    if (!json) return -1;
    c->started = true;
    gen_job_push_sse(j, json);
    free(json);
    return 0;
}

/* Streams one delta of choice c: text (may be NULL), a logprob (may be NULL), finish (may be NULL).
 * -1: out of memory (nothing sent). */
static int stream_delta(gen_job *j, gen_choice *c, const char *text, const token_logprob_owned *lp,
                        const char *finish)
{
    if (j->chat) {
        api_chat_delta d = {.index = c->index,
                            .content = text,
                            .finish_reason = finish,
                            .has_logprobs = lp != NULL,
                            .logprobs = lp ? &lp->lp : NULL,
                            .n_logprobs = lp ? 1 : 0};
        return push_chat_delta(j, c, &d);
    }
    char *echoed = NULL;
    if (j->echo && !c->started) {
        /* The first chunk of an echoed completion starts with the prompt. */
        const char *p = j->prompt_texts[(size_t)c->index / (j->n_choices / j->n_prompts)];
        echoed = malloc(strlen(p) + (text ? strlen(text) : 0) + 1);
        if (!echoed) return -1;
        strcpy(echoed, p);
        if (text) strcat(echoed, text);
        text = echoed;
    }
    /* An echoed prompt's logprobs (taken into c->lps) go in the first chunk, before lp's. */
    api_token_logprob *all = NULL;
    size_t n_all = 0;
    if (c->n_lps > 0) {
        all = malloc(sizeof *all * (c->n_lps + 1));
        if (!all) {
            free(echoed);
            return -1;
        }
        for (size_t k = 0; k < c->n_lps; k++)
            all[n_all++] = c->lps[k].lp;
        if (lp) all[n_all++] = lp->lp;
    }
    api_usage u = gen_job_usage(j);
    api_completion_choice d = {.index = c->index,
                               .text = text ? text : "",
                               .finish_reason = finish,
                               .has_logprobs = lp != NULL || n_all > 0,
                               .logprobs = n_all ? all
                                           : lp  ? &lp->lp
                                                 : NULL,
                               .n_logprobs = n_all ? n_all
                                             : lp  ? 1
                                                   : 0,
                               .text_offset = c->lp_offset};
    /* text_offset counts from the start of the whole completion, as in the non-streamed answer
     * (clients join the chunks' logprobs into one list). */
    for (size_t k = 0; k < n_all; k++)
        c->lp_offset += strlen(all[k].token);
    if (lp && !n_all) c->lp_offset += strlen(lp->lp.token);
    char *json = test_alloc_fails(j, c)
                     ? NULL
                     : api_completion_chunk_json(j->id, j->created, j->s->model_name, &d, 1,
                                                 j->continuous_usage ? &u : NULL, j->include_usage);
    free(all);
    for (size_t k = 0; k < c->n_lps; k++)
        free_logprob(&c->lps[k]);
    c->n_lps = 0;
    free(echoed);
    if (!json) return -1;
    c->started = true;
    gen_job_push_sse(j, json);
    free(json);
    return 0;
}

/* Streams the output parser's events for choice c, one chunk each (a tool call's start and its
 * arguments are separate deltas, as PROTOCOL.md §4 has them); the first carries lp. -1: out of
 * memory. */
static int stream_events(gen_job *j, gen_choice *c, const op_event *ev, size_t n,
                         const token_logprob_owned *lp)
{
    if (n == 0 && (lp || !c->started)) return stream_delta(j, c, NULL, lp, NULL);
    for (size_t k = 0; k < n; k++) {
        api_chat_delta d = {.index = c->index};
        api_tool_call_delta tc;
        op_event_delta(&ev[k], &d, &tc);
        if (k == 0 && lp) {
            d.has_logprobs = 1;
            d.logprobs = &lp->lp;
            d.n_logprobs = 1;
        }
        if (push_chat_delta(j, c, &d)) return -1;
    }
    return 0;
}

/* Ends the parse of choice c: streams what was held back, or parses the whole text at once. */
static const char *finish_parse(gen_job *j, gen_choice *c, const char *tail, size_t tail_len,
                                const char *reason)
{
    const op_event *ev;
    size_t n;
    int rc;
    if (j->streaming) {
        rc = op_feed(&c->parse, tail, tail_len, &ev, &n);
        if (rc == 0 && n) rc = stream_events(j, c, ev, n, NULL);
    } else {
        rc = op_feed(&c->parse, c->text ? c->text : "", c->text_len, &ev, &n);
    }
    /* op_feed and op_finish fail only when out of memory (output_parser.h) */
    if (rc == 0) rc = op_finish(&c->parse, &ev, &n);
    if (rc == 0 && j->streaming && n) rc = stream_events(j, c, ev, n, NULL);
    if (rc) gen_job_out_of_memory(j, c);
    return op_finish_reason(&c->parse, reason);
}

void gen_job_finish_choice(gen_job *j, gen_choice *c, const char *reason)
{
    char *tail = NULL;
    size_t tail_len = 0;
    if (!c->out.stopped && text_output_finish(&c->out, &tail, &tail_len))
        gen_job_out_of_memory(j, c);
    if (c->out.stopped) reason = "stop";
    if (c->parsing) {
        if (!j->streaming && tail_len && append_text(j, c, tail, tail_len))
            gen_job_out_of_memory(j, c);
        reason = finish_parse(j, c, tail, tail_len, reason);
        if (c->out_of_memory) reason = "abort";
        if (j->streaming) stream_delta(j, c, NULL, NULL, reason);
    } else if (j->streaming) {
        if (c->out_of_memory) reason = "abort";
        if (stream_delta(j, c, tail_len ? tail : NULL, NULL, reason) && tail_len) {
            gen_job_out_of_memory(j, c); /* the tail is lost: the finish alone may still fit */
            stream_delta(j, c, NULL, NULL, "abort");
        }
    } else if (tail_len && append_text(j, c, tail, tail_len)) {
        gen_job_out_of_memory(j, c);
    }
    free(tail);
    c->finish_reason = c->out_of_memory ? "abort" : reason;
    c->done = true;
}

void gen_job_out_of_memory(gen_job *j, gen_choice *c)
{
    if (!c->error) c->error = "out of memory";
    c->out_of_memory = true;
    j->failed = true;
    engine_cancel(c->req);
}

/* vLLM's prompt_logprobs entry: {"<id>": {"logprob", "rank", "decoded_token"}}. */
static int add_prompt_entry(const gen_job *j, cJSON *d, int32_t id, float logprob, int32_t rank)
{
    char key[16];
    snprintf(key, sizeof key, "%d", id);
    if (cJSON_GetObjectItemCaseSensitive(d, key)) return 0;
    cJSON *e = cJSON_AddObjectToObject(d, key);
    char *text = token_string(j->s, id);
    bool ok = e && text && cJSON_AddNumberToObject(e, "logprob", json_logprob(logprob)) &&
              cJSON_AddNumberToObject(e, "rank", rank) &&
              cJSON_AddStringToObject(e, "decoded_token", text);
    free(text);
    return ok ? 0 : -1;
}

/* With choice c's first token the engine has its prompt's logprobs: the echoed prompt's entries
 * into c->lps (its first token's logprob null, as OpenAI's), and vLLM's prompt_logprobs (the
 * prompt token first, then the top entries, ranked 1..N). */
static int take_prompt(gen_job *j, gen_choice *c)
{
    c->prompt_taken = true;
    bool echoed = j->echo && j->want_logprobs;
    if (!echoed && j->prompt_logprobs < 0) return 0;
    cJSON *arr = j->prompt_logprobs >= 0 ? cJSON_CreateArray() : NULL;
    bool ok = arr || j->prompt_logprobs < 0;
    for (int32_t i = 0; ok && i < c->prompt_len; i++) {
        sampled_token t;
        int32_t rank = 0;
        bool has = i > 0 && engine_prompt_logprob(c->req, i, &t, &rank) == 0;
        if (echoed) {
            token_logprob_owned o;
            if (has) {
                ok = fill_logprob(j, c, &t, &o) == 0;
            } else {
                memset(&o, 0, sizeof o);
                o.lp.token = token_string(j->s, c->prompt[i]);
                o.lp.none = 1;
                ok = o.lp.token != NULL;
            }
            if (ok && store_logprob(j, c, &o) != 0) {
                free_logprob(&o);
                ok = false;
            }
        }
        if (!ok || !arr) continue;
        cJSON *d = has ? cJSON_CreateObject() : cJSON_CreateNull();
        ok = d && cJSON_AddItemToArray(arr, d);
        if (!ok) {
            cJSON_Delete(d);
            continue;
        }
        if (!has) continue;
        ok = add_prompt_entry(j, d, t.token, t.logprob, rank) == 0;
        for (int32_t k = 0; ok && k < t.num_top && k < j->prompt_logprobs; k++)
            ok = add_prompt_entry(j, d, t.top_ids[k], t.top_logprobs[k], k + 1) == 0;
    }
    if (ok && arr) ok = (c->prompt_logprobs_json = cJSON_PrintUnformatted(arr)) != NULL;
    cJSON_Delete(arr);
    return ok ? 0 : -1;
}

void gen_job_on_event(gen_job *j, gen_choice *c, const engine_event *ev)
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
        if (!c->prompt_taken && take_prompt(j, c)) {
            gen_job_out_of_memory(j, c);
            gen_job_finish_choice(j, c, "abort");
            return;
        }
        if (j->echo_only) {
            /* max_tokens 0: the engine generated one token (it needs one), nobody sees it. */
            if (j->streaming && !c->started && stream_delta(j, c, NULL, NULL, NULL)) {
                gen_job_out_of_memory(j, c);
                gen_job_finish_choice(j, c, "abort");
                return;
            }
            goto finish;
        }
        c->completion_tokens = ev->completion_tokens;
        char *emit = NULL;
        size_t emit_len = 0;
        bool oom_push = false;
        /* The end-of-sequence token that stopped it is no text (vLLM drops it likewise); a
         * constraint's last token (finished because its grammar is) is ordinary text. */
        if (!(c->keep_special && ev->finish == FINISH_STOP &&
              tok_is_special(s->tok, ev->token.token)))
            oom_push = text_output_push(&c->out, ev->token.token, &emit, &emit_len) != 0;
        bool oom = oom_push;
        token_logprob_owned lp;
        bool with_lp = j->want_logprobs && !oom;
        if (with_lp && fill_logprob(j, c, &ev->token, &lp)) {
            with_lp = false;
            oom = true;
        }
        if (oom) {
            /* failed below */
        } else if (j->streaming && c->parsing) {
            const op_event *evs = NULL;
            size_t n = 0;
            oom = op_feed(&c->parse, emit ? emit : "", emit_len, &evs, &n) != 0 ||
                  stream_events(j, c, evs, n, with_lp ? &lp : NULL) != 0;
        } else if (j->streaming) {
            if (emit_len || with_lp || !c->started)
                oom = stream_delta(j, c, emit_len ? emit : NULL, with_lp ? &lp : NULL, NULL) != 0;
        } else {
            oom = emit_len && append_text(j, c, emit, emit_len) != 0;
            if (with_lp && (oom || store_logprob(j, c, &lp) != 0))
                oom = true;
            else
                with_lp = false; /* kept (or none): nothing to free */
        }
        if (with_lp) free_logprob(&lp);
        free(emit);
        if (oom) {
            /* The request fails (its output would be incomplete) and its sequence is freed now;
             * generation.c answers the error, as for a failed constraint. */
            gen_job_out_of_memory(j, c);
            gen_job_finish_choice(j, c, "abort");
            return;
        }
        if (c->out.stopped) {
            /* A stop string matched: the engine can drop the sequence now. */
            engine_cancel(c->req);
            gen_job_finish_choice(j, c, "stop");
            return;
        }
    }
finish:
    if (ev->finish == FINISH_ERROR) c->error = ev->error ? ev->error : "the constraint failed";
    if (ev->finish != FINISH_NONE)
        gen_job_finish_choice(j, c,
                              ev->finish == FINISH_LENGTH ? "length"
                              : ev->finish == FINISH_ERROR
                                  ? "abort" /* its constraint failed: vLLM's */
                                  : "stop");
}

/* The non-streamed chat answer, or NULL when out of memory. */
static char *chat_json(const gen_job *j, const api_usage *u)
{
    size_t n = j->n_choices;
    api_chat_choice *cs = calloc(n, sizeof *cs);
    api_token_logprob **lps = calloc(n, sizeof *lps);
    api_tool_call_out **calls = calloc(n, sizeof *calls);
    bool ok = cs && lps && calls;
    for (size_t i = 0; ok && i < n; i++) {
        gen_choice *c = &j->choices[i];
        ok = (lps[i] = calloc(c->n_lps ? c->n_lps : 1, sizeof **lps)) != NULL;
        for (size_t k = 0; ok && k < c->n_lps; k++)
            lps[i][k] = c->lps[k].lp;
        cs[i] = (api_chat_choice){.index = c->index,
                                  .content = c->text ? c->text : "",
                                  .finish_reason = c->finish_reason,
                                  .has_logprobs = j->want_logprobs,
                                  .logprobs = lps[i],
                                  .n_logprobs = c->n_lps,
                                  .prompt_logprobs_json = c->prompt_logprobs_json};
        if (ok && c->parsing) {
            calls[i] = calloc(c->parse.n_calls ? c->parse.n_calls : 1, sizeof **calls);
            ok = calls[i] != NULL;
            if (ok) op_message(&c->parse, &cs[i], calls[i]);
        }
    }
    char *json =
        ok ? api_chat_completion_json(j->id, j->created, j->s->model_name, cs, n, u) : NULL;
    for (size_t i = 0; i < n; i++) {
        if (lps) free(lps[i]);
        if (calls) free(calls[i]);
    }
    free(calls);
    free(lps);
    free(cs);
    return json;
}

/* The non-streamed completion answer, or NULL when out of memory. */
static char *completion_json(const gen_job *j, const api_usage *u)
{
    size_t n = j->n_choices;
    api_completion_choice *cs = calloc(n, sizeof *cs);
    api_token_logprob **lps = calloc(n, sizeof *lps);
    char **texts = calloc(n, sizeof *texts);
    bool ok = cs && lps && texts;
    for (size_t i = 0; ok && i < n; i++) {
        gen_choice *c = &j->choices[i];
        ok = (lps[i] = calloc(c->n_lps ? c->n_lps : 1, sizeof **lps)) != NULL;
        for (size_t k = 0; ok && k < c->n_lps; k++)
            lps[i][k] = c->lps[k].lp;
        const char *body = c->text ? c->text : "";
        if (ok && j->echo) {
            const char *p = j->prompt_texts[(size_t)c->index / (n / j->n_prompts)];
            ok = (texts[i] = malloc(strlen(p) + strlen(body) + 1)) != NULL;
            if (ok) {
                strcpy(texts[i], p);
                strcat(texts[i], body);
            }
        }
        cs[i] = (api_completion_choice){.index = c->index,
                                        .text = j->echo ? texts[i] : body,
                                        .finish_reason = c->finish_reason,
                                        .has_logprobs = j->want_logprobs,
                                        .logprobs = lps[i],
                                        .n_logprobs = c->n_lps,
                                        .prompt_logprobs_json = c->prompt_logprobs_json};
    }
    char *json =
        ok ? api_text_completion_json(j->id, j->created, j->s->model_name, cs, n, u) : NULL;
    for (size_t i = 0; i < n; i++) {
        if (lps) free(lps[i]);
        if (texts) free(texts[i]);
    }
    free(lps);
    free(texts);
    free(cs);
    return json;
}

int gen_job_respond(gen_job *j)
{
    api_usage u = gen_job_usage(j);
    char *json = j->chat ? chat_json(j, &u) : completion_json(j, &u);
    if (json) {
        http_stream_complete(j->stream, 200, "application/json", json, strlen(json));
        free(json);
        return 200;
    }
    http_response_error e;
    http_error_set(&e, 500, "server_error", NULL, "out_of_memory",
                   "out of memory building the response");
    http_stream_complete_error(j->stream, &e);
    return 500;
}
