/* Chat messages to prompt text, as transformers' apply_chat_template does it for vLLM: the model's
 * own template rendered over the variables api_chat_template_vars builds (messages normalised as
 * vLLM normalises them, tools, add_generation_prompt, bos/eos tokens, the request's
 * chat_template_kwargs). */
#ifndef BERTH_SERVE_CHAT_PROMPT_H
#define BERTH_SERVE_CHAT_PROMPT_H

#include "server/api/api_error.h"
#include "server/api/api_request.h"
#include "server/serve/serve.h"

/* *prompt is malloc'd. Errors (template raised, bad kwargs) are 400s in *e. */
int chat_prompt_render(const serve_ctx *s, const api_chat_request *req, char **prompt, api_error *e);

#endif
