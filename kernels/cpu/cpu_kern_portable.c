/* The portable kernel set: no target flags beyond the build's, so baseline x86-64 (SSE2), aarch64
 * (NEON) or anything else gcc/clang target. What the sanitizer build and valgrind run. */
#define CPU_KERN_VL 8
#define CPU_KERN_TT 2
#define CPU_KERN_NAME "portable"
#define CPU_KERN_TABLE cpu_kernels_portable
#include "kernels/cpu/cpu_kern_body.h"
