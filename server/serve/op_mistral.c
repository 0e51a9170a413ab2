/* The mistral tool-call format (vLLM's --tool-call-parser mistral): [TOOL_CALLS] anywhere in the
 * content opens calls, written either as a JSON array [{"name": ..., "arguments": {...}}, ...]
 * (Mistral 7B v0.3, Nemo, Small; a single object is accepted too) or, from tokenizer v11 on, as
 * name{...} / name[ARGS]{...} / name[CALL_ID]id[ARGS]{...}, each call after its own [TOOL_CALLS].
 * Text before the first [TOOL_CALLS] is content; call ids are 9 alphanumerics as Mistral's
 * templates require (the model's own [CALL_ID] when it wrote a valid one). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve/op_format.h"

#define TOOL_CALLS "[TOOL_CALLS]"
#define ARGS "[ARGS]"
#define CALL_ID "[CALL_ID]"

/* Where the section stands: before the calls, in a JSON value, in a name, after the name (before
 * [ARGS] or [CALL_ID]), in a call id, after [ARGS] before the arguments object. */
enum { MS_LEAD, MS_JSON, MS_NAME, MS_AFTER_NAME, MS_ID, MS_ARGS_LEAD, MS_ARGS };

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool find_open(op_parser *p, bool final, size_t *seg, size_t *open_len)
{
    return op_find_tag(p, TOOL_CALLS, final, seg, open_len);
}

static int malformed(op_parser *p)
{
    return op_section_malformed(p) ? -1 : 1;
}

/* The JSON after [TOOL_CALLS]: an array of call objects (all of them calls, or none is) or one. */
static int complete_json(op_parser *p)
{
    const char *t = p->buf + p->json_start;
    size_t n = p->json_end - p->json_start;
    if (t[0] == '{') {
        int rc = op_call_from_object(p, t, n, NULL, false);
        if (rc <= 0) return rc < 0 ? -1 : malformed(p);
        op_section_complete(p, p->json_end);
        return 1;
    }
    cJSON *root = cJSON_ParseWithLength(t, n);
    bool ok = cJSON_IsArray(root) && cJSON_GetArraySize(root) > 0;
    for (const cJSON *el = root ? root->child : NULL; ok && el; el = el->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(el, "name");
        ok = cJSON_IsObject(el) && cJSON_IsString(name) && name->valuestring[0];
    }
    cJSON_Delete(root);
    if (!ok) return malformed(p);
    size_t i = 0, off, len;
    while (op_next_element(t, n, &i, &off, &len))
        if (op_call_from_object(p, t + off, len, NULL, false) < 0) return -1;
    op_section_complete(p, p->json_end);
    return 1;
}

/* name[...]{arguments}: the arguments object has ended at p->json_end. */
static int complete_named(op_parser *p)
{
    const char *t = p->buf + p->json_start;
    size_t n = p->json_end - p->json_start;
    cJSON *args = cJSON_ParseWithLength(t, n);
    bool ok = cJSON_IsObject(args);
    cJSON_Delete(args);
    if (!ok) return malformed(p);
    char id[16] = {0};
    size_t id_len = p->id_end - p->id_start;
    if (id_len == 9) memcpy(id, p->buf + p->id_start, 9);
    if (op_record_call(p, p->buf + p->name_start, p->name_end - p->name_start, t, n,
                       id[0] ? id : NULL))
        return -1;
    op_section_complete(p, p->json_end);
    return 1;
}

/* At p->scan: does tag come next? 1 yes (skipped), 0 no, -1 too early to say. */
static int take_tag(op_parser *p, const char *tag, bool final)
{
    size_t have = p->len - p->scan, t = strlen(tag);
    if (!op_prefix_of(p->buf + p->scan, have, tag)) return 0;
    if (have < t) return final ? 0 : -1;
    p->scan += t;
    return 1;
}

static int scan(op_parser *p, bool final)
{
    while (p->scan < p->len) {
        char c = p->buf[p->scan];
        switch (p->tool_sub) {
        case MS_LEAD:
            if (op_is_ws(c)) {
                p->scan++;
            } else if (c == '[' || c == '{') {
                op_json_begin(p, p->scan);
                p->tool_sub = MS_JSON;
            } else if (is_name_char(c)) {
                p->name_start = p->scan;
                p->id_start = p->id_end = 0;
                p->tool_sub = MS_NAME;
            } else {
                return malformed(p);
            }
            break;
        case MS_JSON:
            if (op_json_scan(p)) return complete_json(p);
            break;
        case MS_NAME:
            if (is_name_char(c)) {
                p->scan++;
            } else {
                p->name_end = p->scan;
                p->tool_sub = MS_AFTER_NAME;
            }
            break;
        case MS_AFTER_NAME: {
            if (c == '{') {
                p->tool_sub = MS_ARGS_LEAD;
                break;
            }
            int a = take_tag(p, ARGS, final), b = a ? 0 : take_tag(p, CALL_ID, final);
            if (a < 0 || b < 0) return 0;
            if (a == 0 && b == 0) return malformed(p);
            if (b) p->id_start = p->id_end = p->scan;
            p->tool_sub = a ? MS_ARGS_LEAD : MS_ID;
            break;
        }
        case MS_ID:
            if (is_alnum(c)) {
                p->id_end = ++p->scan;
                break;
            }
            {
                int a = take_tag(p, ARGS, final);
                if (a < 0) return 0;
                if (a == 0) return malformed(p);
                p->tool_sub = MS_ARGS_LEAD;
            }
            break;
        case MS_ARGS_LEAD:
            if (op_is_ws(c)) {
                p->scan++;
            } else if (c == '{') {
                op_json_begin(p, p->scan);
                p->tool_sub = MS_ARGS;
            } else {
                return malformed(p);
            }
            break;
        default:
            if (op_json_scan(p)) return complete_named(p);
            break;
        }
    }
    return final ? malformed(p) : 0;
}

const op_format_ops op_mistral_ops = {.find_open = find_open, .scan = scan};
