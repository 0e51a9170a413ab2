/* Backend-independent test harness for the op interface: seeded random inputs (activations, weights
 * in every dtype, paged batches with shuffled block tables), device upload/download helpers and
 * error-normalized comparison. Must not: call any backend's private code; a second backend's test
 * reuses these generators to compare against the CPU op by op. */
#ifndef BERTH_TESTS_KERNELS_OP_HARNESS_H
#define BERTH_TESTS_KERNELS_OP_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

/* ---- random numbers (splitmix64: tiny, seedable, good enough for test inputs) ---- */
typedef struct oh_rng {
    uint64_t state;
} oh_rng;

void oh_seed(oh_rng *r, uint64_t seed);
uint64_t oh_next(oh_rng *r);
/* Uniform in [lo, hi). */
float oh_uniform(oh_rng *r, float lo, float hi);
/* Uniform integer in [lo, hi). */
int oh_randint(oh_rng *r, int lo, int hi);
void oh_fill_uniform(oh_rng *r, float *x, size_t n, float lo, float hi);
/* A random permutation of 0..n-1. */
void oh_shuffle(oh_rng *r, int32_t *x, int n);

/* ---- dtype conversions written the obviously-correct way (reference side) ---- */
float oh_bf16_to_f32(uint16_t h);
uint16_t oh_f32_to_bf16(float f); /* round to nearest even */
float oh_f16_to_f32(uint16_t h);  /* via ldexp, subnormals included */

/* n random weights in `dtype` of magnitude below `scale`: `raw` receives the stored bytes
 * (n * bk_dtype_size(dtype)) and `values` the exact f32 value of each. F16 draws include
 * subnormals. */
void oh_random_weights(oh_rng *r, bk_dtype dtype, size_t n, float scale, void *raw, float *values);

/* ---- device helpers: print the backend's error and return -1 on failure ---- */
int oh_upload(bk_backend *be, bk_tensor *t, bk_dtype dtype, int64_t rows, int64_t cols,
              const void *host);
/* Allocates an f32 [rows][cols] tensor poisoned with 0xFF bytes (every element NaN). */
int oh_alloc_poisoned(bk_backend *be, bk_tensor *t, int64_t rows, int64_t cols);
int oh_download(bk_backend *be, const bk_tensor *t, int64_t rows, void *host);

/* ---- comparison ---- */
/* Passes when every |got - ref| <= tol (NaN in got fails). Prints the worst element otherwise.
 * Returns 1 on pass. */
int oh_close(const char *what, const float *got, const double *ref, size_t n, double tol);
/* max |x| over n doubles (the scale tolerances are stated against). */
double oh_max_abs(const double *x, size_t n);

/* ---- paged batches ---- */
/* S sequences; sequence s has cached[s] tokens already in the cache and new_tokens[s] computed in
 * this step. Physical blocks are drawn shuffled from a pool with `spare_blocks` unused extras, and
 * unused block_tables columns hold -1 so an over-read shows. Host arrays. */
typedef struct oh_batch {
    int32_t T, S, max_blocks, num_blocks;
    int32_t *token_ids, *positions, *slot_mapping, *query_start, *seq_lens, *block_tables;
} oh_batch;

int oh_make_batch(oh_rng *r, oh_batch *b, int S, const int *cached, const int *new_tokens,
                  int spare_blocks);
void oh_batch_free(oh_batch *b);
/* Uploads the batch arrays as I32 tensors (token ids are all 0: ops here do not read them). */
int oh_batch_upload(bk_backend *be, const oh_batch *hb, bk_batch *out);
void oh_batch_release(bk_backend *be, bk_batch *b);

#endif
