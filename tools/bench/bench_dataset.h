/* The random dataset of berth-bench (vllm's "random" with fixed lengths): request bodies whose
 * prompts are random token ids (/completions) or random words (chat), and Poisson arrival times.
 * Owns the seeded generator and the JSON bodies; never talks to a server. */
#ifndef BERTH_BENCH_DATASET_H
#define BERTH_BENCH_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} bench_rng;

void bench_rng_seed(bench_rng *r, uint64_t seed);
uint64_t bench_rng_next(bench_rng *r);
/* Uniform in [0, 1). */
double bench_rng_uniform(bench_rng *r);

typedef struct {
    bool chat;            /* /chat/completions: messages of random words; else prompt token ids */
    const char *model;
    int input_len, output_len;
    int vocab_size;       /* token ids are drawn from [0, vocab_size) */
} bench_dataset_spec;

/* A streamed request body with ignore_eos, temperature 0 and stream_options.include_usage.
 * Returns a malloc'd string, or NULL when memory runs out. */
char *bench_dataset_body(const bench_dataset_spec *spec, bench_rng *r);

/* Send offsets in seconds for n requests: all 0 when rate <= 0 (inf), else the first at 0 and
 * exponential gaps of mean 1/rate (a Poisson process). */
void bench_dataset_arrivals(bench_rng *r, double rate, double *out, size_t n);

#endif
