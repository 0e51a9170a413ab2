/* Python's json encoder (json/encoder.py, the pure-Python and C paths agree): floats by repr,
 * NaN/Infinity spelled as Python does, keys coerced to strings, control characters as \u00XX. */
#include "models/chat_template/ct_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dump_string(ct_buf *b, const char *s, size_t n, bool ascii) {
    ct_buf_put(b, "\"", 1);
    size_t run = 0; /* bytes copied verbatim in one go */
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[16];
        size_t k = 1;
        if (ch == '"') esc = "\\\"";
        else if (ch == '\\') esc = "\\\\";
        else if (ch == '\n') esc = "\\n";
        else if (ch == '\r') esc = "\\r";
        else if (ch == '\t') esc = "\\t";
        else if (ch == '\b') esc = "\\b";
        else if (ch == '\f') esc = "\\f";
        else if (ch < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", ch);
            esc = tmp;
        } else if (ch >= 0x80 && ascii) {
            int32_t cp;
            k = ct_utf8_decode(s + i, n - i, &cp);
            if (cp < 0) cp = 0xfffd;
            if (cp >= 0x10000) {
                int32_t v = cp - 0x10000;
                snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
            } else {
                snprintf(tmp, sizeof tmp, "\\u%04x", cp);
            }
            esc = tmp;
        }
        if (esc) {
            ct_buf_put(b, s + i - run, run);
            run = 0;
            ct_buf_puts(b, esc);
        } else {
            run += k;
        }
        i += k;
    }
    ct_buf_put(b, s + n - run, run);
    ct_buf_put(b, "\"", 1);
}

static void dump_float(ct_buf *b, double f) {
    char num[32];
    if (isnan(f)) ct_buf_puts(b, "NaN");
    else if (isinf(f)) ct_buf_puts(b, f < 0 ? "-Infinity" : "Infinity");
    else {
        ct_format_float(f, num);
        ct_buf_puts(b, num);
    }
}

static void newline(ct_buf *b, const ct_json_opts *o, int level) {
    ct_buf_put(b, "\n", 1);
    for (int k = 0; k < level; k++) ct_buf_put(b, o->indent, o->indent_len);
}

static void item_sep(ct_buf *b, const ct_json_opts *o) {
    if (o->item_sep) ct_buf_put(b, o->item_sep, o->item_sep_len);
    else ct_buf_puts(b, o->indent ? "," : ", ");
}

static void key_sep(ct_buf *b, const ct_json_opts *o) {
    if (o->key_sep) ct_buf_put(b, o->key_sep, o->key_sep_len);
    else ct_buf_puts(b, ": ");
}

static int key_cmp(ct_value a, ct_value b) {
    size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
    int r = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
    return r ? r : (a.u.s.n > b.u.s.n) - (a.u.s.n < b.u.s.n);
}

static int dump(ct_buf *b, ct_value v, const ct_json_opts *o, int level, char *err, size_t errlen);

static int dump_key(ct_buf *b, ct_value k, const ct_json_opts *o, char *err, size_t errlen) {
    char num[32];
    switch (k.kind) {
    case CT_STR: dump_string(b, k.u.s.p, k.u.s.n, o->ensure_ascii); return 0;
    case CT_BOOL: ct_buf_puts(b, k.u.b ? "\"true\"" : "\"false\""); return 0;
    case CT_NONE: ct_buf_puts(b, "\"null\""); return 0;
    case CT_INT: ct_buf_printf(b, "\"%lld\"", (long long)k.u.i); return 0;
    case CT_FLOAT:
        if (isnan(k.u.f)) snprintf(num, sizeof num, "NaN");
        else if (isinf(k.u.f)) snprintf(num, sizeof num, "%s", k.u.f < 0 ? "-Infinity" : "Infinity");
        else ct_format_float(k.u.f, num);
        ct_buf_printf(b, "\"%s\"", num);
        return 0;
    default:
        snprintf(err, errlen, "keys must be str, int, float, bool or None, not %s", ct_type_name(k));
        return -1;
    }
}

static int dump_dict(ct_buf *b, const ct_dict *d, const ct_json_opts *o, int level, char *err, size_t errlen) {
    if (d->n == 0) {
        ct_buf_puts(b, "{}");
        return 0;
    }
    size_t *order = malloc(d->n * sizeof *order);
    if (!order) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < d->n; i++) order[i] = i;
    int r = 0;
    if (o->sort_keys) {
        for (size_t i = 0; i < d->n && r == 0; i++)
            if (d->keys[i].kind != CT_STR) {
                snprintf(err, errlen, "sort_keys: '<' not supported between keys of type %s and str",
                         ct_type_name(d->keys[i]));
                r = -1;
            }
        /* insertion sort, stable: tool schemas have a handful of keys */
        for (size_t i = 1; i < d->n && r == 0; i++)
            for (size_t j = i; j > 0 && key_cmp(d->keys[order[j - 1]], d->keys[order[j]]) > 0; j--) {
                size_t t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
    }
    if (r == 0) ct_buf_puts(b, "{");
    for (size_t i = 0; i < d->n && r == 0; i++) {
        if (i) item_sep(b, o);
        if (o->indent) newline(b, o, level + 1);
        r = dump_key(b, d->keys[order[i]], o, err, errlen);
        if (r == 0) {
            key_sep(b, o);
            r = dump(b, d->vals[order[i]], o, level + 1, err, errlen);
        }
    }
    free(order);
    if (r != 0) return -1;
    if (o->indent) newline(b, o, level);
    ct_buf_puts(b, "}");
    return 0;
}

static int dump(ct_buf *b, ct_value v, const ct_json_opts *o, int level, char *err, size_t errlen) {
    switch (v.kind) {
    case CT_NONE: ct_buf_puts(b, "null"); return 0;
    case CT_BOOL: ct_buf_puts(b, v.u.b ? "true" : "false"); return 0;
    case CT_INT: ct_buf_printf(b, "%lld", (long long)v.u.i); return 0;
    case CT_FLOAT: dump_float(b, v.u.f); return 0;
    case CT_STR: dump_string(b, v.u.s.p, v.u.s.n, o->ensure_ascii); return 0;
    case CT_DICT: return dump_dict(b, v.u.d, o, level, err, errlen);
    case CT_LIST:
        if (v.u.l->view > CT_VIEW_TUPLE) break;
        if (v.u.l->n == 0) {
            ct_buf_puts(b, "[]");
            return 0;
        }
        ct_buf_puts(b, "[");
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) item_sep(b, o);
            if (o->indent) newline(b, o, level + 1);
            if (dump(b, v.u.l->items[i], o, level + 1, err, errlen) != 0) return -1;
        }
        if (o->indent) newline(b, o, level);
        ct_buf_puts(b, "]");
        return 0;
    default: break;
    }
    static const char *views[] = {"list", "tuple", "dict_keys", "dict_values", "dict_items"};
    const char *type = v.kind == CT_LIST ? views[v.u.l->view] : ct_type_name(v);
    snprintf(err, errlen, "Object of type %s is not JSON serializable", type);
    return -1;
}

int ct_json_dump(ct_buf *b, ct_value v, const ct_json_opts *o, char *err, size_t errlen) {
    return dump(b, v, o, 0, err, errlen);
}
