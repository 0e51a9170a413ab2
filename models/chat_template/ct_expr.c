/* Recursive descent over Jinja2's expression grammar; precedence and tuple rules follow
 * jinja2/parser.py (filters and tests bind tighter than arithmetic: `xs|length - 1` is
 * `(xs|length) - 1`). */
#include "models/chat_template/ct_expr.h"

#include <stdarg.h>
#include <stdio.h>

#include "models/chat_template/ct_filters.h"

static void describe(const ct_token *t, char *buf, size_t len) {
    switch (t->type) {
    case CT_TK_EOF: snprintf(buf, len, "end of template"); break;
    case CT_TK_BLOCK_END: snprintf(buf, len, "end of statement block"); break;
    case CT_TK_VAR_END: snprintf(buf, len, "end of print statement"); break;
    case CT_TK_DATA: snprintf(buf, len, "template data"); break;
    case CT_TK_BLOCK_BEGIN: snprintf(buf, len, "begin of statement block"); break;
    case CT_TK_VAR_BEGIN: snprintf(buf, len, "begin of print statement"); break;
    case CT_TK_STRING: snprintf(buf, len, "string literal"); break;
    default: snprintf(buf, len, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p); break;
    }
}

int ct_expr_fail_at(ct_pstate *P, const ct_token *t, const char *fmt, ...) {
    int k = snprintf(P->err, P->errlen, "template line %d, column %d: ", t->line, t->col);
    if (k >= 0 && (size_t)k < P->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(P->err + k, P->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int ct_expr_fail_unexpected(ct_pstate *P, const char *expected) {
    char d[64];
    describe(cur(P), d, sizeof d);
    return ct_expr_fail_at(P, cur(P), "expected %s, got %s", expected, d);
}

ct_node *ct_expr_node_new(ct_pstate *P, ct_node_kind kind, const ct_token *at) {
    ct_node *n = ct_alloc(P->a, sizeof *n);
    if (!n) {
        ct_expr_fail_at(P, at, "template too large");
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

int ct_expr_nodes_push(ct_pstate *P, ct_nodes *l, ct_node *n) {
    /* Grow by doubling when the count reaches a power of two. */
    if ((l->n & (l->n - 1)) == 0) {
        size_t cap = l->n ? l->n * 2 : 1;
        ct_node **v = ct_alloc(P->a, cap * sizeof *v);
        if (!v) return ct_expr_fail_at(P, cur(P), "template too large");
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
    }
    l->v[l->n++] = n;
    return 0;
}

static const char *tok_str(ct_pstate *P, const ct_token *t) { return ct_strndup(P->a, t->p, t->n); }

int ct_expr_expect_op(ct_pstate *P, const char *op) {
    if (!is_op(P, op)) {
        char want[16];
        snprintf(want, sizeof want, "'%s'", op);
        return ct_expr_fail_unexpected(P, want);
    }
    advance(P);
    return 0;
}

static ct_node *parse_postfix(ct_pstate *P, ct_node *n);
static ct_node *parse_filter_expr(ct_pstate *P, ct_node *n);
static ct_node *parse_unary(ct_pstate *P, bool with_filter);

/* ---- expressions ------------------------------------------------------------------------------ */

static int parse_call_args(ct_pstate *P, ct_nodes *args, ct_nodes *kwargs) {
    const ct_token *open = cur(P);
    if (ct_expr_expect_op(P, "(") != 0) return -1;
    bool need_comma = false;
    while (!is_op(P, ")")) {
        if (need_comma) {
            if (ct_expr_expect_op(P, ",") != 0) return -1;
            if (is_op(P, ")")) break;
        }
        if (is_op(P, "*") || is_op(P, "**"))
            return ct_expr_fail_at(P, cur(P), "*args and **kwargs in calls are not supported");
        if (cur(P)->type == CT_TK_NAME && tok_is(look(P), CT_TK_OP, "=")) {
            ct_node *kw = ct_expr_node_new(P, CT_N_KEYWORD, cur(P));
            if (!kw) return -1;
            kw->name = tok_str(P, cur(P));
            P->i += 2;
            if (!(kw->a = ct_expr_parse(P, true)) || ct_expr_nodes_push(P, kwargs, kw) != 0) return -1;
        } else {
            if (kwargs->n) return ct_expr_fail_at(P, open, "invalid syntax for function call expression");
            ct_node *e = ct_expr_parse(P, true);
            if (!e || ct_expr_nodes_push(P, args, e) != 0) return -1;
        }
        need_comma = true;
    }
    advance(P);
    return 0;
}

static ct_node *parse_subscribed(ct_pstate *P) {
    const ct_token *at = cur(P);
    ct_node *parts[3] = {NULL, NULL, NULL};
    if (!is_op(P, ":")) {
        ct_node *e = ct_expr_parse(P, true);
        if (!e || !is_op(P, ":")) return e;
        parts[0] = e;
    }
    advance(P); /* ':' */
    if (!is_op(P, ":") && !is_op(P, "]") && !is_op(P, ",")) {
        if (!(parts[1] = ct_expr_parse(P, true))) return NULL;
    }
    if (is_op(P, ":")) {
        advance(P);
        if (!is_op(P, "]") && !is_op(P, ",") && !(parts[2] = ct_expr_parse(P, true))) return NULL;
    }
    ct_node *s = ct_expr_node_new(P, CT_N_SLICE, at);
    if (!s) return NULL;
    s->a = parts[0];
    s->b = parts[1];
    s->c = parts[2];
    return s;
}

static ct_node *parse_postfix(ct_pstate *P, ct_node *n) {
    while (n) {
        const ct_token *at = cur(P);
        if (is_op(P, ".")) {
            advance(P);
            const ct_token *t = cur(P);
            if (t->type == CT_TK_NAME) {
                ct_node *g = ct_expr_node_new(P, CT_N_GETATTR, at);
                if (!g) return NULL;
                g->a = n;
                g->name = tok_str(P, t);
                g->name_len = t->n;
                advance(P);
                n = g;
            } else if (t->type == CT_TK_INT) {
                ct_node *g = ct_expr_node_new(P, CT_N_GETITEM, at), *k = ct_expr_node_new(P, CT_N_CONST, t);
                if (!g || !k) return NULL;
                k->value = ct_int(t->i);
                g->a = n;
                g->b = k;
                advance(P);
                n = g;
            } else {
                ct_expr_fail_unexpected(P, "name or number");
                return NULL;
            }
        } else if (is_op(P, "[")) {
            advance(P);
            ct_nodes idx = {0};
            while (!is_op(P, "]")) {
                if (idx.n && ct_expr_expect_op(P, ",") != 0) return NULL;
                ct_node *e = parse_subscribed(P);
                if (!e || ct_expr_nodes_push(P, &idx, e) != 0) return NULL;
            }
            advance(P);
            if (idx.n == 0) {
                ct_expr_fail_at(P, at, "expected subscript expression");
                return NULL;
            }
            ct_node *g = ct_expr_node_new(P, CT_N_GETITEM, at);
            if (!g) return NULL;
            g->a = n;
            if (idx.n == 1) {
                g->b = idx.v[0];
            } else {
                if (!(g->b = ct_expr_node_new(P, CT_N_TUPLE, at))) return NULL;
                g->b->args = idx;
            }
            n = g;
        } else if (is_op(P, "(")) {
            ct_node *c = ct_expr_node_new(P, CT_N_CALL, at);
            if (!c) return NULL;
            c->a = n;
            c->line = n->line; /* errors in a call point at the callee, not at '(' */
            c->col = n->col;
            if (parse_call_args(P, &c->args, &c->kwargs) != 0) return NULL;
            n = c;
        } else {
            break;
        }
    }
    return n;
}

ct_node *ct_expr_filter_or_test(ct_pstate *P, ct_node *operand, bool test) {
    const ct_token *t = cur(P);
    if (t->type != CT_TK_NAME) {
        ct_expr_fail_unexpected(P, test ? "test name" : "filter name");
        return NULL;
    }
    ct_node *f = ct_expr_node_new(P, test ? CT_N_TEST : CT_N_FILTER, t);
    if (!f) return NULL;
    f->a = operand;
    f->name = tok_str(P, t);
    if (is_op(P, ".")) {
        ct_expr_fail_at(P, t, "dotted filter and test names are not supported");
        return NULL;
    }
    /* As Jinja2 does, an unknown name is refused after parsing (ct_check_unknown) unless it sits in
     * a conditional, where it is an error only if it runs. */
    f->unknown = test ? !ct_test_known(f->name) : !ct_filter_known(f->name);
    advance(P);
    if (is_op(P, "(")) {
        if (parse_call_args(P, &f->args, &f->kwargs) != 0) return NULL;
    } else if (test) {
        const ct_token *c = cur(P);
        bool arg_start = c->type == CT_TK_NAME || c->type == CT_TK_STRING || c->type == CT_TK_INT ||
                         c->type == CT_TK_FLOAT || is_op(P, "[") || is_op(P, "{");
        if (arg_start && !is_name(P, "else") && !is_name(P, "or") && !is_name(P, "and")) {
            if (is_name(P, "is")) {
                ct_expr_fail_at(P, c, "You cannot chain multiple tests with is");
                return NULL;
            }
            ct_node *arg = parse_postfix(P, ct_expr_primary(P, false));
            if (!arg || ct_expr_nodes_push(P, &f->args, arg) != 0) return NULL;
        }
    }
    return f;
}

static ct_node *parse_filter_expr(ct_pstate *P, ct_node *n) {
    while (n) {
        if (is_op(P, "|")) {
            advance(P);
            n = ct_expr_filter_or_test(P, n, false);
        } else if (is_name(P, "is")) {
            const ct_token *at = cur(P);
            advance(P);
            bool negated = is_name(P, "not");
            if (negated) advance(P);
            n = ct_expr_filter_or_test(P, n, true);
            if (n && negated) {
                ct_node *nt = ct_expr_node_new(P, CT_N_UNARY, at);
                if (!nt) return NULL;
                nt->op = 'n';
                nt->a = n;
                n = nt;
            }
        } else if (is_op(P, "(")) {
            n = parse_postfix(P, n);
        } else {
            break;
        }
    }
    return n;
}

static ct_node *parse_list_or_dict(ct_pstate *P, bool dict) {
    const ct_token *at = cur(P);
    ct_node *n = ct_expr_node_new(P, dict ? CT_N_DICT : CT_N_LIST, at);
    if (!n) return NULL;
    const char *close = dict ? "}" : "]";
    advance(P);
    while (!is_op(P, close)) {
        if (n->args.n && ct_expr_expect_op(P, ",") != 0) return NULL;
        if (is_op(P, close)) break;
        ct_node *item = ct_expr_parse(P, true);
        if (!item) return NULL;
        if (dict) {
            ct_node *pair = ct_expr_node_new(P, CT_N_PAIR, at);
            if (!pair || ct_expr_expect_op(P, ":") != 0) return NULL;
            pair->a = item;
            if (!(pair->b = ct_expr_parse(P, true))) return NULL;
            item = pair;
        }
        if (ct_expr_nodes_push(P, &n->args, item) != 0) return NULL;
    }
    advance(P);
    return n;
}

ct_node *ct_expr_primary(ct_pstate *P, bool with_namespace) {
    const ct_token *t = cur(P);
    if (++P->depth > CT_EXPR_MAX_DEPTH) {
        ct_expr_fail_at(P, t, "expression nested too deeply");
        return NULL;
    }
    ct_node *n = NULL;
    if (t->type == CT_TK_NAME) {
        advance(P);
        if (tok_is(t, CT_TK_NAME, "true") || tok_is(t, CT_TK_NAME, "True") || tok_is(t, CT_TK_NAME, "false") ||
            tok_is(t, CT_TK_NAME, "False")) {
            if ((n = ct_expr_node_new(P, CT_N_CONST, t))) n->value = ct_bool(t->p[0] == 't' || t->p[0] == 'T');
        } else if (tok_is(t, CT_TK_NAME, "none") || tok_is(t, CT_TK_NAME, "None")) {
            if ((n = ct_expr_node_new(P, CT_N_CONST, t))) n->value = ct_none();
        } else if (with_namespace && is_op(P, ".")) {
            advance(P);
            if (cur(P)->type != CT_TK_NAME) {
                ct_expr_fail_unexpected(P, "name");
                return NULL;
            }
            if ((n = ct_expr_node_new(P, CT_N_NSREF, t))) {
                n->name = tok_str(P, t);
                n->attr = tok_str(P, cur(P));
            }
            advance(P);
        } else if ((n = ct_expr_node_new(P, CT_N_NAME, t))) {
            n->name = tok_str(P, t);
            n->name_len = t->n;
        }
    } else if (t->type == CT_TK_STRING) {
        /* adjacent string literals concatenate, as in Python */
        size_t total = 0, j = P->i;
        while (P->t[j].type == CT_TK_STRING) total += P->t[j++].n;
        char *s = ct_alloc(P->a, total + 1);
        if (!s) {
            ct_expr_fail_at(P, t, "template too large");
            return NULL;
        }
        size_t o = 0;
        while (cur(P)->type == CT_TK_STRING) {
            memcpy(s + o, cur(P)->p, cur(P)->n);
            o += cur(P)->n;
            advance(P);
        }
        if ((n = ct_expr_node_new(P, CT_N_CONST, t))) n->value = ct_str(s, o);
    } else if (t->type == CT_TK_INT || t->type == CT_TK_FLOAT) {
        advance(P);
        if ((n = ct_expr_node_new(P, CT_N_CONST, t))) n->value = t->type == CT_TK_INT ? ct_int(t->i) : ct_float(t->f);
    } else if (is_op(P, "(")) {
        advance(P);
        n = ct_expr_tuple(P, false, true, NULL, true);
        if (n && ct_expr_expect_op(P, ")") != 0) n = NULL;
    } else if (is_op(P, "[") || is_op(P, "{")) {
        n = parse_list_or_dict(P, is_op(P, "{"));
    } else {
        char d[64];
        describe(t, d, sizeof d);
        ct_expr_fail_at(P, t, "unexpected %s", d);
    }
    P->depth--;
    return n;
}

static ct_node *parse_unary(ct_pstate *P, bool with_filter) {
    const ct_token *t = cur(P);
    ct_node *n;
    if (is_op(P, "-") || is_op(P, "+")) {
        if (++P->depth > CT_EXPR_MAX_DEPTH) {
            ct_expr_fail_at(P, t, "expression nested too deeply");
            return NULL;
        }
        char op = t->p[0];
        advance(P);
        if (!(n = ct_expr_node_new(P, CT_N_UNARY, t))) return NULL;
        n->op = op;
        n->a = parse_unary(P, false);
        P->depth--;
        if (!n->a) return NULL;
    } else {
        n = ct_expr_primary(P, false);
    }
    n = parse_postfix(P, n);
    return with_filter ? parse_filter_expr(P, n) : n;
}

static ct_node *binary(ct_pstate *P, const ct_token *at, int op, ct_node *l, ct_node *r) {
    if (!l || !r) return NULL;
    ct_node *n = ct_expr_node_new(P, CT_N_BINARY, at);
    if (!n) return NULL;
    n->op = op;
    n->a = l;
    n->b = r;
    return n;
}

static ct_node *parse_pow(ct_pstate *P) {
    ct_node *l = parse_unary(P, true);
    while (l && is_op(P, "**")) {
        const ct_token *at = cur(P);
        advance(P);
        l = binary(P, at, CT_OP_POW, l, parse_unary(P, true));
    }
    return l;
}

static ct_node *parse_math2(ct_pstate *P) {
    ct_node *l = parse_pow(P);
    for (;;) {
        const ct_token *at = cur(P);
        int op = is_op(P, "*") ? CT_OP_MUL : is_op(P, "/") ? CT_OP_DIV : is_op(P, "//") ? CT_OP_FLOORDIV
                 : is_op(P, "%") ? CT_OP_MOD : -1;
        if (!l || op < 0) return l;
        advance(P);
        l = binary(P, at, op, l, parse_pow(P));
    }
}

static ct_node *parse_concat(ct_pstate *P) {
    const ct_token *at = cur(P);
    ct_node *first = parse_math2(P);
    if (!first || !is_op(P, "~")) return first;
    ct_node *n = ct_expr_node_new(P, CT_N_CONCAT, at);
    if (!n || ct_expr_nodes_push(P, &n->args, first) != 0) return NULL;
    while (is_op(P, "~")) {
        advance(P);
        ct_node *e = parse_math2(P);
        if (!e || ct_expr_nodes_push(P, &n->args, e) != 0) return NULL;
    }
    return n;
}

static ct_node *parse_math1(ct_pstate *P) {
    ct_node *l = parse_concat(P);
    while (l && (is_op(P, "+") || is_op(P, "-"))) {
        const ct_token *at = cur(P);
        int op = is_op(P, "+") ? CT_OP_ADD : CT_OP_SUB;
        advance(P);
        l = binary(P, at, op, l, parse_concat(P));
    }
    return l;
}

static ct_node *parse_compare(ct_pstate *P) {
    const ct_token *at = cur(P);
    ct_node *first = parse_math1(P);
    ct_node *cmp = NULL;
    while (first) {
        static const char *ops[] = {"==", "!=", "<", "<=", ">", ">="};
        static const int codes[] = {CT_OP_EQ, CT_OP_NE, CT_OP_LT, CT_OP_LE, CT_OP_GT, CT_OP_GE};
        int op = -1;
        for (size_t k = 0; k < 6; k++)
            if (is_op(P, ops[k])) op = codes[k];
        if (op >= 0) {
            advance(P);
        } else if (is_name(P, "in")) {
            op = CT_OP_IN;
            advance(P);
        } else if (is_name(P, "not") && tok_is(look(P), CT_TK_NAME, "in")) {
            op = CT_OP_NOTIN;
            P->i += 2;
        } else {
            break;
        }
        if (!cmp) {
            if (!(cmp = ct_expr_node_new(P, CT_N_COMPARE, at))) return NULL;
            cmp->a = first;
        }
        ct_node *operand = ct_expr_node_new(P, CT_N_OPERAND, at);
        if (!operand) return NULL;
        operand->op = op;
        if (!(operand->a = parse_math1(P)) || ct_expr_nodes_push(P, &cmp->args, operand) != 0) return NULL;
    }
    return cmp ? cmp : first;
}

static ct_node *parse_not(ct_pstate *P) {
    if (is_name(P, "not")) {
        const ct_token *at = cur(P);
        if (++P->depth > CT_EXPR_MAX_DEPTH) {
            ct_expr_fail_at(P, at, "expression nested too deeply");
            return NULL;
        }
        advance(P);
        ct_node *n = ct_expr_node_new(P, CT_N_UNARY, at);
        if (!n) return NULL;
        n->op = 'n';
        n->a = parse_not(P);
        P->depth--;
        return n->a ? n : NULL;
    }
    return parse_compare(P);
}

static ct_node *parse_and(ct_pstate *P) {
    ct_node *l = parse_not(P);
    while (l && is_name(P, "and")) {
        const ct_token *at = cur(P);
        advance(P);
        l = binary(P, at, CT_OP_AND, l, parse_not(P));
    }
    return l;
}

static ct_node *parse_or(ct_pstate *P) {
    ct_node *l = parse_and(P);
    while (l && is_name(P, "or")) {
        const ct_token *at = cur(P);
        advance(P);
        l = binary(P, at, CT_OP_OR, l, parse_and(P));
    }
    return l;
}

ct_node *ct_expr_parse(ct_pstate *P, bool with_condexpr) {
    if (++P->depth > CT_EXPR_MAX_DEPTH) {
        ct_expr_fail_at(P, cur(P), "expression nested too deeply");
        return NULL;
    }
    const ct_token *at = cur(P);
    ct_node *n = parse_or(P);
    while (with_condexpr && n && is_name(P, "if")) {
        advance(P);
        ct_node *c = ct_expr_node_new(P, CT_N_CONDEXPR, at);
        if (!c) return NULL;
        c->b = n;
        if (!(c->a = parse_or(P))) return NULL;
        if (is_name(P, "else")) {
            advance(P);
            if (!(c->c = ct_expr_parse(P, true))) return NULL;
        }
        n = c;
        at = cur(P);
    }
    P->depth--;
    return n;
}

static bool tuple_end(const ct_pstate *P, const char *extra_end) {
    const ct_token *t = cur(P);
    if (t->type == CT_TK_VAR_END || t->type == CT_TK_BLOCK_END || t->type == CT_TK_EOF || is_op(P, ")"))
        return true;
    return extra_end && is_name(P, extra_end);
}

ct_node *ct_expr_tuple(ct_pstate *P, bool simplified, bool with_condexpr, const char *extra_end,
                            bool explicit_parens) {
    const ct_token *at = cur(P);
    ct_nodes items = {0};
    bool is_tuple = false;
    for (;;) {
        if (items.n && ct_expr_expect_op(P, ",") != 0) return NULL;
        if (tuple_end(P, extra_end)) break;
        ct_node *e = simplified ? ct_expr_primary(P, true) : ct_expr_parse(P, with_condexpr);
        if (!e || ct_expr_nodes_push(P, &items, e) != 0) return NULL;
        if (is_op(P, ","))
            is_tuple = true;
        else
            break;
    }
    if (!is_tuple) {
        if (items.n) return items.v[0];
        if (!explicit_parens) {
            ct_expr_fail_unexpected(P, "an expression");
            return NULL;
        }
    }
    ct_node *n = ct_expr_node_new(P, CT_N_TUPLE, at);
    if (n) n->args = items;
    return n;
}
