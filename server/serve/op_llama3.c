/* The llama3_json tool-call format (vLLM's --tool-call-parser llama3_json; Llama 3.1-3.3): the
 * output is one or more objects {"name": ..., "parameters" (or "arguments"): {...}} separated by
 * ';', optionally after <|python_tag|>. As vLLM's streaming parser decides, only an output that
 * starts with them (whitespace aside) is calls; JSON later in an answer is content. An object
 * without a name or without parameters/arguments is not a call, so an answer that is plain JSON
 * stays content. */
#include <string.h>

#include "server/serve/op_format.h"

#define PYTHON_TAG "<|python_tag|>"

static size_t skip_ws(const op_parser *p, size_t i)
{
    while (i < p->len && op_is_ws(p->buf[i]))
        i++;
    return i;
}

static bool find_open(op_parser *p, bool final, size_t *seg, size_t *open_len)
{
    *open_len = 0;
    if (p->calls_closed) {
        *seg = p->len;
        return false;
    }
    size_t i = skip_ws(p, 0);
    if (p->n_calls == 0 && p->content.len == 0) {
        /* The start of the output: a call opens with <|python_tag|> or '{'. */
        if (i < p->len && p->buf[i] == '{') {
            *seg = 0;
            *open_len = i;
            return true;
        }
        size_t tag = strlen(PYTHON_TAG), have = p->len - i;
        if (i < p->len && op_prefix_of(p->buf + i, have, PYTHON_TAG)) {
            if (have >= tag) {
                *seg = 0;
                *open_len = i + tag;
                return true;
            }
            if (!final) {
                *seg = 0;
                return false;
            }
        } else if (i == p->len && !final) {
            *seg = 0;
            return false;
        }
    } else if (p->n_calls > 0 && p->after_tool) {
        /* After a call: ';' and the next one, or the end. */
        if (i < p->len && p->buf[i] == ';') {
            *seg = 0;
            *open_len = i + 1;
            return true;
        }
        if (i == p->len) {
            *seg = final ? p->len : 0;
            return false;
        }
    }
    p->calls_closed = true;
    *seg = p->len;
    return false;
}

static int not_a_call(op_parser *p)
{
    p->calls_closed = true;
    return op_section_malformed(p) ? -1 : 1;
}

static int scan(op_parser *p, bool final)
{
    if (p->tool_sub == 0) {
        size_t i = skip_ws(p, 0);
        if (i == p->len) return final ? not_a_call(p) : 0;
        if (p->buf[i] != '{') return not_a_call(p);
        op_json_begin(p, i);
        p->tool_sub = 1;
    }
    if (!op_json_scan(p)) return final ? not_a_call(p) : 0;
    int rc = op_call_from_object(p, p->buf + p->json_start, p->json_end - p->json_start,
                                 "parameters", true);
    if (rc < 0) return -1;
    if (rc == 0) return not_a_call(p);
    op_section_complete(p, p->json_end);
    return 1;
}

const op_format_ops op_llama3_ops = {.find_open = find_open, .scan = scan};
