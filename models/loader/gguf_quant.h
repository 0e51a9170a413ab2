/* ggml's tensor encodings -> float: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K and Q6_K, bit for bit as
 * ggml's dequantize_row_* (and the `gguf` Python package) compute them, plus float -> bf16/f16.
 * Owns: the block layouts. Must not: know tensor names, shapes or files. */
#ifndef BERTH_MODELS_LOADER_GGUF_QUANT_H
#define BERTH_MODELS_LOADER_GGUF_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether gguf_dequant handles this ggml type. */
bool gguf_quant_supported(uint32_t ggml_type);
/* n elements (a whole number of the type's blocks) from src to dst. Returns 0, or -1 for an
 * unsupported type or a partial block. */
int gguf_dequant(uint32_t ggml_type, const uint8_t *src, float *dst, int64_t n);

float gguf_f16_to_f32(uint16_t h);
uint16_t gguf_f32_to_f16(float f);  /* round to nearest even, as numpy and torch do */
uint16_t gguf_f32_to_bf16(float f); /* round to nearest even; NaN stays NaN, as torch does */

#endif
