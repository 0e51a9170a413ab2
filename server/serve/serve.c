/* Loading what serving needs, in the order a failure is cheapest to report: tokenizer and chat
 * template first (seconds), then the weights, then the engine's KV cache. */
#include "server/serve/serve.h"

#include "models/loader/gguf_model.h"
#include "models/loader/gguf_tokenizer.h"
#include "server/serve/constraint.h"

#include "models/source/model_source.h"
#include "server/engine/kv_blocks.h"
#include "server/engine/kv_budget.h"
#include "server/engine/memory_share.h"
#include "server/engine/step_batch.h"
#include "server/engine/step_sampler.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double serve_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void add_eos(serve_ctx *s, int32_t id)
{
    if (id < 0) return;
    for (int i = 0; i < s->num_eos; i++)
        if (s->eos_ids[i] == id) return;
    if (s->num_eos < (int)(sizeof s->eos_ids / sizeof s->eos_ids[0])) s->eos_ids[s->num_eos++] = id;
}

/* MemAvailable from /proc/meminfo in bytes, 0 when it cannot be read. */
static size_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    fclose(f);
    return (size_t)kib * 1024;
}

/* What the KV cache may take when no size is given: the backend's remaining budget, or on a CPU
 * without a budget a share of the memory available (docs/deployment.md, "Memory"). */
static int choose_kv_memory(serve_ctx *s, bk_backend *be, char *err, size_t errlen)
{
    engine_config *ec = &s->engine_cfg;
    if (ec->num_kv_blocks > 0) return 0;
    if (s->opts.kv_cache_bytes) {
        ec->kv_cache_bytes = s->opts.kv_cache_bytes;
        return 0;
    }
    size_t left = be->ops->bytes_free ? be->ops->bytes_free(be) : SIZE_MAX;
    if (left != SIZE_MAX) {
        ec->kv_cache_bytes = SIZE_MAX;
        return 0;
    }
    double fraction =
        s->opts.cpu_kv_fraction > 0 ? s->opts.cpu_kv_fraction : KV_BUDGET_CPU_FRACTION;
    size_t avail = mem_available();
    if (!avail) {
        snprintf(err, errlen,
                 "cannot read MemAvailable from /proc/meminfo to size the KV cache: give "
                 "--kv-cache-memory or --memory-budget");
        return -1;
    }
    ec->kv_cache_bytes = kv_budget_cpu_share(avail, fraction, KV_BUDGET_CPU_CAP);
    fprintf(stderr,
            "berth serve: KV cache memory %zu bytes: %.2f of the %zu bytes available "
            "(--cpu-kv-cache-fraction; at most %zu)\n",
            ec->kv_cache_bytes, fraction, avail, KV_BUDGET_CPU_CAP);
    return 0;
}

/* Allocations in a backend are rounded up to at most this many bytes (CUDA: CU_ARENA_ALIGN). */
#define SHARE_ALIGN 256

/* What the model needs inside its memory share besides its weights, from the engine's settings as
 * engine_start will resolve them (docs/components.md, "Memory shares"). */
static void share_need(const serve_ctx *s, bk_backend *be, const model_config *mc, size_t weights,
                       memshare_need *need)
{
    engine_config ec = s->engine_cfg;
    bool len_given = ec.max_model_len > 0;
    if (ec.num_kv_blocks <= 0 && !ec.kv_cache_bytes)
        ec.kv_cache_bytes = s->opts.kv_cache_bytes ? s->opts.kv_cache_bytes : SIZE_MAX;
    engine_config_defaults(&ec, mc);
    bk_memory_stats ms = {0};
    if (be->ops->memory_stats) be->ops->memory_stats(be, &ms);
    int32_t T = ec.max_batched_tokens, S = ec.max_num_seqs, V = mc->vocab_size;
    size_t ws = ms.fixed +
                model_workspace_bytes(mc, T, S + engine_prompt_logit_rows(&ec), SHARE_ALIGN) +
                step_batch_device_bytes(T, S, kvb_blocks_for(ec.max_model_len), SHARE_ALIGN);
    if (!ec.host_sampling && be->ops->sample && V <= BK_SAMPLE_MAX_VOCAB) {
        ws += step_sampler_device_bytes(S, V, SHARE_ALIGN);
        if (be->ops->sample_workspace_bytes) ws += be->ops->sample_workspace_bytes(be, V);
    }
    size_t per_token = (size_t)mc->num_layers * 2 * (size_t)mc->num_kv_heads *
                       (size_t)mc->head_dim * bk_dtype_size(be->kv_dtype);
    int64_t blocks = ec.num_kv_blocks > 0 ? ec.num_kv_blocks
                     : len_given          ? kvb_blocks_for(ec.max_model_len)
                                          : 1;
    if (ec.cuda_graphs >= 0 && be->ops->graph_capture_begin) blocks++; /* the trash block */
    size_t kv = (size_t)blocks * BK_KV_BLOCK * per_token;
    *need = (memshare_need){.weights = weights,
                            .workspace = ws,
                            .min_kv = kv + (size_t)mc->num_layers * 2 * SHARE_ALIGN};
}

/* Before the weights load (a safetensors checkpoint: their size from the file headers), so that a
 * model that cannot fit refuses at once; GGUF weights are only known once dequantized. */
static int share_precheck(const serve_ctx *s, bk_backend *be, const char *dir, char *err,
                          size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%.4096s/config.json", dir);
    model_config mc;
    size_t weights;
    if (model_config_load(&mc, path, err, errlen) ||
        model_weights_bytes(dir, &mc, SHARE_ALIGN, &weights, err, errlen))
        return -1;
    memshare_need need;
    share_need(s, be, &mc, weights, &need);
    return memshare_fit(&need, s->opts.memory_share, err, errlen);
}

/* Once loaded, with the weights as the backend holds them; logs how the share is spent. */
static int share_check_loaded(serve_ctx *s, bk_backend *be, char *err, size_t errlen)
{
    bk_memory_stats ms = {0};
    if (be->ops->memory_stats) be->ops->memory_stats(be, &ms);
    memshare_need need;
    share_need(s, be, s->cfg, ms.in_use - ms.fixed, &need);
    if (memshare_fit(&need, s->opts.memory_share, err, errlen)) return -1;
    fprintf(stderr,
            "berth serve: memory share %.1f MiB: weights %.1f MiB, workspace %.1f MiB, the KV "
            "cache gets the rest (at least %.1f MiB)\n",
            (double)s->opts.memory_share / MEMSHARE_MIB, (double)need.weights / MEMSHARE_MIB,
            (double)need.workspace / MEMSHARE_MIB, (double)need.min_kv / MEMSHARE_MIB);
    return 0;
}

void serve_set_identity(serve_ctx *s)
{
    const char *from = s->opts.model_dir;
    if (s->opts.served_model_name && *s->opts.served_model_name) {
        snprintf(s->model_name, sizeof s->model_name, "%s", s->opts.served_model_name);
    } else {
        /* The last path component of the directory or s3:// prefix. */
        size_t n = strlen(from);
        while (n > 1 && from[n - 1] == '/') n--;
        size_t start = n;
        while (start > 0 && from[start - 1] != '/') start--;
        snprintf(s->model_name, sizeof s->model_name, "%.*s", (int)(n - start), from + start);
    }
    s->created = (int64_t)time(NULL);
}

/* A GGUF file carries its tokenizer and chat template in its metadata: they become the
 * tokenizer.json and tokenizer_config.json documents Hugging Face would ship. */
static int load_gguf_tokenizer(tok_tokenizer **tok, const char *path, char *err, size_t errlen)
{
    gguf_file *f;
    if (gguf_open(&f, path, err, errlen)) return -1;
    gguf_tok_docs d;
    int rc = gguf_tokenizer_docs(f, &d, err, errlen);
    if (rc == 0) {
        rc = tok_load_json(tok, d.tokenizer_json, d.tokenizer_len, d.config_json, d.config_len, path, err,
                           errlen);
        gguf_tok_docs_free(&d);
    }
    gguf_close(f);
    return rc;
}

int serve_load(serve_ctx *s, bk_backend *be, char *err, size_t errlen)
{
    if (s->opts.test_scripted_outputs)
        scripted_outputs_init(&s->scripted, s->opts.test_scripted_outputs);
    /* An s3:// model is downloaded (or found complete in the cache) first; names come from the URL. */
    char local_dir[4096];
    model_source_options so = {0};
    if (model_source_resolve(s->opts.model_dir, &so, local_dir, sizeof local_dir, err, errlen)) return -1;
    const char *dir = local_dir;
    char gguf_path[4096];
    int gguf = gguf_model_locate(dir, gguf_path, sizeof gguf_path, err, errlen);
    if (gguf < 0 || (gguf ? load_gguf_tokenizer(&s->tok, gguf_path, err, errlen)
                          : tok_load_dir(&s->tok, dir, err, errlen)))
        return -1;
    const char *tmpl = tok_chat_template(s->tok);
    if (tmpl && ct_parse(&s->tmpl, tmpl, strlen(tmpl), err, errlen)) {
        char inner[512];
        snprintf(inner, sizeof inner, "%s", err);
        snprintf(err, errlen, "%s: chat template: %s", dir, inner);
        return -1;
    }
    const char *why = "given by --tool-call-parser";
    s->tool_format = s->opts.tool_call_parser_given ? s->opts.tool_call_parser
                                                    : op_tool_format_detect(tmpl, &why);
    fprintf(stderr, "berth serve: tool-call parser %s (%s)\n", op_tool_format_name(s->tool_format),
            why);
    if (s->opts.memory_share && !gguf && share_precheck(s, be, dir, err, errlen)) return -1;
    model_load_options lo = {.cpu_int8_weights = s->opts.cpu_int8_weights};
    if (model_load_ex(&s->m, dir, be, &lo, err, errlen)) return -1;
    s->cfg = model_get_config(s->m);
    if (s->opts.memory_share && share_check_loaded(s, be, err, errlen)) return -1;
    s->gen = model_get_generation_config(s->m);
    if (tok_vocab_size(s->tok) > s->cfg->vocab_size) {
        snprintf(err, errlen, "%s: the tokenizer has %d tokens but the model's vocab_size is %d", dir,
                 tok_vocab_size(s->tok), s->cfg->vocab_size);
        return -1;
    }
    for (int i = 0; i < s->cfg->num_eos; i++) add_eos(s, s->cfg->eos_token_ids[i]);
    for (int i = 0; i < s->gen->num_eos; i++) add_eos(s, s->gen->eos_token_ids[i]);
    if (tok_eos_token(s->tok)) add_eos(s, tok_token_id(s->tok, tok_eos_token(s->tok)));
    /* The grammar vocabulary knows the tokenizer's tokens; an eos id past them is never sampled
     * under a constraint anyway. */
    int32_t geos[16];
    int ng = 0;
    for (int i = 0; i < s->num_eos; i++)
        if (s->eos_ids[i] >= 0 && s->eos_ids[i] < tok_vocab_size(s->tok)) geos[ng++] = s->eos_ids[i];
    if (sc_cache_new(&s->constraints, s->tok, s->cfg->vocab_size, geos, ng, 64, err, errlen))
        return -1;
    bool len_given = s->engine_cfg.max_model_len > 0;
    if (choose_kv_memory(s, be, err, errlen) ||
        engine_start(&s->eng, s->m, &s->engine_cfg, err, errlen))
        return -1;
    if (s->opts.test_scripted_outputs) {
        fprintf(stderr,
                "berth serve: TEST ONLY: every generation emits the next output of %s, not the "
                "model's (--test-scripted-outputs)\n",
                s->opts.test_scripted_outputs);
    }
    if (!len_given && s->engine_cfg.max_model_len < s->cfg->max_position_embeddings)
        fprintf(
            stderr,
            "berth serve: max_model_len lowered from the model's %d to %d: the KV cache holds %d "
            "tokens (more memory for it serves longer sequences)\n",
            s->cfg->max_position_embeddings, s->engine_cfg.max_model_len,
            s->engine_cfg.num_kv_blocks * BK_KV_BLOCK);
    atomic_store(&s->ready, true);
    return 0;
}

void serve_unload(serve_ctx *s)
{
    atomic_store(&s->ready, false);
    engine_stop(s->eng);
    s->eng = NULL;
    sc_cache_free(s->constraints);
    s->constraints = NULL;
    model_free(s->m);
    s->m = NULL;
    if (s->tmpl) ct_free(s->tmpl);
    s->tmpl = NULL;
    tok_free(s->tok);
    s->tok = NULL;
    if (s->scripted.path) scripted_outputs_destroy(&s->scripted); /* set by serve_load's init */
    s->scripted.path = NULL;
}
