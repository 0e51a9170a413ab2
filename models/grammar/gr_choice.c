/* Choices (vLLM's guided_choice): the output is exactly one of n byte strings. The strings are
 * compiled as a trie of rules (shared prefixes once, one alternative per distinct next byte), so a
 * long list costs the matcher a handful of stacks per step instead of one per string. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/gr_internal.h"

typedef struct choice_item {
    int32_t rule;
    size_t lo, hi, depth; /* sorted[lo..hi) share their first depth bytes */
} choice_item;

typedef struct sort_choice {
    const char *s;
    size_t i;
} sort_choice;

static int cmp_choice(const void *a, const void *b)
{
    return strcmp(((const sort_choice *)a)->s, ((const sort_choice *)b)->s);
}

static bool push_bytes(gr_builder *b, gr_seq *s, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        gr_bytes_set set = {{0}};
        set.w[p[i] >> 6] |= 1ull << (p[i] & 63);
        int32_t k = gr_class_index(b, &set);
        if (k < 0 || !gr_seq_push(b, s, GR_CLASS, k)) return false;
    }
    return true;
}

int gr_compile_choice(gr_grammar **out, const gr_vocab *v, const char *const *choices, size_t n,
                      char *err, size_t errlen)
{
    *out = NULL;
    if (n == 0) {
        gr_errf(err, errlen, "choice: the list of choices is empty");
        return GR_ERR;
    }
    size_t *ord = malloc(n * sizeof *ord), *len = malloc(n * sizeof *len);
    choice_item *work = malloc((2 * n + 1) * sizeof *work);
    if (!ord || !len || !work) {
        free(ord), free(len), free(work);
        gr_errf(err, errlen, "choice: out of memory");
        return GR_ERR;
    }
    for (size_t i = 0; i < n; i++) {
        ord[i] = i;
        len[i] = strlen(choices[i]);
    }
    sort_choice *sc = malloc(n * sizeof *sc);
    if (!sc) {
        free(ord), free(len), free(work);
        gr_errf(err, errlen, "choice: out of memory");
        return GR_ERR;
    }
    for (size_t i = 0; i < n; i++)
        sc[i] = (sort_choice){choices[i], i};
    qsort(sc, n, sizeof *sc, cmp_choice);
    for (size_t i = 0; i < n; i++)
        ord[i] = sc[i].i;
    free(sc);
    gr_builder b;
    gr_builder_init(&b, err, errlen);
    int32_t root = gr_rule_named(&b, "root", 4, 1, 1);
    size_t n_work = 0;
    if (root >= 0) {
        b.rules[root].defined = true;
        work[n_work++] = (choice_item){root, 0, n, 0};
    }
    while (n_work > 0 && !b.failed) {
        choice_item it = work[--n_work];
        size_t lo = it.lo;
        /* strings ending here (duplicates once): the empty alternative */
        if (len[ord[lo]] == it.depth) {
            if (!gr_rule_add_alt(&b, it.rule)) break;
            while (lo < it.hi && len[ord[lo]] == it.depth)
                lo++;
        }
        while (lo < it.hi && !b.failed) {
            const unsigned char *first = (const unsigned char *)choices[ord[lo]];
            size_t hi = lo + 1;
            while (hi < it.hi && (unsigned char)choices[ord[hi]][it.depth] == first[it.depth])
                hi++;
            /* the group's common prefix: sorted, so that of its first and last strings */
            const unsigned char *last = (const unsigned char *)choices[ord[hi - 1]];
            size_t l = it.depth + 1;
            while (first[l] && first[l] == last[l])
                l++;
            gr_seq *s = gr_rule_add_alt(&b, it.rule);
            if (!s || !push_bytes(&b, s, first + it.depth, l - it.depth)) break;
            if (hi - lo > 1 || len[ord[lo]] > l) {
                int32_t r = gr_rule_new(&b);
                if (r < 0 || !gr_seq_push(&b, s, GR_REF, r)) break;
                b.rules[r].defined = true;
                work[n_work++] = (choice_item){r, lo, hi, l};
            }
            lo = hi;
        }
    }
    int rc = b.failed ? GR_ERR : gr_builder_finish(&b, "root", v, out);
    if (rc != GR_OK && strncmp(err, "choice: ", 8) != 0) {
        char inner[256];
        snprintf(inner, sizeof inner, "%s", err);
        gr_errf(err, errlen, "choice: %s", inner);
    }
    gr_builder_free(&b);
    free(ord), free(len), free(work);
    return rc;
}
