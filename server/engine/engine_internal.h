/* State shared by engine.c (the engine thread and its step), engine_request.c (a request's life on
 * the handlers' side), scheduler.c (what goes into a step) and engine_constraint.c. Private to
 * server/engine. */
#ifndef BERTH_ENGINE_ENGINE_INTERNAL_H
#define BERTH_ENGINE_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "server/engine/engine.h"
#include "server/engine/kv_blocks.h"
#include "server/engine/mask_pool.h"
#include "server/engine/prefix_cache.h"
#include "server/engine/step_batch.h"
#include "server/engine/step_graphs.h"
#include "server/engine/step_sampler.h"

struct engine_request {
    engine *e;
    uint64_t arrival;    /* FCFS order */
    uint64_t group;      /* the client request it belongs to (engine_submit_group) */
    int32_t round;       /* its index among its group's waiting sequences; -1: at the head */
    bool arrival_counted; /* counted in e->live_requests */
    /* ---- engine thread only ---- */
    int32_t *tokens;     /* prompt, then generated tokens */
    int32_t prompt_len, num_tokens, capacity;
    int32_t num_computed; /* tokens whose K/V are in the cache */
    int32_t num_indexed;  /* leading blocks of table in the prefix cache's index */
    int32_t cached_tokens; /* prompt tokens shared from the prefix cache at first admission */
    bool admitted;        /* scheduled at least once */
    bool admitted_now;    /* admitted into the step being built */
    int32_t step_indexed_from; /* num_indexed before the step being built */
    atomic_bool stop_asked; /* cancelled or released: read by the forward's abandon check */
    kvb_table table;
    sampler_state sampler;
    sampling_params sampling;
    int32_t *bias_ids, *stop_ids;
    float *bias_values;
    int32_t num_stop_ids;
    int32_t max_tokens, min_tokens;
    int32_t *scripted; /* engine_request_params.scripted_tokens (test only) */
    int32_t num_scripted;
    /* prompt logprobs (engine_request_params.prompt_logprobs): per position p in
     * 0 .. prompt_len-2, what the logits at p say of token p+1; positions before plp_next are
     * done and never rewritten (a preempted request recomputes its K/V, not these). */
    bool want_plp;
    int32_t plp_top, plp_next;
    float *plp_logprob;                   /* [prompt_len - 1] */
    int32_t *plp_rank;                    /* [prompt_len - 1] */
    int32_t *plp_top_ids;                 /* [(prompt_len - 1) * plp_top] */
    float *plp_top_lps;                   /* [(prompt_len - 1) * plp_top] */
    int32_t plp_from, plp_count, plp_row; /* this step: positions and their first logits row */
    int32_t step_tokens;  /* tokens scheduled in the current step */
    int32_t logits_row;   /* its row in the current step's logits, or -1 */
    bool in_step;         /* has tokens in the step being built */
    /* the constraint (constraint.ops NULL: none); engine_constraint.c */
    engine_constraint constraint;
    void *matcher;        /* while the constraint is active */
    int32_t prefix_left;  /* prefix_mask tokens still allowed before the grammar's first */
    bool matcher_fed;     /* the matcher has accepted a token since it started */
    bool open_allowed;    /* the first token may be constraint.open_token */
    uint32_t *mask_out;   /* this step's mask row (the mask job's output) */
    bool constraint_ended; /* the matcher terminated (without rearm): finish after this token */
    bool constraint_broken; /* a sampled token was refused or a mask failed: abort */
    const char *constraint_error; /* why it broke (engine_event.error) */
    /* ---- guarded by e->lock ---- */
    engine_event *events; /* ring buffer */
    int32_t first_event, num_events, cap_events;
    bool finished;        /* no more events will be pushed */
    bool cancelled;       /* asked to stop */
    bool released;        /* the handler is done with it */
    bool engine_done;     /* the engine is done with it */
    pthread_cond_t cond;
    engine_request *next_inbox;
};

/* Requests in a fixed-capacity array, in order. */
typedef struct request_list {
    engine_request **items;
    int32_t count, capacity;
} request_list;

struct engine {
    model *m;
    bk_backend *be;
    engine_config cfg;
    int32_t vocab;
    kvb_pool pool;
    prefix_cache pc; /* pc.pool == NULL: prefix caching off */
    int32_t *match;  /* [blocks of max_model_len]: a prefix lookup's blocks */
    step_batch batch;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;         /* new requests or cancellations for the engine thread */
    pthread_cond_t drained;      /* live_requests reached 0 (engine_stop waits for it) */
    int32_t live_requests;       /* submitted and not yet freed */
    engine_request *inbox_head, *inbox_tail;
    int32_t inbox_count;
    bool stopping;
    bool failed;
    uint64_t resets_asked, resets_done; /* engine_reset_prefix_cache, guarded by lock */
    pthread_cond_t reset_cond;
    char failure[512];
    uint64_t next_arrival, next_group;
    /* engine thread only */
    request_list waiting, running;
    step_sampler sampler;
    step_graphs graphs;          /* be == NULL when decode steps run op by op */
    kvb_table trash;             /* with graphs: the block padded rows write to */
    step_sampler_row *rows;      /* [max_num_seqs]: the step's logits rows */
    sampled_token *picked;       /* [max_num_seqs]: their tokens */
    engine_request **sched;      /* [max_num_seqs]: the step's sequences (engine thread only) */
    mask_pool masks;             /* constraint masks, while the forward runs */
    mask_job *mask_jobs;         /* [max_num_seqs] */
    int32_t step_bucket;         /* the step's graph bucket, 0: op by op */
    engine_request **step_reqs;  /* the step's sequences, for the abandon check */
    int32_t step_count;
    bool abandon_armed;          /* the forward may be abandoned (an eager step with a prefill) */
    atomic_bool stop_now;        /* shutting down: abandon the forward */
    atomic_uint_fast64_t mask_compute_ns; /* summed by the mask threads */
    engine_stats stats;          /* guarded by lock */
    int32_t plp_rows;            /* engine_prompt_logit_rows */
    int32_t plp_rows_used;       /* in the step being built */
    /* Host copy of a step's logits rows, taken by the first submit that asks for prompt logprobs
     * (with e->lock held), then read by the engine thread only. */
    float *plp_logits;
};

/* scheduler.c: fills e->batch with this step's work; returns the number of sequences scheduled.
 * Sets step_tokens and logits_row on each scheduled request, and preempts when blocks run out. */
int32_t sched_build_step(engine *e, engine_request **scheduled, char *err, size_t errlen);
/* Frees a sequence's blocks and puts it back at the head of the waiting queue (recompute). */
void sched_preempt(engine *e, engine_request *r);
/* Undoes a step whose forward was abandoned between layers: as if it had not been scheduled. */
void sched_abandon(engine *e, engine_request **scheduled, int32_t n);

/* engine_prompt.c: after a step's forward, the prompt logprobs of the step's positions. */
int engine_prompt_logprobs_step(engine *e, engine_request **sched, int32_t n,
                                const bk_tensor *logits, char *err, size_t errlen);

/* engine_constraint.c: the constraint's part of a request's life. */
int constraint_attach(engine_request *r, const engine_constraint *c); /* at submit; -1: OOM */
void constraint_detach(engine_request *r);                            /* at free */
/* A submit that fails after attach: the matcher goes, the caller keeps the grammar reference. */
void constraint_unattach(engine_request *r);
/* Whether r's next token is constrained; if so, a job that fills mask. */
bool constraint_mask_job(engine_request *r, uint32_t *mask, mask_job *job);
/* After r sampled token: advances, starts or ends the matcher. */
void constraint_after_token(engine_request *r, int32_t token);

/* engine_request.c: the engine's answers to a request, with e->lock held. engine_push_event queues
 * one event (a failed grow aborts the request instead); engine_finish_request is the engine done
 * with r: its blocks go back, its last event is queued, and it is freed if its handler let go. */
void engine_push_event(engine_request *r, const engine_event *ev);
void engine_finish_request(engine *e, engine_request *r, finish_reason why, const sampled_token *tok);

void request_list_remove(request_list *l, engine_request *r);
int request_list_push(request_list *l, engine_request *r);
int request_list_push_front(request_list *l, engine_request *r);
/* Inserts r after the last waiting sequence of a round <= r->round (round-robin admission). */
int request_list_insert_round(request_list *l, engine_request *r);

#endif
