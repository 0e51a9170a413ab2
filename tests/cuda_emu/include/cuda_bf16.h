/* CUDA emulator: __nv_bfloat16 and the conversions the kernels use (round to nearest even; NaN stays
 * a quiet NaN). Must not: add arithmetic operators the kernels do not use. */
#ifndef BERTH_CUDA_EMU_BF16_H
#define BERTH_CUDA_EMU_BF16_H

#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
    unsigned short __x;
};

inline float __bfloat162float(__nv_bfloat16 b)
{
    const uint32_t bits = (uint32_t)b.__x << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

inline __nv_bfloat16 __float2bfloat16_rn(float f)
{
    uint32_t x;
    std::memcpy(&x, &f, sizeof x);
    __nv_bfloat16 b;
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        b.__x = (unsigned short)((x >> 16) | 0x40u);
        return b;
    }
    x += 0x7fffu + ((x >> 16) & 1u);
    b.__x = (unsigned short)(x >> 16);
    return b;
}

#endif
