/* Fuzzes the reasoning / tool-call output parser: the first byte picks the think mode, tool parsing
 * and how the rest is cut into deltas; the text is parsed whole and cut, and both must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve/output_parser.h"

typedef struct outcome {
    char *content, *reasoning;
    size_t n_calls;
} outcome;

static void run_parse(op_think_mode mode, bool tools, const char *text, size_t len, unsigned step,
                      outcome *o)
{
    op_parser p;
    op_init(&p, mode, tools);
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
    op_free(&p);
}

static int differ(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    op_think_mode mode = (op_think_mode)(data[0] % 3);
    bool tools = data[0] & 4;
    unsigned step = (data[0] >> 3) + 1;
    /* Event texts are C strings: the parser is fed text without NUL bytes, as detokenized text is.
     */
    char *text = malloc(size);
    if (!text) return 0;
    size_t len = 0;
    for (size_t i = 1; i < size; i++)
        if (data[i]) text[len++] = (char)data[i];
    outcome whole, cut;
    run_parse(mode, tools, text, len, 0, &whole);
    run_parse(mode, tools, text, len, step, &cut);
    if (differ(whole.content, cut.content) || differ(whole.reasoning, cut.reasoning) ||
        whole.n_calls != cut.n_calls)
        abort();
    free(whole.content);
    free(whole.reasoning);
    free(cut.content);
    free(cut.reasoning);
    free(text);
    return 0;
}
