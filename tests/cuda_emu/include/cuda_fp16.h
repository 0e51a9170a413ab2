/* CUDA emulator: __half and the conversions the kernels use (round to nearest even, as the device).
 * Must not: add arithmetic operators the kernels do not use (a kernel needing one should fail to build
 * here rather than get an approximation). */
#ifndef BERTH_CUDA_EMU_FP16_H
#define BERTH_CUDA_EMU_FP16_H

#include <cstdint>
#include <cstring>

struct __half {
    unsigned short __x;
};
typedef __half half;

inline float __half2float(__half h)
{
    const uint32_t s = (uint32_t)(h.__x & 0x8000u) << 16;
    uint32_t e = (h.__x >> 10) & 0x1fu, m = h.__x & 0x3ffu, bits;
    if (e == 0x1f) {
        bits = s | 0x7f800000u | (m << 13);
    } else if (e == 0) {
        if (m == 0) {
            bits = s;
        } else { /* subnormal: normalise */
            e = 113;
            while (!(m & 0x400u)) {
                m <<= 1;
                e--;
            }
            bits = s | (e << 23) | ((m & 0x3ffu) << 13);
        }
    } else {
        bits = s | ((e + 112) << 23) | (m << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

inline __half __float2half_rn(float f)
{
    uint32_t x;
    std::memcpy(&x, &f, sizeof x);
    const uint16_t s = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t a = x & 0x7fffffffu;
    __half h;
    if (a > 0x7f800000u) { /* NaN: keep it a quiet NaN */
        h.__x = (uint16_t)(s | 0x7e00u | ((a >> 13) & 0x3ffu));
        return h;
    }
    if (a >= 0x477ff000u) { /* rounds to >= 65520: infinity */
        h.__x = (uint16_t)(s | 0x7c00u);
        return h;
    }
    if (a < 0x38800000u) { /* below the smallest normal half (2^-14): subnormal or zero */
        if (a < 0x33000000u) { /* below half of the smallest subnormal (2^-25): zero */
            h.__x = s;
            return h;
        }
        const uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126 - e; /* 14..24 bits: value = m * 2^(e-150), unit 2^-24 */
        uint32_t r = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (r & 1u))) r++;
        h.__x = (uint16_t)(s | r);
        return h;
    }
    uint32_t r = a - 0x38000000u; /* rebias 127 -> 15 */
    const uint32_t rem = r & 0x1fffu;
    r >>= 13;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
    h.__x = (uint16_t)(s | r);
    return h;
}

#endif
