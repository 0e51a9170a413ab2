/* Fuzz target: the OpenAI request parsers (chat, completions, /invocations dispatch) on arbitrary
 * bytes, and the chat template variables built from every chat request that parses. Every input must
 * either parse (and free cleanly) or give a 400/500 error with a message. */
#include <stdint.h>
#include <stdlib.h>

#include "server/api/api_chat_vars.h"
#include "server/api/api_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    api_error e;
    api_chat_request chat;
    if (api_parse_chat_request(body, size, &chat, &e) == 0) {
        cJSON *vars = NULL;
        if (api_chat_template_vars(&chat, "<s>", "</s>", &vars, &e) != 0 && !e.message[0]) abort();
        cJSON_Delete(vars);
        api_chat_request_free(&chat);
    } else if (!e.message[0] || (e.status != 400 && e.status != 500)) abort();
    api_completion_request cmpl;
    if (api_parse_completion_request(body, size, &cmpl, &e) == 0) api_completion_request_free(&cmpl);
    else if (!e.message[0] || (e.status != 400 && e.status != 500)) abort();
    api_detect_kind(body, size, &e);
    return 0;
}
