/* The regular-expression front end: ECMAScript-style patterns (JSON Schema `pattern`, vLLM's
 * guided_regex) translated to GBNF text, whole-string match by default. Features that a
 * context-free grammar over the matched text cannot express (backreferences, lookaround, word
 * boundaries, anchors inside the pattern) are refused with the offset of the construct. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/gr_internal.h"

typedef struct rx {
    const char *src, *p, *end;
    unsigned flags;
    char *out;
    size_t n, cap;
    char *err;
    size_t errlen;
    bool failed, saw_end;
    int depth;
} rx;

static bool rx_fail(rx *r, const char *at, const char *msg)
{
    if (!r->failed) gr_errf(r->err, r->errlen, "regex: %s at offset %d", msg, (int)(at - r->src));
    r->failed = true;
    return false;
}

static bool put(rx *r, const char *s, size_t len)
{
    if (r->n + len + 1 > r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 256;
        while (nc < r->n + len + 1)
            nc *= 2;
        if (nc > (size_t)GR_MAX_SOURCE * 2) return rx_fail(r, r->p, "pattern too large");
        char *q = realloc(r->out, nc);
        if (!q) return rx_fail(r, r->p, "out of memory");
        r->out = q;
        r->cap = nc;
    }
    memcpy(r->out + r->n, s, len);
    r->n += len;
    r->out[r->n] = 0;
    return true;
}

static bool puts_(rx *r, const char *s)
{
    return put(r, s, strlen(s));
}

static bool put_cp(rx *r, uint32_t cp)
{
    char buf[16];
    if ((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
        snprintf(buf, sizeof buf, "%c", (char)cp);
    else if (cp < 0x100)
        snprintf(buf, sizeof buf, "\\x%02X", cp);
    else if (cp < 0x10000)
        snprintf(buf, sizeof buf, "\\u%04X", cp);
    else
        snprintf(buf, sizeof buf, "\\U%08X", cp);
    return puts_(r, buf);
}

/* Emits a GBNF item matching one character of the set (in JSON-string mode: its canonical
 * json.dumps escape when it has one). */
static bool emit_set(rx *r, gr_cpset *set)
{
    if (!(r->flags & GR_REGEX_JSON_STRING)) {
        bool ok = puts_(r, "[");
        for (int32_t i = 0; ok && i < set->n; i++) {
            ok = put_cp(r, set->r[i][0]);
            if (ok && set->r[i][1] != set->r[i][0]) ok = puts_(r, "-") && put_cp(r, set->r[i][1]);
        }
        return ok && puts_(r, "]");
    }
    /* the raw part: everything but '"', '\\' and controls; then one literal per escaped member */
    gr_cpset raw = {0};
    bool ok = true;
    char esc[40][8];
    int n_esc = 0;
    for (int32_t i = 0; ok && i < set->n; i++) {
        uint32_t lo = set->r[i][0], hi = set->r[i][1];
        for (uint32_t c = lo; c <= hi && c < 0x20; c++) {
            static const char *const shorts[0x20] = {
                [8] = "\\\\b", [9] = "\\\\t", [10] = "\\\\n", [12] = "\\\\f", [13] = "\\\\r"};
            if (shorts[c])
                snprintf(esc[n_esc++], sizeof esc[0], "%s", shorts[c]);
            else
                snprintf(esc[n_esc++], sizeof esc[0], "\\\\u%04x", c);
        }
        if (hi < 0x20) continue;
        if (lo < 0x20) lo = 0x20;
        if (lo <= '"' && '"' <= hi) snprintf(esc[n_esc++], sizeof esc[0], "\\\\\\\"");
        if (lo <= '\\' && '\\' <= hi) snprintf(esc[n_esc++], sizeof esc[0], "\\\\\\\\");
        /* lo..hi minus '"' and '\\' */
        uint32_t a = lo;
        static const uint32_t holes[] = {'"', '\\'};
        for (int h = 0; h < 2 && ok; h++) {
            if (holes[h] < a || holes[h] > hi) continue;
            if (holes[h] > a) ok = gr_cpset_add(&raw, a, holes[h] - 1);
            a = holes[h] + 1;
        }
        if (ok && a <= hi) ok = gr_cpset_add(&raw, a, hi);
    }
    if (!ok) return gr_cpset_free(&raw), rx_fail(r, r->p, "out of memory");
    ok = puts_(r, "(");
    bool first = true;
    if (raw.n > 0 || n_esc == 0) {
        unsigned saved = r->flags;
        r->flags &= ~(unsigned)GR_REGEX_JSON_STRING;
        ok = ok && emit_set(r, &raw);
        r->flags = saved;
        first = false;
    }
    for (int i = 0; ok && i < n_esc; i++) {
        ok = puts_(r, first ? "\"" : " | \"") && puts_(r, esc[i]) && puts_(r, "\"");
        first = false;
    }
    gr_cpset_free(&raw);
    return ok && puts_(r, ")");
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool add_class_escape(gr_cpset *s, char e)
{
    bool ok = true;
    char lower = (char)(e | 0x20);
    gr_cpset t = {0};
    if (lower == 'd') {
        ok = gr_cpset_add(&t, '0', '9');
    } else if (lower == 'w') {
        ok = gr_cpset_add(&t, '0', '9') && gr_cpset_add(&t, 'A', 'Z') &&
             gr_cpset_add(&t, '_', '_') && gr_cpset_add(&t, 'a', 'z');
    } else { /* \s: ECMAScript WhiteSpace and LineTerminator */
        static const uint32_t ws[][2] = {{9, 13},          {32, 32},         {0xA0, 0xA0},
                                         {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2028, 0x2029},
                                         {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
                                         {0xFEFF, 0xFEFF}};
        for (size_t i = 0; ok && i < sizeof ws / sizeof *ws; i++)
            ok = gr_cpset_add(&t, ws[i][0], ws[i][1]);
    }
    if (ok && e != lower) gr_cpset_negate(&t);
    for (int32_t i = 0; ok && i < t.n; i++)
        ok = gr_cpset_add(s, t.r[i][0], t.r[i][1]);
    gr_cpset_free(&t);
    return ok;
}

/* One escaped character after '\\' (not a class escape); -1 after an error. in_class: \b is
 * backspace there. */
static int32_t parse_escape(rx *r, bool in_class)
{
    const char *at = r->p - 1;
    if (r->p >= r->end) return rx_fail(r, at, "pattern ends with a lone backslash"), -1;
    char e = *r->p++;
    switch (e) {
    case 't':
        return '\t';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 'v':
        return '\v';
    case 'f':
        return '\f';
    case '0':
        if (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            return rx_fail(r, at, "octal escapes are not supported"), -1;
        return 0;
    case 'b':
        if (in_class) return '\b';
        return rx_fail(r, at, "word boundary \\b is not supported"), -1;
    case 'B':
        return rx_fail(r, at, "word boundary \\B is not supported"), -1;
    case 'x':
    case 'u': {
        uint32_t v = 0;
        if (e == 'u' && r->p < r->end && *r->p == '{') {
            r->p++;
            int nd = 0;
            while (r->p < r->end && hexv(*r->p) >= 0 && nd < 8) {
                v = v * 16 + (uint32_t)hexv(*r->p++);
                nd++;
            }
            if (nd == 0 || r->p >= r->end || *r->p != '}' || v > 0x10FFFF)
                return rx_fail(r, at, "bad \\u{...} escape"), -1;
            r->p++;
        } else {
            int nd = e == 'x' ? 2 : 4;
            for (int i = 0; i < nd; i++) {
                if (r->p >= r->end || hexv(*r->p) < 0)
                    return rx_fail(r, at,
                                   e == 'x' ? "\\x needs two hexadecimal digits"
                                            : "\\u needs four hexadecimal digits"),
                           -1;
                v = v * 16 + (uint32_t)hexv(*r->p++);
            }
            if (v >= 0xD800 && v <= 0xDBFF && r->end - r->p >= 6 && r->p[0] == '\\' &&
                r->p[1] == 'u') {
                uint32_t lo = 0;
                bool hex = true;
                for (int i = 2; i < 6; i++)
                    hex = hex && hexv(r->p[i]) >= 0,
                    lo = lo * 16 + (uint32_t)(hex ? hexv(r->p[i]) : 0);
                if (hex && lo >= 0xDC00 && lo <= 0xDFFF) {
                    r->p += 6;
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                }
            }
        }
        if (v >= 0xD800 && v <= 0xDFFF) return rx_fail(r, at, "lone surrogate escape"), -1;
        return (int32_t)v;
    }
    case 'k':
        return rx_fail(r, at, "backreferences are not supported"), -1;
    case 'p':
    case 'P':
        return rx_fail(r, at, "Unicode property escapes \\p{...} are not supported"), -1;
    case 'c':
        return rx_fail(r, at, "control escapes \\cX are not supported"), -1;
    default:
        if (e >= '1' && e <= '9') return rx_fail(r, at, "backreferences are not supported"), -1;
        if ((e >= 0x21 && e <= 0x2F) || (e >= 0x3A && e <= 0x40) || (e >= 0x5B && e <= 0x60) ||
            (e >= 0x7B && e <= 0x7E) || e == ' ')
            return e;
    }
    return rx_fail(r, at, "unknown escape"), -1;
}

/* One literal source character (UTF-8 decoded); -1 on invalid UTF-8. */
static int32_t next_char(rx *r)
{
    const uint8_t *q = (const uint8_t *)r->p;
    size_t left = (size_t)(r->end - r->p);
    uint32_t c = q[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || (size_t)n > left) return rx_fail(r, r->p, "invalid UTF-8"), -1;
    if (n > 1) {
        c &= 0x3Fu >> (n - 1);
        for (int i = 1; i < n; i++) {
            if ((q[i] & 0xC0) != 0x80) return rx_fail(r, r->p, "invalid UTF-8"), -1;
            c = (c << 6) | (q[i] & 0x3F);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return rx_fail(r, r->p, "invalid UTF-8"), -1;
    }
    r->p += n;
    return (int32_t)c;
}

static bool parse_class(rx *r, gr_cpset *set)
{
    const char *start = r->p++;
    bool negate = r->p < r->end && *r->p == '^';
    if (negate) r->p++;
    bool ok = true;
    while (ok && r->p < r->end && *r->p != ']') {
        int32_t lo;
        if (*r->p == '\\' && r->p + 1 < r->end && strchr("dDwWsS", r->p[1])) {
            ok = add_class_escape(set, r->p[1]);
            r->p += 2;
            continue;
        }
        if (*r->p == '\\') {
            r->p++;
            lo = parse_escape(r, true);
        } else {
            lo = next_char(r);
        }
        if (lo < 0) return false;
        int32_t hi = lo;
        if (r->end - r->p >= 2 && r->p[0] == '-' && r->p[1] != ']') {
            const char *dash = r->p++;
            if (*r->p == '\\' && r->p + 1 < r->end && strchr("dDwWsS", r->p[1])) {
                /* [a-\d]: the dash is literal (Annex B) */
                ok = gr_cpset_add(set, (uint32_t)lo, (uint32_t)lo) && gr_cpset_add(set, '-', '-');
                continue;
            }
            if (*r->p == '\\') {
                r->p++;
                hi = parse_escape(r, true);
            } else {
                hi = next_char(r);
            }
            if (hi < 0) return false;
            if (hi < lo) return rx_fail(r, dash, "character class range out of order");
        }
        ok = gr_cpset_add(set, (uint32_t)lo, (uint32_t)hi);
    }
    if (!ok) return rx_fail(r, start, "out of memory");
    if (r->p >= r->end) return rx_fail(r, start, "unterminated character class");
    r->p++;
    if (negate) gr_cpset_negate(set);
    return true;
}

static bool parse_alt(rx *r, bool top, bool start, bool end);

/* Parses {m}, {m,}, {m,n} at r->p; false (p unchanged) when it is not a quantifier. */
static bool brace_quant(rx *r, int64_t *min, int64_t *max)
{
    const char *q = r->p + 1;
    int64_t a = 0, b;
    int nd = 0;
    while (q < r->end && *q >= '0' && *q <= '9' && nd < 12)
        a = a * 10 + (*q++ - '0'), nd++;
    if (nd == 0) return false;
    b = a;
    if (q < r->end && *q == ',') {
        q++;
        b = -1;
        int nd2 = 0;
        int64_t c = 0;
        while (q < r->end && *q >= '0' && *q <= '9' && nd2 < 12)
            c = c * 10 + (*q++ - '0'), nd2++;
        if (nd2) b = c;
    }
    if (q >= r->end || *q != '}') return false;
    r->p = q + 1;
    *min = a;
    *max = b;
    return true;
}

static bool parse_seq(rx *r, bool top)
{
    bool any = false;
    const char *seq_start = r->p;
    while (r->p < r->end && *r->p != '|' && *r->p != ')') {
        const char *at = r->p;
        char c = *r->p;
        if (c == '^') {
            if (!(top && at == seq_start))
                return rx_fail(r, at, "the anchor ^ is only supported at the start of the pattern");
            r->p++;
            continue;
        }
        if (c == '$') {
            r->p++;
            if (!top || (r->p < r->end && *r->p != '|'))
                return rx_fail(r, at, "the anchor $ is only supported at the end of the pattern");
            r->saw_end = true;
            continue;
        }
        if (c == '*' || c == '+' || c == '?') return rx_fail(r, at, "nothing to repeat");
        if (any && !puts_(r, " ")) return false;
        any = true;
        if (c == '(') {
            if (++r->depth > GR_MAX_NEST) return rx_fail(r, at, "groups nested too deeply");
            r->p++;
            if (r->p < r->end && *r->p == '?') {
                if (r->end - r->p >= 2 && r->p[1] == ':') {
                    r->p += 2;
                } else if (r->end - r->p >= 3 && r->p[1] == '<' && r->p[2] != '=' &&
                           r->p[2] != '!') {
                    const char *gt = memchr(r->p, '>', (size_t)(r->end - r->p));
                    if (!gt) return rx_fail(r, at, "unterminated group name");
                    r->p = gt + 1;
                } else if (r->end - r->p >= 2 &&
                           (r->p[1] == '=' || r->p[1] == '!' || r->p[1] == '<')) {
                    return rx_fail(r, at, "lookahead and lookbehind are not supported");
                } else {
                    return rx_fail(r, at, "group modifiers such as (?i) are not supported");
                }
            }
            if (!puts_(r, "(") || !parse_alt(r, false, false, false)) return false;
            if (r->p >= r->end || *r->p != ')') return rx_fail(r, at, "unclosed group '('");
            r->p++;
            r->depth--;
            if (!puts_(r, ")")) return false;
        } else {
            gr_cpset set = {0};
            bool ok = true;
            if (c == '[') {
                ok = parse_class(r, &set);
            } else if (c == '.') {
                r->p++;
                ok = gr_cpset_add(&set, '\n', '\n') && gr_cpset_add(&set, '\r', '\r') &&
                     gr_cpset_add(&set, 0x2028, 0x2029);
                gr_cpset_negate(&set);
            } else if (c == '\\' && r->p + 1 < r->end && strchr("dDwWsS", r->p[1])) {
                ok = add_class_escape(&set, r->p[1]);
                r->p += 2;
            } else {
                int32_t cp;
                if (c == '\\') {
                    r->p++;
                    cp = parse_escape(r, false);
                } else {
                    cp = next_char(r);
                }
                ok = cp >= 0 && gr_cpset_add(&set, (uint32_t)cp, (uint32_t)cp);
            }
            ok = ok && emit_set(r, &set);
            gr_cpset_free(&set);
            if (!ok) return rx_fail(r, at, "out of memory");
        }
        /* quantifiers */
        bool quantified = false;
        while (r->p < r->end) {
            const char *qa = r->p;
            int64_t min, max;
            char q = *r->p;
            if (q == '*' || q == '+' || q == '?') {
                r->p++;
                char s[2] = {q, 0};
                if (!puts_(r, s)) return false;
            } else if (q == '{' && brace_quant(r, &min, &max)) {
                if (min > GR_MAX_REPEAT || max > GR_MAX_REPEAT)
                    return rx_fail(r, qa, "repetition count exceeds the limit of 100000");
                if (max >= 0 && max < min) return rx_fail(r, qa, "numbers out of order in {m,n}");
                char s[64];
                if (max < 0)
                    snprintf(s, sizeof s, "{%lld,}", (long long)min);
                else
                    snprintf(s, sizeof s, "{%lld,%lld}", (long long)min, (long long)max);
                if (!puts_(r, s)) return false;
            } else {
                break;
            }
            if (quantified) return rx_fail(r, qa, "nothing to repeat");
            quantified = true;
            if (r->p < r->end && *r->p == '?') r->p++; /* lazy: the same language */
        }
    }
    if (!any) return puts_(r, "\"\"");
    return true;
}

/* Any text (search mode's free prefix and suffix), escaped like the rest in JSON-string mode. */
static bool any_text(rx *r)
{
    gr_cpset all = {0};
    gr_cpset_negate(&all);
    bool ok = all.n > 0 && emit_set(r, &all) && puts_(r, "*");
    gr_cpset_free(&all);
    return ok || rx_fail(r, r->p, "out of memory");
}

/* Just past the ')' matching the '(' at q, or NULL. */
static const char *group_end(const rx *r, const char *q)
{
    int depth = 0;
    while (q < r->end) {
        char c = *q;
        if (c == '\\') {
            q += 2;
            continue;
        }
        if (c == '[') {
            q++;
            if (q < r->end && *q == '^') q++;
            while (q < r->end && *q != ']')
                q += *q == '\\' ? 2 : 1;
            q++;
            continue;
        }
        if (c == '(') depth++;
        if (c == ')' && --depth == 0) return q + 1;
        q++;
    }
    return NULL;
}

/* A top-level alternative that is one group, ^( ... )$ with either anchor optional, is the same
 * language as the group's alternatives with the anchors distributed over them: (^a$)|(^b$),
 * ^(a|$) are common in JSON Schema patterns. Parses it so (true), or leaves r untouched (false). */
static bool whole_group(rx *r, bool start, bool end, bool *ok)
{
    const char *q = r->p;
    bool a_start = q < r->end && *q == '^';
    if (a_start) q++;
    if (q >= r->end || *q != '(') return false;
    const char *inner = q + 1;
    if (inner < r->end && *inner == '?') {
        if (r->end - inner >= 2 && inner[1] == ':') {
            inner += 2;
        } else if (r->end - inner >= 3 && inner[1] == '<' && inner[2] != '=' && inner[2] != '!') {
            const char *gt = memchr(inner, '>', (size_t)(r->end - inner));
            if (!gt) return false;
            inner = gt + 1;
        } else {
            return false;
        }
    }
    const char *e = group_end(r, q);
    if (!e || e > r->end) return false;
    const char *t = e;
    bool a_end = t < r->end && *t == '$';
    if (a_end) t++;
    if (t != r->end && *t != '|') return false;
    if (++r->depth > GR_MAX_NEST) {
        *ok = rx_fail(r, q, "groups nested too deeply");
        return true;
    }
    const char *saved_end = r->end;
    r->end = e - 1;
    r->p = inner;
    *ok = puts_(r, "(") && parse_alt(r, true, start || a_start, end || a_end) && puts_(r, ")");
    if (*ok && r->p != r->end) *ok = rx_fail(r, r->p, "unmatched ')'");
    r->end = saved_end;
    r->p = t;
    r->depth--;
    return true;
}

/* Alternatives; top: at the pattern's top level (anchors allowed at the ends of each), start/end:
 * already anchored there by an enclosing whole-group alternative. */
static bool parse_alt(rx *r, bool top, bool start, bool end)
{
    for (;;) {
        bool ok = true;
        if (top && whole_group(r, start, end, &ok)) {
            if (!ok) return false;
        } else {
            bool search = top && (r->flags & GR_REGEX_SEARCH);
            bool anchored_start = start || (r->p < r->end && *r->p == '^');
            if (search && !anchored_start && !(any_text(r) && puts_(r, " "))) return false;
            r->saw_end = false;
            if (!puts_(r, "(") || !parse_seq(r, top) || !puts_(r, ")")) return false;
            if (search && !r->saw_end && !end && !(puts_(r, " ") && any_text(r))) return false;
        }
        if (r->p < r->end && *r->p == '|') {
            r->p++;
            if (!puts_(r, " | ")) return false;
            continue;
        }
        return true;
    }
}

int gr_regex_to_gbnf_ex(const char *regex, const char *prefix, unsigned flags, char **gbnf,
                        char *err, size_t errlen)
{
    *gbnf = NULL;
    if (!prefix) prefix = "";
    for (const char *c = prefix; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-')) {
            gr_errf(err, errlen,
                    "regex: rule prefix \"%s\" may only hold letters, digits, '-' and '_'", prefix);
            return GR_ERR;
        }
    size_t len = strlen(regex);
    rx r = {
        .src = regex, .p = regex, .end = regex + len, .flags = flags, .err = err, .errlen = errlen};
    if (len > GR_MAX_SOURCE) {
        gr_errf(err, errlen, "regex: pattern of %zu bytes exceeds the limit of %u", len,
                GR_MAX_SOURCE);
        return GR_ERR;
    }
    bool ok = puts_(&r, prefix) && puts_(&r, "root ::= ") && parse_alt(&r, true, false, false);
    if (ok && r.p < r.end) ok = rx_fail(&r, r.p, "unmatched ')'");
    ok = ok && puts_(&r, "\n");
    if (!ok) {
        free(r.out);
        return GR_ERR;
    }
    *gbnf = r.out;
    return GR_OK;
}

int gr_regex_to_gbnf(const char *regex, const char *prefix, char **gbnf, char *err, size_t errlen)
{
    return gr_regex_to_gbnf_ex(regex, prefix, 0, gbnf, err, errlen);
}

int gr_compile_regex(gr_grammar **out, const gr_vocab *v, const char *regex, char *err,
                     size_t errlen)
{
    *out = NULL;
    char *gbnf = NULL;
    if (gr_regex_to_gbnf(regex, "", &gbnf, err, errlen) != GR_OK) return GR_ERR;
    char inner[512] = "";
    int rc = gr_compile_gbnf(out, v, gbnf, strlen(gbnf), inner, sizeof inner);
    if (rc != GR_OK) gr_errf(err, errlen, "regex: %s", inner);
    free(gbnf);
    return rc;
}
