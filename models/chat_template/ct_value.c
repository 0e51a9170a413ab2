/* Template values: arena, constructors, Python truthiness/equality, str()/repr(), UTF-8 helpers. */
#include "models/chat_template/ct_value.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

/* ---- arena ------------------------------------------------------------------------------------ */

typedef struct ct_chunk {
    struct ct_chunk *next;
    size_t used, cap;
    max_align_t data[];
} ct_chunk;

struct ct_arena {
    ct_chunk *head;
    size_t total, limit;
};

ct_arena *ct_arena_new(size_t limit_bytes) {
    ct_arena *a = calloc(1, sizeof *a);
    if (a) a->limit = limit_bytes;
    return a;
}

void ct_arena_free(ct_arena *a) {
    if (!a) return;
    for (ct_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

void *ct_alloc(ct_arena *a, size_t n) {
    const size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    if (n == 0) n = align;
    ct_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (a->total + cap > a->limit) return NULL;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
        a->total += cap;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

char *ct_strndup(ct_arena *a, const char *s, size_t n) {
    char *p = ct_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* ---- containers ------------------------------------------------------------------------------- */

ct_list *ct_list_new(ct_arena *a, size_t n, ct_view view) {
    ct_list *l = ct_alloc(a, sizeof *l);
    if (!l) return NULL;
    l->n = n;
    l->view = view;
    l->items = ct_alloc(a, (n ? n : 1) * sizeof(ct_value));
    if (!l->items) return NULL;
    for (size_t i = 0; i < n; i++) l->items[i] = ct_none();
    return l;
}

ct_dict *ct_dict_new(ct_arena *a, size_t cap) {
    ct_dict *d = ct_alloc(a, sizeof *d);
    if (!d) return NULL;
    d->n = 0;
    d->cap = cap ? cap : 4;
    d->keys = ct_alloc(a, d->cap * sizeof(ct_value));
    d->vals = ct_alloc(a, d->cap * sizeof(ct_value));
    return d->keys && d->vals ? d : NULL;
}

const ct_value *ct_dict_get_str(const ct_dict *d, const char *key, size_t n) {
    for (size_t i = 0; i < d->n; i++) {
        const ct_value *k = &d->keys[i];
        if (k->kind == CT_STR && k->u.s.n == n && memcmp(k->u.s.p, key, n) == 0) return &d->vals[i];
    }
    return NULL;
}

const ct_value *ct_dict_get(const ct_dict *d, ct_value key) {
    if (key.kind == CT_STR) return ct_dict_get_str(d, key.u.s.p, key.u.s.n);
    for (size_t i = 0; i < d->n; i++)
        if (ct_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

int ct_dict_set(ct_arena *a, ct_dict *d, ct_value key, ct_value val) {
    ct_value *slot = (ct_value *)ct_dict_get(d, key);
    if (slot) {
        *slot = val;
        return 0;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap * 2;
        ct_value *k = ct_alloc(a, cap * sizeof *k), *v = ct_alloc(a, cap * sizeof *v);
        if (!k || !v) return -1;
        memcpy(k, d->keys, d->n * sizeof *k);
        memcpy(v, d->vals, d->n * sizeof *v);
        d->keys = k;
        d->vals = v;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
    return 0;
}

int ct_from_json(ct_arena *a, const cJSON *j, ct_value *out) {
    if (cJSON_IsNull(j)) {
        *out = ct_none();
    } else if (cJSON_IsBool(j)) {
        *out = ct_bool(cJSON_IsTrue(j));
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9.2e18)
            *out = ct_int((int64_t)d);
        else
            *out = ct_float(d);
    } else if (cJSON_IsString(j)) {
        const char *s = j->valuestring ? j->valuestring : "";
        *out = ct_str(s, strlen(s));
    } else if (cJSON_IsArray(j)) {
        ct_list *l = ct_list_new(a, (size_t)cJSON_GetArraySize(j), CT_VIEW_LIST);
        if (!l) return -1;
        size_t i = 0;
        for (const cJSON *c = j->child; c; c = c->next)
            if (ct_from_json(a, c, &l->items[i++]) != 0) return -1;
        *out = (ct_value){.kind = CT_LIST, .u.l = l};
    } else if (cJSON_IsObject(j)) {
        ct_dict *d = ct_dict_new(a, (size_t)cJSON_GetArraySize(j));
        if (!d) return -1;
        for (const cJSON *c = j->child; c; c = c->next) {
            ct_value v;
            if (ct_from_json(a, c, &v) != 0) return -1;
            const char *k = c->string ? c->string : "";
            if (ct_dict_set(a, d, ct_str(k, strlen(k)), v) != 0) return -1;
        }
        *out = (ct_value){.kind = CT_DICT, .u.d = d};
    } else {
        return -1;
    }
    return 0;
}

/* ---- Python semantics ------------------------------------------------------------------------- */

bool ct_is_number(ct_value v) { return v.kind == CT_BOOL || v.kind == CT_INT || v.kind == CT_FLOAT; }

static double num_as_double(ct_value v) {
    return v.kind == CT_FLOAT ? v.u.f : v.kind == CT_INT ? (double)v.u.i : (double)v.u.b;
}

bool ct_truthy(ct_value v) {
    switch (v.kind) {
    case CT_UNDEF:
    case CT_NONE: return false;
    case CT_BOOL: return v.u.b;
    case CT_INT: return v.u.i != 0;
    case CT_FLOAT: return v.u.f != 0.0;
    case CT_STR: return v.u.s.n > 0;
    case CT_LIST: return v.u.l->n > 0;
    case CT_DICT: return v.u.d->n > 0;
    default: return true;
    }
}

bool ct_equal(ct_value a, ct_value b) {
    if (ct_is_number(a) && ct_is_number(b)) {
        if (a.kind != CT_FLOAT && b.kind != CT_FLOAT) {
            int64_t x = a.kind == CT_INT ? a.u.i : a.u.b, y = b.kind == CT_INT ? b.u.i : b.u.b;
            return x == y;
        }
        return num_as_double(a) == num_as_double(b);
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
    case CT_UNDEF:
    case CT_NONE: return true;
    case CT_STR: return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case CT_LIST: {
        bool at = a.u.l->view == CT_VIEW_TUPLE, bt = b.u.l->view == CT_VIEW_TUPLE;
        if (at != bt || a.u.l->n != b.u.l->n) return false;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!ct_equal(a.u.l->items[i], b.u.l->items[i])) return false;
        return true;
    }
    case CT_DICT: {
        if (a.u.d->n != b.u.d->n) return false;
        for (size_t i = 0; i < a.u.d->n; i++) {
            const ct_value *o = ct_dict_get(b.u.d, a.u.d->keys[i]);
            if (!o || !ct_equal(a.u.d->vals[i], *o)) return false;
        }
        return true;
    }
    case CT_NS: return a.u.d == b.u.d;
    case CT_FUNC: return a.u.fn == b.u.fn;
    case CT_LOOP: return a.u.loop == b.u.loop;
    default: return false;
    }
}

const char *ct_type_name(ct_value v) {
    switch (v.kind) {
    case CT_UNDEF: return "Undefined";
    case CT_NONE: return "NoneType";
    case CT_BOOL: return "bool";
    case CT_INT: return "int";
    case CT_FLOAT: return "float";
    case CT_STR: return "str";
    case CT_LIST: return v.u.l->view == CT_VIEW_TUPLE ? "tuple" : "list";
    case CT_DICT: return "dict";
    case CT_NS: return "Namespace";
    case CT_FUNC: return "function";
    case CT_LOOP: return "LoopContext";
    }
    return "object";
}

/* ---- output buffer ---------------------------------------------------------------------------- */

void ct_buf_put(ct_buf *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        if (b->limit && cap > b->limit) cap = b->n + n + 1;
        char *p = (b->limit && b->n + n > b->limit) ? NULL : realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void ct_buf_puts(ct_buf *b, const char *s) { ct_buf_put(b, s, strlen(s)); }

void ct_buf_printf(ct_buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) ct_buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void ct_buf_free(ct_buf *b) {
    free(b->p);
    *b = (ct_buf){0};
}

/* ---- str / repr ------------------------------------------------------------------------------- */

/* Python's float repr: the shortest digits that read back to the same double, in fixed notation
 * when the decimal point falls within (-4, 16], else in exponent notation. */
void ct_format_float(double f, char out[32]) {
    if (isnan(f)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(f)) {
        strcpy(out, f < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, f);
        if (strtod(e, NULL) == f) break;
    }
    char *p = e, digits[24];
    size_t nd = 0;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int decpt = atoi(p + 1) + 1;
    char *o = out;
    if (neg) *o++ = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            o += sprintf(o, "0.");
            for (int i = 0; i < -decpt; i++) *o++ = '0';
            o += sprintf(o, "%s", digits);
        } else if ((size_t)decpt >= nd) {
            o += sprintf(o, "%s", digits);
            for (size_t i = nd; i < (size_t)decpt; i++) *o++ = '0';
            o += sprintf(o, ".0");
        } else {
            memcpy(o, digits, (size_t)decpt);
            o += decpt;
            o += sprintf(o, ".%s", digits + decpt);
        }
    } else {
        *o++ = digits[0];
        if (nd > 1) o += sprintf(o, ".%s", digits + 1);
        int x = decpt - 1;
        o += sprintf(o, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    }
    *o = 0;
}

static bool py_printable(int32_t cp) {
    if (cp < 0) return true; /* an invalid byte is copied as is */
    if (cp < 0x80) return cp >= 0x20 && cp < 0x7f;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS: return false;
    default: return true;
    }
}

static void repr_str(ct_buf *b, const char *s, size_t n) {
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    ct_buf_put(b, &q, 1);
    for (size_t i = 0; i < n;) {
        int32_t cp;
        size_t k = ct_utf8_decode(s + i, n - i, &cp);
        if (cp == q || cp == '\\') {
            char esc[2] = {'\\', (char)cp};
            ct_buf_put(b, esc, 2);
        } else if (cp == '\t') {
            ct_buf_puts(b, "\\t");
        } else if (cp == '\n') {
            ct_buf_puts(b, "\\n");
        } else if (cp == '\r') {
            ct_buf_puts(b, "\\r");
        } else if (py_printable(cp)) {
            ct_buf_put(b, s + i, k);
        } else if (cp <= 0xff) {
            ct_buf_printf(b, "\\x%02x", (unsigned)cp);
        } else if (cp <= 0xffff) {
            ct_buf_printf(b, "\\u%04x", (unsigned)cp);
        } else {
            ct_buf_printf(b, "\\U%08x", (unsigned)cp);
        }
        i += k;
    }
    ct_buf_put(b, &q, 1);
}

static int write_any(ct_buf *b, ct_value v, bool repr, char *err, size_t errlen) {
    char num[32];
    switch (v.kind) {
    case CT_UNDEF: ct_buf_puts(b, repr ? "Undefined" : ""); return 0;
    case CT_NONE: ct_buf_puts(b, "None"); return 0;
    case CT_BOOL: ct_buf_puts(b, v.u.b ? "True" : "False"); return 0;
    case CT_INT: ct_buf_printf(b, "%lld", (long long)v.u.i); return 0;
    case CT_FLOAT: ct_format_float(v.u.f, num); ct_buf_puts(b, num); return 0;
    case CT_STR:
        if (repr)
            repr_str(b, v.u.s.p, v.u.s.n);
        else
            ct_buf_put(b, v.u.s.p, v.u.s.n);
        return 0;
    case CT_LIST: {
        static const char *open[] = {"[", "(", "dict_keys([", "dict_values([", "dict_items(["};
        static const char *close[] = {"]", ")", "])", "])", "])"};
        const ct_list *l = v.u.l;
        ct_buf_puts(b, open[l->view]);
        for (size_t i = 0; i < l->n; i++) {
            if (i) ct_buf_puts(b, ", ");
            if (write_any(b, l->items[i], true, err, errlen) != 0) return -1;
        }
        if (l->view == CT_VIEW_TUPLE && l->n == 1) ct_buf_puts(b, ",");
        ct_buf_puts(b, close[l->view]);
        return 0;
    }
    case CT_NS:
    case CT_DICT: {
        const ct_dict *d = v.u.d;
        ct_buf_puts(b, v.kind == CT_NS ? "<Namespace {" : "{");
        for (size_t i = 0; i < d->n; i++) {
            if (i) ct_buf_puts(b, ", ");
            if (write_any(b, d->keys[i], true, err, errlen) != 0) return -1;
            ct_buf_puts(b, ": ");
            if (write_any(b, d->vals[i], true, err, errlen) != 0) return -1;
        }
        ct_buf_puts(b, v.kind == CT_NS ? "}>" : "}");
        return 0;
    }
    case CT_FUNC:
        snprintf(err, errlen, "cannot print the function '%s' (Python would print its address)", v.u.fn->name);
        return -1;
    case CT_LOOP: snprintf(err, errlen, "cannot print the loop object"); return -1;
    }
    return -1;
}

int ct_write_str(ct_buf *b, ct_value v, char *err, size_t errlen) { return write_any(b, v, false, err, errlen); }
int ct_write_repr(ct_buf *b, ct_value v, char *err, size_t errlen) { return write_any(b, v, true, err, errlen); }

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

size_t ct_utf8_decode(const char *s, size_t n, int32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate(u, (utf8proc_ssize_t)(n > 4 ? 4 : n), &c);
    if (k <= 0) {
        *cp = -1;
        return 1;
    }
    *cp = c;
    return (size_t)k;
}

size_t ct_utf8_encode(int32_t cp, char out[4]) {
    return (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out);
}

size_t ct_utf8_len(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; count++) {
        int32_t cp;
        i += ct_utf8_decode(s + i, n - i, &cp);
    }
    return count;
}

bool ct_is_pyspace(int32_t cp) {
    if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20);
    switch (cp) {
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000: return true;
    default: return cp >= 0x2000 && cp <= 0x200a;
    }
}
