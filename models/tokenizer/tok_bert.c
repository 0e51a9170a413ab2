/* Lookups over the generated BERT tables (tok_bert_data.c). */
#include "models/tokenizer/tok_bert.h"
#include "models/tokenizer/tok_unicode.h"

static bool in_ranges(const uint32_t (*r)[2], size_t n, int32_t cp)
{
    if (cp < 0) return false;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((uint32_t)cp < r[mid][0])
            hi = mid;
        else if ((uint32_t)cp > r[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

bool tok_bert_is_control(int32_t cp)
{
    if (cp == '\t' || cp == '\n' || cp == '\r') return false;
    return in_ranges(tok_bert_other, tok_bert_other_n, cp);
}

bool tok_bert_is_whitespace(int32_t cp)
{
    return tok_unicode_is_space(cp);
}

bool tok_bert_is_punct(int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
               (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
    return in_ranges(tok_bert_punct, tok_bert_punct_n, cp);
}

bool tok_bert_is_nonspacing_mark(int32_t cp)
{
    return in_ranges(tok_bert_mn, tok_bert_mn_n, cp);
}

bool tok_bert_is_mark(int32_t cp)
{
    return in_ranges(tok_bert_mark9, tok_bert_mark9_n, cp);
}

bool tok_bert_is_chinese(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

int tok_bert_lowercase(int32_t cp, int32_t out[3])
{
    if (cp < 0x80) {
        out[0] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        return 1;
    }
    size_t lo = 0, hi = tok_bert_lower_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((uint32_t)cp < tok_bert_lower[mid][0])
            hi = mid;
        else if ((uint32_t)cp > tok_bert_lower[mid][0])
            lo = mid + 1;
        else {
            int n = 0;
            for (int k = 1; k < 4 && tok_bert_lower[mid][k]; k++)
                out[n++] = (int32_t)tok_bert_lower[mid][k];
            return n;
        }
    }
    out[0] = cp;
    return 1;
}
