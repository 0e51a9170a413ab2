/* What the tool-call formats share: scanning a JSON value as it streams in, the raw text of members
 * and elements (arguments reach the client as the model wrote them: numbers and unicode unchanged),
 * and recording a {"name", "arguments"} object as a call. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve/op_format.h"

void op_json_begin(op_parser *p, size_t at)
{
    p->json_start = at;
    p->scan = at + 1;
    p->depth = 1;
    p->in_string = p->escaped = false;
}

bool op_json_scan(op_parser *p)
{
    while (p->scan < p->len) {
        char c = p->buf[p->scan++];
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
            p->json_end = p->scan;
            return true;
        }
    }
    return false;
}

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

/* From t[i], the first byte of a value: the index of the ',' '}' or ']' that ends it. */
static size_t skip_value(const char *t, size_t n, size_t i)
{
    size_t depth = 0;
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
    return i;
}

static size_t trim_end(const char *t, size_t vs, size_t ve)
{
    while (ve > vs && op_is_ws(t[ve - 1]))
        ve--;
    return ve;
}

bool op_member_span(const char *t, size_t n, const char *key, size_t *off, size_t *vlen)
{
    size_t i = 1, klen = strlen(key);
    while (i < n) {
        while (i < n && (op_is_ws(t[i]) || t[i] == ','))
            i++;
        if (i >= n || t[i] != '"') return false;
        size_t ks = i + 1, ke = skip_string(t, n, i) - 1;
        i = ke + 1;
        while (i < n && (op_is_ws(t[i]) || t[i] == ':'))
            i++;
        size_t vs = i;
        i = skip_value(t, n, i);
        if (ke - ks == klen && memcmp(t + ks, key, klen) == 0) {
            *off = vs;
            *vlen = trim_end(t, vs, i) - vs;
            return true;
        }
    }
    return false;
}

bool op_next_element(const char *t, size_t n, size_t *i, size_t *off, size_t *vlen)
{
    size_t k = *i ? *i : 1;
    while (k < n && (op_is_ws(t[k]) || t[k] == ','))
        k++;
    if (k >= n || t[k] == ']') return false;
    size_t e = skip_value(t, n, k);
    *off = k;
    *vlen = trim_end(t, k, e) - k;
    *i = e;
    return true;
}

int op_call_from_object(op_parser *p, const char *t, size_t n, const char *alt_args,
                        bool args_required)
{
    cJSON *root = cJSON_ParseWithLength(t, n);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const char *key = "arguments";
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!args && alt_args) args = cJSON_GetObjectItemCaseSensitive(root, key = alt_args);
    if (!cJSON_IsObject(root) || !cJSON_IsString(name) || !name->valuestring[0] ||
        (args_required && !args)) {
        cJSON_Delete(root);
        return 0;
    }
    /* An object (or other value) as written; a string's value as is, which is already OpenAI's
     * form; "{}" when absent. */
    int rc;
    size_t off, vlen;
    if (!args)
        rc = op_record_call(p, name->valuestring, strlen(name->valuestring), "{}", 2, NULL);
    else if (cJSON_IsString(args))
        rc = op_record_call(p, name->valuestring, strlen(name->valuestring), args->valuestring,
                            strlen(args->valuestring), NULL);
    else if (op_member_span(t, n, key, &off, &vlen))
        rc = op_record_call(p, name->valuestring, strlen(name->valuestring), t + off, vlen, NULL);
    else {
        /* The key was written with escapes: cJSON's own rendering of the value. */
        char *printed = cJSON_PrintUnformatted(args);
        rc = printed ? op_record_call(p, name->valuestring, strlen(name->valuestring), printed,
                                      strlen(printed), NULL)
                     : -1;
        free(printed);
    }
    cJSON_Delete(root);
    return rc < 0 ? -1 : 1;
}
