/* OpenAI request bodies: /v1/chat/completions and /v1/completions parsed and validated into C structs.
 * Every invalid field becomes a 400 api_error naming the field. No tokenizer, template or engine here:
 * token-count checks happen later (api_check_context). */
#ifndef BERTH_API_REQUEST_H
#define BERTH_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/api/api_error.h"
#include "server/api/api_structured.h"

#define API_MAX_STOP 32          /* stop strings per request */
#define API_MAX_TOP_LOGPROBS 20  /* as OpenAI and vLLM's default max_logprobs */
#define API_MAX_N 128

typedef enum { API_ROLE_SYSTEM, API_ROLE_USER, API_ROLE_ASSISTANT, API_ROLE_TOOL } api_role;

typedef struct api_tool_call {
    char *id;        /* may be NULL */
    char *name;      /* non-empty */
    char *arguments; /* JSON text as the client sent it (an object is serialized; absent is "{}") */
} api_tool_call;

typedef struct api_message {
    api_role role;           /* "developer" arrives as API_ROLE_SYSTEM */
    char *content;           /* text (and refusal) parts joined with "\n"; NULL when null/absent
                              * (assistant only: other roles require it) */
    char *reasoning_content; /* assistant: "reasoning_content" or "reasoning"; NULL when absent */
    char *name;              /* NULL when absent */
    char *tool_call_id;      /* role tool, where it is required; NULL for other roles */
    api_tool_call *tool_calls;
    size_t n_tool_calls;
} api_message;

typedef struct api_logit_bias {
    int32_t token;
    float bias; /* -100..100 */
} api_logit_bias;

/* Sampling as the request gave it; has_* false means "not given" so the caller can fall back to
 * generation_config.json and then OpenAI's defaults. */
typedef struct api_sampling {
    bool has_temperature, has_top_p, has_top_k, has_min_p, has_seed, has_repetition_penalty;
    bool has_presence_penalty, has_frequency_penalty;
    double temperature;        /* 0..2 */
    double top_p;              /* (0, 1] */
    int32_t top_k;             /* -1 or 0 = off, else >= 1 */
    double min_p;              /* 0..1 */
    int64_t seed;
    double repetition_penalty; /* > 0, 1 = off */
    double presence_penalty;   /* -2..2 */
    double frequency_penalty;  /* -2..2 */
    int32_t n;                 /* 1..128, default 1 */
    int64_t max_tokens;        /* max_completion_tokens wins over max_tokens; -1 = not given */
    int64_t min_tokens;        /* default 0 */
    char **stop;
    size_t n_stop;
    int32_t *stop_token_ids;
    size_t n_stop_token_ids;
    api_logit_bias *logit_bias;
    size_t n_logit_bias;
    bool ignore_eos;
    bool skip_special_tokens;  /* default true */
    bool include_stop_str_in_output;
    bool logprobs;             /* chat: "logprobs": true; completions: "logprobs": k given */
    int32_t top_logprobs;      /* 0..20 */
    /* vLLM's prompt_logprobs: -1 = not given, else the top entries per prompt position (0..20);
     * never with stream. */
    int32_t prompt_logprobs;
} api_sampling;

typedef struct api_stream_options {
    bool stream;
    bool include_usage;
    bool continuous_usage_stats;
} api_stream_options;

typedef enum {
    API_TOOL_CHOICE_AUTO,
    API_TOOL_CHOICE_NONE,
    API_TOOL_CHOICE_REQUIRED,
    API_TOOL_CHOICE_NAMED
} api_tool_choice;

typedef struct api_chat_request {
    char *model; /* "" when absent: passed through, may be empty */
    api_message *messages;
    size_t n_messages;
    api_stream_options stream;
    api_sampling sampling;
    char *tools_json; /* the "tools" array as JSON text; NULL when absent (an empty list is "[]") */
    size_t n_tools;
    api_tool_choice tool_choice;
    char *tool_choice_name;          /* API_TOOL_CHOICE_NAMED */
    bool parallel_tool_calls;        /* default true; false: at most one call is reported */
    api_structured structured;       /* response_format, structured_outputs, guided_* */
    char *chat_template_kwargs_json; /* an object as JSON text; NULL when absent */
} api_chat_request;

/* One prompt of a completion request: text, or token ids. */
typedef struct api_prompt {
    char *text; /* NULL for token ids */
    int32_t *ids;
    size_t n_ids;
} api_prompt;

typedef struct api_completion_request {
    char *model;
    api_prompt *prompts; /* a list of prompts gives one choice group per prompt */
    size_t n_prompts;
    bool echo; /* with "logprobs": the prompt's tokens and logprobs come first */
    api_stream_options stream;
    api_sampling sampling;
    api_structured structured; /* response_format, structured_outputs, guided_* */
} api_completion_request;

/* Parse body (len bytes, need not be NUL-terminated). 0 on success (free with the _free function),
 * or -1 with *err a 400 naming the field; *out is then empty and needs no free. */
int api_parse_chat_request(const char *body, size_t len, api_chat_request *out, api_error *err);
void api_chat_request_free(api_chat_request *r);
int api_parse_completion_request(const char *body, size_t len, api_completion_request *out,
                                 api_error *err);
void api_completion_request_free(api_completion_request *r);

/* For POST /invocations: what the body is. */
typedef enum { API_KIND_INVALID = -1, API_KIND_CHAT = 1, API_KIND_COMPLETION = 2 } api_kind;
/* "messages" → chat, "prompt" → completion; otherwise API_KIND_INVALID with *err filled. */
api_kind api_detect_kind(const char *body, size_t len, api_error *err);

const char *api_role_name(api_role r);

#endif
