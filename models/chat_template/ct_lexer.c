/* Jinja2 lexer rules (jinja2/lexer.py) for the environment transformers builds:
 * trim_blocks drops one newline after a block or comment tag, lstrip_blocks drops the whitespace
 * between a line start and a block or comment tag, '-' strips all whitespace on its side, '+'
 * disables lstrip. Newlines are normalized to \n and one trailing newline is dropped. */
#include "models/chat_template/ct_lexer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lexer {
    ct_arena *a;
    const char *s;
    size_t n;
    ct_token *toks;
    size_t ntok, cap;
    char *err;
    size_t errlen;
    /* balancing stack of expected closing brackets inside a tag */
    char stack[256];
    size_t depth;
    /* line_col resumes from the last position asked for: tokens come in source order */
    size_t lc_pos;
    int lc_line, lc_col;
} lexer;

static void line_col(lexer *L, size_t pos, int *line, int *col) {
    if (pos < L->lc_pos || L->lc_line == 0) {
        L->lc_pos = 0;
        L->lc_col = 0;
        L->lc_line = 1;
    }
    size_t i = L->lc_pos;
    while (i < pos && i < L->n) {
        if (L->s[i] == '\n') {
            L->lc_line++;
            L->lc_col = 0;
            i++;
        } else {
            int32_t cp;
            i += ct_utf8_decode(L->s + i, L->n - i, &cp);
            L->lc_col++;
        }
    }
    L->lc_pos = i;
    *line = L->lc_line;
    *col = L->lc_col + 1;
}

static int fail(lexer *L, size_t pos, const char *msg, const char *arg) {
    int line, col;
    line_col(L, pos, &line, &col);
    snprintf(L->err, L->errlen, "template line %d, column %d: %s%s", line, col, msg, arg ? arg : "");
    return -1;
}

static ct_token *push(lexer *L, ct_tok_type type, size_t pos, const char *p, size_t n) {
    if (L->ntok == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        ct_token *t = ct_alloc(L->a, cap * sizeof *t);
        if (!t) return NULL;
        if (L->ntok) memcpy(t, L->toks, L->ntok * sizeof *t);
        L->toks = t;
        L->cap = cap;
    }
    ct_token *t = &L->toks[L->ntok++];
    *t = (ct_token){.type = type, .p = p, .n = n};
    line_col(L, pos, &t->line, &t->col);
    return t;
}

/* Python's \s for str patterns is str.isspace(); returns the byte length of one space or 0. */
static size_t space_at(const lexer *L, size_t i) {
    if (i >= L->n) return 0;
    int32_t cp;
    size_t k = ct_utf8_decode(L->s + i, L->n - i, &cp);
    return ct_is_pyspace(cp) ? k : 0;
}

static size_t skip_spaces(const lexer *L, size_t i) {
    size_t k;
    while ((k = space_at(L, i)) > 0) i += k;
    return i;
}

/* Length of text once its trailing whitespace is stripped (str.rstrip()). */
static size_t rstrip_len(const char *s, size_t n) {
    size_t end = 0, i = 0;
    while (i < n) {
        int32_t cp;
        size_t k = ct_utf8_decode(s + i, n - i, &cp);
        i += k;
        if (!ct_is_pyspace(cp)) end = i;
    }
    return end;
}

static bool starts(const lexer *L, size_t i, const char *lit) {
    size_t k = strlen(lit);
    return i + k <= L->n && memcmp(L->s + i, lit, k) == 0;
}

/* The text before a tag after whitespace control: sign is '-', '+' or 0. */
static size_t control_text(const lexer *L, size_t start, size_t end, char sign, bool lstrip_kind,
                           bool line_starting) {
    const char *t = L->s + start;
    size_t n = end - start;
    if (sign == '-') return rstrip_len(t, n);
    if (sign == '+' || !lstrip_kind) return n;
    size_t l_pos = 0;
    for (size_t i = n; i > 0; i--)
        if (t[i - 1] == '\n') {
            l_pos = i;
            break;
        }
    if ((l_pos > 0 || line_starting) && l_pos < n && rstrip_len(t + l_pos, n - l_pos) == 0) return l_pos;
    return n;
}

/* Matches a tag end at i: "+%}", "-%}\s*" or "%}\n?" (block), "-}}\s*" or "}}" (variable).
 * Returns the position after it, or 0 when there is none. */
static size_t tag_end(const lexer *L, size_t i, char close) {
    char e[3] = {close, '}', 0};
    if (close != '}' && i < L->n && L->s[i] == '+' && starts(L, i + 1, e)) return i + 3;
    if (i < L->n && L->s[i] == '-' && starts(L, i + 1, e)) return skip_spaces(L, i + 3);
    if (starts(L, i, e)) {
        i += 2;
        if (close != '}' && i < L->n && L->s[i] == '\n') i++;
        return i;
    }
    return 0;
}

static int lex_string(lexer *L, size_t *pi) {
    size_t i = *pi, start = i;
    char q = L->s[i++];
    char *out = ct_alloc(L->a, L->n - i + 1);
    if (!out) return fail(L, start, "template too large", NULL);
    size_t o = 0;
    for (;;) {
        if (i >= L->n) return fail(L, start, "unexpected end of string literal", NULL);
        char c = L->s[i];
        if (c == q) {
            i++;
            break;
        }
        if (c != '\\') {
            out[o++] = c;
            i++;
            continue;
        }
        if (i + 1 >= L->n) return fail(L, start, "unexpected end of string literal", NULL);
        char e = L->s[i + 1];
        i += 2;
        const char *simple = strchr("\\'\"abfnrtv\n", e);
        if (e && simple) {
            static const char map[] = "\\'\"\a\b\f\n\r\t\v";
            if (e != '\n') out[o++] = map[simple - "\\'\"abfnrtv\n"];
        } else if (e >= '0' && e <= '7') {
            int v = e - '0';
            for (int k = 0; k < 2 && i < L->n && L->s[i] >= '0' && L->s[i] <= '7'; k++) v = v * 8 + (L->s[i++] - '0');
            o += ct_utf8_encode(v, out + o);
        } else if (e == 'x' || e == 'u' || e == 'U') {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            int32_t v = 0;
            for (int k = 0; k < digits; k++, i++) {
                char h = i < L->n ? L->s[i] : 0;
                int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (d < 0) return fail(L, start, "truncated \\x, \\u or \\U escape in string literal", NULL);
                v = v * 16 + d;
            }
            if (v > 0x10ffff || v < 0) return fail(L, start, "illegal Unicode character in string literal", NULL);
            o += ct_utf8_encode(v, out + o);
        } else if (e == 'N') {
            return fail(L, start, "\\N{...} escapes are not supported in string literals", NULL);
        } else {
            out[o++] = '\\';
            i--; /* unknown escape: Python keeps the backslash and the character */
        }
    }
    ct_token *t = push(L, CT_TK_STRING, start, out, o);
    if (!t) return fail(L, start, "template too large", NULL);
    *pi = i;
    return 0;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name_start(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int lex_number(lexer *L, size_t *pi) {
    size_t i = *pi, start = i;
    while (i < L->n && is_digit(L->s[i])) i++;
    size_t end_int = i;
    bool is_float = false;
    bool after_dot = start > 0 && L->s[start - 1] == '.';
    if (!after_dot) {
        size_t j = i;
        if (j + 1 < L->n && L->s[j] == '.' && is_digit(L->s[j + 1])) {
            j++;
            while (j < L->n && is_digit(L->s[j])) j++;
            is_float = true;
        }
        if (j < L->n && (L->s[j] == 'e' || L->s[j] == 'E')) {
            size_t k = j + 1;
            if (k < L->n && (L->s[k] == '+' || L->s[k] == '-')) k++;
            if (k < L->n && is_digit(L->s[k])) {
                while (k < L->n && is_digit(L->s[k])) k++;
                j = k;
                is_float = true;
            }
        }
        if (is_float) i = j;
    }
    char buf[64];
    size_t len = i - start < sizeof buf - 1 ? i - start : sizeof buf - 1;
    memcpy(buf, L->s + start, len);
    buf[len] = 0;
    ct_token *t;
    if (is_float) {
        t = push(L, CT_TK_FLOAT, start, L->s + start, i - start);
        if (t) t->f = strtod(buf, NULL);
    } else {
        if (L->s[start] == '0' && i < L->n && (L->s[i] == 'x' || L->s[i] == 'X'))
            return fail(L, start, "hexadecimal, octal and binary literals are not supported", NULL);
        if (L->s[start] == '0' && end_int - start > 1) return fail(L, start, "invalid integer literal", NULL);
        if (end_int - start > 18) return fail(L, start, "integer literal too large (limit: 18 digits)", NULL);
        t = push(L, CT_TK_INT, start, L->s + start, end_int - start);
        if (t) t->i = strtoll(buf, NULL, 10);
    }
    if (!t) return fail(L, start, "template too large", NULL);
    *pi = i;
    return 0;
}

static const char *const ops2[] = {"**", "//", "==", "!=", ">=", "<="};
static const char ops1[] = "+-/*%~[](){}><=.:|,;";

/* Expression tokens up to the tag's end; close is '%' (block) or '}' (variable). */
static int lex_tag(lexer *L, size_t *pi, char close) {
    size_t i = *pi, tag_start = i;
    L->depth = 0;
    for (;;) {
        if (L->depth == 0) {
            size_t e = tag_end(L, i, close);
            if (e) {
                if (!push(L, close == '%' ? CT_TK_BLOCK_END : CT_TK_VAR_END, i, NULL, 0))
                    return fail(L, i, "template too large", NULL);
                *pi = e;
                return 0;
            }
        }
        size_t k = space_at(L, i);
        if (k) {
            i += k;
            continue;
        }
        if (i >= L->n)
            return fail(L, tag_start, close == '%' ? "unexpected end of template: '%}' missing"
                                                   : "unexpected end of template: '}}' missing", NULL);
        char c = L->s[i];
        if (c == '\'' || c == '"') {
            if (lex_string(L, &i) != 0) return -1;
        } else if (is_digit(c)) {
            if (lex_number(L, &i) != 0) return -1;
        } else if (is_name_start(c)) {
            size_t s = i;
            while (i < L->n && (is_name_start(L->s[i]) || is_digit(L->s[i]))) i++;
            if (!push(L, CT_TK_NAME, s, L->s + s, i - s)) return fail(L, s, "template too large", NULL);
        } else {
            size_t len = 0;
            for (size_t o = 0; o < sizeof ops2 / sizeof *ops2; o++)
                if (starts(L, i, ops2[o])) len = 2;
            if (!len && c && strchr(ops1, c)) len = 1;
            if (!len) {
                char ch[2] = {c, 0};
                return fail(L, i, "unexpected character ", (unsigned char)c < 0x80 ? ch : "(non-ASCII)");
            }
            if (c == '(' || c == '[' || c == '{') {
                if (L->depth == sizeof L->stack) return fail(L, i, "brackets nested too deeply", NULL);
                L->stack[L->depth++] = c == '(' ? ')' : c == '[' ? ']' : '}';
            } else if (len == 1 && (c == ')' || c == ']' || c == '}')) {
                char ch[2] = {c, 0};
                if (L->depth == 0) return fail(L, i, "unexpected ", ch);
                if (L->stack[--L->depth] != c) return fail(L, i, "unexpected closing bracket ", ch);
            }
            if (!push(L, CT_TK_OP, i, L->s + i, len)) return fail(L, i, "template too large", NULL);
            i += len;
        }
    }
}

/* `{% raw %}`, `{%- raw -%}`: returns the position after the tag, or 0. */
static size_t raw_begin(const lexer *L, size_t i) {
    i += 2;
    if (i < L->n && (L->s[i] == '-' || L->s[i] == '+')) i++;
    i = skip_spaces(L, i);
    if (!starts(L, i, "raw")) return 0;
    i = skip_spaces(L, i + 3);
    if (starts(L, i, "-%}")) return skip_spaces(L, i + 3);
    if (starts(L, i, "%}")) return i + 2;
    return 0;
}

static int lex_raw(lexer *L, size_t *pi, bool *line_starting) {
    size_t body = *pi;
    for (size_t i = body; i + 1 < L->n; i++) {
        if (L->s[i] != '{' || L->s[i + 1] != '%') continue;
        size_t j = i + 2;
        char sign = 0;
        if (j < L->n && (L->s[j] == '-' || L->s[j] == '+')) sign = L->s[j++];
        j = skip_spaces(L, j);
        if (!starts(L, j, "endraw")) continue;
        j = skip_spaces(L, j + 6);
        size_t e = tag_end(L, j, '%');
        if (!e) continue;
        size_t n = control_text(L, body, i, sign, true, *line_starting);
        if (n && !push(L, CT_TK_DATA, body, L->s + body, n)) return fail(L, body, "template too large", NULL);
        *line_starting = L->s[e - 1] == '\n';
        *pi = e;
        return 0;
    }
    return fail(L, body, "missing end of raw directive", NULL);
}

int ct_lex(ct_arena *a, const char *source, size_t len, ct_tokens *out, char *err, size_t errlen) {
    /* Normalize \r\n and \r to \n, and drop one trailing newline, before anything else. */
    char *s = ct_alloc(a, len + 1);
    if (!s) {
        snprintf(err, errlen, "template too large");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (source[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && source[i + 1] == '\n') i++;
        } else {
            s[n++] = source[i];
        }
    }
    if (n && s[n - 1] == '\n') n--;
    s[n] = 0;
    lexer L = {.a = a, .s = s, .n = n, .err = err, .errlen = errlen};

    size_t pos = 0;
    bool line_starting = true;
    while (pos < n) {
        size_t q = pos;
        while (q + 1 < n && !(s[q] == '{' && (s[q + 1] == '{' || s[q + 1] == '%' || s[q + 1] == '#'))) q++;
        if (q + 1 >= n) {
            if (!push(&L, CT_TK_DATA, pos, s + pos, n - pos)) return fail(&L, pos, "template too large", NULL);
            break;
        }
        char kind = s[q + 1];
        char sign = q + 2 < n && (s[q + 2] == '-' || s[q + 2] == '+') ? s[q + 2] : 0;
        size_t raw_end = kind == '%' ? raw_begin(&L, q) : 0;
        size_t text = control_text(&L, pos, q, sign, kind != '{', line_starting);
        if (text && !push(&L, CT_TK_DATA, pos, s + pos, text)) return fail(&L, pos, "template too large", NULL);
        if (raw_end) {
            pos = raw_end;
            line_starting = s[pos - 1] == '\n';
            if (lex_raw(&L, &pos, &line_starting) != 0) return -1;
            continue;
        }
        size_t body = q + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            size_t e = 0;
            for (size_t i = body; i < n && !e; i++) {
                if (s[i] == '+' && starts(&L, i + 1, "#}"))
                    e = i + 3;
                else if (s[i] == '-' && starts(&L, i + 1, "#}"))
                    e = skip_spaces(&L, i + 3);
                else if (starts(&L, i, "#}"))
                    e = i + 2 + (i + 2 < n && s[i + 2] == '\n');
            }
            if (!e) return fail(&L, q, "missing end of comment tag", NULL);
            pos = e;
        } else {
            if (!push(&L, kind == '%' ? CT_TK_BLOCK_BEGIN : CT_TK_VAR_BEGIN, q, NULL, 0))
                return fail(&L, q, "template too large", NULL);
            pos = body;
            if (lex_tag(&L, &pos, kind == '%' ? '%' : '}') != 0) return -1;
        }
        line_starting = s[pos - 1] == '\n';
    }
    if (!push(&L, CT_TK_EOF, n, NULL, 0)) return fail(&L, n, "template too large", NULL);
    out->t = L.toks;
    out->n = L.ntok;
    return 0;
}
