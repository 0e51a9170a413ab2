/* The state of one generation request (gen_job, a gen_choice per sequence) and how the engine's
 * events become its output: text, logprobs and tool calls, streamed as SSE chunks or kept for one
 * JSON answer. generation.c creates, submits and drives a job; this module never talks to the
 * engine beyond cancelling a sequence whose stop string matched. */
#ifndef BERTH_SERVE_GEN_JOB_H
#define BERTH_SERVE_GEN_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/api/api_request.h"
#include "server/serve/constraint.h"
#include "server/serve/output_parser.h"
#include "server/serve/serve.h"
#include "server/serve/text_output.h"

/* ---- per-choice state ---- */

typedef struct token_logprob_owned {
    api_token_logprob lp;
    api_top_logprob top[SAMPLER_MAX_LOGPROBS];
} token_logprob_owned;

typedef struct gen_choice {
    int index;
    const int32_t *prompt;
    int32_t prompt_len;
    engine_request *req;
    text_output out;
    op_parser parse; /* chat with tools or a <think> template: reasoning and tool calls */
    bool parsing;
    bool keep_special; /* mistral tool parsing: special tokens decoded, the final stop token not */
    bool done, started;
    const char *finish_reason;
    const char
        *error; /* its constraint failed (engine_event.error), or out of memory: an error answer */
    bool out_of_memory; /* error is "out of memory": its output could not be kept or sent */
    int32_t completion_tokens;
    int32_t cached_tokens; /* prompt tokens the engine found in its prefix cache */
    char *text;            /* non-streaming: everything emitted */
    size_t text_len, text_cap;
    token_logprob_owned *lps; /* non-streaming logprobs */
    size_t n_lps, cap_lps;
    size_t lp_offset; /* streamed completions: text_offset of the next logprob's token */
    /* The prompt's logprobs, taken from the engine with the first token: echoed ones go first in
     * lps (streamed: in the first chunk), prompt_logprobs as vLLM's JSON array. */
    bool prompt_taken;
    char *prompt_logprobs_json;
} gen_choice;

typedef struct gen_job {
    serve_ctx *s;
    bool chat, streaming, include_usage, continuous_usage, echo, want_logprobs;
    op_think_mode think; /* chat: from the template and the rendered prompt */
    bool parse_tools;    /* chat: the request has tools and tool_choice is not "none" */
    int32_t top_logprobs;
    int32_t prompt_logprobs; /* api_sampling.prompt_logprobs: -1 = not asked */
    bool echo_only;          /* completions with echo and max_tokens 0: the prompt alone */
    char id[64];
    int64_t created;
    http_stream *stream;
    atomic_bool client_gone;
    bool failed; /* a choice ran out of memory: every choice stops and the request answers 500 */
    gen_choice *choices;
    size_t n_choices;
    int64_t prompt_tokens;
    double t_start, t_last_token;
    bool first_token_seen;
    api_chat_request chat_req;
    api_completion_request comp_req;
    int32_t **prompts; /* owned tokenized prompts */
    size_t n_prompts;
    char **prompt_texts; /* echo */
    char *rendered;      /* chat: the prompt text the template rendered */
    int32_t *scripted;   /* test only (--test-scripted-outputs): every choice's output tokens */
    int32_t n_scripted;
    sc_request constraint; /* structured output / enforced tool calls (entry NULL: none) */
} gen_job;

/* Frees the job and everything it owns (engine sequences released, the request freed). */
void gen_job_free(gen_job *j);
/* Pushes one SSE data event; a failed push marks the client gone. NULL json pushes nothing. */
void gen_job_push_sse(gen_job *j, const char *json);
/* The usage so far: every choice's completion tokens, each prompt's tokens and cached ones once. */
api_usage gen_job_usage(const gen_job *j);
/* Takes one engine event of choice c: its token's text and logprobs out, its finish handled. */
void gen_job_on_event(gen_job *j, gen_choice *c, const engine_event *ev);
/* Choice c's output could not be kept or sent: its sequence is cancelled, the job marked failed
 * (the caller still finishes the choice, with finish_reason "abort"). */
void gen_job_out_of_memory(gen_job *j, gen_choice *c);
/* Ends choice c with the finish reason given (a matched stop string overrides it). */
void gen_job_finish_choice(gen_job *j, gen_choice *c, const char *reason);
/* Answers a non-streamed job with its whole completion (or a 500 when out of memory); returns the
 * status sent. */
int gen_job_respond(gen_job *j);

#endif
