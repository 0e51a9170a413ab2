#include "server/engine/step_graphs.h"

#include <stdio.h>
#include <stdlib.h>

enum { SLOT_NEW = 0, SLOT_SEEN, SLOT_RECORDED, SLOT_EAGER };

/* The sampler's variants: which of bias, counts and logprobs the recorded sample call reads; and
 * the forward alone, for steps with constrained rows (their masks are computed on host threads
 * while the forward runs, so the engine enqueues the sample op itself once they are uploaded). */
#define VARIANTS 16

bool step_graphs_supported(const bk_backend *be)
{
    const bk_ops *o = be->ops;
    return o->graph_capture_begin && o->graph_capture_end && o->graph_launch && o->graph_free;
}

int step_graphs_init(step_graphs *g, bk_backend *be, int32_t max_seqs, char *err, size_t errlen)
{
    *g = (step_graphs){.be = be};
    if (!step_graphs_supported(be) || max_seqs <= 0) {
        snprintf(err, errlen, "graphs: backend %s has no graph hooks or max_seqs %d < 1", be->name,
                 max_seqs);
        return -1;
    }
    /* vLLM's capture sizes: 1, 2, 4, then every multiple of 8; the largest is max_seqs itself. */
    g->buckets = malloc(sizeof(int32_t) * (size_t)(max_seqs + 3));
    if (!g->buckets) goto oom;
    for (int32_t b = 1; b < max_seqs; b = b < 8 ? b * 2 : b + 8)
        g->buckets[g->num_buckets++] = b;
    g->buckets[g->num_buckets++] = max_seqs;
    g->slots = calloc((size_t)g->num_buckets * VARIANTS, sizeof *g->slots);
    if (!g->slots) goto oom;
    return 0;
oom:
    snprintf(err, errlen, "graphs: out of host memory");
    step_graphs_free(g);
    return -1;
}

void step_graphs_free(step_graphs *g)
{
    if (g->slots)
        for (int32_t i = 0; i < g->num_buckets * VARIANTS; i++)
            if (g->slots[i].graph) g->be->ops->graph_free(g->be, g->slots[i].graph);
    free(g->slots);
    free(g->buckets);
    *g = (step_graphs){0};
}

int32_t step_graphs_bucket(const step_graphs *g, int32_t n)
{
    for (int32_t i = 0; i < g->num_buckets; i++)
        if (g->buckets[i] >= n) return g->buckets[i];
    return -1;
}

static int eager(step_graphs *g, model *m, const bk_batch *batch, step_sampler *s,
                 const bk_tensor **logits, char *err, size_t errlen)
{
    if (model_forward(m, batch, logits, err, errlen) ||
        (!s->use_mask && step_sampler_enqueue(s, *logits, err, errlen)))
        return -1;
    g->logits = *logits;
    return 0;
}

static int record(step_graphs *g, model *m, const bk_batch *batch, step_sampler *s, bk_graph **out,
                  char *err, size_t errlen)
{
    const bk_ops *ops = g->be->ops;
    if (ops->graph_capture_begin(g->be)) {
        snprintf(err, errlen, "%s", ops->last_error(g->be));
        return -1;
    }
    const bk_tensor *logits;
    int failed = eager(g, m, batch, s, &logits, err, errlen);
    int ended = ops->graph_capture_end(g->be, out);
    if (!failed && ended) snprintf(err, errlen, "%s", ops->last_error(g->be));
    return failed || ended ? -1 : 0;
}

int step_graphs_run(step_graphs *g, model *m, const bk_batch *batch, step_sampler *s,
                    const bk_tensor **logits, char *err, size_t errlen)
{
    int32_t b = 0;
    while (b < g->num_buckets && g->buckets[b] != batch->num_seqs)
        b++;
    if (b == g->num_buckets) {
        snprintf(err, errlen, "graphs: a batch of %d sequences is not padded to a bucket",
                 batch->num_seqs);
        return -1;
    }
    int variant = s->use_mask
                      ? 8
                      : (s->use_bias ? 1 : 0) + (s->use_counts ? 2 : 0) + (s->use_logprobs ? 4 : 0);
    step_graph_slot *slot = &g->slots[b * VARIANTS + variant];
    if (slot->state == SLOT_SEEN) {
        /* This very step runs uncaptured first, so that every plan its ops need (cuBLASLt's) is
         * cached right before the capture, however many other shapes went by since the bucket was
         * first seen; that run is the step's result, and the graph serves the next ones. */
        if (eager(g, m, batch, s, logits, err, errlen)) return -1;
        char why[512];
        if (record(g, m, batch, s, &slot->graph, why, sizeof why) == 0) {
            slot->state = SLOT_RECORDED;
        } else {
            slot->state = SLOT_EAGER;
            if (!g->failure_logged)
                fprintf(stderr,
                        "engine: recording a decode step of %d sequences as a graph failed, "
                        "running it op by op: %s\n",
                        batch->num_seqs, why);
            g->failure_logged = true;
        }
        g->logits = *logits;
        return 0;
    }
    if (slot->state == SLOT_RECORDED) {
        if (g->be->ops->graph_launch(g->be, slot->graph)) {
            snprintf(err, errlen, "graph launch: %s", g->be->ops->last_error(g->be));
            return -1;
        }
        g->launches++;
        *logits = g->logits;
        return 0;
    }
    if (slot->state == SLOT_NEW) slot->state = SLOT_SEEN;
    return eager(g, m, batch, s, logits, err, errlen);
}
