/* The arithmetic of "defaults that start": the KV cache's size and max_model_len from memory
 * (kv_budget_plan), the CPU's share of MemAvailable, and the CUDA budget from a device's free and
 * total memory (bk_cuda_budget, pure, so checked here without a GPU). */
#include <stdint.h>
#include <string.h>

#include "kernels/backends.h"
#include "server/engine/kv_budget.h"
#include "tests/support/test_support.h"

#define GiB ((size_t)1 << 30)

/* Qwen3-0.6B on the CPU: 28 layers x K,V x 8 heads x 128 x f32 = 229,376 bytes a token. */
static kv_budget_in qwen3_06b(size_t memory)
{
    return (kv_budget_in){.memory = memory,
                          .block_bytes = 229376 * BK_KV_BLOCK,
                          .num_tensors = 56,
                          .align = 256,
                          .model_max_len = 40960,
                          .max_num_seqs = 64};
}

static void test_lowered(void)
{
    /* The case: 2 GiB held 9,362 tokens, less than one sequence of 40,960. */
    char err[512] = "";
    kv_budget_out out;
    CHECK(kv_budget_plan(&(kv_budget_in){0}, &out, err, sizeof err) == -1);
    kv_budget_in in = qwen3_06b(2 * GiB);
    CHECKF(kv_budget_plan(&in, &out, err, sizeof err) == 0, "%s", err);
    /* (2 GiB - 56 x 256) / (229376 x 16) = 585.1 blocks */
    CHECKF(out.num_blocks == 585 && out.max_model_len == 585 * 16 && out.lowered,
           "blocks %d len %d lowered %d", out.num_blocks, out.max_model_len, out.lowered);
    /* The graphs' trash block comes out of the same memory. */
    in.extra_blocks = 1;
    CHECK(kv_budget_plan(&in, &out, err, sizeof err) == 0 && out.num_blocks == 584 &&
          out.max_model_len == 584 * 16);
}

static void test_full_length_and_cap(void)
{
    char err[512] = "";
    kv_budget_out out;
    kv_budget_in in = qwen3_06b(64 * GiB);
    CHECKF(kv_budget_plan(&in, &out, err, sizeof err) == 0, "%s", err);
    /* 64 GiB hold 18,724 blocks; 7 sequences of 2,560 blocks fit, the length is the model's. */
    CHECK(out.max_model_len == 40960 && !out.lowered && out.num_blocks == 18724);
    /* Never more than max_num_seqs full-length sequences. */
    in.max_num_seqs = 2;
    CHECK(kv_budget_plan(&in, &out, err, sizeof err) == 0 && out.num_blocks == 2 * 2560);
    /* An asked-for length is kept when it fits, and the cap follows it. */
    in.max_model_len = 4000;
    CHECK(kv_budget_plan(&in, &out, err, sizeof err) == 0 && out.max_model_len == 4000 &&
          !out.lowered && out.num_blocks == 2 * 250);
}

static void test_explicit_that_cannot_fit(void)
{
    char err[512] = "";
    kv_budget_out out;
    kv_budget_in in = qwen3_06b(2 * GiB);
    in.max_model_len = 40960;
    CHECK(kv_budget_plan(&in, &out, err, sizeof err) == -1);
    CHECKF(strstr(err, "2147483648 bytes holds 9360 tokens (229376 bytes each)") &&
               strstr(err, "less than one sequence of max_model_len 40960") &&
               strstr(err, "--max-model-len"),
           "%s", err);
    /* Memory for less than one block fails whatever the length. */
    in = qwen3_06b(229376 * 15);
    CHECK(kv_budget_plan(&in, &out, err, sizeof err) == -1);
    CHECKF(strstr(err, "holds 0 tokens") && strstr(err, "less than one block"), "%s", err);
    /* The rounding slack counts: exactly one block's bytes plus less than the slack is not enough.
     */
    in = qwen3_06b(229376 * 16 + 56 * 256 - 1);
    CHECK(kv_budget_plan(&in, &out, err, sizeof err) == -1);
    in.memory++;
    CHECK(kv_budget_plan(&in, &out, err, sizeof err) == 0 && out.num_blocks == 1 &&
          out.max_model_len == 16 && out.lowered);
}

static void test_cpu_share(void)
{
    CHECK(kv_budget_cpu_share(20 * GiB, 0.4, KV_BUDGET_CPU_CAP) ==
          (size_t)(20.0 * 0.4 * (double)GiB));
    CHECK(kv_budget_cpu_share(1024 * GiB, 0.4, KV_BUDGET_CPU_CAP) == KV_BUDGET_CPU_CAP);
    CHECK(kv_budget_cpu_share(0, 0.4, KV_BUDGET_CPU_CAP) == 0);
}

static void test_cuda_budget(void)
{
    char err[512] = "";
    size_t budget = 1;
    size_t total = 80 * GiB;
    /* A fresh H100: the CUDA context holds ~0.5 GiB, so 0.9 of the total is free. */
    CHECK(bk_cuda_budget(total - GiB / 2, total, 0, 0, &budget, err, sizeof err) == 0 &&
          budget == (size_t)((double)total * 0.9));
    CHECK(bk_cuda_budget(total - GiB / 2, total, 0.5, 0, &budget, err, sizeof err) == 0 &&
          budget == total / 2);
    /* Another process holds 30 GiB: the default shrinks and keeps 8 GiB (0.1 of the total) free,
     * an explicit fraction fails with the numbers, as vLLM's does. */
    CHECK(bk_cuda_budget(50 * GiB, total, 0, 0, &budget, err, sizeof err) == 0 &&
          budget == 50 * GiB - (total - (size_t)((double)total * 0.9)));
    CHECK(bk_cuda_budget(50 * GiB, total, 0.9, 1, &budget, err, sizeof err) == -1 && budget == 0);
    CHECKF(strstr(err, "--gpu-memory-utilization 0.9 of CUDA device 1's 85899345920 bytes") &&
               strstr(err, "only 53687091200 are free"),
           "%s", err);
    /* Less free than the headroom: nothing would be left for berth. */
    CHECK(bk_cuda_budget(4 * GiB, total, 0, 0, &budget, err, sizeof err) == -1);
    CHECK(bk_cuda_budget(total, total, 1.5, 0, &budget, err, sizeof err) == -1);
    CHECK(strstr(err, "expected a fraction in (0, 1]") != NULL);
}

int main(void)
{
    test_lowered();
    test_full_length_and_cap();
    test_explicit_that_cannot_fit();
    test_cpu_share();
    test_cuda_budget();
    return test_finish("kv_budget");
}
