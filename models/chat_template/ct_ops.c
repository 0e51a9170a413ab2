/* Python operator semantics: bool is an int, / is true division, // and % floor toward -inf,
 * str and list support + and * by an int. Formulas for float // and % follow CPython's
 * float_divmod so that signs and zeros match. */
#include "models/chat_template/ct_ops.h"

#include <math.h>
#include <string.h>

static const char *op_symbol(int op) {
    static const char *sym[] = {"+", "-", "*", "/", "//", "%", "**"};
    return op >= CT_OP_ADD && op <= CT_OP_POW ? sym[op] : "?";
}

static bool is_intlike(ct_value v) { return v.kind == CT_INT || v.kind == CT_BOOL; }
static int64_t as_int(ct_value v) { return v.kind == CT_INT ? v.u.i : (int64_t)v.u.b; }
static double as_double(ct_value v) { return v.kind == CT_FLOAT ? v.u.f : (double)as_int(v); }

static int overflow(ct_ctx *c, const ct_node *at) {
    return ct_fail(c, at, "integer overflow: templates are limited to 64-bit integers");
}

static int repeat(ct_ctx *c, const ct_node *at, ct_value seq, int64_t times, ct_value *out) {
    if (times < 0) times = 0;
    if (seq.kind == CT_STR) {
        if (seq.u.s.n && (uint64_t)times > ((uint64_t)64 << 20) / seq.u.s.n)
            return ct_fail(c, at, "string repetition too large");
        size_t n = seq.u.s.n * (size_t)times;
        char *s = ct_alloc(c->arena, n + 1);
        if (!s) return ct_oom(c, at);
        for (int64_t k = 0; k < times; k++) memcpy(s + (size_t)k * seq.u.s.n, seq.u.s.p, seq.u.s.n);
        *out = ct_str(s, n);
        return 0;
    }
    if (seq.u.l->n && (uint64_t)times > ((uint64_t)1 << 22) / seq.u.l->n)
        return ct_fail(c, at, "list repetition too large");
    size_t n = seq.u.l->n * (size_t)times;
    ct_list *l = ct_list_new(c->arena, n, seq.u.l->view);
    if (!l) return ct_oom(c, at);
    for (size_t k = 0; k < n; k++) l->items[k] = seq.u.l->items[k % seq.u.l->n];
    *out = (ct_value){.kind = CT_LIST, .u.l = l};
    return 0;
}

static void float_divmod(double x, double y, double *div_out, double *mod_out) {
    double mod = fmod(x, y), div = (x - mod) / y;
    if (mod != 0.0) {
        if ((y < 0) != (mod < 0)) {
            mod += y;
            div -= 1.0;
        }
    } else {
        mod = copysign(0.0, y);
    }
    double floordiv;
    if (div != 0.0) {
        floordiv = floor(div);
        if (div - floordiv > 0.5) floordiv += 1.0;
    } else {
        floordiv = copysign(0.0, x / y);
    }
    *div_out = floordiv;
    *mod_out = mod;
}

static int int_pow(ct_ctx *c, const ct_node *at, int64_t base, int64_t exp, ct_value *out) {
    int64_t result = 1;
    while (exp > 0) {
        if (exp & 1 && __builtin_mul_overflow(result, base, &result)) return overflow(c, at);
        exp >>= 1;
        if (exp && __builtin_mul_overflow(base, base, &base)) return overflow(c, at);
    }
    *out = ct_int(result);
    return 0;
}

static int arith(ct_ctx *c, const ct_node *at, int op, ct_value a, ct_value b, ct_value *out) {
    if (is_intlike(a) && is_intlike(b)) {
        int64_t x = as_int(a), y = as_int(b), r;
        switch (op) {
        case CT_OP_ADD:
            if (__builtin_add_overflow(x, y, &r)) return overflow(c, at);
            *out = ct_int(r);
            return 0;
        case CT_OP_SUB:
            if (__builtin_sub_overflow(x, y, &r)) return overflow(c, at);
            *out = ct_int(r);
            return 0;
        case CT_OP_MUL:
            if (__builtin_mul_overflow(x, y, &r)) return overflow(c, at);
            *out = ct_int(r);
            return 0;
        case CT_OP_DIV:
            if (y == 0) return ct_fail(c, at, "division by zero");
            *out = ct_float((double)x / (double)y);
            return 0;
        case CT_OP_FLOORDIV:
        case CT_OP_MOD: {
            if (y == 0) return ct_fail(c, at, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) return overflow(c, at);
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q -= 1;
                m += y;
            }
            *out = ct_int(op == CT_OP_MOD ? m : q);
            return 0;
        }
        case CT_OP_POW:
            if (y >= 0) return int_pow(c, at, x, y, out);
            if (x == 0) return ct_fail(c, at, "0.0 cannot be raised to a negative power");
            *out = ct_float(pow((double)x, (double)y));
            return 0;
        }
    }
    double x = as_double(a), y = as_double(b), d, m;
    switch (op) {
    case CT_OP_ADD: *out = ct_float(x + y); return 0;
    case CT_OP_SUB: *out = ct_float(x - y); return 0;
    case CT_OP_MUL: *out = ct_float(x * y); return 0;
    case CT_OP_DIV:
        if (y == 0.0) return ct_fail(c, at, "float division by zero");
        *out = ct_float(x / y);
        return 0;
    case CT_OP_FLOORDIV:
    case CT_OP_MOD:
        if (y == 0.0) return ct_fail(c, at, "float modulo or floor division by zero");
        float_divmod(x, y, &d, &m);
        *out = ct_float(op == CT_OP_MOD ? m : d);
        return 0;
    case CT_OP_POW:
        if (x == 0.0 && y < 0) return ct_fail(c, at, "0.0 cannot be raised to a negative power");
        if (x < 0 && y != floor(y)) return ct_fail(c, at, "negative number raised to a fractional power (complex result)");
        *out = ct_float(pow(x, y));
        return 0;
    }
    return ct_fail(c, at, "unknown operator");
}

/* markupsafe.escape of a plain string, in place. */
static int markup_escape(ct_ctx *c, const ct_node *at, ct_value *v) {
    size_t n = 0;
    for (size_t i = 0; i < v->u.s.n; i++) {
        char ch = v->u.s.p[i];
        n += ch == '&' ? 5 : ch == '<' || ch == '>' ? 4 : ch == '\'' || ch == '"' ? 5 : 1;
    }
    char *s = ct_alloc(c->arena, n + 1), *w = s;
    if (!s) return ct_oom(c, at);
    for (size_t i = 0; i < v->u.s.n; i++) {
        char ch = v->u.s.p[i];
        const char *rep = ch == '&' ? "&amp;" : ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '\'' ? "&#39;"
                        : ch == '"' ? "&#34;" : NULL;
        if (rep) {
            memcpy(w, rep, strlen(rep));
            w += strlen(rep);
        } else {
            *w++ = ch;
        }
    }
    *v = ct_str(s, n);
    return 0;
}

int ct_op_binary(ct_ctx *c, const ct_node *at, int op, ct_value a, ct_value b, ct_value *out) {
    if (a.kind == CT_UNDEF) return ct_fail_undefined(c, at, a);
    if (b.kind == CT_UNDEF) return ct_fail_undefined(c, at, b);
    if (ct_is_number(a) && ct_is_number(b)) return arith(c, at, op, a, b, out);
    if (op == CT_OP_ADD && a.kind == CT_STR && b.kind == CT_STR) {
        if (a.markup != b.markup && markup_escape(c, at, a.markup ? &b : &a) != 0) return -1;
        char *s = ct_alloc(c->arena, a.u.s.n + b.u.s.n + 1);
        if (!s) return ct_oom(c, at);
        memcpy(s, a.u.s.p, a.u.s.n);
        memcpy(s + a.u.s.n, b.u.s.p, b.u.s.n);
        *out = ct_str(s, a.u.s.n + b.u.s.n);
        out->markup = a.markup || b.markup;
        return 0;
    }
    if (op == CT_OP_ADD && a.kind == CT_LIST && b.kind == CT_LIST &&
        (a.u.l->view == CT_VIEW_TUPLE) == (b.u.l->view == CT_VIEW_TUPLE) && a.u.l->view <= CT_VIEW_TUPLE &&
        b.u.l->view <= CT_VIEW_TUPLE) {
        ct_list *l = ct_list_new(c->arena, a.u.l->n + b.u.l->n, a.u.l->view);
        if (!l) return ct_oom(c, at);
        memcpy(l->items, a.u.l->items, a.u.l->n * sizeof(ct_value));
        memcpy(l->items + a.u.l->n, b.u.l->items, b.u.l->n * sizeof(ct_value));
        *out = (ct_value){.kind = CT_LIST, .u.l = l};
        return 0;
    }
    if (op == CT_OP_MUL) {
        bool a_seq = a.kind == CT_STR || (a.kind == CT_LIST && a.u.l->view <= CT_VIEW_TUPLE);
        bool b_seq = b.kind == CT_STR || (b.kind == CT_LIST && b.u.l->view <= CT_VIEW_TUPLE);
        if (a_seq && is_intlike(b)) return repeat(c, at, a, as_int(b), out);
        if (b_seq && is_intlike(a)) return repeat(c, at, b, as_int(a), out);
    }
    if (op == CT_OP_MOD && a.kind == CT_STR)
        return ct_fail(c, at, "printf-style string formatting ('%%' on a string) is not supported");
    return ct_fail(c, at, "unsupported operand type(s) for %s: '%s' and '%s'", op_symbol(op), ct_type_name(a),
                   ct_type_name(b));
}

int ct_op_unary(ct_ctx *c, const ct_node *at, int op, ct_value v, ct_value *out) {
    if (v.kind == CT_UNDEF) return ct_fail_undefined(c, at, v);
    if (is_intlike(v)) {
        int64_t x = as_int(v);
        if (op == '-' && x == INT64_MIN) return overflow(c, at);
        *out = ct_int(op == '-' ? -x : x);
        return 0;
    }
    if (v.kind == CT_FLOAT) {
        *out = ct_float(op == '-' ? -v.u.f : v.u.f);
        return 0;
    }
    return ct_fail(c, at, "bad operand type for unary %c: '%s'", op, ct_type_name(v));
}

int ct_compare(ct_ctx *c, const ct_node *at, ct_value a, ct_value b, int *cmp) {
    if (a.kind == CT_UNDEF) return ct_fail_undefined(c, at, a);
    if (b.kind == CT_UNDEF) return ct_fail_undefined(c, at, b);
    if (ct_is_number(a) && ct_is_number(b)) {
        if (is_intlike(a) && is_intlike(b)) {
            int64_t x = as_int(a), y = as_int(b);
            *cmp = x < y ? -1 : x > y;
        } else {
            double x = as_double(a), y = as_double(b);
            *cmp = x < y ? -1 : x > y;
        }
        return 0;
    }
    if (a.kind == CT_STR && b.kind == CT_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int r = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
        *cmp = r < 0 ? -1 : r > 0 ? 1 : a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
        return 0;
    }
    if (a.kind == CT_LIST && b.kind == CT_LIST && a.u.l->view == b.u.l->view && a.u.l->view <= CT_VIEW_TUPLE) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t k = 0; k < n; k++) {
            if (ct_equal(a.u.l->items[k], b.u.l->items[k])) continue;
            return ct_compare(c, at, a.u.l->items[k], b.u.l->items[k], cmp);
        }
        *cmp = a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
        return 0;
    }
    return ct_fail(c, at, "'<' not supported between instances of '%s' and '%s'", ct_type_name(a), ct_type_name(b));
}

static int contains(ct_ctx *c, const ct_node *at, ct_value needle, ct_value hay, bool *out) {
    switch (hay.kind) {
    case CT_UNDEF: *out = false; return 0;
    case CT_STR:
        if (needle.kind != CT_STR)
            return ct_fail(c, at, "'in <string>' requires string as left operand, not %s", ct_type_name(needle));
        *out = needle.u.s.n == 0 || memmem(hay.u.s.p, hay.u.s.n, needle.u.s.p, needle.u.s.n) != NULL;
        return 0;
    case CT_LIST:
        *out = false;
        for (size_t k = 0; k < hay.u.l->n && !*out; k++) *out = ct_equal(needle, hay.u.l->items[k]);
        return 0;
    case CT_DICT: *out = ct_dict_get(hay.u.d, needle) != NULL; return 0;
    default: return ct_fail(c, at, "argument of type '%s' is not iterable", ct_type_name(hay));
    }
}

int ct_op_compare(ct_ctx *c, const ct_node *at, int op, ct_value a, ct_value b, bool *out) {
    int cmp;
    switch (op) {
    case CT_OP_EQ: *out = ct_equal(a, b); return 0;
    case CT_OP_NE: *out = !ct_equal(a, b); return 0;
    case CT_OP_IN: return contains(c, at, a, b, out);
    case CT_OP_NOTIN:
        if (contains(c, at, a, b, out) != 0) return -1;
        *out = !*out;
        return 0;
    default: break;
    }
    if (ct_compare(c, at, a, b, &cmp) != 0) return -1;
    *out = op == CT_OP_LT ? cmp < 0 : op == CT_OP_LE ? cmp <= 0 : op == CT_OP_GT ? cmp > 0 : cmp >= 0;
    return 0;
}
