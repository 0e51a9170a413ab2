/* Which compiled kernel set (cpu_kern.h) the CPU backend runs: the best this CPU supports, or the
 * one BERTH_CPU_ISA forces. Owns: CPU feature detection and that choice. Must not: run kernels. */
#ifndef BERTH_KERNELS_CPU_ISA_H
#define BERTH_KERNELS_CPU_ISA_H

#include <stddef.h>

#include "kernels/cpu/cpu_kern.h"

/* The kernel set to use: BERTH_CPU_ISA (portable, avx2, avx512) when set, else the build's default
 * (BERTH_CPU_ISA_DEFAULT, the sanitizer build's "portable"), else the best the CPU runs. NULL with
 * a message naming the variable and its value when the value is unknown or the CPU lacks it. */
const cpu_kernels *cpu_isa_select(char *err, size_t errlen);

/* Whether this CPU (and OS) can run the named kernel set; the names cpu_isa_select accepts. */
int cpu_isa_supported(const char *name);

/* The CPU features the choice looked at, for the log line ("avx2 fma avx512f ..."). */
const char *cpu_isa_features(void);

#endif
