/* For the ctest variants that force a CPU kernel set (test_*_isa_<name>, BERTH_CPU_ISA=<name>):
 * a CPU that cannot run the set skips the test (exit 77, named in the ctest output), and a backend
 * that runs another set than the forced one fails it. Header-only: shared by kernels/ and model/.
 */
#ifndef BERTH_TESTS_CPU_ISA_FORCED_H
#define BERTH_TESTS_CPU_ISA_FORCED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#include "tests/support/test_support.h"

static inline void cpu_isa_forced_guard(const char *test)
{
    const char *isa = getenv("BERTH_CPU_ISA");
    /* Only the names the backend knows skip; any other must make bk_cpu_create fail the test. */
    int known = isa && (!strcmp(isa, "portable") || !strcmp(isa, "avx2") || !strcmp(isa, "avx512"));
    if (known && !bk_cpu_kernels_supported(isa)) {
        printf("%s: skipped: this CPU cannot run BERTH_CPU_ISA=%s (it has: %s)\n", test, isa,
               bk_cpu_features());
        exit(77);
    }
}

static inline void cpu_isa_forced_check(const bk_backend *be)
{
    const char *isa = getenv("BERTH_CPU_ISA");
    if (isa && *isa)
        CHECKF(strcmp(bk_cpu_kernels(be), isa) == 0, "BERTH_CPU_ISA=%s but the backend runs %s",
               isa, bk_cpu_kernels(be));
}

#endif
