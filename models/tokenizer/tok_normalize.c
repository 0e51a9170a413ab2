/* Normalizers as HF's tokenizers composes them: Sequence (flattened), NFC, NFD, NFKC, NFKD,
 * Prepend, Replace (String or Regex pattern), Strip, BertNormalizer, Lowercase and StripAccents,
 * applied in order to each piece of text
 * between the non-normalized added tokens. Knows nothing of pre-tokenization or the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_bert.h"
#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_unicode.h"
#include "models/tokenizer/tok_utf8.h"

/* A Replace/Split pattern: {"String": s} (literal) or {"Regex": r} (Oniguruma syntax). *re stays
 * NULL for an empty String, which tokenizers treats as matching nowhere. */
int tok_parse_pattern(const cJSON *pat, const char *where, pcre2_code **re, char *err,
                      size_t errlen)
{
    const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
    const cJSON *rx = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
    char msg[256];
    *re = NULL;
    if (cJSON_IsString(str)) {
        if (str->valuestring[0] == '\0') return TOK_OK;
        *re = tok_regex_literal(str->valuestring, strlen(str->valuestring), msg, sizeof msg);
    } else if (cJSON_IsString(rx)) {
        *re = tok_regex_compile(rx->valuestring, msg, sizeof msg);
    } else {
        return tok_fail(err, errlen, "%s.pattern: expected {\"String\": ...} or {\"Regex\": ...}",
                        where);
    }
    return *re ? TOK_OK : tok_fail(err, errlen, "%s.pattern: %s", where, msg);
}

static int parse_one(void *ctx, const cJSON *n, const char *where, char *err, size_t errlen)
{
    tok_tokenizer *t = ctx;
    const char *ty = tok_json_type(n);
    if (t->n_norm == TOK_MAX_STEPS)
        return tok_fail(err, errlen, "%s: more than %d normalizers", where, TOK_MAX_STEPS);
    tok_norm_step *s = &t->norm[t->n_norm];
    memset(s, 0, sizeof *s);
    static const char *const forms[] = {"NFC", "NFD", "NFKC", "NFKD"};
    for (int k = 0; k < 4; k++)
        if (ty && strcmp(ty, forms[k]) == 0) {
            s->kind = TOK_NORM_NFC + k;
            t->n_norm++;
            return TOK_OK;
        }
    if (ty && (strcmp(ty, "Prepend") == 0 || strcmp(ty, "Replace") == 0)) {
        bool prepend = ty[0] == 'P';
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(n, prepend ? "prepend" : "content");
        if (!cJSON_IsString(v))
            return tok_fail(err, errlen, "%s.%s: expected a string", where,
                            prepend ? "prepend" : "content");
        s->kind = prepend ? TOK_NORM_PREPEND : TOK_NORM_REPLACE;
        if (!prepend && tok_parse_pattern(cJSON_GetObjectItemCaseSensitive(n, "pattern"), where,
                                          &s->re, err, errlen) != TOK_OK)
            return TOK_ERR;
        s->text_len = strlen(v->valuestring);
        if (!(s->text = strdup(v->valuestring)))
            return tok_fail(err, errlen, "%s: out of memory", where);
        t->n_norm++;
        return TOK_OK;
    }
    if (ty && strcmp(ty, "BertNormalizer") == 0) {
        s->kind = TOK_NORM_BERT;
        s->clean_text = tok_json_flag(n, "clean_text", true);
        s->chinese = tok_json_flag(n, "handle_chinese_chars", true);
        s->lowercase = tok_json_flag(n, "lowercase", true);
        s->strip_marks = s->nfd = tok_json_flag(n, "strip_accents", s->lowercase);
        t->n_norm++;
        return TOK_OK;
    }
    if (ty && (strcmp(ty, "Lowercase") == 0 || strcmp(ty, "StripAccents") == 0)) {
        s->kind = TOK_NORM_BERT;
        s->lowercase = ty[0] == 'L';
        s->strip_all_marks = !s->lowercase; /* StripAccents: every mark, no NFD first */
        t->n_norm++;
        return TOK_OK;
    }
    if (ty && strcmp(ty, "Strip") == 0) {
        s->kind = TOK_NORM_STRIP;
        s->left = tok_json_flag(n, "strip_left", true);
        s->right = tok_json_flag(n, "strip_right", true);
        t->n_norm++;
        return TOK_OK;
    }
    return tok_fail(err, errlen,
                    "%s.type \"%s\" is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, "
                    "Prepend, Replace, Strip, BertNormalizer, Lowercase, StripAccents)",
                    where, ty ? ty : "(missing)");
}

int tok_parse_normalizer(tok_tokenizer *t, const cJSON *root, char *err, size_t errlen)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (!n || cJSON_IsNull(n)) return TOK_OK;
    if (tok_json_steps(n, "normalizer", "normalizers", parse_one, t, err, errlen) != TOK_OK)
        return TOK_ERR;
    t->nfc_only = t->n_norm == 1 && t->norm[0].kind == TOK_NORM_NFC;
    return TOK_OK;
}

/* Every match of re in p (empty ones too, as NormalizedString::replace does) becomes with. */
static int replace_all(const pcre2_code *re, const char *with, size_t with_len, const char *p,
                       size_t n, tok_buf *out)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    tok_spans sp = {0};
    char msg[160];
    int rc = md ? tok_regex_find(re, md, p, n, &sp, msg, sizeof msg) : TOK_ERR;
    for (size_t i = 0; i < sp.n && rc == TOK_OK; i++)
        if (tok_buf_put(out, sp.v[i].match ? with : p + sp.v[i].s,
                        sp.v[i].match ? with_len : sp.v[i].e - sp.v[i].s) != 0)
            rc = TOK_ERR;
    if (rc == TOK_OK && !out->s) rc = tok_buf_put(out, "", 0);
    free(sp.v);
    pcre2_match_data_free(md);
    return rc;
}

static int strip(const tok_norm_step *s, const char *p, size_t n, tok_buf *out)
{
    size_t a = 0, b = n;
    int32_t cp;
    size_t k;
    while (s->left && a < b && (k = tok_utf8_next((const uint8_t *)p + a, b - a, &cp)) &&
           tok_unicode_is_space(cp))
        a += k;
    while (s->right && b > a) {
        size_t st = b - 1;
        while (st > a && ((uint8_t)p[st] & 0xC0) == 0x80)
            st--;
        if (!tok_utf8_next((const uint8_t *)p + st, b - st, &cp) || !tok_unicode_is_space(cp))
            break;
        b = st;
    }
    return tok_buf_put(out, p + a, b - a);
}

static int put_cp(tok_buf *b, int32_t cp)
{
    char u[4];
    size_t k = tok_utf8_encode(cp, (uint8_t *)u);
    return tok_buf_put(b, u, k);
}

/* BertNormalizer's passes in HF's order: clean_text (drop NUL, U+FFFD and control characters,
 * whitespace to ' '), spaces around CJK ideographs, strip_accents (NFD, then non-spacing marks
 * dropped), lowercase (char by char, a character may become several). */
static int bert(const tok_norm_step *s, const char *p, size_t n, tok_buf *out)
{
    tok_buf a = {0};
    int rc = tok_buf_put(&a, "", 0);
    for (size_t i = 0; i < n && rc == 0;) {
        int32_t cp;
        size_t k = tok_utf8_next((const uint8_t *)p + i, n - i, &cp);
        if (k == 0) k = 1, cp = 0xFFFD;
        i += k;
        if (s->clean_text) {
            if (cp == 0 || cp == 0xFFFD || tok_bert_is_control(cp)) continue;
            if (tok_bert_is_whitespace(cp)) cp = ' ';
        }
        if (s->chinese && tok_bert_is_chinese(cp))
            rc = tok_buf_put(&a, " ", 1) || put_cp(&a, cp) || tok_buf_put(&a, " ", 1) ? -1 : 0;
        else
            rc = put_cp(&a, cp);
    }
    if (rc == 0 && s->nfd) {
        char *o = NULL;
        size_t olen = 0;
        rc = tok_normal_form(a.s, a.n, false, false, &o, &olen);
        free(a.s);
        a = (tok_buf){0};
        if (rc == 0) rc = tok_buf_put(&a, o ? o : "", olen);
        free(o);
    }
    for (size_t i = 0; i < a.n && rc == 0;) {
        int32_t cp, low[3];
        size_t k = tok_utf8_next((const uint8_t *)a.s + i, a.n - i, &cp);
        if (k == 0) k = 1, cp = 0xFFFD;
        i += k;
        if ((s->strip_marks && tok_bert_is_nonspacing_mark(cp)) ||
            (s->strip_all_marks && tok_bert_is_mark(cp)))
            continue;
        int m = s->lowercase ? tok_bert_lowercase(cp, low) : (low[0] = cp, 1);
        for (int j = 0; j < m && rc == 0; j++)
            rc = put_cp(out, low[j]);
    }
    if (rc == 0) rc = tok_buf_put(out, "", 0);
    free(a.s);
    return rc;
}

static int apply(const tok_norm_step *s, const char *p, size_t n, tok_buf *out)
{
    switch (s->kind) {
    case TOK_NORM_PREPEND:
        if (n == 0) return tok_buf_put(out, "", 0);
        return tok_buf_put(out, s->text, s->text_len) || tok_buf_put(out, p, n) ? -1 : 0;
    case TOK_NORM_REPLACE:
        if (!s->re) return tok_buf_put(out, p, n);
        return replace_all(s->re, s->text, s->text_len, p, n, out);
    case TOK_NORM_STRIP:
        return strip(s, p, n, out);
    case TOK_NORM_BERT:
        return bert(s, p, n, out);
    default: {
        char *o = NULL;
        size_t olen = 0;
        bool compose = s->kind == TOK_NORM_NFC || s->kind == TOK_NORM_NFKC;
        bool compat = s->kind == TOK_NORM_NFKC || s->kind == TOK_NORM_NFKD;
        if (tok_normal_form(p, n, compose, compat, &o, &olen) != 0) return -1;
        int rc = tok_buf_put(out, o ? o : "", olen);
        free(o);
        return rc;
    }
    }
}

int tok_normalize(const tok_tokenizer *t, const char *p, size_t n, char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = n;
    if (t->n_norm == 0 || (t->nfc_only && !tok_needs_nfc(p, n))) return TOK_OK;
    char *cur = NULL;
    for (size_t i = 0; i < t->n_norm; i++) {
        tok_buf b = {0};
        int rc = apply(&t->norm[i], cur ? cur : p, cur ? *outlen : n, &b);
        free(cur);
        if (rc != 0) {
            free(b.s);
            return TOK_ERR;
        }
        cur = b.s;
        *outlen = b.n;
    }
    *out = cur;
    return TOK_OK;
}
