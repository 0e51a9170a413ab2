/* config.json and generation_config.json: the real configs of Qwen3-4B, Qwen2.5-7B-Instruct,
 * Llama-3.2-3B-Instruct and Mistral-7B-v0.1 parse to their values; inv_freq matches transformers'
 * float32 numbers; what berth does not implement, and malformed fields, are refused naming the
 * field. */
#include "models/loader/model_config.h"
#include "tests/support/test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* transformers 5.24.0 + torch 2.15.0: Qwen3RotaryEmbedding(config).inv_freq for Qwen3-4B. */
static const float qwen3_inv_freq[64] = {
    1.000000000e+00f, 8.058422208e-01f, 6.493816376e-01f, 5.232991576e-01f, 4.216965139e-01f,
    3.398208320e-01f, 2.738419771e-01f, 2.206733972e-01f, 1.778279394e-01f, 1.433012635e-01f,
    1.154782027e-01f, 9.305720031e-02f, 7.498941571e-02f, 6.042964384e-02f, 4.869675264e-02f,
    3.924189880e-02f, 3.162277862e-02f, 2.548296750e-02f, 2.053525113e-02f, 1.654817164e-02f,
    1.333521493e-02f, 1.074607857e-02f, 8.659643121e-03f, 6.978305988e-03f, 5.623413250e-03f,
    4.531583749e-03f, 3.651741426e-03f, 2.942727180e-03f, 2.371373819e-03f, 1.910952851e-03f,
    1.539926510e-03f, 1.240937854e-03f, 1.000000047e-03f, 8.058422245e-04f, 6.493816618e-04f,
    5.232990952e-04f, 4.216964880e-04f, 3.398208355e-04f, 2.738419571e-04f, 2.206734207e-04f,
    1.778279402e-04f, 1.433012658e-04f, 1.154781930e-04f, 9.305720596e-05f, 7.498942432e-05f,
    6.042963651e-05f, 4.869675467e-05f, 3.924189878e-05f, 3.162277426e-05f, 2.548296652e-05f,
    2.053524986e-05f, 1.654817061e-05f, 1.333521413e-05f, 1.074607826e-05f, 8.659643754e-06f,
    6.978306374e-06f, 5.623413472e-06f, 4.531583727e-06f, 3.651741281e-06f, 2.942727178e-06f,
    2.371373739e-06f, 1.910952960e-06f, 1.539926529e-06f, 1.240937763e-06f,
};

/* The same for Llama-3.2-3B-Instruct (theta 5e5, llama3 scaling: factor 32, low 1, high 4, 8192).
 */
static const float llama32_inv_freq[64] = {
    1.000000000e+00f, 8.146172166e-01f, 6.636012793e-01f, 5.405809879e-01f, 4.403666258e-01f,
    3.587302268e-01f, 2.922278345e-01f, 2.380538136e-01f, 1.939227581e-01f, 1.579728127e-01f,
    1.286873817e-01f, 1.048309505e-01f, 8.539710194e-02f, 6.956595182e-02f, 5.666961893e-02f,
    4.616405070e-02f, 3.760603070e-02f, 3.063452058e-02f, 2.495540865e-02f, 2.032910474e-02f,
    1.656044088e-02f, 1.349041983e-02f, 1.098952908e-02f, 8.952259086e-03f, 7.292665076e-03f,
    5.940730684e-03f, 4.839421250e-03f, 3.942275885e-03f, 3.211446106e-03f, 2.118406817e-03f,
    1.290548011e-03f, 7.625412545e-04f, 4.295567051e-04f, 2.227634104e-04f, 9.708286234e-05f,
    2.389053043e-05f, 1.946163866e-05f, 1.585378595e-05f, 1.291476747e-05f, 1.052059179e-05f,
    8.570255886e-06f, 6.981477327e-06f, 5.687232260e-06f, 4.632917353e-06f, 3.774054449e-06f,
    3.074409733e-06f, 2.504467147e-06f, 2.040181926e-06f, 1.661967417e-06f, 1.353867333e-06f,
    1.102883630e-06f, 8.984279702e-07f, 7.318749340e-07f, 5.961979355e-07f, 4.856731266e-07f,
    3.956376986e-07f, 3.222932889e-07f, 2.625456546e-07f, 2.138742303e-07f, 1.742256330e-07f,
    1.419272024e-07f, 1.156163449e-07f, 9.418306490e-08f, 7.672314695e-08f,
};

static int load_data(model_config *cfg, const char *name, char *err, size_t errlen)
{
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "tests/loader/data/%s", name);
    test_source_path(rel, path, sizeof path);
    return model_config_load(cfg, path, err, errlen);
}

static void check_inv_freq(const model_config *cfg, const float *expect, const char *what)
{
    float got[64];
    CHECK(cfg->head_dim == 128);
    model_config_rope_inv_freq(cfg, got);
    int bad = 0;
    for (int i = 0; i < 64; i++) {
        if (fabsf(got[i] - expect[i]) > 1e-6f * fabsf(expect[i])) {
            if (bad++ < 4)
                fprintf(stderr, "%s inv_freq[%d]: got %.9e, transformers %.9e\n", what, i, got[i],
                        expect[i]);
        }
    }
    CHECKF(bad == 0, "%s: %d of 64 inv_freq values differ by more than 1e-6 relative", what, bad);
}

static void test_qwen3_4b(void)
{
    model_config c;
    char err[512] = "";
    CHECKF(load_data(&c, "qwen3-4b.config.json", err, sizeof err) == 0, "%s", err);
    CHECK(c.arch == MODEL_ARCH_QWEN3 && strcmp(c.model_type, "qwen3") == 0);
    CHECK(c.vocab_size == 151936 && c.hidden_size == 2560 && c.intermediate_size == 9728);
    CHECK(c.num_layers == 36 && c.num_q_heads == 32 && c.num_kv_heads == 8 && c.head_dim == 128);
    CHECK(c.max_position_embeddings == 40960 && c.rms_norm_eps == 1e-6f && c.rope_theta == 1e6);
    CHECK(c.tie_word_embeddings && !c.attention_bias && c.qk_norm);
    CHECK(c.rope_scaling.type == ROPE_SCALING_NONE);
    CHECK(c.bos_token_id == 151643 && c.num_eos == 1 && c.eos_token_ids[0] == 151645);
    CHECK(strcmp(c.torch_dtype, "bfloat16") == 0);
    check_inv_freq(&c, qwen3_inv_freq, "Qwen3-4B");
}

static void test_qwen25_7b(void)
{
    model_config c;
    char err[512] = "";
    CHECKF(load_data(&c, "qwen2.5-7b-instruct.config.json", err, sizeof err) == 0, "%s", err);
    CHECK(c.arch == MODEL_ARCH_QWEN2 && strcmp(c.model_type, "qwen2") == 0);
    CHECK(c.vocab_size == 152064 && c.hidden_size == 3584 && c.intermediate_size == 18944);
    CHECK(c.num_layers == 28 && c.num_q_heads == 28 && c.num_kv_heads == 4);
    CHECK(c.head_dim == 128); /* from hidden_size / num_attention_heads: Qwen2 has no head_dim */
    CHECK(c.max_position_embeddings == 32768 && c.rope_theta == 1e6);
    CHECK(!c.tie_word_embeddings && c.attention_bias && !c.qk_norm);
    CHECK(c.bos_token_id == 151643 && c.num_eos == 1 && c.eos_token_ids[0] == 151645);
}

static void test_llama32_3b(void)
{
    model_config c;
    char err[512] = "";
    CHECKF(load_data(&c, "llama-3.2-3b-instruct.config.json", err, sizeof err) == 0, "%s", err);
    CHECK(c.arch == MODEL_ARCH_LLAMA && strcmp(c.model_type, "llama") == 0);
    CHECK(c.vocab_size == 128256 && c.hidden_size == 3072 && c.intermediate_size == 8192);
    CHECK(c.num_layers == 28 && c.num_q_heads == 24 && c.num_kv_heads == 8 && c.head_dim == 128);
    CHECK(c.max_position_embeddings == 131072 && c.rms_norm_eps == 1e-5f && c.rope_theta == 5e5);
    CHECK(c.tie_word_embeddings && !c.attention_bias && !c.qk_norm);
    CHECK(c.rope_scaling.type == ROPE_SCALING_LLAMA3 && c.rope_scaling.factor == 32.0);
    CHECK(c.rope_scaling.low_freq_factor == 1.0 && c.rope_scaling.high_freq_factor == 4.0);
    CHECK(c.rope_scaling.original_max_position_embeddings == 8192);
    CHECK(c.bos_token_id == 128000 && c.num_eos == 3);
    CHECK(c.eos_token_ids[0] == 128001 && c.eos_token_ids[1] == 128008 &&
          c.eos_token_ids[2] == 128009);
    check_inv_freq(&c, llama32_inv_freq, "Llama-3.2-3B");
}

/* Mistral: the Llama block without biases, plus a sliding window. The data file equals, key for
 * key and value for value (20 keys), huggingface.co/mistralai/Mistral-7B-v0.1's config.json as
 * quoted from that URL in tanganke/fusion_bench docs/algorithms/depth_upscaling.md (commit
 * 2597a591) and in other public copies. */
static void test_mistral_7b(void)
{
    model_config c;
    char err[512] = "";
    CHECKF(load_data(&c, "mistral-7b-v0.1.config.json", err, sizeof err) == 0, "%s", err);
    CHECK(c.arch == MODEL_ARCH_MISTRAL && strcmp(c.model_type, "mistral") == 0);
    CHECK(c.vocab_size == 32000 && c.hidden_size == 4096 && c.intermediate_size == 14336);
    CHECK(c.num_layers == 32 && c.num_q_heads == 32 && c.num_kv_heads == 8 && c.head_dim == 128);
    CHECK(c.max_position_embeddings == 32768 && c.rms_norm_eps == 1e-5f && c.rope_theta == 1e4);
    CHECK(c.sliding_window == 4096 && !c.tie_word_embeddings && !c.attention_bias && !c.qk_norm);
    CHECK(c.rope_scaling.type == ROPE_SCALING_NONE);
    CHECK(c.bos_token_id == 1 && c.num_eos == 1 && c.eos_token_ids[0] == 2);
}

#define BASE                                                                                       \
    "\"vocab_size\":100,\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,"     \
    "\"num_attention_heads\":4,\"max_position_embeddings\":256"

static void expect_ok(const char *json, model_config *c)
{
    char err[512] = "";
    CHECKF(model_config_parse(c, json, strlen(json), "m/config.json", err, sizeof err) == 0,
           "%s: %s", json, err);
}

static void expect_error(const char *json, const char *a, const char *b)
{
    model_config c;
    char err[512] = "";
    int rc = model_config_parse(&c, json, strlen(json), "m/config.json", err, sizeof err);
    CHECKF(rc == -1 && strstr(err, "m/config.json") && strstr(err, a) && (!b || strstr(err, b)),
           "%s: rc %d, message \"%s\"", json, rc, err);
}

static void test_defaults_and_selection(void)
{
    model_config c;
    expect_ok("{\"architectures\":[\"Qwen3ForCausalLM\"]," BASE "}", &c);
    CHECK(c.arch == MODEL_ARCH_QWEN3 && strcmp(c.model_type, "qwen3") == 0);
    CHECK(c.num_kv_heads == 4 && c.head_dim == 16 && c.rope_theta == 10000.0);
    CHECK(c.rms_norm_eps == 1e-6f && !c.tie_word_embeddings && c.bos_token_id == -1 &&
          c.num_eos == 0);
    CHECK(c.torch_dtype[0] == '\0' && c.qk_norm && !c.attention_bias);

    expect_ok("{\"model_type\":\"qwen3\",\"attention_bias\":true,\"dtype\":\"float16\"," BASE "}",
              &c);
    CHECK(c.attention_bias && strcmp(c.torch_dtype, "float16") == 0);
    expect_ok("{\"model_type\":\"llama\",\"rope_scaling\":{\"type\":\"default\"}," BASE "}", &c);
    CHECK(c.arch == MODEL_ARCH_LLAMA && c.rope_scaling.type == ROPE_SCALING_NONE);
    /* transformers 5 writes rope_parameters, with rope_theta inside. */
    expect_ok(
        "{\"model_type\":\"llama\",\"rope_parameters\":{\"rope_type\":\"llama3\",\"rope_theta\":"
        "500000.0,\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
        "\"original_max_position_embeddings\":8192}," BASE "}",
        &c);
    CHECK(c.rope_scaling.type == ROPE_SCALING_LLAMA3 && c.rope_theta == 5e5 &&
          c.rope_scaling.factor == 8);
    /* sliding_window is only a size: it matters when use_sliding_window turns it on. */
    expect_ok("{\"model_type\":\"qwen2\",\"sliding_window\":4096,\"use_sliding_window\":false," BASE
              "}",
              &c);
    CHECK(c.arch == MODEL_ARCH_QWEN2 && c.attention_bias && c.sliding_window == 0);
    /* Mistral-7B-v0.2 and later: sliding_window null, full attention. attention_bias is not a
     * Mistral field (transformers hard-codes no bias), so it is ignored as there. */
    expect_ok("{\"architectures\":[\"MistralForCausalLM\"],\"sliding_window\":null,"
              "\"attention_bias\":true," BASE "}",
              &c);
    CHECK(c.arch == MODEL_ARCH_MISTRAL && c.sliding_window == 0 && !c.attention_bias);
    expect_ok("{\"model_type\":\"mistral\",\"head_dim\":32,\"sliding_window\":16," BASE "}", &c);
    CHECK(c.sliding_window == 16 && c.head_dim == 32);
    /* Llama has no sliding window: the field is not read. */
    expect_ok("{\"model_type\":\"llama\",\"sliding_window\":16," BASE "}", &c);
    CHECK(c.sliding_window == 0);
}

static void test_config_errors(void)
{
    expect_error("{\"model_type\":\"gemma\"," BASE "}", "\"gemma\"",
                 "qwen3, qwen2, llama, mistral");
    expect_error("{\"model_type\":\"mistral\",\"sliding_window\":0," BASE "}", "sliding_window",
                 "integer >= 1");
    expect_error("{\"model_type\":\"mistral\",\"sliding_window\":\"4096\"," BASE "}",
                 "sliding_window", "a string");
    expect_error("{\"architectures\":[\"GPT2LMHeadModel\"]," BASE "}", "\"GPT2LMHeadModel\"",
                 "Qwen3ForCausalLM");
    expect_error("{" BASE "}", "model_type", NULL);
    expect_error(
        "{\"model_type\":\"qwen2\",\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4.0}," BASE "}",
        "unsupported rope_scaling type \"yarn\"", NULL);
    expect_error(
        "{\"model_type\":\"llama\",\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":2}," BASE
        "}",
        "unsupported rope_scaling type \"linear\"", NULL);
    expect_error("{\"model_type\":\"llama\",\"rope_scaling\":{\"rope_type\":\"dynamic\"}," BASE "}",
                 "unsupported rope_scaling type \"dynamic\"", NULL);
    expect_error(
        "{\"model_type\":\"llama\",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
        "\"low_freq_factor\":1.0,\"original_max_position_embeddings\":8192}," BASE "}",
        "rope_scaling", "high_freq_factor");
    expect_error("{\"model_type\":\"llama\",\"rope_scaling\":\"llama3\"," BASE "}", "rope_scaling",
                 NULL);
    expect_error("{\"model_type\":\"qwen3\",\"use_sliding_window\":true," BASE "}",
                 "use_sliding_window", "not supported");
    expect_error("{\"model_type\":\"qwen2\",\"use_sliding_window\":true," BASE "}",
                 "use_sliding_window", NULL);
    expect_error("{\"model_type\":\"qwen3\",\"hidden_act\":\"gelu\"," BASE "}", "hidden_act",
                 "silu");
    expect_error("{\"model_type\":\"llama\",\"mlp_bias\":true," BASE "}", "mlp_bias", NULL);

    expect_error(
        "{\"model_type\":\"qwen3\",\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"max_position_embeddings\":256}",
        "\"vocab_size\" is missing", NULL);
    expect_error(
        "{\"model_type\":\"qwen3\",\"vocab_size\":100,\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_attention_heads\":4,\"max_position_embeddings\":256}",
        "\"num_hidden_layers\" is missing", NULL);
    expect_error(
        "{\"model_type\":\"qwen3\",\"vocab_size\":100,\"hidden_size\":0,\"intermediate_size\":128,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"max_position_embeddings\":256}",
        "\"hidden_size\"", "got 0");
    expect_error("{\"model_type\":\"qwen3\",\"vocab_size\":\"100\",\"hidden_size\":64,"
                 "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                 "\"max_position_embeddings\":256}",
                 "\"vocab_size\"", "got a string");
    expect_error("{\"model_type\":\"qwen3\",\"vocab_size\":100.5,\"hidden_size\":64,"
                 "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                 "\"max_position_embeddings\":256}",
                 "\"vocab_size\"", "integer");
    expect_error("{\"model_type\":\"qwen3\",\"num_key_value_heads\":3," BASE "}",
                 "num_key_value_heads", "does not divide");
    expect_error("{\"model_type\":\"qwen3\",\"head_dim\":15," BASE "}", "head_dim", "odd");
    expect_error(
        "{\"model_type\":\"qwen3\",\"vocab_size\":100,\"hidden_size\":66,\"intermediate_size\":128,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"max_position_embeddings\":256}",
        "head_dim", "multiple");
    expect_error("{\"model_type\":\"qwen3\",\"rms_norm_eps\":\"1e-6\"," BASE "}", "rms_norm_eps",
                 NULL);
    expect_error("{\"model_type\":\"qwen3\",\"rope_theta\":-1," BASE "}", "rope_theta", NULL);
    expect_error("{\"model_type\":\"qwen3\",\"tie_word_embeddings\":1," BASE "}",
                 "tie_word_embeddings", "true or false");
    expect_error("{\"model_type\":\"qwen3\",\"eos_token_id\":[1,\"2\"]," BASE "}", "eos_token_id",
                 NULL);
    expect_error("{\"model_type\":\"qwen3\",\"eos_token_id\":[1,2,3,4,5,6,7,8,9]," BASE "}",
                 "eos_token_id", "more than 8");
    expect_error("{\"model_type\":\"qwen3\",\"torch_dtype\":7," BASE "}", "torch_dtype", NULL);
    expect_error("{\"model_type\":\"qwen3\",\"hidden_size\":64," BASE "}", "\"hidden_size\"",
                 "more than once");
    expect_error("{\"model_type\":\"qwen3\"," BASE "} {}", "after the JSON", NULL);
    expect_error("[]", "JSON object", NULL);
    expect_error("{\"model_type\":", "not valid JSON", NULL);
}

static void test_config_file_errors(void)
{
    model_config c;
    char err[512] = "";
    CHECK(model_config_load(&c, "/nonexistent/config.json", err, sizeof err) == -1);
    CHECKF(strstr(err, "/nonexistent/config.json") && strstr(err, "cannot open"), "%s", err);
}

static void test_generation_config(void)
{
    generation_config g;
    char err[512] = "x", path[1024];
    CHECK(generation_config_load(&g, "/nonexistent/generation_config.json", err, sizeof err) == 0);
    CHECK(!g.has_do_sample && !g.has_temperature && !g.has_top_p && !g.has_top_k && !g.has_min_p);
    CHECK(!g.has_repetition_penalty && !g.has_max_new_tokens && g.num_eos == 0);

    test_source_path("tests/loader/data/qwen3-4b.generation_config.json", path, sizeof path);
    CHECKF(generation_config_load(&g, path, err, sizeof err) == 0, "%s", err);
    CHECK(g.has_do_sample && g.do_sample && g.has_temperature && g.temperature == 0.6f);
    CHECK(g.has_top_p && g.top_p == 0.95f && g.has_top_k && g.top_k == 20);
    CHECK(!g.has_min_p && !g.has_repetition_penalty && !g.has_max_new_tokens);
    CHECK(g.num_eos == 2 && g.eos_token_ids[0] == 151645 && g.eos_token_ids[1] == 151643);

    const char *all =
        "{\"do_sample\":false,\"temperature\":null,\"min_p\":0.05,\"repetition_penalty\":1.1,"
        "\"max_new_tokens\":512,\"eos_token_id\":7}";
    CHECKF(generation_config_parse(&g, all, strlen(all), "g.json", err, sizeof err) == 0, "%s",
           err);
    CHECK(g.has_do_sample && !g.do_sample && !g.has_temperature && g.has_min_p && g.min_p == 0.05f);
    CHECK(g.has_repetition_penalty && g.repetition_penalty == 1.1f);
    CHECK(g.has_max_new_tokens && g.max_new_tokens == 512 && g.num_eos == 1 &&
          g.eos_token_ids[0] == 7);

    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"temperature\":\"hot\"}", "temperature"},
        {"{\"top_p\":1.5}", "top_p"},
        {"{\"top_k\":-1}", "top_k"},
        {"{\"do_sample\":\"yes\"}", "do_sample"},
        {"{\"max_new_tokens\":0}", "max_new_tokens"},
        {"{\"eos_token_id\":\"</s>\"}", "eos_token_id"},
        {"{\"top_k\":", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = generation_config_parse(&g, bad[i].json, strlen(bad[i].json),
                                         "m/generation_config.json", err, sizeof err);
        CHECKF(rc == -1 && strstr(err, "m/generation_config.json") && strstr(err, bad[i].field),
               "%s: rc %d, message \"%s\"", bad[i].json, rc, err);
    }

    /* A present but malformed file is an error, unlike a missing one. */
    char tmp[] = "/tmp/berth-genconfig-XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, "{\"top_p\":", 9) == 9);
        close(fd);
        CHECK(generation_config_load(&g, tmp, err, sizeof err) == -1);
        CHECKF(strstr(err, tmp) != NULL, "%s", err);
        unlink(tmp);
    }
}

int main(void)
{
    test_qwen3_4b();
    test_qwen25_7b();
    test_llama32_3b();
    test_mistral_7b();
    test_defaults_and_selection();
    test_config_errors();
    test_config_file_errors();
    test_generation_config();
    return test_finish("test_model_config");
}
