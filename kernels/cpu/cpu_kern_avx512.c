/* The AVX-512 kernel set (Skylake-SP and later, Zen 4): 32 zmm registers hold a 4-row x 4-token
 * tile (4 x 6 on the widened prefill path: 24 accumulators and 4 weight vectors). Compiled with
 * -mavx512f/bw/vl/dq (kernels/cpu/CMakeLists.txt); run only when cpu_isa.c finds them and the OS
 * saves the zmm state. */
#define CPU_KERN_VL 16
#define CPU_KERN_TT 4
#define CPU_KERN_TTW 6
#define CPU_KERN_NAME "avx512"
#define CPU_KERN_TABLE cpu_kernels_avx512
#include "kernels/cpu/cpu_kern_body.h"
