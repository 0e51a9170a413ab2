/* What the GPU benchmarks measure the same way: the device's copy bandwidth and cuBLAS's bf16 GEMM
 * peak (the references every number is a percentage of), random bf16 / f32 data, wall-clock time.
 * Benchmark programs only: failures print a message and exit. */
#ifndef BERTH_TESTS_GPU_BENCH_UTIL_H
#define BERTH_TESTS_GPU_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* cudaMemcpy device to device of 2 GiB, bytes read + written per second, in GB/s. */
double bench_copy_bandwidth(void);
/* cublasGemmEx bf16 x bf16 -> bf16, fp32 accumulate, 8192³ on random data, in TFLOP/s. */
double bench_gemm_peak(void);

/* bf16 values uniform-ish in ±[2^-8, 2) and f32 in [-1, 1), from a fixed seed. */
void bench_fill_bf16(uint16_t *x, size_t n);
void bench_fill_f32(float *x, size_t n);

/* Seconds on the monotonic clock. */
double bench_now(void);

/* Exits with file and line when a CUDA runtime call fails. */
void bench_check(int cuda_error, const char *call, const char *file, int line);
#define BENCH_CK(call) bench_check((int)(call), #call, __FILE__, __LINE__)

#endif
