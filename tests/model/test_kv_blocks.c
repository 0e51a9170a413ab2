/* The KV block pool: all-or-nothing reservation, reference counts, every block back on release. */
#include <stdlib.h>

#include "server/engine/kv_blocks.h"
#include "tests/support/test_support.h"

int main(void)
{
    char err[256];
    kvb_pool pool;
    CHECK(kvb_pool_init(&pool, 0, err, sizeof err) != 0);
    CHECK(kvb_pool_init(&pool, 8, err, sizeof err) == 0);
    kvb_table a = {0}, b = {0};

    CHECK(kvb_table_reserve(&pool, &a, 1) == 0 && a.num_blocks == 1);
    CHECK(kvb_table_reserve(&pool, &a, BK_KV_BLOCK) == 0 && a.num_blocks == 1);
    CHECK(kvb_table_reserve(&pool, &a, BK_KV_BLOCK + 1) == 0 && a.num_blocks == 2);
    CHECK(kvb_slot(&a, BK_KV_BLOCK + 3) == a.blocks[1] * BK_KV_BLOCK + 3);
    CHECK(pool.num_free == 6);

    /* Asking for more than is free takes nothing. */
    CHECK(kvb_table_reserve(&pool, &b, 7 * BK_KV_BLOCK) != 0);
    CHECK(b.num_blocks == 0 && pool.num_free == 6);
    CHECK(kvb_table_reserve(&pool, &b, 6 * BK_KV_BLOCK) == 0 && pool.num_free == 0);

    /* Distinct blocks across tables. */
    int seen[8] = {0};
    for (int i = 0; i < a.num_blocks; i++) seen[a.blocks[i]]++;
    for (int i = 0; i < b.num_blocks; i++) seen[b.blocks[i]]++;
    for (int i = 0; i < 8; i++) CHECKF(seen[i] == 1, "block %d used %d times", i, seen[i]);

    /* A shared prefix block (refcount 2) survives one release and is freed by the last. */
    kvb_table c = {0};
    CHECK(kvb_table_share(&pool, &c, &a, 3) != 0); /* a has only 2 blocks */
    CHECK(kvb_table_share(&pool, &c, &a, 1) == 0 && c.num_blocks == 1 && c.blocks[0] == a.blocks[0]);
    CHECK(kvb_table_share(&pool, &c, &a, 1) != 0); /* c is no longer empty */
    int32_t shared = a.blocks[0];
    CHECK(pool.refcount[shared] == 2);
    kvb_table_release(&pool, &a);
    CHECK(a.num_blocks == 0 && pool.num_free == 1);
    CHECK(pool.refcount[shared] == 1);
    kvb_table_release(&pool, &c);
    CHECK(pool.num_free == 2 && pool.refcount[shared] == 0);
    kvb_table_release(&pool, &b);
    CHECK(pool.num_free == 8);
    kvb_table_free(&c);
    for (int i = 0; i < 8; i++) CHECK(pool.refcount[i] == 0);

    kvb_table_free(&a);
    kvb_table_free(&b);
    kvb_pool_free(&pool);
    return test_finish("kv_blocks");
}
