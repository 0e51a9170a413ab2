/* One chat choice's generated text to OpenAI reasoning, content and tool calls, as vLLM's qwen3
 * reasoning parser and its hermes, llama3_json and mistral tool parsers read it: fed text deltas in
 * order, it yields events and holds back text that might still become a tag or a call. Knows
 * nothing of HTTP, the engine or tokens (each tool-call format lives in its own op_*.c). */
#ifndef BERTH_SERVE_OUTPUT_PARSER_H
#define BERTH_SERVE_OUTPUT_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "server/api/api_response.h"

/* Where the output starts with respect to a <think> block. */
typedef enum op_think_mode {
    OP_THINK_OFF, /* no reasoning parsing: the template has no <think>, or the prompt closed it */
    OP_THINK_OPTIONAL, /* reasoning only if the output starts with <think>, up to </think> */
    OP_THINK_OPEN      /* the prompt opened <think>: reasoning from the first byte up to </think> */
} op_think_mode;

/* Decides the mode from the model's chat template text and the rendered prompt: OFF when the
 * template never mentions <think> or the prompt ends with a closed think block
 * (enable_thinking=false), OPEN when the prompt ends inside one, OPTIONAL otherwise. Either
 * argument may be NULL. */
op_think_mode op_think_mode_for(const char *chat_template, const char *prompt);

/* Tool-call formats, named as vLLM's --tool-call-parser names them. */
typedef enum op_tool_format {
    OP_TOOLS_HERMES, /* <tool_call>{"name": ..., "arguments": {...}}</tool_call> (Qwen, Hermes) */
    OP_TOOLS_LLAMA3_JSON, /* [<|python_tag|>]{"name": ..., "parameters": {...}}; ... (Llama 3.x) */
    OP_TOOLS_MISTRAL, /* [TOOL_CALLS][{"name", "arguments"}, ...] or [TOOL_CALLS]name[ARGS]{...} */
    OP_TOOLS_COUNT
} op_tool_format;

/* "hermes", "llama3_json", "mistral". */
const char *op_tool_format_name(op_tool_format f);
/* 0 and *out for a known name, -1 otherwise. */
int op_tool_format_from_name(const char *name, op_tool_format *out);
/* The known names, comma-separated, for help texts and errors. */
const char *op_tool_format_names(void);
/* The format a chat template asks its model to use: [TOOL_CALLS] → mistral, <tool_call> → hermes,
 * <|python_tag|> or Llama 3's turn header with a "parameters" call object → llama3_json; hermes
 * when none of them (or no template). *why (may be NULL) says what decided it. */
op_tool_format op_tool_format_detect(const char *chat_template, const char **why);

typedef enum op_event_kind {
    OP_EV_REASONING,  /* text */
    OP_EV_CONTENT,    /* text */
    OP_EV_TOOL_START, /* index, id, text = the function name */
    OP_EV_TOOL_ARGS   /* index, text = an arguments fragment */
} op_event_kind;

typedef struct op_event {
    op_event_kind kind;
    int index;   /* tool calls: 0, 1, ... in output order */
    char id[48]; /* OP_EV_TOOL_START: "call_..." */
    char *text;  /* NUL-terminated, owned by the parser */
    size_t len;
} op_event;

typedef struct op_tool_call {
    char id[48];
    char *name;
    char *arguments; /* JSON text, as the model wrote it */
} op_tool_call;

typedef struct op_text {
    char *s; /* NULL until something is appended */
    size_t len, cap;
} op_text;

/* Fields below the options are the parser's own; read the results after op_finish. */
typedef struct op_parser {
    op_think_mode think;
    bool tools;
    int phase;
    char *buf; /* bytes received and not yet decided */
    size_t len, cap;
    int tool_sub; /* where the scan of a <tool_call> body stands */
    size_t scan;  /* next byte of buf to scan in a tool-call body */
    size_t depth, json_start, json_end;
    bool in_string, escaped;
    bool after_tool; /* only whitespace since the last tool call: dropped unless text follows */
    bool failed;     /* out of memory: every later call returns -1 */
    op_tool_format format;
    size_t max_calls;  /* 0: no limit */
    bool calls_closed; /* llama3_json: the output did not start with a call, so none can follow */
    op_text marker;    /* the consumed opening of the tool-call section being scanned */
    size_t name_start, name_end, id_start, id_end; /* mistral's name[CALL_ID]id[ARGS]{...} form */
    op_event *events;
    size_t n_events, cap_events;
    /* Results, complete after op_finish. */
    op_text content;
    op_text reasoning;
    bool saw_reasoning; /* a think block was parsed (reasoning may be empty) */
    op_tool_call *calls;
    size_t n_calls, cap_calls;
} op_parser;

/* tools: parse tool calls (the request has tools and tool_choice is not "none"), in the hermes
 * format until op_set_tool_format says otherwise. */
void op_init(op_parser *p, op_think_mode think, bool tools);
/* Before the first op_feed: the tool-call format, and at most max_calls calls reported (0: any
 * number; 1 for parallel_tool_calls false: later calls are dropped, neither calls nor content). */
void op_set_tool_format(op_parser *p, op_tool_format format, size_t max_calls);
void op_free(op_parser *p);

/* Feeds the next text delta. *events (owned by the parser, valid until the next call) are what can
 * be emitted now, in order; consecutive texts of one kind are merged. Returns 0, or -1 on out of
 * memory. */
int op_feed(op_parser *p, const char *text, size_t len, const op_event **events, size_t *n_events);
/* The output ended: decides everything held back (an unfinished tag or tool call becomes content).
 */
int op_finish(op_parser *p, const op_event **events, size_t *n_events);

/* "tool_calls" when the output made a call, else engine_reason. */
const char *op_finish_reason(const op_parser *p, const char *engine_reason);

/* One streamed event as a chat delta: content, reasoning_content or one tool-call fragment (*tc is
 * the storage d->tool_calls points at). Other fields of *d are left as they were. */
void op_event_delta(const op_event *ev, api_chat_delta *d, api_tool_call_delta *tc);

/* The finished parse as a non-streaming message: content (null when only tool calls were made),
 * reasoning_content (omitted without a think block) and tool_calls (calls has room for p->n_calls).
 */
void op_message(const op_parser *p, api_chat_choice *c, api_tool_call_out *calls);

#endif
