/* Fuzzes the reasoning / tool-call output parser: the first byte picks the think mode, tool parsing
 * and how the rest is cut into deltas, the second the tool-call format (hermes, llama3_json,
 * mistral) and whether one call at most is reported; the text is parsed whole and cut, and both
 * must agree on content, reasoning and every call's name and arguments. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve/output_parser.h"

typedef struct outcome {
    char *content, *reasoning;
    size_t n_calls;
    char *calls; /* every call's name and arguments, NUL-separated */
    size_t calls_len;
} outcome;

typedef struct setup {
    op_think_mode mode;
    bool tools;
    op_tool_format format;
    size_t max_calls;
} setup;

static void run_parse(const setup *su, const char *text, size_t len, unsigned step, outcome *o)
{
    op_parser p;
    op_init(&p, su->mode, su->tools);
    op_set_tool_format(&p, su->format, su->max_calls);
    const op_event *ev;
    size_t n, at = 0, streamed = 0;
    while (at < len) {
        size_t take = step ? 1 + (at * 7 + step) % (step + 1) : len;
        if (take > len - at) take = len - at;
        if (op_feed(&p, text + at, take, &ev, &n)) abort();
        for (size_t i = 0; i < n; i++) {
            if (strlen(ev[i].text) != ev[i].len) abort();
            if (ev[i].kind == OP_EV_CONTENT || ev[i].kind == OP_EV_REASONING) streamed += ev[i].len;
        }
        at += take;
    }
    if (op_finish(&p, &ev, &n)) abort();
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == OP_EV_CONTENT || ev[i].kind == OP_EV_REASONING) streamed += ev[i].len;
    if (streamed != p.content.len + p.reasoning.len) abort();
    o->content = p.content.s ? strdup(p.content.s) : NULL;
    o->reasoning = p.reasoning.s ? strdup(p.reasoning.s) : NULL;
    o->n_calls = p.n_calls;
    if (su->max_calls && p.n_calls > su->max_calls) abort();
    size_t total = 0;
    for (size_t i = 0; i < p.n_calls; i++)
        total += strlen(p.calls[i].name) + strlen(p.calls[i].arguments) + 2;
    o->calls = malloc(total + 1);
    if (!o->calls) abort();
    o->calls_len = 0;
    for (size_t i = 0; i < p.n_calls; i++) {
        size_t a = strlen(p.calls[i].name) + 1, b = strlen(p.calls[i].arguments) + 1;
        memcpy(o->calls + o->calls_len, p.calls[i].name, a);
        memcpy(o->calls + o->calls_len + a, p.calls[i].arguments, b);
        o->calls_len += a + b;
    }
    op_free(&p);
}

static int differ(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    setup su = {.mode = (op_think_mode)(data[0] % 3),
                .tools = data[0] & 4,
                .format = (op_tool_format)(data[1] % OP_TOOLS_COUNT),
                .max_calls = data[1] & 4 ? 1 : 0};
    unsigned step = (data[0] >> 3) + 1;
    /* Event texts are C strings: the parser is fed text without NUL bytes, as detokenized text is.
     */
    char *text = malloc(size);
    if (!text) return 0;
    size_t len = 0;
    for (size_t i = 2; i < size; i++)
        if (data[i]) text[len++] = (char)data[i];
    outcome whole, cut;
    run_parse(&su, text, len, 0, &whole);
    run_parse(&su, text, len, step, &cut);
    if (differ(whole.content, cut.content) || differ(whole.reasoning, cut.reasoning) ||
        whole.n_calls != cut.n_calls || whole.calls_len != cut.calls_len ||
        memcmp(whole.calls, cut.calls, whole.calls_len) != 0)
        abort();
    free(whole.calls);
    free(cut.calls);
    free(whole.content);
    free(whole.reasoning);
    free(cut.content);
    free(cut.reasoning);
    free(text);
    return 0;
}
