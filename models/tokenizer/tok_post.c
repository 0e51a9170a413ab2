/* Post-processors as HF's tokenizers composes them, for one sequence: Sequence, ByteLevel (ids
 * unchanged), TemplateProcessing (the "single" template's special tokens around $A), and Bert /
 * Roberta processing ([CLS] ... [SEP]). All of them reduce to ids added before and after the
 * sequence, which tok_encode_special adds when asked for add_special_tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"

typedef struct {
    int32_t *v;
    size_t n;
} id_list;

static int append_ids(id_list *l, const int32_t *ids, size_t n)
{
    int32_t *nv = realloc(l->v, (l->n + n + 1) * sizeof *nv);
    if (!nv) return -1;
    l->v = nv;
    if (n) memcpy(l->v + l->n, ids, n * sizeof *ids);
    l->n += n;
    return 0;
}

static int check_id(const tok_tokenizer *t, double v, const char *where, int32_t *out, char *err,
                    size_t errlen)
{
    if (v < 0 || v >= t->n_ids || v != (double)(int32_t)v)
        return tok_fail(err, errlen, "%s: id %.0f is outside the vocabulary", where, v);
    *out = (int32_t)v;
    return TOK_OK;
}

/* The ids of special_tokens[name] of a TemplateProcessing. */
static int template_special(const tok_tokenizer *t, const cJSON *specials, const char *name,
                            const char *where, id_list *dst, char *err, size_t errlen)
{
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(specials, name);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(sp, "ids");
    if (!cJSON_IsArray(ids))
        return tok_fail(err, errlen,
                        "%s.special_tokens[\"%s\"]: missing, or without an \"ids\" array", where,
                        name);
    const cJSON *e;
    cJSON_ArrayForEach(e, ids)
    {
        int32_t id = 0;
        if (!cJSON_IsNumber(e) || check_id(t, e->valuedouble, where, &id, err, errlen) != TOK_OK)
            return tok_fail(err, errlen,
                            "%s.special_tokens[\"%s\"].ids: expected ids in the vocabulary", where,
                            name);
        if (append_ids(dst, &id, 1) != 0) return tok_fail(err, errlen, "%s: out of memory", where);
    }
    return TOK_OK;
}

static int parse_template(const tok_tokenizer *t, const cJSON *p, const char *where, id_list *pre,
                          id_list *post, char *err, size_t errlen)
{
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(p, "special_tokens");
    if (!cJSON_IsArray(single)) return tok_fail(err, errlen, "%s.single: expected an array", where);
    bool seen_a = false;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, single)
    {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(e, "Sequence");
        const cJSON *tok = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(seq ? seq : tok, "id");
        if (seq && cJSON_IsString(id) && strcmp(id->valuestring, "A") == 0 && !seen_a) {
            seen_a = true;
        } else if (tok && cJSON_IsString(id)) {
            if (template_special(t, specials, id->valuestring, where, seen_a ? post : pre, err,
                                 errlen) != TOK_OK)
                return TOK_ERR;
        } else {
            return tok_fail(err, errlen,
                            "%s.single[%d]: expected {\"SpecialToken\": {\"id\": ...}} or one "
                            "{\"Sequence\": {\"id\": \"A\"}}",
                            where, i);
        }
        i++;
    }
    if (!seen_a)
        return tok_fail(err, errlen, "%s.single: has no {\"Sequence\": {\"id\": \"A\"}}", where);
    return TOK_OK;
}

/* Bert/Roberta: "cls": ["[CLS]", id], "sep": ["[SEP]", id]. */
static int parse_cls_sep(const tok_tokenizer *t, const cJSON *p, const char *where, id_list *pre,
                         id_list *post, char *err, size_t errlen)
{
    const char *names[] = {"cls", "sep"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, names[k]);
        const cJSON *id = cJSON_GetArrayItem(v, 1);
        int32_t x = 0;
        if (!cJSON_IsArray(v) || !cJSON_IsNumber(id) ||
            check_id(t, id->valuedouble, where, &x, err, errlen) != TOK_OK)
            return tok_fail(err, errlen,
                            "%s.%s: expected [\"token\", id] with an id in the vocabulary", where,
                            names[k]);
        if (append_ids(k == 0 ? pre : post, &x, 1) != 0)
            return tok_fail(err, errlen, "%s: out of memory", where);
    }
    return TOK_OK;
}

typedef struct {
    const tok_tokenizer *t;
    id_list pre, post;
} post_ctx;

/* Each processor wraps what the earlier ones made: its prefix goes in front, its suffix behind. */
static int parse_one(void *ctx, const cJSON *p, const char *where, char *err, size_t errlen)
{
    post_ctx *c = ctx;
    const tok_tokenizer *t = c->t;
    id_list *pre = &c->pre, *post = &c->post;
    const char *ty = tok_json_type(p);
    if (ty && strcmp(ty, "ByteLevel") == 0) return TOK_OK;
    id_list a = {0}, b = {0};
    int rc;
    if (ty && strcmp(ty, "TemplateProcessing") == 0)
        rc = parse_template(t, p, where, &a, &b, err, errlen);
    else if (ty && (strcmp(ty, "BertProcessing") == 0 || strcmp(ty, "RobertaProcessing") == 0))
        rc = parse_cls_sep(t, p, where, &a, &b, err, errlen);
    else
        rc = tok_fail(err, errlen,
                      "%s.type \"%s\" is not supported (supported: Sequence, ByteLevel, "
                      "TemplateProcessing, BertProcessing, "
                      "RobertaProcessing)",
                      where, ty ? ty : "(missing)");
    if (rc == TOK_OK && (append_ids(&a, pre->v, pre->n) != 0 || append_ids(post, b.v, b.n) != 0))
        rc = tok_fail(err, errlen, "%s: out of memory", where);
    if (rc == TOK_OK) {
        free(pre->v);
        *pre = a;
        a.v = NULL;
    }
    free(a.v);
    free(b.v);
    return rc;
}

int tok_parse_post_processor(tok_tokenizer *t, const cJSON *root, char *err, size_t errlen)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (!p || cJSON_IsNull(p)) return TOK_OK;
    post_ctx c = {.t = t};
    int rc = tok_json_steps(p, "post_processor", "processors", parse_one, &c, err, errlen);
    if (rc != TOK_OK) {
        free(c.pre.v);
        free(c.post.v);
        return rc;
    }
    t->post_prefix = c.pre.v;
    t->n_post_prefix = c.pre.n;
    t->post_suffix = c.post.v;
    t->n_post_suffix = c.post.n;
    return TOK_OK;
}
