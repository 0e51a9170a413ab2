/* Fuzz target: model_config_parse and generation_config_parse on arbitrary bytes must return 0 or
 * -1 with a message, never crash; an accepted config must satisfy the invariants the model code
 * relies on. */
#include "models/loader/model_config.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    model_config cfg;
    char err[512] = "";
    if (model_config_parse(&cfg, (const char *)data, size, "fuzz/config.json", err, sizeof err) ==
        0) {
        if (cfg.hidden_size <= 0 || cfg.num_kv_heads <= 0 || cfg.num_q_heads % cfg.num_kv_heads ||
            cfg.head_dim <= 0 || cfg.head_dim % 2 || cfg.num_eos < 0 || cfg.num_eos > MODEL_MAX_EOS)
            abort();
        float inv_freq[1024];
        if (cfg.head_dim <= 2048) model_config_rope_inv_freq(&cfg, inv_freq);
    } else if (err[0] == '\0') {
        abort();
    }
    generation_config gc;
    err[0] = '\0';
    if (generation_config_parse(&gc, (const char *)data, size, "fuzz/generation_config.json", err,
                                sizeof err) == 0) {
        if (gc.num_eos < 0 || gc.num_eos > MODEL_MAX_EOS) abort();
    } else if (err[0] == '\0') {
        abort();
    }
    return 0;
}
