/* The CUDA backend's sub-allocator (pure host bookkeeping, so it runs without a GPU): alignment,
 * first fit, coalescing on free, exhaustion, and refusal of double or foreign frees. */
#include <stdlib.h>

#include "kernels/cuda/cuda_arena.h"
#include "tests/support/test_support.h"

#define A CU_ARENA_ALIGN

static void test_alloc_free_coalesce(void)
{
    cu_arena a;
    CHECK(cu_arena_init(&a, 10 * A + 17) == 0);
    CHECK(a.capacity == 10 * A); /* the ragged tail is never handed out */
    size_t x = cu_arena_alloc(&a, 1), y = cu_arena_alloc(&a, A + 1), z = cu_arena_alloc(&a, 3 * A);
    CHECK(x == 0 && y == A && z == 3 * A);
    CHECK(a.used == 6 * A && a.peak == 6 * A);
    CHECK(cu_arena_alloc(&a, 5 * A) == (size_t)-1); /* 4 * A left */
    CHECK(cu_arena_largest_free(&a) == 4 * A);
    CHECK(cu_arena_free(&a, y, A + 1) == 0);
    CHECK(cu_arena_free(&a, y, A + 1) == -1); /* double free: refused, nothing changes */
    CHECK(a.used == 4 * A && a.nfree == 2);
    CHECK(cu_arena_alloc(&a, A) == y); /* first fit reuses the hole */
    CHECK(cu_arena_free(&a, y, A) == 0);
    CHECK(cu_arena_free(&a, x, 1) == 0); /* joins the hole after it */
    CHECK(a.nfree == 2 && a.free[0].off == 0 && a.free[0].size == 3 * A);
    CHECK(cu_arena_free(&a, z, 3 * A) == 0); /* joins both neighbours */
    CHECK(a.nfree == 1 && a.free[0].size == 10 * A && a.used == 0);
    CHECK(a.peak == 6 * A); /* the high-water mark of a memory share stays */
    CHECK(cu_arena_free(&a, 11 * A, 1) == -1); /* outside */
    CHECK(cu_arena_free(&a, 3, 1) == -1);      /* misaligned */
    cu_arena_release(&a);
}

static void test_many_holes(void)
{
    /* Free every other range so the free list grows past its initial capacity, then refill. */
    enum { N = 200 };
    cu_arena a;
    size_t off[N];
    CHECK(cu_arena_init(&a, N * A) == 0);
    for (int i = 0; i < N; i++) off[i] = cu_arena_alloc(&a, A);
    CHECK(off[N - 1] == (N - 1) * A && cu_arena_alloc(&a, 1) == (size_t)-1);
    for (int i = 0; i < N; i += 2) CHECK(cu_arena_free(&a, off[i], A) == 0);
    CHECK(a.nfree == N / 2 && a.used == N / 2 * A);
    CHECK(cu_arena_alloc(&a, 2 * A) == (size_t)-1); /* fragmented: no two adjacent */
    for (int i = 1; i < N; i += 2) CHECK(cu_arena_free(&a, off[i], A) == 0);
    CHECK(a.nfree == 1 && a.used == 0 && cu_arena_largest_free(&a) == N * A);
    cu_arena_release(&a);
}

int main(void)
{
    test_alloc_free_coalesce();
    test_many_holes();
    return test_finish("test_cuda_arena");
}
