/* Hash maps for the tokenizer (see tok_map.h). */
#include "models/tokenizer/tok_map.h"

#include <stdlib.h>
#include <string.h>

static size_t table_cap(size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2)
        cap <<= 1; /* load factor at most one half keeps probes short */
    return cap;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

int tok_strmap_init(tok_strmap *m, size_t expected)
{
    m->cap = table_cap(expected);
    m->count = 0;
    m->slots = calloc(m->cap, sizeof *m->slots);
    return m->slots ? 0 : -1;
}

void tok_strmap_free(tok_strmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

static int strmap_grow(tok_strmap *m)
{
    tok_strmap bigger;
    if (tok_strmap_init(&bigger, m->cap) != 0) return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            tok_strmap_put(&bigger, m->slots[i].key, m->slots[i].len, m->slots[i].value);
    free(m->slots);
    *m = bigger;
    return 0;
}

int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t value)
{
    if ((m->count + 1) * 2 > m->cap && strmap_grow(m) != 0) return -1;
    size_t mask = m->cap - 1;
    for (size_t i = hash_bytes(key, len) & mask;; i = (i + 1) & mask) {
        tok_strmap_slot *s = &m->slots[i];
        if (!s->key) {
            s->key = key;
            s->len = (uint32_t)len;
            s->value = value;
            m->count++;
            return 0;
        }
        if (s->len == len && memcmp(s->key, key, len) == 0) {
            s->value = value;
            return 0;
        }
    }
}

int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len)
{
    if (!m->slots) return -1;
    size_t mask = m->cap - 1;
    for (size_t i = hash_bytes(key, len) & mask;; i = (i + 1) & mask) {
        const tok_strmap_slot *s = &m->slots[i];
        if (!s->key) return -1;
        if (s->len == len && memcmp(s->key, key, len) == 0) return s->value;
    }
}

int tok_pairmap_init(tok_pairmap *m, size_t expected)
{
    m->cap = table_cap(expected);
    m->count = 0;
    m->slots = malloc(m->cap * sizeof *m->slots);
    if (!m->slots) return -1;
    for (size_t i = 0; i < m->cap; i++)
        m->slots[i].key = UINT64_MAX;
    return 0;
}

void tok_pairmap_free(tok_pairmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

int tok_pairmap_put(tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t merged)
{
    if ((m->count + 1) * 2 > m->cap) {
        tok_pairmap bigger;
        if (tok_pairmap_init(&bigger, m->cap) != 0) return -1;
        for (size_t i = 0; i < m->cap; i++) {
            const tok_pairmap_slot *s = &m->slots[i];
            if (s->key != UINT64_MAX)
                tok_pairmap_put(&bigger, (int32_t)(s->key >> 32), (int32_t)(uint32_t)s->key,
                                s->rank, s->merged);
        }
        free(m->slots);
        *m = bigger;
    }
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)(h >> 32) & mask;; i = (i + 1) & mask) {
        tok_pairmap_slot *s = &m->slots[i];
        if (s->key == key || s->key == UINT64_MAX) {
            if (s->key == UINT64_MAX) m->count++;
            s->key = key;
            s->rank = rank;
            s->merged = merged;
            return 0;
        }
    }
}
