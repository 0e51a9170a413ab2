/* The sampling half of an engine step: one token per logits row, with the backend's `sample` op
 * (params uploaded; only the ids and the asked-for logprobs come back) or with the host sampler.
 * Owns the op's tensors and the device rows of logit_bias and penalty counts. Must not: schedule,
 * nor read requests beyond the per-row view the engine hands it (step_sampler_row). */
#ifndef BERTH_ENGINE_STEP_SAMPLER_H
#define BERTH_ENGINE_STEP_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/backend.h"
#include "server/engine/sampler.h"

/* One logits row of the step: the request's parameters (suppress set for this step), its counts,
 * and the tokens it has generated (their number is the step of the seeded draw). */
typedef struct step_sampler_row {
    const sampling_params *params;
    const sampler_state *state;
    uint64_t owner; /* nonzero and unique per request: names the request's bias / counts rows */
    const int32_t *generated;
    int32_t num_generated;
    /* Constrained this step: the row's mask is in step_sampler_mask_row(s, row) by the time of
     * step_sampler_upload_masks (written while the forward runs). */
    bool masked;
} step_sampler_row;

typedef struct step_sampler {
    bk_backend *be;
    int32_t max_rows, vocab;
    bool on_host;
    /* ---- the op path ---- */
    bk_tensor params, out, logprobs, top_ids;
    bk_tensor bias, counts; /* [max_rows][vocab], allocated at init */
    bk_tensor mask;         /* [max_rows][mask_words], allocated at init (graphs record it) */
    bk_sample_params *host_params;
    int32_t *host_out, *host_top_ids;
    float *host_logprobs;
    float *row_f;   /* one bias row being rebuilt */
    int32_t *row_i; /* one counts row being rebuilt */
    /* What each device row of bias / counts holds: its owner (0 = zeros), how far it is current. */
    uint64_t *bias_owner, *counts_owner;
    bool *bias_suppress;
    int32_t *counts_done;
    /* the staged step */
    int32_t staged_rows;
    bool use_bias, use_counts, use_logprobs, use_mask;
    /* ---- both paths ---- */
    int32_t mask_words;   /* BK_SAMPLE_MASK_WORDS(vocab) */
    uint32_t *host_mask;  /* [max_rows][mask_words]: the constrained rows' masks of this step */
    bool *row_masked;     /* [max_rows]: as staged */
    /* ---- the host path ---- */
    float *logits; /* [max_rows][vocab] */
    float *scratch_f;
    int32_t *scratch_i;
} step_sampler;

/* on_host: sample with sampler.c on downloaded logits; forced when vocab > BK_SAMPLE_MAX_VOCAB or
 * the backend has no sample op. */
int step_sampler_init(step_sampler *s, bk_backend *be, int32_t max_rows, int32_t vocab,
                      bool on_host, char *err, size_t errlen);
void step_sampler_free(step_sampler *s);
/* Device bytes step_sampler_init allocates when sampling on the device, each tensor rounded up to
 * `align` (the memory share check before anything loads). */
size_t step_sampler_device_bytes(int32_t max_rows, int32_t vocab, size_t align);

/* Before the forward: uploads params for rows [0, num_rows) and the bias / counts rows they need.
 * padded_rows >= num_rows: rows past num_rows are greedy idle rows whose tokens nobody reads (a
 * CUDA graph's bucket). Uploads only, so a recorded forward + step_sampler_enqueue can follow. */
int step_sampler_stage(step_sampler *s, const step_sampler_row *rows, int32_t num_rows,
                       int32_t padded_rows, char *err, size_t errlen);
/* Row r's host mask buffer (mask_words words), for the step's constraint to fill. */
uint32_t *step_sampler_mask_row(step_sampler *s, int32_t r);
/* After the host masks are written: uploads the staged constrained rows' masks (nothing when no
 * row is constrained, or on the host path, which reads them in place). Before the enqueue. */
int step_sampler_upload_masks(step_sampler *s, char *err, size_t errlen);
/* Enqueues the sample op on the staged rows of logits (nothing on the host path). */
int step_sampler_enqueue(step_sampler *s, const bk_tensor *logits, char *err, size_t errlen);
/* After the forward: out[i] is row i's token and logprobs (the rows of the last stage). */
int step_sampler_collect(step_sampler *s, const bk_tensor *logits, const step_sampler_row *rows,
                         int32_t num_rows, sampled_token *out, char *err, size_t errlen);

#endif
