/* Structured outputs and enforced tool choice for a served model: turns a request's constraint
 * (response_format, structured_outputs / guided_*, tool_choice required or named, strict tools,
 * parallel_tool_calls false) into a compiled grammar shared through a bounded LRU cache keyed by
 * its source text, and hands the engine an engine_constraint over it. Owns the grammar vocabulary,
 * the cache and the references. Must not: parse HTTP or reach into the engine. */
#ifndef BERTH_SERVE_CONSTRAINT_H
#define BERTH_SERVE_CONSTRAINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/tokenizer/tokenizer.h"
#include "server/api/api_request.h"
#include "server/engine/engine.h"
#include "server/serve/output_parser.h"

/* The largest schema, regex, grammar or tools text compiled (a bound on compile time and memory
 * besides the grammar engine's own). */
#define SC_MAX_SOURCE (256 * 1024)
/* Tokens of newlines only allowed after </think> before the constrained output starts (Qwen3
 * writes "\n\n" there; the output parser drops those newlines from the content). */
#define SC_THINK_WHITESPACE_TOKENS 2

typedef struct sc_cache sc_cache;
typedef struct sc_entry sc_entry;

/* model_vocab: the logits' width (>= the tokenizer's). capacity: compiled grammars kept. */
int sc_cache_new(sc_cache **out, const tok_tokenizer *tok, int32_t model_vocab,
                 const int32_t *eos_ids, int n_eos, size_t capacity, char *err, size_t errlen);
void sc_cache_free(sc_cache *c);
/* Grammars compiled and cache hits so far (tests, metrics). */
void sc_cache_counts(sc_cache *c, uint64_t *compiled, uint64_t *hits);

/* A request's resolved constraint: one reference on its grammar (entry NULL: none). */
typedef struct sc_request {
    sc_cache *cache;
    sc_entry *entry;
    engine_constraint base; /* ops, trigger, rearm, prefix: grammar filled per engine request */
} sc_request;

/* Chat: the structured-output fields, else tool_choice required / named, else strict tools or
 * parallel_tool_calls false under auto (a call's grammar from <tool_call> on). think: from the
 * prompt (OPEN: after </think>; OPTIONAL: from the first token unless it is <think>).
 * fmt: how the model writes calls; hermes and llama3_json calls are enforced, mistral's are not.
 * 0, or -1 with a 400 naming the field. */
int sc_for_chat(sc_cache *c, const api_chat_request *r, op_think_mode think, op_tool_format fmt,
                sc_request *out, api_error *e);
int sc_for_completion(sc_cache *c, const api_structured *s, sc_request *out, api_error *e);
/* For one engine request: out gets a new reference (the engine releases it; on a failed submit,
 * the caller calls out->ops->release(out->grammar)). Unconstrained: out->ops NULL. */
void sc_request_constraint(sc_request *r, engine_constraint *out);
/* Drops the request's own reference. */
void sc_request_release(sc_request *r);

#endif
