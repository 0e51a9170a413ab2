/* The matcher's private state, shared by gr_match.c (expansion, states, transitions, masks) and
 * gr_slice.c (choosing the slice and tier of a state's mask). Nothing else includes this; the
 * contract is grammar.h. */
#ifndef BERTH_GR_MATCH_INT_H
#define BERTH_GR_MATCH_INT_H

#include "models/grammar/gr_internal.h"

/* Past these the matcher drops its caches and rebuilds its live state: a matcher's tables stay
 * within a few tens of MiB whatever the grammar and the length of the output. */
#define M_MAX_NODES (1 << 20)
#define M_MAX_STATES (1 << 14)
#define M_MAX_POOL (1 << 22)
/* Masks kept per band (least recently used goes first): 64 band-0 masks are 1.2 MiB on Qwen3 (a
 * band-1 mask is 240 bytes). A schema's output visits more than 32 distinct states (each key, each
 * pattern position), and a repeated schema's pooled matcher should still hold the costly ones. */
#define M_MASK_CACHE 64
/* Matchers a grammar keeps for its next sequences, and the tables beyond which one is not kept
 * (a pooled matcher holds at most a few MiB) */
#define M_POOL_IDLE 2
#define M_POOL_MAX_NODES (1 << 18)
#define M_POOL_MAX_STATES (1 << 13)
#define M_MAX_PAIRS 256 /* pairs per level when exploring a slice from a state */
/* and from a rule alone (rule_slice): its states are small, its result serves every state that
 * enters the rule, and the rule of an object's other keys (a trie of the defined keys with a way
 * out at each node) has a pair per trie node */
#define M_MAX_RULE_PAIRS 4096
#define M_PSET 16384 /* > 2 * M_MAX_RULE_PAIRS: the pair set stays under half full */
/* Work (expansion units, a few ns each) one exploration may spend before it gives up (the slice
 * is then not used: a slower mask, never a wrong one): from a state, from one rule, and over the
 * rules of one state. Without these a state of hundreds of stacks could spend the whole call's
 * budget choosing how to compute its mask and fail the call. A rule's check gets more: its result
 * is kept for every later state (and sequence) of the grammar, and the rule of any other key of an
 * object with 50 long names has a thousand trie nodes, each with a move per byte class. */
#define M_STATE_UNITS (1ll << 20)
#define M_RULE_UNITS (1ll << 23)
#define M_HINT_UNITS (1ll << 23)
#define M_MAX_XR 1024 /* rules recorded per state (rule_slice hints) */

typedef struct mnode {
    int32_t pos, parent, hnext;
} mnode;

typedef struct mstate {
    int32_t tops_at, n_tops, hnext, trans_at; /* trans_at: one entry per byte class, -1 if none */
    int32_t rules_at, n_rules; /* the rules its closure entered at their start (in pool) */
    uint32_t hash;
    bool accept;
    int8_t slice;   /* the slice allowed wholesale from here: -1 not known yet, GR_N_SLICES none */
    int8_t tier;    /* and its tier (gr_tier_len) */
    int32_t abs[2]; /* the state whose band-b mask this one has (gr_mabs), -1 not known yet */
} mstate;

enum { DEAD = 0, UNKNOWN = -1 };

struct gr_matcher {
    const gr_grammar *g;
    mnode *nodes;
    int32_t n_nodes, cap_nodes;
    int32_t *nbucket;
    uint32_t nbmask;
    uint32_t *stamp, cur_stamp;
    mstate *states;
    int32_t n_states, cap_states;
    int32_t *sbucket;
    uint32_t sbmask;
    int32_t *pool;
    int64_t n_pool, cap_pool;
    int32_t *trans;
    /* per transition: which of the state's tops (up to 64) the byte class matches; see step */
    uint64_t *tsig;
    int64_t n_trans, cap_trans, cap_tsig;
    int32_t *work, *out;
    int32_t cap_work, cap_out;
    int32_t cur;
    int32_t *dfs;
    /* rules entered during the current expansion (deduplicated by rule_stamp == cur_stamp) */
    int32_t *xr, n_xr;
    uint32_t *rule_stamp;
    /* per rule: the slice every string of which stays alive inside the rule alone (GR_N_SLICES
     * none, -1 not known yet); see rule_slice */
    int8_t *rule_slice; /* states along the trie path during fill_mask */
    /* the last masks computed per band, by the state that stands for the current one (gr_mabs):
     * text inside one string or number keeps coming back to the same state (equal stacks are one
     * node), and every position of a long maxLength string to the same stand-in, so most steps of
     * a long value are a copy */
    int32_t mask_state[2][M_MASK_CACHE];
    uint32_t *mask_cache[2][M_MASK_CACHE];
    uint64_t mask_used[2][M_MASK_CACHE], mask_clock;   /* least recently used goes first */
    uint8_t move_b[GR_N_SLICES][GR_SLICE_STATES][256]; /* see slice_moves */
    int8_t move_q[GR_N_SLICES][GR_SLICE_STATES][256];
    int16_t n_moves[GR_N_SLICES][GR_SLICE_STATES];
    int32_t pair_a[2][M_MAX_RULE_PAIRS]; /* slice exploration: this and the next level's pairs */
    int8_t pair_q[2][M_MAX_RULE_PAIRS];
    uint64_t pset_key[M_PSET];
    uint32_t pset_mark[M_PSET], pset_gen;
    int64_t budget;     /* expansion units left to this API call */
    uint32_t clock_div; /* the deadline is read every 4096 expansions */
    double deadline;    /* CLOCK_MONOTONIC seconds */
    bool exhausted;     /* the budget ran out: results of this call are not cached */
    bool uncached;      /* not pooled (gr_matcher_new_uncached) */
    bool no_slices;     /* every mask walks the whole trie (gr_matcher_new_uncached) */
};

static inline uint32_t gr_mmix(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x7feb352d;
    h ^= h >> 15;
    h *= 0x846ca68b;
    h ^= h >> 16;
    return h;
}

/* gr_match.c: the state after byte b from state s (DEAD when b leaves the language); the state of
 * rule r's alternatives at their start over an empty stack. */
int32_t gr_mstep(gr_matcher *m, int32_t s, unsigned b);
int32_t gr_mexpand_rule(gr_matcher *m, int32_t r);
/* gr_slice.c: the slices' moves (at matcher creation); the slice and tier of state s. */
void gr_mslice_moves(gr_matcher *m);
void gr_mchoose_slice(gr_matcher *m, int32_t s);

#endif
