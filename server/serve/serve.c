/* Loading what serving needs, in the order a failure is cheapest to report: tokenizer and chat
 * template first (seconds), then the weights, then the engine's KV cache. */
#include "server/serve/serve.h"

#include "server/serve/constraint.h"

#include "models/source/model_source.h"

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

/* Without an explicit size the KV cache gets what kv_cache_bytes holds, capped at what a full batch
 * of full-length sequences could ever use. */
static int size_kv_cache(serve_ctx *s, bk_backend *be, char *err, size_t errlen)
{
    engine_config *ec = &s->engine_cfg;
    if (ec->num_kv_blocks > 0) return 0;
    int64_t max_len = ec->max_model_len > 0 ? ec->max_model_len : s->cfg->max_position_embeddings;
    int64_t seqs = ec->max_num_seqs > 0 ? ec->max_num_seqs : 64;
    size_t per_token = model_kv_bytes_per_token(s->m, be->kv_dtype);
    int64_t tokens = (int64_t)(s->opts.kv_cache_bytes / per_token);
    if (tokens > seqs * max_len) tokens = seqs * max_len;
    if (tokens < max_len) {
        snprintf(err, errlen,
                 "a KV cache of %zu bytes holds %lld tokens (%zu bytes each), less than one sequence of "
                 "max_model_len %lld: lower --max-model-len or raise --kv-cache-memory",
                 s->opts.kv_cache_bytes, (long long)tokens, per_token, (long long)max_len);
        return -1;
    }
    ec->num_kv_blocks = (int32_t)(tokens / BK_KV_BLOCK);
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

int serve_load(serve_ctx *s, bk_backend *be, char *err, size_t errlen)
{
    /* An s3:// model is downloaded (or found complete in the cache) first; names come from the URL. */
    char local_dir[4096];
    model_source_options so = {0};
    if (model_source_resolve(s->opts.model_dir, &so, local_dir, sizeof local_dir, err, errlen)) return -1;
    const char *dir = local_dir;
    if (tok_load_dir(&s->tok, dir, err, errlen)) return -1;
    const char *tmpl = tok_chat_template(s->tok);
    if (tmpl && ct_parse(&s->tmpl, tmpl, strlen(tmpl), err, errlen)) {
        char inner[512];
        snprintf(inner, sizeof inner, "%s", err);
        snprintf(err, errlen, "%s: chat template: %s", dir, inner);
        return -1;
    }
    if (model_load(&s->m, dir, be, err, errlen)) return -1;
    s->cfg = model_get_config(s->m);
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
    if (size_kv_cache(s, be, err, errlen) || engine_start(&s->eng, s->m, &s->engine_cfg, err, errlen))
        return -1;
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
}
