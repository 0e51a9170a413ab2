/* CUDA emulator: nvcuda::wmma (<mma.h>) for the shapes kernels/cuda uses: 16x16x16, __nv_bfloat16 A and
 * B (row- or column-major), float accumulators. Owned by the tensor-core kernel's author ("tc"); the
 * scheduler, barriers and the other intrinsics are cuda_emu.h's and must not be redefined here.
 *
 * The hardware's element-to-lane mapping of a fragment is unspecified, so every lane's fragment here
 * holds the whole tile (x[r * 16 + c] = element (r, c) of the fragment's matrix): each lane loads and
 * multiplies all of it. A kernel may therefore only touch x[] in mapping-independent ways (a uniform
 * scale, a fill); one that assumes a real lane layout is not tested by this file. store_matrix_sync
 * writes only the calling lane's share (elements lane, lane + 32, ...), as on hardware where each lane
 * stores its own registers, so a lane reading the stored tile before a __syncwarp sees the other
 * lanes' parts missing whenever the scheduler has not run them yet. mma_sync is computed once per
 * warp and call: the first
 * lane to reach a warp's n-th call computes it, the other lanes take the result after checking their
 * inputs are byte-identical to the first lane's, so a warp whose lanes hold different fragments (a race,
 * or x[] used per lane) aborts instead of passing. Products of bf16 values are exact in fp32; sums run in
 * k order with fp32 rounding (the tensor cores' order and rounding of the sum are not emulated). */
#ifndef BERTH_CUDA_EMU_MMA_H
#define BERTH_CUDA_EMU_MMA_H

#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <type_traits>

#include "cuda_emu.h"

namespace cuemu {
/* emu_sched.h's: aborts with "cuda_emu: <message>" (declared again so this header stands alone). */
[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
} // namespace cuemu

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void> class fragment {
    static_assert(M == 16 && N == 16 && K == 16, "cuda_emu: only 16x16x16 wmma fragments are emulated");
    static_assert(std::is_same<Use, accumulator>::value ? std::is_same<T, float>::value &&
                                                              std::is_void<Layout>::value
                                                        : std::is_same<T, __nv_bfloat16>::value &&
                                                              !std::is_void<Layout>::value,
                  "cuda_emu: wmma fragments are emulated for bf16 A/B with a layout and float "
                  "accumulators without one");

public:
    using element_type = T;
    enum { num_elements = 256 };
    T x[num_elements];
};

namespace emu {

/* Offset of element (r, c) of a fragment's matrix stored with leading dimension ldm. */
inline size_t at(bool row_major_, int r, int c, unsigned ldm)
{
    return row_major_ ? (size_t)r * ldm + (size_t)c : (size_t)c * ldm + (size_t)r;
}

/* The documented requirements: a 256-bit aligned pointer and ldm a multiple of 16 bytes. Dynamic
 * shared memory is checked relative to its base (the emulator's buffer has malloc alignment; the
 * hardware aligns the kernel's extern __shared__ array). */
inline void check(const char *fn, const void *p, unsigned ldm, size_t elem)
{
    const uintptr_t a = (uintptr_t)p, base = (uintptr_t)::cuemu::dynamic_smem_base;
    const uintptr_t off = base && a >= base && a - base < ((uintptr_t)227 << 10) ? a - base : a;
    if (off % 32)
        ::cuemu::fatal("wmma::%s: pointer %p is not 256-bit aligned (offset %zu into dynamic shared "
                         "memory or memory)", fn, p, (size_t)(off % 32));
    if (ldm * elem % 16)
        ::cuemu::fatal("wmma::%s: ldm %u is not a multiple of 16 bytes (%zu-byte elements)", fn, ldm,
                         elem);
}

/* The calling thread's lane; WMMA is defined for whole warps only. */
inline unsigned lane_of_full_warp(const char *fn)
{
    const dim3 bd = ::cuemu::current.block_dim;
    const uint3 t = ::cuemu::current.thread;
    const unsigned lin = t.x + t.y * bd.x + t.z * bd.x * bd.y;
    if (bd.x * bd.y * bd.z - lin / 32 * 32 < 32)
        ::cuemu::fatal("wmma::%s: thread %u is in a warp of fewer than 32 threads (block of %u)", fn, lin,
                       bd.x * bd.y * bd.z);
    return lin % 32;
}

struct mma_call {
    __nv_bfloat16 a[256], b[256];
    float c[256], d[256];
    int uses; /* lanes that have taken d */
};

struct warp_calls {
    uint64_t next[32] = {}; /* each lane's count of its mma_sync calls */
    uint64_t first = 0;     /* call number of calls.front() */
    std::deque<mma_call> calls;
};

struct block_calls {
    bool started = false;
    uint3 block = {};
    std::map<unsigned, warp_calls> warps;
};

inline block_calls &state()
{
    static thread_local block_calls s;
    return s;
}

/* The calling lane's warp record, starting afresh (after checking the last block's warps finished
 * every call on all their lanes) when another block runs. */
inline warp_calls &warp_of(unsigned warp)
{
    block_calls &s = state();
    const uint3 b = ::cuemu::current.block;
    if (!s.started || b.x != s.block.x || b.y != s.block.y || b.z != s.block.z) {
        for (const auto &w : s.warps)
            if (!w.second.calls.empty())
                ::cuemu::fatal("wmma::mma_sync: in block (%u,%u,%u), warp %u's lanes did not all make "
                               "the same mma_sync calls (%zu calls missing lanes)", s.block.x, s.block.y,
                               s.block.z, w.first, w.second.calls.size());
        s.warps.clear();
        s.block = b;
        s.started = true;
    }
    return s.warps[warp];
}

} // namespace emu

template <typename Use, typename Layout>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, __nv_bfloat16, Layout> &f, const __nv_bfloat16 *p,
                             unsigned ldm)
{
    static_assert(std::is_same<Use, matrix_a>::value || std::is_same<Use, matrix_b>::value,
                  "cuda_emu: bf16 fragments are matrix_a or matrix_b");
    emu::check("load_matrix_sync", p, ldm, sizeof *p);
    const bool rm = std::is_same<Layout, row_major>::value;
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) f.x[r * 16 + c] = p[emu::at(rm, r, c, ldm)];
}

inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f, unsigned ldm,
                              layout_t layout)
{
    emu::check("store_matrix_sync", p, ldm, sizeof *p);
    for (unsigned i = emu::lane_of_full_warp("store_matrix_sync"); i < 256; i += 32)
        p[emu::at(layout == mem_row_major, (int)i / 16, (int)i % 16, ldm)] = f.x[i];
}

template <typename Use, typename T, typename Layout, typename V>
inline void fill_fragment(fragment<Use, 16, 16, 16, T, Layout> &f, const V &v)
{
    for (int i = 0; i < 256; i++) {
        if constexpr (std::is_same<T, __nv_bfloat16>::value)
            f.x[i] = __float2bfloat16_rn((float)v);
        else
            f.x[i] = (T)v;
    }
}

template <typename LA, typename LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float> &d,
                     const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA> &a,
                     const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB> &b,
                     const fragment<accumulator, 16, 16, 16, float> &c)
{
    const uint3 t = ::cuemu::current.thread;
    const dim3 bd = ::cuemu::current.block_dim;
    const unsigned lane = emu::lane_of_full_warp("mma_sync");
    const unsigned warp = (t.x + t.y * bd.x + t.z * bd.x * bd.y) / 32;
    emu::warp_calls &w = emu::warp_of(warp);
    const uint64_t n = w.next[lane]++;
    if (n - w.first < w.calls.size()) {
        emu::mma_call &k = w.calls[(size_t)(n - w.first)];
        if (std::memcmp(k.a, a.x, sizeof k.a) || std::memcmp(k.b, b.x, sizeof k.b) ||
            std::memcmp(k.c, c.x, sizeof k.c))
            ::cuemu::fatal("wmma::mma_sync: block (%u,%u,%u) warp %u: lane %u's fragments for call %llu "
                             "differ from another lane's (a race on the loaded memory, or x[] changed per "
                             "lane)", ::cuemu::current.block.x, ::cuemu::current.block.y,
                             ::cuemu::current.block.z, warp, lane, (unsigned long long)n);
        std::memcpy(d.x, k.d, sizeof k.d);
        if (++k.uses == 32)
            while (!w.calls.empty() && w.calls.front().uses == 32) {
                w.calls.pop_front();
                w.first++;
            }
        return;
    }
    w.calls.emplace_back();
    emu::mma_call &k = w.calls.back();
    std::memcpy(k.a, a.x, sizeof k.a);
    std::memcpy(k.b, b.x, sizeof k.b);
    std::memcpy(k.c, c.x, sizeof k.c);
    float af[256], bf[256];
    for (int i = 0; i < 256; i++) {
        af[i] = __bfloat162float(a.x[i]);
        bf[i] = __bfloat162float(b.x[i]);
    }
    for (int r = 0; r < 16; r++)
        for (int col = 0; col < 16; col++) {
            float acc = k.c[r * 16 + col];
            for (int i = 0; i < 16; i++) acc += af[r * 16 + i] * bf[i * 16 + col];
            k.d[r * 16 + col] = acc;
        }
    k.uses = 1;
    std::memcpy(d.x, k.d, sizeof k.d);
}

} // namespace wmma
} // namespace nvcuda

#endif
