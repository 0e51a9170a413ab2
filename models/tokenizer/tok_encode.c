/* Encoding: UTF-8 repair, added-token split, NFC, the regex Split pre-tokenizer (PCRE2, with the
 * pattern translated from Oniguruma's meaning), then BPE per word. Stateless per call, so many
 * threads may encode with one tokenizer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_utf8.h"

/* Oniguruma's Unicode \s (what HF's tokenizers compiles the pattern with): U+0009-U+000D, U+0085
 * and the separators Zs, Zl, Zp. PCRE2's UCP \s leaves out U+0085, so \s is spelled out. */
#define ONIG_SPACE "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}"
/* Oniguruma's Unicode \w: letters, marks, decimal digits, connector punctuation. */
#define ONIG_WORD "\\p{L}\\p{M}\\p{Nd}\\p{Pc}"

static bool append(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = (*cap + n + 1) * 2;
        char *b = realloc(*out, c);
        if (!b) return false;
        *out = b;
        *cap = c;
    }
    memcpy(*out + *len, s, n);
    *len += n;
    (*out)[*len] = '\0';
    return true;
}

static char *translate_pattern(const char *pat, char *err, size_t errlen)
{
    char *out = NULL;
    size_t len = 0, cap = 0;
    bool in_class = false, ok = true;
    for (size_t i = 0; pat[i] && ok; i++) {
        char c = pat[i];
        if (c == '\\' && pat[i + 1]) {
            char e = pat[++i];
            const char *rep = NULL, *neg = NULL;
            if (e == 's' || e == 'S') rep = ONIG_SPACE, neg = e == 'S' ? "" : NULL;
            if (e == 'w' || e == 'W') rep = ONIG_WORD, neg = e == 'W' ? "" : NULL;
            if (e == 'h' || e == 'H') {
                snprintf(err, errlen, "\\%c (a hex digit in Oniguruma, a blank in PCRE2) is not supported", e);
                free(out);
                return NULL;
            }
            if (rep && in_class && neg) {
                snprintf(err, errlen, "\\%c inside a character class is not supported", e);
                free(out);
                return NULL;
            }
            if (rep && in_class) ok = append(&out, &len, &cap, rep, strlen(rep));
            else if (rep) {
                ok = append(&out, &len, &cap, neg ? "[^" : "[", neg ? 2 : 1) &&
                     append(&out, &len, &cap, rep, strlen(rep)) && append(&out, &len, &cap, "]", 1);
            } else {
                ok = append(&out, &len, &cap, pat + i - 1, 2);
            }
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            ok = append(&out, &len, &cap, "[", 1);
            /* A ']' right after '[' or '[^' is a literal in both dialects. */
            if (pat[i + 1] == '^') ok = ok && append(&out, &len, &cap, &pat[++i], 1);
            if (pat[i + 1] == ']') ok = ok && append(&out, &len, &cap, &pat[++i], 1);
            continue;
        }
        if (c == '[' && in_class && pat[i + 1] != ':') {
            snprintf(err, errlen, "nested character classes (Oniguruma set operations) are not supported");
            free(out);
            return NULL;
        }
        if (c == ']' && in_class) in_class = false;
        ok = append(&out, &len, &cap, &c, 1);
    }
    if (!ok) {
        snprintf(err, errlen, "out of memory");
        free(out);
        return NULL;
    }
    return out;
}

pcre2_code *tok_regex_compile(const char *pattern, char *err, size_t errlen)
{
    char *pat = translate_pattern(pattern, err, errlen);
    if (!pat) return NULL;
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    if (!re) {
        char msg[160];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof msg);
        snprintf(err, errlen, "PCRE2 rejects \"%s\" at offset %zu: %s", pat, (size_t)at, msg);
    } else {
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT the interpreter still works */
    }
    free(pat);
    return re;
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

int tok_nfc(const char *p, size_t n, char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (n == 0) return 0;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)n, &dst,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (r < 0) return -1;
    *out = (char *)dst;
    *outlen = (size_t)r;
    return 0;
}

static bool needs_nfc(const char *p, size_t n)
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

typedef struct {
    const tok_tokenizer *t;
    tok_ids ids;
    tok_bpe_scratch bpe;
    pcre2_match_data *md;
    char *err;
    size_t errlen;
} enc_ctx;

static int enc_fail(enc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int enc_fail(enc_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return TOK_ERR;
}

static int word(enc_ctx *c, const char *p, size_t n)
{
    return tok_bpe_word(c->t, (const uint8_t *)p, n, &c->ids, &c->bpe) == 0 ? TOK_OK : enc_fail(c, "tok_encode: out of memory");
}

/* HF's Split with behavior Isolated: every match is a piece and so is every gap between them. */
static int split_level(enc_ctx *c, size_t level, const char *p, size_t n)
{
    if (level == c->t->n_re) return word(c, p, n);
    const pcre2_code *re = c->t->re[level];
    size_t off = 0, last = 0;
    while (off < n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)p, n, off, PCRE2_NO_UTF_CHECK, c->md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(re, (PCRE2_SPTR)p, n, off, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, c->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            char msg[160];
            pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof msg);
            return enc_fail(c, "tok_encode: pre-tokenizer regex failed: %s", msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t s = ov[0], e = ov[1];
        if (s > last && split_level(c, level + 1, p + last, s - last) != TOK_OK) return TOK_ERR;
        if (e > s && split_level(c, level + 1, p + s, e - s) != TOK_OK) return TOK_ERR;
        last = e;
        off = e;
        if (e == s) { /* an empty match: step over one character, as find_iter does */
            off++;
            while (off < n && ((uint8_t)p[off] & 0xC0) == 0x80) off++;
        }
    }
    if (last < n) return split_level(c, level + 1, p + last, n - last);
    return TOK_OK;
}

static int normalized_piece(void *ctx, const char *p, size_t n, int32_t token)
{
    enc_ctx *c = ctx;
    if (token >= 0) return tok_ids_push(&c->ids, token) == 0 ? TOK_OK : enc_fail(c, "tok_encode: out of memory");
    return split_level(c, 0, p, n);
}

static int raw_piece(void *ctx, const char *p, size_t n, int32_t token)
{
    enc_ctx *c = ctx;
    if (token >= 0) return tok_ids_push(&c->ids, token) == 0 ? TOK_OK : enc_fail(c, "tok_encode: out of memory");
    char *norm = NULL;
    size_t norm_len = n;
    if (c->t->nfc && needs_nfc(p, n)) {
        if (tok_nfc(p, n, &norm, &norm_len) != 0) return enc_fail(c, "tok_encode: NFC normalization failed");
        p = norm;
    }
    int rc = tok_split_added(c->t, &c->t->norm_match, p, norm_len, normalized_piece, c);
    free(norm);
    return rc;
}

int tok_encode(const tok_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n, char *err,
               size_t errlen)
{
    *ids = NULL;
    *n = 0;
    enc_ctx c = {.t = t, .err = err, .errlen = errlen};
    char *fixed = NULL;
    if (tok_utf8_valid_prefix((const uint8_t *)text, len) != len) {
        fixed = malloc(len * 3 + 1);
        if (!fixed) return enc_fail(&c, "tok_encode: out of memory");
        len = tok_utf8_lossy((const uint8_t *)text, len, (uint8_t *)fixed);
        text = fixed;
    }
    c.md = pcre2_match_data_create(1, NULL);
    int rc = c.md ? tok_split_added(t, &t->raw_match, text, len, raw_piece, &c) : enc_fail(&c, "tok_encode: out of memory");
    pcre2_match_data_free(c.md);
    tok_bpe_scratch_free(&c.bpe);
    free(fixed);
    if (rc != TOK_OK) {
        free(c.ids.v);
        return TOK_ERR;
    }
    *ids = c.ids.v;
    *n = c.ids.n;
    return TOK_OK;
}
