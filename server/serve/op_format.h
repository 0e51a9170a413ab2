/* The output parser's inside, shared by output_parser.c (think blocks, content, events) and one
 * file per tool-call format (op_hermes.c, op_llama3.c, op_mistral.c): the format interface and the
 * helpers a format uses. Not for use outside server/serve/output_parser and its formats. */
#ifndef BERTH_SERVE_OP_FORMAT_H
#define BERTH_SERVE_OP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include "server/serve/output_parser.h"

/* p->phase values. */
enum { OP_PH_THINK_START, OP_PH_REASONING, OP_PH_CONTENT_LEAD, OP_PH_CONTENT, OP_PH_TOOL };

typedef struct op_format_ops {
    /* Content phase: *seg = how many leading bytes of p->buf are content for certain; returns true
     * when a tool-call section opens right after them with a marker of *open_len bytes (which the
     * caller consumes and keeps, in case the section turns out not to be a call). When false, the
     * bytes after *seg are held back until more text comes (never when final). */
    bool (*find_open)(op_parser *p, bool final, size_t *seg, size_t *open_len);
    /* Tool phase, the marker consumed: scans p->buf from p->scan. Returns 1 when decided (the phase
     * changed), 0 to wait for more text, -1 on out of memory. */
    int (*scan)(op_parser *p, bool final);
} op_format_ops;

extern const op_format_ops op_hermes_ops, op_llama3_ops, op_mistral_ops;

bool op_is_ws(char c);
/* The length of the longest proper prefix of tag that buf[0..n) ends with: text to hold back. */
size_t op_partial_tag(const char *buf, size_t n, const char *tag);
/* Whether buf[0..n) and tag agree on their common length (n may be shorter than tag). */
bool op_prefix_of(const char *buf, size_t n, const char *tag);
/* find_open for formats whose calls open with a tag anywhere in the content (hermes, mistral). */
bool op_find_tag(op_parser *p, const char *tag, bool final, size_t *seg, size_t *open_len);

/* Drops the first n undecided bytes. */
void op_consume(op_parser *p, size_t n);
int op_emit_text(op_parser *p, op_event_kind kind, const char *s, size_t n);

/* Starts scanning the JSON object or array whose first byte is p->buf[at]. */
void op_json_begin(op_parser *p, size_t at);
/* Continues it: true once the value has ended (p->json_end is just past it). Strings and nesting
 * are tracked, nothing else is checked: cJSON decides validity afterwards. */
bool op_json_scan(op_parser *p);

/* The raw text of member key of the (already validated) JSON object t[0..n). */
bool op_member_span(const char *t, size_t n, const char *key, size_t *off, size_t *vlen);
/* The next top-level element of the (already validated) JSON array t[0..n) from *i (start at 0):
 * its raw span, or false at the end. */
bool op_next_element(const char *t, size_t n, size_t *i, size_t *off, size_t *vlen);

/* Records a call object {"name": ..., "arguments": ...} given as JSON text; alt_args is a second
 * name for "arguments" (Llama's "parameters") or NULL; with args_required an object without either
 * is not a call. Returns 1 if recorded, 0 if t is not a call, -1 on out of memory. */
int op_call_from_object(op_parser *p, const char *t, size_t n, const char *alt_args,
                        bool args_required);
/* Records a call of name with arguments (JSON text, n bytes); id NULL makes one in the format's
 * style. Beyond p->max_calls the call is dropped (parallel_tool_calls false). 0, or -1 on OOM. */
int op_record_call(op_parser *p, const char *name, size_t name_len, const char *args, size_t n,
                   const char *id);

/* The section turned out not to be a call: its marker is content, and so is what follows. */
int op_section_malformed(op_parser *p);
/* The section was calls and ends at p->buf[end]: back to content, whitespace after it dropped. */
void op_section_complete(op_parser *p, size_t end);

#endif
