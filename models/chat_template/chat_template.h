/* Chat templates: a model's own Jinja chat_template rendered byte-identically to transformers'
 * apply_chat_template (Jinja2 ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
 * loopcontrols, its tojson/raise_exception/strftime_now). Owns the public ct_ API only; callers
 * build the variables (messages, tools, add_generation_prompt, special tokens, kwargs). */
#ifndef BERTH_CHAT_TEMPLATE_H
#define BERTH_CHAT_TEMPLATE_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct ct_template ct_template;

/* Parses a template; errors name line and column and the construct. 0 on success. */
int ct_parse(ct_template **out, const char *source, size_t len, char *err, size_t errlen);

/* Renders with a JSON object as the variables (messages, tools, add_generation_prompt, bos_token,
 * eos_token, and any chat_template_kwargs merged in at top level, as transformers does).
 * `raise_exception` in the template is an error carrying its message. On success *out is a
 * malloc'ed NUL-terminated string of *out_len bytes that the caller frees. Thread-safe: a parsed
 * template is read-only during rendering. */
int ct_render(const ct_template *t, const cJSON *vars, char **out, size_t *out_len, char *err, size_t errlen);

void ct_free(ct_template *t);

#endif
