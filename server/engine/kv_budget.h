/* How big the paged KV cache is and how long a sequence may be, from the memory it may take: the
 * arithmetic of "defaults that start", as a pure function (tested without a device).
 * Must not: allocate, read the system's memory or know about flags beyond naming them in errors. */
#ifndef BERTH_ENGINE_KV_BUDGET_H
#define BERTH_ENGINE_KV_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kv_budget_in {
    size_t memory;         /* bytes the KV cache may take */
    size_t block_bytes;    /* one block of BK_KV_BLOCK tokens, every layer, K and V */
    int32_t num_tensors;   /* allocations the cache is made of (K and V per layer) */
    size_t align;          /* each allocation may be rounded up to this many bytes */
    int32_t extra_blocks;  /* blocks reserved beside the pool (the graphs' trash block) */
    int32_t model_max_len; /* the model's max_position_embeddings */
    int32_t max_model_len; /* asked for; 0 = the model's, lowered to what the cache holds */
    int32_t max_num_seqs;  /* the cache never holds more than this many full-length sequences */
} kv_budget_in;

typedef struct kv_budget_out {
    int32_t num_blocks;    /* the pool, extra_blocks not included */
    int32_t max_model_len; /* what was asked for, or the model's, or lowered */
    bool lowered;          /* max_model_len is below the model's because the cache holds no more */
} kv_budget_out;

/* 0, or -1 with err giving the numbers: an asked-for max_model_len that the memory cannot hold
 * once, or memory for less than one block. */
int kv_budget_plan(const kv_budget_in *in, kv_budget_out *out, char *err, size_t errlen);

/* The CPU's default KV-cache share: `fraction` of the memory available (MemAvailable), at most
 * `cap` bytes. docs/deployment.md says why. */
size_t kv_budget_cpu_share(size_t mem_available, double fraction, size_t cap);

#define KV_BUDGET_CPU_FRACTION 0.4
#define KV_BUDGET_CPU_CAP ((size_t)64 << 30)

#endif
