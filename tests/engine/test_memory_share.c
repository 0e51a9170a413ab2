/* Memory shares' arithmetic (memory_share.h): a model against its share, a set of shares against a
 * device (with and without a per-process CUDA context), saturation instead of wrap-around, and the
 * CPU probe (physical RAM). The CUDA probe runs in tests/gpu/run.sh. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "server/engine/memory_share.h"
#include "tests/support/test_support.h"

#define MiB MEMSHARE_MIB
#define GiB ((size_t)1 << 30)

static void test_fit(void)
{
    char err[512] = "";
    memshare_need need = {.weights = 800 * MiB, .workspace = 160 * MiB, .min_kv = 40 * MiB};
    CHECK(memshare_fit(&need, 1000 * MiB, err, sizeof err) == 0); /* exactly full fits */
    CHECK(memshare_fit(&need, 1000 * MiB - 1, err, sizeof err) == -1);
    CHECK(strstr(err, "weights 800.0 MiB + workspace 160.0 MiB + minimum KV 40.0 MiB = 1000.0 MiB "
                      "> share 1000.0 MiB") != NULL);
    need.weights = SIZE_MAX - 10; /* saturates, never wraps into a fit */
    CHECK(memshare_fit(&need, 2000 * MiB, err, sizeof err) == -1);
}

static void test_device(void)
{
    char err[512] = "";
    memshare_device h100 = {.total = 80 * GiB, .per_process = 500 * MiB, .measured = true};
    size_t two[] = {38 * GiB, 40 * GiB};
    /* 78 GiB + 2 x 500 MiB = 78.98 GiB <= 80 GiB */
    CHECK(memshare_check(two, 2, &h100, "CUDA device 0", err, sizeof err) == 0);
    size_t three[] = {30 * GiB, 30 * GiB, 19 * GiB + 600 * MiB};
    /* 79.59 GiB of shares + 1.46 GiB of contexts > 80 GiB, though the shares alone fit */
    CHECK(memshare_check(three, 3, &h100, "CUDA device 0", err, sizeof err) == -1);
    CHECK(strstr(err, "do not fit CUDA device 0: 3 shares of 81496.0 MiB in all + 3 x 500.0 MiB "
                      "per process (CUDA context, measured) = 82996.0 MiB > 81920.0 MiB") != NULL);
    memshare_device guess = h100;
    guess.measured = false;
    CHECK(memshare_check(three, 3, &guess, "CUDA device 0", err, sizeof err) == -1);
    CHECK(strstr(err, "default estimate") != NULL);
    memshare_device ram = {.total = 16 * GiB};
    size_t cpu[] = {8 * GiB, 8 * GiB};
    CHECK(memshare_check(cpu, 2, &ram, "RAM", err, sizeof err) == 0);
    size_t huge[] = {SIZE_MAX, 2};
    CHECK(memshare_check(huge, 2, &ram, "RAM", err, sizeof err) == -1);
    CHECK(memshare_check(NULL, 0, &ram, "RAM", err, sizeof err) == 0);
}

static void test_probe(void)
{
    char err[512] = "";
    memshare_device d;
    CHECK(memshare_probe("cpu", 0, &d, err, sizeof err) == 0);
    CHECK(d.total == (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGE_SIZE));
    CHECK(d.per_process == 0);
    size_t too_much[] = {d.total / 2, d.total / 2 + 4096};
    CHECK(memshare_check_device("cpu", 0, too_much, 2, err, sizeof err) == -1);
    CHECK(strstr(err, "the host's physical memory") != NULL);
    size_t fits[] = {d.total / 4, d.total / 4};
    CHECK(memshare_check_device("cpu", 0, fits, 2, err, sizeof err) == 0);
    CHECK(memshare_probe("tpu", 0, &d, err, sizeof err) == -1);
    CHECK(strstr(err, "unknown backend 'tpu'") != NULL);
}

int main(void)
{
    test_fit();
    test_device();
    test_probe();
    return test_finish("memory_share");
}
