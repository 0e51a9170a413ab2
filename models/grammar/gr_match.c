/* The matcher: a byte-level pushdown recogniser over a compiled grammar. Its state is the set of
 * live parse stacks, each ending in a byte class; stacks are hash-consed linked nodes, so equal
 * stacks are one node and a state is a sorted set of node ids. States are interned and their
 * transitions memoised (a lazily built DFA over the stack sets), which makes re-walking the
 * vocabulary trie for each mask cheap. Exact for every grammar gr_builder_finish accepts. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/grammar/gr_match_int.h"

struct gr_matcher_pool {
    pthread_mutex_t lock;
    gr_matcher *idle[M_POOL_IDLE];
    int n_idle;
};

bool gr_pool_new(gr_grammar *g)
{
    g->pool = calloc(1, sizeof *g->pool);
    if (!g->pool) return false;
    if (pthread_mutex_init(&g->pool->lock, NULL) != 0) {
        free(g->pool);
        g->pool = NULL;
        return false;
    }
    return true;
}

static void matcher_destroy(gr_matcher *m);

void gr_pool_free(gr_grammar *g)
{
    if (!g->pool) return;
    for (int i = 0; i < g->pool->n_idle; i++)
        matcher_destroy(g->pool->idle[i]);
    pthread_mutex_destroy(&g->pool->lock);
    free(g->pool);
    g->pool = NULL;
}

/* The calling thread's CPU time, not the wall clock: a call's limit bounds the work it does, and a
 * loaded machine that preempts the thread must not fail a grammar that is fine (a sanitizer run on a
 * busy CI machine did). A call runs on one thread from start to end. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool grow64(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap) return true;
    int64_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

static bool grow32(void **p, int32_t *cap, int32_t need, size_t elem)
{
    int64_t c = *cap;
    if (!grow64(p, &c, need, elem)) return false;
    *cap = (int32_t)c;
    return true;
}

static bool rehash_nodes(gr_matcher *m, uint32_t nb)
{
    int32_t *b = malloc((size_t)nb * sizeof *b);
    if (!b) return false;
    memset(b, 0xff, (size_t)nb * sizeof *b);
    for (int32_t i = 0; i < m->n_nodes; i++) {
        uint32_t h =
            gr_mmix((uint32_t)m->nodes[i].pos * 0x9E3779B1u ^ (uint32_t)m->nodes[i].parent) &
            (nb - 1);
        m->nodes[i].hnext = b[h];
        b[h] = i;
    }
    free(m->nbucket);
    m->nbucket = b;
    m->nbmask = nb - 1;
    return true;
}

/* The node for stack (pos, parent); -2 when out of memory (-1 is the empty stack). */
static int32_t cons(gr_matcher *m, int32_t pos, int32_t parent)
{
    uint32_t h = gr_mmix((uint32_t)pos * 0x9E3779B1u ^ (uint32_t)parent);
    m->budget--;
    for (int32_t i = m->nbucket[h & m->nbmask]; i >= 0; i = m->nodes[i].hnext)
        if (m->nodes[i].pos == pos && m->nodes[i].parent == parent) return i;
    if (m->n_nodes >= m->cap_nodes) {
        int32_t cap = m->cap_nodes;
        if (!grow32((void **)&m->nodes, &m->cap_nodes, m->n_nodes + 1, sizeof *m->nodes)) return -2;
        cap = m->cap_nodes;
        uint32_t *st = realloc(m->stamp, (size_t)cap * sizeof *st);
        if (!st) return -2;
        m->stamp = st;
    }
    int32_t i = m->n_nodes++;
    m->budget -= 32; /* a new node is what makes an expansion expensive: memory, cache misses */
    m->nodes[i].pos = pos;
    m->nodes[i].parent = parent;
    m->stamp[i] = 0;
    if ((uint32_t)m->n_nodes > 2 * (m->nbmask + 1)) {
        if (!rehash_nodes(m, 4 * (m->nbmask + 1))) return -2;
        return i;
    }
    m->nodes[i].hnext = m->nbucket[h & m->nbmask];
    m->nbucket[h & m->nbmask] = i;
    return i;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static bool rehash_states(gr_matcher *m, uint32_t nb)
{
    int32_t *b = malloc((size_t)nb * sizeof *b);
    if (!b) return false;
    memset(b, 0xff, (size_t)nb * sizeof *b);
    for (int32_t i = 0; i < m->n_states; i++) {
        m->states[i].hnext = b[m->states[i].hash & (nb - 1)];
        b[m->states[i].hash & (nb - 1)] = i;
    }
    free(m->sbucket);
    m->sbucket = b;
    m->sbmask = nb - 1;
    return true;
}

/* The state for the sorted tops out[0..n) and accept flag; -1 when out of memory. */
static int32_t intern(gr_matcher *m, const int32_t *tops, int32_t n, bool accept)
{
    if (n == 0 && !accept) return DEAD;
    uint32_t h = accept ? 0x51ed27u : 0x2545F491u;
    for (int32_t i = 0; i < n; i++)
        h = gr_mmix(h ^ (uint32_t)tops[i]) + (uint32_t)i;
    for (int32_t i = m->sbucket[h & m->sbmask]; i >= 0; i = m->states[i].hnext) {
        const mstate *s = &m->states[i];
        if (s->hash == h && s->n_tops == n && s->accept == accept &&
            (n == 0 || memcmp(m->pool + s->tops_at, tops, (size_t)n * sizeof *tops) == 0))
            return i;
    }
    if (!grow32((void **)&m->states, &m->cap_states, m->n_states + 1, sizeof *m->states) ||
        !grow64((void **)&m->pool, &m->cap_pool, m->n_pool + n + m->n_xr, sizeof *m->pool))
        return -1;
    int32_t id = m->n_states++;
    mstate *s = &m->states[id];
    s->tops_at = (int32_t)m->n_pool;
    s->n_tops = n;
    s->accept = accept;
    s->hash = h;
    s->trans_at = -1;
    s->slice = -1;
    s->abs[0] = s->abs[1] = -1;
    if (n) memcpy(m->pool + m->n_pool, tops, (size_t)n * sizeof *tops);
    m->n_pool += n;
    s->rules_at = (int32_t)m->n_pool;
    s->n_rules = m->n_xr;
    if (m->n_xr) memcpy(m->pool + m->n_pool, m->xr, (size_t)m->n_xr * sizeof *m->xr);
    m->n_pool += m->n_xr;
    if ((uint32_t)m->n_states > 2 * (m->sbmask + 1)) {
        if (!rehash_states(m, 4 * (m->sbmask + 1))) return -1;
    } else {
        s->hnext = m->sbucket[h & m->sbmask];
        m->sbucket[h & m->sbmask] = id;
    }
    return id;
}

/* Expansion: from the pending nodes in work[0..n_work), every stack whose top is a byte class
 * goes to out; reaching the end of the start rule sets *accept. false on overflow or no memory. */
static bool visit(gr_matcher *m, int32_t node, int32_t *n_work)
{
    if (node < 0) return false;
    if (m->stamp[node] == m->cur_stamp) return true;
    m->stamp[node] = m->cur_stamp;
    if (!grow32((void **)&m->work, &m->cap_work, *n_work + 1, sizeof *m->work)) return false;
    m->work[(*n_work)++] = node;
    return true;
}

static bool closure(gr_matcher *m, int32_t n_work, int32_t *n_out, bool *accept)
{
    const gr_grammar *g = m->g;
    int64_t work = 0;
    while (n_work > 0) {
        if (++work > GR_MAX_STEP_WORK) return false;
        if (--m->budget < 0 || ((++m->clock_div & 4095) == 0 && now_s() > m->deadline)) {
            m->exhausted = true;
            return false;
        }
        int32_t n = m->work[--n_work];
        int32_t pos = m->nodes[n].pos, parent = m->nodes[n].parent;
        const gr_elem *e = &g->code[pos];
        if (e->kind == GR_CLASS) {
            if (*n_out >= GR_MAX_TOPS) return false;
            if (!grow32((void **)&m->out, &m->cap_out, *n_out + 1, sizeof *m->out)) return false;
            m->out[(*n_out)++] = n;
        } else if (e->kind == GR_END) {
            if (parent < 0)
                *accept = true;
            else if (!visit(m, parent, &n_work))
                return false;
        } else {
            int32_t ret = g->code[pos + 1].kind == GR_END ? parent : cons(m, pos + 1, parent);
            if (ret == -2) return false;
            if (m->rule_stamp[e->arg] != m->cur_stamp && m->n_xr < M_MAX_XR) {
                m->rule_stamp[e->arg] = m->cur_stamp;
                m->xr[m->n_xr++] = e->arg;
            }
            for (int32_t a = g->alt_first[e->arg]; a < g->alt_first[e->arg + 1]; a++)
                if (!visit(m, cons(m, g->alts[a], ret), &n_work)) return false;
        }
    }
    return true;
}

static int32_t finish_state(gr_matcher *m, int32_t n_out, bool accept)
{
    m->budget -= 16 * (int64_t)n_out; /* sorting and hashing */
    if (m->budget < 0) {
        m->exhausted = true;
        return -1;
    }
    if (n_out > 1) qsort(m->out, (size_t)n_out, sizeof *m->out, cmp_i32);
    return intern(m, m->out, n_out, accept);
}

/* The state after byte b from state s: DEAD when b leaves the language, and also when the stack set
 * would exceed GR_MAX_TOPS or memory runs out (a refusal, never a wrong accept). */
int32_t gr_mstep(gr_matcher *m, int32_t s, unsigned b)
{
    if (s == DEAD || m->exhausted) return DEAD;
    unsigned c = m->g->byte_cls[b];
    if (m->states[s].trans_at >= 0) {
        int32_t t = m->trans[m->states[s].trans_at + c];
        if (t != UNKNOWN) return t;
    }
    const gr_grammar *g = m->g;
    int32_t at = m->states[s].tops_at, n = m->states[s].n_tops;
    /* The next state depends only on which tops the byte matches: a class that matches the same
     * tops as a class already followed from s shares its transition. A grammar's classes are cut
     * by all its literals (an object's key letters), so a state inside a free string sees ~100
     * classes but only a handful of distinct matches; each would otherwise be expanded cold. */
    uint64_t sig = ~0ull;
    if (n <= 64) {
        sig = 0;
        for (int32_t i = 0; i < n; i++)
            if (gr_set_has(&g->classes[g->code[m->nodes[m->pool[at + i]].pos].arg], b))
                sig |= 1ull << i;
        if (m->states[s].trans_at >= 0) {
            int64_t row = m->states[s].trans_at;
            for (int32_t k = 0; k < g->n_byte_cls; k++)
                if (m->trans[row + k] != UNKNOWN && m->tsig[row + k] == sig) {
                    m->trans[row + c] = m->trans[row + k];
                    m->tsig[row + c] = sig;
                    return m->trans[row + k];
                }
        }
    }
    m->cur_stamp++;
    m->n_xr = 0;
    int32_t n_work = 0, n_out = 0;
    bool accept = false, ok = true;
    m->budget -= n;
    for (int32_t i = 0; i < n && ok; i++) {
        const mnode *t = &m->nodes[m->pool[at + i]];
        if (gr_set_has(&g->classes[g->code[t->pos].arg], b)) {
            int32_t parent = t->parent, pos = t->pos + 1;
            ok = visit(m, cons(m, pos, parent), &n_work);
        }
    }
    /* A cap or a failed allocation is the matcher's limit, not the language's: the call fails (as
     * on an exhausted budget) rather than refuse a byte that a wholesale slice allowed. */
    if (!ok || !closure(m, n_work, &n_out, &accept)) m->exhausted = true;
    int32_t next = m->exhausted ? -1 : finish_state(m, n_out, accept);
    if (m->exhausted) return DEAD; /* not cached: the next call has a fresh budget */
    if (next < 0) next = DEAD;
    mstate *st = &m->states[s];
    if (st->trans_at < 0) {
        int32_t nc = g->n_byte_cls;
        if (!grow64((void **)&m->trans, &m->cap_trans, m->n_trans + nc, sizeof *m->trans) ||
            !grow64((void **)&m->tsig, &m->cap_tsig, m->n_trans + nc, sizeof *m->tsig))
            return next;
        st->trans_at = (int32_t)m->n_trans;
        for (int32_t i = 0; i < nc; i++)
            m->trans[m->n_trans + i] = UNKNOWN;
        m->n_trans += nc;
    }
    m->trans[st->trans_at + c] = next;
    m->tsig[st->trans_at + c] = sig;
    return next;
}

static void reset_tables(gr_matcher *m)
{
    m->n_nodes = 0;
    m->n_states = 0;
    m->n_pool = 0;
    m->n_trans = 0;
    memset(m->nbucket, 0xff, (size_t)(m->nbmask + 1) * sizeof *m->nbucket);
    memset(m->sbucket, 0xff, (size_t)(m->sbmask + 1) * sizeof *m->sbucket);
    m->cur_stamp = 1;
    memset(m->rule_stamp, 0, (size_t)m->g->n_rules * sizeof *m->rule_stamp);
    /* state 0 is the dead state; intern() answers it without a lookup */
    m->states[0] =
        (mstate){.trans_at = -1, .hnext = -1, .slice = GR_N_SLICES, .rules_at = 0, .abs = {0, 0}};
    m->n_states = 1;
}

static int32_t initial_state(gr_matcher *m)
{
    return gr_mexpand_rule(m, m->g->root);
}

/* The state whose stacks are rule r's alternatives at their start over an empty stack: the state
 * of the start rule at the beginning, and of rule r taken alone (rule_slice). */
int32_t gr_mexpand_rule(gr_matcher *m, int32_t r)
{
    const gr_grammar *g = m->g;
    m->cur_stamp++;
    m->n_xr = 0;
    int32_t n_work = 0, n_out = 0;
    bool accept = false;
    for (int32_t a = g->alt_first[r]; a < g->alt_first[r + 1]; a++)
        if (!visit(m, cons(m, g->alts[a], -1), &n_work)) return -1;
    if (!closure(m, n_work, &n_out, &accept)) return -1;
    return finish_state(m, n_out, accept);
}

/* Rebuilds the tables around the live state when they grow past the bounds. */
static bool compact(gr_matcher *m)
{
    if (m->n_nodes < M_MAX_NODES && m->n_states < M_MAX_STATES && m->n_pool < M_MAX_POOL)
        return true;
    const mstate *s = &m->states[m->cur];
    int32_t n = s->n_tops;
    bool accept = s->accept;
    /* each top's stack as positions from the bottom up, all stacks back to back */
    int64_t total = 0;
    for (int32_t i = 0; i < n; i++)
        for (int32_t k = m->pool[s->tops_at + i]; k >= 0; k = m->nodes[k].parent)
            total++;
    int32_t *flat = malloc((size_t)(total + n + 1) * sizeof *flat);
    if (!flat) return false;
    int64_t w = 0;
    for (int32_t i = 0; i < n; i++) {
        int64_t start = w;
        for (int32_t k = m->pool[s->tops_at + i]; k >= 0; k = m->nodes[k].parent)
            flat[w++] = m->nodes[k].pos;
        for (int64_t a = start, b = w - 1; a < b; a++, b--) {
            int32_t t = flat[a];
            flat[a] = flat[b];
            flat[b] = t;
        }
        flat[w++] = -1;
    }
    reset_tables(m);
    memset(m->mask_state, 0xff, sizeof m->mask_state);
    memset(m->mask_used, 0, sizeof m->mask_used);
    int32_t n_out = 0;
    m->n_xr = 0; /* the rebuilt state keeps no rules: its slice is found by exploration */
    bool ok = grow32((void **)&m->out, &m->cap_out, n + 1, sizeof *m->out);
    for (int64_t r = 0; ok && r < w;) {
        int32_t node = -1;
        for (; flat[r] >= 0; r++)
            if ((node = cons(m, flat[r], node)) < 0) ok = false;
        r++;
        m->out[n_out++] = node;
    }
    free(flat);
    if (!ok) return false;
    int32_t id = finish_state(m, n_out, accept);
    if (id < 0) return false;
    m->cur = id;
    return true;
}

static void begin_call(gr_matcher *m)
{
    m->budget = GR_CALL_BUDGET;
    m->deadline = now_s() + GR_CALL_SECONDS;
    m->exhausted = false;
}

static gr_matcher *matcher_create(const gr_grammar *g);

gr_matcher *gr_matcher_new(const gr_grammar *g)
{
    gr_matcher *m = NULL;
    pthread_mutex_lock(&g->pool->lock);
    if (g->pool->n_idle > 0) m = g->pool->idle[--g->pool->n_idle];
    pthread_mutex_unlock(&g->pool->lock);
    if (!m) return matcher_create(g);
    /* a finished sequence's matcher: its tables stay, the sequence starts over */
    begin_call(m);
    if (compact(m) && (m->cur = initial_state(m)) >= 0) return m;
    matcher_destroy(m);
    return matcher_create(g);
}

gr_matcher *gr_matcher_new_uncached(const gr_grammar *g, bool no_slices)
{
    gr_matcher *m = matcher_create(g);
    if (m) {
        m->uncached = true;
        m->no_slices = no_slices;
    }
    return m;
}

static gr_matcher *matcher_create(const gr_grammar *g)
{
    gr_matcher *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->g = g;
    m->nbucket = malloc(1024 * sizeof *m->nbucket);
    m->sbucket = malloc(256 * sizeof *m->sbucket);
    m->dfs = malloc(2 * ((size_t)g->vocab->max_depth + 2) * sizeof *m->dfs);
    m->xr = malloc(M_MAX_XR * sizeof *m->xr);
    m->rule_stamp = calloc((size_t)g->n_rules, sizeof *m->rule_stamp);
    m->rule_slice = malloc((size_t)g->n_rules);
    m->nbmask = 1023;
    m->sbmask = 255;
    if (!m->nbucket || !m->sbucket || !m->dfs || !m->xr || !m->rule_stamp || !m->rule_slice ||
        !grow32((void **)&m->states, &m->cap_states, 64, sizeof *m->states)) {
        matcher_destroy(m);
        return NULL;
    }
    memset(m->rule_slice, -1, (size_t)g->n_rules);
    reset_tables(m);
    memset(m->mask_state, 0xff, sizeof m->mask_state);
    memset(m->mask_used, 0, sizeof m->mask_used);
    gr_mslice_moves(m);
    begin_call(m);
    m->cur = initial_state(m);
    if (m->cur < 0) {
        matcher_destroy(m);
        return NULL;
    }
    return m;
}

void gr_matcher_free(gr_matcher *m)
{
    if (!m) return;
    if (!m->uncached && m->n_nodes <= M_POOL_MAX_NODES && m->n_states <= M_POOL_MAX_STATES) {
        struct gr_matcher_pool *p = m->g->pool;
        pthread_mutex_lock(&p->lock);
        bool kept = p->n_idle < M_POOL_IDLE;
        if (kept) p->idle[p->n_idle++] = m;
        pthread_mutex_unlock(&p->lock);
        if (kept) return;
    }
    matcher_destroy(m);
}

static void matcher_destroy(gr_matcher *m)
{
    if (!m) return;
    free(m->nodes), free(m->nbucket), free(m->stamp), free(m->states), free(m->sbucket);
    free(m->pool), free(m->trans), free(m->tsig), free(m->work), free(m->out), free(m->dfs);
    free(m->xr), free(m->rule_stamp), free(m->rule_slice);
    for (int i = 0; i < M_MASK_CACHE; i++)
        free(m->mask_cache[0][i]), free(m->mask_cache[1][i]);
    free(m);
}

int gr_matcher_accept_bytes(gr_matcher *m, const uint8_t *bytes, size_t len)
{
    begin_call(m);
    if (!compact(m)) return GR_ERR;
    int32_t s = m->cur;
    for (size_t i = 0; i < len; i++) {
        s = gr_mstep(m, s, bytes[i]);
        if (s == DEAD) return GR_ERR;
    }
    m->cur = s;
    return GR_OK;
}

int gr_matcher_accept_token(gr_matcher *m, int32_t token)
{
    const gr_vocab *v = m->g->vocab;
    if (token < 0 || token >= v->n_vocab) return GR_ERR;
    if (v->is_eos[token]) return m->states[m->cur].accept ? GR_OK : GR_ERR;
    if (v->is_special[token] || v->len[token] == 0) return GR_ERR;
    return gr_matcher_accept_bytes(m, v->bytes[token], v->len[token]);
}

bool gr_matcher_allows_token(gr_matcher *m, int32_t token)
{
    const gr_vocab *v = m->g->vocab;
    if (token < 0 || token >= v->n_vocab) return false;
    if (v->is_eos[token]) return m->states[m->cur].accept;
    if (v->is_special[token] || v->len[token] == 0) return false;
    begin_call(m);
    int32_t s = m->cur;
    for (uint32_t i = 0; i < v->len[token] && s != DEAD; i++)
        s = gr_mstep(m, s, v->bytes[token][i]);
    return s != DEAD;
}

bool gr_matcher_call_failed(const gr_matcher *m)
{
    return m->exhausted;
}

bool gr_matcher_is_complete(const gr_matcher *m)
{
    return m->states[m->cur].accept;
}

bool gr_matcher_is_terminated(const gr_matcher *m)
{
    return m->states[m->cur].accept && m->states[m->cur].n_tops == 0;
}

/* Code position p of a chain rule O_k with k > lim as the same position of O_lim (its copies). */
static int32_t canon_pos(const gr_grammar *g, int32_t p, int32_t lim)
{
    int32_t r = g->pos_rule[p], k = g->chain_k[r];
    if (k <= lim) return p;
    return p - g->alts[g->alt_first[r]] + g->alts[g->alt_first[r - (k - lim)]];
}

/* The stack of node top with every chain position mapped by canon_pos; -2 when out of memory. */
static int32_t map_stack(gr_matcher *m, int32_t top, int32_t lim)
{
    int32_t d = 0, low = -1;
    for (int32_t k = top; k >= 0; k = m->nodes[k].parent, d++) {
        if (!grow32((void **)&m->work, &m->cap_work, d + 1, sizeof *m->work)) return -2;
        m->work[d] = k;
        if (canon_pos(m->g, m->nodes[k].pos, lim) != m->nodes[k].pos) low = d;
    }
    if (low < 0) return top;
    int32_t node = m->nodes[m->work[low]].parent;
    for (int32_t i = low; i >= 0 && node != -2; i--)
        node = cons(m, canon_pos(m->g, m->nodes[m->work[i]].pos, lim), node);
    return node;
}

/* The state that stands for s in band b: s with every stack position inside a counted repetition
 * with more copies left than the band's longest token has bytes (k > H + 1) moved to the copy
 * O_{H+1}. Each copy consumes at least one byte, so O_k and O_{H+1} match the same strings of up to
 * H bytes, and both states allow the same tokens of that band: the positions of a maxLength string
 * share one mask until they come within H characters of the bound. -1 when out of memory or
 * budget. */
static int32_t gr_mabs(gr_matcher *m, int32_t s, int band)
{
    const gr_grammar *g = m->g;
    if (!g->chain_k || m->states[s].n_tops == 0) return s;
    if (m->states[s].abs[band] >= 0) return m->states[s].abs[band];
    int32_t lim = (band ? g->vocab->max_depth : GR_BAND0_LEN) + 1;
    int32_t n = m->states[s].n_tops;
    if (!grow32((void **)&m->out, &m->cap_out, n + 1, sizeof *m->out)) return -1;
    bool changed = false;
    for (int32_t i = 0; i < n; i++) {
        int32_t top = m->pool[m->states[s].tops_at + i], t = map_stack(m, top, lim);
        if (t == -2) return -1;
        m->out[i] = t;
        changed |= t != top;
    }
    if (m->budget < 0) m->exhausted = true;
    if (m->exhausted) return -1;
    int32_t id = s;
    if (changed) {
        qsort(m->out, (size_t)n, sizeof *m->out, cmp_i32);
        int32_t w = 0;
        for (int32_t i = 0; i < n; i++)
            if (w == 0 || m->out[i] != m->out[w - 1]) m->out[w++] = m->out[i];
        /* Rule hints stay true for the stand-in when the rule's own expansion holds no moved
         * position (gr_slice.c): its stacks are then in the stand-in as they are in s. */
        m->n_xr = 0;
        for (int32_t i = 0; i < m->states[s].n_rules; i++) {
            int32_t r = m->pool[m->states[s].rules_at + i];
            if (!g->reach_chain[r]) m->xr[m->n_xr++] = r;
        }
        id = intern(m, m->out, w, m->states[s].accept);
        if (id < 0) return -1;
        m->states[id].abs[band] = id;
    }
    m->states[s].abs[band] = id;
    return id;
}

static void walk_trie(gr_matcher *m, int32_t s, const gr_trie *t, uint32_t *mask);

/* The mask of band b's tokens from state a (a stand-in: gr_mabs), cached; NULL when the call ran
 * out of budget or memory. Band 1's mask numbers its tokens by their index in v->ids1. */
static const uint32_t *band_mask(gr_matcher *m, int32_t a, int band)
{
    const gr_vocab *v = m->g->vocab;
    size_t words = band ? v->n1_words : v->n_words;
    int slot = 0;
    for (int i = 0; i < M_MASK_CACHE; i++) {
        if (m->mask_state[band][i] == a) {
            m->mask_used[band][i] = ++m->mask_clock;
            return m->mask_cache[band][i];
        }
        if (m->mask_used[band][i] < m->mask_used[band][slot]) slot = i;
    }
    uint32_t **buf = &m->mask_cache[band][slot];
    if (!*buf && !(*buf = malloc((words + 1) * sizeof **buf))) return NULL;
    m->mask_state[band][slot] = -1;
    if (m->states[a].slice < 0) gr_mchoose_slice(m, a);
    if (m->exhausted) return NULL;
    int k = m->states[a].slice, tier = m->states[a].tier;
    const gr_trie *t = band ? &v->all1 : &v->all0;
    memset(*buf, 0, words * sizeof **buf);
    if (k < GR_N_SLICES && (band == 0 || tier == 0)) {
        memcpy(*buf, band ? v->slice_mask1[k] : v->slice_mask[k][tier], words * sizeof **buf);
        t = band ? &v->rest1[k] : &v->rest[k][tier];
    }
    walk_trie(m, a, t, *buf);
    if (m->exhausted) return NULL;
    m->mask_state[band][slot] = a;
    m->mask_used[band][slot] = ++m->mask_clock;
    return *buf;
}

int gr_matcher_fill_mask(gr_matcher *m, uint32_t *mask)
{
    const gr_vocab *v = m->g->vocab;
    memset(mask, 0, v->n_words * sizeof *mask);
    if (!compact(m)) return GR_ERR;
    begin_call(m);
    const mstate *st = &m->states[m->cur];
    if (st->accept)
        for (size_t i = 0; i < v->n_eos; i++)
            mask[v->eos[i] >> 5] |= 1u << (v->eos[i] & 31);
    if (st->n_tops == 0) return GR_OK;
    if (m->no_slices) { /* the reference: every token walked from the state itself */
        walk_trie(m, m->cur, &v->all, mask);
    } else {
        for (int band = 0; band < 2 && !m->exhausted; band++) {
            int32_t a = gr_mabs(m, m->cur, band);
            const uint32_t *bm = a < 0 ? NULL : band_mask(m, a, band);
            if (!bm) {
                m->exhausted = true;
                break;
            }
            if (band == 0) {
                for (size_t w = 0; w < v->n_words; w++)
                    mask[w] |= bm[w];
                continue;
            }
            for (size_t w = 0; w < v->n1_words; w++) /* band 1 by index in ids1 */
                for (uint32_t x = bm[w]; x; x &= x - 1) {
                    int32_t id = v->ids1[32 * w + (size_t)__builtin_ctz(x)];
                    mask[id >> 5] |= 1u << (id & 31);
                }
        }
    }
    if (m->exhausted) {
        memset(mask, 0, v->n_words * sizeof *mask);
        return GR_ERR;
    }
    return GR_OK;
}

static void walk_trie(gr_matcher *m, int32_t s0, const gr_trie *t, uint32_t *mask)
{
    /* st[d]: the state at depth d, row[d] its transition row (-1 while it has none): the fast path
     * reads one memoised transition without touching the state itself */
    int32_t *st = m->dfs, *row = m->dfs + m->g->vocab->max_depth + 1;
    st[0] = s0;
    row[0] = m->states[s0].trans_at;
    const uint8_t *byte = t->byte;
    const uint16_t *depth = t->depth;
    const int32_t *end = t->end, *tok_first = t->tok_first, *tok = t->tok;
    const uint8_t *cls = m->g->byte_cls;
    for (int32_t i = 1; i < t->n_nodes;) {
        int32_t d = depth[i] - 1, s = row[d] >= 0 ? m->trans[row[d] + cls[byte[i]]] : UNKNOWN;
        if (s == UNKNOWN) {
            s = gr_mstep(m, st[d], byte[i]);
            row[d] = m->states[st[d]].trans_at; /* made by the step, if it was the first */
        }
        if (s == DEAD) {
            if (m->exhausted) return;
            i = end[i];
            continue;
        }
        st[d + 1] = s;
        row[d + 1] = m->states[s].trans_at;
        for (int32_t j = tok_first[i]; j < tok_first[i + 1]; j++)
            mask[tok[j] >> 5] |= 1u << (tok[j] & 31);
        i++;
    }
}
