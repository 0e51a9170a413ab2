/* Seeded random weights for berth-make-model. */
#include "tools/make_model/mm_init.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(mm_rng *r) {
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void mm_rng_start(mm_rng *r, uint64_t seed, int index, mm_init_kind kind, double init_std) {
    uint64_t x = seed ^ (0xd1b54a32d192ed03ULL * (uint64_t)(index + 1));
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->kind = kind;
    r->have_spare = 0;
    /* Uniform on [-a, a] has std a/sqrt(3). Norm weights: 1 +- 0.1, so the scale multiply is tested
     * without changing activation magnitudes much. */
    r->scale = kind == MM_INIT_NORM ? 0.1f : (float)(init_std * sqrt(3.0));
}

static void put_u16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Round to nearest even; our values are finite, so no NaN handling is needed. */
static uint16_t f32_to_bf16(uint32_t bits) { return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16); }

void mm_rng_fill(mm_rng *r, mm_dtype d, size_t n, unsigned char *out) {
    const float centre = r->kind == MM_INIT_NORM ? 1.0f : 0.0f;
    const size_t width = mm_dtype_size(d);
    for (size_t i = 0; i < n; i++) {
        /* Two 24-bit uniforms per 64-bit draw: 24 bits is a float's full mantissa. */
        uint32_t bits24;
        if (r->have_spare) {
            bits24 = r->spare;
            r->have_spare = 0;
        } else {
            const uint64_t word = next(r);
            bits24 = (uint32_t)(word >> 40);
            r->spare = (uint32_t)(word >> 8) & 0xffffffu;
            r->have_spare = 1;
        }
        const float u = (float)bits24 * (1.0f / 16777216.0f) * 2.0f - 1.0f;
        const float v = centre + r->scale * u;
        uint32_t b;
        memcpy(&b, &v, sizeof b);
        if (d == MM_BF16) put_u16(out + i * width, f32_to_bf16(b));
        else put_u32(out + i * width, b);
    }
}
