/* Template evaluator: runs a parsed template over variables with Jinja2's semantics (scoping of
 * for/set/macro, Undefined, Python operators, attribute-then-item lookup of the sandbox).
 * Filters, tests and methods are dispatched to ct_filters and ct_methods; this module owns the
 * render context they share and the helpers they call back into. */
#ifndef BERTH_CT_EVAL_H
#define BERTH_CT_EVAL_H

#include <stdbool.h>

#include "models/chat_template/ct_parser.h"
#include "models/chat_template/ct_value.h"

typedef struct ct_frame {
    struct ct_frame *parent;
    ct_dict *vars;
    bool captured; /* a macro defined here keeps this frame as its closure */
} ct_frame;

typedef struct ct_ctx {
    ct_arena *arena;
    ct_buf *out;
    ct_frame *frame;
    const ct_dict *vars; /* the render variables, below every frame */
    char *err;
    size_t errlen;
    long steps;
    int depth;
} ct_ctx;

/* Call arguments after evaluation. */
typedef struct ct_args {
    size_t n;
    const ct_value *v;
    size_t nkw;
    const char *const *kwn;
    const ct_value *kwv;
} ct_args;

/* Renders body into out, allocating from arena. 0 on success; -1 with
 * "template line L, column C: ..." in err. */
int ct_eval_template(ct_arena *arena, const ct_nodes *body, const ct_dict *vars, ct_buf *out, char *err,
                     size_t errlen);

/* Writes "template line L, column C: <msg>" into the context's error buffer; returns -1. */
int ct_fail(ct_ctx *c, const ct_node *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Fails with Jinja's "'x' is undefined" message for an undefined value. */
int ct_fail_undefined(ct_ctx *c, const ct_node *at, ct_value v);
/* -1 (message set) when the arena is exhausted. */
int ct_oom(ct_ctx *c, const ct_node *at);

/* Argument lookup by position or keyword; false when absent. */
bool ct_arg(const ct_args *a, size_t pos, const char *name, ct_value *out);
/* Fails on more than max_pos positionals or a keyword not in names (NULL-terminated). */
int ct_args_check(ct_ctx *c, const ct_node *at, const char *fn, const ct_args *a, size_t max_pos,
                  const char *const *names);

/* Python iteration: list/tuple items, str code points, dict keys; Undefined is empty. */
int ct_iterate(ct_ctx *c, const ct_node *at, ct_value v, ct_list **out);
/* Python str(v) as a new arena string. */
int ct_to_str(ct_ctx *c, const ct_node *at, ct_value v, ct_value *out);
/* Jinja's getattr (attribute, then item) and getitem (item, then attribute). */
int ct_getattr(ct_ctx *c, const ct_node *at, ct_value obj, const char *name, size_t n, ct_value *out);
int ct_getitem(ct_ctx *c, const ct_node *at, ct_value obj, ct_value key, ct_value *out);
/* Calls a function value (builtin, bound method or macro). */
int ct_call(ct_ctx *c, const ct_node *at, ct_value fn, const ct_args *args, ct_value *out);

#endif
