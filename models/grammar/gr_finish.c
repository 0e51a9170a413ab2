/* The last step of every compilation: refuses undefined rules, left recursion (which the matcher's
 * stack expansion cannot terminate on) and grammars that match nothing; drops alternatives that can
 * never finish, so that the matcher never steers a model into a dead end; flattens the rules. */
#include <stdlib.h>
#include <string.h>

#include "models/grammar/gr_internal.h"

static const char *rule_label(const gr_builder *b, int32_t r)
{
    return b->rules[r].name ? b->rules[r].name : "(a group or repetition)";
}

/* Strongly connected components of the left-corner graph (iterative Tarjan). */
typedef struct lc_graph {
    int32_t *first, *to; /* edges of r: to[first[r] .. first[r+1]) */
    bool *push;          /* the edge leaves a return position on the stack */
} lc_graph;

static bool tarjan(int32_t n, const lc_graph *g, int32_t *comp)
{
    int32_t *index = malloc((size_t)n * sizeof *index), *low = malloc((size_t)n * sizeof *low);
    int32_t *stack = malloc((size_t)n * sizeof *stack), *cs = malloc((size_t)n * sizeof *cs);
    int32_t *ci = malloc((size_t)n * sizeof *ci);
    bool *on = calloc((size_t)n, 1);
    bool ok = index && low && stack && cs && ci && on;
    if (ok) {
        for (int32_t i = 0; i < n; i++)
            index[i] = -1;
        int32_t next = 0, sp = 0, n_comp = 0;
        for (int32_t s = 0; s < n; s++) {
            if (index[s] >= 0) continue;
            int32_t csp = 0;
            cs[csp] = s;
            ci[csp++] = g->first[s];
            index[s] = low[s] = next++;
            stack[sp++] = s;
            on[s] = true;
            while (csp > 0) {
                int32_t v = cs[csp - 1];
                if (ci[csp - 1] < g->first[v + 1]) {
                    int32_t w = g->to[ci[csp - 1]++];
                    if (index[w] < 0) {
                        index[w] = low[w] = next++;
                        stack[sp++] = w;
                        on[w] = true;
                        cs[csp] = w;
                        ci[csp++] = g->first[w];
                    } else if (on[w] && index[w] < low[v]) {
                        low[v] = index[w];
                    }
                    continue;
                }
                if (low[v] == index[v]) {
                    int32_t w;
                    do {
                        w = stack[--sp];
                        on[w] = false;
                        comp[w] = n_comp;
                    } while (w != v);
                    n_comp++;
                }
                csp--;
                if (csp > 0 && low[v] < low[cs[csp - 1]]) low[cs[csp - 1]] = low[v];
            }
        }
    }
    free(index), free(low), free(stack), free(cs), free(ci), free(on);
    return ok;
}

static int check_left_recursion(gr_builder *b, const bool *nullable)
{
    int32_t n = b->n_rules;
    lc_graph g = {0};
    int64_t n_edges = 0;
    for (int32_t r = 0; r < n; r++)
        for (int32_t a = 0; a < b->rules[r].n_alts; a++)
            n_edges += b->rules[r].alts[a].n;
    g.first = malloc(((size_t)n + 1) * sizeof *g.first);
    g.to = malloc(((size_t)n_edges + 1) * sizeof *g.to);
    g.push = malloc(((size_t)n_edges + 1) * sizeof *g.push);
    int32_t *comp = malloc(((size_t)n + 1) * sizeof *comp);
    int rc = GR_ERR;
    if (!g.first || !g.to || !g.push || !comp) {
        gr_errf(b->err, b->errlen, "out of memory compiling the grammar");
        goto done;
    }
    int32_t e = 0;
    for (int32_t r = 0; r < n; r++) {
        g.first[r] = e;
        for (int32_t a = 0; a < b->rules[r].n_alts; a++) {
            const gr_seq *s = &b->rules[r].alts[a];
            for (int32_t i = 0; i < s->n; i++) {
                if (s->e[i].kind != GR_REF) break;
                g.to[e] = s->e[i].arg;
                g.push[e] = i + 1 < s->n;
                e++;
                if (!nullable[s->e[i].arg]) break;
            }
        }
    }
    g.first[n] = e;
    if (!tarjan(n, &g, comp)) {
        gr_errf(b->err, b->errlen, "out of memory compiling the grammar");
        goto done;
    }
    /* A cycle that only replaces the top of the stack (A ::= x A with x nullable) is harmless: the
     * expansion revisits the same stack. One that pushes a return position grows without bound. */
    for (int32_t r = 0; r < n; r++)
        for (int32_t k = g.first[r]; k < g.first[r + 1]; k++) {
            if (!g.push[k] || comp[g.to[k]] != comp[r]) continue;
            int32_t named = -1;
            for (int32_t q = 0; q < n && named < 0; q++)
                if (comp[q] == comp[r] && b->rules[q].name) named = q;
            int32_t at = named >= 0 ? named : r;
            gr_errf(
                b->err, b->errlen,
                "line %d, column %d: rule '%s' is left-recursive (it can reach itself "
                "without consuming input); rewrite it with repetition, e.g. a ::= b (\"op\" b)*",
                b->rules[at].line, b->rules[at].col, rule_label(b, at));
            goto done;
        }
    rc = GR_OK;
done:
    free(g.first), free(g.to), free(g.push), free(comp);
    return rc;
}

/* Marks the chains of counted repetitions whose layout allows mapping O_k to O_j (gr_mabs): every
 * member from k = 2 on is [x, REF to the member below] | [] with the same x, right after the member
 * below. false when out of memory. */
static bool find_chains(const gr_builder *b, gr_grammar *g)
{
    int32_t n = g->n_rules, any = 0;
    int32_t *k = calloc((size_t)n, sizeof *k);
    if (!k) return false;
    for (int32_t r = 0; r < n; r++) {
        const gr_brule *br = &b->rules[r];
        int32_t d = br->chain_depth;
        if (d <= 0 || br->n_alts != 2 || br->alts[1].n != 0) continue;
        const gr_seq *a = &br->alts[0];
        if (d == 1) {
            if (a->n == 1) k[r] = 1;
            continue;
        }
        const gr_brule *below = &b->rules[r - 1];
        if (k[r - 1] != d - 1 || a->n != 2 || a->e[1].kind != GR_REF || a->e[1].arg != r - 1 ||
            below->alts[0].e[0].kind != a->e[0].kind || below->alts[0].e[0].arg != a->e[0].arg)
            continue;
        k[r] = d;
        if (d > GR_BAND0_LEN + 1) any = 1;
    }
    if (!any) {
        free(k);
        return true;
    }
    g->chain_k = k;
    g->pos_rule = malloc((size_t)g->n_code * sizeof *g->pos_rule);
    g->reach_chain = calloc((size_t)n, 1);
    int32_t *stack = malloc(((size_t)n + 1) * sizeof *stack);
    int32_t *ref_first = calloc((size_t)n + 2, sizeof *ref_first), *refs = NULL;
    if (!g->pos_rule || !g->reach_chain || !stack || !ref_first) goto oom;
    for (int32_t p = g->n_code - 1, r = -1; p >= 0; p--) {
        if (g->code[p].kind == GR_END) r = g->code[p].arg; /* every alternative ends in its rule */
        g->pos_rule[p] = r;
    }
    /* reach_chain: backwards from the long chains' rules over "is referenced by" */
    for (int32_t p = 0; p < g->n_code; p++)
        if (g->code[p].kind == GR_REF) ref_first[g->code[p].arg + 2]++;
    for (int32_t r = 0; r < n; r++)
        ref_first[r + 2] += ref_first[r + 1];
    refs = malloc(((size_t)ref_first[n + 1] + 1) * sizeof *refs);
    if (!refs) goto oom;
    for (int32_t p = 0; p < g->n_code; p++)
        if (g->code[p].kind == GR_REF) refs[ref_first[g->code[p].arg + 1]++] = g->pos_rule[p];
    int32_t top = 0;
    for (int32_t r = 0; r < n; r++)
        if (k[r] > GR_BAND0_LEN + 1) g->reach_chain[r] = true, stack[top++] = r;
    while (top > 0) {
        int32_t r = stack[--top];
        for (int32_t i = ref_first[r]; i < ref_first[r + 1]; i++)
            if (!g->reach_chain[refs[i]]) g->reach_chain[refs[i]] = true, stack[top++] = refs[i];
    }
    free(stack), free(ref_first), free(refs);
    return true;
oom:
    free(stack), free(ref_first), free(refs);
    return false;
}

int gr_builder_finish(gr_builder *b, const char *root_name, const gr_vocab *v, gr_grammar **out)
{
    *out = NULL;
    if (b->failed) return GR_ERR;
    if (!v) {
        gr_errf(b->err, b->errlen, "no vocabulary to compile the grammar against");
        return GR_ERR;
    }
    int32_t n = b->n_rules, root = -1;
    for (int32_t r = 0; r < n; r++) {
        if (!b->rules[r].name) continue;
        if (!b->rules[r].defined) {
            gr_errf(b->err, b->errlen, "line %d, column %d: undefined rule '%s'", b->rules[r].line,
                    b->rules[r].col, b->rules[r].name);
            return GR_ERR;
        }
        if (strcmp(b->rules[r].name, root_name) == 0) root = r;
    }
    if (root < 0) {
        gr_errf(b->err, b->errlen, "line 1, column 1: no rule named '%s' (the start rule)",
                root_name);
        return GR_ERR;
    }
    bool *prod = calloc((size_t)n + 1, 1), *nullable = calloc((size_t)n + 1, 1);
    if (!prod || !nullable) {
        free(prod), free(nullable);
        gr_errf(b->err, b->errlen, "out of memory compiling the grammar");
        return GR_ERR;
    }
    /* productive: some alternative whose classes are non-empty and whose rules are productive */
    for (bool changed = true; changed;) {
        changed = false;
        for (int32_t r = 0; r < n; r++) {
            if (prod[r]) continue;
            for (int32_t a = 0; a < b->rules[r].n_alts && !prod[r]; a++) {
                const gr_seq *s = &b->rules[r].alts[a];
                bool ok = true;
                for (int32_t i = 0; i < s->n && ok; i++) {
                    const gr_elem *x = &s->e[i];
                    if (x->kind == GR_REF) {
                        ok = prod[x->arg];
                    } else {
                        const gr_bytes_set *c = &b->classes[x->arg];
                        ok = (c->w[0] | c->w[1] | c->w[2] | c->w[3]) != 0;
                    }
                }
                if (ok) prod[r] = changed = true;
            }
        }
    }
    if (!prod[root]) {
        free(prod), free(nullable);
        gr_errf(b->err, b->errlen,
                "line %d, column %d: the grammar matches no string (rule '%s' can never finish)",
                b->rules[root].line, b->rules[root].col, root_name);
        return GR_ERR;
    }
    for (int32_t r = 0; r < n; r++) {
        gr_brule *rule = &b->rules[r];
        int32_t w = 0;
        for (int32_t a = 0; a < rule->n_alts; a++) {
            gr_seq *s = &rule->alts[a];
            bool ok = true;
            for (int32_t i = 0; i < s->n && ok; i++) {
                const gr_elem *x = &s->e[i];
                if (x->kind == GR_REF) {
                    ok = prod[x->arg];
                } else {
                    const gr_bytes_set *c = &b->classes[x->arg];
                    ok = (c->w[0] | c->w[1] | c->w[2] | c->w[3]) != 0;
                }
            }
            if (ok)
                rule->alts[w++] = *s;
            else
                free(s->e);
        }
        rule->n_alts = w;
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (int32_t r = 0; r < n; r++) {
            if (nullable[r]) continue;
            for (int32_t a = 0; a < b->rules[r].n_alts && !nullable[r]; a++) {
                const gr_seq *s = &b->rules[r].alts[a];
                bool ok = true;
                for (int32_t i = 0; i < s->n && ok; i++)
                    ok = s->e[i].kind == GR_REF && nullable[s->e[i].arg];
                if (ok) nullable[r] = changed = true;
            }
        }
    }
    int rc = check_left_recursion(b, nullable);
    free(prod), free(nullable);
    if (rc != GR_OK) return rc;

    gr_grammar *g = calloc(1, sizeof *g);
    int64_t n_alts = 0, n_code = 0;
    for (int32_t r = 0; r < n; r++) {
        n_alts += b->rules[r].n_alts;
        for (int32_t a = 0; a < b->rules[r].n_alts; a++)
            n_code += b->rules[r].alts[a].n + 1;
    }
    if (g) {
        g->code = malloc((size_t)(n_code + 1) * sizeof *g->code);
        g->alts = malloc((size_t)(n_alts + 1) * sizeof *g->alts);
        g->alt_first = malloc(((size_t)n + 1) * sizeof *g->alt_first);
        g->classes = malloc(((size_t)b->n_classes + 1) * sizeof *g->classes);
    }
    if (!g || !g->code || !g->alts || !g->alt_first || !g->classes || !gr_pool_new(g)) {
        gr_grammar_free(g);
        gr_errf(b->err, b->errlen, "out of memory compiling the grammar");
        return GR_ERR;
    }
    int32_t c = 0, k = 0;
    for (int32_t r = 0; r < n; r++) {
        g->alt_first[r] = k;
        for (int32_t a = 0; a < b->rules[r].n_alts; a++) {
            const gr_seq *s = &b->rules[r].alts[a];
            g->alts[k++] = c;
            if (s->n) memcpy(g->code + c, s->e, (size_t)s->n * sizeof *s->e);
            c += s->n;
            g->code[c].kind = GR_END;
            g->code[c].arg = r;
            c++;
        }
    }
    g->alt_first[n] = k;
    g->n_code = c;
    g->n_rules = n;
    g->root = root;
    if (b->n_classes) memcpy(g->classes, b->classes, (size_t)b->n_classes * sizeof *g->classes);
    g->n_classes = b->n_classes;
    g->vocab = v;
    /* partition refinement: split every byte-equivalence class by membership in each set */
    memset(g->byte_cls, 0, sizeof g->byte_cls);
    g->n_byte_cls = 1;
    for (int32_t cl = 0; cl < g->n_classes && g->n_byte_cls < 256; cl++) {
        int16_t split[256][2];
        memset(split, 0xff, sizeof split);
        int32_t n_new = 0;
        for (unsigned byte = 0; byte < 256; byte++) {
            int in = gr_set_has(&g->classes[cl], byte);
            int16_t *id = &split[g->byte_cls[byte]][in];
            if (*id < 0) *id = (int16_t)n_new++;
            g->byte_cls[byte] = (uint8_t)*id;
        }
        g->n_byte_cls = n_new;
    }
    if (!find_chains(b, g)) {
        gr_grammar_free(g);
        gr_errf(b->err, b->errlen, "out of memory compiling the grammar");
        return GR_ERR;
    }
    *out = g;
    return GR_OK;
}

void gr_grammar_free(gr_grammar *g)
{
    if (!g) return;
    gr_pool_free(g);
    free(g->code), free(g->alts), free(g->alt_first), free(g->classes);
    free(g->chain_k), free(g->pos_rule), free(g->reach_chain);
    free(g);
}
