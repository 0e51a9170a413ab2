/* Memory shares on a real GPU (docs/components.md, "Memory shares"): the CUDA context probe, a
 * backend whose share holds everything (the fixed cuBLASLt workspace and scratch included, counted
 * from the start) and refuses past it with peak <= share, and, when tests/gpu/run.sh started MPS
 * with CUDA_MPS_PINNED_DEVICE_MEM_LIMIT (BERTH_TEST_MPS_LIMIT_MIB says how much), that the driver
 * refuses a share above the limit too. Exit 77 without a device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"
#include "server/engine/memory_share.h"
#include "tests/support/test_support.h"

#define MiB ((size_t)1 << 20)

static void test_probe(void)
{
    char err[512] = "";
    size_t total = 0, context = 0;
    int rc = bk_cuda_probe_context(0, &total, &context, err, sizeof err);
    CHECKF(rc == 1, "probe: %s", err);
    CHECK(total > 1024 * MiB && context < total);
    printf("device 0: %zu MiB total, one process's context %zu MiB (measured)\n", total / MiB,
           context / MiB);
    memshare_device dev = {.total = total, .per_process = context, .measured = true};
    /* (The emulator's "context" is the host memory it cannot use, which may be most of it.) */
    if (2 * context < total) {
        size_t fits[] = {(total - 2 * context) / 2, (total - 2 * context) / 2};
        CHECK(memshare_check(fits, 2, &dev, "CUDA device 0", err, sizeof err) == 0);
    }
    size_t too_much[] = {total / 2, total / 2};
    CHECK(context == 0 ||
          memshare_check(too_much, 2, &dev, "CUDA device 0", err, sizeof err) == -1);
}

static void test_share_holds_everything(size_t share)
{
    char err[512] = "";
    bk_backend *be = bk_cuda_create(0, share, err, sizeof err);
    CHECKF(be, "bk_cuda_create(%zu MiB): %s", share / MiB, err);
    if (!be) return;
    bk_memory_stats ms;
    be->ops->memory_stats(be, &ms);
    CHECK(ms.budget == share && ms.fixed > 0 && ms.in_use == ms.fixed && ms.peak == ms.fixed);
    bk_tensor t[64];
    int n = 0;
    while (n < 64 && be->ops->tensor_alloc(be, &t[n], BK_F32, 1024, 1024) == 0)
        n++; /* 4 MiB each, until the share refuses */
    CHECK(n > 0 && n < 64);
    CHECK(strstr(be->ops->last_error(be), "bytes") != NULL);
    be->ops->memory_stats(be, &ms);
    CHECK(ms.peak <= share && ms.in_use <= share && share - ms.in_use < 4 * MiB + 256);
    printf("share %zu MiB: fixed workspace %zu MiB, %d x 4 MiB tensors, peak %zu of %zu bytes\n",
           share / MiB, ms.fixed / MiB, n, ms.peak, share);
    for (int i = 0; i < n; i++)
        be->ops->tensor_free(be, &t[i]);
    be->ops->destroy(be);
}

static void test_mps_limit(size_t limit)
{
    char err[512] = "";
    bk_backend *be = bk_cuda_create(0, 2 * limit, err, sizeof err);
    CHECKF(!be, "a share of twice the MPS limit (%zu MiB) was allocated", 2 * limit / MiB);
    if (be)
        be->ops->destroy(be);
    else
        printf("MPS refused a share above CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: %s\n", err);
    test_share_holds_everything(limit / 2);
}

int main(void)
{
    if (bk_cuda_device_count() == 0) {
        if (bk_cuda_init_error()[0]) {
            printf("FAILED: %s\n", bk_cuda_init_error());
            return 1;
        }
        printf("SKIPPED: no CUDA device\n");
        return 77;
    }
    const char *mps = getenv("BERTH_TEST_MPS_LIMIT_MIB");
    if (mps) {
        test_mps_limit((size_t)atoll(mps) * MiB);
    } else {
        test_probe();
        test_share_holds_everything(256 * MiB);
    }
    return test_finish("test_cuda_share");
}
