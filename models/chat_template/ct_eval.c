/* Expression and statement evaluation with Jinja2's runtime semantics. Limits (steps, depth,
 * arena, output) keep a hostile template from hanging or exhausting a server thread. */
#include "models/chat_template/ct_eval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "models/chat_template/ct_filters.h"
#include "models/chat_template/ct_methods.h"
#include "models/chat_template/ct_ops.h"

enum { MAX_STEPS = 20 * 1000 * 1000, MAX_CALL_DEPTH = 200 };
enum { EX_OK = 0, EX_ERR = -1, EX_BREAK = 1, EX_CONTINUE = 2 };

int ct_fail(ct_ctx *c, const ct_node *at, const char *fmt, ...) {
    int k = at ? snprintf(c->err, c->errlen, "template line %d, column %d: ", at->line, at->col) : 0;
    if (k >= 0 && (size_t)k < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int ct_fail_undefined(ct_ctx *c, const ct_node *at, ct_value v) {
    if (v.u.s.p) return ct_fail(c, at, "%s", v.u.s.p);
    return ct_fail(c, at, "value is undefined");
}

int ct_oom(ct_ctx *c, const ct_node *at) { return ct_fail(c, at, "template used too much memory"); }

bool ct_arg(const ct_args *a, size_t pos, const char *name, ct_value *out) {
    if (pos < a->n) {
        *out = a->v[pos];
        return true;
    }
    for (size_t k = 0; name && k < a->nkw; k++)
        if (strcmp(a->kwn[k], name) == 0) {
            *out = a->kwv[k];
            return true;
        }
    return false;
}

int ct_args_check(ct_ctx *c, const ct_node *at, const char *fn, const ct_args *a, size_t max_pos,
                  const char *const *names) {
    if (a->n > max_pos) return ct_fail(c, at, "%s() takes at most %zu positional argument(s), got %zu", fn, max_pos, a->n);
    for (size_t k = 0; k < a->nkw; k++) {
        bool ok = false;
        for (size_t j = 0; names && names[j]; j++)
            if (strcmp(names[j], a->kwn[k]) == 0) ok = true;
        if (!ok) return ct_fail(c, at, "%s() got an unexpected keyword argument '%s'", fn, a->kwn[k]);
    }
    return 0;
}

static char *undef_msg(ct_ctx *c, const char *fmt, const char *a, const char *b) {
    char tmp[256];
    snprintf(tmp, sizeof tmp, fmt, a, b);
    return ct_strndup(c->arena, tmp, strlen(tmp));
}

/* ---- lookups ---------------------------------------------------------------------------------- */

int ct_iterate(ct_ctx *c, const ct_node *at, ct_value v, ct_list **out) {
    switch (v.kind) {
    case CT_UNDEF:
        *out = ct_list_new(c->arena, 0, CT_VIEW_LIST);
        break;
    case CT_LIST: *out = v.u.l; return 0;
    case CT_DICT: {
        ct_list *l = ct_list_new(c->arena, v.u.d->n, CT_VIEW_LIST);
        if (!l) return ct_oom(c, at);
        for (size_t i = 0; i < v.u.d->n; i++) l->items[i] = v.u.d->keys[i];
        *out = l;
        return 0;
    }
    case CT_STR: {
        ct_list *l = ct_list_new(c->arena, ct_utf8_len(v.u.s.p, v.u.s.n), CT_VIEW_LIST);
        if (!l) return ct_oom(c, at);
        size_t i = 0, k = 0;
        while (i < v.u.s.n) {
            int32_t cp;
            size_t len = ct_utf8_decode(v.u.s.p + i, v.u.s.n - i, &cp);
            l->items[k++] = ct_str(v.u.s.p + i, len);
            i += len;
        }
        *out = l;
        return 0;
    }
    default: return ct_fail(c, at, "'%s' object is not iterable", ct_type_name(v));
    }
    return *out ? 0 : ct_oom(c, at);
}

int ct_to_str(ct_ctx *c, const ct_node *at, ct_value v, ct_value *out) {
    if (v.kind == CT_STR) {
        *out = v;
        return 0;
    }
    ct_buf b = {0};
    char msg[160];
    if (ct_write_str(&b, v, msg, sizeof msg) != 0) {
        ct_buf_free(&b);
        return ct_fail(c, at, "%s", msg);
    }
    char *s = ct_strndup(c->arena, b.p ? b.p : "", b.n);
    size_t n = b.n;
    bool oom = b.oom;
    ct_buf_free(&b);
    if (!s || oom) return ct_oom(c, at);
    *out = ct_str(s, n);
    return 0;
}

static int loop_attr(ct_ctx *c, const ct_loop *l, const char *name, ct_value *out) {
    size_t i = l->index0, n = l->length;
    if (!strcmp(name, "index0")) *out = ct_int((int64_t)i);
    else if (!strcmp(name, "index")) *out = ct_int((int64_t)i + 1);
    else if (!strcmp(name, "revindex")) *out = ct_int((int64_t)(n - i));
    else if (!strcmp(name, "revindex0")) *out = ct_int((int64_t)(n - i - 1));
    else if (!strcmp(name, "first")) *out = ct_bool(i == 0);
    else if (!strcmp(name, "last")) *out = ct_bool(i + 1 == n);
    else if (!strcmp(name, "length")) *out = ct_int((int64_t)n);
    else if (!strcmp(name, "depth")) *out = ct_int(1);
    else if (!strcmp(name, "depth0")) *out = ct_int(0);
    else if (!strcmp(name, "previtem"))
        *out = i > 0 ? l->seq->items[i - 1] : ct_undef(undef_msg(c, "there is no previous item", "", ""));
    else if (!strcmp(name, "nextitem"))
        *out = i + 1 < n ? l->seq->items[i + 1] : ct_undef(undef_msg(c, "there is no next item", "", ""));
    else
        *out = ct_undef(undef_msg(c, "'LoopContext' object has no attribute '%s'%s", name, ""));
    return 0;
}

int ct_getattr(ct_ctx *c, const ct_node *at, ct_value obj, const char *name, size_t n, ct_value *out) {
    switch (obj.kind) {
    case CT_UNDEF: return ct_fail_undefined(c, at, obj);
    case CT_DICT:
        if (ct_method_lookup(c, obj, name, n, out)) return 0;
        {
            const ct_value *v = ct_dict_get_str(obj.u.d, name, n);
            *out = v ? *v : ct_undef(undef_msg(c, "'dict object' has no attribute '%s'%s", name, ""));
        }
        return 0;
    case CT_NS: {
        const ct_value *v = ct_dict_get_str(obj.u.d, name, n);
        *out = v ? *v : ct_undef(undef_msg(c, "'Namespace object' has no attribute '%s'%s", name, ""));
        return 0;
    }
    case CT_LOOP: return loop_attr(c, obj.u.loop, name, out);
    default:
        if (ct_method_lookup(c, obj, name, n, out)) return 0;
        *out = ct_undef(undef_msg(c, "'%s object' has no attribute '%s'", ct_type_name(obj), name));
        return 0;
    }
}

/* Python slice semantics (negative indices, clamping, negative steps) over n elements. */
static int slice_indices(ct_ctx *c, const ct_node *at, ct_value start, ct_value stop, ct_value step, int64_t n,
                         int64_t *pstart, int64_t *pstep, int64_t *count) {
    int64_t st = 1;
    if (step.kind == CT_INT || step.kind == CT_BOOL) st = step.kind == CT_INT ? step.u.i : step.u.b;
    else if (step.kind != CT_NONE) return ct_fail(c, at, "slice indices must be integers or None");
    if (st == 0) return ct_fail(c, at, "slice step cannot be zero");
    int64_t lo, hi;
    ct_value bounds[2] = {start, stop};
    int64_t res[2];
    for (int k = 0; k < 2; k++) {
        ct_value b = bounds[k];
        if (b.kind == CT_NONE) {
            res[k] = k == 0 ? (st > 0 ? 0 : n - 1) : (st > 0 ? n : -1);
            continue;
        }
        if (b.kind != CT_INT && b.kind != CT_BOOL) return ct_fail(c, at, "slice indices must be integers or None");
        int64_t x = b.kind == CT_INT ? b.u.i : b.u.b;
        if (x < 0) x += n;
        if (st > 0) x = x < 0 ? 0 : x > n ? n : x;
        else x = x < -1 ? -1 : x > n - 1 ? n - 1 : x;
        res[k] = x;
    }
    lo = res[0];
    hi = res[1];
    *pstart = lo;
    *pstep = st;
    if (st > 0) *count = hi > lo ? (hi - lo + st - 1) / st : 0;
    else *count = lo > hi ? (lo - hi + (-st) - 1) / (-st) : 0;
    return 0;
}

static int do_slice(ct_ctx *c, const ct_node *at, ct_value obj, ct_value start, ct_value stop, ct_value step,
                    ct_value *out) {
    if (obj.kind == CT_UNDEF) return ct_fail_undefined(c, at, obj);
    if (obj.kind != CT_LIST && obj.kind != CT_STR) {
        *out = ct_undef(undef_msg(c, "'%s object' is not sliceable%s", ct_type_name(obj), ""));
        return 0;
    }
    ct_list *items;
    if (ct_iterate(c, at, obj, &items) != 0) return -1;
    int64_t s0 = 0, st = 1, count = 0;
    if (slice_indices(c, at, start, stop, step, (int64_t)items->n, &s0, &st, &count) != 0) return -1;
    if (obj.kind == CT_LIST) {
        ct_list *l = ct_list_new(c->arena, (size_t)count, obj.u.l->view == CT_VIEW_TUPLE ? CT_VIEW_TUPLE : CT_VIEW_LIST);
        if (!l) return ct_oom(c, at);
        for (int64_t k = 0; k < count; k++) l->items[k] = items->items[s0 + k * st];
        *out = (ct_value){.kind = CT_LIST, .u.l = l};
        return 0;
    }
    char *s = ct_alloc(c->arena, obj.u.s.n + 1);
    if (!s) return ct_oom(c, at);
    size_t o = 0;
    for (int64_t k = 0; k < count; k++) {
        ct_value ch = items->items[s0 + k * st];
        memcpy(s + o, ch.u.s.p, ch.u.s.n);
        o += ch.u.s.n;
    }
    *out = ct_str(s, o);
    return 0;
}

int ct_getitem(ct_ctx *c, const ct_node *at, ct_value obj, ct_value key, ct_value *out) {
    if (obj.kind == CT_UNDEF) return ct_fail_undefined(c, at, obj);
    bool int_key = key.kind == CT_INT || key.kind == CT_BOOL;
    if ((obj.kind == CT_LIST || obj.kind == CT_STR) && int_key) {
        int64_t i = key.kind == CT_INT ? key.u.i : key.u.b;
        if (obj.kind == CT_LIST) {
            int64_t n = (int64_t)obj.u.l->n;
            if (i < 0) i += n;
            *out = i >= 0 && i < n ? obj.u.l->items[i] : ct_undef(undef_msg(c, "list index out of range%s%s", "", ""));
            return 0;
        }
        ct_list *chars;
        if (ct_iterate(c, at, obj, &chars) != 0) return -1;
        int64_t n = (int64_t)chars->n;
        if (i < 0) i += n;
        *out = i >= 0 && i < n ? chars->items[i] : ct_undef(undef_msg(c, "string index out of range%s%s", "", ""));
        return 0;
    }
    if (obj.kind == CT_DICT) {
        const ct_value *v = ct_dict_get(obj.u.d, key);
        if (v) {
            *out = *v;
            return 0;
        }
    }
    if (key.kind == CT_STR) {
        char *name = ct_strndup(c->arena, key.u.s.p, key.u.s.n);
        if (!name) return ct_oom(c, at);
        return ct_getattr(c, at, obj, name, key.u.s.n, out);
    }
    *out = ct_undef(undef_msg(c, "'%s object' has no such element%s", ct_type_name(obj), ""));
    return 0;
}

static bool lookup_name(ct_ctx *c, const char *name, size_t n, ct_value *out) {
    for (ct_frame *f = c->frame; f; f = f->parent) {
        const ct_value *v = ct_dict_get_str(f->vars, name, n);
        if (v) {
            *out = *v;
            return true;
        }
    }
    const ct_value *v = ct_dict_get_str(c->vars, name, n);
    if (v) {
        *out = *v;
        return true;
    }
    return ct_global_lookup(name, n, out);
}

/* ---- expressions ------------------------------------------------------------------------------ */

static int eval(ct_ctx *c, const ct_node *n, ct_value *out);

static int eval_args(ct_ctx *c, const ct_node *n, ct_args *a) {
    size_t np = n->args.n, nk = n->kwargs.n;
    ct_value *v = ct_alloc(c->arena, (np + 1) * sizeof *v);
    ct_value *kv = ct_alloc(c->arena, (nk + 1) * sizeof *kv);
    const char **kn = ct_alloc(c->arena, (nk + 1) * sizeof *kn);
    if (!v || !kv || !kn) return ct_oom(c, n);
    for (size_t k = 0; k < np; k++)
        if (eval(c, n->args.v[k], &v[k]) != 0) return -1;
    for (size_t k = 0; k < nk; k++) {
        kn[k] = n->kwargs.v[k]->name;
        if (eval(c, n->kwargs.v[k]->a, &kv[k]) != 0) return -1;
    }
    *a = (ct_args){.n = np, .v = v, .nkw = nk, .kwn = kn, .kwv = kv};
    return 0;
}

static int eval_compare(ct_ctx *c, const ct_node *n, ct_value *out) {
    ct_value left;
    if (eval(c, n->a, &left) != 0) return -1;
    for (size_t k = 0; k < n->args.n; k++) {
        const ct_node *operand = n->args.v[k];
        ct_value right;
        bool r;
        if (eval(c, operand->a, &right) != 0 || ct_op_compare(c, operand, operand->op, left, right, &r) != 0)
            return -1;
        if (!r) {
            *out = ct_bool(false);
            return 0;
        }
        left = right;
    }
    *out = ct_bool(true);
    return 0;
}

static int eval_seq(ct_ctx *c, const ct_node *n, ct_view view, ct_value *out) {
    ct_list *l = ct_list_new(c->arena, n->args.n, view);
    if (!l) return ct_oom(c, n);
    for (size_t k = 0; k < n->args.n; k++)
        if (eval(c, n->args.v[k], &l->items[k]) != 0) return -1;
    *out = (ct_value){.kind = CT_LIST, .u.l = l};
    return 0;
}

static int eval(ct_ctx *c, const ct_node *n, ct_value *out) {
    if (++c->steps > MAX_STEPS) return ct_fail(c, n, "template exceeded %d evaluation steps", MAX_STEPS);
    switch (n->kind) {
    case CT_N_CONST: *out = n->value; return 0;
    case CT_N_NAME:
        if (!lookup_name(c, n->name, n->name_len, out)) *out = ct_undef(undef_msg(c, "'%s' is undefined%s", n->name, ""));
        return 0;
    case CT_N_TUPLE: return eval_seq(c, n, CT_VIEW_TUPLE, out);
    case CT_N_LIST: return eval_seq(c, n, CT_VIEW_LIST, out);
    case CT_N_DICT: {
        ct_dict *d = ct_dict_new(c->arena, n->args.n);
        if (!d) return ct_oom(c, n);
        for (size_t k = 0; k < n->args.n; k++) {
            ct_value key, val;
            if (eval(c, n->args.v[k]->a, &key) != 0 || eval(c, n->args.v[k]->b, &val) != 0) return -1;
            if (key.kind == CT_LIST && key.u.l->view != CT_VIEW_TUPLE)
                return ct_fail(c, n->args.v[k], "unhashable type: 'list'");
            if (key.kind == CT_DICT || key.kind == CT_UNDEF)
                return ct_fail(c, n->args.v[k], "unhashable type: '%s'", ct_type_name(key));
            if (ct_dict_set(c->arena, d, key, val) != 0) return ct_oom(c, n);
        }
        *out = (ct_value){.kind = CT_DICT, .u.d = d};
        return 0;
    }
    case CT_N_GETATTR: {
        ct_value obj;
        if (eval(c, n->a, &obj) != 0) return -1;
        return ct_getattr(c, n, obj, n->name, n->name_len, out);
    }
    case CT_N_GETITEM: {
        ct_value obj, key;
        if (eval(c, n->a, &obj) != 0) return -1;
        if (n->b->kind == CT_N_SLICE) {
            ct_value parts[3] = {ct_none(), ct_none(), ct_none()};
            const ct_node *pn[3] = {n->b->a, n->b->b, n->b->c};
            for (int k = 0; k < 3; k++)
                if (pn[k] && eval(c, pn[k], &parts[k]) != 0) return -1;
            return do_slice(c, n, obj, parts[0], parts[1], parts[2], out);
        }
        if (eval(c, n->b, &key) != 0) return -1;
        return ct_getitem(c, n, obj, key, out);
    }
    case CT_N_CALL: {
        ct_value fn;
        ct_args a;
        if (eval(c, n->a, &fn) != 0 || eval_args(c, n, &a) != 0) return -1;
        return ct_call(c, n, fn, &a, out);
    }
    case CT_N_FILTER: {
        ct_value v;
        ct_args a;
        if (eval(c, n->a, &v) != 0 || eval_args(c, n, &a) != 0) return -1;
        return ct_apply_filter(c, n, n->name, v, &a, out);
    }
    case CT_N_TEST: {
        ct_value v;
        ct_args a;
        bool r;
        if (eval(c, n->a, &v) != 0 || eval_args(c, n, &a) != 0) return -1;
        if (ct_apply_test(c, n, n->name, v, &a, &r) != 0) return -1;
        *out = ct_bool(r);
        return 0;
    }
    case CT_N_UNARY: {
        ct_value v;
        if (eval(c, n->a, &v) != 0) return -1;
        if (n->op == 'n') {
            *out = ct_bool(!ct_truthy(v));
            return 0;
        }
        return ct_op_unary(c, n, n->op, v, out);
    }
    case CT_N_BINARY: {
        ct_value l, r;
        if (eval(c, n->a, &l) != 0) return -1;
        if (n->op == CT_OP_AND || n->op == CT_OP_OR) {
            bool t = ct_truthy(l);
            if ((n->op == CT_OP_AND) != t) {
                *out = l;
                return 0;
            }
            return eval(c, n->b, out);
        }
        if (eval(c, n->b, &r) != 0) return -1;
        return ct_op_binary(c, n, n->op, l, r, out);
    }
    case CT_N_COMPARE: return eval_compare(c, n, out);
    case CT_N_CONDEXPR: {
        ct_value cond;
        if (eval(c, n->a, &cond) != 0) return -1;
        if (ct_truthy(cond)) return eval(c, n->b, out);
        if (n->c) return eval(c, n->c, out);
        *out = ct_undef(undef_msg(c, "the inline if-expression evaluated to false and no else section was defined.%s%s", "", ""));
        return 0;
    }
    case CT_N_CONCAT: {
        ct_buf b = {.limit = 64u << 20};
        for (size_t k = 0; k < n->args.n; k++) {
            ct_value v;
            char msg[160];
            int r = eval(c, n->args.v[k], &v);
            if (r == 0 && ct_write_str(&b, v, msg, sizeof msg) != 0) r = ct_fail(c, n, "%s", msg);
            if (r != 0) {
                ct_buf_free(&b);
                return -1;
            }
        }
        char *s = ct_strndup(c->arena, b.p ? b.p : "", b.n);
        size_t len = b.n;
        bool oom = b.oom;
        ct_buf_free(&b);
        if (!s || oom) return ct_oom(c, n);
        *out = ct_str(s, len);
        return 0;
    }
    case CT_N_NSREF: return ct_fail(c, n, "a namespace reference can only be assigned to");
    default: return ct_fail(c, n, "unsupported expression");
    }
}

/* ---- statements ------------------------------------------------------------------------------- */

static int exec_body(ct_ctx *c, const ct_nodes *body);

static int frame_set(ct_ctx *c, const ct_node *at, const char *name, ct_value v) {
    if (ct_dict_set(c->arena, c->frame->vars, ct_str(name, strlen(name)), v) != 0) return ct_oom(c, at);
    return 0;
}

static int push_frame(ct_ctx *c, const ct_node *at, ct_frame *parent) {
    ct_frame *f = ct_alloc(c->arena, sizeof *f);
    if (!f || !(f->vars = ct_dict_new(c->arena, 4))) return ct_oom(c, at);
    f->parent = parent;
    f->captured = false;
    c->frame = f;
    return 0;
}

static int assign(ct_ctx *c, const ct_node *target, ct_value v) {
    if (target->kind == CT_N_NAME) return frame_set(c, target, target->name, v);
    if (target->kind == CT_N_NSREF) {
        ct_value ns;
        if (!lookup_name(c, target->name, strlen(target->name), &ns) || ns.kind != CT_NS)
            return ct_fail(c, target, "cannot assign attribute on non-namespace object");
        if (target->attr[0] == '_')
            return ct_fail(c, target, "chat templates cannot store underscore-prefixed attributes on a namespace");
        if (ct_dict_set(c->arena, ns.u.d, ct_str(target->attr, strlen(target->attr)), v) != 0) return ct_oom(c, target);
        return 0;
    }
    ct_list *items;
    if (ct_iterate(c, target, v, &items) != 0) return -1;
    if (items->n != target->args.n)
        return ct_fail(c, target, "cannot unpack %zu value(s) into %zu name(s)", items->n, target->args.n);
    for (size_t k = 0; k < items->n; k++)
        if (assign(c, target->args.v[k], items->items[k]) != 0) return -1;
    return 0;
}

/* Renders body to a string in a scope of its own, as Jinja2 renders set, filter and call blocks:
 * names set inside do not leak out. */
static int capture(ct_ctx *c, const ct_nodes *body, ct_value *out) {
    ct_buf b = {.limit = c->out->limit}, *saved = c->out;
    ct_frame *outer = c->frame;
    if (push_frame(c, NULL, outer) != 0) return EX_ERR;
    c->out = &b;
    int r = exec_body(c, body);
    c->out = saved;
    c->frame = outer;
    if (r == EX_OK) {
        char *s = ct_strndup(c->arena, b.p ? b.p : "", b.n);
        if (!s || b.oom) r = ct_oom(c, NULL);
        else *out = ct_str(s, b.n);
    }
    ct_buf_free(&b);
    return r;
}

static int exec_for(ct_ctx *c, const ct_node *n) {
    ct_value seqv;
    ct_list *seq;
    if (eval(c, n->b, &seqv) != 0 || ct_iterate(c, n->b, seqv, &seq) != 0) return EX_ERR;
    ct_frame *outer = c->frame;
    if (n->c) {
        ct_list *kept = ct_list_new(c->arena, seq->n, CT_VIEW_LIST);
        if (!kept) return ct_oom(c, n);
        kept->n = 0;
        if (push_frame(c, n, outer) != 0) return EX_ERR;
        ct_frame *f = c->frame;
        c->frame = outer;
        for (size_t i = 0; i < seq->n; i++) {
            ct_value t;
            f->vars->n = 0;
            c->frame = f;
            int r = assign(c, n->a, seq->items[i]) == 0 && eval(c, n->c, &t) == 0 ? 0 : -1;
            c->frame = outer;
            if (r != 0) return EX_ERR;
            if (ct_truthy(t)) kept->items[kept->n++] = seq->items[i];
        }
        seq = kept;
    }
    /* One loop object per for statement, updated in place, as Jinja2's LoopContext is. */
    ct_loop *loop = ct_alloc(c->arena, sizeof *loop);
    if (!loop) return ct_oom(c, n);
    loop->length = seq->n;
    loop->seq = seq;
    ct_frame *f = NULL;
    for (size_t i = 0; i < seq->n; i++) {
        if (++c->steps > MAX_STEPS) return ct_fail(c, n, "template exceeded %d evaluation steps", MAX_STEPS);
        loop->index0 = i;
        /* Each iteration starts from a fresh scope; the frame is reused unless a macro defined
         * in the previous iteration keeps it as its closure. */
        if (f && !f->captured) {
            f->vars->n = 0;
            c->frame = f;
        } else if (push_frame(c, n, outer) != 0) {
            return EX_ERR;
        }
        f = c->frame;
        int r = EX_ERR;
        if (assign(c, n->a, seq->items[i]) == 0 && frame_set(c, n, "loop", (ct_value){.kind = CT_LOOP, .u.loop = loop}) == 0)
            r = exec_body(c, &n->body);
        c->frame = outer;
        if (r == EX_ERR) return EX_ERR;
        if (r == EX_BREAK) break;
    }
    if (seq->n == 0 && n->orelse.n) return exec_body(c, &n->orelse);
    return EX_OK;
}

static int exec_stmt(ct_ctx *c, const ct_node *n) {
    if (++c->steps > MAX_STEPS) return ct_fail(c, n, "template exceeded %d evaluation steps", MAX_STEPS);
    switch (n->kind) {
    case CT_N_DATA: ct_buf_put(c->out, n->name, n->name_len); break;
    case CT_N_OUTPUT: {
        ct_value v;
        char msg[160];
        if (eval(c, n->a, &v) != 0) return EX_ERR;
        if (ct_write_str(c->out, v, msg, sizeof msg) != 0) return ct_fail(c, n, "%s", msg);
        break;
    }
    case CT_N_IF: {
        ct_value t;
        if (eval(c, n->a, &t) != 0) return EX_ERR;
        return exec_body(c, ct_truthy(t) ? &n->body : &n->orelse);
    }
    case CT_N_FOR: return exec_for(c, n);
    case CT_N_SET: {
        ct_value v;
        if (eval(c, n->b, &v) != 0 || assign(c, n->a, v) != 0) return EX_ERR;
        break;
    }
    case CT_N_SETBLOCK:
    case CT_N_FILTERBLOCK:
    case CT_N_BLOCK: {
        ct_value v;
        int r = capture(c, &n->body, &v);
        if (r != EX_OK) return r == EX_ERR ? EX_ERR : ct_fail(c, n, "break or continue outside a loop");
        for (size_t k = 0; k < n->args.n; k++) {
            ct_args a;
            const ct_node *f = n->args.v[k];
            if (eval_args(c, f, &a) != 0 || ct_apply_filter(c, f, f->name, v, &a, &v) != 0) return EX_ERR;
        }
        if (n->kind == CT_N_SETBLOCK) {
            if (assign(c, n->a, v) != 0) return EX_ERR;
        } else {
            char msg[160];
            if (ct_write_str(c->out, v, msg, sizeof msg) != 0) return ct_fail(c, n, "%s", msg);
        }
        break;
    }
    case CT_N_MACRO: {
        ct_func *fn = ct_alloc(c->arena, sizeof *fn);
        if (!fn) return ct_oom(c, n);
        *fn = (ct_func){.name = n->name, .self = ct_undef(NULL), .macro = n, .closure = c->frame};
        c->frame->captured = true;
        if (frame_set(c, n, n->name, (ct_value){.kind = CT_FUNC, .u.fn = fn}) != 0) return EX_ERR;
        break;
    }
    case CT_N_CALLBLOCK: {
        ct_func *caller = ct_alloc(c->arena, sizeof *caller);
        if (!caller) return ct_oom(c, n);
        *caller = (ct_func){.name = "caller", .self = ct_undef(NULL), .macro = n, .closure = c->frame};
        c->frame->captured = true;
        ct_value fn, v;
        ct_args a;
        if (eval(c, n->a->a, &fn) != 0 || eval_args(c, n->a, &a) != 0) return EX_ERR;
        if (fn.kind != CT_FUNC || !fn.u.fn->macro) return ct_fail(c, n, "a call block needs a macro to call");
        ct_func *bound = ct_alloc(c->arena, sizeof *bound);
        if (!bound) return ct_oom(c, n);
        *bound = *fn.u.fn;
        bound->caller = caller;
        if (ct_call(c, n, (ct_value){.kind = CT_FUNC, .u.fn = bound}, &a, &v) != 0) return EX_ERR;
        ct_buf_put(c->out, v.u.s.p, v.u.s.n);
        break;
    }
    case CT_N_BREAK: return EX_BREAK;
    case CT_N_CONTINUE: return EX_CONTINUE;
    default: return ct_fail(c, n, "unsupported statement");
    }
    return c->out->oom ? ct_fail(c, n, "rendered text exceeds %zu bytes", c->out->limit) : EX_OK;
}

static int exec_body(ct_ctx *c, const ct_nodes *body) {
    for (size_t k = 0; k < body->n; k++) {
        int r = exec_stmt(c, body->v[k]);
        if (r != EX_OK) return r;
    }
    return EX_OK;
}

/* ---- calls ------------------------------------------------------------------------------------ */

static int call_macro(ct_ctx *c, const ct_node *at, const ct_func *fn, const ct_args *a, ct_value *out) {
    const ct_node *m = fn->macro;
    if (c->depth >= MAX_CALL_DEPTH) return ct_fail(c, at, "macro calls nested deeper than %d", MAX_CALL_DEPTH);
    ct_frame *saved = c->frame;
    if (push_frame(c, at, fn->closure) != 0) return -1;
    size_t np = m->args.n;
    size_t nextra = a->n > np ? a->n - np : 0;
    ct_list *varargs = ct_list_new(c->arena, nextra, CT_VIEW_TUPLE);
    ct_dict *kwargs = ct_dict_new(c->arena, 4);
    if (!varargs || !kwargs) return ct_oom(c, at);
    for (size_t k = 0; k < nextra; k++) varargs->items[k] = a->v[np + k];
    for (size_t k = 0; k < a->nkw; k++) {
        bool is_param = false;
        for (size_t j = 0; j < np; j++)
            if (!strcmp(m->args.v[j]->name, a->kwn[k])) is_param = true;
        if (!is_param && ct_dict_set(c->arena, kwargs, ct_str(a->kwn[k], strlen(a->kwn[k])), a->kwv[k]) != 0)
            return ct_oom(c, at);
    }
    int r = 0;
    for (size_t j = 0; j < np && r == 0; j++) {
        const ct_node *p = m->args.v[j];
        ct_value v;
        if (!ct_arg(a, j, p->name, &v)) {
            if (p->a) {
                if (eval(c, p->a, &v) != 0) r = -1;
            } else {
                v = ct_undef(undef_msg(c, "parameter '%s' was not provided%s", p->name, ""));
            }
        }
        if (r == 0) r = frame_set(c, at, p->name, v);
    }
    if (r == 0) r = frame_set(c, at, "varargs", (ct_value){.kind = CT_LIST, .u.l = varargs});
    if (r == 0) r = frame_set(c, at, "kwargs", (ct_value){.kind = CT_DICT, .u.d = kwargs});
    if (r == 0 && fn->caller)
        r = frame_set(c, at, "caller", (ct_value){.kind = CT_FUNC, .u.fn = (ct_func *)fn->caller});
    if (r == 0) {
        c->depth++;
        r = capture(c, &m->body, out);
        c->depth--;
        if (r > 0) r = ct_fail(c, at, "break or continue outside a loop");
    }
    c->frame = saved;
    return r;
}

int ct_call(ct_ctx *c, const ct_node *at, ct_value fn, const ct_args *args, ct_value *out) {
    if (fn.kind == CT_UNDEF) return ct_fail_undefined(c, at, fn);
    if (fn.kind != CT_FUNC) return ct_fail(c, at, "'%s' object is not callable", ct_type_name(fn));
    if (fn.u.fn->macro) return call_macro(c, at, fn.u.fn, args, out);
    return ct_call_builtin(c, at, fn.u.fn, args, out);
}

int ct_eval_template(ct_arena *arena, const ct_nodes *body, const ct_dict *vars, ct_buf *out, char *err,
                     size_t errlen) {
    ct_ctx c = {.arena = arena, .out = out, .vars = vars, .err = err, .errlen = errlen};
    err[0] = 0;
    int r = push_frame(&c, NULL, NULL);
    if (r == 0) r = exec_body(&c, body);
    if (r > 0) r = ct_fail(&c, NULL, "break or continue outside a loop");
    return r == 0 ? 0 : -1;
}
