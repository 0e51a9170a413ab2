/* One HTTP generation request from tokens to response: submits a sequence per choice to the engine,
 * then a producer thread hands engine events to the job's output (gen_job: text, OpenAI JSON or SSE
 * chunks) until every choice finished, the client left or the request timed out. Owns the parsed
 * request from here on. */
#ifndef BERTH_SERVE_GENERATION_H
#define BERTH_SERVE_GENERATION_H

#include "server/api/api_request.h"
#include "server/serve/serve.h"

/* POST .../chat/completions: takes ownership of *req (freed when the response is done). */
void gen_chat(serve_ctx *s, http_request *hr, api_chat_request *req);
/* POST .../completions: takes ownership of *req. */
void gen_completion(serve_ctx *s, http_request *hr, api_completion_request *req);

/* Answers an api_error as an OpenAI error envelope (and counts it). */
void serve_respond_error(serve_ctx *s, http_request *hr, const api_error *e);

#endif
