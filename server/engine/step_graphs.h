/* Decode steps as recorded graphs (CUDA graphs through the backend's optional graph hooks): one
 * graph per batch-size bucket and sampling variant, recorded lazily and replayed with one launch.
 * Owns the buckets and the graphs. Must not: schedule or pad batches (the engine pads to the bucket
 * and uploads before calling here), nor download anything. */
#ifndef BERTH_ENGINE_STEP_GRAPHS_H
#define BERTH_ENGINE_STEP_GRAPHS_H

#include <stdbool.h>

#include "kernels/backend.h"
#include "models/arch/model.h"
#include "server/engine/step_sampler.h"

typedef struct step_graph_slot {
    int state; /* step_graphs.c: new, seen once, recorded, or eager for good */
    bk_graph *graph;
} step_graph_slot;

typedef struct step_graphs {
    bk_backend *be;
    int32_t num_buckets;
    int32_t *buckets;        /* ascending: 1, 2, 4, 8, 16, 24, ... up to max_seqs */
    step_graph_slot *slots;  /* [num_buckets][16]: by the sampler's variant (step_graphs.c) */
    const bk_tensor *logits; /* the forward's logits tensor, the same on every call */
    bool failure_logged;
    uint64_t launches;
} step_graphs;

/* Whether be has the graph hooks. */
bool step_graphs_supported(const bk_backend *be);
int step_graphs_init(step_graphs *g, bk_backend *be, int32_t max_seqs, char *err, size_t errlen);
void step_graphs_free(step_graphs *g);

/* The smallest bucket holding n sequences (n <= max_seqs). */
int32_t step_graphs_bucket(const step_graphs *g, int32_t n);

/* Forward + the sampler's enqueue (the forward alone when the sampler has constrained rows: the
 * caller uploads their masks and enqueues) for a decode batch padded to a bucket, uploaded, with max_seq_len
 * 0 (attention planned for the longest context, as recorded) and the sampler staged for the whole
 * bucket. The first step of a (bucket, sampling variant) runs op by op, so the backend settles its
 * per-shape plans outside any recording; the second records and launches; later ones launch. A
 * recording that fails is logged once and that variant stays op by op. */
int step_graphs_run(step_graphs *g, model *m, const bk_batch *batch, step_sampler *s,
                    const bk_tensor **logits, char *err, size_t errlen);

#endif
