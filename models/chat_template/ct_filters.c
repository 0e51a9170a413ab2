/* Filters and tests as jinja2/filters.py and jinja2/tests.py define them (3.1), with tojson
 * replaced by transformers' json.dumps wrapper. Filters that return generators in Jinja2
 * (reverse, unique, map, select, items) return lists here: identical when iterated, joined or
 * passed to |list, which is how templates use them. */
#include "models/chat_template/ct_filters.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/chat_template/ct_json.h"
#include "models/chat_template/ct_methods.h"
#include "models/chat_template/ct_ops.h"

static const char *const filter_names[] = {
    "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "indent", "int", "items", "join",
    "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round",
    "safe", "select", "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "unique", "upper", NULL};

static const char *const test_names[] = {
    "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string", "mapping",
    "iterable", "sequence", "callable", "odd", "even", "divisibleby", "eq", "equalto", "==", "ne", "!=", "lt",
    "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "lower", "upper", "escaped", NULL};

static bool in_list(const char *const *names, const char *name) {
    for (size_t k = 0; names[k]; k++)
        if (!strcmp(names[k], name)) return true;
    return false;
}

bool ct_filter_known(const char *name) { return in_list(filter_names, name); }
bool ct_test_known(const char *name) { return in_list(test_names, name); }

static ct_value list_value(ct_list *l) { return (ct_value){.kind = CT_LIST, .u.l = l}; }

/* ---- tests ------------------------------------------------------------------------------------ */

int ct_apply_test(ct_ctx *c, const ct_node *at, const char *name, ct_value v, const ct_args *a, bool *out) {
    ct_value arg = ct_undef(NULL);
    bool has = ct_arg(a, 0, NULL, &arg);
    ct_kind k = v.kind;
    if (!strcmp(name, "defined")) *out = k != CT_UNDEF;
    else if (!strcmp(name, "undefined")) *out = k == CT_UNDEF;
    else if (!strcmp(name, "none")) *out = k == CT_NONE;
    else if (!strcmp(name, "boolean")) *out = k == CT_BOOL;
    else if (!strcmp(name, "true")) *out = k == CT_BOOL && v.u.b;
    else if (!strcmp(name, "false")) *out = k == CT_BOOL && !v.u.b;
    else if (!strcmp(name, "integer")) *out = k == CT_INT;
    else if (!strcmp(name, "float")) *out = k == CT_FLOAT;
    else if (!strcmp(name, "number")) *out = ct_is_number(v);
    else if (!strcmp(name, "string")) *out = k == CT_STR;
    else if (!strcmp(name, "mapping")) *out = k == CT_DICT;
    else if (!strcmp(name, "iterable")) *out = k == CT_UNDEF || k == CT_STR || k == CT_LIST || k == CT_DICT || k == CT_LOOP;
    else if (!strcmp(name, "sequence")) *out = k == CT_UNDEF || k == CT_STR || k == CT_LIST || k == CT_DICT;
    else if (!strcmp(name, "callable")) *out = k == CT_FUNC || k == CT_UNDEF;
    else if (!strcmp(name, "escaped")) *out = false;
    else if (!strcmp(name, "odd") || !strcmp(name, "even") || !strcmp(name, "divisibleby")) {
        ct_value r;
        ct_value d = name[0] == 'd' ? arg : ct_int(2);
        if (name[0] == 'd' && !has) return ct_fail(c, at, "divisibleby needs an argument");
        if (ct_op_binary(c, at, CT_OP_MOD, v, d, &r) != 0) return -1;
        bool zero = !ct_truthy(r);
        *out = name[0] == 'o' ? !zero : zero;
    } else if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        ct_value s, r;
        ct_value self_args[1];
        ct_args none = {.n = 0, .v = self_args};
        ct_func fn = {.name = name[0] == 'l' ? "islower" : "isupper"};
        if (ct_to_str(c, at, v, &s) != 0) return -1;
        fn.self = s;
        if (ct_call_builtin(c, at, &fn, &none, &r) != 0) return -1;
        *out = r.u.b;
    } else {
        static const char *const ops[] = {"eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=",
                                          "gt", "greaterthan", ">", "ge", ">=", "in", NULL};
        static const int codes[] = {CT_OP_EQ, CT_OP_EQ, CT_OP_EQ, CT_OP_NE, CT_OP_NE, CT_OP_LT, CT_OP_LT, CT_OP_LT,
                                    CT_OP_LE, CT_OP_LE, CT_OP_GT, CT_OP_GT, CT_OP_GT, CT_OP_GE, CT_OP_GE, CT_OP_IN};
        for (size_t i = 0; ops[i]; i++)
            if (!strcmp(ops[i], name)) {
                if (!has) return ct_fail(c, at, "test '%s' needs an argument", name);
                return ct_op_compare(c, at, codes[i], v, arg, out);
            }
        return ct_fail(c, at, "no test named '%s'", name);
    }
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

/* Jinja's make_attrgetter: dotted path, integer parts index, each step an environment getitem. */
static int get_path(ct_ctx *c, const ct_node *at, ct_value obj, ct_value path, ct_value *out) {
    if (path.kind == CT_INT) return ct_getitem(c, at, obj, path, out);
    if (path.kind != CT_STR) return ct_fail(c, at, "attribute must be a str or int");
    const char *p = path.u.s.p, *end = p + path.u.s.n;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *stop = dot ? dot : end;
        ct_value key = ct_str(p, (size_t)(stop - p));
        bool digits = stop > p;
        for (const char *q = p; q < stop; q++)
            if (*q < '0' || *q > '9') digits = false;
        if (digits && stop - p < 18) key = ct_int(strtoll(p, NULL, 10));
        if (ct_getitem(c, at, obj, key, &obj) != 0) return -1;
        if (!dot) break;
        p = dot + 1;
    }
    *out = obj;
    return 0;
}

static int new_str(ct_ctx *c, const ct_node *at, ct_buf *b, ct_value *out) {
    char *s = ct_strndup(c->arena, b->p ? b->p : "", b->n);
    size_t n = b->n;
    bool oom = b->oom;
    ct_buf_free(b);
    if (!s || oom) return ct_oom(c, at);
    *out = ct_str(s, n);
    return 0;
}

static int f_length(ct_ctx *c, const ct_node *at, ct_value v, ct_value *out) {
    switch (v.kind) {
    case CT_UNDEF: *out = ct_int(0); return 0;
    case CT_STR: *out = ct_int((int64_t)ct_utf8_len(v.u.s.p, v.u.s.n)); return 0;
    case CT_LIST: *out = ct_int((int64_t)v.u.l->n); return 0;
    case CT_DICT: *out = ct_int((int64_t)v.u.d->n); return 0;
    case CT_LOOP: *out = ct_int((int64_t)v.u.loop->length); return 0;
    default: return ct_fail(c, at, "object of type '%s' has no len()", ct_type_name(v));
    }
}

static int f_tojson(ct_ctx *c, const ct_node *at, ct_value v, const ct_args *a, ct_value *out) {
    static const char *const names[] = {"ensure_ascii", "indent", "separators", "sort_keys", NULL};
    if (ct_args_check(c, at, "tojson", a, 4, names) != 0) return -1;
    ct_value ea = ct_bool(false), ind = ct_none(), seps = ct_none(), sk = ct_bool(false);
    ct_arg(a, 0, "ensure_ascii", &ea);
    ct_arg(a, 1, "indent", &ind);
    ct_arg(a, 2, "separators", &seps);
    ct_arg(a, 3, "sort_keys", &sk);
    ct_json_opts o = {.ensure_ascii = ct_truthy(ea), .sort_keys = ct_truthy(sk)};
    if (ind.kind == CT_INT || ind.kind == CT_BOOL) {
        int64_t n = ind.kind == CT_INT ? ind.u.i : ind.u.b;
        if (n > 64) return ct_fail(c, at, "tojson: indent larger than 64 is not supported");
        char *sp = ct_alloc(c->arena, 65);
        if (!sp) return ct_oom(c, at);
        size_t len = n > 0 ? (size_t)n : 0;
        memset(sp, ' ', len);
        o.indent = sp;
        o.indent_len = len;
    } else if (ind.kind == CT_STR) {
        o.indent = ind.u.s.p;
        o.indent_len = ind.u.s.n;
    } else if (ind.kind != CT_NONE) {
        return ct_fail(c, at, "tojson: indent must be an int, a str or None");
    }
    if (seps.kind != CT_NONE) {
        if (seps.kind != CT_LIST || seps.u.l->n != 2 || seps.u.l->items[0].kind != CT_STR ||
            seps.u.l->items[1].kind != CT_STR)
            return ct_fail(c, at, "tojson: separators must be a pair of strings");
        o.item_sep = seps.u.l->items[0].u.s.p;
        o.item_sep_len = seps.u.l->items[0].u.s.n;
        o.key_sep = seps.u.l->items[1].u.s.p;
        o.key_sep_len = seps.u.l->items[1].u.s.n;
    }
    ct_buf b = {.limit = 64u << 20};
    char msg[200];
    if (ct_json_dump(&b, v, &o, msg, sizeof msg) != 0) {
        ct_buf_free(&b);
        return ct_fail(c, at, "tojson: %s", msg);
    }
    return new_str(c, at, &b, out);
}

static int f_join(ct_ctx *c, const ct_node *at, ct_value v, const ct_args *a, ct_value *out) {
    static const char *const names[] = {"d", "attribute", NULL};
    ct_value sep = ct_str("", 0), attr = ct_none();
    ct_list *l;
    if (ct_args_check(c, at, "join", a, 2, names) != 0 || ct_iterate(c, at, v, &l) != 0) return -1;
    ct_arg(a, 0, "d", &sep);
    ct_arg(a, 1, "attribute", &attr);
    if (ct_to_str(c, at, sep, &sep) != 0) return -1;
    ct_buf b = {.limit = 64u << 20};
    char msg[160];
    for (size_t k = 0; k < l->n; k++) {
        ct_value item = l->items[k];
        if (attr.kind != CT_NONE && get_path(c, at, item, attr, &item) != 0) {
            ct_buf_free(&b);
            return -1;
        }
        if (k) ct_buf_put(&b, sep.u.s.p, sep.u.s.n);
        if (ct_write_str(&b, item, msg, sizeof msg) != 0) {
            ct_buf_free(&b);
            return ct_fail(c, at, "%s", msg);
        }
    }
    return new_str(c, at, &b, out);
}

/* Sort key for sort/unique/min/max/dictsort: lowercased strings unless case_sensitive. */
static int sort_key(ct_ctx *c, const ct_node *at, ct_value v, ct_value attr, bool case_sensitive, ct_value *out) {
    if (attr.kind != CT_NONE && get_path(c, at, v, attr, &v) != 0) return -1;
    if (!case_sensitive && v.kind == CT_STR) return ct_str_case(c, at, v, 'l', out);
    *out = v;
    return 0;
}

/* Stable merge sort of items by keys (Python's sorted is stable). */
static int sort_items(ct_ctx *c, const ct_node *at, ct_value *items, ct_value *keys, size_t n, bool reverse) {
    if (n < 2) return 0;
    size_t h = n / 2;
    if (sort_items(c, at, items, keys, h, reverse) != 0 || sort_items(c, at, items + h, keys + h, n - h, reverse) != 0)
        return -1;
    ct_value *ti = ct_alloc(c->arena, n * sizeof *ti), *tk = ct_alloc(c->arena, n * sizeof *tk);
    if (!ti || !tk) return ct_oom(c, at);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n) {
        int cmp;
        if (ct_compare(c, at, keys[j], keys[i], &cmp) != 0) return -1;
        bool take_right = reverse ? cmp > 0 : cmp < 0;
        if (take_right) {
            ti[o] = items[j];
            tk[o++] = keys[j++];
        } else {
            ti[o] = items[i];
            tk[o++] = keys[i++];
        }
    }
    while (i < h) {
        ti[o] = items[i];
        tk[o++] = keys[i++];
    }
    while (j < n) {
        ti[o] = items[j];
        tk[o++] = keys[j++];
    }
    memcpy(items, ti, n * sizeof *ti);
    memcpy(keys, tk, n * sizeof *tk);
    return 0;
}

static int f_sort(ct_ctx *c, const ct_node *at, const char *name, ct_value v, const ct_args *a, ct_value *out) {
    static const char *const sort_names[] = {"reverse", "case_sensitive", "attribute", NULL};
    static const char *const other_names[] = {"case_sensitive", "attribute", NULL};
    bool is_sort = !strcmp(name, "sort");
    if (ct_args_check(c, at, name, a, is_sort ? 3 : 2, is_sort ? sort_names : other_names) != 0) return -1;
    ct_value rev = ct_bool(false), cs = ct_bool(false), attr = ct_none();
    size_t base = is_sort ? 1 : 0;
    if (is_sort) ct_arg(a, 0, "reverse", &rev);
    ct_arg(a, base, "case_sensitive", &cs);
    ct_arg(a, base + 1, "attribute", &attr);
    ct_list *l;
    if (ct_iterate(c, at, v, &l) != 0) return -1;
    ct_list *r = ct_list_new(c->arena, l->n, CT_VIEW_LIST);
    ct_value *keys = ct_alloc(c->arena, (l->n + 1) * sizeof *keys);
    if (!r || !keys) return ct_oom(c, at);
    for (size_t k = 0; k < l->n; k++) {
        r->items[k] = l->items[k];
        if (sort_key(c, at, l->items[k], attr, ct_truthy(cs), &keys[k]) != 0) return -1;
    }
    if (!strcmp(name, "unique")) {
        size_t n = 0;
        for (size_t k = 0; k < l->n; k++) {
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++) seen = ct_equal(keys[j], keys[k]);
            if (!seen) {
                keys[n] = keys[k];
                r->items[n++] = l->items[k];
            }
        }
        r->n = n;
        *out = list_value(r);
        return 0;
    }
    if (sort_items(c, at, r->items, keys, r->n, ct_truthy(rev)) != 0) return -1;
    if (is_sort) {
        *out = list_value(r);
    } else if (r->n == 0) {
        *out = ct_undef(name[1] == 'a' ? "No largest item, sequence was empty." : "No smallest item, sequence was empty.");
    } else {
        /* max: the first of the equal largest keys, as Python's max() keeps the first */
        size_t pick = 0;
        if (!strcmp(name, "max")) {
            pick = r->n - 1;
            while (pick > 0 && ct_equal(keys[pick - 1], keys[r->n - 1])) pick--;
        }
        *out = r->items[pick];
    }
    return 0;
}

static int f_select(ct_ctx *c, const ct_node *at, const char *name, ct_value v, const ct_args *a, ct_value *out) {
    bool by_attr = strstr(name, "attr") != NULL, keep = name[0] == 's';
    ct_list *l;
    if (a->nkw) return ct_fail(c, at, "%s() takes no keyword arguments", name);
    if (ct_iterate(c, at, v, &l) != 0) return -1;
    size_t first_test = by_attr ? 1 : 0;
    if (by_attr && a->n < 1) return ct_fail(c, at, "%s() needs an attribute name", name);
    const char *test = NULL;
    if (a->n > first_test) {
        if (a->v[first_test].kind != CT_STR) return ct_fail(c, at, "%s(): the test name must be a string", name);
        char *t = ct_strndup(c->arena, a->v[first_test].u.s.p, a->v[first_test].u.s.n);
        if (!t) return ct_oom(c, at);
        if (!ct_test_known(t)) return ct_fail(c, at, "no test named '%s'", t);
        test = t;
    }
    size_t extra = a->n > first_test + 1 ? a->n - first_test - 1 : 0;
    ct_args targs = {.n = extra, .v = a->v + (a->n > first_test + 1 ? first_test + 1 : 0)};
    ct_list *r = ct_list_new(c->arena, l->n, CT_VIEW_LIST);
    if (!r) return ct_oom(c, at);
    r->n = 0;
    for (size_t k = 0; k < l->n; k++) {
        ct_value x = l->items[k];
        bool ok;
        if (by_attr && get_path(c, at, x, a->v[0], &x) != 0) return -1;
        if (test) {
            if (ct_apply_test(c, at, test, x, &targs, &ok) != 0) return -1;
        } else {
            ok = ct_truthy(x);
        }
        if (ok == keep) r->items[r->n++] = l->items[k];
    }
    *out = list_value(r);
    return 0;
}

static int f_map(ct_ctx *c, const ct_node *at, ct_value v, const ct_args *a, ct_value *out) {
    ct_list *l;
    if (ct_iterate(c, at, v, &l) != 0) return -1;
    ct_list *r = ct_list_new(c->arena, l->n, CT_VIEW_LIST);
    if (!r) return ct_oom(c, at);
    ct_value attr, def = ct_none();
    bool by_attr = a->n == 0 && ct_arg(a, (size_t)-1, "attribute", &attr);
    bool has_def = ct_arg(a, (size_t)-1, "default", &def);
    if (!by_attr && (a->n == 0 || a->v[0].kind != CT_STR)) return ct_fail(c, at, "map() needs a filter name or attribute=");
    char *filter = NULL;
    if (!by_attr) {
        filter = ct_strndup(c->arena, a->v[0].u.s.p, a->v[0].u.s.n);
        if (!filter) return ct_oom(c, at);
        if (!ct_filter_known(filter)) return ct_fail(c, at, "no filter named '%s'", filter);
    }
    ct_args fargs = {.n = a->n ? a->n - 1 : 0, .v = a->v + (a->n ? 1 : 0), .nkw = a->nkw, .kwn = a->kwn, .kwv = a->kwv};
    for (size_t k = 0; k < l->n; k++) {
        if (by_attr) {
            if (get_path(c, at, l->items[k], attr, &r->items[k]) != 0) return -1;
            if (has_def && r->items[k].kind == CT_UNDEF) r->items[k] = def;
        } else if (ct_apply_filter(c, at, filter, l->items[k], &fargs, &r->items[k]) != 0) {
            return -1;
        }
    }
    *out = list_value(r);
    return 0;
}

static int f_number(ct_ctx *c, const ct_node *at, bool to_int, ct_value v, const ct_args *a, ct_value *out) {
    ct_value def = to_int ? ct_int(0) : ct_float(0.0);
    ct_arg(a, 0, "default", &def);
    double d;
    if (v.kind == CT_INT || v.kind == CT_BOOL) {
        int64_t i = v.kind == CT_INT ? v.u.i : v.u.b;
        *out = to_int ? ct_int(i) : ct_float((double)i);
        return 0;
    }
    if (v.kind == CT_FLOAT) {
        d = v.u.f;
    } else if (v.kind == CT_STR) {
        ct_value t;
        ct_str_strip(c, at, v, NULL, true, true, &t);
        char buf[64];
        char *end = NULL;
        if (t.u.s.n == 0 || t.u.s.n >= sizeof buf) {
            *out = def;
            return 0;
        }
        memcpy(buf, t.u.s.p, t.u.s.n);
        buf[t.u.s.n] = 0;
        if (to_int) {
            long long i = strtoll(buf, &end, 10);
            if (*end == 0) {
                *out = ct_int(i);
                return 0;
            }
        }
        d = strtod(buf, &end);
        if (*end != 0) {
            *out = def;
            return 0;
        }
    } else {
        *out = def;
        return 0;
    }
    if (!to_int) {
        *out = ct_float(d);
        return 0;
    }
    if (!isfinite(d) || fabs(d) >= 9.2e18) return ct_fail(c, at, "cannot convert float %g to integer", d);
    *out = ct_int((int64_t)d);
    return 0;
}

static int f_round(ct_ctx *c, const ct_node *at, ct_value v, const ct_args *a, ct_value *out) {
    static const char *const names[] = {"precision", "method", NULL};
    ct_value prec = ct_int(0), method = ct_str("common", 6);
    if (ct_args_check(c, at, "round", a, 2, names) != 0) return -1;
    ct_arg(a, 0, "precision", &prec);
    ct_arg(a, 1, "method", &method);
    if (prec.kind != CT_INT || prec.u.i < 0 || prec.u.i > 30) return ct_fail(c, at, "round(): precision must be an int in 0..30");
    if (!ct_is_number(v)) return ct_fail(c, at, "type %s doesn't define __round__ method", ct_type_name(v));
    bool common = method.kind == CT_STR && method.u.s.n == 6 && !memcmp(method.u.s.p, "common", 6);
    bool ceil_ = method.kind == CT_STR && method.u.s.n == 4 && !memcmp(method.u.s.p, "ceil", 4);
    bool floor_ = method.kind == CT_STR && method.u.s.n == 5 && !memcmp(method.u.s.p, "floor", 5);
    if (!common && !ceil_ && !floor_) return ct_fail(c, at, "method must be common, ceil or floor");
    if (common && v.kind != CT_FLOAT) {
        *out = ct_int(v.kind == CT_INT ? v.u.i : v.u.b);
        return 0;
    }
    double x = v.kind == CT_FLOAT ? v.u.f : (double)(v.kind == CT_INT ? v.u.i : v.u.b);
    if (common) {
        /* printf rounds the exact binary value half-to-even, which is what Python's round() does */
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)prec.u.i, x);
        *out = ct_float(strtod(buf, NULL));
        return 0;
    }
    double scale = pow(10.0, (double)prec.u.i);
    *out = ct_float((ceil_ ? ceil(x * scale) : floor(x * scale)) / scale);
    return 0;
}

static int f_indent(ct_ctx *c, const ct_node *at, ct_value v, const ct_args *a, ct_value *out) {
    static const char *const names[] = {"width", "first", "blank", NULL};
    ct_value width = ct_int(4), first = ct_bool(false), blank = ct_bool(false), s;
    if (ct_args_check(c, at, "indent", a, 3, names) != 0 || ct_to_str(c, at, v, &s) != 0) return -1;
    ct_arg(a, 0, "width", &width);
    ct_arg(a, 1, "first", &first);
    ct_arg(a, 2, "blank", &blank);
    ct_buf ind = {0}, b = {.limit = 64u << 20};
    if (width.kind == CT_STR) ct_buf_put(&ind, width.u.s.p, width.u.s.n);
    else if (width.kind == CT_INT && width.u.i >= 0 && width.u.i <= 256)
        for (int64_t k = 0; k < width.u.i; k++) ct_buf_put(&ind, " ", 1);
    else return ct_fail(c, at, "indent(): width must be a str or an int in 0..256");
    /* str.splitlines() of s + "\n" */
    const char *p = s.u.s.p, *end = p + s.u.s.n;
    size_t line = 0;
    if (ct_truthy(first)) ct_buf_put(&b, ind.p, ind.n);
    /* A trailing line break leaves an empty last line (the appended "\n" ends it), except a lone
     * "\r", which the "\n" joins into one break. */
    bool empty_last = s.u.s.n > 0 && !(end[-1] == '\r');
    while (p < end) {
        const char *q = p;
        size_t brk = 0;
        while (q < end) {
            int32_t cp;
            size_t k = ct_utf8_decode(q, (size_t)(end - q), &cp);
            if (cp == '\r' && q + 1 < end && q[1] == '\n') brk = 2;
            else if (cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || (cp >= 0x1c && cp <= 0x1e) ||
                     cp == 0x85 || cp == 0x2028 || cp == 0x2029) brk = k;
            if (brk) break;
            q += k;
        }
        if (line > 0) {
            ct_buf_put(&b, "\n", 1);
            if (q > p || ct_truthy(blank)) ct_buf_put(&b, ind.p, ind.n);
        }
        ct_buf_put(&b, p, (size_t)(q - p));
        line++;
        p = q + brk;
        if (!brk) {
            empty_last = false;
            break;
        }
    }
    if (empty_last && line > 0) {
        ct_buf_put(&b, "\n", 1);
        if (ct_truthy(blank)) ct_buf_put(&b, ind.p, ind.n);
    }
    ct_buf_free(&ind);
    return new_str(c, at, &b, out);
}

static int f_first_last(ct_ctx *c, const ct_node *at, bool last, ct_value v, ct_value *out) {
    ct_list *l;
    if (ct_iterate(c, at, v, &l) != 0) return -1;
    if (l->n == 0) *out = ct_undef(last ? "No last item, sequence was empty." : "No first item, sequence was empty.");
    else *out = l->items[last ? l->n - 1 : 0];
    return 0;
}

int ct_apply_filter(ct_ctx *c, const ct_node *at, const char *name, ct_value v, const ct_args *a, ct_value *out) {
    ct_value x, y, s;
    if (!strcmp(name, "tojson")) return f_tojson(c, at, v, a, out);
    if (!strcmp(name, "length") || !strcmp(name, "count")) return f_length(c, at, v, out);
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        static const char *const names[] = {"default_value", "boolean", NULL};
        x = ct_str("", 0);
        y = ct_bool(false);
        if (ct_args_check(c, at, name, a, 2, names) != 0) return -1;
        ct_arg(a, 0, "default_value", &x);
        ct_arg(a, 1, "boolean", &y);
        *out = v.kind == CT_UNDEF || (ct_truthy(y) && !ct_truthy(v)) ? x : v;
        return 0;
    }
    if (!strcmp(name, "trim")) {
        static const char *const names[] = {"chars", NULL};
        if (ct_args_check(c, at, name, a, 1, names) != 0 || ct_to_str(c, at, v, &s) != 0) return -1;
        bool has = ct_arg(a, 0, "chars", &x);
        return ct_str_strip(c, at, s, has ? &x : NULL, true, true, out);
    }
    if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "capitalize") || !strcmp(name, "title")) {
        if (ct_args_check(c, at, name, a, 0, NULL) != 0 || ct_to_str(c, at, v, &s) != 0) return -1;
        return ct_str_case(c, at, s, name[0] == 'u' ? 'u' : name[0] == 'l' ? 'l' : name[0] == 'c' ? 'c' : 'j', out);
    }
    if (!strcmp(name, "string")) return ct_to_str(c, at, v, out);
    if (!strcmp(name, "safe")) {
        if (ct_args_check(c, at, name, a, 0, NULL) != 0 || ct_to_str(c, at, v, out) != 0) return -1;
        out->markup = true;
        return 0;
    }
    if (!strcmp(name, "replace")) {
        static const char *const names[] = {"old", "new", "count", NULL};
        ct_value count = ct_none();
        if (ct_args_check(c, at, name, a, 3, names) != 0 || !ct_arg(a, 0, "old", &x) || !ct_arg(a, 1, "new", &y))
            return ct_fail(c, at, "replace() takes old and new strings");
        ct_arg(a, 2, "count", &count);
        if (count.kind != CT_NONE && count.kind != CT_INT) return ct_fail(c, at, "replace(): count must be an int");
        if (ct_to_str(c, at, v, &s) != 0 || ct_to_str(c, at, x, &x) != 0 || ct_to_str(c, at, y, &y) != 0) return -1;
        return ct_str_replace(c, at, s, x, y, count.kind == CT_INT ? count.u.i : -1, out);
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) return f_first_last(c, at, name[0] == 'l', v, out);
    if (!strcmp(name, "join")) return f_join(c, at, v, a, out);
    if (!strcmp(name, "list") || !strcmp(name, "reverse")) {
        ct_list *l;
        if (v.kind == CT_STR && name[0] == 'r') {
            if (ct_iterate(c, at, v, &l) != 0) return -1;
            ct_buf b = {0};
            for (size_t k = l->n; k-- > 0;) ct_buf_put(&b, l->items[k].u.s.p, l->items[k].u.s.n);
            return new_str(c, at, &b, out);
        }
        if (ct_iterate(c, at, v, &l) != 0) return -1;
        ct_list *r = ct_list_new(c->arena, l->n, CT_VIEW_LIST);
        if (!r) return ct_oom(c, at);
        for (size_t k = 0; k < l->n; k++) r->items[k] = l->items[name[0] == 'r' ? l->n - 1 - k : k];
        *out = list_value(r);
        return 0;
    }
    if (!strcmp(name, "items")) {
        if (v.kind == CT_UNDEF) {
            ct_list *l = ct_list_new(c->arena, 0, CT_VIEW_LIST);
            if (!l) return ct_oom(c, at);
            *out = list_value(l);
            return 0;
        }
        if (v.kind != CT_DICT) return ct_fail(c, at, "Can only get item pairs from a mapping.");
        ct_value items;
        ct_func fn = {.name = "items", .self = v};
        ct_args none = {.n = 0, .v = &v};
        if (ct_call_builtin(c, at, &fn, &none, &items) != 0) return -1;
        items.u.l->view = CT_VIEW_LIST;
        *out = items;
        return 0;
    }
    if (!strcmp(name, "dictsort")) {
        if (v.kind != CT_DICT) return ct_fail(c, at, "dictsort: value must be a dict");
        static const char *const names[] = {"case_sensitive", "by", "reverse", NULL};
        ct_value cs = ct_bool(false), by = ct_str("key", 3), rev = ct_bool(false);
        if (ct_args_check(c, at, name, a, 3, names) != 0) return -1;
        ct_arg(a, 0, "case_sensitive", &cs);
        ct_arg(a, 1, "by", &by);
        ct_arg(a, 2, "reverse", &rev);
        bool by_value = by.kind == CT_STR && by.u.s.n == 5 && !memcmp(by.u.s.p, "value", 5);
        ct_list *r = ct_list_new(c->arena, v.u.d->n, CT_VIEW_LIST);
        ct_value *keys = ct_alloc(c->arena, (v.u.d->n + 1) * sizeof *keys);
        if (!r || !keys) return ct_oom(c, at);
        for (size_t k = 0; k < v.u.d->n; k++) {
            ct_list *pair = ct_list_new(c->arena, 2, CT_VIEW_TUPLE);
            if (!pair) return ct_oom(c, at);
            pair->items[0] = v.u.d->keys[k];
            pair->items[1] = v.u.d->vals[k];
            r->items[k] = list_value(pair);
            if (sort_key(c, at, by_value ? v.u.d->vals[k] : v.u.d->keys[k], ct_none(), ct_truthy(cs), &keys[k]) != 0)
                return -1;
        }
        if (sort_items(c, at, r->items, keys, r->n, ct_truthy(rev)) != 0) return -1;
        *out = list_value(r);
        return 0;
    }
    if (!strcmp(name, "sort") || !strcmp(name, "unique") || !strcmp(name, "min") || !strcmp(name, "max"))
        return f_sort(c, at, name, v, a, out);
    bool lazy = !strcmp(name, "select") || !strcmp(name, "reject") || !strcmp(name, "selectattr") ||
                !strcmp(name, "rejectattr") || !strcmp(name, "map");
    if (lazy && !ct_truthy(v)) {
        /* Jinja2's generators start with `if value:`: on None, undefined or an empty value they
         * yield nothing and never look at their arguments. */
        ct_list *r = ct_list_new(c->arena, 0, CT_VIEW_LIST);
        if (!r) return ct_oom(c, at);
        *out = list_value(r);
        return 0;
    }
    if (lazy && name[0] != 'm') return f_select(c, at, name, v, a, out);
    if (lazy) return f_map(c, at, v, a, out);
    if (!strcmp(name, "int") || !strcmp(name, "float")) return f_number(c, at, name[0] == 'i', v, a, out);
    if (!strcmp(name, "abs")) {
        if (v.kind == CT_FLOAT) *out = ct_float(fabs(v.u.f));
        else if (v.kind == CT_INT || v.kind == CT_BOOL) {
            int64_t i = v.kind == CT_INT ? v.u.i : v.u.b;
            if (i == INT64_MIN) return ct_fail(c, at, "integer overflow in abs()");
            *out = ct_int(i < 0 ? -i : i);
        } else return ct_fail(c, at, "bad operand type for abs(): '%s'", ct_type_name(v));
        return 0;
    }
    if (!strcmp(name, "round")) return f_round(c, at, v, a, out);
    if (!strcmp(name, "indent")) return f_indent(c, at, v, a, out);
    if (!strcmp(name, "sum")) {
        static const char *const names[] = {"attribute", "start", NULL};
        ct_value attr = ct_none(), acc = ct_int(0);
        ct_list *l;
        if (ct_args_check(c, at, name, a, 2, names) != 0 || ct_iterate(c, at, v, &l) != 0) return -1;
        ct_arg(a, 0, "attribute", &attr);
        ct_arg(a, 1, "start", &acc);
        for (size_t k = 0; k < l->n; k++) {
            ct_value item = l->items[k];
            if (attr.kind != CT_NONE && get_path(c, at, item, attr, &item) != 0) return -1;
            if (ct_op_binary(c, at, CT_OP_ADD, acc, item, &acc) != 0) return -1;
        }
        *out = acc;
        return 0;
    }
    return ct_fail(c, at, "no filter named '%s'", name);
}
