/* A checkpoint's config.json and generation_config.json -> validated plain structs, and the RoPE
 * frequencies they imply. Owns: which architectures and config fields berth accepts.
 * Must not: touch weights or tokenizers; anything unsupported is an error here, not a guess later.
 */
#ifndef BERTH_MODELS_LOADER_MODEL_CONFIG_H
#define BERTH_MODELS_LOADER_MODEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    MODEL_ARCH_QWEN3,
    MODEL_ARCH_QWEN2,
    MODEL_ARCH_LLAMA,
    MODEL_ARCH_MISTRAL
} model_arch;
typedef enum { ROPE_SCALING_NONE, ROPE_SCALING_LLAMA3 } rope_scaling_type;

#define MODEL_MAX_EOS 8

typedef struct model_config {
    model_arch arch;
    char model_type[32]; /* "qwen3", "qwen2", "llama", "mistral" */
    int32_t vocab_size, hidden_size, intermediate_size, num_layers;
    int32_t num_q_heads, num_kv_heads, head_dim; /* head_dim defaults to hidden/heads when absent */
    int32_t max_position_embeddings;
    float rms_norm_eps;
    double rope_theta;
    bool tie_word_embeddings;
    bool attention_bias; /* q/k/v projections have biases (Qwen2/2.5: always true) */
    bool qk_norm;        /* per-head RMSNorm on q and k (Qwen3: true) */
    /* Mistral: each token attends to the last sliding_window positions (itself included); 0 = all
     * earlier positions (null or absent in config.json, and every other architecture). */
    int32_t sliding_window;
    struct {
        rope_scaling_type type;
        double factor, low_freq_factor, high_freq_factor;
        int32_t original_max_position_embeddings;
    } rope_scaling;
    int32_t bos_token_id; /* -1 when absent */
    int32_t eos_token_ids[MODEL_MAX_EOS];
    int num_eos;          /* eos_token_id may be an int or a list */
    char torch_dtype[16]; /* "bfloat16" ... or "" ("dtype" is the newer key name) */
} model_config;

/* Reads and validates config.json. Returns 0, or -1 with err naming the file, the field and what
 * was expected. */
int model_config_load(model_config *cfg, const char *path, char *err, size_t errlen);
/* The same over bytes already in memory (`json` need not be NUL-terminated); `path` names them in
 * errors. */
int model_config_parse(model_config *cfg, const char *json, size_t len, const char *path, char *err,
                       size_t errlen);
/* inv_freq[i], i < head_dim/2, exactly as Hugging Face computes it in float32:
 * 1.0f / powf((float)theta, (float)(2*i) / (float)head_dim), then llama3 scaling when configured
 * (transformers' _compute_llama3_parameters). */
void model_config_rope_inv_freq(const model_config *cfg, float *inv_freq);

typedef struct generation_config {
    bool has_do_sample;
    bool do_sample;
    bool has_temperature;
    float temperature;
    bool has_top_p;
    float top_p;
    bool has_top_k;
    int32_t top_k;
    bool has_min_p;
    float min_p;
    bool has_repetition_penalty;
    float repetition_penalty;
    bool has_max_new_tokens;
    int32_t max_new_tokens;
    int32_t eos_token_ids[MODEL_MAX_EOS];
    int num_eos;
} generation_config;

/* A missing file is not an error: every has_* stays false and num_eos is 0. A malformed one is.
 * A field that is null counts as absent, as it does for Hugging Face. */
int generation_config_load(generation_config *gc, const char *path, char *err, size_t errlen);
int generation_config_parse(generation_config *gc, const char *json, size_t len, const char *path,
                            char *err, size_t errlen);

#endif
