/* berth run: greedy generation from token ids with a local model, on the CPU backend. For debugging
 * the model (ids in, ids out, no tokenizer) and for measuring raw decode speed: --batch B runs B copies
 * of the prompt as B sequences in every step, exactly as the engine batches them. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/backends.h"
#include "models/arch/model.h"
#include "models/source/model_source.h"
#include "server/cli/commands.h"
#include "server/engine/kv_blocks.h"
#include "server/engine/step_batch.h"

typedef struct run_opts {
    const char *model_dir;
    int32_t *prompt;
    int32_t prompt_len;
    int32_t max_tokens;
    int32_t batch;
    int32_t chunk;
    int threads;
    const char *backend;
    int device;
    bool random_prompt;
    uint64_t seed;
    bool cpu_int8;
} run_opts;

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: berth run --model DIR (--tokens ID,ID,... | --prompt-len N) [options]\n"
            "\n"
            "Greedy generation from token ids. Prints the generated ids of the first sequence on\n"
            "stdout and timings on stderr.\n"
            "\n"
            "  --model DIR|URL    model directory (config.json + safetensors), a .gguf file, or\n"
            "                     s3://BUCKET/PREFIX/\n"
            "                     (downloaded into the cache first; see berth fetch --help)\n"
            "  --tokens LIST      prompt token ids, comma separated\n"
            "  --prompt-len N     a random prompt of N ids instead (with --seed)\n"
            "  --seed N           seed for --prompt-len (default 1)\n"
            "  --max-tokens N     tokens to generate (default 16)\n"
            "  --batch B          run B copies of the prompt as B sequences per step (default 1)\n"
            "  --chunk N          prefill chunk size in tokens per sequence (default 512)\n"
            "  --backend NAME     cpu, cuda or auto (default auto: CUDA when a GPU is present)\n"
            "  --device N         CUDA device (default 0)\n"
            "  --threads N        CPU threads (default: every core)\n"
            "  --cpu-weights W    stored (default: the checkpoint's dtype) or int8 (q/k/v/o and\n"
            "                     gate/up/down quantised per row at load; cpu backend only)\n"
            "  -h, --help         this text\n");
}

static int parse_int(const char *opt, const char *s, long lo, long hi, int32_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "berth run: %s must be an integer in [%ld, %ld] (got '%s')\n", opt, lo, hi, s);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

static int parse_tokens(const char *s, run_opts *o)
{
    size_t cap = 16;
    o->prompt = malloc(sizeof(int32_t) * cap);
    o->prompt_len = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            fprintf(stderr, "berth run: --tokens must be comma-separated non-negative ids (at '%s')\n", p);
            return -1;
        }
        if ((size_t)o->prompt_len == cap) o->prompt = realloc(o->prompt, sizeof(int32_t) * (cap *= 2));
        o->prompt[o->prompt_len++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (o->prompt_len == 0) {
        fprintf(stderr, "berth run: --tokens is empty\n");
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, run_opts *o)
{
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},      {"tokens", required_argument, 0, 't'},
        {"prompt-len", required_argument, 0, 'p'}, {"seed", required_argument, 0, 's'},
        {"max-tokens", required_argument, 0, 'n'}, {"batch", required_argument, 0, 'b'},
        {"chunk", required_argument, 0, 'c'},      {"threads", required_argument, 0, 'j'},
        {"backend", required_argument, 0, 'B'},    {"device", required_argument, 0, 'D'},
        {"cpu-weights", required_argument, 0, 'W'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    *o = (run_opts){.max_tokens = 16, .batch = 1, .chunk = 512, .seed = 1};
    const char *tokens = NULL;
    int32_t random_len = 0, seed = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model_dir = optarg; break;
        case 't': tokens = optarg; break;
        case 'p': if (parse_int("--prompt-len", optarg, 1, 1 << 20, &random_len)) return -1; break;
        case 's': if (parse_int("--seed", optarg, 0, INT32_MAX, &seed)) return -1; break;
        case 'n': if (parse_int("--max-tokens", optarg, 1, 1 << 20, &o->max_tokens)) return -1; break;
        case 'b': if (parse_int("--batch", optarg, 1, 4096, &o->batch)) return -1; break;
        case 'c': if (parse_int("--chunk", optarg, 1, 1 << 20, &o->chunk)) return -1; break;
        case 'j': {
            int32_t t;
            if (parse_int("--threads", optarg, 1, 4096, &t)) return -1;
            o->threads = t;
            break;
        }
        case 'B': o->backend = optarg; break;
        case 'W':
            if (strcmp(optarg, "int8") && strcmp(optarg, "stored")) {
                fprintf(stderr, "berth run: --cpu-weights is '%s', expected stored or int8\n",
                        optarg);
                return -1;
            }
            o->cpu_int8 = !strcmp(optarg, "int8");
            break;
        case 'D': {
            int32_t d;
            if (parse_int("--device", optarg, 0, 64, &d)) return -1;
            o->device = d;
            break;
        }
        case 'h': run_usage(stdout); exit(0);
        default: run_usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "berth run: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!o->model_dir) {
        fprintf(stderr, "berth run: --model DIR is required\n");
        return -1;
    }
    if (!tokens == !random_len) {
        fprintf(stderr, "berth run: give exactly one of --tokens and --prompt-len\n");
        return -1;
    }
    o->seed = (uint64_t)seed;
    if (tokens) return parse_tokens(tokens, o);
    o->prompt_len = random_len;
    o->random_prompt = true;
    o->prompt = malloc(sizeof(int32_t) * (size_t)random_len);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The whole run; every resource is released by the caller's cleanup through this struct. */
typedef struct run_state {
    bk_backend *be;
    model *m;
    kvb_pool pool;
    kvb_table *tables;
    step_batch batch;
    bk_tensor next_ids;
    int32_t *host_ids;
    int32_t **generated;
} run_state;

static int step(run_state *st, const run_opts *o, int32_t **chunks, const int32_t *lens,
                int64_t start_pos, char *err, size_t errlen)
{
    step_batch_reset(&st->batch);
    for (int32_t s = 0; s < o->batch; s++) {
        if (kvb_table_reserve(&st->pool, &st->tables[s], start_pos + lens[s])) {
            snprintf(err, errlen, "KV cache exhausted at %lld tokens", (long long)(start_pos + lens[s]));
            return -1;
        }
        if (step_batch_add(&st->batch, &st->tables[s], chunks[s], lens[s], start_pos, true, err,
                           errlen) < -1)
            return -1;
    }
    if (step_batch_upload(&st->batch, err, errlen)) return -1;
    const bk_tensor *logits;
    if (model_forward(st->m, &st->batch.dev, &logits, err, errlen)) return -1;
    const bk_ops *ops = st->be->ops;
    bk_tensor ids = st->next_ids;
    ids.cols = o->batch;
    if (ops->argmax(st->be, &ids, logits, o->batch) || ops->download_rows(st->be, &ids, 1, st->host_ids)) {
        snprintf(err, errlen, "argmax: %s", ops->last_error(st->be));
        return -1;
    }
    return 0;
}

static int generate(run_state *st, const run_opts *o, char *err, size_t errlen)
{
    const model_config *cfg = model_get_config(st->m);
    int64_t total = (int64_t)o->prompt_len + o->max_tokens;
    if (total > cfg->max_position_embeddings) {
        snprintf(err, errlen, "prompt (%d) + max tokens (%d) exceeds max_position_embeddings %d",
                 o->prompt_len, o->max_tokens, cfg->max_position_embeddings);
        return -1;
    }
    for (int32_t i = 0; i < o->prompt_len; i++) {
        if (o->prompt[i] >= cfg->vocab_size) {
            snprintf(err, errlen, "token id %d is outside the vocabulary (size %d)", o->prompt[i],
                     cfg->vocab_size);
            return -1;
        }
    }
    int32_t chunk = o->chunk < o->prompt_len ? o->chunk : o->prompt_len;
    int32_t step_tokens = chunk * o->batch, blocks_per_seq = kvb_blocks_for(total);
    if (model_reserve(st->m, blocks_per_seq * o->batch, step_tokens, o->batch, err, errlen) ||
        kvb_pool_init(&st->pool, blocks_per_seq * o->batch, err, errlen) ||
        step_batch_init(&st->batch, st->be, step_tokens, o->batch, blocks_per_seq, err, errlen))
        return -1;
    if (st->be->ops->tensor_alloc(st->be, &st->next_ids, BK_I32, 1, o->batch)) {
        snprintf(err, errlen, "%s", st->be->ops->last_error(st->be));
        return -1;
    }
    st->tables = calloc((size_t)o->batch, sizeof *st->tables);
    st->host_ids = calloc((size_t)o->batch, sizeof(int32_t));
    st->generated = calloc((size_t)o->batch, sizeof(int32_t *));
    int32_t **chunks = calloc((size_t)o->batch, sizeof(int32_t *));
    int32_t *lens = calloc((size_t)o->batch, sizeof(int32_t));
    for (int32_t s = 0; s < o->batch; s++)
        st->generated[s] = calloc((size_t)o->max_tokens, sizeof(int32_t));

    int rc = 0;
    double t0 = now_s();
    for (int32_t pos = 0; pos < o->prompt_len && rc == 0; pos += chunk) {
        int32_t n = o->prompt_len - pos < chunk ? o->prompt_len - pos : chunk;
        for (int32_t s = 0; s < o->batch; s++) {
            chunks[s] = o->prompt + pos;
            lens[s] = n;
        }
        rc = step(st, o, chunks, lens, pos, err, errlen);
    }
    double t1 = now_s();
    for (int32_t k = 0; k < o->max_tokens && rc == 0; k++) {
        for (int32_t s = 0; s < o->batch; s++) st->generated[s][k] = st->host_ids[s];
        if (k + 1 == o->max_tokens) break;
        for (int32_t s = 0; s < o->batch; s++) {
            chunks[s] = &st->generated[s][k];
            lens[s] = 1;
        }
        rc = step(st, o, chunks, lens, o->prompt_len + k, err, errlen);
    }
    double t2 = now_s();
    free(chunks);
    free(lens);
    if (rc) return rc;

    for (int32_t k = 0; k < o->max_tokens; k++) printf("%s%d", k ? "," : "", st->generated[0][k]);
    printf("\n");
    for (int32_t s = 1; s < o->batch; s++) {
        if (memcmp(st->generated[s], st->generated[0], sizeof(int32_t) * (size_t)o->max_tokens)) {
            snprintf(err, errlen, "sequence %d of the batch generated different ids than sequence 0",
                     s);
            return -1;
        }
    }
    int32_t decode_steps = o->max_tokens - 1;
    fprintf(stderr,
            "berth run: backend %s, batch %d, prompt %d tokens: prefill %.3f s (%.1f tok/s), "
            "decode %d steps %.3f s (%.2f tok/s per sequence, %.2f tok/s total)\n",
            st->be->name, o->batch, o->prompt_len, t1 - t0,
            (double)o->prompt_len * o->batch / (t1 - t0), decode_steps, t2 - t1,
            decode_steps ? decode_steps / (t2 - t1) : 0.0,
            decode_steps ? (double)decode_steps * o->batch / (t2 - t1) : 0.0);
    return 0;
}

int cmd_run(int argc, char **argv)
{
    run_opts o;
    if (parse_args(argc, argv, &o)) {
        free(o.prompt);
        return 2;
    }
    char err[1024] = "";
    run_state st = {0};
    int rc = 1;
    bk_create_options bo = {.name = o.backend, .threads = o.threads, .device = o.device};
    st.be = bk_create(&bo, err, sizeof err);
    if (!st.be) goto out;
    char desc[256];
    bk_describe(st.be, desc, sizeof desc);
    fprintf(stderr, "berth run: backend %s\n", desc);
    char local_dir[4096];
    model_source_options so = {0};
    if (model_source_resolve(o.model_dir, &so, local_dir, sizeof local_dir, err, sizeof err) ||
        model_load_ex(&st.m, local_dir, st.be,
                      &(model_load_options){.cpu_int8_weights = o.cpu_int8}, err, sizeof err))
        goto out;
    if (o.random_prompt) {
        /* A random prompt: a fixed LCG so runs are comparable across machines. */
        uint64_t x = o.seed * 6364136223846793005ull + 1442695040888963407ull;
        for (int32_t i = 0; i < o.prompt_len; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            o.prompt[i] = (int32_t)((x >> 33) % (uint64_t)model_get_config(st.m)->vocab_size);
        }
    }
    if (generate(&st, &o, err, sizeof err) == 0) rc = 0;
out:
    if (rc) fprintf(stderr, "berth run: %s\n", err);
    if (st.tables) {
        for (int32_t s = 0; s < o.batch; s++) {
            kvb_table_release(&st.pool, &st.tables[s]);
            kvb_table_free(&st.tables[s]);
        }
        free(st.tables);
    }
    if (st.generated) {
        for (int32_t s = 0; s < o.batch; s++) free(st.generated[s]);
        free(st.generated);
    }
    free(st.host_ids);
    if (st.next_ids.data) st.be->ops->tensor_free(st.be, &st.next_ids);
    if (st.batch.be) step_batch_free(&st.batch);
    kvb_pool_free(&st.pool);
    model_free(st.m);
    if (st.be) st.be->ops->destroy(st.be);
    free(o.prompt);
    return rc;
}
