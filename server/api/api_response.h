/* OpenAI response bodies: chat.completion, text_completion, their streaming chunks (PROTOCOL.md §4),
 * logprobs, tool calls, reasoning, the usage chunk, /v1/models and SSE framing. Builders take plain
 * structs filled by the caller; they never parse model output or touch the engine. */
#ifndef BERTH_API_RESPONSE_H
#define BERTH_API_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#define API_SSE_DONE "data: [DONE]\n\n"

typedef struct api_usage {
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t cached_tokens;    /* prompt_tokens_details.cached_tokens */
    int64_t reasoning_tokens; /* completion_tokens_details.reasoning_tokens */
} api_usage;

typedef struct api_top_logprob {
    const char *token;
    double logprob;
} api_top_logprob;

typedef struct api_token_logprob {
    const char *token; /* its bytes are reported as "bytes" */
    double logprob;
    const api_top_logprob *top;
    size_t n_top;
    int none; /* an echoed prompt's first token: logprob and top_logprobs are null */
} api_token_logprob;

/* A complete tool call (non-streaming message). */
typedef struct api_tool_call_out {
    const char *id;
    const char *name;
    const char *arguments;
} api_tool_call_out;

/* A streamed tool-call fragment: the first of a call has id and name, later ones arguments only. */
typedef struct api_tool_call_delta {
    int index;
    const char *id;        /* NULL after the first fragment */
    const char *name;      /* NULL after the first fragment */
    const char *arguments; /* NULL = omitted */
} api_tool_call_delta;

typedef struct api_chat_choice {
    int index;
    const char *content;           /* NULL → null */
    const char *reasoning_content; /* NULL → omitted; else written as reasoning_content and reasoning */
    const api_tool_call_out *tool_calls;
    size_t n_tool_calls;
    const char *finish_reason;     /* stop, length, tool_calls; NULL → null */
    int has_logprobs;              /* 0 → "logprobs": null */
    const api_token_logprob *logprobs;
    size_t n_logprobs;
    /* vLLM's prompt_logprobs (a JSON array, written as is), from choice 0 at the response's top
     * level, as vLLM has it; NULL: omitted. */
    const char *prompt_logprobs_json;
} api_chat_choice;

typedef struct api_chat_delta {
    int index;
    int with_role;                 /* the first chunk of a choice: delta.role = "assistant" */
    const char *content;           /* NULL → omitted */
    const char *reasoning_content; /* NULL → omitted */
    const api_tool_call_delta *tool_calls;
    size_t n_tool_calls;
    const char *finish_reason;     /* NULL → null */
    int has_logprobs;
    const api_token_logprob *logprobs;
    size_t n_logprobs;
} api_chat_delta;

typedef struct api_completion_choice {
    int index;
    const char *text;
    const char *finish_reason; /* NULL → null */
    int has_logprobs;
    const api_token_logprob *logprobs;
    size_t n_logprobs;
    size_t text_offset; /* offset of the first token's text in the echoed output */
    const char *prompt_logprobs_json; /* vLLM's prompt_logprobs (a JSON array); NULL: omitted */
} api_completion_choice;

/* Every builder returns a malloc'ed JSON string, NULL on OOM. */
char *api_chat_completion_json(const char *id, int64_t created, const char *model,
                               const api_chat_choice *choices, size_t n, const api_usage *usage);
/* usage: an object when given (the last chunk, or every chunk with continuous_usage_stats);
 * otherwise "usage": null when include_usage, omitted when not. */
char *api_chat_chunk_json(const char *id, int64_t created, const char *model, const api_chat_delta *d,
                          size_t n, const api_usage *usage, int include_usage);
/* The extra last chunk of include_usage: "choices": [] and the usage. */
char *api_chat_usage_chunk_json(const char *id, int64_t created, const char *model, const api_usage *u);

char *api_text_completion_json(const char *id, int64_t created, const char *model,
                               const api_completion_choice *choices, size_t n, const api_usage *usage);
char *api_completion_chunk_json(const char *id, int64_t created, const char *model,
                                const api_completion_choice *choices, size_t n, const api_usage *usage,
                                int include_usage);
char *api_completion_usage_chunk_json(const char *id, int64_t created, const char *model,
                                      const api_usage *u);

/* {"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]} */
char *api_models_json(const char *const *ids, size_t n, int64_t created, const char *owned_by);

/* "data: <json>\n\n" as a malloc'ed string. */
char *api_sse_data(const char *json);

/* A fresh id: prefix + 24 random hex digits ("chatcmpl-", "cmpl-", "call_"). */
void api_make_id(char *out, size_t outlen, const char *prefix);

#endif
