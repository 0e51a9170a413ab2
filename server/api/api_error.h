/* OpenAI error envelopes: the error struct every api_ function fills, its JSON, and the
 * context-length check. Knows nothing of HTTP transport (server/http) or the engine. */
#ifndef BERTH_API_ERROR_H
#define BERTH_API_ERROR_H

#include <stdint.h>

/* {"error":{"message","type","param","code"}}; empty param/code are written as null.
 * retry_after > 0 asks the transport for a Retry-After header (seconds). */
typedef struct api_error {
    int status;
    char type[48];
    char param[64];
    char code[48];
    char message[512];
    int retry_after;
} api_error;

/* type: NULL picks the OpenAI type for the status (400/404/405/413 invalid_request_error,
 * 401 authentication_error, 403 permission_error, 429 rate_limit_error, 5xx server_error). */
void api_error_set(api_error *e, int status, const char *type, const char *param, const char *code,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Replaces bytes of msg that are not UTF-8 with '?' (api_error_set does this to its message). */
void api_error_sanitize(char *msg);
/* The envelope as a malloc'ed JSON string (NULL on OOM). */
char *api_error_json(const api_error *e);
/* 429 for a full waiting queue, with Retry-After. */
void api_error_overloaded(api_error *e, int retry_after_s);

/* prompt_tokens + max_tokens (-1 = unset: at least one token to generate) must fit max_model_len;
 * otherwise 400 code "context_length_exceeded" naming param (e.g. "messages" or "prompt").
 * Returns 0 when it fits, -1 with e filled. */
int api_check_context(int64_t prompt_tokens, int64_t max_tokens, int64_t max_model_len,
                      const char *param, api_error *e);

#endif
