/* Choosing how a state's mask is computed: the slice whose tokens are allowed wholesale and its
 * tier, by exploring the state's product with a slice's automaton, or from the rules the state
 * entered (rule hints). Owns no tables: everything lives in the matcher (gr_match_int.h). */
#include <stdint.h>
#include <string.h>

#include "models/grammar/gr_match_int.h"

/* The (byte class, next slice state) moves of slice k from slice state q, one representative byte
 * each: exploring a slice costs one step per distinct move, not per byte. */
void gr_mslice_moves(gr_matcher *m)
{
    for (int k = 0; k < GR_N_SLICES; k++)
        for (int q = 0; q < GR_SLICE_STATES; q++) {
            int n = 0;
            for (unsigned b = 0; b < 256; b++) {
                int q2 = gr_slice_next(k, q, b);
                if (q2 < 0) continue;
                bool seen = false;
                for (int i = 0; i < n && !seen; i++)
                    seen = m->g->byte_cls[m->move_b[k][q][i]] == m->g->byte_cls[b] &&
                           m->move_q[k][q][i] == q2;
                if (seen) continue;
                m->move_b[k][q][n] = (uint8_t)b;
                m->move_q[k][q][n++] = (int8_t)q2;
            }
            m->n_moves[k][q] = (int16_t)n;
        }
}

static void next_gen(gr_matcher *m)
{
    if (++m->pset_gen == 0) { /* wrapped: old marks could look current */
        memset(m->pset_mark, 0, sizeof m->pset_mark);
        m->pset_gen = 1;
    }
}

/* A set of (state, slice state) pairs: open addressing, cleared by bumping the generation. */
static bool pset_insert(gr_matcher *m, int32_t a, int q)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 3) | (uint64_t)q;
    uint32_t h = gr_mmix((uint32_t)(key ^ (key >> 32))) & (M_PSET - 1);
    for (;; h = (h + 1) & (M_PSET - 1)) {
        if (m->pset_mark[h] != m->pset_gen) {
            m->pset_mark[h] = m->pset_gen;
            m->pset_key[h] = key;
            return true;
        }
        if (m->pset_key[h] == key) return false;
    }
}

/* Explores the pairs (matcher state, slice state) reachable from (s, 0) on the slice's bytes, level
 * by level, up to max_depth levels (0: until no new pair appears). Returns the number of levels
 * whose pairs were all alive: max_depth (or INT32_MAX when unbounded and closed) means every string
 * of the slice that long is allowed from s. */
static int32_t slice_depth(gr_matcher *m, int32_t s, int k, int max_depth, int max_pairs,
                           int64_t max_units)
{
    int64_t stop = m->budget - max_units;
    /* closure mode bounds the pairs of all levels together (they share one set), level mode the
     * pairs of one level: the set never fills beyond half */
    int n_total = 1;
    int32_t(*pa)[M_MAX_RULE_PAIRS] = m->pair_a;
    int8_t(*pq)[M_MAX_RULE_PAIRS] = m->pair_q;
    int n = 1, cur = 0;
    pa[0][0] = s;
    pq[0][0] = 0;
    next_gen(m);
    pset_insert(m, s, 0);
    for (int d = 1; max_depth == 0 || d <= max_depth; d++) {
        int nn = 0, nx = 1 - cur;
        if (max_depth > 0) next_gen(m); /* levels: a pair may recur at another depth */
        for (int i = 0; i < n; i++) {
            int q = pq[cur][i];
            for (int j = 0; j < m->n_moves[k][q]; j++) {
                int32_t a2 = gr_mstep(m, pa[cur][i], m->move_b[k][q][j]);
                int8_t q2 = m->move_q[k][q][j];
                if (a2 == DEAD || m->budget < stop) return d - 1;
                if (!pset_insert(m, a2, q2)) continue;
                if (nn == max_pairs || (max_depth == 0 && ++n_total > max_pairs)) return d - 1;
                pa[nx][nn] = a2;
                pq[nx][nn++] = q2;
            }
        }
        if (nn == 0) return INT32_MAX; /* closed: every reachable pair is alive */
        n = nn;
        cur = nx;
    }
    return max_depth;
}

/* When slice k's exploration from (s, 0) closed, every pair it reached is alive with all its
 * continuations too: the states reached at a character boundary need no exploration of their own.
 */
static void mark_closed(gr_matcher *m, int k)
{
    for (int h = 0; h < M_PSET; h++)
        if (m->pset_mark[h] == m->pset_gen && (m->pset_key[h] & 7) == 0) {
            mstate *st = &m->states[(int32_t)(m->pset_key[h] >> 3)];
            if (st->slice < 0 || st->slice > k) {
                st->slice = (int8_t)k;
                st->tier = 0;
            }
        }
}

/* The slice every string of which stays alive inside rule r alone, from r's start over an empty
 * stack (GR_N_SLICES: none). A state whose expansion entered r holds every stack of that expansion
 * (on top of r's return), so every string alive inside r alone is alive from the state: its
 * slice's tokens are allowed without exploring the state itself. This is what makes object keys
 * cheap: the state after '{"' holds dozens of stacks (each remaining property's literal key, and
 * the rule of any other key at each place it may occur), whose product with a slice has more
 * pairs than an exploration visits, while the rule of any other key alone is small. */
static int rule_slice(gr_matcher *m, int32_t r)
{
    if (m->rule_slice[r] >= 0) return m->rule_slice[r];
    int32_t s = gr_mexpand_rule(m, r);
    if (s < 0 || m->exhausted) return GR_N_SLICES; /* not cached: the next call may succeed */
    int k = m->states[s].slice;
    if (k >= 0 && m->states[s].tier > 0) k = GR_N_SLICES; /* tiered: no slice is closed */
    if (k < 0) {
        for (k = 0; k < GR_N_SLICES; k++) {
            if (slice_depth(m, s, k, 0, M_MAX_RULE_PAIRS, M_RULE_UNITS) == INT32_MAX) {
                mark_closed(m, k);
                break;
            }
            if (m->exhausted) return GR_N_SLICES;
        }
    }
    m->rule_slice[r] = (int8_t)k;
    return k;
}

/* Chooses how the mask of state s is computed: the slice and tier whose tokens are allowed
 * wholesale (the smallest remaining trie), or none. */
void gr_mchoose_slice(gr_matcher *m, int32_t s)
{
    int best = GR_N_SLICES;
    int64_t stop = m->budget - M_HINT_UNITS;
    for (int32_t i = 0; i < m->states[s].n_rules && best > 0 && m->budget > stop; i++) {
        int k = rule_slice(m, m->pool[m->states[s].rules_at + i]);
        if (m->exhausted) return;
        if (k < best) best = k;
    }
    if (best < GR_N_SLICES) {
        m->states[s].slice = (int8_t)best;
        m->states[s].tier = 0;
        return;
    }
    int k = 0, tier = 0;
    while (k < GR_N_SLICES && slice_depth(m, s, k, 0, M_MAX_PAIRS, M_STATE_UNITS) != INT32_MAX)
        k++;
    if (k < GR_N_SLICES && !m->exhausted) mark_closed(m, k);
    if (k == GR_N_SLICES) {
        int32_t depth[GR_N_SLICES];
        for (int j = 0; j < GR_N_SLICES; j++)
            depth[j] = slice_depth(m, s, j, gr_tier_len[1], M_MAX_PAIRS, M_STATE_UNITS);
        for (tier = 1; tier < GR_N_TIERS && k == GR_N_SLICES; tier++)
            for (int j = 0; j < GR_N_SLICES && k == GR_N_SLICES; j++)
                if (depth[j] >= gr_tier_len[tier]) k = j;
        tier--;
    }
    if (m->exhausted) return;
    m->states[s].slice = (int8_t)k;
    m->states[s].tier = (int8_t)(k < GR_N_SLICES ? tier : 0);
}
