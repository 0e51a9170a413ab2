/* Python methods of str, dict and list that templates call (`s.strip()`, `d.items()`), and the
 * globals transformers provides (range, namespace, dict, raise_exception, strftime_now).
 * Must not touch scoping or statements (ct_eval). */
#ifndef BERTH_CT_METHODS_H
#define BERTH_CT_METHODS_H

#include <stdbool.h>

#include "models/chat_template/ct_eval.h"

/* A bound method value for obj.name, or false when the type has no such method. */
bool ct_method_lookup(ct_ctx *c, ct_value obj, const char *name, size_t n, ct_value *out);
/* A global function by name, or false. */
bool ct_global_lookup(const char *name, size_t n, ct_value *out);
/* Calls a builtin (fn->macro == NULL). */
int ct_call_builtin(ct_ctx *c, const ct_node *at, const ct_func *fn, const ct_args *args, ct_value *out);

/* String helpers shared with the filters (Python str semantics on UTF-8). */
int ct_str_strip(ct_ctx *c, const ct_node *at, ct_value s, const ct_value *chars, bool left, bool right,
                 ct_value *out);
int ct_str_case(ct_ctx *c, const ct_node *at, ct_value s, int mode, ct_value *out); /* 'u','l','c','t' */
int ct_str_replace(ct_ctx *c, const ct_node *at, ct_value s, ct_value old, ct_value new_, int64_t count,
                   ct_value *out);

#endif
