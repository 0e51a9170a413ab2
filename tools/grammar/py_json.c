/* JSON parsing that keeps source text, and serialisation matching Python's json module. */
#include "tools/grammar/py_json.h"

#include "models/grammar/grammar.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
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

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

typedef struct parser {
    const char *p, *end;
    int depth;
} parser;

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(const char *s, const char *end)
{
    if (end - s < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int h = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static void put_utf8(buf *b, uint32_t cp)
{
    char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    put(b, o, n);
}

/* Decodes the string starting at the quote; NULL on error. ps->p moves past the closing quote. */
static char *parse_string(parser *ps, size_t *len)
{
    buf b = {0};
    ps->p++;
    put(&b, "", 0);
    while (ps->p < ps->end && *ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) goto bad;
        if (c != '\\') {
            put(&b, ps->p, 1);
            ps->p++;
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) goto bad;
        char e = *ps->p++;
        switch (e) {
        case '"':
            puts_(&b, "\"");
            break;
        case '\\':
            puts_(&b, "\\");
            break;
        case '/':
            puts_(&b, "/");
            break;
        case 'b':
            puts_(&b, "\b");
            break;
        case 'f':
            puts_(&b, "\f");
            break;
        case 'n':
            puts_(&b, "\n");
            break;
        case 'r':
            puts_(&b, "\r");
            break;
        case 't':
            puts_(&b, "\t");
            break;
        case 'u': {
            int v = hex4(ps->p, ps->end);
            if (v < 0) goto bad;
            ps->p += 4;
            uint32_t cp = (uint32_t)v;
            if (cp >= 0xD800 && cp <= 0xDBFF && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
                ps->p[1] == 'u') {
                int lo = hex4(ps->p + 2, ps->end);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (uint32_t)(lo - 0xDC00);
                    ps->p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; /* lone surrogate: not UTF-8 */
            put_utf8(&b, cp);
            break;
        }
        default:
            goto bad;
        }
    }
    if (ps->p >= ps->end || b.oom) goto bad;
    ps->p++;
    *len = b.len;
    return b.p;
bad:
    free(b.p);
    return NULL;
}

static pj_value *parse_value(parser *ps);

static pj_value *new_value(int kind, const char *start)
{
    pj_value *v = calloc(1, sizeof *v);
    if (v) {
        v->kind = kind;
        v->start = start;
    }
    return v;
}

static pj_value *parse_container(parser *ps, bool object)
{
    pj_value *v = new_value(object ? PJ_OBJECT : PJ_ARRAY, ps->p);
    if (!v || ++ps->depth > 512) goto bad;
    ps->p++;
    skip_ws(ps);
    pj_value **tail = &v->child;
    if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
        ps->p++;
        ps->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        size_t key_len = 0;
        if (object) {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"' || !(key = parse_string(ps, &key_len))) goto bad;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                goto bad;
            }
            ps->p++;
        }
        pj_value *e = parse_value(ps);
        if (!e) {
            free(key);
            goto bad;
        }
        e->key = key;
        e->key_len = key_len;
        *tail = e;
        tail = &e->next;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
            ps->p++;
            break;
        }
        goto bad;
    }
    ps->depth--;
    return v;
bad:
    pj_free(v);
    return NULL;
}

static pj_value *parse_value(parser *ps)
{
    skip_ws(ps);
    if (ps->p >= ps->end) return NULL;
    const char *start = ps->p;
    pj_value *v = NULL;
    char c = *ps->p;
    if (c == '{' || c == '[') {
        v = parse_container(ps, c == '{');
    } else if (c == '"') {
        size_t n;
        char *s = parse_string(ps, &n);
        if (!s) return NULL;
        free(s);
        v = new_value(PJ_STRING, start);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        const char *p = ps->p;
        if (*p == '-') p++;
        if (p >= ps->end || *p < '0' || *p > '9') return NULL;
        if (*p == '0')
            p++;
        else
            while (p < ps->end && *p >= '0' && *p <= '9')
                p++;
        if (p < ps->end && *p == '.') {
            p++;
            if (p >= ps->end || *p < '0' || *p > '9') return NULL;
            while (p < ps->end && *p >= '0' && *p <= '9')
                p++;
        }
        if (p < ps->end && (*p == 'e' || *p == 'E')) {
            p++;
            if (p < ps->end && (*p == '+' || *p == '-')) p++;
            if (p >= ps->end || *p < '0' || *p > '9') return NULL;
            while (p < ps->end && *p >= '0' && *p <= '9')
                p++;
        }
        ps->p = p;
        v = new_value(PJ_NUMBER, start);
    } else {
        static const struct {
            const char *word;
            int kind;
        } lits[] = {{"null", PJ_NULL}, {"true", PJ_TRUE}, {"false", PJ_FALSE}};
        for (size_t i = 0; i < 3; i++) {
            size_t n = strlen(lits[i].word);
            if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, lits[i].word, n) == 0) {
                ps->p += n;
                v = new_value(lits[i].kind, start);
                break;
            }
        }
    }
    if (v) v->len = (size_t)(ps->p - start);
    return v;
}

pj_value *pj_parse(const char *text, size_t len)
{
    parser ps = {.p = text, .end = text + len};
    pj_value *v = parse_value(&ps);
    skip_ws(&ps);
    if (v && ps.p != ps.end) {
        pj_free(v);
        return NULL;
    }
    return v;
}

void pj_free(pj_value *v)
{
    while (v) {
        pj_value *n = v->next;
        pj_free(v->child);
        free(v->key);
        free(v);
        v = n;
    }
}

pj_value *pj_get(const pj_value *obj, const char *key)
{
    pj_value *found = NULL;
    for (pj_value *e = obj && obj->kind == PJ_OBJECT ? obj->child : NULL; e; e = e->next)
        if (strlen(key) == e->key_len && memcmp(e->key, key, e->key_len) == 0) found = e;
    return found; /* the last duplicate wins, as in Python */
}

char *pj_string(const pj_value *v, size_t *len)
{
    parser ps = {.p = v->start, .end = v->start + v->len};
    return parse_string(&ps, len);
}

static void dump_string(buf *b, const char *s, size_t n)
{
    char *t = malloc(6 * n + 2);
    if (!t) {
        b->oom = true;
        return;
    }
    put(b, t, gr_json_string(s, n, t));
    free(t);
}

/* float.__repr__: shortest round-trip digits; fixed notation for exponents in [-4, 16). */
static void dump_float(buf *b, double v)
{
    if (isinf(v)) {
        puts_(b, v < 0 ? "-Infinity" : "Infinity");
        return;
    }
    char tmp[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    const char *s = tmp;
    if (*s == '-') {
        put(b, "-", 1);
        s++;
    }
    char digits[32];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[nd++] = *s;
    int exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    int decpt = exp10 + 1;
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            puts_(b, "0.");
            for (int i = 0; i < -decpt; i++)
                put(b, "0", 1);
            puts_(b, digits);
        } else if (decpt >= nd) {
            puts_(b, digits);
            for (int i = nd; i < decpt; i++)
                put(b, "0", 1);
            puts_(b, ".0");
        } else {
            put(b, digits, (size_t)decpt);
            put(b, ".", 1);
            puts_(b, digits + decpt);
        }
    } else {
        put(b, digits, 1);
        if (nd > 1) {
            put(b, ".", 1);
            puts_(b, digits + 1);
        }
        snprintf(tmp, sizeof tmp, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
        puts_(b, tmp);
    }
}

static void dump(buf *b, const pj_value *v)
{
    switch (v->kind) {
    case PJ_NULL:
        puts_(b, "null");
        break;
    case PJ_TRUE:
        puts_(b, "true");
        break;
    case PJ_FALSE:
        puts_(b, "false");
        break;
    case PJ_NUMBER: {
        bool is_float = memchr(v->start, '.', v->len) || memchr(v->start, 'e', v->len) ||
                        memchr(v->start, 'E', v->len);
        if (!is_float) {
            if (v->len == 2 && memcmp(v->start, "-0", 2) == 0)
                puts_(b, "0");
            else
                put(b, v->start, v->len);
        } else {
            char tmp[512];
            size_t n = v->len < sizeof tmp - 1 ? v->len : sizeof tmp - 1;
            memcpy(tmp, v->start, n);
            tmp[n] = '\0';
            dump_float(b, strtod(tmp, NULL));
        }
        break;
    }
    case PJ_STRING: {
        size_t n;
        char *s = pj_string(v, &n);
        if (!s) {
            b->oom = true;
            break;
        }
        dump_string(b, s, n);
        free(s);
        break;
    }
    case PJ_ARRAY:
        put(b, "[", 1);
        for (const pj_value *e = v->child; e; e = e->next) {
            if (e != v->child) put(b, ",", 1);
            dump(b, e);
        }
        put(b, "]", 1);
        break;
    case PJ_OBJECT: {
        put(b, "{", 1);
        bool first = true;
        for (const pj_value *e = v->child; e; e = e->next) {
            /* A repeated key keeps its first position and takes its last value (a dict). */
            bool seen = false;
            for (const pj_value *f = v->child; f != e; f = f->next)
                if (f->key_len == e->key_len && memcmp(f->key, e->key, e->key_len) == 0)
                    seen = true;
            if (seen) continue;
            const pj_value *last = e;
            for (const pj_value *f = e->next; f; f = f->next)
                if (f->key_len == e->key_len && memcmp(f->key, e->key, e->key_len) == 0) last = f;
            if (!first) put(b, ",", 1);
            first = false;
            dump_string(b, e->key, e->key_len);
            put(b, ":", 1);
            dump(b, last);
        }
        put(b, "}", 1);
        break;
    }
    }
}

char *pj_dump_python(const pj_value *v, size_t *len)
{
    buf b = {0};
    put(&b, "", 0);
    dump(&b, v);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len) *len = b.len;
    return b.p;
}
