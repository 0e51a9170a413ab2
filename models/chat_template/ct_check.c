/* The compile-time check Jinja2 makes after parsing: filters and tests must exist, except in its
 * "soft" frames (if statements and conditional expressions), where the error is deferred to the
 * moment the filter runs. Real templates rely on it: DeepSeek-V3.2's applies llama.cpp's from_json
 * inside an if, so Jinja2 (and berth) render it whenever that branch is not taken. */
#include <stdio.h>

#include "models/chat_template/ct_parser.h"

static int check(const ct_node *n, bool soft, char *err, size_t errlen);

static int check_all(const ct_nodes *v, bool soft, char *err, size_t errlen) {
    for (size_t k = 0; k < v->n; k++)
        if (check(v->v[k], soft, err, errlen) != 0) return -1;
    return 0;
}

static int check(const ct_node *n, bool soft, char *err, size_t errlen) {
    if (!n) return 0;
    if ((n->kind == CT_N_FILTER || n->kind == CT_N_TEST) && n->unknown && !soft) {
        snprintf(err, errlen, "template line %d, column %d: unsupported %s '%s'", n->line, n->col,
                 n->kind == CT_N_TEST ? "test" : "filter", n->name);
        return -1;
    }
    /* Which parts open a new (not soft) frame, which make one soft, which inherit. */
    bool a = soft, b = soft, c = soft, args = soft, body = soft, orelse = soft;
    switch (n->kind) {
    case CT_N_IF:
    case CT_N_CONDEXPR: a = b = c = body = orelse = true; break;
    case CT_N_FOR: c = body = orelse = false; break; /* the iterable is evaluated outside the loop */
    case CT_N_MACRO: a = args = body = false; break;
    case CT_N_CALLBLOCK: args = body = false; break;
    case CT_N_SETBLOCK:
    case CT_N_FILTERBLOCK:
    case CT_N_BLOCK: args = body = false; break;
    default: break;
    }
    if (check(n->a, a, err, errlen) || check(n->b, b, err, errlen) || check(n->c, c, err, errlen) ||
        check_all(&n->args, args, err, errlen) || check_all(&n->kwargs, args, err, errlen) ||
        check_all(&n->body, body, err, errlen) || check_all(&n->orelse, orelse, err, errlen))
        return -1;
    return 0;
}

int ct_check_unknown(const ct_nodes *body, char *err, size_t errlen) {
    return check_all(body, false, err, errlen);
}
