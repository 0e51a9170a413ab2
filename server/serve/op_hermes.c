/* The hermes tool-call format (vLLM's --tool-call-parser hermes; Qwen2.5/3, Hermes): each
 * <tool_call>{"name": ..., "arguments": {...}}</tool_call> anywhere in the content is a call. */
#include <string.h>

#include "server/serve/op_format.h"

#define TOOL_OPEN "<tool_call>"
#define TOOL_CLOSE "</tool_call>"

/* Where the body stands: whitespace before the JSON, inside it, after it until </tool_call>. */
enum { TS_LEAD, TS_JSON, TS_TAIL };

static bool find_open(op_parser *p, bool final, size_t *seg, size_t *open_len)
{
    return op_find_tag(p, TOOL_OPEN, final, seg, open_len);
}

static int complete(op_parser *p, size_t end)
{
    int rc =
        op_call_from_object(p, p->buf + p->json_start, p->json_end - p->json_start, NULL, false);
    if (rc < 0) return -1;
    if (rc == 0) return op_section_malformed(p) ? -1 : 1;
    op_section_complete(p, end);
    return 1;
}

static int scan(op_parser *p, bool final)
{
    size_t close_len = strlen(TOOL_CLOSE);
    while (p->scan < p->len) {
        if (p->tool_sub == TS_JSON) {
            if (op_json_scan(p)) p->tool_sub = TS_TAIL;
            continue;
        }
        char c = p->buf[p->scan];
        if (op_is_ws(c)) {
            p->scan++;
        } else if (p->tool_sub == TS_LEAD) {
            if (c != '{') return op_section_malformed(p) ? -1 : 1;
            p->tool_sub = TS_JSON;
            op_json_begin(p, p->scan);
        } else {
            size_t have = p->len - p->scan;
            if (!op_prefix_of(p->buf + p->scan, have, TOOL_CLOSE))
                return op_section_malformed(p) ? -1 : 1;
            if (have < close_len) break;
            return complete(p, p->scan + close_len);
        }
    }
    if (!final) return 0;
    /* vLLM's hermes parser accepts a call whose closing tag never came (the output was cut after
     * it). */
    if (p->tool_sub == TS_TAIL) return complete(p, p->len);
    return op_section_malformed(p) ? -1 : 1;
}

const op_format_ops op_hermes_ops = {.find_open = find_open, .scan = scan};
