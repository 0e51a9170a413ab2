/* NFC as HF's tokenizers computes it. utf8proc does the normalization; the one difference is that
 * HF's unicode-normalization-alignments crate carries Unicode 9 tables, so the combining marks
 * assigned since then are, to HF, unassigned starters that are never reordered. Knows nothing of
 * tokens. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_utf8.h"

/* Characters HF's Unicode 9 tables do not know and utf8proc (Unicode 15) normalizes: combining
 * marks (ccc != 0) and characters with a canonical or compatibility decomposition (U+A7F2, the
 * modifier letters U+10781-U+107BA, U+1E030-U+1E06D, ...). Found by comparing HF's NFC, NFD, NFKC
 * and NFKD with utf8proc and Unicode 16 over every code point; tests/tokenizer checks every code
 * point. */
static const int32_t hf_unknown[][2] = {
    {0x7FD, 0x7FD},     {0x898, 0x89F},     {0x8CA, 0x8D3},     {0x9FE, 0x9FE},
    {0xC3C, 0xC3C},     {0xD3B, 0xD3C},     {0xEBA, 0xEBA},     {0x1715, 0x1715},
    {0x1ABF, 0x1ACE},   {0x1DF6, 0x1DFA},   {0x32FF, 0x32FF},   {0xA7F2, 0xA7F4},
    {0xA82C, 0xA82C},   {0xAB69, 0xAB69},   {0x105C9, 0x105C9}, {0x105E4, 0x105E4},
    {0x10781, 0x10785}, {0x10787, 0x107B0}, {0x107B2, 0x107BA}, {0x10D24, 0x10D27},
    {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF}, {0x10F46, 0x10F50}, {0x10F82, 0x10F85},
    {0x11070, 0x11070}, {0x1133B, 0x1133B}, {0x11383, 0x11383}, {0x11385, 0x11385},
    {0x1138E, 0x1138E}, {0x11391, 0x11391}, {0x113C5, 0x113C5}, {0x113C7, 0x113C8},
    {0x1145E, 0x1145E}, {0x11839, 0x1183A}, {0x11938, 0x11938}, {0x1193D, 0x1193E},
    {0x11943, 0x11943}, {0x119E0, 0x119E0}, {0x11A34, 0x11A34}, {0x11A47, 0x11A47},
    {0x11A99, 0x11A99}, {0x11D42, 0x11D42}, {0x11D44, 0x11D45}, {0x11D97, 0x11D97},
    {0x11F41, 0x11F42}, {0x16121, 0x16128}, {0x16D68, 0x16D6A}, {0x16FF0, 0x16FF1},
    {0x1CCD6, 0x1CCF9}, {0x1E030, 0x1E06D}, {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136},
    {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF}, {0x1F16C, 0x1F16C},
    {0x1FBF0, 0x1FBF9},
};

static bool hf_unknown_mark(int32_t c)
{
    size_t lo = 0, hi = sizeof hf_unknown / sizeof hf_unknown[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < hf_unknown[mid][0])
            hi = mid;
        else if (c > hf_unknown[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

static int append(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = (*cap + n + 1) * 2;
        char *b = realloc(*out, c);
        if (!b) return -1;
        *out = b;
        *cap = c;
    }
    memcpy(*out + *len, s, n);
    *len += n;
    (*out)[*len] = '\0';
    return 0;
}

/* Characters with no decomposition that no combining mark can compose with (they are all
 * NFC_Quick_Check=Yes and never the second of a composition pair): a run made only of them is
 * already NFC. This covers ASCII, Latin-1, the common Latin extensions, kana, CJK ideographs and
 * precomposed Hangul, so most text never reaches utf8proc. */
static bool nfc_inert(int32_t c)
{
    return c < 0x300 || (c >= 0x3041 && c <= 0x3096) || (c >= 0x30A1 && c <= 0x30FA) ||
           (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7A3);
}

bool tok_needs_nfc(const char *p, size_t n)
{
    const uint8_t *u = (const uint8_t *)p;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        int32_t c;
        size_t k = tok_utf8_next(u + i, n - i, &c);
        if (k == 0 || !nfc_inert(c)) return true;
        i += k;
    }
    return false;
}

/* The normal form of one segment that holds none of the marks above. */
static int nfc_segment(const char *p, size_t n, int options, char **out, size_t *len, size_t *cap)
{
    if (n == 0) return 0;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)n, &dst,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | options));
    if (r < 0) return -1;
    int rc = append(out, len, cap, (const char *)dst, (size_t)r);
    free(dst);
    return rc;
}

int tok_nfc(const char *p, size_t n, char **out, size_t *outlen)
{
    return tok_normal_form(p, n, true, false, out, outlen);
}

int tok_normal_form(const char *p, size_t n, bool compose, bool compat, char **out, size_t *outlen)
{
    int options =
        (compose ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE) | (compat ? UTF8PROC_COMPAT : 0);
    *out = NULL;
    *outlen = 0;
    size_t cap = 0, seg = 0;
    const uint8_t *u = (const uint8_t *)p;
    /* A mark HF does not know is a starter to it, and a starter splits NFC into independent
     * halves: reordering never crosses it and nothing composes across or with it. */
    for (size_t i = 0; i < n;) {
        int32_t c = 0;
        size_t k = tok_utf8_next(u + i, n - i, &c);
        if (k == 0) k = 1;
        if (c >= 0x7FD && hf_unknown_mark(c)) {
            if (nfc_segment(p + seg, i - seg, options, out, outlen, &cap) != 0 ||
                append(out, outlen, &cap, p + i, k) != 0) {
                free(*out);
                *out = NULL;
                return -1;
            }
            seg = i + k;
        }
        i += k;
    }
    if (nfc_segment(p + seg, n - seg, options, out, outlen, &cap) != 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}
