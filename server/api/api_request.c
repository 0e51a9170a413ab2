/* Parsing and validation of OpenAI request bodies with cJSON. Ranges follow OpenAI's spec where it
 * gives one and vLLM's checks otherwise. Unknown fields are ignored, as OpenAI clients send many. */
#include "server/api/api_request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse state: the error to fill. Every helper returns 0 or -1 (with the error set). */
typedef struct {
    api_error *err;
} P;

static int bad(P *p, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(P *p, const char *param, const char *fmt, ...)
{
    api_error_set(p->err, 400, NULL, param, "invalid_value", "invalid %s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int bad_type(P *p, const char *param, const char *expected)
{
    api_error_set(p->err, 400, NULL, param, "invalid_type", "'%s' must be %s", param, expected);
    return -1;
}

static int oom(P *p)
{
    api_error_set(p->err, 500, NULL, NULL, NULL, "out of memory while parsing the request");
    return -1;
}

/* A field that is absent or JSON null counts as not given. */
static const cJSON *field(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int get_bool(P *p, const cJSON *obj, const char *name, bool *out)
{
    const cJSON *v = field(obj, name);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return bad_type(p, name, "a boolean");
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A number within [lo, hi]; *given set when present. */
static int get_number(P *p, const cJSON *obj, const char *name, double lo, double hi, bool *given,
                      double *out)
{
    const cJSON *v = field(obj, name);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return bad_type(p, name, "a number");
    if (v->valuedouble < lo || v->valuedouble > hi) {
        api_error_set(p->err, 400, NULL, name, "invalid_value", "'%s' must be between %g and %g, got %g",
                      name, lo, hi, v->valuedouble);
        return -1;
    }
    *out = v->valuedouble;
    if (given) *given = true;
    return 0;
}

static int as_integer(P *p, const cJSON *v, const char *name, double lo, double hi, int64_t *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble))
        return bad_type(p, name, "an integer");
    /* 2^63 is the first double past int64; converting it would be undefined */
    if (v->valuedouble < lo || v->valuedouble > hi || v->valuedouble >= 9223372036854775808.0) {
        api_error_set(p->err, 400, NULL, name, "invalid_value",
                      "'%s' must be between %.0f and %.0f, got %.0f", name, lo, hi, v->valuedouble);
        return -1;
    }
    *out = (int64_t)v->valuedouble;
    return 0;
}

static int get_integer(P *p, const cJSON *obj, const char *name, double lo, double hi, bool *given,
                       int64_t *out)
{
    const cJSON *v = field(obj, name);
    if (!v) return 0;
    if (as_integer(p, v, name, lo, hi, out)) return -1;
    if (given) *given = true;
    return 0;
}

static int dup_string(P *p, const char *s, char **out)
{
    *out = strdup(s);
    return *out ? 0 : oom(p);
}

static int get_string(P *p, const cJSON *obj, const char *name, char **out)
{
    const cJSON *v = field(obj, name);
    if (!v) return 0;
    if (!cJSON_IsString(v)) return bad_type(p, name, "a string");
    return dup_string(p, v->valuestring, out);
}

static int print_json(P *p, const cJSON *v, char **out)
{
    *out = cJSON_PrintUnformatted(v);
    return *out ? 0 : oom(p);
}

/* ---- sampling (shared by chat and completions) ----------------------------------------------- */

static int parse_stop(P *p, const cJSON *root, api_sampling *s)
{
    const cJSON *v = field(root, "stop");
    if (!v) return 0;
    if (cJSON_IsString(v)) {
        if (!v->valuestring[0]) return 0; /* "" stops nothing: vLLM ignores it too */
        s->stop = calloc(1, sizeof *s->stop);
        if (!s->stop) return oom(p);
        s->n_stop = 1;
        return dup_string(p, v->valuestring, &s->stop[0]);
    }
    if (!cJSON_IsArray(v)) return bad_type(p, "stop", "a string or an array of strings");
    int n = cJSON_GetArraySize(v);
    if (n > API_MAX_STOP) {
        api_error_set(p->err, 400, NULL, "stop", "invalid_value",
                      "'stop' has %d entries; at most %d are supported", n, API_MAX_STOP);
        return -1;
    }
    s->stop = calloc((size_t)n + 1, sizeof *s->stop);
    if (!s->stop) return oom(p);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e)) return bad_type(p, "stop", "a string or an array of strings");
        if (!e->valuestring[0]) return bad(p, "stop", "'stop' entries must be non-empty strings");
        if (dup_string(p, e->valuestring, &s->stop[s->n_stop])) return -1;
        s->n_stop++;
    }
    return 0;
}

static int parse_token_list(P *p, const cJSON *v, const char *name, int32_t **ids, size_t *n_ids,
                            int allow_empty)
{
    if (!cJSON_IsArray(v)) return bad_type(p, name, "an array of token ids (integers)");
    int n = cJSON_GetArraySize(v);
    if (n == 0 && !allow_empty) return bad(p, name, "'%s' must not be empty", name);
    *ids = calloc((size_t)n + 1, sizeof **ids);
    if (!*ids) return oom(p);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        int64_t id;
        if (as_integer(p, e, name, 0, INT32_MAX, &id)) return -1;
        (*ids)[(*n_ids)++] = (int32_t)id;
    }
    return 0;
}

static int parse_logit_bias(P *p, const cJSON *root, api_sampling *s)
{
    const cJSON *v = field(root, "logit_bias");
    if (!v) return 0;
    if (!cJSON_IsObject(v)) return bad_type(p, "logit_bias", "an object mapping token ids to numbers");
    int n = cJSON_GetArraySize(v);
    s->logit_bias = calloc((size_t)n + 1, sizeof *s->logit_bias);
    if (!s->logit_bias) return oom(p);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        char *end = NULL;
        long long id = strtoll(e->string, &end, 10);
        if (!e->string[0] || *end || id < 0 || id > INT32_MAX)
            return bad(p, "logit_bias", "'logit_bias' keys must be token ids (integers >= 0), got '%s'", e->string);
        if (!cJSON_IsNumber(e) || e->valuedouble < -100 || e->valuedouble > 100)
            return bad(p, "logit_bias", "'logit_bias' values must be numbers from -100 to 100 (token %s)", e->string);
        s->logit_bias[s->n_logit_bias++] = (api_logit_bias){(int32_t)id, (float)e->valuedouble};
    }
    return 0;
}

static int parse_stream(P *p, const cJSON *root, api_stream_options *st)
{
    if (get_bool(p, root, "stream", &st->stream)) return -1;
    const cJSON *so = field(root, "stream_options");
    if (!so) return 0;
    if (!cJSON_IsObject(so)) return bad_type(p, "stream_options", "an object");
    if (!st->stream)
        return bad(p, "stream_options", "'stream_options' is only allowed with \"stream\": true");
    const char *keys[] = {"include_usage", "continuous_usage_stats"};
    bool *dst[] = {&st->include_usage, &st->continuous_usage_stats};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = field(so, keys[i]);
        char param[48];
        snprintf(param, sizeof param, "stream_options.%s", keys[i]);
        if (v && !cJSON_IsBool(v)) return bad_type(p, param, "a boolean");
        if (v) *dst[i] = cJSON_IsTrue(v);
    }
    return 0;
}

static int parse_sampling(P *p, const cJSON *root, api_sampling *s, int chat)
{
    s->n = 1;
    s->max_tokens = -1;
    s->skip_special_tokens = true;
    int64_t i64;
    bool given = false;
    if (get_number(p, root, "temperature", 0, 2, &s->has_temperature, &s->temperature) ||
        get_number(p, root, "top_p", 0, 1, &s->has_top_p, &s->top_p) ||
        get_number(p, root, "min_p", 0, 1, &s->has_min_p, &s->min_p) ||
        get_number(p, root, "presence_penalty", -2, 2, &s->has_presence_penalty, &s->presence_penalty) ||
        get_number(p, root, "frequency_penalty", -2, 2, &s->has_frequency_penalty,
                   &s->frequency_penalty) ||
        get_number(p, root, "repetition_penalty", 0, 1e9, &s->has_repetition_penalty,
                   &s->repetition_penalty))
        return -1;
    if (s->has_top_p && s->top_p <= 0)
        return bad(p, "top_p", "'top_p' must be in (0, 1]; 0 would allow no token");
    if (s->has_repetition_penalty && s->repetition_penalty <= 0)
        return bad(p, "repetition_penalty", "'repetition_penalty' must be greater than 0");
    if (get_integer(p, root, "top_k", -1, INT32_MAX, &s->has_top_k, &i64)) return -1;
    s->top_k = (int32_t)i64;
    if (get_integer(p, root, "seed", -9223372036854775808.0, 9223372036854775807.0, &s->has_seed,
                    &s->seed))
        return -1;
    i64 = 1;
    if (get_integer(p, root, "n", 1, API_MAX_N, NULL, &i64)) return -1;
    s->n = (int32_t)i64;
    /* 0 on completions: the prompt echoed alone (checked with echo by the caller), as vLLM. */
    if (get_integer(p, root, "max_tokens", chat ? 1 : 0, INT32_MAX, NULL, &s->max_tokens))
        return -1;
    if (chat && get_integer(p, root, "max_completion_tokens", 1, INT32_MAX, NULL, &s->max_tokens))
        return -1;
    if (get_integer(p, root, "min_tokens", 0, INT32_MAX, NULL, &s->min_tokens)) return -1;
    if (s->max_tokens >= 0 && s->min_tokens > s->max_tokens) {
        api_error_set(p->err, 400, NULL, "min_tokens", "invalid_value",
                      "'min_tokens' (%lld) must not exceed the maximum tokens (%lld)",
                      (long long)s->min_tokens, (long long)s->max_tokens);
        return -1;
    }
    if (parse_stop(p, root, s) || parse_logit_bias(p, root, s)) return -1;
    const cJSON *v = field(root, "stop_token_ids");
    if (v && parse_token_list(p, v, "stop_token_ids", &s->stop_token_ids, &s->n_stop_token_ids, 1))
        return -1;
    if (get_bool(p, root, "ignore_eos", &s->ignore_eos) ||
        get_bool(p, root, "skip_special_tokens", &s->skip_special_tokens) ||
        get_bool(p, root, "include_stop_str_in_output", &s->include_stop_str_in_output))
        return -1;
    if (chat) {
        if (get_bool(p, root, "logprobs", &s->logprobs) ||
            get_integer(p, root, "top_logprobs", 0, API_MAX_TOP_LOGPROBS, &given, &i64))
            return -1;
        if (given && !s->logprobs)
            return bad(p, "top_logprobs", "'top_logprobs' requires \"logprobs\": true");
        s->top_logprobs = given ? (int32_t)i64 : 0;
    } else {
        if (get_integer(p, root, "logprobs", 0, API_MAX_TOP_LOGPROBS, &s->logprobs, &i64)) return -1;
        s->top_logprobs = s->logprobs ? (int32_t)i64 : 0;
    }
    given = false;
    if (get_integer(p, root, "prompt_logprobs", 0, API_MAX_TOP_LOGPROBS, &given, &i64)) return -1;
    s->prompt_logprobs = given ? (int32_t)i64 : -1;
    return 0;
}

/* vLLM's rule: the prompt's logprobs come in one answer, not in chunks. */
static int check_prompt_logprobs(P *p, const api_sampling *s, const api_stream_options *so)
{
    if (s->prompt_logprobs >= 0 && so->stream)
        return bad(p, "prompt_logprobs",
                   "'prompt_logprobs' is not available with \"stream\": true");
    return 0;
}

static void sampling_free(api_sampling *s)
{
    for (size_t i = 0; i < s->n_stop; i++) free(s->stop[i]);
    free(s->stop);
    free(s->stop_token_ids);
    free(s->logit_bias);
}

/* ---- chat ---------------------------------------------------------------------------------- */

/* A part's text: "text" parts carry "text", "refusal" parts (assistant history from OpenAI clients)
 * carry "refusal"; vLLM joins both into the message's text. NULL for any other part type. */
static const char *part_text_key(const char *type)
{
    if (!strcmp(type, "text")) return "text";
    if (!strcmp(type, "refusal")) return "refusal";
    return NULL;
}

/* A string, or an array of text parts joined with "\n" as vLLM's string content format does. */
static int parse_content(P *p, const cJSON *v, const char *param, char **out)
{
    if (cJSON_IsString(v)) return dup_string(p, v->valuestring, out);
    if (!cJSON_IsArray(v)) return bad_type(p, param, "a string or an array of text parts");
    size_t total = 1;
    const cJSON *part;
    cJSON_ArrayForEach(part, v) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (!cJSON_IsObject(part) || !cJSON_IsString(type))
            return bad_type(p, param, "a string or an array of {\"type\": \"text\", \"text\": ...} parts");
        const char *key = part_text_key(type->valuestring);
        if (!key)
            return bad(p, param,
                       "'%s': content part type '%s' is not supported (only \"text\" and "
                       "\"refusal\")",
                       param, type->valuestring);
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, key);
        if (!cJSON_IsString(text)) return bad_type(p, param, "text parts with a string \"text\"");
        total += strlen(text->valuestring) + 1;
    }
    char *s = calloc(1, total), *o = s;
    if (!s) return oom(p);
    cJSON_ArrayForEach(part, v) {
        if (o != s) *o++ = '\n';
        const char *key =
            part_text_key(cJSON_GetObjectItemCaseSensitive(part, "type")->valuestring);
        const char *t = cJSON_GetObjectItemCaseSensitive(part, key)->valuestring;
        memcpy(o, t, strlen(t));
        o += strlen(t);
    }
    *out = s;
    return 0;
}

/* One entry of an assistant message's tool_calls; param is "messages[i].tool_calls[j]". */
static int parse_tool_call(P *p, const cJSON *tc, api_tool_call *c, const char *param)
{
    char fparam[160];
    if (!cJSON_IsObject(tc))
        return bad_type(p, param,
                        "a tool call {\"id\", \"type\": \"function\", \"function\": {\"name\", "
                        "\"arguments\"}}");
    snprintf(fparam, sizeof fparam, "%s.id", param);
    const cJSON *id = field(tc, "id");
    if (id && !cJSON_IsString(id)) return bad_type(p, fparam, "a string");
    if (id && dup_string(p, id->valuestring, &c->id)) return -1;
    snprintf(fparam, sizeof fparam, "%s.function", param);
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
    if (!cJSON_IsObject(fn))
        return bad_type(p, fparam, "an object with \"name\" and \"arguments\"");
    snprintf(fparam, sizeof fparam, "%s.function.name", param);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    if (!cJSON_IsString(name) || !name->valuestring[0])
        return bad(p, fparam, "'%s' is required: the name of the function called", fparam);
    if (dup_string(p, name->valuestring, &c->name)) return -1;
    snprintf(fparam, sizeof fparam, "%s.function.arguments", param);
    const cJSON *args = field(fn, "arguments");
    if (!args) return dup_string(p, "{}", &c->arguments);
    if (cJSON_IsString(args)) return dup_string(p, args->valuestring, &c->arguments);
    if (cJSON_IsObject(args)) return print_json(p, args, &c->arguments);
    return bad_type(p, fparam, "a JSON string (or an object)");
}

static int parse_tool_calls(P *p, const cJSON *v, api_message *m, const char *param)
{
    if (!cJSON_IsArray(v)) return bad_type(p, param, "an array of tool calls");
    m->tool_calls = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof *m->tool_calls);
    if (!m->tool_calls) return oom(p);
    const cJSON *tc;
    cJSON_ArrayForEach(tc, v) {
        char cparam[128];
        snprintf(cparam, sizeof cparam, "%s[%zu]", param, m->n_tool_calls);
        if (parse_tool_call(p, tc, &m->tool_calls[m->n_tool_calls++], cparam)) return -1;
    }
    return 0;
}

/* An optional string field of a message into *out. */
static int message_string(P *p, const cJSON *v, const char *param, const char *key, char **out)
{
    char fparam[96];
    snprintf(fparam, sizeof fparam, "%s.%s", param, key);
    const cJSON *s = field(v, key);
    if (s && !cJSON_IsString(s)) return bad_type(p, fparam, "a string");
    return s ? dup_string(p, s->valuestring, out) : 0;
}

/* Fields are read as vLLM's _parse_chat_message_content reads them: content for every role,
 * tool_calls and reasoning on assistant messages, tool_call_id on tool messages, name on any; other
 * fields (refusal, audio, function_call, annotations ... as SDKs echo them back) are ignored. */
static int parse_message(P *p, const cJSON *v, size_t idx, api_message *m)
{
    char param[32];
    snprintf(param, sizeof param, "messages[%zu]", idx);
    if (!cJSON_IsObject(v)) return bad_type(p, param, "an object with \"role\" and \"content\"");
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(v, "role");
    char fparam[64];
    snprintf(fparam, sizeof fparam, "%s.role", param);
    if (!cJSON_IsString(role))
        return bad_type(p, fparam, "one of system, developer, user, assistant, tool");
    const char *r = role->valuestring;
    if (!strcmp(r, "system") || !strcmp(r, "developer")) m->role = API_ROLE_SYSTEM;
    else if (!strcmp(r, "user")) m->role = API_ROLE_USER;
    else if (!strcmp(r, "assistant")) m->role = API_ROLE_ASSISTANT;
    else if (!strcmp(r, "tool")) m->role = API_ROLE_TOOL;
    else
        return bad(p, fparam,
                   "unknown role '%s' (expected system, developer, user, assistant or tool)", r);
    snprintf(fparam, sizeof fparam, "%s.content", param);
    const cJSON *content = field(v, "content");
    if (content && parse_content(p, content, fparam, &m->content)) return -1;
    /* An assistant turn may be only tool calls (content null or absent, as SDKs send it). */
    if (!m->content && m->role != API_ROLE_ASSISTANT)
        return bad(p, fparam, "'%s' is required for role %s", fparam, r);
    snprintf(fparam, sizeof fparam, "%s.tool_calls", param);
    const cJSON *tcs = field(v, "tool_calls");
    if (tcs && m->role != API_ROLE_ASSISTANT)
        return bad(p, fparam, "only assistant messages may carry tool_calls (%s is %s)", param, r);
    if (tcs && parse_tool_calls(p, tcs, m, fparam)) return -1;
    if (m->role == API_ROLE_ASSISTANT) {
        const char *key = field(v, "reasoning_content") ? "reasoning_content" : "reasoning";
        if (message_string(p, v, param, key, &m->reasoning_content)) return -1;
    }
    if (m->role == API_ROLE_TOOL) {
        if (message_string(p, v, param, "tool_call_id", &m->tool_call_id)) return -1;
        if (!m->tool_call_id) {
            snprintf(fparam, sizeof fparam, "%s.tool_call_id", param);
            return bad(p, fparam,
                       "'%s' is required for role tool: the id of the tool call this "
                       "message answers",
                       fparam);
        }
    }
    return message_string(p, v, param, "name", &m->name);
}

static int parse_tools(P *p, const cJSON *root, api_chat_request *r)
{
    const cJSON *tools = field(root, "tools");
    if (tools) {
        if (!cJSON_IsArray(tools)) return bad_type(p, "tools", "an array of function tools");
        const cJSON *t;
        size_t i = 0;
        cJSON_ArrayForEach(t, tools) {
            char param[48];
            snprintf(param, sizeof param, "tools[%zu]", i++);
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
            if (!cJSON_IsObject(t) || !cJSON_IsString(type) || strcmp(type->valuestring, "function"))
                return bad(p, param, "'%s' must be {\"type\": \"function\", \"function\": {...}}", param);
            if (!cJSON_IsObject(fn) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(fn, "name")))
                return bad(p, param, "'%s.function' must be an object with a string \"name\"", param);
        }
        r->n_tools = i;
        if (print_json(p, tools, &r->tools_json)) return -1;
    }
    const cJSON *tc = field(root, "tool_choice");
    if (!tc) {
        r->tool_choice = r->n_tools ? API_TOOL_CHOICE_AUTO : API_TOOL_CHOICE_NONE;
        return 0;
    }
    if (cJSON_IsString(tc)) {
        const char *s = tc->valuestring;
        if (!strcmp(s, "auto")) r->tool_choice = API_TOOL_CHOICE_AUTO;
        else if (!strcmp(s, "none")) r->tool_choice = API_TOOL_CHOICE_NONE;
        else if (!strcmp(s, "required")) r->tool_choice = API_TOOL_CHOICE_REQUIRED;
        else return bad(p, "tool_choice", "'tool_choice' must be none, auto, required or a named "
                                          "function, got '%s'", s);
    } else {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (!cJSON_IsObject(tc) || !cJSON_IsString(name))
            return bad_type(p, "tool_choice", "a string or {\"type\": \"function\", \"function\": {\"name\"}}");
        r->tool_choice = API_TOOL_CHOICE_NAMED;
        if (dup_string(p, name->valuestring, &r->tool_choice_name)) return -1;
        int found = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, tools) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "function"), "name");
            if (!strcmp(n->valuestring, name->valuestring)) found = 1;
        }
        if (!found)
            return bad(p, "tool_choice", "'tool_choice' names function '%s', which is not in 'tools'", name->valuestring);
    }
    if (r->tool_choice == API_TOOL_CHOICE_REQUIRED && !r->n_tools)
        return bad(p, "tool_choice", "'tool_choice' is required but 'tools' is empty");
    return 0;
}

/* Fields of OpenAI's API that ask for something berth cannot do. Ignoring them (as other unknown
 * fields are) would answer another question than the one asked, silently: a client sending the
 * deprecated `functions` would never see a call, one asking for audio would get none. */
static int refuse_unsupported(P *p, const cJSON *root)
{
    if (field(root, "functions"))
        return bad(p, "functions",
                   "'functions' (the deprecated function-calling API) is not "
                   "supported; send the functions as 'tools'");
    if (field(root, "function_call"))
        return bad(p, "function_call",
                   "'function_call' (the deprecated function-calling API) is not "
                   "supported; use 'tool_choice' with 'tools'");
    if (field(root, "audio"))
        return bad(p, "audio", "'audio' output is not supported: berth generates text only");
    if (field(root, "web_search_options"))
        return bad(p, "web_search_options",
                   "'web_search_options' is not supported: berth does not "
                   "search the web");
    const cJSON *mod = field(root, "modalities");
    if (!mod) return 0;
    if (!cJSON_IsArray(mod)) return bad_type(p, "modalities", "an array of output modalities");
    const cJSON *m;
    size_t i = 0;
    cJSON_ArrayForEach(m, mod)
    {
        char param[48];
        snprintf(param, sizeof param, "modalities[%zu]", i++);
        if (!cJSON_IsString(m) || strcmp(m->valuestring, "text"))
            return bad(p, param, "'%s' must be \"text\": berth generates text only", param);
    }
    return 0;
}

static int parse_response_format(P *p, const cJSON *root, api_structured *out)
{
    return api_parse_structured(root, out, p->err);
}

static cJSON *parse_root(P *p, const char *body, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        oom(p);
        return NULL;
    }
    memcpy(copy, body, len);
    copy[len] = 0;
    if (strlen(copy) != len) {
        free(copy);
        api_error_set(p->err, 400, NULL, NULL, "invalid_json", "the request body contains a NUL byte");
        return NULL;
    }
    cJSON *root = cJSON_ParseWithOpts(copy, NULL, 1);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= copy && at <= copy + len ? (size_t)(at - copy) : 0;
        api_error_set(p->err, 400, NULL, NULL, "invalid_json",
                      "the request body is not valid JSON (error near byte %zu)", off);
    } else if (!cJSON_IsObject(root)) {
        api_error_set(p->err, 400, NULL, NULL, "invalid_json", "the request body must be a JSON object");
        cJSON_Delete(root);
        root = NULL;
    }
    free(copy);
    return root;
}

static int parse_model(P *p, const cJSON *root, char **model)
{
    if (get_string(p, root, "model", model)) return -1;
    return *model ? 0 : dup_string(p, "", model);
}

int api_parse_chat_request(const char *body, size_t len, api_chat_request *out, api_error *err)
{
    P p = {err};
    memset(out, 0, sizeof *out);
    out->parallel_tool_calls = true;
    cJSON *root = parse_root(&p, body, len);
    if (!root) return -1;
    int rc = -1;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!msgs || cJSON_IsNull(msgs)) {
        bad(&p, "messages", "'messages' is required");
        goto done;
    }
    if (!cJSON_IsArray(msgs)) {
        bad_type(&p, "messages", "an array of messages");
        goto done;
    }
    int n = cJSON_GetArraySize(msgs);
    if (n == 0) {
        bad(&p, "messages", "'messages' must contain at least one message");
        goto done;
    }
    out->messages = calloc((size_t)n, sizeof *out->messages);
    if (!out->messages) {
        oom(&p);
        goto done;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        if (parse_message(&p, m, out->n_messages, &out->messages[out->n_messages])) {
            out->n_messages++;
            goto done;
        }
        out->n_messages++;
    }
    const cJSON *kw = field(root, "chat_template_kwargs");
    if (kw && !cJSON_IsObject(kw)) {
        bad_type(&p, "chat_template_kwargs", "an object");
        goto done;
    }
    if (parse_model(&p, root, &out->model) || parse_stream(&p, root, &out->stream) ||
        parse_sampling(&p, root, &out->sampling, 1) || refuse_unsupported(&p, root) ||
        parse_tools(&p, root, out) ||
        get_bool(&p, root, "parallel_tool_calls", &out->parallel_tool_calls) ||
        parse_response_format(&p, root, &out->structured) ||
        (kw && print_json(&p, kw, &out->chat_template_kwargs_json)) ||
        check_prompt_logprobs(&p, &out->sampling, &out->stream))
        goto done;
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc) api_chat_request_free(out);
    return rc;
}

void api_chat_request_free(api_chat_request *r)
{
    for (size_t i = 0; i < r->n_messages; i++) {
        api_message *m = &r->messages[i];
        free(m->content);
        free(m->reasoning_content);
        free(m->name);
        free(m->tool_call_id);
        for (size_t j = 0; j < m->n_tool_calls; j++) {
            free(m->tool_calls[j].id);
            free(m->tool_calls[j].name);
            free(m->tool_calls[j].arguments);
        }
        free(m->tool_calls);
    }
    free(r->messages);
    free(r->model);
    free(r->tools_json);
    free(r->tool_choice_name);
    free(r->chat_template_kwargs_json);
    api_structured_free(&r->structured);
    sampling_free(&r->sampling);
    memset(r, 0, sizeof *r);
}

/* ---- completions --------------------------------------------------------------------------- */

static int parse_prompts(P *p, const cJSON *root, api_completion_request *r)
{
    const cJSON *v = field(root, "prompt");
    if (!v) return bad(p, "prompt", "'prompt' is required");
    const char *expect = "a string, an array of strings, an array of token ids or an array of arrays "
                         "of token ids";
    if (cJSON_IsString(v)) {
        r->prompts = calloc(1, sizeof *r->prompts);
        if (!r->prompts) return oom(p);
        r->n_prompts = 1;
        return dup_string(p, v->valuestring, &r->prompts[0].text);
    }
    if (!cJSON_IsArray(v)) return bad_type(p, "prompt", expect);
    int n = cJSON_GetArraySize(v);
    if (n == 0) return bad(p, "prompt", "'prompt' must not be empty");
    const cJSON *first = cJSON_GetArrayItem(v, 0);
    if (cJSON_IsNumber(first)) { /* one prompt of token ids */
        r->prompts = calloc(1, sizeof *r->prompts);
        if (!r->prompts) return oom(p);
        r->n_prompts = 1;
        return parse_token_list(p, v, "prompt", &r->prompts[0].ids, &r->prompts[0].n_ids, 0);
    }
    r->prompts = calloc((size_t)n, sizeof *r->prompts);
    if (!r->prompts) return oom(p);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        api_prompt *pr = &r->prompts[r->n_prompts++];
        if (cJSON_IsString(e)) {
            if (dup_string(p, e->valuestring, &pr->text)) return -1;
        } else if (cJSON_IsArray(e)) {
            if (parse_token_list(p, e, "prompt", &pr->ids, &pr->n_ids, 0)) return -1;
        } else {
            return bad_type(p, "prompt", expect);
        }
    }
    return 0;
}

int api_parse_completion_request(const char *body, size_t len, api_completion_request *out,
                                 api_error *err)
{
    P p = {err};
    memset(out, 0, sizeof *out);
    cJSON *root = parse_root(&p, body, len);
    if (!root) return -1;
    int rc = -1;
    const cJSON *suffix = field(root, "suffix");
    const cJSON *best_of = field(root, "best_of");
    if (parse_prompts(&p, root, out) || parse_model(&p, root, &out->model) ||
        get_bool(&p, root, "echo", &out->echo) || parse_stream(&p, root, &out->stream) ||
        parse_sampling(&p, root, &out->sampling, 0) ||
        parse_response_format(&p, root, &out->structured))
        goto done;
    if (out->sampling.max_tokens == 0 && !out->echo) {
        bad(&p, "max_tokens",
            "'max_tokens' must be at least 1 (0 is allowed with \"echo\": true, which returns "
            "the prompt alone)");
        goto done;
    }
    if (check_prompt_logprobs(&p, &out->sampling, &out->stream)) goto done;
    if (suffix && (!cJSON_IsString(suffix) || suffix->valuestring[0])) {
        bad(&p, "suffix", "'suffix' is not supported (insertion needs a fill-in-the-middle model)");
        goto done;
    }
    if (best_of && !(cJSON_IsNumber(best_of) && best_of->valuedouble == out->sampling.n)) {
        bad(&p, "best_of", "'best_of' is not supported; leave it out or equal to 'n'");
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc) api_completion_request_free(out);
    return rc;
}

void api_completion_request_free(api_completion_request *r)
{
    for (size_t i = 0; i < r->n_prompts; i++) {
        free(r->prompts[i].text);
        free(r->prompts[i].ids);
    }
    free(r->prompts);
    free(r->model);
    api_structured_free(&r->structured);
    sampling_free(&r->sampling);
    memset(r, 0, sizeof *r);
}

api_kind api_detect_kind(const char *body, size_t len, api_error *err)
{
    P p = {err};
    cJSON *root = parse_root(&p, body, len);
    if (!root) return API_KIND_INVALID;
    api_kind k = API_KIND_INVALID;
    if (cJSON_GetObjectItemCaseSensitive(root, "messages")) k = API_KIND_CHAT;
    else if (cJSON_GetObjectItemCaseSensitive(root, "prompt")) k = API_KIND_COMPLETION;
    else
        api_error_set(err, 400, NULL, "messages", "invalid_value",
                      "the body needs \"messages\" (chat) or \"prompt\" (completion)");
    cJSON_Delete(root);
    return k;
}

const char *api_role_name(api_role r)
{
    static const char *names[] = {"system", "user", "assistant", "tool"};
    return names[r];
}
