/* Python operators on template values: arithmetic with int/float rules, comparisons, `in`.
 * Must not touch scoping or statements (ct_eval) or filters (ct_filters). */
#ifndef BERTH_CT_OPS_H
#define BERTH_CT_OPS_H

#include <stdbool.h>

#include "models/chat_template/ct_eval.h"

/* op is a CT_OP_* arithmetic code. Integers are 64-bit: overflow is an error, not a bignum. */
int ct_op_binary(ct_ctx *c, const ct_node *at, int op, ct_value a, ct_value b, ct_value *out);
/* op is '-' or '+'. */
int ct_op_unary(ct_ctx *c, const ct_node *at, int op, ct_value v, ct_value *out);
/* op is CT_OP_EQ ... CT_OP_NOTIN. */
int ct_op_compare(ct_ctx *c, const ct_node *at, int op, ct_value a, ct_value b, bool *out);
/* Python ordering: *cmp is -1, 0 or 1; fails for unorderable types as Python raises TypeError. */
int ct_compare(ct_ctx *c, const ct_node *at, ct_value a, ct_value b, int *cmp);

#endif
