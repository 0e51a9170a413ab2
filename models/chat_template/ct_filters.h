/* Jinja2 filters and tests with the transformers overrides (tojson). Owns name lookup for the
 * parser and the implementations; must not touch scoping or statements (ct_eval). */
#ifndef BERTH_CT_FILTERS_H
#define BERTH_CT_FILTERS_H

#include <stdbool.h>

#include "models/chat_template/ct_eval.h"

bool ct_filter_known(const char *name);
bool ct_test_known(const char *name);

int ct_apply_filter(ct_ctx *c, const ct_node *at, const char *name, ct_value v, const ct_args *args, ct_value *out);
int ct_apply_test(ct_ctx *c, const ct_node *at, const char *name, ct_value v, const ct_args *args, bool *out);

#endif
