/* The variables a chat template is rendered with, built from a parsed chat request the way vLLM
 * normalises messages before transformers' apply_chat_template: content null or absent becomes "",
 * tool-call arguments that are a JSON object become objects, reasoning is offered under every name
 * templates read. Owns no parsing (api_request) and no rendering (models/chat_template). */
#ifndef BERTH_API_CHAT_VARS_H
#define BERTH_API_CHAT_VARS_H

#include <cjson/cJSON.h>

#include "server/api/api_error.h"
#include "server/api/api_request.h"

/* The normalised message list: one object per message, keys in vLLM's order. NULL out of memory. */
cJSON *api_chat_messages_json(const api_chat_request *req);

/* Every template variable: bos_token/eos_token (NULL: left out), the request's chat_template_kwargs
 * over them, then messages, tools (None without tools), documents and add_generation_prompt over
 * both, in apply_chat_template's order. 0, or -1 with a 400/500 in *e. */
int api_chat_template_vars(const api_chat_request *req, const char *bos_token,
                           const char *eos_token, cJSON **out, api_error *e);

#endif
