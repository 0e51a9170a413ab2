/* Seeded random weights for berth-make-model: a per-tensor xoshiro256** stream and dtype encoding.
 * Owns no files; it must not allocate, so a tensor of any size is filled chunk by chunk. */
#ifndef BERTH_MM_INIT_H
#define BERTH_MM_INIT_H

#include <stddef.h>
#include <stdint.h>

#include "tools/make_model/mm_spec.h"

typedef struct {
    uint64_t s[4];
    mm_init_kind kind;
    float scale; /* half-width of the uniform distribution around the centre */
    uint32_t spare; /* the unused 24-bit half of the last 64-bit draw */
    int have_spare;
} mm_rng;

/* Starts the stream of tensor `index`: each tensor has its own stream, so a tensor's values depend
 * only on (seed, index, kind), not on chunk sizes or on the tensors written before it. */
void mm_rng_start(mm_rng *r, uint64_t seed, int index, mm_init_kind kind, double init_std);
/* Writes the next n values, encoded little-endian in dtype d, to out (n * mm_dtype_size(d) bytes). */
void mm_rng_fill(mm_rng *r, mm_dtype d, size_t n, unsigned char *out);

#endif
