#include "server/cli/serve_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/engine/memory_share.h"
#include "server/serve/serve_auth.h"

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: berth serve --model DIR [options]\n"
            "       berth serve --config FILE [options]   (several inference components; see\n"
            "                                             docs/components.md)\n"
            "\n"
            "Serves one model over the OpenAI API (/v1/chat/completions, /v1/completions,\n"
            "/v1/models), the same routes under /endpoints/{endpoint}/openai/v1/ and\n"
            "/endpoints/{endpoint}/inference-components/{component}/openai/v1/, and /health, /ping,\n"
            "/invocations, /metrics, /version, /tokenize, /detokenize.\n"
            "\n"
            "Options (environment variable in brackets):\n"
            "  --model DIR                 model directory: config.json, safetensors, tokenizer.json;\n"
            "                              or a llama.cpp .gguf file (or a directory holding one)\n"
            "                              [BERTH_MODEL; SageMaker: SM_MODEL_DIR, else /opt/ml/model\n"
            "                              when it holds a config.json]\n"
            "  --config FILE               an endpoint with inference components (JSON; see\n"
            "                              docs/components.md): a router process serves HTTP, TLS and\n"
            "                              authentication and runs one worker per component copy;\n"
            "                              per-model options then go in the file, not on the command line\n"
            "  --admin-api-key KEY         with --config: a bearer key for the admin API (Create/Update/\n"
            "                              Delete/Describe/ListInferenceComponent(s)); repeat for several.\n"
            "                              Key-store identities allowed sagemaker:<Operation> may call it\n"
            "                              too; plain --api-key keys never can [BERTH_ADMIN_API_KEY]\n"
            "  --unix-socket PATH          serve HTTP on this Unix socket instead of --host/--port (how\n"
            "                              the router reaches its workers)\n"
            "  --host ADDR                 listen address (default 0.0.0.0) [BERTH_HOST]\n"
            "  --port N                    listen port (default 8080) [BERTH_PORT, SAGEMAKER_BIND_TO_PORT]\n"
            "  --served-model-name NAME    model id in responses and /v1/models (default: the\n"
            "                              model directory's name) [BERTH_SERVED_MODEL_NAME]\n"
            "  --endpoint-name NAME        an endpoint name accepted in /endpoints/{NAME}/...; repeat\n"
            "                              for several (default: berth) [BERTH_ENDPOINT_NAME]\n"
            "  --max-model-len N           prompt + generated tokens per sequence (default: the\n"
            "                              model's max_position_embeddings)\n"
            "  --max-num-seqs N            sequences in one batch (default 64)\n"
            "  --max-num-batched-tokens N  tokens in one engine step (default 2048)\n"
            "  --kv-cache-tokens N         KV-cache size in tokens (default: what its memory holds,\n"
            "                              at most max-num-seqs x max-model-len)\n"
            "  --kv-cache-memory BYTES     KV-cache memory when --kv-cache-tokens is not given\n"
            "                              (default: CUDA, or a CPU with --memory-budget: all that is\n"
            "                              left after weights and workspace; CPU: --cpu-kv-cache-fraction\n"
            "                              of MemAvailable) [BERTH_KV_CACHE_MEMORY]\n"
            "  --cpu-kv-cache-fraction F   CPU without a memory budget: the KV cache's share of\n"
            "                              MemAvailable, at most 64 GiB (default 0.4)\n"
            "                              [BERTH_CPU_KV_CACHE_FRACTION]\n"
            "  Without --max-model-len, a KV cache that cannot hold the model's full length lowers\n"
            "  max_model_len to what it holds (logged); an explicit one that does not fit fails.\n"
            "  --max-waiting N             sequences (prompts x n) queued beyond the running batch:\n"
            "                              a request whose sequences do not fit --max-num-seqs +\n"
            "                              N minus those running or waiting gets 429, one that\n"
            "                              never could gets 400 (default 1024)\n"
            "  --max-seqs-per-request N    sequences (prompts x n) one request may ask for; more\n"
            "                              get 400 (default 128)\n"
            "  --max-body-bytes N          larger request bodies get 413 (default 6291456)\n"
            "  --request-timeout SECONDS   abort a request running longer (default: no limit)\n"
            "                              [BERTH_REQUEST_TIMEOUT]\n"
            "  --keepalive-ms N            SSE keep-alive comment after this much silence (default 15000)\n"
            "  --idle-timeout SECONDS      close a connection idle this long between requests, or\n"
            "                              stalled while sending one (default 60)\n"
            "  --shutdown-timeout SECONDS  on SIGTERM/SIGINT, refuse new requests (503) and let those in\n"
            "                              flight finish for at most this long (default 25; SageMaker\n"
            "                              kills 30 s after SIGTERM); a second signal stops at once\n"
            "                              [BERTH_SHUTDOWN_TIMEOUT]\n"
            "  --tls-cert FILE, --tls-key FILE   serve HTTPS with this PEM certificate and key; both\n"
            "                              are re-read on SIGHUP (open connections keep the old pair)\n"
            "  --tls-priorities STRING     GnuTLS priority string (default: TLS 1.2/1.3, ECDHE with\n"
            "                              AES-GCM or ChaCha20-Poly1305 only, Mozilla \"intermediate\")\n"
            "  --max-connections N         open connections at most; past it new ones are closed at\n"
            "                              once (default 4096; the open-file limit is raised to fit)\n"
            "  --max-connections-per-ip N  open connections from one client address; past it new ones\n"
            "                              are closed at once (default 0: no limit)\n"
            "  --header-timeout SECONDS    close a new connection whose request line and headers are\n"
            "                              not complete this long after it opened (default 10); a\n"
            "                              later request's are due this long after its first byte,\n"
            "                              which a kept-alive connection may wait --idle-timeout for\n"
            "  --min-body-rate BYTES/S     after a --header-timeout grace, a request body must average\n"
            "                              this rate or the connection is closed (default 1024)\n"
            "  --backend NAME              cpu, cuda or auto (default auto: CUDA when a GPU is\n"
            "                              present) [BERTH_BACKEND]\n"
            "  --no-prefix-caching         compute every prompt in full (default: full KV blocks of\n"
            "                              earlier prompts are reused; POST /reset_prefix_cache\n"
            "                              drops them)\n"
            "  --no-cuda-graphs            run every step op by op (alias --enforce-eager; default:\n"
            "                              decode steps replay CUDA graphs on the cuda backend)\n"
            "  --device N                  CUDA device (default 0)\n"
            "  --memory-budget BYTES       all memory the model may use: weights, KV cache, workspace\n"
            "                              (default: CPU no limit, CUDA --gpu-memory-utilization)\n"
            "                              [BERTH_MEMORY_BUDGET]\n"
            "  --memory-mib N              this worker's hard memory share in MiB: weights, KV cache and\n"
            "                              every workspace are carved from it and never exceed it; the\n"
            "                              KV cache gets what the rest leaves; a model that does not fit\n"
            "                              refuses to start with the numbers. Takes precedence over\n"
            "                              --gpu-memory-utilization and --cpu-kv-cache-fraction\n"
            "                              (docs/components.md, \"Memory shares\") [BERTH_MEMORY_MIB]\n"
            "  --mps                       CUDA under NVIDIA MPS: sets CUDA_MPS_PINNED_DEVICE_MEM_LIMIT\n"
            "                              to the --memory-mib share so the driver enforces it too\n"
            "                              [BERTH_MPS=1]\n"
            "  --gpu-memory-utilization F  CUDA without --memory-budget: the share of the device's\n"
            "                              total memory berth takes, as vLLM's (default 0.9; the\n"
            "                              default shrinks to fit what other processes leave free, an\n"
            "                              explicit one fails) [BERTH_GPU_MEMORY_UTILIZATION]\n"
            "  --threads N                 CPU backend threads (default: every core)\n"
            "                              (the CPU kernels use the widest vector instructions\n"
            "                              the CPU has; BERTH_CPU_ISA=portable|avx2|avx512 forces\n"
            "                              a set, and the start-up log names the one in use)\n"
            "  --cpu-weights W             stored (default: the checkpoint's dtype) or int8: q/k/v/o\n"
            "                              and gate/up/down (and an untied lm_head) quantised per\n"
            "                              row to int8 at load (docs/models.md); cpu backend only\n"
            "  --tool-call-parser NAME     how chat output's tool calls are read, as vLLM names them:\n"
            "                              hermes (<tool_call>{...}</tool_call>), llama3_json\n"
            "                              ({\"name\", \"parameters\"}; ...), mistral ([TOOL_CALLS]...)\n"
            "                              (default: detected from the chat template, else hermes)\n"
            "                              [BERTH_TOOL_CALL_PARSER]\n"
            "\n"
            "Authentication (on when a key store or an API key is given; /ping and /health never\n"
            "need it; see docs/authentication.md):\n"
            "  --auth-key-store FILE       JSON identities and policies for SageMaker bearer tokens\n"
            "                              (Bearer sagemaker-api-key-...); reloaded on SIGHUP\n"
            "                              [BERTH_AUTH_KEY_STORE]\n"
            "  --auth-region R             a region tokens may be scoped to; repeat for several\n"
            "                              (default: AWS_REGION, else AWS_DEFAULT_REGION)\n"
            "  --auth-accept-bedrock       also accept bedrock-api-key- tokens [BERTH_AUTH_ACCEPT_BEDROCK=1]\n"
            "  --auth-clock-skew SECONDS   how far in the future a token may be dated (default 300)\n"
            "                              [BERTH_AUTH_CLOCK_SKEW]\n"
            "  --auth-token-host HOST      the host SageMaker tokens are signed for, for tokens made\n"
            "                              with berth-token --endpoint-url (default\n"
            "                              sagemaker.amazonaws.com) [BERTH_AUTH_TOKEN_HOST]\n"
            "  --api-key KEY               a static key clients send as Bearer KEY; repeat for several\n"
            "                              (prefer the environment or a file: argv is visible in ps)\n"
            "                              [BERTH_API_KEY]\n"
            "  --api-keys-file FILE        static keys, one a line ('#' comments); read at start only\n"
            "                              [BERTH_API_KEYS_FILE]\n"
            "  Paths without an endpoint name (/v1/..., /invocations, /metrics) are authorized as the\n"
            "  first --endpoint-name.\n"
            "\n"
            "Testing (never for serving users):\n"
            "  --test-scripted-outputs FILE  TEST ONLY: each generation request emits the next line of\n"
            "                              FILE (JSON lines, one JSON string each, read again at every\n"
            "                              request) tokenized and followed by end-of-sequence, in place\n"
            "                              of the sampled tokens; the model still runs. Each such request\n"
            "                              logs its rendered prompt to stderr. See docs/api.md\n"
            "  -h, --help                  this text\n");
}

static int parse_num(const char *opt, const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "berth serve: %s must be an integer in [%lld, %lld] (got '%s')\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_fraction(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0 && v <= 1)) {
        fprintf(stderr, "berth serve: %s must be a fraction in (0, 1] (got '%s')\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* --memory-mib: the share becomes the backend's whole budget and wins over the fractions that
 * would otherwise size it (docs/components.md, "Memory shares"). */
static int apply_memory_share(serve_args *a, long long mib, bool budget_given, bool mps)
{
    if (budget_given) {
        fprintf(stderr, "berth serve: --memory-mib and --memory-budget both give the backend's "
                        "memory: give one\n");
        return -1;
    }
    size_t share = (size_t)mib << 20;
    if (a->backend.gpu_memory_utilization || a->opts.cpu_kv_fraction) {
        fprintf(stderr, "berth serve: --memory-mib %lld takes precedence: %s ignored\n", mib,
                a->backend.gpu_memory_utilization ? "--gpu-memory-utilization"
                                                  : "--cpu-kv-cache-fraction");
        a->backend.gpu_memory_utilization = 0;
        a->opts.cpu_kv_fraction = 0;
    }
    a->backend.memory_budget = share;
    a->opts.memory_share = share;
    if (!mps) return 0;
    if (a->backend.name && !strcmp(a->backend.name, "cpu")) {
        fprintf(stderr, "berth serve: --mps applies to the cuda backend, not --backend cpu\n");
        return -1;
    }
    /* Read by the driver when this process creates its CUDA context, so set before bk_create. An
     * operator's own value is kept (it may name devices by UUID). */
    const char *have = getenv("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT");
    if (have && *have) {
        fprintf(stderr, "berth serve: --mps: CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=%s kept as set\n",
                have);
        return 0;
    }
    char limit[64];
    snprintf(limit, sizeof limit, "%d=%lldM", a->backend.device, mib);
    if (setenv("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT", limit, 1)) {
        fprintf(stderr, "berth serve: --mps: cannot set CUDA_MPS_PINNED_DEVICE_MEM_LIMIT\n");
        return -1;
    }
    fprintf(stderr, "berth serve: --mps: CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=%s\n", limit);
    return 0;
}

int serve_args_parse(int argc, char **argv, serve_args *a)
{
    enum { O_HOST = 256, O_PORT, O_NAME, O_ENDPOINT, O_MAXLEN, O_SEQS, O_TOKENS, O_KVTOK, O_KVMEM,
           O_WAIT, O_BODY, O_TIMEOUT, O_KEEPALIVE, O_IDLE, O_SHUTDOWN, O_CERT, O_KEY, O_THREADS, O_BACKEND, O_DEVICE,
           O_BUDGET, O_KEYSTORE, O_REGION, O_BEDROCK, O_SKEW, O_TOKHOST, O_EAGER, O_APIKEY, O_APIKEYS,
           O_TOOLPARSER, O_SCRIPTED, O_GPUUTIL, O_CPUKV, O_TLSPRIO, O_MAXCONN, O_MAXCONNIP, O_HDRTIMEOUT, O_BODYRATE,
           O_MIB, O_MPS, O_CONFIG, O_UNIX, O_ADMINKEY, O_NOPREFIX, O_SEQSPERREQ, O_CPUW };
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"served-model-name", required_argument, 0, O_NAME},
        {"endpoint-name", required_argument, 0, O_ENDPOINT},
        {"max-model-len", required_argument, 0, O_MAXLEN},
        {"max-num-seqs", required_argument, 0, O_SEQS},
        {"max-num-batched-tokens", required_argument, 0, O_TOKENS},
        {"kv-cache-tokens", required_argument, 0, O_KVTOK},
        {"kv-cache-memory", required_argument, 0, O_KVMEM},
        {"max-waiting", required_argument, 0, O_WAIT},
        {"max-seqs-per-request", required_argument, 0, O_SEQSPERREQ},
        {"max-body-bytes", required_argument, 0, O_BODY},
        {"request-timeout", required_argument, 0, O_TIMEOUT},
        {"keepalive-ms", required_argument, 0, O_KEEPALIVE},
        {"idle-timeout", required_argument, 0, O_IDLE},
        {"shutdown-timeout", required_argument, 0, O_SHUTDOWN},
        {"tls-cert", required_argument, 0, O_CERT},
        {"tls-key", required_argument, 0, O_KEY},
        {"tls-priorities", required_argument, 0, O_TLSPRIO},
        {"max-connections", required_argument, 0, O_MAXCONN},
        {"max-connections-per-ip", required_argument, 0, O_MAXCONNIP},
        {"header-timeout", required_argument, 0, O_HDRTIMEOUT},
        {"min-body-rate", required_argument, 0, O_BODYRATE},
        {"threads", required_argument, 0, O_THREADS},
        {"cpu-weights", required_argument, 0, O_CPUW},
        {"backend", required_argument, 0, O_BACKEND},
        {"no-cuda-graphs", no_argument, 0, O_EAGER},
        {"enforce-eager", no_argument, 0, O_EAGER},
        {"no-prefix-caching", no_argument, 0, O_NOPREFIX},
        {"device", required_argument, 0, O_DEVICE},
        {"memory-budget", required_argument, 0, O_BUDGET},
        {"gpu-memory-utilization", required_argument, 0, O_GPUUTIL},
        {"cpu-kv-cache-fraction", required_argument, 0, O_CPUKV},
        {"memory-mib", required_argument, 0, O_MIB},
        {"mps", no_argument, 0, O_MPS},
        {"auth-key-store", required_argument, 0, O_KEYSTORE},
        {"auth-region", required_argument, 0, O_REGION},
        {"auth-accept-bedrock", no_argument, 0, O_BEDROCK},
        {"auth-clock-skew", required_argument, 0, O_SKEW},
        {"auth-token-host", required_argument, 0, O_TOKHOST},
        {"api-key", required_argument, 0, O_APIKEY},
        {"api-keys-file", required_argument, 0, O_APIKEYS},
        {"tool-call-parser", required_argument, 0, O_TOOLPARSER},
        {"test-scripted-outputs", required_argument, 0, O_SCRIPTED},
        {"config", required_argument, 0, O_CONFIG},
        {"unix-socket", required_argument, 0, O_UNIX},
        {"admin-api-key", required_argument, 0, O_ADMINKEY},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    a->opts.model_dir = env("BERTH_MODEL") ? env("BERTH_MODEL") : env("SM_MODEL_DIR");
    a->host = env("BERTH_HOST") ? env("BERTH_HOST") : "0.0.0.0";
    a->port = 8080;
    a->opts.served_model_name = env("BERTH_SERVED_MODEL_NAME");
    a->opts.retry_after_s = 1;
    a->opts.max_seqs_per_request = 128;
    long long v;
    const char *port_env = env("BERTH_PORT") ? env("BERTH_PORT") : env("SAGEMAKER_BIND_TO_PORT");
    if (port_env) {
        if (parse_num("BERTH_PORT", port_env, 0, 65535, &v)) return -1;
        a->port = (int)v;
    }
    if (env("BERTH_KV_CACHE_MEMORY")) {
        if (parse_num("BERTH_KV_CACHE_MEMORY", env("BERTH_KV_CACHE_MEMORY"), 1 << 20, 1ll << 50, &v))
            return -1;
        a->opts.kv_cache_bytes = (size_t)v;
    }
    if (env("BERTH_GPU_MEMORY_UTILIZATION") &&
        parse_fraction("BERTH_GPU_MEMORY_UTILIZATION", env("BERTH_GPU_MEMORY_UTILIZATION"),
                       &a->backend.gpu_memory_utilization))
        return -1;
    if (env("BERTH_CPU_KV_CACHE_FRACTION") &&
        parse_fraction("BERTH_CPU_KV_CACHE_FRACTION", env("BERTH_CPU_KV_CACHE_FRACTION"),
                       &a->opts.cpu_kv_fraction))
        return -1;
    /* Test hook (docs/api.md): read here, not in the library, so that only the command line can
     * be told to misbehave. */
    if (env("BERTH_TEST_FAIL_ALLOC_AT_TOKEN")) {
        if (parse_num("BERTH_TEST_FAIL_ALLOC_AT_TOKEN", env("BERTH_TEST_FAIL_ALLOC_AT_TOKEN"), 1,
                      1ll << 40, &v))
            return -1;
        a->opts.test_fail_alloc_at_token = v;
    }
    a->backend.name = env("BERTH_BACKEND");
    a->shutdown_timeout_s = 25;
    if (env("BERTH_SHUTDOWN_TIMEOUT")) {
        if (parse_num("BERTH_SHUTDOWN_TIMEOUT", env("BERTH_SHUTDOWN_TIMEOUT"), 0, 3600, &v)) return -1;
        a->shutdown_timeout_s = (double)v;
    }
    if (env("BERTH_MEMORY_BUDGET")) {
        if (parse_num("BERTH_MEMORY_BUDGET", env("BERTH_MEMORY_BUDGET"), 1 << 20, 1ll << 50, &v)) return -1;
        a->backend.memory_budget = (size_t)v;
    }
    if (env("BERTH_REQUEST_TIMEOUT")) {
        if (parse_num("BERTH_REQUEST_TIMEOUT", env("BERTH_REQUEST_TIMEOUT"), 1, 86400 * 7, &v)) return -1;
        a->opts.request_timeout_s = (double)v;
    }
    a->auth_key_store = env("BERTH_AUTH_KEY_STORE");
    a->auth_token_host = env("BERTH_AUTH_TOKEN_HOST");
    a->auth_accept_bedrock = env("BERTH_AUTH_ACCEPT_BEDROCK") && !strcmp(env("BERTH_AUTH_ACCEPT_BEDROCK"), "1");
    a->auth_clock_skew = AUTH_DEFAULT_CLOCK_SKEW;
    if (env("BERTH_AUTH_CLOCK_SKEW")) {
        if (parse_num("BERTH_AUTH_CLOCK_SKEW", env("BERTH_AUTH_CLOCK_SKEW"), 0, 3600, &v)) return -1;
        a->auth_clock_skew = v;
    }
    if (env("BERTH_API_KEY")) a->api_keys[a->n_api_keys++] = env("BERTH_API_KEY");
    a->api_keys_file = env("BERTH_API_KEYS_FILE");
    long long memory_mib = 0;
    if (env("BERTH_MEMORY_MIB") &&
        parse_num("BERTH_MEMORY_MIB", env("BERTH_MEMORY_MIB"), 32, 1ll << 30, &memory_mib))
        return -1;
    bool mps = env("BERTH_MPS") && !strcmp(env("BERTH_MPS"), "1");
    bool budget_given = a->backend.memory_budget != 0;
    const char *tool_parser = env("BERTH_TOOL_CALL_PARSER");
    int c;
    optind = 1;
    /* Options that size or shape one model: with --config each component's go in the file. */
    static const int per_model[] = {'m', O_NAME, O_MAXLEN, O_SEQS, O_TOKENS, O_KVTOK, O_KVMEM, O_WAIT,
                                    O_TIMEOUT, O_THREADS, O_BACKEND, O_EAGER, O_DEVICE, O_BUDGET,
                                    O_GPUUTIL, O_CPUKV, O_TOOLPARSER, O_SCRIPTED, O_UNIX, O_MIB, O_MPS,
                                    O_NOPREFIX, O_SEQSPERREQ, O_CPUW};
    int li = -1;
    while ((c = getopt_long(argc, argv, "h", longopts, &li)) != -1) {
        for (size_t k = 0; k < sizeof per_model / sizeof per_model[0] && !a->per_model_flag; k++)
            if (c == per_model[k]) a->per_model_flag = c == 'm' || li < 0 ? "model" : longopts[li].name;
        li = -1;
        switch (c) {
        case O_CONFIG: a->config_path = optarg; break;
        case O_UNIX: a->unix_socket = optarg; break;
        case O_ADMINKEY:
            if (a->n_admin_keys == 16) {
                fprintf(stderr, "berth serve: at most 16 --admin-api-key\n");
                return -1;
            }
            a->admin_keys[a->n_admin_keys++] = optarg;
            break;
        case 'm': a->opts.model_dir = optarg; break;
        case O_HOST: a->host = optarg; break;
        case O_PORT: if (parse_num("--port", optarg, 0, 65535, &v)) return -1; a->port = (int)v; break;
        case O_NAME: a->opts.served_model_name = optarg; break;
        case O_ENDPOINT:
            if (a->n_endpoints == 16) {
                fprintf(stderr, "berth serve: at most 16 --endpoint-name\n");
                return -1;
            }
            a->endpoints[a->n_endpoints++] = optarg;
            break;
        case O_MAXLEN: if (parse_num("--max-model-len", optarg, 1, 1 << 24, &v)) return -1; a->engine.max_model_len = (int32_t)v; break;
        case O_SEQS: if (parse_num("--max-num-seqs", optarg, 1, 4096, &v)) return -1; a->engine.max_num_seqs = (int32_t)v; break;
        case O_TOKENS: if (parse_num("--max-num-batched-tokens", optarg, 1, 1 << 20, &v)) return -1; a->engine.max_batched_tokens = (int32_t)v; break;
        case O_KVTOK: if (parse_num("--kv-cache-tokens", optarg, 16, 1 << 28, &v)) return -1; a->engine.num_kv_blocks = (int32_t)((v + 15) / 16); break;
        case O_KVMEM: if (parse_num("--kv-cache-memory", optarg, 1 << 20, 1ll << 50, &v)) return -1; a->opts.kv_cache_bytes = (size_t)v; break;
        case O_WAIT: if (parse_num("--max-waiting", optarg, 1, 1 << 24, &v)) return -1; a->engine.max_waiting = (int32_t)v; break;
        case O_BODY: if (parse_num("--max-body-bytes", optarg, 1024, 1ll << 32, &v)) return -1; a->max_body_bytes = (size_t)v; break;
        case O_TIMEOUT: if (parse_num("--request-timeout", optarg, 1, 86400 * 7, &v)) return -1; a->opts.request_timeout_s = (double)v; break;
        case O_KEEPALIVE: if (parse_num("--keepalive-ms", optarg, 100, 3600000, &v)) return -1; a->keepalive_ms = (unsigned)v; break;
        case O_IDLE: if (parse_num("--idle-timeout", optarg, 1, 86400, &v)) return -1; a->idle_timeout_s = (unsigned)v; break;
        case O_SHUTDOWN: if (parse_num("--shutdown-timeout", optarg, 0, 3600, &v)) return -1; a->shutdown_timeout_s = (double)v; break;
        case O_CERT: a->tls_cert = optarg; break;
        case O_KEY: a->tls_key = optarg; break;
        case O_TLSPRIO: a->tls_priorities = optarg; break;
        case O_MAXCONN: if (parse_num("--max-connections", optarg, 1, 1000000, &v)) return -1; a->max_connections = (unsigned)v; break;
        case O_MAXCONNIP: if (parse_num("--max-connections-per-ip", optarg, 0, 1000000, &v)) return -1; a->max_connections_per_ip = (unsigned)v; break;
        case O_HDRTIMEOUT: if (parse_num("--header-timeout", optarg, 1, 3600, &v)) return -1; a->header_timeout_s = (unsigned)v; break;
        case O_BODYRATE: if (parse_num("--min-body-rate", optarg, 1, 1 << 30, &v)) return -1; a->min_body_rate = (unsigned)v; break;
        case O_CPUW:
            if (strcmp(optarg, "int8") && strcmp(optarg, "stored")) {
                fprintf(stderr, "berth serve: --cpu-weights is '%s', expected stored or int8\n",
                        optarg);
                return -1;
            }
            a->opts.cpu_int8_weights = !strcmp(optarg, "int8");
            break;
        case O_THREADS: if (parse_num("--threads", optarg, 1, 4096, &v)) return -1; a->backend.threads = (int)v; break;
        case O_BACKEND: a->backend.name = optarg; break;
        case O_EAGER: a->engine.cuda_graphs = -1; break;
        case O_NOPREFIX: a->engine.prefix_caching = -1; break;
        case O_SEQSPERREQ: if (parse_num("--max-seqs-per-request", optarg, 1, 1 << 24, &v)) return -1; a->opts.max_seqs_per_request = (int)v; break;
        case O_DEVICE: if (parse_num("--device", optarg, 0, 64, &v)) return -1; a->backend.device = (int)v; break;
        case O_BUDGET: if (parse_num("--memory-budget", optarg, 1 << 20, 1ll << 50, &v)) return -1; a->backend.memory_budget = (size_t)v; budget_given = true; break;
        case O_MIB: if (parse_num("--memory-mib", optarg, 32, 1ll << 30, &memory_mib)) return -1; break;
        case O_MPS: mps = true; break;
        case O_GPUUTIL: if (parse_fraction("--gpu-memory-utilization", optarg, &a->backend.gpu_memory_utilization)) return -1; break;
        case O_CPUKV: if (parse_fraction("--cpu-kv-cache-fraction", optarg, &a->opts.cpu_kv_fraction)) return -1; break;
        case O_KEYSTORE: a->auth_key_store = optarg; break;
        case O_TOKHOST: a->auth_token_host = optarg; break;
        case O_REGION:
            if (a->n_auth_regions == 16) {
                fprintf(stderr, "berth serve: at most 16 --auth-region\n");
                return -1;
            }
            a->auth_regions[a->n_auth_regions++] = optarg;
            break;
        case O_BEDROCK: a->auth_accept_bedrock = true; break;
        case O_SKEW: if (parse_num("--auth-clock-skew", optarg, 0, 3600, &v)) return -1; a->auth_clock_skew = v; break;
        case O_APIKEY:
            if (a->n_api_keys == 16) {
                fprintf(stderr, "berth serve: at most 16 --api-key (use --api-keys-file for more)\n");
                return -1;
            }
            a->api_keys[a->n_api_keys++] = optarg;
            break;
        case O_APIKEYS: a->api_keys_file = optarg; break;
        case O_TOOLPARSER: tool_parser = optarg; break;
        case O_SCRIPTED: a->opts.test_scripted_outputs = optarg; break;
        case 'h': serve_usage(stdout); exit(0);
        default: serve_usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "berth serve: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (a->n_admin_keys && !a->config_path) {
        fprintf(stderr, "berth serve: --admin-api-key manages inference components: it needs --config\n");
        return -1;
    }
    if (a->config_path) {
        if (env("BERTH_ADMIN_API_KEY") && a->n_admin_keys < 16) a->admin_keys[a->n_admin_keys++] = env("BERTH_ADMIN_API_KEY");
        if (a->per_model_flag) {
            fprintf(stderr, "berth serve: --%s does not go with --config: give it per component in "
                            "the configuration file (docs/components.md)\n", a->per_model_flag);
            return -1;
        }
        a->opts.model_dir = NULL; /* BERTH_MODEL and SM_MODEL_DIR do not apply to an endpoint file */
    } else if (!a->opts.model_dir && access("/opt/ml/model/config.json", R_OK) == 0)
        a->opts.model_dir = "/opt/ml/model"; /* where SageMaker puts the model data */
    if (!a->opts.model_dir && !a->config_path) {
        fprintf(stderr, "berth serve: --model DIR (or --config FILE) is required (or BERTH_MODEL; SageMaker's "
                        "/opt/ml/model is used when it holds a config.json)\n");
        return -1;
    }
    if (tool_parser) {
        if (op_tool_format_from_name(tool_parser, &a->opts.tool_call_parser)) {
            fprintf(stderr, "berth serve: --tool-call-parser '%s' is not one of %s\n", tool_parser,
                    op_tool_format_names());
            return -1;
        }
        a->opts.tool_call_parser_given = true;
    }
    if (memory_mib && apply_memory_share(a, memory_mib, budget_given, mps)) return -1;
    if (!memory_mib && mps) {
        fprintf(stderr, "berth serve: --mps needs --memory-mib: the MPS limit is the share\n");
        return -1;
    }
    /* --memory-budget is a share in bytes: the same checks. */
    a->opts.memory_share = a->backend.memory_budget;
    if (a->backend.memory_budget && a->backend.gpu_memory_utilization) {
        fprintf(stderr, "berth serve: --memory-budget and --gpu-memory-utilization both size the "
                        "CUDA backend's memory: give one\n");
        return -1;
    }
    if (!a->tls_cert != !a->tls_key) {
        fprintf(stderr, "berth serve: --tls-cert and --tls-key go together\n");
        return -1;
    }
    if (a->n_endpoints == 0) a->endpoints[a->n_endpoints++] = env("BERTH_ENDPOINT_NAME") ? env("BERTH_ENDPOINT_NAME") : "berth";
    if (a->n_auth_regions == 0 && (env("AWS_REGION") || env("AWS_DEFAULT_REGION")))
        a->auth_regions[a->n_auth_regions++] = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
    if (a->auth_key_store && a->n_auth_regions == 0) {
        fprintf(stderr, "berth serve: --auth-key-store needs the regions tokens may be scoped to: "
                        "--auth-region R (or AWS_REGION)\n");
        return -1;
    }
    if (a->auth_token_host && (!a->auth_token_host[0] || strpbrk(a->auth_token_host, "/@ "))) {
        fprintf(stderr, "berth serve: --auth-token-host %s: expected a host name such as "
                        "api.example.com or api.example.com:8443 (no scheme or path)\n", a->auth_token_host);
        return -1;
    }
    if (a->auth_token_host && !a->auth_key_store) {
        fprintf(stderr, "berth serve: --auth-token-host applies to SageMaker bearer tokens: give "
                        "--auth-key-store too\n");
        return -1;
    }
    return 0;
}
