/* tojson as transformers defines it: json.dumps(x, ensure_ascii=False, indent=indent,
 * separators=separators, sort_keys=sort_keys), byte for byte. Owns JSON writing only. */
#ifndef BERTH_CT_JSON_H
#define BERTH_CT_JSON_H

#include <stdbool.h>

#include "models/chat_template/ct_value.h"

typedef struct ct_json_opts {
    bool ensure_ascii;
    bool sort_keys;
    const char *indent; /* NULL: single line; otherwise the text of one indent level */
    size_t indent_len;
    const char *item_sep, *key_sep; /* NULL: Python's defaults for the indent mode */
    size_t item_sep_len, key_sep_len;
} ct_json_opts;

/* Appends the JSON text of v to b; -1 with Python's TypeError message for values JSON cannot hold. */
int ct_json_dump(ct_buf *b, ct_value v, const ct_json_opts *o, char *err, size_t errlen);

#endif
