/* cc_config_parse on every key and the errors that name components[i].key; the memory-share sum;
 * sup_worker_argv's flags for a full component and a minimal one. */
#include <stdlib.h>
#include <string.h>

#include "server/router/component_config.h"
#include "server/router/supervisor.h"
#include "tests/support/test_support.h"

static char err[1024];

/* Parses json and expects failure with an error containing want. */
static void bad(const char *json, const char *want)
{
    cc_config c;
    int rc = cc_config_parse(json, strlen(json), &c, err, sizeof err);
    CHECKF(rc == -1 && strstr(err, want), "%s -> rc %d err '%s' (want '%s')", json, rc, err, want);
}

static int has_pair(char **argv, const char *flag, const char *value)
{
    for (int i = 0; argv[i] && argv[i + 1]; i++)
        if (!strcmp(argv[i], flag) && !strcmp(argv[i + 1], value)) return 1;
    return 0;
}

static int has(char **argv, const char *flag)
{
    for (int i = 0; argv[i]; i++)
        if (!strcmp(argv[i], flag)) return 1;
    return 0;
}

int main(void)
{
    const char *full =
        "{\"endpoint\": \"my-ep\", \"backend\": \"cpu\", \"components\": ["
        "{\"name\": \"general\", \"model\": \"/models/qwen3-4b\", \"memory_mib\": 12000, "
        "\"copies\": 2, \"max_num_seqs\": 64, \"max_waiting\": 32, \"max_model_len\": 8192, "
        "\"max_num_batched_tokens\": 512, \"kv_cache_tokens\": 4096, \"threads\": 3, "
        "\"tool_call_parser\": \"llama3_json\", \"request_timeout_s\": 60, \"cpu_weights\": "
        "\"int8\"},"
        "{\"name\": \"small\", \"model\": \"s3://bucket/qwen3-0.6b/\", \"memory_mib\": 3000}]}";
    cc_config c;
    CHECKF(cc_config_parse(full, strlen(full), &c, err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(c.endpoint, "my-ep") && !strcmp(c.backend, "cpu") && c.n_components == 2);
    const cc_component *g = cc_find(&c, "general"), *s = cc_find(&c, "small");
    CHECK(g && s && !cc_find(&c, "other"));
    CHECK(g->memory_mib == 12000 && g->copies == 2 && g->max_num_seqs == 64 &&
          g->max_model_len == 8192 && g->max_num_batched_tokens == 512 &&
          g->kv_cache_tokens == 4096 && g->threads == 3 &&
          !strcmp(g->tool_call_parser, "llama3_json") && g->request_timeout_s == 60 &&
          g->cpu_int8_weights);
    CHECK(s->copies == 1 && s->max_num_seqs == 0 && !s->cpu_int8_weights &&
          !strcmp(s->model, "s3://bucket/qwen3-0.6b/"));

    /* 12000 x 2 + 3000 = 27000 MiB */
    CHECK(cc_check_shares(&c, 27000, "test", err, sizeof err) == 0);
    CHECKF(cc_check_shares(&c, 26999, "the device", err, sizeof err) == -1 &&
               strstr(err, "27000 MiB") && strstr(err, "general 12000 x 2") &&
               strstr(err, "26999 MiB of the device"),
           "%s", err);

    char *argv[SUP_MAX_ARGS + 1], store[4096];
    CHECK(sup_worker_argv(&c, g, "/bin/berth", "/tmp/x/0-0.sock", argv, store, sizeof store) == 0);
    CHECK(!strcmp(argv[0], "/bin/berth") && !strcmp(argv[1], "serve"));
    CHECK(has_pair(argv, "--model", "/models/qwen3-4b") &&
          has_pair(argv, "--unix-socket", "/tmp/x/0-0.sock"));
    CHECK(has_pair(argv, "--served-model-name", "general") &&
          has_pair(argv, "--endpoint-name", "my-ep"));
    CHECK(has_pair(argv, "--backend", "cpu") && has_pair(argv, "--max-num-seqs", "64") &&
          has_pair(argv, "--max-waiting", "32") && has_pair(argv, "--max-model-len", "8192") &&
          has_pair(argv, "--max-num-batched-tokens", "512") &&
          has_pair(argv, "--kv-cache-tokens", "4096") && has_pair(argv, "--threads", "3") &&
          has_pair(argv, "--tool-call-parser", "llama3_json") &&
          has_pair(argv, "--request-timeout", "60") && has_pair(argv, "--cpu-weights", "int8"));
    CHECK(has_pair(argv, "--memory-mib", "12000") && !has(argv, "--mps"));
    CHECK(sup_worker_argv(&c, s, "/bin/berth", "/tmp/x/1-0.sock", argv, store, sizeof store) == 0);
    CHECK(!has(argv, "--max-num-seqs") && !has(argv, "--max-waiting") && !has(argv, "--threads") &&
          !has(argv, "--tool-call-parser") && !has(argv, "--cpu-weights") &&
          has_pair(argv, "--memory-mib", "3000"));
    CHECK(sup_worker_argv(&c, g, "/bin/berth", "/tmp/x/0-0.sock", argv, store, 64) == -1);
    cc_config_free(&c);

    /* mps: workers with a share get --mps beside it; one without a share runs unlimited */
    const char *mps = "{\"backend\": \"cuda\", \"mps\": true, \"components\": ["
                      "{\"name\": \"a\", \"model\": \"m\", \"memory_mib\": 4000},"
                      "{\"name\": \"b\", \"model\": \"m\"}]}";
    CHECKF(cc_config_parse(mps, strlen(mps), &c, err, sizeof err) == 0, "%s", err);
    CHECK(c.mps);
    CHECK(sup_worker_argv(&c, &c.components[0], "/bin/berth", "/tmp/x/0-0.sock", argv, store,
                          sizeof store) == 0);
    CHECK(has_pair(argv, "--memory-mib", "4000") && has(argv, "--mps"));
    CHECK(sup_worker_argv(&c, &c.components[1], "/bin/berth", "/tmp/x/1-0.sock", argv, store,
                          sizeof store) == 0);
    CHECK(!has(argv, "--memory-mib") && !has(argv, "--mps"));
    cc_config_free(&c);
    bad("{\"mps\": 1, \"components\": [{\"name\": \"a\", \"model\": \"m\"}]}",
        "mps: expected true or false");
    bad("{\"backend\": \"cpu\", \"mps\": true, \"components\": [{\"name\": \"a\", \"model\": "
        "\"m\"}]}",
        "mps: NVIDIA MPS limits CUDA workers");

    const char *one = "{\"components\": [{\"name\": \"a\", \"model\": \"m\"}]}";
    CHECKF(cc_config_parse(one, strlen(one), &c, err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(c.endpoint, "berth") && c.components[0].memory_mib == 0 &&
          c.components[0].copies == 1);
    CHECK(cc_check_shares(&c, 1, "test", err, sizeof err) ==
          0); /* no share given: nothing to add up */
    cc_config_free(&c);

    bad("", "invalid JSON");
    bad("[]", "not a JSON object");
    bad("{}", "components: required");
    bad("{\"components\": []}", "components: expected an array of 1 to 16");
    bad("{\"components\": [1]}", "components[0]: expected an object");
    bad("{\"components\": [{\"model\": \"m\"}]}", "components[0].name: required");
    bad("{\"components\": [{\"name\": \"a\"}]}", "components[0].model: required");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"\"}]}",
        "components[0].model: expected a non-empty");
    bad("{\"components\": [{\"name\": \"-a\", \"model\": \"m\"}]}",
        "components[0].name: '-a' is not a valid");
    bad("{\"components\": [{\"name\": \"a_b\", \"model\": \"m\"}]}", "components[0].name: 'a_b'");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\"}, {\"name\": \"b\", \"model\": "
        "\"m\", "
        "\"memory_mib\": 0}]}",
        "components[1].memory_mib: expected an integer in [1,");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\"}, {\"name\": \"b\", \"model\": "
        "\"m\", "
        "\"memory_mib\": 1.5}]}",
        "components[1].memory_mib: expected an integer");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\", \"copies\": 17}]}",
        "components[0].copies");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\", \"max_num_seqs\": \"8\"}]}",
        "components[0].max_num_seqs: expected an integer");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\", \"max_model_len\": -1}]}",
        "components[0].max_model_len");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\", \"kv_cache_tokens\": 8}]}",
        "components[0].kv_cache_tokens");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\", \"threads\": 0}]}",
        "components[0].threads");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\", \"request_timeout_s\": 0}]}",
        "components[0].request_timeout_s");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\", \"max_num_batched_tokens\": 0}]}",
        "components[0].max_num_batched_tokens");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\", \"tool_call_parser\": \"xml\"}]}",
        "components[0].tool_call_parser: 'xml' is not one of");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\", \"cpu_weights\": \"int4\"}]}",
        "components[0].cpu_weights: 'int4' is not one of stored, int8");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\", \"memroy_mib\": 5}]}",
        "components[0].memroy_mib: unknown key");
    bad("{\"components\": [{\"name\": \"a\", \"model\": \"m\"}, {\"name\": \"a\", \"model\": "
        "\"n\"}]}",
        "components[1].name: 'a' is already components[0]'s name");
    bad("{\"endpoint\": \"my ep\", \"components\": [{\"name\": \"a\", \"model\": \"m\"}]}",
        "endpoint: 'my ep' is not a valid");
    bad("{\"backend\": \"tpu\", \"components\": [{\"name\": \"a\", \"model\": \"m\"}]}",
        "backend: 'tpu' is not one of");
    bad("{\"port\": 1, \"components\": [{\"name\": \"a\", \"model\": \"m\"}]}",
        "port: unknown key");

    CHECK(cc_config_load("/nonexistent/ep.json", &c, err, sizeof err) == -1 &&
          strstr(err, "/nonexistent/ep.json"));
    return test_finish("test_component_config");
}
