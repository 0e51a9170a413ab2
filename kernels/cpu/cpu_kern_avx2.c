/* The AVX2 + FMA kernel set (Haswell and later, Zen): 16 ymm registers hold a 4-row x 2-token tile.
 * Compiled with -mavx2 -mfma (kernels/cpu/CMakeLists.txt); run only when cpu_isa.c finds both. */
#define CPU_KERN_VL 8
#define CPU_KERN_TT 2
#define CPU_KERN_NAME "avx2"
#define CPU_KERN_TABLE cpu_kernels_avx2
#include "kernels/cpu/cpu_kern_body.h"
