/* The grammar library's internals: the byte-level grammar IR shared by the GBNF compiler
 * (gr_gbnf.c, gr_ir.c), the vocabulary trie (gr_vocab.c) and the matcher (gr_match.c). Nothing
 * outside models/grammar/ includes this; the public contract is grammar.h. */
#ifndef BERTH_GR_INTERNAL_H
#define BERTH_GR_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/grammar/grammar.h"

/* Bounds that make a pathological grammar fail to compile quickly instead of exhausting memory. */
#define GR_MAX_SOURCE (8u << 20) /* bytes of grammar text */
#define GR_MAX_ELEMS (1 << 21)   /* IR elements after expanding repetitions and UTF-8 classes */
#define GR_MAX_RULES (1 << 18)
#define GR_MAX_REPEAT 100000 /* largest m or n in x{m,n} */
#define GR_MAX_NEST 256      /* parenthesis depth */
/* A matcher step whose stack set grows beyond GR_MAX_TOPS stacks, or whose expansion takes more
 * than GR_MAX_STEP_WORK units, fails its call like an exhausted budget: a silent refusal would let
 * a mask that takes a vocabulary slice wholesale (rule hints) allow a token the step refuses. One
 * call of the matcher's API (a mask, a token) fails beyond GR_CALL_BUDGET units or GR_CALL_SECONDS
 * of the thread's CPU time, whichever comes first: wildly ambiguous grammars fail a call instead of stalling
 * the engine. (Units alone cannot bound time: a unit costs 2 ns in cache and 100 ns out of it.) */
#define GR_MAX_TOPS (1 << 14)
#define GR_MAX_STEP_WORK (1 << 18)
#define GR_CALL_BUDGET (1ll << 28)
#define GR_CALL_SECONDS 0.5

/* A grammar over bytes: every rule is a list of alternatives, each a sequence of elements ended by
 * GR_END. Code-point classes of the source have been expanded into byte-range sequences. */
enum { GR_END = 0, GR_CLASS = 1, GR_REF = 2 };
typedef struct gr_elem {
    int32_t kind; /* GR_END, GR_CLASS (arg = class index) or GR_REF (arg = rule index) */
    int32_t arg;
} gr_elem;

typedef struct gr_bytes_set {
    uint64_t w[4];
} gr_bytes_set;

static inline bool gr_set_has(const gr_bytes_set *s, unsigned b)
{
    return (s->w[b >> 6] >> (b & 63)) & 1;
}

struct gr_grammar {
    gr_elem *code; /* all alternatives, each ended by GR_END */
    int32_t n_code;
    int32_t
        *alt_first; /* rule r's alternatives start at code[alts[alt_first[r] .. alt_first[r+1])] */
    int32_t *alts;
    int32_t n_rules, root;
    gr_bytes_set *classes;
    int32_t n_classes;
    /* bytes that every class treats alike share an id: the matcher computes and memoises one
     * transition per id instead of per byte */
    uint8_t byte_cls[256];
    int32_t n_byte_cls;
    const gr_vocab *vocab;
    /* Counted repetitions (gr_seq_repeat's optional copies O_k ::= x O_{k-1} | (empty)): chain_k[r]
     * is k for such a rule (0 for any other), every O_k of one chain with k >= 2 laid out alike in
     * code and numbered consecutively; pos_rule[p] is the rule of code position p. NULL when the
     * grammar has no chain. Used to give the states of a long bounded repetition one mask (see
     * gr_mabs): with more than H copies left, O_k matches the same strings of up to H bytes as
     * O_{H+1}. reach_chain[r]: rule r's expansion may enter a chain rule with k > GR_BAND0_LEN + 1.
     */
    int32_t *chain_k, *pos_rule;
    bool *reach_chain;
    /* Matchers of finished sequences, kept with their memoised states, transitions, slices and
     * masks (all functions of the grammar alone) for the next sequences: a grammar's later
     * sequences start warm. The only mutable part of a grammar, guarded by its own lock. */
    struct gr_matcher_pool *pool;
};

/* The matcher pool (gr_match.c): made by gr_builder_finish, freed with the grammar. */
bool gr_pool_new(gr_grammar *g);
void gr_pool_free(gr_grammar *g);
/* A matcher that neither takes from nor returns to the pool and, with no_slices, walks the whole
 * vocabulary trie at every mask: the reference the caches are tested against. */
gr_matcher *gr_matcher_new_uncached(const gr_grammar *g, bool no_slices);

/* ---- building (gr_ir.c) ---- */
typedef struct gr_seq {
    gr_elem *e;
    int32_t n, cap;
} gr_seq;
typedef struct gr_brule {
    char *name; /* NULL for generated rules */
    gr_seq *alts;
    int32_t n_alts, cap_alts;
    bool defined;
    int32_t line, col;   /* first reference (for "undefined rule" errors) */
    int32_t chain_depth; /* k for gr_seq_repeat's optional copy O_k, 0 for any other rule */
} gr_brule;
typedef struct gr_builder {
    gr_brule *rules;
    int32_t n_rules, cap_rules;
    gr_bytes_set *classes;
    int32_t n_classes, cap_classes;
    int32_t byte_class[256]; /* 1 + index of the class of exactly that byte, 0 if none yet */
    int32_t *names;          /* open addressing: 1 + index of a named rule, 0 empty */
    uint32_t names_cap, n_names;
    int64_t n_elems;
    char *err;
    size_t errlen;
    bool failed;
} gr_builder;

/* A set of Unicode code points as sorted, disjoint, non-adjacent ranges. */
typedef struct gr_cpset {
    uint32_t (*r)[2];
    int32_t n, cap;
} gr_cpset;

void gr_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void gr_builder_init(gr_builder *b, char *err, size_t errlen);
void gr_builder_free(gr_builder *b);
/* Rule index by name, created (undefined) on first use; -1 when out of memory or too many rules. */
int32_t gr_rule_named(gr_builder *b, const char *name, size_t len, int line, int col);
int32_t gr_rule_new(gr_builder *b); /* an anonymous rule */
gr_seq *gr_rule_add_alt(gr_builder *b, int32_t rule);
bool gr_seq_push(gr_builder *b, gr_seq *s, int32_t kind, int32_t arg);
int32_t gr_class_index(gr_builder *b, const gr_bytes_set *set);
/* Appends the elements matching one code point of the set (UTF-8 encoded) to s. */
bool gr_seq_push_cpset(gr_builder *b, gr_seq *s, const gr_cpset *set);
/* Appends the UTF-8 bytes of code point cp as single-byte classes. */
bool gr_seq_push_cp(gr_builder *b, gr_seq *s, uint32_t cp);
/* Replaces s[from..] by the repetition {min,max} of that sub-sequence (max -1 = unbounded). */
bool gr_seq_repeat(gr_builder *b, gr_seq *s, int32_t from, int64_t min, int64_t max);
/* Checks (undefined rules, left recursion, empty language) and flattens into a grammar. */
int gr_builder_finish(gr_builder *b, const char *root_name, const gr_vocab *v, gr_grammar **out);

bool gr_cpset_add(gr_cpset *s, uint32_t lo, uint32_t hi);
void gr_cpset_negate(gr_cpset *s); /* over U+0000..U+10FFFF, surrogates excluded */
void gr_cpset_free(gr_cpset *s);

/* ---- vocabulary (gr_vocab.c) ---- */
/* A token trie in depth-first preorder: node i (i >= 1; node 0 is the root) is reached from its
 * parent by byte[i], sits at depth[i], its subtree ends before end[i], and tokens tok[tok_first[i]
 * .. tok_first[i + 1]) have exactly the bytes of the path to it. */
typedef struct gr_trie {
    int32_t n_nodes;
    uint8_t *byte;
    uint16_t *depth;
    int32_t *end;
    int32_t *tok_first;
    int32_t *tok;
} gr_trie;

/* Slices: byte languages common in free text, each a small DFA over bytes (prefix-closed: a token
 * may end inside a character). When every string of a slice is allowed from a matcher state, the
 * slice's tokens are allowed wholesale and only the other tokens are walked (LLGuidance's idea).
 *   GR_SLICE_UTF8: any valid UTF-8.
 *   GR_SLICE_JSON_CHARS: valid UTF-8 without '"', '\\' and controls below U+0020 (JSON string
 *   content with no escapes). */
enum { GR_SLICE_UTF8 = 0, GR_SLICE_JSON_CHARS = 1, GR_N_SLICES = 2 };
#define GR_SLICE_STATES 8
/* next slice-DFA state after byte b from state q, or -1 when b leaves the slice */
int gr_slice_next(int slice, int q, unsigned b);
/* Tiers: tier 0 holds every token of the slice; tier t > 0 only those of at most gr_tier_len[t]
 * bytes, for states that admit every string of the slice up to that length but not beyond (a
 * bounded repetition such as a maxLength string). */
enum { GR_N_TIERS = 6 };
extern const int gr_tier_len[GR_N_TIERS];
/* Bands: a token of at most GR_BAND0_LEN bytes is allowed or not by the first GR_BAND0_LEN bytes of
 * what a state accepts, so band 0 (the short tokens, almost all of them) and band 1 (the few long
 * ones) get separate masks, each kept by the state that stands for every state alike up to the
 * band's longest token (gr_mabs): the positions of a maxLength string share them. */
#define GR_BAND0_LEN 16

struct gr_vocab {
    int32_t n_vocab;
    size_t n_words;
    gr_trie all; /* every ordinary token (the reference walk of gr_matcher_new_uncached) */
    /* band 0, the ordinary tokens of at most GR_BAND0_LEN bytes: all of them, those inside each
     * slice's tier (tier 0 and 1 are then alike) and the others */
    gr_trie all0;
    gr_trie rest[GR_N_SLICES][GR_N_TIERS];
    uint32_t *slice_mask[GR_N_SLICES][GR_N_TIERS];
    /* band 1, the longer ordinary tokens ids1[0..n1) (a few thousand): all of them, those inside
     * each slice and the others. Its tries and masks number the tokens by their index in ids1, so
     * that a band-1 mask is n1_words words. */
    gr_trie all1;
    gr_trie rest1[GR_N_SLICES];
    uint32_t *slice_mask1[GR_N_SLICES];
    int32_t *ids1, n1;
    size_t n1_words;
    int32_t max_depth;
    int32_t *eos;
    size_t n_eos;
    bool *is_eos;
    bool *is_special;      /* never allowed inside a structure */
    const uint8_t **bytes; /* per token */
    uint32_t *len;
};

#endif
