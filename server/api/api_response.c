/* OpenAI response builders with cJSON. Field order follows OpenAI's responses so that diffs against
 * real captures stay readable. */
#include "server/api/api_response.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static char *finish(cJSON *root)
{
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

static void add_string_or_null(cJSON *o, const char *key, const char *v)
{
    if (v) cJSON_AddStringToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static cJSON *header(const char *id, const char *object, int64_t created, const char *model)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)created);
    cJSON_AddStringToObject(root, "model", model);
    return root;
}

static void add_usage(cJSON *root, const api_usage *u, int include_null)
{
    if (!u) {
        if (include_null) cJSON_AddNullToObject(root, "usage");
        return;
    }
    cJSON *o = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(o, "total_tokens", (double)(u->prompt_tokens + u->completion_tokens));
    cJSON *pd = cJSON_AddObjectToObject(o, "prompt_tokens_details");
    cJSON_AddNumberToObject(pd, "cached_tokens", (double)u->cached_tokens);
    cJSON *cd = cJSON_AddObjectToObject(o, "completion_tokens_details");
    cJSON_AddNumberToObject(cd, "reasoning_tokens", (double)u->reasoning_tokens);
}

static cJSON *bytes_of(const char *token)
{
    cJSON *a = cJSON_CreateArray();
    for (const unsigned char *p = (const unsigned char *)token; *p; p++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(*p));
    return a;
}

/* Chat logprobs: {"content": [{token, logprob, bytes, top_logprobs: [...]}], "refusal": null}. */
static void add_chat_logprobs(cJSON *choice, int has, const api_token_logprob *lp, size_t n)
{
    if (!has) {
        cJSON_AddNullToObject(choice, "logprobs");
        return;
    }
    cJSON *o = cJSON_AddObjectToObject(choice, "logprobs");
    cJSON *content = cJSON_AddArrayToObject(o, "content");
    for (size_t i = 0; i < n; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "token", lp[i].token);
        cJSON_AddNumberToObject(t, "logprob", lp[i].logprob);
        cJSON_AddItemToObject(t, "bytes", bytes_of(lp[i].token));
        cJSON *top = cJSON_AddArrayToObject(t, "top_logprobs");
        for (size_t k = 0; k < lp[i].n_top; k++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "token", lp[i].top[k].token);
            cJSON_AddNumberToObject(e, "logprob", lp[i].top[k].logprob);
            cJSON_AddItemToObject(e, "bytes", bytes_of(lp[i].top[k].token));
            cJSON_AddItemToArray(top, e);
        }
        cJSON_AddItemToArray(content, t);
    }
    cJSON_AddNullToObject(o, "refusal");
}

/* Completions logprobs: {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}. */
static void add_completion_logprobs(cJSON *choice, const api_completion_choice *c)
{
    if (!c->has_logprobs) {
        cJSON_AddNullToObject(choice, "logprobs");
        return;
    }
    cJSON *o = cJSON_AddObjectToObject(choice, "logprobs");
    cJSON *tokens = cJSON_AddArrayToObject(o, "tokens");
    cJSON *lps = cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(o, "top_logprobs");
    cJSON *offs = cJSON_AddArrayToObject(o, "text_offset");
    size_t off = c->text_offset;
    for (size_t i = 0; i < c->n_logprobs; i++) {
        const api_token_logprob *t = &c->logprobs[i];
        cJSON_AddItemToArray(tokens, cJSON_CreateString(t->token));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += strlen(t->token);
        if (t->none) {
            cJSON_AddItemToArray(lps, cJSON_CreateNull());
            cJSON_AddItemToArray(tops, cJSON_CreateNull());
            continue;
        }
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(t->logprob));
        cJSON *top = cJSON_CreateObject();
        for (size_t k = 0; k < t->n_top; k++)
            if (!cJSON_GetObjectItemCaseSensitive(top, t->top[k].token))
                cJSON_AddNumberToObject(top, t->top[k].token, t->top[k].logprob);
        cJSON_AddItemToArray(tops, top);
    }
}

static void add_reasoning(cJSON *o, const char *reasoning)
{
    if (!reasoning) return;
    /* vLLM renamed reasoning_content to reasoning; clients read either, so write both. */
    cJSON_AddStringToObject(o, "reasoning_content", reasoning);
    cJSON_AddStringToObject(o, "reasoning", reasoning);
}

char *api_chat_completion_json(const char *id, int64_t created, const char *model,
                               const api_chat_choice *choices, size_t n, const api_usage *usage)
{
    cJSON *root = header(id, "chat.completion", created, model);
    cJSON *arr = cJSON_AddArrayToObject(root, "choices");
    for (size_t i = 0; i < n; i++) {
        const api_chat_choice *c = &choices[i];
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", c->index);
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        add_string_or_null(msg, "content", c->content);
        cJSON_AddNullToObject(msg, "refusal");
        add_reasoning(msg, c->reasoning_content);
        if (c->n_tool_calls) {
            cJSON *tcs = cJSON_AddArrayToObject(msg, "tool_calls");
            for (size_t k = 0; k < c->n_tool_calls; k++) {
                cJSON *tc = cJSON_CreateObject();
                cJSON_AddStringToObject(tc, "id", c->tool_calls[k].id);
                cJSON_AddStringToObject(tc, "type", "function");
                cJSON *fn = cJSON_AddObjectToObject(tc, "function");
                cJSON_AddStringToObject(fn, "name", c->tool_calls[k].name);
                cJSON_AddStringToObject(fn, "arguments", c->tool_calls[k].arguments);
                cJSON_AddItemToArray(tcs, tc);
            }
        }
        add_chat_logprobs(ch, c->has_logprobs, c->logprobs, c->n_logprobs);
        add_string_or_null(ch, "finish_reason", c->finish_reason);
        cJSON_AddItemToArray(arr, ch);
    }
    if (n > 0 && choices[0].prompt_logprobs_json)
        cJSON_AddRawToObject(root, "prompt_logprobs", choices[0].prompt_logprobs_json);
    api_usage zero = {0};
    add_usage(root, usage ? usage : &zero, 0);
    return finish(root);
}

char *api_chat_chunk_json(const char *id, int64_t created, const char *model, const api_chat_delta *d,
                          size_t n, const api_usage *usage, int include_usage)
{
    cJSON *root = header(id, "chat.completion.chunk", created, model);
    cJSON *arr = cJSON_AddArrayToObject(root, "choices");
    for (size_t i = 0; i < n; i++) {
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", d[i].index);
        cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
        if (d[i].with_role) cJSON_AddStringToObject(delta, "role", "assistant");
        if (d[i].content) cJSON_AddStringToObject(delta, "content", d[i].content);
        add_reasoning(delta, d[i].reasoning_content);
        if (d[i].n_tool_calls) {
            cJSON *tcs = cJSON_AddArrayToObject(delta, "tool_calls");
            for (size_t k = 0; k < d[i].n_tool_calls; k++) {
                const api_tool_call_delta *t = &d[i].tool_calls[k];
                cJSON *tc = cJSON_CreateObject();
                cJSON_AddNumberToObject(tc, "index", t->index);
                if (t->id) {
                    cJSON_AddStringToObject(tc, "id", t->id);
                    cJSON_AddStringToObject(tc, "type", "function");
                }
                cJSON *fn = cJSON_AddObjectToObject(tc, "function");
                if (t->name) cJSON_AddStringToObject(fn, "name", t->name);
                if (t->arguments || t->name)
                    cJSON_AddStringToObject(fn, "arguments", t->arguments ? t->arguments : "");
                cJSON_AddItemToArray(tcs, tc);
            }
        }
        add_chat_logprobs(ch, d[i].has_logprobs, d[i].logprobs, d[i].n_logprobs);
        add_string_or_null(ch, "finish_reason", d[i].finish_reason);
        cJSON_AddItemToArray(arr, ch);
    }
    add_usage(root, usage, include_usage);
    return finish(root);
}

char *api_chat_usage_chunk_json(const char *id, int64_t created, const char *model, const api_usage *u)
{
    cJSON *root = header(id, "chat.completion.chunk", created, model);
    cJSON_AddArrayToObject(root, "choices");
    add_usage(root, u, 1);
    return finish(root);
}

static void add_completion_choices(cJSON *root, const api_completion_choice *choices, size_t n)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "choices");
    for (size_t i = 0; i < n; i++) {
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", choices[i].index);
        cJSON_AddStringToObject(ch, "text", choices[i].text ? choices[i].text : "");
        add_completion_logprobs(ch, &choices[i]);
        add_string_or_null(ch, "finish_reason", choices[i].finish_reason);
        if (choices[i].prompt_logprobs_json)
            cJSON_AddRawToObject(ch, "prompt_logprobs", choices[i].prompt_logprobs_json);
        cJSON_AddItemToArray(arr, ch);
    }
}

char *api_text_completion_json(const char *id, int64_t created, const char *model,
                               const api_completion_choice *choices, size_t n, const api_usage *usage)
{
    cJSON *root = header(id, "text_completion", created, model);
    add_completion_choices(root, choices, n);
    api_usage zero = {0};
    add_usage(root, usage ? usage : &zero, 0);
    return finish(root);
}

char *api_completion_chunk_json(const char *id, int64_t created, const char *model,
                                const api_completion_choice *choices, size_t n, const api_usage *usage,
                                int include_usage)
{
    /* OpenAI streams completions with object "text_completion" on every chunk. */
    cJSON *root = header(id, "text_completion", created, model);
    add_completion_choices(root, choices, n);
    add_usage(root, usage, include_usage);
    return finish(root);
}

char *api_completion_usage_chunk_json(const char *id, int64_t created, const char *model,
                                      const api_usage *u)
{
    cJSON *root = header(id, "text_completion", created, model);
    cJSON_AddArrayToObject(root, "choices");
    add_usage(root, u, 1);
    return finish(root);
}

char *api_models_json(const char *const *ids, size_t n, int64_t created, const char *owned_by)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", ids[i]);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", (double)created);
        cJSON_AddStringToObject(m, "owned_by", owned_by);
        cJSON_AddItemToArray(data, m);
    }
    return finish(root);
}

char *api_sse_data(const char *json)
{
    size_t n = strlen(json);
    char *s = malloc(n + 9);
    if (!s) return NULL;
    memcpy(s, "data: ", 6);
    memcpy(s + 6, json, n);
    memcpy(s + 6 + n, "\n\n", 3);
    return s;
}

void api_make_id(char *out, size_t outlen, const char *prefix)
{
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* getrandom only fails before the kernel's pool is seeded; ids need uniqueness, not secrecy */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)((uint64_t)(ts.tv_nsec + (long)i * 7919) >> (i % 4 * 8));
    }
    int w = snprintf(out, outlen, "%s", prefix);
    for (size_t i = 0; i < sizeof rnd && w >= 0 && (size_t)w + 2 < outlen; i++)
        w += snprintf(out + w, outlen - (size_t)w, "%02x", rnd[i]);
}
