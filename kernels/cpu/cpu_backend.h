/* The CPU backend: every op of kernels/backend.h in portable C + OpenMP, on host memory.
 * Owns: creating the backend, its memory budget and thread count. Must not: know about models; the
 * op code lives in cpu_ops.c, cpu_matmul.c and cpu_attention.c. */
#ifndef BERTH_KERNELS_CPU_BACKEND_H
#define BERTH_KERNELS_CPU_BACKEND_H

#include <stddef.h>

#include "kernels/backend.h"

/* num_threads 0 = every core (OpenMP default). memory_budget 0 = unlimited; otherwise tensor_alloc
 * fails with a message naming requested/used/budget bytes once the budget would be exceeded; with a
 * budget, host wraps from tensor_from_host (weights) and the sample op's scratch count too. Returns NULL with a message in err on failure. */
bk_backend *bk_cpu_create(int num_threads, size_t memory_budget, char *err, size_t errlen);

/* Bytes of tensors allocated by tensor_alloc and not yet freed, plus what else is charged (above). */
size_t bk_cpu_bytes_in_use(const bk_backend *be);
/* Bytes of the memory budget not in use; SIZE_MAX without a budget. */
size_t bk_cpu_bytes_free(const bk_backend *be);

/* The number of threads an op's parallel region actually runs with (measured by opening one). */
int bk_cpu_num_threads(const bk_backend *be);

/* The kernel set the backend runs ("portable", "avx2", "avx512"; BERTH_CPU_ISA forces one). */
const char *bk_cpu_kernels(const bk_backend *be);
/* Whether this CPU can run the named kernel set (portable always; avx2, avx512 on x86-64 CPUs and
 * OSes that have them). */
int bk_cpu_kernels_supported(const char *name);
/* The CPU features that choice looked at, space separated (for the serve log). */
const char *bk_cpu_features(void);

#endif
