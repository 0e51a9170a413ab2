/* The structured-output fields of a request: response_format (json_object, json_schema), vLLM's
 * structured_outputs {json | regex | choice | grammar | json_object} and the older guided_json,
 * guided_regex, guided_choice, guided_grammar, parsed into one api_structured. Syntax only: the
 * schema, regex or grammar is compiled later (server/serve/constraint.c), whose errors name
 * `param`. Must not: compile, tokenize or know the engine. */
#ifndef BERTH_API_STRUCTURED_H
#define BERTH_API_STRUCTURED_H

#include <stdbool.h>
#include <stddef.h>

#include "server/api/api_error.h"

typedef enum {
    API_SO_NONE = 0,
    API_SO_JSON_OBJECT, /* any JSON object */
    API_SO_JSON_SCHEMA, /* text: the schema as JSON */
    API_SO_REGEX,       /* text */
    API_SO_CHOICE,      /* choices */
    API_SO_GRAMMAR,     /* text: GBNF (docs/structured-outputs.md) */
} api_so_kind;

typedef struct api_structured {
    api_so_kind kind;
    char *text;
    char **choices;
    size_t n_choices;
    bool strict;       /* response_format.json_schema.strict */
    const char *param; /* the field it came from, for errors (a static string) */
} api_structured;

struct cJSON;
/* Reads the fields from the request object root. 0, or -1 with a 400 in *err naming the field
 * (a second constraint next to a first is one too). */
int api_parse_structured(const struct cJSON *root, api_structured *out, api_error *err);
void api_structured_free(api_structured *s);

#endif
