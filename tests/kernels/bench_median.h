/* The median of a benchmark's rounds, shared by the kernel benchmarks (bench_cpu_*.c): one value
 * per round, sorted in place. Must not: hold any timing policy (each benchmark says what it times).
 */
#ifndef BERTH_TESTS_BENCH_MEDIAN_H
#define BERTH_TESTS_BENCH_MEDIAN_H

#include <stdlib.h>

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
