/* JSON Schema `pattern` -> GBNF over a JSON string's content. The regex dialect is the part on
 * which ECMA-262 (the spec's dialect) and Python's re (what jsonschema validators run) agree; where
 * they differ (\d, \w, \s, . on non-ASCII text) a character is accepted only when both dialects
 * accept it, so no compiled pattern accepts a string either dialect rejects. Features outside that
 * common part (lookaround, backreferences, flags, word boundaries) are refused by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/json_schema_int.h"

/* One quantified atom of a top-level sequence (kept to fit minLength/maxLength into it). */
typedef struct ritem {
    char *atom;
    bool single; /* one character set */
    long m, n;   /* quantifier (n -1: unbounded) */
    long min, max;
} ritem;

typedef struct rx {
    js_ctx *c;
    const char *src, *p;
    int depth;
    bool want_len; /* fit the top-level alternatives into lengths [lo, hi] (hi -1: none) */
    long lo, hi;
    ritem *items;
    size_t n_items, cap_items;
} rx;

typedef struct rnode {
    js_buf text;   /* GBNF expression */
    long min, max; /* length bounds in characters; max -1 = unbounded */
    bool single;   /* exactly one character set */
} rnode;

static int rx_fail(rx *r, const char *what)
{
    return js_fail(r->c, "json schema: pattern \"%.120s\": %s (at offset %d)", r->src, what,
                   (int)(r->p - r->src));
}

/* Lower (both dialects accept) and upper (either may accept) sets of a shorthand class. */
static void unicode_space(js_cset *s)
{
    js_cset_add(s, 0x09, 0x0D);
    js_cset_add(s, 0x1C, 0x20);
    js_cset_add(s, 0x85, 0x85);
    js_cset_add(s, 0xA0, 0xA0);
    js_cset_add(s, 0x1680, 0x1680);
    js_cset_add(s, 0x2000, 0x200A);
    js_cset_add(s, 0x2028, 0x2029);
    js_cset_add(s, 0x202F, 0x202F);
    js_cset_add(s, 0x205F, 0x205F);
    js_cset_add(s, 0x3000, 0x3000);
    js_cset_add(s, 0xFEFF, 0xFEFF);
}

static void shorthand(char k, js_cset *lo, js_cset *hi)
{
    js_cset pos_lo = {0}, pos_hi = {0};
    char base = (char)(k | 0x20);
    if (base == 'd') {
        js_cset_add(&pos_lo, '0', '9');
        js_cset_add(&pos_hi, '0', '9');
        js_cset_add(&pos_hi, 0x80, 0x10FFFF);
    } else if (base == 'w') {
        js_cset_add(&pos_lo, '0', '9');
        js_cset_add(&pos_lo, 'A', 'Z');
        js_cset_add(&pos_lo, 'a', 'z');
        js_cset_add(&pos_lo, '_', '_');
        js_cset_add_set(&pos_hi, &pos_lo);
        js_cset_add(&pos_hi, 0x80, 0x10FFFF);
    } else { /* s */
        js_cset_add(&pos_lo, 0x09, 0x0D);
        js_cset_add(&pos_lo, ' ', ' ');
        unicode_space(&pos_hi);
    }
    if (k == base) {
        js_cset_add_set(lo, &pos_lo);
        js_cset_add_set(hi, &pos_hi);
    } else {
        js_cset_invert(&pos_hi); /* negated: lower = complement of the upper, and vice versa */
        js_cset_invert(&pos_lo);
        js_cset_add_set(lo, &pos_hi);
        js_cset_add_set(hi, &pos_lo);
    }
    js_cset_free(&pos_lo);
    js_cset_free(&pos_hi);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static size_t utf8_dec(const unsigned char *s, uint32_t *cp)
{
    unsigned char b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    int n = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
    uint32_t v = b & (0x3F >> n);
    size_t i = 1;
    for (; i <= (size_t)n && (s[i] & 0xC0) == 0x80; i++)
        v = (v << 6) | (s[i] & 0x3F);
    *cp = (i == (size_t)n + 1 && n) ? v : 0xFFFD;
    return i;
}

/* One escape after '\\' (r->p at the letter); a single character (*cp) or a class (lo/hi).
 * Returns 1 for a character, 2 for a class, 0 on error. */
static int parse_escape(rx *r, bool in_class, uint32_t *cp, js_cset *lo, js_cset *hi)
{
    char e = *r->p;
    if (!e) return rx_fail(r, "trailing backslash"), 0;
    r->p++;
    switch (e) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 's':
    case 'S':
        shorthand(e, lo, hi);
        return 2;
    case 't':
        *cp = '\t';
        return 1;
    case 'n':
        *cp = '\n';
        return 1;
    case 'r':
        *cp = '\r';
        return 1;
    case 'f':
        *cp = '\f';
        return 1;
    case 'v':
        *cp = '\v';
        return 1;
    case '0':
        if (*r->p >= '0' && *r->p <= '9') return rx_fail(r, "octal escapes are not supported"), 0;
        *cp = 0;
        return 1;
    case 'b':
        if (in_class) {
            *cp = '\b';
            return 1;
        }
        return rx_fail(r, "word boundaries (\\b) are not supported"), 0;
    case 'x': {
        int h1 = hexval(r->p[0]), h2 = h1 >= 0 ? hexval(r->p[1]) : -1;
        if (h2 < 0) return rx_fail(r, "\\x needs two hex digits"), 0;
        r->p += 2;
        *cp = (uint32_t)(h1 * 16 + h2);
        return 1;
    }
    case 'u': {
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
            int h = hexval(r->p[i]);
            if (h < 0) return rx_fail(r, "\\u needs four hex digits"), 0;
            v = v * 16 + (uint32_t)h;
        }
        r->p += 4;
        if (v >= 0xD800 && v <= 0xDFFF) return rx_fail(r, "surrogate escapes are not supported"), 0;
        *cp = v;
        return 1;
    }
    default:
        break;
    }
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
        char msg[64];
        snprintf(msg, sizeof msg, "escape \\%c is not supported", e);
        return rx_fail(r, msg), 0;
    }
    if ((unsigned char)e >= 0x80) {
        r->p--;
        r->p += utf8_dec((const unsigned char *)r->p, cp);
        return 1;
    }
    *cp = (uint32_t)(unsigned char)e; /* an escaped punctuation character is itself */
    return 1;
}

static int set_node(rx *r, rnode *n, const js_cset *s)
{
    js_cset_emit_json_char(r->c, &n->text, s);
    n->min = n->max = 1;
    n->single = true;
    if (!n->text.len) return rx_fail(r, "a character class that matches nothing");
    return GR_OK;
}

static int parse_class(rx *r, rnode *n)
{
    bool neg = false;
    if (*r->p == '^') {
        neg = true;
        r->p++;
    }
    if (*r->p == ']') return rx_fail(r, "a class starting with ']' differs between dialects");
    js_cset lo = {0}, hi = {0};
    while (*r->p && *r->p != ']') {
        uint32_t a;
        js_cset clo = {0}, chi = {0};
        int kind;
        if (*r->p == '\\') {
            r->p++;
            kind = parse_escape(r, true, &a, &clo, &chi);
        } else if (*r->p == '[' && (r->p[1] == ':' || r->p[1] == '=' || r->p[1] == '.')) {
            kind = 0;
            rx_fail(r, "POSIX classes are not supported");
        } else {
            r->p += utf8_dec((const unsigned char *)r->p, &a);
            kind = 1;
        }
        if (!kind) {
            js_cset_free(&lo), js_cset_free(&hi), js_cset_free(&clo), js_cset_free(&chi);
            return GR_ERR;
        }
        if (kind == 1 && r->p[0] == '-' && r->p[1] && r->p[1] != ']') {
            r->p++;
            uint32_t b;
            int k2;
            if (*r->p == '\\') {
                r->p++;
                k2 = parse_escape(r, true, &b, &clo, &chi);
            } else {
                r->p += utf8_dec((const unsigned char *)r->p, &b);
                k2 = 1;
            }
            if (k2 != 1 || b < a) {
                js_cset_free(&lo), js_cset_free(&hi), js_cset_free(&clo), js_cset_free(&chi);
                if (k2 == 0) return GR_ERR;
                return rx_fail(r, "invalid class range");
            }
            js_cset_add(&lo, a, b);
            js_cset_add(&hi, a, b);
        } else if (kind == 1) {
            js_cset_add(&lo, a, a);
            js_cset_add(&hi, a, a);
        } else {
            js_cset_add_set(&lo, &clo);
            js_cset_add_set(&hi, &chi);
        }
        js_cset_free(&clo);
        js_cset_free(&chi);
    }
    if (*r->p != ']') {
        js_cset_free(&lo), js_cset_free(&hi);
        return rx_fail(r, "unterminated class");
    }
    r->p++;
    int rc;
    if (neg) {
        js_cset_invert(&hi);
        rc = set_node(r, n, &hi);
    } else {
        rc = set_node(r, n, &lo);
    }
    js_cset_free(&lo);
    js_cset_free(&hi);
    return rc;
}

static int parse_alt(rx *r, rnode *out, bool top);

static int parse_atom(rx *r, rnode *n)
{
    char ch = *r->p;
    if (ch == '(') {
        r->p++;
        if (*r->p == '?') {
            if (r->p[1] == ':') {
                r->p += 2;
            } else if (r->p[1] == 'P' && r->p[2] == '<') {
                const char *e = strchr(r->p, '>');
                if (!e) return rx_fail(r, "unterminated group name");
                r->p = e + 1;
            } else if (r->p[1] == '<' && r->p[2] != '=' && r->p[2] != '!') {
                const char *e = strchr(r->p, '>');
                if (!e) return rx_fail(r, "unterminated group name");
                r->p = e + 1;
            } else {
                return rx_fail(r, "lookaround, flags and other (?...) groups are not supported");
            }
        }
        if (++r->depth > JS_MAX_DEPTH) return rx_fail(r, "groups nested too deeply");
        rnode inner = {0};
        if (parse_alt(r, &inner, false)) {
            free(inner.text.p);
            return GR_ERR;
        }
        r->depth--;
        if (*r->p != ')') {
            free(inner.text.p);
            return rx_fail(r, "unbalanced parenthesis");
        }
        r->p++;
        js_buf_printf(&n->text, "(%s)", inner.text.p ? inner.text.p : "\"\"");
        n->min = inner.min;
        n->max = inner.max;
        free(inner.text.p);
        return GR_OK;
    }
    if (ch == '[') {
        r->p++;
        return parse_class(r, n);
    }
    if (ch == '.') {
        r->p++;
        js_cset s = {0};
        js_cset_add(&s, '\n', '\n');
        js_cset_add(&s, '\r', '\r');
        js_cset_add(&s, 0x2028, 0x2029);
        js_cset_invert(&s);
        int rc = set_node(r, n, &s);
        js_cset_free(&s);
        return rc;
    }
    if (ch == '^' || ch == '$') return rx_fail(r, "anchors inside the pattern are not supported");
    if (ch == '*' || ch == '+' || ch == '?') return rx_fail(r, "quantifier without an operand");
    if (ch == '{' && r->p[1] >= '0' && r->p[1] <= '9')
        return rx_fail(r, "quantifier without an operand");
    uint32_t cp;
    js_cset lo = {0}, hi = {0};
    int kind = 1;
    if (ch == '\\') {
        r->p++;
        kind = parse_escape(r, false, &cp, &lo, &hi);
        if (!kind) {
            js_cset_free(&lo), js_cset_free(&hi);
            return GR_ERR;
        }
    } else {
        r->p += utf8_dec((const unsigned char *)r->p, &cp);
    }
    if (kind == 1) js_cset_add(&lo, cp, cp);
    int rc = set_node(r, n, &lo);
    js_cset_free(&lo);
    js_cset_free(&hi);
    return rc;
}

/* A {m}, {m,} or {m,n} quantifier at r->p; false (r->p unchanged) if the brace is a literal. */
static bool parse_braces(rx *r, long *m, long *n, bool *bad)
{
    const char *p = r->p + 1;
    *bad = false;
    if (*p < '0' || *p > '9') {
        if (*p == ',') *bad = true; /* {,n}: a quantifier in Python, a literal in ECMA */
        return false;
    }
    long a = 0, b;
    while (*p >= '0' && *p <= '9' && a < 100000)
        a = a * 10 + (*p++ - '0');
    if (*p == '}') {
        b = a;
    } else if (*p == ',') {
        p++;
        if (*p == '}') {
            b = -1;
        } else {
            b = 0;
            if (*p < '0' || *p > '9') return false;
            while (*p >= '0' && *p <= '9' && b < 100000)
                b = b * 10 + (*p++ - '0');
            if (*p != '}') return false;
        }
    } else {
        return false;
    }
    r->p = p + 1;
    *m = a;
    *n = b;
    return true;
}

static long mul_len(long a, long b)
{
    if (a < 0 || b < 0) return -1;
    if (a && b > 100000000 / a) return 100000000;
    return a * b;
}

static int parse_seq(rx *r, rnode *out)
{
    out->min = out->max = 0;
    int count = 0;
    while (*r->p && *r->p != '|' && *r->p != ')') {
        if (*r->p == '$' && r->depth == 0 && (r->p[1] == '\0' || r->p[1] == '|')) break;
        rnode a = {0};
        if (parse_atom(r, &a)) {
            free(a.text.p);
            return GR_ERR;
        }
        long m = 1, n = 1;
        bool quant = true, bad = false;
        if (*r->p == '*')
            m = 0, n = -1, r->p++;
        else if (*r->p == '+')
            m = 1, n = -1, r->p++;
        else if (*r->p == '?')
            m = 0, n = 1, r->p++;
        else if (*r->p == '{' && parse_braces(r, &m, &n, &bad)) {
        } else
            quant = false;
        if (bad) {
            free(a.text.p);
            return rx_fail(r, "{,n} differs between dialects");
        }
        if (quant) {
            if (*r->p == '?') r->p++; /* lazy: the same language */
            if (*r->p == '*' || *r->p == '+' || *r->p == '?' || *r->p == '{') {
                free(a.text.p);
                return rx_fail(r, "possessive or repeated quantifiers are not supported");
            }
            if ((n >= 0 && m > n) || m > JS_MAX_REPEAT || n > JS_MAX_REPEAT) {
                free(a.text.p);
                return rx_fail(r, "repetition count out of range");
            }
        }
        if (count++) js_buf_puts(&out->text, " ");
        if (!quant) {
            js_buf_puts(&out->text, a.text.p);
        } else {
            js_buf_printf(&out->text, "(%s)", a.text.p);
            if (m == 0 && n == -1)
                js_buf_puts(&out->text, "*");
            else if (m == 1 && n == -1)
                js_buf_puts(&out->text, "+");
            else if (m == 0 && n == 1)
                js_buf_puts(&out->text, "?");
            else if (n == -1)
                js_buf_printf(&out->text, "{%ld,}", m);
            else
                js_buf_printf(&out->text, "{%ld,%ld}", m, n);
        }
        long amin = mul_len(a.min, m),
             amax = (n < 0 && a.max != 0) ? -1 : mul_len(a.max, n < 0 ? 0 : n);
        if (r->want_len && r->depth == 0) {
            if (r->n_items == r->cap_items) {
                r->cap_items = r->cap_items ? r->cap_items * 2 : 8;
                ritem *q = realloc(r->items, r->cap_items * sizeof *q);
                if (!q) {
                    free(a.text.p);
                    return rx_fail(r, "out of memory");
                }
                r->items = q;
            }
            char *text = strdup(a.text.p ? a.text.p : "\"\"");
            if (!text) {
                free(a.text.p);
                return rx_fail(r, "out of memory");
            }
            r->items[r->n_items++] = (ritem){text, a.single, m, n, amin, amax};
        }
        out->min += amin;
        out->max = (out->max < 0 || amax < 0) ? -1 : out->max + amax;
        free(a.text.p);
    }
    if (!count) js_buf_puts(&out->text, "\"\"");
    return GR_OK;
}

/* Alternatives; at the top level each may start with ^ and end with $, else it is unanchored at
 * that end (JSON Schema's pattern finds a match anywhere in the string). */
static void free_items(rx *r)
{
    for (size_t i = 0; i < r->n_items; i++)
        free(r->items[i].atom);
    r->n_items = 0;
}

/* Rewrites one top-level alternative (its items) so that it matches only strings of lengths in
 * [lo, hi]: anchored at both ends (a subset of the search language), the one variable-length item
 * (a repeated character set, or an unanchored end) taking the bounds. 1: written to *text, 0: no
 * string fits, -1: error (more than one variable item). */
static int fit_lengths(rx *r, bool start, bool end, js_buf *text, long *amin, long *amax)
{
    ritem pad = {NULL, true, 0, -1, 0, -1};
    long fixed = 0;
    int var = -1, nvar = 0;
    for (size_t i = 0; i < r->n_items; i++) {
        if (r->items[i].min == r->items[i].max) {
            fixed += r->items[i].min;
        } else {
            var = (int)i;
            nvar++;
        }
    }
    bool use_pad = false, multi = nvar > 1;
    if (nvar == 0 && (!start || !end)) { /* an unanchored end takes up the slack */
        use_pad = true;
        nvar = 1;
    }
    if (nvar > 1) {
        /* several variable parts: keep them only if every combination already fits */
        long mn = 0, mx = 0;
        for (size_t i = 0; i < r->n_items; i++) {
            mn += r->items[i].min;
            mx = (mx < 0 || r->items[i].max < 0) ? -1 : mx + r->items[i].max;
        }
        if (mn < r->lo || (r->hi >= 0 && (mx < 0 || mx > r->hi)))
            return rx_fail(r, "minLength/maxLength with a pattern of several variable-length "
                              "parts is not supported"),
                   -1;
        var = -1;
        *amin = mn;
        *amax = mx;
    }
    ritem *v = use_pad ? &pad : var >= 0 ? &r->items[var] : NULL;
    long m = 0, n = 0;
    if (v) {
        long need_lo = r->lo - fixed > 0 ? r->lo - fixed : 0;
        long need_hi = r->hi >= 0 ? r->hi - fixed : -1;
        if (r->hi >= 0 && need_hi < 0) return 0;
        if (!v->single) {
            if (v->min < need_lo || (need_hi >= 0 && (v->max < 0 || v->max > need_hi)))
                return rx_fail(r, "minLength/maxLength with a variable-length group is not "
                                  "supported"),
                       -1;
            m = v->m, n = v->n;
            *amin = fixed + v->min;
            *amax = v->max < 0 ? -1 : fixed + v->max;
        } else {
            m = v->m > need_lo ? v->m : need_lo;
            n = v->n;
            if (need_hi >= 0 && (n < 0 || n > need_hi)) n = need_hi;
            if (n >= 0 && m > n) return 0;
            *amin = fixed + m;
            *amax = n < 0 ? -1 : fixed + n;
        }
    } else if (!multi) {
        if (fixed < r->lo || (r->hi >= 0 && fixed > r->hi)) return 0;
        *amin = *amax = fixed;
    }
    js_buf t = {0};
    const char *any = js_builtin(r->c, JS_B_CHAR);
    /* the pad stands at the unanchored end: after the items unless only the start is free */
    bool pad_first = use_pad && end;
    for (size_t k = 0; k <= r->n_items; k++) {
        const ritem *it;
        if (pad_first)
            it = k == 0 ? &pad : &r->items[k - 1];
        else
            it = k < r->n_items ? &r->items[k] : use_pad ? &pad : NULL;
        if (!it) break;
        const char *atom = it == &pad ? any : it->atom;
        long im = it == v ? m : it->m, in = it == v ? n : it->n;
        if (t.len) js_buf_puts(&t, " ");
        if (im == 1 && in == 1)
            js_buf_puts(&t, atom);
        else if (in < 0)
            js_buf_printf(&t, "(%s){%ld,}", atom, im);
        else
            js_buf_printf(&t, "(%s){%ld,%ld}", atom, im, in);
    }
    if (!t.len) js_buf_puts(&t, "\"\"");
    free(text->p);
    *text = t;
    return 1;
}

static int parse_alt(rx *r, rnode *out, bool top)
{
    int count = 0;
    out->min = -1;
    out->max = 0;
    for (;;) {
        bool start = false, end = false;
        if (top && *r->p == '^') {
            start = true;
            r->p++;
        }
        rnode s = {0};
        if (parse_seq(r, &s)) {
            free(s.text.p);
            return GR_ERR;
        }
        if (top && *r->p == '$') {
            end = true;
            r->p++;
        }
        if (top && *r->p && *r->p != '|') {
            free(s.text.p);
            return rx_fail(r, "unexpected character (unbalanced parenthesis or anchor)");
        }
        if (top && r->want_len) {
            long amin, amax;
            int fit = fit_lengths(r, start, end, &s.text, &amin, &amax);
            if (fit < 0) {
                free(s.text.p);
                return GR_ERR;
            }
            free_items(r);
            if (fit == 0) { /* no string of this alternative has an allowed length */
                free(s.text.p);
                if (*r->p != '|') break;
                r->p++;
                continue;
            }
            if (count++) js_buf_puts(&out->text, " | ");
            js_buf_puts(&out->text, s.text.p);
            if (out->min < 0 || amin < out->min) out->min = amin;
            out->max = (out->max < 0 || amax < 0) ? -1 : (amax > out->max ? amax : out->max);
            free(s.text.p);
            if (*r->p != '|') break;
            r->p++;
            continue;
        }
        if (count++) js_buf_puts(&out->text, " | ");
        const char *any = top ? js_builtin(r->c, JS_B_CHAR) : NULL;
        if (top && !start) js_buf_printf(&out->text, "%s* ", any);
        js_buf_puts(&out->text, s.text.p);
        if (top && !end) js_buf_printf(&out->text, " %s*", js_builtin(r->c, JS_B_CHAR));
        long smax = (top && (!start || !end)) ? -1 : s.max;
        if (out->min < 0 || s.min < out->min) out->min = s.min;
        out->max = (out->max < 0 || smax < 0) ? -1 : (smax > out->max ? smax : out->max);
        free(s.text.p);
        if (*r->p != '|') break;
        r->p++;
    }
    if (out->text.oom) return rx_fail(r, "out of memory");
    return GR_OK;
}

char *js_pattern_expr(js_ctx *c, const char *regex, long lo, long hi, long *min_len, long *max_len)
{
    rx r = {.c = c, .src = regex, .p = regex, .want_len = lo > 0 || hi >= 0, .lo = lo, .hi = hi};
    rnode top = {0};
    /* '$' is only an anchor at the end of a top-level alternative; parse_seq stops at it there. */
    int rc = parse_alt(&r, &top, true);
    free_items(&r);
    free(r.items);
    if (rc || *r.p) {
        if (!c->failed) rx_fail(&r, "unbalanced parenthesis");
        free(top.text.p);
        return NULL;
    }
    if (r.want_len && top.min < 0) {
        free(top.text.p);
        js_fail(c,
                "json schema: no string of pattern \"%.120s\" has a length within "
                "minLength/maxLength: the schema matches nothing",
                regex);
        return NULL;
    }
    *min_len = top.min < 0 ? 0 : top.min;
    *max_len = top.max;
    js_buf b = {0};
    js_buf_printf(&b, "(%s)", top.text.p ? top.text.p : "\"\"");
    free(top.text.p);
    return b.p;
}
