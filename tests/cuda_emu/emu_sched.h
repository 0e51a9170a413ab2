/* CUDA emulator: runs one grid on the calling OS thread, each thread of a block a fiber, with block
 * barriers and warp exchanges as rendezvous checked for divergence and deadlock.
 * Must not: know about streams, graphs or memory (emu_runtime.cc enqueues the grids it runs). */
#ifndef BERTH_CUDA_EMU_SCHED_H
#define BERTH_CUDA_EMU_SCHED_H

#include <cstddef>
#include <functional>

#include "cuda_runtime.h"

namespace cuemu {

/* Runs every block of the grid (in a seeded random order), every thread calling body. Aborts with a
 * message naming the kernel, launch site, block, threads and source lines on a divergent barrier or
 * a warp exchange that cannot complete; a thread overflowing its stack faults on a guard page. The
 * caller has checked the configuration; the smem bytes of dynamic shared memory are poisoned with
 * 0xff (NaN as floats) at each block start. CUEMU_SEED=<n> picks other thread and block orders. */
void run_grid(const site &where, dim3 grid, dim3 block, size_t smem,
              const std::function<void()> &body);

/* Aborts with "cuda_emu: <message>" on stderr: for faults a GPU would turn into a launch failure. */
[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

} // namespace cuemu

#endif
