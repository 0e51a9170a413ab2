#include "kernels/cuda/cuda_arena.h"

#include <stdlib.h>
#include <string.h>

size_t cu_arena_round(size_t bytes)
{
    if (bytes == 0) bytes = 1; /* an empty tensor still gets a distinct address */
    return (bytes + CU_ARENA_ALIGN - 1) / CU_ARENA_ALIGN * CU_ARENA_ALIGN;
}

int cu_arena_init(cu_arena *a, size_t capacity)
{
    memset(a, 0, sizeof *a);
    a->capacity = capacity / CU_ARENA_ALIGN * CU_ARENA_ALIGN;
    a->cap_free = 16;
    a->free = malloc(a->cap_free * sizeof *a->free);
    if (!a->free) return -1;
    if (a->capacity > 0) {
        a->free[0] = (cu_range){0, a->capacity};
        a->nfree = 1;
    }
    return 0;
}

void cu_arena_release(cu_arena *a)
{
    free(a->free);
    memset(a, 0, sizeof *a);
}

size_t cu_arena_alloc(cu_arena *a, size_t bytes)
{
    size_t need = cu_arena_round(bytes);
    if (bytes > a->capacity) return (size_t)-1;
    for (size_t i = 0; i < a->nfree; i++) {
        if (a->free[i].size < need) continue;
        size_t off = a->free[i].off;
        a->free[i].off += need;
        a->free[i].size -= need;
        if (a->free[i].size == 0) {
            memmove(&a->free[i], &a->free[i + 1], (a->nfree - i - 1) * sizeof *a->free);
            a->nfree--;
        }
        a->used += need;
        if (a->used > a->peak) a->peak = a->used;
        return off;
    }
    return (size_t)-1;
}

int cu_arena_free(cu_arena *a, size_t off, size_t bytes)
{
    size_t size = cu_arena_round(bytes);
    if (off % CU_ARENA_ALIGN || off > a->capacity || size > a->capacity - off) return -1;
    /* i = the first free range after off */
    size_t i = 0;
    while (i < a->nfree && a->free[i].off < off) i++;
    if (i > 0 && a->free[i - 1].off + a->free[i - 1].size > off) return -1;
    if (i < a->nfree && off + size > a->free[i].off) return -1;
    int join_prev = i > 0 && a->free[i - 1].off + a->free[i - 1].size == off;
    int join_next = i < a->nfree && off + size == a->free[i].off;
    if (join_prev && join_next) {
        a->free[i - 1].size += size + a->free[i].size;
        memmove(&a->free[i], &a->free[i + 1], (a->nfree - i - 1) * sizeof *a->free);
        a->nfree--;
    } else if (join_prev) {
        a->free[i - 1].size += size;
    } else if (join_next) {
        a->free[i].off = off;
        a->free[i].size += size;
    } else {
        if (a->nfree == a->cap_free) {
            cu_range *grown = realloc(a->free, 2 * a->cap_free * sizeof *a->free);
            if (!grown) return -1;
            a->free = grown;
            a->cap_free *= 2;
        }
        memmove(&a->free[i + 1], &a->free[i], (a->nfree - i) * sizeof *a->free);
        a->free[i] = (cu_range){off, size};
        a->nfree++;
    }
    a->used -= size;
    return 0;
}

size_t cu_arena_largest_free(const cu_arena *a)
{
    size_t best = 0;
    for (size_t i = 0; i < a->nfree; i++)
        if (a->free[i].size > best) best = a->free[i].size;
    return best;
}
