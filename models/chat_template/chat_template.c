/* Public API: a template is its parse arena and AST; each render has its own arena. */
#include "models/chat_template/chat_template.h"

#include <stdio.h>
#include <stdlib.h>

#include "models/chat_template/ct_eval.h"
#include "models/chat_template/ct_lexer.h"
#include "models/chat_template/ct_parser.h"

enum { TEMPLATE_ARENA_LIMIT = 64 << 20, RENDER_ARENA_LIMIT = 512 << 20, OUTPUT_LIMIT = 64 << 20 };

struct ct_template {
    ct_arena *arena;
    ct_nodes body;
};

int ct_parse(ct_template **out, const char *source, size_t len, char *err, size_t errlen) {
    *out = NULL;
    ct_template *t = calloc(1, sizeof *t);
    if (!t || !(t->arena = ct_arena_new(TEMPLATE_ARENA_LIMIT))) {
        free(t);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ct_tokens toks;
    if (ct_lex(t->arena, source, len, &toks, err, errlen) != 0 ||
        ct_parse_tokens(t->arena, &toks, &t->body, err, errlen) != 0) {
        ct_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int ct_render(const ct_template *t, const cJSON *vars, char **out, size_t *out_len, char *err, size_t errlen) {
    *out = NULL;
    *out_len = 0;
    if (!cJSON_IsObject(vars)) {
        snprintf(err, errlen, "chat template variables: expected a JSON object");
        return -1;
    }
    ct_arena *arena = ct_arena_new(RENDER_ARENA_LIMIT);
    if (!arena) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ct_value v;
    ct_buf b = {.limit = OUTPUT_LIMIT};
    int r = -1;
    if (ct_from_json(arena, vars, &v) != 0) {
        snprintf(err, errlen, "chat template variables: out of memory converting the JSON object");
    } else if (ct_eval_template(arena, &t->body, v.u.d, &b, err, errlen) == 0) {
        if (b.oom) {
            snprintf(err, errlen, "rendered text exceeds %d bytes", OUTPUT_LIMIT);
        } else {
            *out = b.p ? b.p : calloc(1, 1);
            *out_len = b.n;
            b.p = NULL;
            r = *out ? 0 : -1;
        }
    }
    ct_buf_free(&b);
    ct_arena_free(arena);
    return r;
}

void ct_free(ct_template *t) {
    if (!t) return;
    ct_arena_free(t->arena);
    free(t);
}
