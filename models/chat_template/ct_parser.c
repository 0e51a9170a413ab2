/* Jinja2's statements ({% if %}, {% for %}, {% set %}, macros, call blocks, ...) over ct_lexer
 * tokens, and the template's top level; the expressions inside them are ct_expr.c's. Follows
 * jinja2/parser.py. */
#include "models/chat_template/ct_parser.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "models/chat_template/ct_expr.h"

/* ---- statements ------------------------------------------------------------------------------- */

static int subparse(ct_pstate *P, ct_nodes *body, const char *const *end_tags);

static int expect_block_end(ct_pstate *P) {
    if (cur(P)->type != CT_TK_BLOCK_END) return ct_expr_fail_unexpected(P, "end of statement block");
    advance(P);
    return 0;
}

/* Parses statements up to one of end_tags; leaves the stream after the matching tag name and
 * returns the index of the tag that ended the list. */
static int parse_statements(ct_pstate *P, ct_nodes *body, const char *const *end_tags, const ct_token *opener) {
    if (expect_block_end(P) != 0) return -1;
    int which = subparse(P, body, end_tags);
    if (which == -1) return -1;
    if (which == -2) {
        size_t last = 0;
        while (end_tags[last + 1]) last++;
        return ct_expr_fail_at(P, opener, "unclosed tag '%.*s': expected '%s' before the end of the template",
                       (int)opener->n, opener->p, end_tags[last]);
    }
    advance(P);
    return which;
}

static ct_node *parse_assign_target(ct_pstate *P, bool name_only, const char *extra_end, bool with_ns) {
    const ct_token *at = cur(P);
    ct_node *t;
    if (name_only) {
        if (at->type != CT_TK_NAME) {
            ct_expr_fail_unexpected(P, "name");
            return NULL;
        }
        t = ct_expr_primary(P, false);
    } else {
        t = ct_expr_tuple(P, true, true, extra_end, false);
    }
    if (!t) return NULL;
    bool ok = t->kind == CT_N_NAME || t->kind == CT_N_NSREF;
    if (t->kind == CT_N_TUPLE) {
        ok = true;
        for (size_t k = 0; k < t->args.n; k++)
            if (t->args.v[k]->kind != CT_N_NAME) ok = false;
    }
    if (!ok) {
        ct_expr_fail_at(P, at, "can't assign to this expression");
        return NULL;
    }
    return t;
}

static int parse_signature(ct_pstate *P, ct_nodes *params) {
    if (ct_expr_expect_op(P, "(") != 0) return -1;
    bool defaults = false;
    while (!is_op(P, ")")) {
        if (params->n && ct_expr_expect_op(P, ",") != 0) return -1;
        ct_node *p = parse_assign_target(P, true, NULL, false);
        if (!p) return -1;
        if (is_op(P, "=")) {
            advance(P);
            if (!(p->a = ct_expr_parse(P, true))) return -1;
            defaults = true;
        } else if (defaults) {
            return ct_expr_fail_at(P, cur(P), "non-default argument follows default argument");
        }
        if (ct_expr_nodes_push(P, params, p) != 0) return -1;
    }
    advance(P);
    return 0;
}

static ct_node *parse_statement(ct_pstate *P) {
    const ct_token *t = cur(P);
    if (t->type != CT_TK_NAME) {
        ct_expr_fail_unexpected(P, "tag name");
        return NULL;
    }
    if (++P->depth > CT_EXPR_MAX_DEPTH) {
        ct_expr_fail_at(P, t, "statements nested too deeply");
        return NULL;
    }
    ct_node *n = NULL;
    advance(P);
    if (tok_is(t, CT_TK_NAME, "if")) {
        ct_node *top = ct_expr_node_new(P, CT_N_IF, t), *node = top;
        while (node) {
            if (!(node->a = ct_expr_tuple(P, false, false, NULL, false))) return NULL;
            static const char *const ends[] = {"elif", "else", "endif", NULL};
            int which = parse_statements(P, &node->body, ends, t);
            if (which < 0) return NULL;
            if (which == 0) {
                ct_node *elif = ct_expr_node_new(P, CT_N_IF, t);
                if (!elif || ct_expr_nodes_push(P, &node->orelse, elif) != 0) return NULL;
                node = elif;
                continue;
            }
            if (which == 1) {
                static const char *const end[] = {"endif", NULL};
                if (parse_statements(P, &node->orelse, end, t) < 0) return NULL;
            }
            break;
        }
        n = top;
    } else if (tok_is(t, CT_TK_NAME, "for")) {
        if (!(n = ct_expr_node_new(P, CT_N_FOR, t))) return NULL;
        if (!(n->a = parse_assign_target(P, false, "in", false))) return NULL;
        if (!is_name(P, "in")) {
            ct_expr_fail_unexpected(P, "'in'");
            return NULL;
        }
        advance(P);
        if (!(n->b = ct_expr_tuple(P, false, false, "recursive", false))) return NULL;
        if (is_name(P, "if")) {
            advance(P);
            if (!(n->c = ct_expr_parse(P, true))) return NULL;
        }
        if (is_name(P, "recursive")) {
            ct_expr_fail_at(P, cur(P), "recursive for loops are not supported");
            return NULL;
        }
        static const char *const ends[] = {"endfor", "else", NULL};
        int which = parse_statements(P, &n->body, ends, t);
        if (which < 0) return NULL;
        if (which == 1) {
            static const char *const end[] = {"endfor", NULL};
            if (parse_statements(P, &n->orelse, end, t) < 0) return NULL;
        }
    } else if (tok_is(t, CT_TK_NAME, "set")) {
        ct_node *target = parse_assign_target(P, false, NULL, true);
        if (!target) return NULL;
        if (is_op(P, "=")) {
            advance(P);
            if (!(n = ct_expr_node_new(P, CT_N_SET, t))) return NULL;
            n->a = target;
            if (!(n->b = ct_expr_tuple(P, false, true, NULL, false))) return NULL;
        } else {
            if (!(n = ct_expr_node_new(P, CT_N_SETBLOCK, t))) return NULL;
            n->a = target;
            while (is_op(P, "|")) {
                advance(P);
                ct_node *f = ct_expr_filter_or_test(P, NULL, false);
                if (!f || ct_expr_nodes_push(P, &n->args, f) != 0) return NULL;
            }
            static const char *const end[] = {"endset", NULL};
            if (parse_statements(P, &n->body, end, t) < 0) return NULL;
        }
    } else if (tok_is(t, CT_TK_NAME, "macro")) {
        if (!(n = ct_expr_node_new(P, CT_N_MACRO, t))) return NULL;
        ct_node *name = parse_assign_target(P, true, NULL, false);
        if (!name) return NULL;
        n->name = name->name;
        if (parse_signature(P, &n->args) != 0) return NULL;
        static const char *const end[] = {"endmacro", NULL};
        if (parse_statements(P, &n->body, end, t) < 0) return NULL;
    } else if (tok_is(t, CT_TK_NAME, "call")) {
        if (!(n = ct_expr_node_new(P, CT_N_CALLBLOCK, t))) return NULL;
        if (is_op(P, "(") && parse_signature(P, &n->args) != 0) return NULL;
        if (!(n->a = ct_expr_parse(P, true))) return NULL;
        if (n->a->kind != CT_N_CALL) {
            ct_expr_fail_at(P, t, "expected call");
            return NULL;
        }
        static const char *const end[] = {"endcall", NULL};
        if (parse_statements(P, &n->body, end, t) < 0) return NULL;
    } else if (tok_is(t, CT_TK_NAME, "break") || tok_is(t, CT_TK_NAME, "continue")) {
        n = ct_expr_node_new(P, t->p[0] == 'b' ? CT_N_BREAK : CT_N_CONTINUE, t);
    } else if (tok_is(t, CT_TK_NAME, "generation")) {
        /* transformers' AssistantTracker tag: a call block that renders its body unchanged */
        if (!(n = ct_expr_node_new(P, CT_N_BLOCK, t))) return NULL;
        static const char *const end[] = {"endgeneration", NULL};
        if (parse_statements(P, &n->body, end, t) < 0) return NULL;
    } else if (tok_is(t, CT_TK_NAME, "filter")) {
        if (!(n = ct_expr_node_new(P, CT_N_FILTERBLOCK, t))) return NULL;
        do {
            if (n->args.n) advance(P);
            ct_node *f = ct_expr_filter_or_test(P, NULL, false);
            if (!f || ct_expr_nodes_push(P, &n->args, f) != 0) return NULL;
        } while (is_op(P, "|"));
        static const char *const end[] = {"endfilter", NULL};
        if (parse_statements(P, &n->body, end, t) < 0) return NULL;
    } else {
        ct_expr_fail_at(P, t, "unsupported or unexpected tag '%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p);
        return NULL;
    }
    P->depth--;
    return n;
}

/* Returns the index in end_tags of the tag that stopped it (the stream at that tag's name), -2 at
 * the end of the template, -1 on error. */
static int subparse(ct_pstate *P, ct_nodes *body, const char *const *end_tags) {
    for (;;) {
        const ct_token *t = cur(P);
        if (t->type == CT_TK_EOF) return -2;
        if (t->type == CT_TK_DATA) {
            ct_node *d = ct_expr_node_new(P, CT_N_DATA, t);
            if (!d) return -1;
            d->name = t->p;
            d->name_len = t->n;
            if (ct_expr_nodes_push(P, body, d) != 0) return -1;
            advance(P);
        } else if (t->type == CT_TK_VAR_BEGIN) {
            advance(P);
            ct_node *o = ct_expr_node_new(P, CT_N_OUTPUT, t);
            if (!o || !(o->a = ct_expr_tuple(P, false, true, NULL, false))) return -1;
            if (cur(P)->type != CT_TK_VAR_END) return ct_expr_fail_unexpected(P, "end of print statement");
            advance(P);
            if (ct_expr_nodes_push(P, body, o) != 0) return -1;
        } else if (t->type == CT_TK_BLOCK_BEGIN) {
            advance(P);
            for (size_t k = 0; end_tags && end_tags[k]; k++)
                if (is_name(P, end_tags[k])) return (int)k;
            ct_node *s = parse_statement(P);
            if (!s || expect_block_end(P) != 0 || ct_expr_nodes_push(P, body, s) != 0) return -1;
        } else {
            return ct_expr_fail_unexpected(P, "template data or a tag");
        }
    }
}

int ct_parse_tokens(ct_arena *a, const ct_tokens *toks, ct_nodes *out, char *err, size_t errlen) {
    ct_pstate P = {.a = a, .t = toks->t, .n = toks->n, .err = err, .errlen = errlen};
    *out = (ct_nodes){0};
    int r = subparse(&P, out, NULL);
    return r == -2 ? ct_check_unknown(out, err, errlen) : -1;
}
