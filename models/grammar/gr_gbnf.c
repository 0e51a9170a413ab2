/* The GBNF front end (llama.cpp's dialect, docs/structured-outputs.md): parses rules into the IR
 * builder, with every error naming a line and column. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/gr_internal.h"

typedef struct gbnf_parser {
    const char *src, *p, *end;
    gr_builder *b;
    int depth;
} gbnf_parser;

static void loc(const gbnf_parser *ps, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *q = ps->src; q < at && q < ps->end; q++) {
        if (*q == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static bool fail(gbnf_parser *ps, const char *at, const char *fmt, const char *arg)
{
    if (ps->b->failed) return false;
    int line, col;
    loc(ps, at, &line, &col);
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    gr_errf(ps->b->err, ps->b->errlen, "line %d, column %d: %s", line, col, msg);
    ps->b->failed = true;
    return false;
}

/* Forwards a builder failure (limits, memory) with the place where it happened. */
static bool fail_builder(gbnf_parser *ps, const char *at)
{
    int line, col;
    loc(ps, at, &line, &col);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", ps->b->err ? ps->b->err : "");
    gr_errf(ps->b->err, ps->b->errlen, "line %d, column %d: %s", line, col, msg);
    return false;
}

static void skip_space(gbnf_parser *ps)
{
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ps->p++;
        } else if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n')
                ps->p++;
        } else {
            break;
        }
    }
}

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static const char *word_end(const gbnf_parser *ps, const char *q)
{
    while (q < ps->end && is_word(*q))
        q++;
    return q;
}

/* Whether q starts `name ::=` (the next rule). */
static bool at_rule_start(const gbnf_parser *ps, const char *q)
{
    const char *e = word_end(ps, q);
    if (e == q) return false;
    while (e < ps->end && (*e == ' ' || *e == '\t'))
        e++;
    return ps->end - e >= 3 && memcmp(e, "::=", 3) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes one UTF-8 character of the source; -1 when invalid. */
static int32_t utf8_next(gbnf_parser *ps)
{
    const uint8_t *q = (const uint8_t *)ps->p;
    size_t left = (size_t)(ps->end - ps->p);
    uint32_t c = q[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || (size_t)n > left) return -1;
    if (n == 1) {
        ps->p++;
        return (int32_t)c;
    }
    c &= 0x3F >> (n - 1);
    for (int i = 1; i < n; i++) {
        if ((q[i] & 0xC0) != 0x80) return -1;
        c = (c << 6) | (q[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return -1;
    ps->p += n;
    return (int32_t)c;
}

/* One character of a literal or class, escapes decoded; -1 after reporting an error. */
static int32_t parse_char(gbnf_parser *ps)
{
    const char *at = ps->p;
    if (*ps->p != '\\') {
        int32_t c = utf8_next(ps);
        if (c < 0) fail(ps, at, "invalid UTF-8 in the grammar text", NULL);
        return c;
    }
    ps->p++;
    if (ps->p >= ps->end) return fail(ps, at, "unfinished escape at the end of the text", NULL), -1;
    char e = *ps->p++;
    int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits) {
        uint32_t v = 0;
        for (int i = 0; i < digits; i++) {
            int h = ps->p < ps->end ? hexval(*ps->p) : -1;
            if (h < 0)
                return fail(ps, at, "escape \\%s needs hexadecimal digits",
                            e == 'x'   ? "x"
                            : e == 'u' ? "u"
                                       : "U"),
                       -1;
            v = v * 16 + (uint32_t)h;
            ps->p++;
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
            return fail(ps, at,
                        "escape is not a Unicode scalar value (surrogate or above U+10FFFF)", NULL),
                   -1;
        return (int32_t)v;
    }
    switch (e) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    case '0':
        return 0;
    default:
        if ((e >= 0x21 && e <= 0x2F) || (e >= 0x3A && e <= 0x40) || (e >= 0x5B && e <= 0x60) ||
            (e >= 0x7B && e <= 0x7E))
            return e;
    }
    char s[2] = {e, 0};
    return fail(ps, at, "unknown escape \\%s", s), -1;
}

static bool parse_alternates(gbnf_parser *ps, int32_t rule);

static bool parse_literal(gbnf_parser *ps, gr_seq *s)
{
    const char *start = ps->p++;
    while (ps->p < ps->end && *ps->p != '"') {
        if (*ps->p == '\n') return fail(ps, start, "unterminated string literal", NULL);
        int32_t c = parse_char(ps);
        if (c < 0) return false;
        if (!gr_seq_push_cp(ps->b, s, (uint32_t)c)) return fail_builder(ps, start);
    }
    if (ps->p >= ps->end) return fail(ps, start, "unterminated string literal", NULL);
    ps->p++;
    return true;
}

static bool parse_class(gbnf_parser *ps, gr_seq *s)
{
    const char *start = ps->p++;
    bool negate = ps->p < ps->end && *ps->p == '^';
    if (negate) ps->p++;
    gr_cpset set = {0};
    while (ps->p < ps->end && *ps->p != ']') {
        if (*ps->p == '\n') {
            gr_cpset_free(&set);
            return fail(ps, start, "unterminated character class", NULL);
        }
        int32_t lo = parse_char(ps), hi = lo;
        if (lo < 0) return gr_cpset_free(&set), false;
        if (ps->end - ps->p >= 2 && ps->p[0] == '-' && ps->p[1] != ']') {
            const char *at = ps->p++;
            hi = parse_char(ps);
            if (hi < 0) return gr_cpset_free(&set), false;
            if (hi < lo) {
                gr_cpset_free(&set);
                return fail(ps, at, "character range is out of order", NULL);
            }
        }
        if (!gr_cpset_add(&set, (uint32_t)lo, (uint32_t)hi)) {
            gr_cpset_free(&set);
            return fail(ps, start, "out of memory", NULL);
        }
    }
    if (ps->p >= ps->end) {
        gr_cpset_free(&set);
        return fail(ps, start, "unterminated character class", NULL);
    }
    ps->p++;
    if (negate) gr_cpset_negate(&set);
    bool ok = gr_seq_push_cpset(ps->b, s, &set);
    gr_cpset_free(&set);
    return ok || fail_builder(ps, start);
}

static bool parse_int(gbnf_parser *ps, int64_t *v)
{
    const char *at = ps->p;
    *v = 0;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
        return fail(ps, at, "expected a number", NULL);
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        *v = *v * 10 + (*ps->p++ - '0');
        if (*v > GR_MAX_REPEAT)
            return fail(ps, at, "repetition count exceeds the limit of 100000", NULL);
    }
    return true;
}

static bool parse_quantifier(gbnf_parser *ps, gr_seq *s, int32_t from)
{
    const char *at = ps->p;
    char c = *ps->p;
    int64_t min, max;
    if (c == '*' || c == '+' || c == '?') {
        ps->p++;
        min = c == '+';
        max = c == '?' ? 1 : -1;
    } else {
        ps->p++;
        skip_space(ps);
        if (!parse_int(ps, &min)) return false;
        skip_space(ps);
        max = min;
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_space(ps);
            max = -1;
            if (ps->p < ps->end && *ps->p != '}' && !parse_int(ps, &max)) return false;
            skip_space(ps);
        }
        if (ps->p >= ps->end || *ps->p != '}')
            return fail(ps, at, "expected '}' to close the repetition", NULL);
        ps->p++;
        if (max >= 0 && max < min) return fail(ps, at, "repetition {m,n} has n < m", NULL);
    }
    if (from == s->n) return fail(ps, at, "a repetition needs an item before it", NULL);
    return gr_seq_repeat(ps->b, s, from, min, max) || fail_builder(ps, at);
}

static bool parse_sequence(gbnf_parser *ps, gr_seq *s)
{
    for (;;) {
        skip_space(ps);
        if (ps->p >= ps->end) return true;
        char c = *ps->p;
        const char *at = ps->p;
        int32_t from = s->n;
        if (c == '|' || c == ')') return true;
        if (c == '"') {
            if (!parse_literal(ps, s)) return false;
        } else if (c == '[') {
            if (!parse_class(ps, s)) return false;
        } else if (c == '.') {
            ps->p++;
            gr_cpset any = {0};
            gr_cpset_negate(&any);
            bool ok = gr_seq_push_cpset(ps->b, s, &any);
            gr_cpset_free(&any);
            if (!ok) return fail_builder(ps, at);
        } else if (c == '(') {
            if (++ps->depth > GR_MAX_NEST)
                return fail(ps, at, "groups nested too deeply (limit 256)", NULL);
            ps->p++;
            int32_t g = gr_rule_new(ps->b);
            if (g < 0) return fail_builder(ps, at);
            ps->b->rules[g].defined = true;
            if (!parse_alternates(ps, g)) return false;
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ')') return fail(ps, at, "unclosed '('", NULL);
            ps->p++;
            ps->depth--;
            if (!gr_seq_push(ps->b, s, GR_REF, g)) return fail_builder(ps, at);
        } else if (is_word(c)) {
            if (at_rule_start(ps, ps->p)) return true;
            const char *e = word_end(ps, ps->p);
            int line, col;
            loc(ps, at, &line, &col);
            int32_t r = gr_rule_named(ps->b, at, (size_t)(e - at), line, col);
            if (r < 0) return fail_builder(ps, at);
            ps->p = e;
            if (!gr_seq_push(ps->b, s, GR_REF, r)) return fail_builder(ps, at);
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            return fail(ps, at, "a repetition needs an item before it", NULL);
        } else {
            char ch[2] = {c, 0};
            return fail(ps, at, "unexpected character '%s'",
                        (unsigned char)c >= 0x20 && (unsigned char)c < 0x7F ? ch : "?");
        }
        /* one postfix operator binds to the item just parsed (as in llama.cpp: x** is an error;
         * write (x*)* to mean it) */
        const char *q = ps->p;
        while (q < ps->end && (*q == ' ' || *q == '\t'))
            q++;
        if (q < ps->end && (*q == '*' || *q == '+' || *q == '?' || *q == '{')) {
            ps->p = q;
            if (!parse_quantifier(ps, s, from)) return false;
        }
    }
}

static bool parse_alternates(gbnf_parser *ps, int32_t rule)
{
    for (;;) {
        gr_seq *s = gr_rule_add_alt(ps->b, rule);
        if (!s) return fail_builder(ps, ps->p);
        if (!parse_sequence(ps, s)) return false;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == '|') {
            ps->p++;
            continue;
        }
        return true;
    }
}

static int parse_gbnf(gr_builder *b, const char *text, size_t len)
{
    gbnf_parser ps = {.src = text, .p = text, .end = text + len, .b = b};
    if (len > GR_MAX_SOURCE) {
        gr_errf(b->err, b->errlen,
                "line 1, column 1: grammar text of %zu bytes exceeds the limit of %u", len,
                GR_MAX_SOURCE);
        return GR_ERR;
    }
    if (memchr(text, 0, len))
        return fail(&ps, memchr(text, 0, len), "NUL byte in the grammar text", NULL), GR_ERR;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) ps.p += 3; /* a byte-order mark */
    for (;;) {
        skip_space(&ps);
        if (ps.p >= ps.end) break;
        const char *at = ps.p;
        const char *e = word_end(&ps, ps.p);
        if (e == at) return fail(&ps, at, "expected a rule name", NULL), GR_ERR;
        ps.p = e;
        skip_space(&ps);
        if (ps.end - ps.p < 3 || memcmp(ps.p, "::=", 3) != 0)
            return fail(&ps, ps.p, "expected '::=' after the rule name", NULL), GR_ERR;
        ps.p += 3;
        int line, col;
        loc(&ps, at, &line, &col);
        int32_t r = gr_rule_named(b, at, (size_t)(e - at), line, col);
        if (r < 0) return fail_builder(&ps, at), GR_ERR;
        if (b->rules[r].defined)
            return fail(&ps, at, "rule '%s' is defined twice", b->rules[r].name), GR_ERR;
        b->rules[r].defined = true;
        b->rules[r].line = line;
        b->rules[r].col = col;
        if (!parse_alternates(&ps, r)) return GR_ERR;
        skip_space(&ps);
        if (ps.p < ps.end && *ps.p == ')') return fail(&ps, ps.p, "unmatched ')'", NULL), GR_ERR;
    }
    return GR_OK;
}

int gr_compile_gbnf(gr_grammar **out, const gr_vocab *v, const char *gbnf, size_t len, char *err,
                    size_t errlen)
{
    *out = NULL;
    gr_builder b;
    gr_builder_init(&b, err, errlen);
    int rc = parse_gbnf(&b, gbnf, len);
    if (rc == GR_OK) rc = gr_builder_finish(&b, "root", v, out);
    gr_builder_free(&b);
    return rc;
}
