/* A toy constraint for engine tests, standing in for a grammar: a set of allowed tokens and a
 * length after which the matcher is terminated. Header-only, for the engine tests. */
#ifndef BERTH_TESTS_TOY_CONSTRAINT_H
#define BERTH_TESTS_TOY_CONSTRAINT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/engine/engine.h"

#define MAX_WORDS 4096

typedef struct toy_grammar {
    uint32_t allowed[MAX_WORDS];
    int32_t length;  /* terminated after this many accepted tokens */
    int32_t fail_at; /* > 0: the mask fails once this many tokens were accepted */
    /* > 0: accepting fails on the matcher's own limits (-2) once this many tokens were accepted */
    int32_t limit_at;
    atomic_int refs;
} toy_grammar;

typedef struct toy_matcher {
    const toy_grammar *g;
    int32_t count;
} toy_matcher;

static int32_t vocab_words; /* set by the test: (vocab + 31) / 32 */

static inline bool toy_has(const toy_grammar *g, int32_t t)
{
    return (g->allowed[t / 32] >> (t % 32)) & 1u;
}

static inline void *toy_new(void *grammar)
{
    toy_matcher *m = calloc(1, sizeof *m);
    if (m) m->g = grammar;
    return m;
}

static inline void toy_free(void *m)
{
    free(m);
}

static inline int toy_fill(void *matcher, uint32_t *mask)
{
    toy_matcher *m = matcher;
    if (m->g->fail_at > 0 && m->count >= m->g->fail_at) return -1;
    memcpy(mask, m->g->allowed, sizeof(uint32_t) * (size_t)vocab_words);
    return 0;
}

static inline int toy_accept(void *matcher, int32_t token)
{
    toy_matcher *m = matcher;
    if (token < 0 || !toy_has(m->g, token) || m->count >= m->g->length) return -1;
    if (m->g->limit_at > 0 && m->count >= m->g->limit_at) return -2;
    m->count++;
    return 0;
}

static inline bool toy_terminated(const void *matcher)
{
    const toy_matcher *m = matcher;
    return m->count >= m->g->length;
}

static inline void toy_release(void *grammar)
{
    atomic_fetch_sub(&((toy_grammar *)grammar)->refs, 1);
}

static const engine_constraint_ops toy_ops = {toy_new,    toy_free,       toy_fill,
                                              toy_accept, toy_terminated, toy_release};

#endif
