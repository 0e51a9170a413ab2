/* Model shapes for berth-make-model. */
#include "tools/make_model/mm_spec.h"

#include <stdio.h>
#include <string.h>

const char *const mm_preset_names = "tiny, demo, qwen3-0.6b, qwen3-4b";

typedef struct {
    const char *name;
    mm_spec spec;
} preset;

/* hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, max_pos, theta, eps, tied */
static const preset presets[] = {
    {"tiny", {64, 2, 4, 2, 32, 128, 512, 2048, 1e6, 1e-6, 1, MM_BF16, 0, 0.02}},
    /* Real Qwen3 vocabulary so that the real tokenizer and chat template work with it. */
    {"demo", {256, 4, 8, 4, 64, 768, 151936, 40960, 1e6, 1e-6, 1, MM_BF16, 0, 0.02}},
    {"qwen3-0.6b", {1024, 28, 16, 8, 128, 3072, 151936, 40960, 1e6, 1e-6, 1, MM_BF16, 0, 0.02}},
    {"qwen3-4b", {2560, 36, 32, 8, 128, 9728, 151936, 40960, 1e6, 1e-6, 1, MM_BF16, 0, 0.02}},
};

int mm_spec_preset(const char *name, mm_spec *spec, char *err, size_t errlen) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name) == 0) {
            *spec = presets[i].spec;
            return 0;
        }
    }
    snprintf(err, errlen, "--preset: unknown preset '%s' (expected one of: %s)", name, mm_preset_names);
    return -1;
}

int mm_spec_validate(const mm_spec *s, char *err, size_t errlen) {
    const struct {
        const char *opt;
        int value;
    } dims[] = {{"--hidden", s->hidden},         {"--layers", s->layers},   {"--heads", s->heads},
                {"--kv-heads", s->kv_heads},     {"--head-dim", s->head_dim},
                {"--intermediate", s->intermediate}, {"--vocab", s->vocab}, {"--max-pos", s->max_pos}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        if (dims[i].value <= 0) {
            snprintf(err, errlen, "%s: got %d, expected a positive integer", dims[i].opt, dims[i].value);
            return -1;
        }
    }
    if (s->heads % s->kv_heads != 0) {
        snprintf(err, errlen, "--kv-heads: %d does not divide --heads %d (grouped-query attention needs "
                 "heads to be a multiple of kv-heads)", s->kv_heads, s->heads);
        return -1;
    }
    if (s->head_dim % 2 != 0) {
        snprintf(err, errlen, "--head-dim: got %d, expected an even number (rotary embeddings rotate pairs)",
                 s->head_dim);
        return -1;
    }
    if (!(s->rope_theta > 0)) {
        snprintf(err, errlen, "--rope-theta: got %g, expected a positive number", s->rope_theta);
        return -1;
    }
    if (!(s->rms_eps > 0)) {
        snprintf(err, errlen, "--rms-eps: got %g, expected a positive number", s->rms_eps);
        return -1;
    }
    if (!(s->init_std > 0 && s->init_std < 10)) {
        snprintf(err, errlen, "--init-std: got %g, expected a number in (0, 10)", s->init_std);
        return -1;
    }
    return 0;
}

enum { PER_LAYER = 11 };

int mm_spec_tensor_count(const mm_spec *s) { return 2 + s->layers * PER_LAYER + (s->tied ? 0 : 1); }

static void set(mm_tensor *t, mm_init_kind init, int64_t rows, int64_t cols) {
    t->init = init;
    t->ndim = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
}

void mm_spec_tensor(const mm_spec *s, int i, mm_tensor *t) {
    const int64_t h = s->hidden, q = (int64_t)s->heads * s->head_dim, kv = (int64_t)s->kv_heads * s->head_dim;
    memset(t, 0, sizeof *t);
    if (i == 0) {
        snprintf(t->name, sizeof t->name, "model.embed_tokens.weight");
        set(t, MM_INIT_LINEAR, s->vocab, h);
        return;
    }
    int rest = i - 1;
    if (rest < s->layers * PER_LAYER) {
        const int layer = rest / PER_LAYER, which = rest % PER_LAYER;
        static const char *const names[PER_LAYER] = {
            "input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
            "self_attn.q_norm", "self_attn.k_norm", "self_attn.o_proj", "post_attention_layernorm",
            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
        snprintf(t->name, sizeof t->name, "model.layers.%d.%s.weight", layer, names[which]);
        switch (which) {
        case 0: case 7: set(t, MM_INIT_NORM, h, 0); break;
        case 1: set(t, MM_INIT_LINEAR, q, h); break;
        case 2: case 3: set(t, MM_INIT_LINEAR, kv, h); break;
        case 4: case 5: set(t, MM_INIT_NORM, s->head_dim, 0); break;
        case 6: set(t, MM_INIT_LINEAR, h, q); break;
        case 8: case 9: set(t, MM_INIT_LINEAR, s->intermediate, h); break;
        default: set(t, MM_INIT_LINEAR, h, s->intermediate); break;
        }
        return;
    }
    rest -= s->layers * PER_LAYER;
    if (rest == 0) {
        snprintf(t->name, sizeof t->name, "model.norm.weight");
        set(t, MM_INIT_NORM, h, 0);
    } else {
        snprintf(t->name, sizeof t->name, "lm_head.weight");
        set(t, MM_INIT_LINEAR, s->vocab, h);
    }
}

int64_t mm_tensor_elems(const mm_tensor *t) { return t->ndim == 2 ? t->shape[0] * t->shape[1] : t->shape[0]; }

size_t mm_dtype_size(mm_dtype d) { return d == MM_BF16 ? 2 : 4; }

int64_t mm_spec_param_count(const mm_spec *s) {
    int64_t n = 0;
    mm_tensor t;
    for (int i = 0; i < mm_spec_tensor_count(s); i++) {
        mm_spec_tensor(s, i, &t);
        n += mm_tensor_elems(&t);
    }
    return n;
}
