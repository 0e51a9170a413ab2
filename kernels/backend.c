/* Dtype helpers shared by every backend. */
#include "kernels/backend.h"

#include <math.h>
#include <string.h>

size_t bk_dtype_size(bk_dtype dtype)
{
    switch (dtype) {
    case BK_F32:
    case BK_I32:
        return 4;
    case BK_F16:
    case BK_BF16:
        return 2;
    case BK_Q8:
        return 1;
    }
    return 0;
}

const char *bk_dtype_name(bk_dtype dtype)
{
    switch (dtype) {
    case BK_F32:
        return "F32";
    case BK_F16:
        return "F16";
    case BK_BF16:
        return "BF16";
    case BK_I32:
        return "I32";
    case BK_Q8:
        return "Q8";
    }
    return "?";
}

static float host_value(const void *src, bk_dtype dt, size_t i)
{
    if (dt == BK_F32) return ((const float *)src)[i];
    uint16_t h = ((const uint16_t *)src)[i];
    uint32_t u;
    if (dt == BK_BF16) {
        u = (uint32_t)h << 16;
    } else { /* F16: exact through the float's own arithmetic */
        float m = (float)(h & 1023u), v;
        int e = (h >> 10) & 31;
        if (e == 0)
            v = ldexpf(m, -24);
        else if (e == 31)
            v = m ? NAN : INFINITY;
        else
            v = ldexpf(m + 1024.0f, e - 25);
        return (h & 0x8000u) ? -v : v;
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int bk_q8_quantize(void *dst, const void *src, bk_dtype src_dtype, int64_t rows, int64_t cols)
{
    return bk_q8_quantize_rows(dst,
                               (float *)(void *)((char *)dst + bk_q8_scales_offset(rows, cols)),
                               src, src_dtype, rows, cols);
}

int bk_q8_quantize_rows(int8_t *q, float *scales, const void *src, bk_dtype src_dtype, int64_t rows,
                        int64_t cols)
{
    if (src_dtype != BK_F32 && src_dtype != BK_F16 && src_dtype != BK_BF16) return -1;
    for (int64_t r = 0; r < rows; r++) {
        const size_t base = (size_t)r * (size_t)cols;
        float amax = 0.0f;
        for (int64_t c = 0; c < cols; c++) {
            float a = fabsf(host_value(src, src_dtype, base + (size_t)c));
            if (a > amax) amax = a;
        }
        /* Reciprocal-free: q = w / scale, so the largest |w| maps to exactly 127. */
        const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
        for (int64_t c = 0; c < cols; c++) {
            float v = roundf(host_value(src, src_dtype, base + (size_t)c) / scale);
            /* A NaN weight (or any weight of a row holding inf, whose scale is inf) has no int8
             * value; 0 keeps the conversion defined (a NaN to int8 is not). */
            q[base + (size_t)c] = isnan(v) ? 0 : v > 127.0f ? 127 : v < -127.0f ? -127 : (int8_t)v;
        }
        scales[r] = scale;
    }
    return 0;
}
