/* OpenAI error envelopes and the context-length check. */
#include "server/api/api_error.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Messages quote what clients sent (a role, a path) and may be cut mid-character: bytes that are
 * not UTF-8 become '?' so every envelope is valid JSON. */
void api_error_sanitize(char *msg)
{
    unsigned char *p = (unsigned char *)msg;
    while (*p) {
        size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
                 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80) n = 0;
        if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) n = 0;
        if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) n = 0;
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

static const char *type_for_status(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

void api_error_set(api_error *e, int status, const char *type, const char *param, const char *code,
                   const char *fmt, ...)
{
    memset(e, 0, sizeof *e);
    e->status = status;
    snprintf(e->type, sizeof e->type, "%s", type ? type : type_for_status(status));
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    api_error_sanitize(e->message);
}

char *api_error_json(const api_error *e)
{
    cJSON *root = cJSON_CreateObject(), *o = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(o, "message", e->message);
    cJSON_AddStringToObject(o, "type", e->type);
    if (e->param[0]) cJSON_AddStringToObject(o, "param", e->param);
    else cJSON_AddNullToObject(o, "param");
    if (e->code[0]) cJSON_AddStringToObject(o, "code", e->code);
    else cJSON_AddNullToObject(o, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

void api_error_overloaded(api_error *e, int retry_after_s)
{
    api_error_set(e, 429, NULL, NULL, "server_overloaded",
                  "the server is at capacity (waiting queue full); retry after %d s", retry_after_s);
    e->retry_after = retry_after_s;
}

int api_check_context(int64_t prompt_tokens, int64_t max_tokens, int64_t max_model_len,
                      const char *param, api_error *e)
{
    int64_t want = prompt_tokens + (max_tokens < 0 ? 1 : max_tokens);
    if (want <= max_model_len) return 0;
    /* The message ends with the code: the OpenAI SDK puts only the message in the exception's
     * text, and LangChain tells a context overflow (ContextOverflowError, which its summarization
     * middleware recovers from) from other 400s by finding the code in that text. */
    if (max_tokens < 0)
        api_error_set(
            e, 400, NULL, param, "context_length_exceeded",
            "This model's maximum context length is %lld tokens. However, your %s resulted "
            "in %lld tokens, leaving no room to generate. Please reduce the length of the %s. "
            "(context_length_exceeded)",
            (long long)max_model_len, param, (long long)prompt_tokens, param);
    else
        api_error_set(e, 400, NULL, param, "context_length_exceeded",
                      "This model's maximum context length is %lld tokens. However, you requested "
                      "%lld tokens (%lld in the %s, %lld for the completion). Please reduce the "
                      "length of the %s or the completion. (context_length_exceeded)",
                      (long long)max_model_len, (long long)want, (long long)prompt_tokens, param,
                      (long long)max_tokens, param);
    return -1;
}
