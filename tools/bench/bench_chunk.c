/* Chunk reading follows what `vllm bench serve` reads: a chunk with a choice marks a token
 * (choices[0].text for /completions, choices[0].delta.content or reasoning_content for chat),
 * usage.completion_tokens gives the count. Unlike vllm, a bare finish chunk is not a token. */
#include "tools/bench/bench_chunk.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* 1: a non-empty string, 0: an empty string, -1: absent or not a string. */
static int string_kind(const cJSON *item)
{
    if (!cJSON_IsString(item) || !item->valuestring) return -1;
    return item->valuestring[0] != '\0';
}

static void set_error(bench_chunk *out, const char *fmt, const char *detail, size_t detail_len)
{
    out->error = true;
    int shown = detail_len > 120 ? 120 : (int)detail_len;
    snprintf(out->message, sizeof out->message, fmt, shown, detail);
}

static bool read_count(const cJSON *usage, const char *name, long *value)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15) return false;
    *value = (long)v->valuedouble;
    return true;
}

void bench_chunk_parse(const char *data, size_t len, bench_chunk *out)
{
    memset(out, 0, sizeof *out);
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        out->done = true;
        return;
    }
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (!cJSON_IsObject(root)) {
        set_error(out, "stream chunk is not a JSON object: %.*s", data, len);
        cJSON_Delete(root);
        return;
    }
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (error && !cJSON_IsNull(error)) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
        if (cJSON_IsString(msg) && msg->valuestring)
            set_error(out, "server error in stream: %.*s", msg->valuestring,
                      strlen(msg->valuestring));
        else
            set_error(out, "server error in stream: %.*s", data, len);
        cJSON_Delete(root);
        return;
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *first = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    if (cJSON_IsObject(first)) {
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(first, "delta");
        int kind;
        if (cJSON_IsObject(delta)) {
            int content = string_kind(cJSON_GetObjectItemCaseSensitive(delta, "content"));
            int reasoning = string_kind(cJSON_GetObjectItemCaseSensitive(delta, "reasoning_content"));
            kind = content > reasoning ? content : reasoning;
        } else {
            kind = string_kind(cJSON_GetObjectItemCaseSensitive(first, "text"));
        }
        const cJSON *finish = cJSON_GetObjectItemCaseSensitive(first, "finish_reason");
        bool finishing = finish && !cJSON_IsNull(finish);
        out->token = kind == 1 || (kind == 0 && !finishing);
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    if (cJSON_IsObject(usage))
        out->usage = read_count(usage, "prompt_tokens", &out->prompt_tokens) &&
                     read_count(usage, "completion_tokens", &out->completion_tokens);
    cJSON_Delete(root);
}
