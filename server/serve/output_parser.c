#include "server/serve/output_parser.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define THINK_OPEN "<think>"
#define THINK_CLOSE "</think>"
#define TOOL_OPEN "<tool_call>"
#define TOOL_CLOSE "</tool_call>"

enum { PH_THINK_START, PH_REASONING, PH_CONTENT_LEAD, PH_CONTENT, PH_TOOL };
/* A tool-call body: whitespace before the JSON, inside the JSON, after it until </tool_call>. */
enum { TS_LEAD, TS_JSON, TS_TAIL };

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
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
    p->phase = think == OP_THINK_OFF ? PH_CONTENT : PH_THINK_START;
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

/* Drops the first n undecided bytes. */
static void consume(op_parser *p, size_t n)
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
static int emit_text(op_parser *p, op_event_kind kind, const char *s, size_t n)
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

/* Index just past the JSON string starting at t[i] == '"'. */
static size_t skip_string(const char *t, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (t[i] == '\\')
            i++;
        else if (t[i] == '"')
            return i + 1;
    }
    return n;
}

/* The raw text of member key of the (already validated) JSON object t: as the model wrote it, so
 * numbers and unicode reach the client unchanged. */
static bool member_span(const char *t, size_t n, const char *key, size_t *off, size_t *vlen)
{
    size_t i = 1, klen = strlen(key);
    while (i < n) {
        while (i < n && (is_ws(t[i]) || t[i] == ','))
            i++;
        if (i >= n || t[i] != '"') return false;
        size_t ks = i + 1, ke = skip_string(t, n, i) - 1;
        i = ke + 1;
        while (i < n && (is_ws(t[i]) || t[i] == ':'))
            i++;
        size_t vs = i, depth = 0;
        while (i < n) {
            char c = t[i];
            if (c == '"') {
                i = skip_string(t, n, i);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && depth == 0)
                break;
            else if (c == '}' || c == ']')
                depth--;
            else if (c == ',' && depth == 0)
                break;
            i++;
        }
        size_t ve = i;
        while (ve > vs && is_ws(t[ve - 1]))
            ve--;
        if (ke - ks == klen && memcmp(t + ks, key, klen) == 0) {
            *off = vs;
            *vlen = ve - vs;
            return true;
        }
    }
    return false;
}

/* The arguments text of a call object: an object (or other value) as written, a string's value as
 * is (that is already OpenAI's form), "{}" when absent. */
static char *call_arguments(const cJSON *root, const char *json, size_t len)
{
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "arguments");
    if (!args) return strdup("{}");
    if (cJSON_IsString(args)) return strdup(args->valuestring);
    size_t off, vlen;
    if (member_span(json, len, "arguments", &off, &vlen)) return dup_n(json + off, vlen);
    return cJSON_PrintUnformatted(args);
}

/* Checks the JSON body of a tool call and records it. Returns 1 if recorded, 0 if malformed, -1 on
 * OOM. */
static int add_call(op_parser *p, const char *json, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (!cJSON_IsObject(root) || !cJSON_IsString(name) || !name->valuestring[0]) {
        cJSON_Delete(root);
        return 0;
    }
    if (grow((void **)&p->calls, &p->cap_calls, p->n_calls + 1, sizeof *p->calls)) {
        cJSON_Delete(root);
        return -1;
    }
    op_tool_call *c = &p->calls[p->n_calls];
    memset(c, 0, sizeof *c);
    c->name = strdup(name->valuestring);
    c->arguments = call_arguments(root, json, len);
    cJSON_Delete(root);
    if (!c->name || !c->arguments) {
        free(c->name);
        free(c->arguments);
        return -1;
    }
    api_make_id(c->id, sizeof c->id, "call_");
    int index = (int)p->n_calls++;
    op_event *start = new_event(p, OP_EV_TOOL_START, index);
    if (!start || !(start->text = strdup(c->name))) return -1;
    memcpy(start->id, c->id, sizeof start->id);
    start->len = strlen(c->name);
    op_event *args = new_event(p, OP_EV_TOOL_ARGS, index);
    if (!args || !(args->text = strdup(c->arguments))) return -1;
    args->len = strlen(c->arguments);
    return 1;
}

/* The <tool_call> tag turned out not to open a call: it and its body are content after all. */
static int tool_malformed(op_parser *p)
{
    p->phase = PH_CONTENT;
    p->after_tool = false;
    return emit_text(p, OP_EV_CONTENT, TOOL_OPEN, strlen(TOOL_OPEN));
}

static int tool_complete(op_parser *p, size_t end)
{
    int rc = add_call(p, p->buf + p->json_start, p->json_end - p->json_start);
    if (rc < 0) return -1;
    if (rc == 0) return tool_malformed(p);
    consume(p, end);
    p->phase = PH_CONTENT;
    p->after_tool = true;
    return 0;
}

/* Scans a tool-call body. Returns 1 when it was decided (phase changed), 0 to wait, -1 on OOM. */
static int scan_tool(op_parser *p, bool final)
{
    size_t close_len = strlen(TOOL_CLOSE);
    while (p->scan < p->len) {
        char c = p->buf[p->scan];
        if (p->tool_sub == TS_LEAD) {
            if (is_ws(c)) {
                p->scan++;
                continue;
            }
            if (c != '{') return tool_malformed(p) ? -1 : 1;
            p->tool_sub = TS_JSON;
            p->json_start = p->scan++;
            p->depth = 1;
        } else if (p->tool_sub == TS_JSON) {
            p->scan++;
            if (p->in_string) {
                if (p->escaped)
                    p->escaped = false;
                else if (c == '\\')
                    p->escaped = true;
                else if (c == '"')
                    p->in_string = false;
            } else if (c == '"') {
                p->in_string = true;
            } else if (c == '{' || c == '[') {
                p->depth++;
            } else if ((c == '}' || c == ']') && --p->depth == 0) {
                p->tool_sub = TS_TAIL;
                p->json_end = p->scan;
            }
        } else if (is_ws(c)) {
            p->scan++;
        } else {
            size_t have = p->len - p->scan;
            size_t cmp = have < close_len ? have : close_len;
            if (memcmp(p->buf + p->scan, TOOL_CLOSE, cmp) != 0) return tool_malformed(p) ? -1 : 1;
            if (have < close_len) break;
            return tool_complete(p, p->scan + close_len) ? -1 : 1;
        }
    }
    if (!final) return 0;
    /* vLLM's hermes parser accepts a call whose closing tag never came (the output was cut after
     * it). */
    if (p->tool_sub == TS_TAIL) return tool_complete(p, p->len) ? -1 : 1;
    return tool_malformed(p) ? -1 : 1;
}

/* ---- the phases ---- */

/* The length of the longest proper prefix of tag that buf ends with: text to hold back. */
static size_t partial_tag(const char *buf, size_t n, const char *tag)
{
    size_t t = strlen(tag);
    for (size_t k = t - 1; k > 0; k--)
        if (k <= n && memcmp(buf + n - k, tag, k) == 0) return k;
    return 0;
}

static bool all_ws(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_ws(s[i])) return false;
    return true;
}

/* Content until the next <tool_call>. Returns 1 if it made progress, 0 to wait, -1 on OOM. */
static int step_content(op_parser *p, bool final)
{
    if (!p->tools) {
        if (emit_text(p, OP_EV_CONTENT, p->buf, p->len)) return -1;
        consume(p, p->len);
        return 0;
    }
    const char *hit = memmem(p->buf, p->len, TOOL_OPEN, strlen(TOOL_OPEN));
    size_t seg = hit ? (size_t)(hit - p->buf)
                     : p->len - (final ? 0 : partial_tag(p->buf, p->len, TOOL_OPEN));
    if (p->after_tool && all_ws(p->buf, seg)) {
        /* Whitespace between or after tool calls is layout, not an answer. */
        if (!hit && !final) return 0;
    } else {
        if (emit_text(p, OP_EV_CONTENT, p->buf, seg)) return -1;
        if (seg) p->after_tool = false;
    }
    consume(p, seg);
    if (!hit) return 0;
    consume(p, strlen(TOOL_OPEN));
    p->phase = PH_TOOL;
    p->tool_sub = TS_LEAD;
    p->scan = 0;
    p->depth = 0;
    p->in_string = p->escaped = false;
    return 1;
}

static int step(op_parser *p, bool final)
{
    size_t open_len = strlen(THINK_OPEN), close_len = strlen(THINK_CLOSE);
    switch (p->phase) {
    case PH_THINK_START:
        if (p->len >= open_len && memcmp(p->buf, THINK_OPEN, open_len) == 0) {
            consume(p, open_len);
            p->phase = PH_REASONING;
        } else if (!final && p->len < open_len && memcmp(p->buf, THINK_OPEN, p->len) == 0) {
            return 0;
        } else {
            p->phase = p->think == OP_THINK_OPEN ? PH_REASONING : PH_CONTENT;
        }
        if (p->phase == PH_REASONING) p->saw_reasoning = true;
        return 1;
    case PH_REASONING: {
        const char *hit = memmem(p->buf, p->len, THINK_CLOSE, close_len);
        size_t n = hit ? (size_t)(hit - p->buf)
                       : p->len - (final ? 0 : partial_tag(p->buf, p->len, THINK_CLOSE));
        if (emit_text(p, OP_EV_REASONING, p->buf, n)) return -1;
        consume(p, n);
        if (!hit) return 0;
        consume(p, close_len);
        p->phase = PH_CONTENT_LEAD;
        return 1;
    }
    case PH_CONTENT_LEAD: {
        /* The template renders the answer after </think> with lstrip('\n'): so do we. */
        size_t n = 0;
        while (n < p->len && p->buf[n] == '\n')
            n++;
        consume(p, n);
        if (p->len == 0) return 0;
        p->phase = PH_CONTENT;
        return 1;
    }
    case PH_CONTENT:
        return step_content(p, final);
    default:
        return scan_tool(p, final);
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
