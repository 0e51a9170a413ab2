/* The CUDA backend's sub-allocator: offsets into the one device allocation made at start.
 * Owns: free-range bookkeeping (first fit, coalescing on free), in plain C so it is tested without a GPU.
 * Must not: call CUDA or know what the ranges hold. */
#ifndef BERTH_KERNELS_CUDA_ARENA_H
#define BERTH_KERNELS_CUDA_ARENA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every range starts and ends on this many bytes: enough for 16-byte vector loads and cuBLASLt. */
#define CU_ARENA_ALIGN 256

typedef struct cu_range {
    size_t off, size;
} cu_range;

typedef struct cu_arena {
    size_t capacity;
    size_t used;
    size_t peak; /* the most `used` has been: the share's high-water mark */
    cu_range *free; /* sorted by offset, never adjacent (coalesced) */
    size_t nfree, cap_free;
} cu_arena;

/* 0 on success; -1 when the bookkeeping array cannot be allocated. */
int cu_arena_init(cu_arena *a, size_t capacity);
void cu_arena_release(cu_arena *a);
/* The rounded size a request of `bytes` occupies. */
size_t cu_arena_round(size_t bytes);
/* Offset of a new range of cu_arena_round(bytes) bytes, or (size_t)-1 when no free range fits. */
size_t cu_arena_alloc(cu_arena *a, size_t bytes);
/* Returns [off, off + cu_arena_round(bytes)) to the free list. -1 when the range overlaps free space
 * or lies outside the arena (a double free or a foreign pointer); the arena is then unchanged. */
int cu_arena_free(cu_arena *a, size_t off, size_t bytes);
/* The largest single range still available. */
size_t cu_arena_largest_free(const cu_arena *a);

#ifdef __cplusplus
}
#endif

#endif
