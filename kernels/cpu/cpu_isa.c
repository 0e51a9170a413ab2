#include "kernels/cpu/cpu_isa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(BERTH_CPU_X86)
/* libgcc's __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 register state
 * (XGETBV), so a kernel VM that hides AVX-512 falls back to AVX2 here instead of dying on SIGILL.
 */
static int has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int has_avx512(void)
{
    __builtin_cpu_init();
    return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#endif

static const cpu_kernels *by_name(const char *name)
{
    if (!strcmp(name, "portable")) return &cpu_kernels_portable;
#if defined(BERTH_CPU_X86)
    if (!strcmp(name, "avx2")) return &cpu_kernels_avx2;
    if (!strcmp(name, "avx512")) return &cpu_kernels_avx512;
#endif
    return NULL;
}

int cpu_isa_supported(const char *name)
{
    if (!strcmp(name, "portable")) return 1;
#if defined(BERTH_CPU_X86)
    if (!strcmp(name, "avx2")) return has_avx2();
    if (!strcmp(name, "avx512")) return has_avx512();
#endif
    return 0;
}

const char *cpu_isa_features(void)
{
#if defined(BERTH_CPU_X86)
    static char buf[128];
    /* AMX is not listed: clang's __builtin_cpu_supports does not know it, and no kernel uses it. */
    static const char *const names[] = {"sse4.2",  "avx",      "avx2",     "fma",
                                        "avx512f", "avx512bw", "avx512vl", "avx512bf16"};
    __builtin_cpu_init();
    const int have[] = {__builtin_cpu_supports("sse4.2"),   __builtin_cpu_supports("avx"),
                        __builtin_cpu_supports("avx2"),     __builtin_cpu_supports("fma"),
                        __builtin_cpu_supports("avx512f"),  __builtin_cpu_supports("avx512bw"),
                        __builtin_cpu_supports("avx512vl"), __builtin_cpu_supports("avx512bf16")};
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (have[i] && len < sizeof buf)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", len ? " " : "", names[i]);
    return len ? buf : "baseline";
#else
    return "not x86-64";
#endif
}

const cpu_kernels *cpu_isa_select(char *err, size_t errlen)
{
    const char *forced = getenv("BERTH_CPU_ISA");
    const char *what = "BERTH_CPU_ISA";
#ifdef BERTH_CPU_ISA_DEFAULT
    if (!forced || !*forced) {
        forced = BERTH_CPU_ISA_DEFAULT;
        what = "the build's BERTH_CPU_ISA_DEFAULT";
    }
#endif
    if (forced && *forced) {
        const cpu_kernels *k = by_name(forced);
        if (!k) {
            snprintf(err, errlen, "cpu backend: %s is '%s', expected portable%s", what, forced,
#if defined(BERTH_CPU_X86)
                     ", avx2 or avx512"
#else
                     " (the only kernel set of a non-x86 build)"
#endif
            );
            return NULL;
        }
        if (!cpu_isa_supported(forced)) {
            snprintf(err, errlen, "cpu backend: %s is '%s', but this CPU lacks it (it has: %s)",
                     what, forced, cpu_isa_features());
            return NULL;
        }
        return k;
    }
#if defined(BERTH_CPU_X86)
    if (has_avx512()) return &cpu_kernels_avx512;
    if (has_avx2()) return &cpu_kernels_avx2;
#endif
    return &cpu_kernels_portable;
}
