#include "server/serve/output_parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve/op_format.h"

#define THINK_OPEN "<think>"
#define THINK_CLOSE "</think>"

#define is_ws op_is_ws

static const op_format_ops *const formats[OP_TOOLS_COUNT] = {
    [OP_TOOLS_HERMES] = &op_hermes_ops,
    [OP_TOOLS_LLAMA3_JSON] = &op_llama3_ops,
    [OP_TOOLS_MISTRAL] = &op_mistral_ops,
};
static const char *const format_names[OP_TOOLS_COUNT] = {
    [OP_TOOLS_HERMES] = "hermes",
    [OP_TOOLS_LLAMA3_JSON] = "llama3_json",
    [OP_TOOLS_MISTRAL] = "mistral",
};

bool op_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

const char *op_tool_format_name(op_tool_format f)
{
    return f >= 0 && f < OP_TOOLS_COUNT ? format_names[f] : "?";
}

int op_tool_format_from_name(const char *name, op_tool_format *out)
{
    for (int f = 0; name && f < OP_TOOLS_COUNT; f++)
        if (!strcmp(name, format_names[f])) {
            *out = (op_tool_format)f;
            return 0;
        }
    return -1;
}

const char *op_tool_format_names(void)
{
    return "hermes, llama3_json, mistral";
}

op_tool_format op_tool_format_detect(const char *chat_template, const char **why)
{
    const char *w = "no chat template";
    op_tool_format f = OP_TOOLS_HERMES;
    if (!chat_template) {
    } else if (strstr(chat_template, "[TOOL_CALLS]")) {
        f = OP_TOOLS_MISTRAL;
        w = "the chat template writes [TOOL_CALLS]";
    } else if (strstr(chat_template, "<tool_call>")) {
        w = "the chat template writes <tool_call>";
    } else if (strstr(chat_template, "<|python_tag|>")) {
        f = OP_TOOLS_LLAMA3_JSON;
        w = "the chat template writes <|python_tag|>";
    } else if (strstr(chat_template, "\"parameters\"") &&
               strstr(chat_template, "<|start_header_id|>")) {
        /* Llama 3.2's template asks for {"name": function name, "parameters": ...} (other
         * families, e.g. Cohere's, say "parameters" too, hence Llama 3's turn header as well). */
        f = OP_TOOLS_LLAMA3_JSON;
        w = "the chat template is Llama 3's and asks for {\"name\", \"parameters\"} calls";
    } else {
        w = "the chat template shows no tool-call format; hermes is the default";
    }
    if (why) *why = w;
    return f;
}

static bool ends_with(const char *s, size_t n, const char *tag)
{
    size_t t = strlen(tag);
    return n >= t && memcmp(s + n - t, tag, t) == 0;
}

op_think_mode op_think_mode_for(const char *chat_template, const char *prompt)
{
    if (!chat_template || !strstr(chat_template, THINK_OPEN)) return OP_THINK_OFF;
    size_t n = prompt ? strlen(prompt) : 0;
    while (n > 0 && is_ws(prompt[n - 1]))
        n--;
    if (n && ends_with(prompt, n, THINK_CLOSE)) return OP_THINK_OFF;
    if (n && ends_with(prompt, n, THINK_OPEN)) return OP_THINK_OPEN;
    return OP_THINK_OPTIONAL;
}

void op_init(op_parser *p, op_think_mode think, bool tools)
{
    memset(p, 0, sizeof *p);
    p->think = think;
    p->tools = tools;
    p->phase = think == OP_THINK_OFF ? OP_PH_CONTENT : OP_PH_THINK_START;
    p->format = OP_TOOLS_HERMES;
}

void op_set_tool_format(op_parser *p, op_tool_format format, size_t max_calls)
{
    p->format = format >= 0 && format < OP_TOOLS_COUNT ? format : OP_TOOLS_HERMES;
    p->max_calls = max_calls;
}

static void clear_events(op_parser *p)
{
    for (size_t i = 0; i < p->n_events; i++)
        free(p->events[i].text);
    p->n_events = 0;
}

void op_free(op_parser *p)
{
    clear_events(p);
    free(p->events);
    free(p->buf);
    free(p->content.s);
    free(p->reasoning.s);
    free(p->marker.s);
    for (size_t i = 0; i < p->n_calls; i++) {
        free(p->calls[i].name);
        free(p->calls[i].arguments);
    }
    free(p->calls);
    memset(p, 0, sizeof *p);
}

/* ---- growable storage ---- */

static int grow(void **ptr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap * 2 : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *g = realloc(*ptr, cap2 * elem);
    if (!g) return -1;
    *ptr = g;
    *cap = cap2;
    return 0;
}

static int text_append(op_text *t, const char *s, size_t n)
{
    if (grow((void **)&t->s, &t->cap, t->len + n + 1, 1)) return -1;
    if (n) memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = 0;
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void op_consume(op_parser *p, size_t n)
{
    memmove(p->buf, p->buf + n, p->len - n);
    p->len -= n;
}

/* ---- events ---- */

static op_event *new_event(op_parser *p, op_event_kind kind, int index)
{
    if (grow((void **)&p->events, &p->cap_events, p->n_events + 1, sizeof *p->events)) return NULL;
    op_event *e = &p->events[p->n_events++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->index = index;
    return e;
}

/* Reasoning or content text: into the result and, merged with a preceding event of its kind, out.
 */
int op_emit_text(op_parser *p, op_event_kind kind, const char *s, size_t n)
{
    if (n == 0) return 0;
    if (text_append(kind == OP_EV_REASONING ? &p->reasoning : &p->content, s, n)) return -1;
    op_event *last = p->n_events ? &p->events[p->n_events - 1] : NULL;
    if (last && last->kind == kind) {
        char *g = realloc(last->text, last->len + n + 1);
        if (!g) return -1;
        memcpy(g + last->len, s, n);
        last->len += n;
        g[last->len] = 0;
        last->text = g;
        return 0;
    }
    op_event *e = new_event(p, kind, 0);
    if (!e || !(e->text = dup_n(s, n))) return -1;
    e->len = n;
    return 0;
}

/* ---- tool calls ---- */

int op_record_call(op_parser *p, const char *name, size_t name_len, const char *args, size_t n,
                   const char *id)
{
    if (p->max_calls && p->n_calls >= p->max_calls) return 0;
    if (grow((void **)&p->calls, &p->cap_calls, p->n_calls + 1, sizeof *p->calls)) return -1;
    op_tool_call *c = &p->calls[p->n_calls];
    memset(c, 0, sizeof *c);
    c->name = dup_n(name, name_len);
    c->arguments = dup_n(args, n);
    if (!c->name || !c->arguments) {
        free(c->name);
        free(c->arguments);
        return -1;
    }
    if (id)
        snprintf(c->id, sizeof c->id, "%s", id);
    else if (p->format == OP_TOOLS_MISTRAL) {
        /* Mistral's templates and mistral-common accept only 9 alphanumerics as a call id. */
        api_make_id(c->id, 12, "");
        c->id[9] = 0;
    } else {
        api_make_id(c->id, sizeof c->id, "call_");
    }
    int index = (int)p->n_calls++;
    op_event *start = new_event(p, OP_EV_TOOL_START, index);
    if (!start || !(start->text = strdup(c->name))) return -1;
    memcpy(start->id, c->id, sizeof start->id);
    start->len = strlen(c->name);
    op_event *ev = new_event(p, OP_EV_TOOL_ARGS, index);
    if (!ev || !(ev->text = strdup(c->arguments))) return -1;
    ev->len = strlen(c->arguments);
    return 0;
}

/* ---- the phases ---- */

size_t op_partial_tag(const char *buf, size_t n, const char *tag)
{
    size_t t = strlen(tag);
    for (size_t k = t - 1; k > 0; k--)
        if (k <= n && memcmp(buf + n - k, tag, k) == 0) return k;
    return 0;
}

bool op_prefix_of(const char *buf, size_t n, const char *tag)
{
    size_t t = strlen(tag);
    return memcmp(buf, tag, n < t ? n : t) == 0;
}

bool op_find_tag(op_parser *p, const char *tag, bool final, size_t *seg, size_t *open_len)
{
    const char *hit = memmem(p->buf, p->len, tag, strlen(tag));
    *seg =
        hit ? (size_t)(hit - p->buf) : p->len - (final ? 0 : op_partial_tag(p->buf, p->len, tag));
    *open_len = hit ? strlen(tag) : 0;
    return hit != NULL;
}

static bool all_ws(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_ws(s[i])) return false;
    return true;
}

int op_section_malformed(op_parser *p)
{
    p->phase = OP_PH_CONTENT;
    p->after_tool = false;
    return op_emit_text(p, OP_EV_CONTENT, p->marker.s ? p->marker.s : "", p->marker.len);
}

void op_section_complete(op_parser *p, size_t end)
{
    op_consume(p, end);
    p->phase = OP_PH_CONTENT;
    p->after_tool = true;
}

/* Content until the next tool-call section. Returns 1 if it made progress, 0 to wait, -1 on OOM. */
static int step_content(op_parser *p, bool final)
{
    if (!p->tools) {
        if (op_emit_text(p, OP_EV_CONTENT, p->buf, p->len)) return -1;
        op_consume(p, p->len);
        return 0;
    }
    size_t seg = 0, open_len = 0;
    bool hit = formats[p->format]->find_open(p, final, &seg, &open_len);
    bool layout = all_ws(p->buf, seg);
    bool first = p->n_calls == 0 && p->content.len == 0;
    if (p->after_tool && layout) {
        /* Whitespace between or after tool calls is layout, not an answer. */
        if (!hit && !final) return 0;
    } else if (first && layout && !hit && !final) {
        return 0; /* only whitespace so far: an answer or the layout before a call */
    } else if (first && layout && hit) {
        /* Whitespace before the first call ("\n\n<tool_call>") is layout too: content stays
         * null, as vLLM's. It goes with the marker, given back if the section is not a call. */
        open_len += seg;
        seg = 0;
    } else {
        if (op_emit_text(p, OP_EV_CONTENT, p->buf, seg)) return -1;
        if (seg) p->after_tool = false;
    }
    op_consume(p, seg);
    if (!hit) return 0;
    p->marker.len = 0;
    if (text_append(&p->marker, p->buf, open_len)) return -1;
    op_consume(p, open_len);
    p->phase = OP_PH_TOOL;
    p->tool_sub = 0;
    p->scan = 0;
    p->depth = 0;
    p->in_string = p->escaped = false;
    return 1;
}

static int step(op_parser *p, bool final)
{
    size_t open_len = strlen(THINK_OPEN), close_len = strlen(THINK_CLOSE);
    switch (p->phase) {
    case OP_PH_THINK_START:
        if (p->len >= open_len && memcmp(p->buf, THINK_OPEN, open_len) == 0) {
            op_consume(p, open_len);
            p->phase = OP_PH_REASONING;
        } else if (!final && p->len < open_len && memcmp(p->buf, THINK_OPEN, p->len) == 0) {
            return 0;
        } else {
            p->phase = p->think == OP_THINK_OPEN ? OP_PH_REASONING : OP_PH_CONTENT;
        }
        if (p->phase == OP_PH_REASONING) p->saw_reasoning = true;
        return 1;
    case OP_PH_REASONING: {
        const char *hit = memmem(p->buf, p->len, THINK_CLOSE, close_len);
        size_t n = hit ? (size_t)(hit - p->buf)
                       : p->len - (final ? 0 : op_partial_tag(p->buf, p->len, THINK_CLOSE));
        if (op_emit_text(p, OP_EV_REASONING, p->buf, n)) return -1;
        op_consume(p, n);
        if (!hit) return 0;
        op_consume(p, close_len);
        p->phase = OP_PH_CONTENT_LEAD;
        return 1;
    }
    case OP_PH_CONTENT_LEAD: {
        /* The template renders the answer after </think> with lstrip('\n'): so do we. */
        size_t n = 0;
        while (n < p->len && p->buf[n] == '\n')
            n++;
        op_consume(p, n);
        if (p->len == 0) return 0;
        p->phase = OP_PH_CONTENT;
        return 1;
    }
    case OP_PH_CONTENT:
        return step_content(p, final);
    default:
        return formats[p->format]->scan(p, final);
    }
}

static int run(op_parser *p, bool final, const op_event **events, size_t *n_events)
{
    int rc;
    while ((rc = step(p, final)) > 0) {
    }
    if (rc < 0) p->failed = true;
    *events = p->events;
    *n_events = p->n_events;
    return rc < 0 ? -1 : 0;
}

int op_feed(op_parser *p, const char *text, size_t len, const op_event **events, size_t *n_events)
{
    *events = NULL;
    *n_events = 0;
    clear_events(p);
    if (p->failed) return -1;
    if (grow((void **)&p->buf, &p->cap, p->len + len + 1, 1)) {
        p->failed = true;
        return -1;
    }
    if (len) memcpy(p->buf + p->len, text, len);
    p->len += len;
    return run(p, false, events, n_events);
}

int op_finish(op_parser *p, const op_event **events, size_t *n_events)
{
    *events = NULL;
    *n_events = 0;
    clear_events(p);
    if (p->failed) return -1;
    if (grow((void **)&p->buf, &p->cap, 1,
             1)) { /* the scans take a buffer even when nothing came */
        p->failed = true;
        return -1;
    }
    return run(p, true, events, n_events);
}

const char *op_finish_reason(const op_parser *p, const char *engine_reason)
{
    return p->n_calls ? "tool_calls" : engine_reason;
}

void op_event_delta(const op_event *ev, api_chat_delta *d, api_tool_call_delta *tc)
{
    switch (ev->kind) {
    case OP_EV_REASONING:
        d->reasoning_content = ev->text;
        break;
    case OP_EV_CONTENT:
        d->content = ev->text;
        break;
    case OP_EV_TOOL_START:
        *tc = (api_tool_call_delta){
            .index = ev->index, .id = ev->id, .name = ev->text, .arguments = ""};
        d->tool_calls = tc;
        d->n_tool_calls = 1;
        break;
    case OP_EV_TOOL_ARGS:
        *tc = (api_tool_call_delta){.index = ev->index, .arguments = ev->text};
        d->tool_calls = tc;
        d->n_tool_calls = 1;
        break;
    }
}

void op_message(const op_parser *p, api_chat_choice *c, api_tool_call_out *calls)
{
    const char *content = p->content.s ? p->content.s : "";
    c->content = p->n_calls && !content[0] ? NULL : content;
    c->reasoning_content = p->saw_reasoning ? (p->reasoning.s ? p->reasoning.s : "") : NULL;
    for (size_t i = 0; i < p->n_calls; i++)
        calls[i] = (api_tool_call_out){
            .id = p->calls[i].id, .name = p->calls[i].name, .arguments = p->calls[i].arguments};
    c->tool_calls = p->n_calls ? calls : NULL;
    c->n_tool_calls = p->n_calls;
}
