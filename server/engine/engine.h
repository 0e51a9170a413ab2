/* The engine: one thread that owns the model and the device, runs continuous batching over the paged
 * KV cache, and streams sampled tokens to per-request queues. HTTP threads talk to it only through
 * engine_submit / engine_next / engine_cancel / engine_release. Must not: parse requests, detokenize or
 * format responses (server/api does that). */
#ifndef BERTH_ENGINE_ENGINE_H
#define BERTH_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "models/arch/model.h"
#include "server/engine/sampler.h"

typedef struct engine_config {
    int32_t max_num_seqs;       /* sequences running at once */
    int32_t max_batched_tokens; /* token budget of one step (chunked prefill + decodes) */
    int32_t max_model_len;      /* prompt + generated tokens of one sequence */
    int32_t num_kv_blocks;      /* KV cache size in blocks of BK_KV_BLOCK tokens */
    /* When num_kv_blocks is 0: the KV cache's memory, SIZE_MAX = all the backend has left after the
     * weights and the workspace; the cache then holds what fits, and a max_model_len left 0 is
     * lowered from the model's to what the cache holds (kv_budget.h). 0 = four sequences of
     * max_model_len. */
    size_t kv_cache_bytes;
    /* Sequences queued beyond the running batch: submit reports overload when a request's
     * sequences do not fit max_num_seqs + max_waiting minus those already running or waiting. */
    int32_t max_waiting;
    float kv_watermark;         /* fraction of blocks kept free when admitting new sequences */
    /* Sample on the host (sampler.c on downloaded logits) instead of with the backend's sample op:
     * the reference in tests. Forced for a vocabulary above BK_SAMPLE_MAX_VOCAB. */
    bool host_sampling;
    /* Decode steps as CUDA graphs: 0 = on when the backend has the graph hooks (resolved to 1 or
     * -1 by engine_start), < 0 = off (every step op by op). */
    int32_t cuda_graphs;
    /* Host threads computing constraint masks while the forward runs: 0 = the default (2). */
    int32_t mask_threads;
    /* Automatic prefix caching (prefix_cache.h): 0 = on (resolved to 1 by engine_start), < 0 off.
     */
    int32_t prefix_caching;
    /* Test only: the prefix cache's key function (a constant one forces collisions); NULL = the
     * default. */
    uint64_t (*prefix_cache_hash)(uint64_t parent, const int32_t *tokens, int32_t n);
} engine_config;

typedef enum {
    FINISH_NONE = 0,
    FINISH_STOP,   /* an end-of-sequence or stop token */
    FINISH_LENGTH, /* max_tokens or max_model_len */
    FINISH_ABORT,  /* cancelled */
    FINISH_ERROR,  /* failed alone (its constraint's mask or matcher failed); the engine goes on */
} finish_reason;

/* A request's output constraint, as the engine sees it: matcher operations over a grammar that the
 * caller owns and shares between requests (server/serve/constraint.c adapts models/grammar). The
 * engine makes one matcher per request, computes its mask on the mask threads while the step's
 * forward runs, accepts each sampled token and finishes the request when the matcher is
 * terminated; it calls release(grammar) once when the request is freed. */
typedef struct engine_constraint_ops {
    void *(*matcher_new)(void *grammar); /* NULL: out of memory */
    void (*matcher_free)(void *matcher);
    /* 0, or -1 on failure (e.g. a time bound): the request ends with FINISH_ERROR, the step and
     * the other requests go on. */
    int (*fill_mask)(void *matcher, uint32_t *mask);
    /* 0; -1: the token is not allowed; -2: the matcher failed on its own limits (work, stack
     * count, time), which says nothing about the token. Either ends the request (FINISH_ERROR). */
    int (*accept)(void *matcher, int32_t token);
    bool (*is_terminated)(const void *matcher);       /* only end-of-sequence can follow */
    void (*release)(void *grammar);
} engine_constraint_ops;

typedef struct engine_constraint {
    const engine_constraint_ops *ops; /* NULL: unconstrained */
    void *grammar;
    /* -1: constrained from the first generated token. Else the constraint starts once this token
     * has been generated (Qwen3's </think>: the reasoning stays free; <tool_call>: a strict tool's
     * arguments under tool_choice auto), and the tokens before it are free. */
    int32_t trigger_token;
    /* has_open (with a trigger): the constraint holds from the first token, but open_token is also
     * allowed as the first one, and then the constraint waits for the trigger instead (Qwen3 with
     * thinking left to the model: <think> first means reasoning until </think>). */
    bool has_open;
    int32_t open_token;
    /* With a trigger: after the matcher is terminated, the output is free again until the next
     * trigger (a tool call closed, more text or calls may follow); without: the request finishes. */
    bool rearm;
    /* Tokens allowed, besides the grammar's, as the first prefix_max tokens after the trigger
     * (whitespace the model writes after </think>), never before the first token of a constraint
     * held from the start (has_open or no trigger); mask layout of kernels/backend.h; NULL: none.
     * Owned by the caller, alive as long as the grammar. */
    const uint32_t *prefix_mask;
    int32_t prefix_max;
} engine_constraint;

typedef struct engine_request_params {
    sampling_params sampling; /* arrays are copied at submit */
    int32_t max_tokens;       /* > 0; prompt + max_tokens must fit max_model_len */
    int32_t min_tokens;
    const int32_t *stop_token_ids; /* finish the sequence (eos ids included by the caller) */
    int32_t num_stop_token_ids;
    /* Test only (berth serve --test-scripted-outputs): tokens published in place of the sampled
     * ones, in order, with logprob 0 and no alternatives. The forward and sampling still run, so
     * batching, the KV cache and the stop checks see a real sequence; after the last one, sampled
     * tokens are published as usual. Copied at submit; NULL/0 for every real request. */
    const int32_t *scripted_tokens;
    int32_t num_scripted_tokens;
    /* On ENGINE_OK the engine owns the grammar reference (it calls release); on any other status
     * the caller still does. */
    engine_constraint constraint;
    /* Prompt logprobs (echo with logprobs, vLLM's prompt_logprobs): the prefill produces logits at
     * every prompt position, and the engine keeps per position the next prompt token's logprob,
     * rank and the prompt_top_logprobs (0..SAMPLER_MAX_LOGPROBS) most likely tokens; read them
     * with engine_prompt_logprob. Such a request computes its whole prompt (no prefix cache). */
    bool prompt_logprobs;
    int32_t prompt_top_logprobs;
} engine_request_params;

typedef struct engine_event {
    bool has_token;
    sampled_token token;
    finish_reason finish;
    int32_t prompt_tokens, completion_tokens;
    int32_t cached_tokens; /* prompt tokens found in the prefix cache when it was first scheduled */
    const char *error;     /* FINISH_ERROR: what failed (a static string), else NULL */
} engine_event;

typedef enum {
    ENGINE_OK = 0,
    ENGINE_OVERLOADED, /* the waiting queue is full: retry later (HTTP 429) */
    ENGINE_TOO_LONG,   /* prompt + max_tokens exceeds max_model_len */
    ENGINE_INVALID,    /* a token id outside the vocabulary, an empty prompt, bad params */
    ENGINE_STOPPED,    /* the engine is shutting down or failed */
    ENGINE_TOO_MANY,   /* more sequences than max_num_seqs + max_waiting: can never be queued */
} engine_status;

typedef struct engine_stats {
    int32_t running, waiting;
    int32_t kv_blocks_used, kv_blocks_total;
    uint64_t prompt_tokens_total, generation_tokens_total, preemptions_total, steps_total;
    uint64_t graph_steps_total; /* steps run as a replayed graph */
    uint64_t abandoned_steps_total; /* steps stopped between layers for a cancelled prefill */
    uint64_t constrained_steps_total; /* steps with at least one constrained row */
    uint64_t mask_wait_ns_total;      /* engine thread waiting for masks after its forward */
    uint64_t mask_compute_ns_total;   /* mask threads computing masks (hidden behind forwards) */
    /* The backend's memory (bk_memory_stats) as of the last step: budget 0 = no limit. */
    size_t memory_budget_bytes, memory_in_use_bytes, memory_peak_bytes;
    /* Prefix cache: prompt tokens looked up and found (each admission, as vLLM counts), and the
     * blocks whose content is indexed (held or evictable). */
    uint64_t prefix_cache_queries_total, prefix_cache_hits_total;
    int32_t prefix_cache_blocks;
} engine_stats;

typedef struct engine engine;
typedef struct engine_request engine_request;

/* Reserves the model's KV cache and workspace for cfg and starts the engine thread. Zero fields of cfg
 * get defaults (see engine_config_defaults); the resolved values are written back. */
int engine_start(engine **out, model *m, engine_config *cfg, char *err, size_t errlen);
/* Stops the thread: running and waiting requests finish with FINISH_ABORT, and later submissions get
 * ENGINE_STOPPED. Returns once every request has been released by its holder (engine_release). The
 * engine stays valid (stats can be read) until engine_stop; calling it twice is harmless. */
void engine_shutdown(engine *e);
/* engine_shutdown, then frees the engine: no thread may use it afterwards. */
void engine_stop(engine *e);

void engine_config_defaults(engine_config *cfg, const model_config *mc);

/* Queues a request of one sequence. The prompt and params are copied. */
engine_status engine_submit(engine *e, const int32_t *prompt, int32_t prompt_len,
                            const engine_request_params *params, engine_request **out, char *err,
                            size_t errlen);
/* Queues the count sequences of one client request (its prompts times n), all or none: out[i] gets
 * sequence i. Admission is round-robin between requests: the k-th waiting sequence of a request is
 * admitted after the k-1-th of every other, so a request of many sequences does not hold a small
 * one back behind all of them. */
engine_status engine_submit_group(engine *e, int32_t count, const int32_t *const *prompts,
                                  const int32_t *prompt_lens, const engine_request_params *params,
                                  engine_request **out, char *err, size_t errlen);
/* Waits up to timeout_ms (-1: forever) for the next event. Returns 1 with an event, 0 on timeout,
 * -1 when the request is finished and every event has been read. */
int engine_next(engine_request *r, engine_event *ev, int timeout_ms);
/* Stops generation (client gone, stop string matched): the sequence and its KV blocks are freed at the
 * start of the next step. */
void engine_cancel(engine_request *r);
/* The caller is done with r (cancels it if still running). r must not be used afterwards. */
void engine_release(engine_request *r);

/* After the request's first event with a token (its prompt is computed by then), for a request
 * submitted with prompt_logprobs: position i in 1 .. prompt_len-1 gets the logprob of prompt token
 * i given the tokens before it (log-softmax of the raw logits, as the sampler's logprobs), its
 * rank (1 + the tokens more likely) and the top entries. Returns 0, or -1 when the request did
 * not ask or i is out of range. */
int engine_prompt_logprob(const engine_request *r, int32_t i, sampled_token *out, int32_t *rank);
/* The logits rows a step keeps, beside one per sequence, for prompt positions of requests that ask
 * for prompt logprobs (the model's workspace holds max_num_seqs + this many rows): a bounded
 * number per step, so the logits memory stays bounded whatever the prompt's length. 0: prompt
 * logprobs cannot be served (max_batched_tokens == max_num_seqs). */
int32_t engine_prompt_logit_rows(const engine_config *cfg);

void engine_get_stats(engine *e, engine_stats *out);
/* Drops the prefix cache's index (POST /reset_prefix_cache): blocks held by sequences stay theirs,
 * the others become free. Returns once the engine thread has done it (after the step in flight). */
void engine_reset_prefix_cache(engine *e);

#endif
