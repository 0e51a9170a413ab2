/* Model shapes for berth-make-model: presets, overrides, validation, the tensor list and its sizes.
 * Owns nothing on disk; it must not know how tensors are filled or written. */
#ifndef BERTH_MM_SPEC_H
#define BERTH_MM_SPEC_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MM_BF16, MM_F32 } mm_dtype;

typedef struct {
    int hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, max_pos;
    double rope_theta, rms_eps;
    int tied;
    mm_dtype dtype;
    uint64_t seed;
    double init_std; /* std of the embedding and of every linear layer */
} mm_spec;

typedef enum { MM_INIT_LINEAR, MM_INIT_NORM } mm_init_kind;

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[2];
    mm_init_kind init;
} mm_tensor;

/* Names accepted by mm_spec_preset, for help and error texts. */
extern const char *const mm_preset_names;

/* Fills *spec with a preset's shapes (dtype bf16, seed 0, init_std 0.02). Returns 0, or -1 with a
 * message naming the preset and the known ones. */
int mm_spec_preset(const char *name, mm_spec *spec, char *err, size_t errlen);
/* Checks that the shapes are positive and consistent (heads a multiple of kv_heads, ...). */
int mm_spec_validate(const mm_spec *spec, char *err, size_t errlen);
/* Number of tensors the checkpoint holds. */
int mm_spec_tensor_count(const mm_spec *spec);
/* The i-th tensor in file order, named as Hugging Face's Qwen3ForCausalLM names it. */
void mm_spec_tensor(const mm_spec *spec, int i, mm_tensor *t);
int64_t mm_tensor_elems(const mm_tensor *t);
size_t mm_dtype_size(mm_dtype d);
int64_t mm_spec_param_count(const mm_spec *spec);

#endif
