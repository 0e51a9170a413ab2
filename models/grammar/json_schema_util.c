/* Helpers of the JSON Schema compiler: the text buffer, code point sets, rule naming, the shared
 * JSON rules, GBNF literal writing and Python-compatible JSON serialisation of schema values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/json_schema_int.h"

void js_buf_add(js_buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void js_buf_puts(js_buf *b, const char *s)
{
    js_buf_add(b, s, strlen(s));
}

void js_buf_printf(js_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        js_buf_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    js_buf_add(b, big, (size_t)n);
    free(big);
}

/* ---- code point sets ---- */

void js_cset_add(js_cset *s, uint32_t lo, uint32_t hi)
{
    if (lo > hi) return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        void *p = realloc(s->r, cap * sizeof *s->r);
        if (!p) return; /* the set stays smaller: callers only lose accepted characters */
        s->r = p;
        s->cap = cap;
    }
    s->r[s->n][0] = lo;
    s->r[s->n][1] = hi;
    s->n++;
    /* Keep sorted and merged: insertion sort of the new range, then coalesce. */
    for (size_t i = s->n - 1; i > 0 && s->r[i][0] < s->r[i - 1][0]; i--) {
        uint32_t t0 = s->r[i][0], t1 = s->r[i][1];
        s->r[i][0] = s->r[i - 1][0];
        s->r[i][1] = s->r[i - 1][1];
        s->r[i - 1][0] = t0;
        s->r[i - 1][1] = t1;
    }
    size_t w = 0;
    for (size_t i = 1; i < s->n; i++) {
        if (s->r[i][0] <= s->r[w][1] + 1) {
            if (s->r[i][1] > s->r[w][1]) s->r[w][1] = s->r[i][1];
        } else {
            w++;
            s->r[w][0] = s->r[i][0];
            s->r[w][1] = s->r[i][1];
        }
    }
    s->n = w + 1;
}

void js_cset_add_set(js_cset *s, const js_cset *o)
{
    for (size_t i = 0; i < o->n; i++)
        js_cset_add(s, o->r[i][0], o->r[i][1]);
}

void js_cset_invert(js_cset *s)
{
    js_cset out = {0};
    uint32_t next = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->r[i][0] > next) js_cset_add(&out, next, s->r[i][0] - 1);
        next = s->r[i][1] + 1;
    }
    if (next <= 0x10FFFF) js_cset_add(&out, next, 0x10FFFF);
    js_cset_free(s);
    *s = out;
    /* Surrogates are not characters: no JSON text (valid UTF-8) holds one. */
    js_cset keep = {0};
    js_cset_add(&keep, 0, 0xD7FF);
    js_cset_add(&keep, 0xE000, 0x10FFFF);
    js_cset_intersect(s, &keep);
    js_cset_free(&keep);
}

void js_cset_intersect(js_cset *s, const js_cset *o)
{
    js_cset out = {0};
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < o->n; j++) {
            uint32_t lo = s->r[i][0] > o->r[j][0] ? s->r[i][0] : o->r[j][0];
            uint32_t hi = s->r[i][1] < o->r[j][1] ? s->r[i][1] : o->r[j][1];
            if (lo <= hi) js_cset_add(&out, lo, hi);
        }
    js_cset_free(s);
    *s = out;
}

void js_cset_free(js_cset *s)
{
    free(s->r);
    s->r = NULL;
    s->n = s->cap = 0;
}

/* ---- GBNF text ---- */

static void class_char(js_buf *b, uint32_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        js_buf_printf(b, "%c", (char)c);
    else if (c <= 0xFF)
        js_buf_printf(b, "\\x%02X", c);
    else if (c <= 0xFFFF)
        js_buf_printf(b, "\\u%04X", c);
    else
        js_buf_printf(b, "\\U%08X", c);
}

static void emit_class(js_buf *b, const js_cset *s)
{
    js_buf_puts(b, "[");
    for (size_t i = 0; i < s->n; i++) {
        class_char(b, s->r[i][0]);
        if (s->r[i][1] != s->r[i][0]) {
            js_buf_puts(b, "-");
            class_char(b, s->r[i][1]);
        }
    }
    js_buf_puts(b, "]");
}

void js_lit(js_buf *b, const char *s, size_t n)
{
    js_buf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"')
            js_buf_puts(b, "\\\"");
        else if (ch == '\\')
            js_buf_puts(b, "\\\\");
        else if (ch < 0x20 || ch == 0x7F)
            js_buf_printf(b, "\\x%02X", ch);
        else
            js_buf_add(b, (const char *)&ch, 1);
    }
    js_buf_puts(b, "\"");
}

/* The canonical escape json.dumps writes for a character that must be escaped, or NULL. */
static const char *json_escape(uint32_t c, char tmp[8])
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        break;
    }
    if (c < 0x20) {
        snprintf(tmp, 8, "\\u%04x", c);
        return tmp;
    }
    return NULL;
}

void js_cset_emit_json_char(js_ctx *c, js_buf *b, const js_cset *s)
{
    if (c) {
        js_cset esc = {0};
        js_cset_add(&esc, 0, 0x1F);
        js_cset_add(&esc, 0x22, 0x22);
        js_cset_add(&esc, 0x5C, 0x5C);
        js_cset both = {0};
        js_cset_add_set(&both, &esc);
        js_cset_intersect(&both, s);
        bool all = both.n == esc.n && memcmp(both.r, esc.r, esc.n * sizeof *esc.r) == 0;
        js_cset_free(&both);
        js_cset_free(&esc);
        if (all) {
            js_cset plain = {0};
            js_cset_add(&plain, 0x20, 0x21);
            js_cset_add(&plain, 0x23, 0x5B);
            js_cset_add(&plain, 0x5D, 0x10FFFF);
            js_cset_intersect(&plain, s);
            const char *e = js_builtin(c, JS_B_ESC);
            if (plain.n) {
                js_buf_puts(b, "(");
                emit_class(b, &plain);
                js_buf_printf(b, " | %s)", e);
            } else {
                js_buf_puts(b, e);
            }
            js_cset_free(&plain);
            return;
        }
    }
    js_cset plain = {0};
    js_cset_add(&plain, 0x20, 0x21);
    js_cset_add(&plain, 0x23, 0x5B);
    js_cset_add(&plain, 0x5D, 0x10FFFF);
    js_cset_intersect(&plain, s);
    int alts = plain.n ? 1 : 0;
    js_buf tail = {0};
    for (size_t i = 0; i < s->n; i++)
        for (uint32_t cp = s->r[i][0]; cp <= s->r[i][1] && cp < 0x80; cp++) {
            char tmp[8];
            const char *e = json_escape(cp, tmp);
            if (!e) continue;
            js_buf_puts(&tail, " | ");
            js_lit(&tail, e, strlen(e));
            alts++;
        }
    if (alts == 0) {
        js_cset_free(&plain);
        free(tail.p);
        return;
    }
    if (alts > 1) js_buf_puts(b, "(");
    if (plain.n) emit_class(b, &plain);
    if (tail.len) js_buf_add(b, plain.n ? tail.p : tail.p + 3, plain.n ? tail.len : tail.len - 3);
    if (alts > 1) js_buf_puts(b, ")");
    if (tail.oom) b->oom = true;
    js_cset_free(&plain);
    free(tail.p);
}

size_t gr_json_string(const char *s, size_t n, char *out)
{
    size_t w = 0;
    out[w++] = '"';
    for (size_t i = 0; i < n; i++) {
        char tmp[8];
        const char *e = json_escape((unsigned char)s[i], tmp);
        if (e) {
            size_t el = strlen(e);
            memcpy(out + w, e, el);
            w += el;
        } else {
            out[w++] = s[i];
        }
    }
    out[w++] = '"';
    return w;
}

static void json_string_text(js_buf *b, const char *s)
{
    size_t n = strlen(s);
    char *t = malloc(6 * n + 2);
    if (!t) {
        b->oom = true;
        return;
    }
    js_buf_add(b, t, gr_json_string(s, n, t));
    free(t);
}

void js_lit_json_string(js_buf *b, const char *s)
{
    js_buf t = {0};
    json_string_text(&t, s ? s : "");
    js_lit(b, t.p ? t.p : "", t.len);
    if (t.oom) b->oom = true;
    free(t.p);
}

bool js_num_integral(double d)
{
    return isfinite(d) && d == floor(d);
}

/* repr(float) as Python writes it: the shortest digits that round-trip, fixed notation for
 * decimal exponents in (-4, 16], scientific otherwise. */
static void python_float(js_buf *b, double v)
{
    if (isnan(v)) {
        js_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        js_buf_puts(b, v < 0 ? "-Infinity" : "Infinity");
        return;
    }
    char tmp[64];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    const char *s = tmp;
    bool neg = *s == '-';
    if (neg) s++;
    char digits[32];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[nd++] = *s;
    int exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    int decpt = exp10 + 1;
    if (neg) js_buf_puts(b, "-");
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            js_buf_puts(b, "0.");
            for (int i = 0; i < -decpt; i++)
                js_buf_puts(b, "0");
            js_buf_puts(b, digits);
        } else if (decpt >= nd) {
            js_buf_puts(b, digits);
            for (int i = nd; i < decpt; i++)
                js_buf_puts(b, "0");
            js_buf_puts(b, ".0");
        } else {
            js_buf_add(b, digits, (size_t)decpt);
            js_buf_puts(b, ".");
            js_buf_puts(b, digits + decpt);
        }
    } else {
        js_buf_add(b, digits, 1);
        if (nd > 1) {
            js_buf_puts(b, ".");
            js_buf_puts(b, digits + 1);
        }
        js_buf_printf(b, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
}

bool js_dump_python(js_buf *b, const cJSON *v)
{
    if (cJSON_IsNull(v)) {
        js_buf_puts(b, "null");
    } else if (cJSON_IsTrue(v)) {
        js_buf_puts(b, "true");
    } else if (cJSON_IsFalse(v)) {
        js_buf_puts(b, "false");
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (js_num_integral(d)) {
            if (fabs(d) >= 9007199254740992.0) return false;
            js_buf_printf(b, "%lld", (long long)d);
        } else {
            python_float(b, d);
        }
    } else if (cJSON_IsString(v)) {
        json_string_text(b, v->valuestring);
    } else if (cJSON_IsArray(v)) {
        js_buf_puts(b, "[");
        for (const cJSON *e = v->child; e; e = e->next) {
            if (e != v->child) js_buf_puts(b, ",");
            if (!js_dump_python(b, e)) return false;
        }
        js_buf_puts(b, "]");
    } else if (cJSON_IsObject(v)) {
        js_buf_puts(b, "{");
        for (const cJSON *e = v->child; e; e = e->next) {
            if (e != v->child) js_buf_puts(b, ",");
            json_string_text(b, e->string);
            js_buf_puts(b, ":");
            if (!js_dump_python(b, e)) return false;
        }
        js_buf_puts(b, "}");
    } else {
        return false;
    }
    return true;
}

/* ---- rules ---- */

int js_fail(js_ctx *c, const char *fmt, ...)
{
    if (!c->failed) {
        c->failed = true;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return GR_ERR;
}

char *js_new_name(js_ctx *c, const char *stem)
{
    if (c->n_rules >= JS_MAX_RULES) {
        js_fail(c, "json schema: the grammar needs more than %d rules", JS_MAX_RULES);
        return NULL;
    }
    char *name = malloc(strlen(c->prefix) + strlen(stem) + 16);
    if (!name) {
        js_fail(c, "json schema: out of memory");
        return NULL;
    }
    sprintf(name, "%s%s%d", c->prefix, stem, c->n_rules++);
    return name;
}

int js_emit_rule(js_ctx *c, const char *name, const char *body)
{
    js_buf_puts(&c->out, name);
    js_buf_puts(&c->out, " ::= ");
    js_buf_puts(&c->out, body);
    js_buf_puts(&c->out, "\n");
    if (c->out.oom) return js_fail(c, "json schema: out of memory");
    if (c->out.len > JS_MAX_TEXT)
        return js_fail(c, "json schema: the grammar exceeds %u bytes", JS_MAX_TEXT);
    return GR_OK;
}

const char *js_ws(js_ctx *c)
{
    static _Thread_local char buf[160];
    if (!c->opt->flexible_whitespace) return " ";
    js_builtin(c, JS_B_WS);
    snprintf(buf, sizeof buf, " %sws ", c->prefix);
    return buf;
}

static void builtin_rule(js_ctx *c, const char *stem, const char *body)
{
    js_buf_printf(&c->out, "%s%s ::= %s\n", c->prefix, stem, body);
}

const char *js_builtin(js_ctx *c, unsigned which)
{
    static _Thread_local char name[160];
    const char *stem = "";
    switch (which) {
    case JS_B_VALUE:
        stem = "value";
        break;
    case JS_B_STRING:
        stem = "string";
        break;
    case JS_B_NUMBER:
        stem = "number";
        break;
    case JS_B_INTEGER:
        stem = "integer";
        break;
    case JS_B_WS:
        stem = "ws";
        break;
    case JS_B_CHAR:
        stem = "char";
        break;
    case JS_B_HEX:
        stem = "hex";
        break;
    case JS_B_ESC:
        stem = "esc";
        break;
    case JS_B_KEYREST:
        stem = "keyrest";
        break;
    case JS_B_CHARS:
        stem = "chars";
        break;
    }
    if (!(c->builtins & which)) {
        c->builtins |= which;
        const char *P = c->prefix;
        js_buf body = {0};
        switch (which) {
        case JS_B_WS: {
            int n = c->opt->max_whitespace > 0 ? c->opt->max_whitespace : 4;
            js_buf_printf(&body, "[ \\t\\n\\r]{0,%d}", n);
            break;
        }
        case JS_B_CHAR: {
            js_cset all = {0};
            js_cset_add(&all, 0, 0xD7FF);
            js_cset_add(&all, 0xE000, 0x10FFFF);
            js_cset_emit_json_char(c, &body, &all);
            js_cset_free(&all);
            break;
        }
        case JS_B_HEX:
            js_buf_puts(&body, "[0-9a-fA-F]");
            break;
        case JS_B_KEYREST: {
            js_cset rest = {0};
            js_cset_add(&rest, 0, 0x1F);
            js_cset_add(&rest, 0x22, 0x22);
            js_cset_add(&rest, 0x5C, 0x5C);
            js_cset_add(&rest, 0x80, 0xD7FF);
            js_cset_add(&rest, 0xE000, 0x10FFFF);
            js_cset_emit_json_char(c, &body, &rest);
            js_cset_free(&rest);
            js_buf_printf(&body, " %s", js_builtin(c, JS_B_CHARS));
            break;
        }
        case JS_B_CHARS:
            js_buf_printf(&body, "%s*", js_builtin(c, JS_B_CHAR));
            break;
        case JS_B_ESC: /* the canonical escapes json.dumps writes */
            js_buf_puts(&body, "\"\\\\\" ([\\x22\\x5Cbfnrt] | \"u00\" (\"0\" [0-7bef] | \"1\" "
                               "[0-9a-f]))");
            break;
        case JS_B_STRING:
            js_builtin(c, JS_B_CHAR);
            js_buf_printf(&body, "\"\\\"\" %schar* \"\\\"\"", P);
            break;
        case JS_B_INTEGER:
            js_buf_puts(&body, "\"-\"? (\"0\" | [1-9] [0-9]*)");
            break;
        case JS_B_NUMBER:
            js_buf_puts(&body,
                        "\"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)?");
            break;
        case JS_B_VALUE: {
            js_builtin(c, JS_B_STRING);
            js_builtin(c, JS_B_NUMBER);
            const char *W = js_ws(c);
            char w[160];
            snprintf(w, sizeof w, "%s", W);
            js_buf_printf(&body,
                          "%sobject | %sarray | %sstring | %snumber | \"true\" | \"false\" | "
                          "\"null\"\n",
                          P, P, P, P);
            js_buf_printf(
                &body,
                "%sobject ::= \"{\"%s(%sstring%s\":\"%s%svalue (%s\",\"%s%sstring%s\":\"%s"
                "%svalue)*%s)? \"}\"\n",
                P, w, P, w, w, P, w, w, P, w, w, P, w);
            js_buf_printf(&body, "%sarray ::= \"[\"%s(%svalue (%s\",\"%s%svalue)*%s)? \"]\"", P, w,
                          P, w, w, P, w);
            break;
        }
        }
        if (body.oom) c->out.oom = true;
        builtin_rule(c, stem, body.p ? body.p : "\"\"");
        free(body.p);
    }
    snprintf(name, sizeof name, "%s%s", c->prefix, stem);
    return name;
}
