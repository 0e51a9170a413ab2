/* Regular expressions as HF's tokenizers runs them: patterns written for Oniguruma translated to
 * PCRE2 with the same meaning, and the list of matches and gaps (find_matches) with Oniguruma's
 * iteration rules. Knows nothing of tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_unicode.h"

/* PCRE2 10.42 carries Unicode 14 tables, while the Oniguruma inside HF's tokenizers knows
 * Unicode 16. So general categories are spelled out as explicit ranges from tok_unicode (the same
 * Unicode as HF), and \s and \w as Oniguruma defines them: \s = U+0009-U+000D, U+0085 and Z
 * (PCRE2's own \s leaves out U+0085); \w = L, M, Nd, Pc. */
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
    return tok_unicode_in_category(cp, name);
}

/* One class item for cp..end, leaving out the surrogates (PCRE2 refuses them in UTF mode). */
static bool append_range(pat_buf *b, uint32_t cp, uint32_t end)
{
    if (cp <= 0xDFFF && end >= 0xD800) {
        bool ok = cp >= 0xD800 || append_range(b, cp, 0xD7FF);
        return ok && (end <= 0xDFFF || append_range(b, 0xE000, end));
    }
    char item[32];
    int k = end == cp ? snprintf(item, sizeof item, "\\x{%X}", cp)
                      : snprintf(item, sizeof item, "\\x{%X}-\\x{%X}", cp, end);
    return append(b, item, (size_t)k);
}

/* Appends the ranges of general category name ("L", "Nd", ...) as class items, without brackets. */
static bool append_category(pat_buf *b, const char *name)
{
    for (size_t i = 0; i < b->n_cached; i++)
        if (strcmp(b->cached_name[i], name) == 0)
            return append(b, b->cached[i], strlen(b->cached[i]));
    pat_buf r = {0};
    bool ok = true;
    for (size_t i = 0; i < tok_gc_runs && ok; i++) {
        if (!in_category((int32_t)tok_gc_start[i], name)) continue;
        size_t j = i;
        while (j + 1 < tok_gc_runs && in_category((int32_t)tok_gc_start[j + 1], name))
            j++;
        uint32_t cp = tok_gc_start[i],
                 end = j + 1 < tok_gc_runs ? tok_gc_start[j + 1] - 1 : 0x10FFFF;
        ok = append_range(&r, cp, end);
        i = j;
    }
    ok = ok && r.s && append(b, r.s, r.len);
    if (ok && b->n_cached < 8 && (b->cached_name[b->n_cached] = strdup(name)))
        b->cached[b->n_cached++] = r.s;
    else
        free(r.s);
    return ok;
}

static bool is_category_name(const char *name)
{
    static const char *const names[] = {"L",  "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn",
                                        "Mc", "Me", "N",  "Nd", "Nl", "No", "P", "Pc",
                                        "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm",
                                        "Sc", "Sk", "So", "Z",  "Zs", "Zl", "Zp"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) return true;
    return false;
}

static bool append_class(pat_buf *b, bool in_class, bool negated, const char *const *cats,
                         const char *extra)
{
    bool ok = in_class ? true : append(b, negated ? "[^" : "[", negated ? 2 : 1);
    if (extra) ok = ok && append(b, extra, strlen(extra));
    for (size_t i = 0; cats[i] && ok; i++)
        ok = append_category(b, cats[i]);
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
                    ok = append(&b, pat + i - 1,
                                n + 4); /* a script or property: PCRE2's own tables */
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
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                                   &code, &at, NULL);
    if (!re) {
        char msg[160];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof msg);
        snprintf(err, errlen,
                 "PCRE2 rejects \"%s\" (translated from Oniguruma syntax) at offset %zu: %s",
                 pattern, (size_t)at, msg);
    } else {
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT the interpreter still works */
    }
    free(pat);
    return re;
}

pcre2_code *tok_regex_literal(const char *s, size_t n, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)s, n, PCRE2_UTF | PCRE2_LITERAL, &code, &at, NULL);
    if (!re) {
        char msg[160];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof msg);
        snprintf(err, errlen, "PCRE2 rejects the literal \"%.*s\": %s", (int)n, s, msg);
    } else {
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    }
    return re;
}

int tok_span_push(tok_spans *v, size_t s, size_t e, bool match)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        tok_span *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return -1;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = (tok_span){s, e, match};
    return 0;
}

/* Oniguruma's find_iter (the onig crate): after a match ending at e the search resumes at e, but an
 * empty match right where the previous match ended is refused and the search steps one character
 * on. tokenizers' find_matches then lists the gaps between matches as non-matches. */
int tok_regex_find(const pcre2_code *re, pcre2_match_data *md, const char *p, size_t n,
                   tok_spans *out, char *err, size_t errlen)
{
    out->n = 0;
    if (n == 0) return tok_span_push(out, 0, 0, false) == 0 ? TOK_OK : TOK_ERR;
    size_t off = 0, prev = 0;
    bool have_last = false;
    size_t last_end = 0;
    while (off <= n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)p, n, off, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc =
                pcre2_match(re, (PCRE2_SPTR)p, n, off, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            char msg[160];
            pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof msg);
            snprintf(err, errlen, "regex match failed: %s", msg);
            return TOK_ERR;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (e == s && have_last && last_end == e) {
            if (off >= n) break;
            off++;
            while (off < n && ((uint8_t)p[off] & 0xC0) == 0x80)
                off++;
            continue;
        }
        if (prev != s && tok_span_push(out, prev, s, false) != 0) goto oom;
        if (tok_span_push(out, s, e, true) != 0) goto oom;
        prev = e;
        off = e;
        have_last = true;
        last_end = e;
    }
    if (prev != n && tok_span_push(out, prev, n, false) != 0) goto oom;
    return TOK_OK;
oom:
    snprintf(err, errlen, "out of memory");
    return TOK_ERR;
}
