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

/* PCRE2 10.42 carries Unicode 14 tables, while the Oniguruma inside HF's tokenizers knows Unicode 15
 * (the Kaktovik numerals are \p{N} to it). So general categories are spelled out as explicit
 * ranges taken from utf8proc (Unicode 15), and \s and \w as Oniguruma defines them:
 * \s = U+0009-U+000D, U+0085 and Z (PCRE2's own \s leaves out U+0085);
 * \w = L, M, Nd, Pc. */
typedef struct {
    char *s;
    size_t len, cap;
    char *cached_name[8];
    char *cached[8];
    size_t n_cached;
} pat_buf;

static bool append(pat_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t c = (b->cap + n + 1) * 2;
        char *nb = realloc(b->s, c);
        if (!nb) return false;
        b->s = nb;
        b->cap = c;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return true;
}

static bool in_category(int32_t cp, const char *name)
{
    const char *cat = utf8proc_category_string(cp);
    return cat[0] == name[0] && (name[1] == '\0' || cat[1] == name[1]);
}

/* Appends the ranges of general category name ("L", "Nd", ...) as class items, without brackets. */
static bool append_category(pat_buf *b, const char *name)
{
    for (size_t i = 0; i < b->n_cached; i++)
        if (strcmp(b->cached_name[i], name) == 0) return append(b, b->cached[i], strlen(b->cached[i]));
    pat_buf r = {0};
    bool ok = true;
    for (int32_t cp = 0; cp <= 0x10FFFF && ok; cp++) {
        if (cp == 0xD800) cp = 0xE000;
        if (!in_category(cp, name)) continue;
        int32_t end = cp;
        while (end + 1 <= 0x10FFFF && end + 1 != 0xD800 && in_category(end + 1, name)) end++;
        char item[32];
        int k = end == cp ? snprintf(item, sizeof item, "\\x{%X}", cp) : snprintf(item, sizeof item, "\\x{%X}-\\x{%X}", cp, end);
        ok = append(&r, item, (size_t)k);
        cp = end;
    }
    ok = ok && r.s && append(b, r.s, r.len);
    if (ok && b->n_cached < 8 && (b->cached_name[b->n_cached] = strdup(name))) b->cached[b->n_cached++] = r.s;
    else free(r.s);
    return ok;
}

static bool is_category_name(const char *name)
{
    static const char *const names[] = {"L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No",
                                        "P", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So",
                                        "Z", "Zs", "Zl", "Zp"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) return true;
    return false;
}

static bool append_class(pat_buf *b, bool in_class, bool negated, const char *const *cats, const char *extra)
{
    bool ok = in_class ? true : append(b, negated ? "[^" : "[", negated ? 2 : 1);
    if (extra) ok = ok && append(b, extra, strlen(extra));
    for (size_t i = 0; cats[i] && ok; i++) ok = append_category(b, cats[i]);
    return ok && (in_class || append(b, "]", 1));
}

static char *translate_pattern(const char *pat, char *err, size_t errlen)
{
    static const char *const space_cats[] = {"Z", NULL};
    static const char *const word_cats[] = {"L", "M", "Nd", "Pc", NULL};
    pat_buf b = {0};
    bool in_class = false, ok = true;
    const char *why = NULL;
    for (size_t i = 0; pat[i] && ok && !why; i++) {
        char c = pat[i];
        if (c == '\\' && pat[i + 1]) {
            char e = pat[++i];
            bool upper = e == 'S' || e == 'W' || e == 'P';
            if ((e == 's' || e == 'S' || e == 'w' || e == 'W') && in_class && upper) {
                why = "a negated class escape (\\S, \\W) inside a character class is not supported";
            } else if (e == 's' || e == 'S') {
                ok = append_class(&b, in_class, upper, space_cats, "\\t\\n\\x0B\\f\\r\\x{85}");
            } else if (e == 'w' || e == 'W') {
                ok = append_class(&b, in_class, upper, word_cats, NULL);
            } else if (e == 'h' || e == 'H') {
                why = "\\h (a hex digit in Oniguruma, a blank in PCRE2) is not supported";
            } else if ((e == 'p' || e == 'P') && pat[i + 1] == '{' && strchr(pat + i, '}')) {
                size_t n = (size_t)(strchr(pat + i, '}') - (pat + i + 2));
                char name[16] = "";
                if (n < sizeof name) memcpy(name, pat + i + 2, n), name[n] = '\0';
                if (!is_category_name(name)) {
                    ok = append(&b, pat + i - 1, n + 4); /* a script or property: PCRE2's own tables */
                } else if (in_class && upper) {
                    why = "\\P{...} inside a character class is not supported";
                } else {
                    const char *cats[] = {name, NULL};
                    ok = append_class(&b, in_class, upper, cats, NULL);
                }
                i += n + 2;
            } else {
                ok = append(&b, pat + i - 1, 2);
            }
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            ok = append(&b, "[", 1);
            /* A ']' right after '[' or '[^' is a literal in both dialects. */
            if (pat[i + 1] == '^') ok = ok && append(&b, &pat[++i], 1);
            if (pat[i + 1] == ']') ok = ok && append(&b, &pat[++i], 1);
            continue;
        }
        if (c == '[' && in_class && pat[i + 1] != ':') {
            why = "nested character classes (Oniguruma set operations) are not supported";
            continue;
        }
        if (c == ']' && in_class) in_class = false;
        ok = append(&b, &c, 1);
    }
    for (size_t i = 0; i < b.n_cached; i++) {
        free(b.cached_name[i]);
        free(b.cached[i]);
    }
    if (!ok || why) {
        snprintf(err, errlen, "%s", why ? why : "out of memory");
        free(b.s);
        return NULL;
    }
    return b.s;
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
        snprintf(err, errlen, "PCRE2 rejects \"%s\" (translated from Oniguruma syntax) at offset %zu: %s", pattern, (size_t)at, msg);
    } else {
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT the interpreter still works */
    }
    free(pat);
    return re;
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
    if (c->t->nfc && tok_needs_nfc(p, n)) {
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
