/* UTF-8 helpers (see tok_utf8.h). The valid ranges are those of Unicode Table 3-7. */
#include "models/tokenizer/tok_utf8.h"

#include <string.h>

/* Allowed range of the second byte for each lead byte; later bytes are always 80..BF. */
static bool lead_info(uint8_t b, size_t *need, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        *need = 2;
    else if (b == 0xE0)
        *need = 3, *lo = 0xA0;
    else if (b >= 0xE1 && b <= 0xEC)
        *need = 3;
    else if (b == 0xED)
        *need = 3, *hi = 0x9F;
    else if (b >= 0xEE && b <= 0xEF)
        *need = 3;
    else if (b == 0xF0)
        *need = 4, *lo = 0x90;
    else if (b >= 0xF1 && b <= 0xF3)
        *need = 4;
    else if (b == 0xF4)
        *need = 4, *hi = 0x8F;
    else
        return false;
    return true;
}

/* How many bytes at p form a valid prefix of a sequence (counting the lead byte), capped by n. */
static size_t valid_run(const uint8_t *p, size_t n, size_t *need)
{
    uint8_t lo, hi;
    if (!lead_info(p[0], need, &lo, &hi)) return 0;
    size_t k = 1;
    if (k < n && k < *need && p[1] >= lo && p[1] <= hi) {
        k = 2;
        while (k < n && k < *need && p[k] >= 0x80 && p[k] <= 0xBF)
            k++;
    }
    return k;
}

size_t tok_utf8_next(const uint8_t *p, size_t n, int32_t *cp)
{
    if (n == 0) return 0;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    size_t need = 0;
    size_t k = valid_run(p, n, &need);
    if (k == 0 || k < need) return 0;
    int32_t c = p[0] & (0x7F >> need);
    for (size_t i = 1; i < need; i++)
        c = (c << 6) | (p[i] & 0x3F);
    *cp = c;
    return need;
}

size_t tok_utf8_invalid_len(const uint8_t *p, size_t n)
{
    size_t need = 0;
    size_t k = valid_run(p, n, &need);
    return k == 0 ? 1 : k;
}

bool tok_utf8_incomplete(const uint8_t *p, size_t n)
{
    if (n == 0 || p[0] < 0x80) return false;
    size_t need = 0;
    size_t k = valid_run(p, n, &need);
    return k == n && k < need;
}

size_t tok_utf8_valid_prefix(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        int32_t cp;
        size_t k = tok_utf8_next(p + i, n - i, &cp);
        if (k == 0) return i;
        i += k;
    }
    return n;
}

size_t tok_utf8_lossy(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        size_t good = tok_utf8_valid_prefix(p + i, n - i);
        memcpy(out + o, p + i, good);
        o += good;
        i += good;
        if (i < n) {
            i += tok_utf8_invalid_len(p + i, n - i);
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        }
    }
    return o;
}

size_t tok_utf8_encode(int32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}
