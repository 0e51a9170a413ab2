/* Lookups over the generated general-category runs (tok_unicode_data.c). */
#include <string.h>

#include "models/tokenizer/tok_unicode.h"

int tok_unicode_category(int32_t cp)
{
    if (cp < 0 || cp > 0x10FFFF) return TOK_GC_CN;
    size_t lo = 0, hi = tok_gc_runs; /* the last run starting at or before cp */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (tok_gc_start[mid] <= (uint32_t)cp)
            lo = mid;
        else
            hi = mid;
    }
    return tok_gc_cat[lo];
}

bool tok_unicode_in_category(int32_t cp, const char *name)
{
    const char *cat = tok_gc_names[tok_unicode_category(cp)];
    return cat[0] == name[0] && (name[1] == '\0' || strcmp(cat, name) == 0);
}

bool tok_unicode_is_space(int32_t c)
{
    if ((c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85) return true;
    if (c < 0x80) return false;
    int cat = tok_unicode_category(c);
    return cat == TOK_GC_ZS || cat == TOK_GC_ZL || cat == TOK_GC_ZP;
}

bool tok_unicode_is_numeric(int32_t c)
{
    if (c < 0x80) return c >= '0' && c <= '9';
    int cat = tok_unicode_category(c);
    return cat == TOK_GC_ND || cat == TOK_GC_NL || cat == TOK_GC_NO;
}

/* Alphabetic is the letters, Nl and Other_Alphabetic; the Other_Alphabetic characters that are not
 * marks are the circled and squared Latin letters listed here. */
bool tok_unicode_is_word(int32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_';
    if (c == 0x200C || c == 0x200D || (c >= 0x24B6 && c <= 0x24E9) ||
        (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
        (c >= 0x1F170 && c <= 0x1F189))
        return true;
    switch (tok_unicode_category(c)) {
    case TOK_GC_LU:
    case TOK_GC_LL:
    case TOK_GC_LT:
    case TOK_GC_LM:
    case TOK_GC_LO:
    case TOK_GC_MN:
    case TOK_GC_MC:
    case TOK_GC_ME:
    case TOK_GC_ND:
    case TOK_GC_NL:
    case TOK_GC_PC:
        return true;
    default:
        return false;
    }
}
