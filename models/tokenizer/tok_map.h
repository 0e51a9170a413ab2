/* Hash maps for the tokenizer: byte string -> id (vocabulary, added tokens) and id pair -> merge
 * (BPE ranks). Open addressing, built once at load and read-only afterwards. Owns only its tables.
 */
#ifndef BERTH_TOK_MAP_H
#define BERTH_TOK_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keys point into memory the caller keeps alive for the map's lifetime. */
typedef struct {
    const char *key;
    uint32_t len;
    int32_t value;
} tok_strmap_slot;

typedef struct {
    tok_strmap_slot *slots;
    size_t cap; /* power of two */
    size_t count;
} tok_strmap;

int tok_strmap_init(tok_strmap *m, size_t expected);
void tok_strmap_free(tok_strmap *m);
/* Inserts or overwrites; returns -1 only when out of memory. */
int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t value);
/* The value, or -1 when absent. */
int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len);

typedef struct {
    uint64_t key; /* (left id << 32) | right id; UINT64_MAX marks an empty slot */
    int32_t rank;
    int32_t merged;
} tok_pairmap_slot;

typedef struct {
    tok_pairmap_slot *slots;
    size_t cap;
    size_t count;
} tok_pairmap;

int tok_pairmap_init(tok_pairmap *m, size_t expected);
void tok_pairmap_free(tok_pairmap *m);
/* A repeated pair overwrites the earlier one, as HF's merge map (collected into a HashMap) does. */
int tok_pairmap_put(tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t merged);
/* The slot for (left, right), or NULL when that pair has no merge. */
static inline const tok_pairmap_slot *tok_pairmap_get(const tok_pairmap *m, int32_t left,
                                                      int32_t right)
{
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)(h >> 32) & mask;; i = (i + 1) & mask) {
        const tok_pairmap_slot *s = &m->slots[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
    }
}

#endif
