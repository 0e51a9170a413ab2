/* Serving one model over the OpenAI API: the state shared by every route handler (model, tokenizer,
 * chat template, engine, metrics) and the handlers' registration. The path of a request:
 *   routes.c (which handler) -> chat_prompt.c (messages -> prompt text) -> tokenizer ->
 *   generation.c (engine requests, text_output per choice, JSON / SSE back to http). */
#ifndef BERTH_SERVE_SERVE_H
#define BERTH_SERVE_SERVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "models/arch/model.h"
#include "models/chat_template/chat_template.h"
#include "models/tokenizer/tokenizer.h"
#include "server/engine/engine.h"
#include "server/http/http.h"
#include "server/serve/metrics.h"
#include "server/serve/output_parser.h"
#include "server/serve/scripted_outputs.h"

typedef struct serve_options {
    const char *model_dir;
    const char *served_model_name; /* NULL: the model directory's last path component */
    double request_timeout_s;      /* 0 = none */
    int retry_after_s;             /* Retry-After on 429 */
    int max_seqs_per_request;      /* prompts x n of one request; more get 400 (0 = no cap) */
    /* KV-cache memory when engine_cfg.num_kv_blocks is 0; 0 = all the backend has left (CUDA, or a
     * CPU with a memory budget), else cpu_kv_fraction of MemAvailable (kv_budget_cpu_share). */
    size_t kv_cache_bytes;
    double cpu_kv_fraction; /* 0 = KV_BUDGET_CPU_FRACTION */
    /* --memory-mib in bytes (0 = none): the backend's budget, already given to it at create; here
     * the model is checked against it before and after its weights load (memory_share.h). */
    size_t memory_share;
    bool cpu_int8_weights;         /* --cpu-weights int8 (model_load_options) */
    bool tool_call_parser_given;   /* else the format is detected from the chat template */
    op_tool_format tool_call_parser;
    const char *test_scripted_outputs; /* test only: see scripted_outputs.h; NULL = off */
    /* test only (BERTH_TEST_FAIL_ALLOC_AT_TOKEN): a choice's output allocations fail from this
     * token on (gen_job.c); 0 = off */
    int64_t test_fail_alloc_at_token;
} serve_options;

typedef struct serve_ctx {
    serve_options opts;
    char model_name[256];
    model *m;
    tok_tokenizer *tok;
    ct_template *tmpl; /* NULL when the tokenizer has no chat template: chat requests get 400 */
    op_tool_format tool_format; /* how chat output's tool calls are read */
    engine *eng;
    engine_config engine_cfg;
    const model_config *cfg;
    const generation_config *gen;
    int32_t eos_ids[16];
    int num_eos;
    struct sc_cache *constraints; /* compiled grammars (server/serve/constraint.h) */
    atomic_bool ready; /* model, tokenizer and engine loaded: /health and /ping say 200 */
    int64_t created;
    metrics metrics;
    scripted_outputs scripted; /* used only when opts.test_scripted_outputs is set */
} serve_ctx;

/* Registers every route on the server. */
int serve_register_routes(serve_ctx *s, http_server *srv, char *err, size_t errlen);

/* Sets the model's name and creation time from the options. Call before the HTTP server starts: the
 * handlers read them at any time, also while the model loads. */
void serve_set_identity(serve_ctx *s);

/* Loads tokenizer, template and model from s->opts.model_dir onto be and starts the engine. */
int serve_load(serve_ctx *s, bk_backend *be, char *err, size_t errlen);
void serve_unload(serve_ctx *s);

/* Wall-clock seconds (monotonic). */
double serve_now(void);

#endif
