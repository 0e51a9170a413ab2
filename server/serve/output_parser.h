/* One chat choice's generated text to OpenAI reasoning, content and tool calls, as vLLM's qwen3
 * reasoning parser and hermes tool parser read it: fed text deltas in order, it yields events and
 * holds back text that might still become a tag. Knows nothing of HTTP, the engine or tokens. */
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
    op_event *events;
    size_t n_events, cap_events;
    /* Results, complete after op_finish. */
    op_text content;
    op_text reasoning;
    bool saw_reasoning; /* a think block was parsed (reasoning may be empty) */
    op_tool_call *calls;
    size_t n_calls, cap_calls;
} op_parser;

/* tools: parse <tool_call> blocks (the request has tools and tool_choice is not "none"). */
void op_init(op_parser *p, op_think_mode think, bool tools);
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
