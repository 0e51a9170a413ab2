/* Decoders as HF's tokenizers composes them: Sequence (flattened), ByteLevel, Metaspace,
 * ByteFallback, Fuse, Strip, Replace and WordPiece. This file parses them, applies one step to one
 * token, and builds the per-id bytes tok_token_bytes returns; tok_decode.c runs the chain over ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_utf8.h"

int tok_buf_put(tok_buf *b, const char *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns) return -1;
        b->s = ns;
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = '\0';
    return 0;
}

static int parse_char(const cJSON *obj, const char *name, const char *where, char *dst, size_t *len,
                      char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    int32_t cp;
    size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    if (n == 0 || tok_utf8_next((const uint8_t *)v->valuestring, n, &cp) != n)
        return tok_fail(err, errlen, "%s.%s: expected a string of one character", where, name);
    memcpy(dst, v->valuestring, n);
    dst[n] = '\0';
    *len = n;
    return TOK_OK;
}

static int parse_count(const cJSON *obj, const char *name, const char *where, size_t *out,
                       char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e6 ||
        v->valuedouble != (double)(size_t)v->valuedouble)
        return tok_fail(err, errlen, "%s.%s: expected a non-negative integer", where, name);
    *out = (size_t)v->valuedouble;
    return TOK_OK;
}

static int parse_one(void *ctx, const cJSON *d, const char *where, char *err, size_t errlen)
{
    tok_tokenizer *t = ctx;
    const char *ty = tok_json_type(d);
    if (t->n_dec == TOK_MAX_STEPS)
        return tok_fail(err, errlen, "%s: more than %d decoders", where, TOK_MAX_STEPS);
    tok_dec_step *s = &t->dec[t->n_dec];
    memset(s, 0, sizeof *s);
    if (ty && strcmp(ty, "ByteLevel") == 0) {
        s->kind = TOK_DEC_BYTELEVEL;
    } else if (ty && strcmp(ty, "Fuse") == 0) {
        s->kind = TOK_DEC_FUSE;
    } else if (ty && strcmp(ty, "ByteFallback") == 0) {
        s->kind = TOK_DEC_BYTEFALLBACK;
    } else if (ty && strcmp(ty, "Metaspace") == 0) {
        s->kind = TOK_DEC_METASPACE;
        if (parse_char(d, "replacement", where, s->repl, &s->repl_len, err, errlen) != TOK_OK)
            return TOK_ERR;
        const cJSON *scheme = cJSON_GetObjectItemCaseSensitive(d, "prepend_scheme");
        s->prepend_never = cJSON_IsString(scheme) ? strcmp(scheme->valuestring, "never") == 0
                                                  : !tok_json_flag(d, "add_prefix_space", true);
    } else if (ty && strcmp(ty, "Strip") == 0) {
        s->kind = TOK_DEC_STRIP;
        if (parse_char(d, "content", where, s->strip, &s->strip_len, err, errlen) != TOK_OK ||
            parse_count(d, "start", where, &s->start, err, errlen) != TOK_OK ||
            parse_count(d, "stop", where, &s->stop, err, errlen) != TOK_OK)
            return TOK_ERR;
    } else if (ty && strcmp(ty, "WordPiece") == 0) {
        s->kind = TOK_DEC_WORDPIECE;
        const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(d, "prefix");
        if (prefix && !cJSON_IsString(prefix))
            return tok_fail(err, errlen, "%s.prefix: expected a string", where);
        s->content = strdup(prefix ? prefix->valuestring : "##");
        if (!s->content) return tok_fail(err, errlen, "%s: out of memory", where);
        s->content_len = strlen(s->content);
        s->cleanup = tok_json_flag(d, "cleanup", true);
    } else if (ty && strcmp(ty, "Replace") == 0) {
        s->kind = TOK_DEC_REPLACE;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(d, "pattern");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(d, "content");
        if (!cJSON_IsString(content))
            return tok_fail(err, errlen, "%s.content: expected a string", where);
        if (tok_parse_pattern(pat, where, &s->re, err, errlen) != TOK_OK) return TOK_ERR;
        const cJSON *lit = cJSON_GetObjectItemCaseSensitive(pat, "String");
        s->literal_len = cJSON_IsString(lit) ? strlen(lit->valuestring) : 0;
        s->content_len = strlen(content->valuestring);
        if (!(s->content = strdup(content->valuestring)))
            return tok_fail(err, errlen, "%s: out of memory", where);
    } else {
        return tok_fail(err, errlen,
                        "%s.type \"%s\" is not supported (supported: Sequence, ByteLevel, "
                        "Metaspace, ByteFallback, Fuse, Strip, Replace, WordPiece)",
                        where, ty ? ty : "(missing)");
    }
    t->n_dec++;
    return TOK_OK;
}

int tok_parse_decoder(tok_tokenizer *t, const cJSON *root, char *err, size_t errlen)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (d && !cJSON_IsNull(d)) {
        t->has_decoder = true;
        if (tok_json_steps(d, "decoder", "decoders", parse_one, t, err, errlen) != TOK_OK)
            return TOK_ERR;
    }
    t->dec_join = t->n_dec;
    for (size_t i = 0; i < t->n_dec; i++)
        if (t->dec[i].kind == TOK_DEC_FUSE || t->dec[i].kind == TOK_DEC_BYTELEVEL) {
            t->dec_join = i;
            break;
        }
    t->plain_byte_level_decoder = t->n_dec == 1 && t->dec[0].kind == TOK_DEC_BYTELEVEL;
    return TOK_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* u8::from_str_radix(&token[3..5], 16), which also takes a leading '+'. */
bool tok_dec_byte_token(const char *p, size_t n, uint8_t *byte)
{
    if (n != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>') return false;
    int hi = p[3] == '+' ? 0 : hex_digit(p[3]), lo = hex_digit(p[4]);
    if (hi < 0 || lo < 0) return false;
    *byte = (uint8_t)(hi * 16 + lo);
    return true;
}

int tok_dec_byte_level(const char *p, size_t n, tok_buf *out)
{
    size_t start = out->n;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        size_t k = tok_utf8_next((const uint8_t *)p + i, n - i, &cp);
        int b = k ? tok_char_to_byte(cp) : -1;
        if (b < 0) {
            out->n = start;
            return tok_buf_put(out, p, n);
        }
        char c = (char)b;
        if (tok_buf_put(out, &c, 1) != 0) return -1;
        i += k;
    }
    return tok_buf_put(out, "", 0);
}

/* Every match of re becomes with (str::replace for a String pattern, find_matches for a Regex). */
static int replace_all(const pcre2_code *re, const char *with, size_t with_len, const char *p,
                       size_t n, tok_buf *out)
{
    if (!re) return tok_buf_put(out, p, n);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    tok_spans sp = {0};
    char msg[160];
    int rc = md ? tok_regex_find(re, md, p, n, &sp, msg, sizeof msg) : TOK_ERR;
    for (size_t i = 0; i < sp.n && rc == TOK_OK; i++)
        if (tok_buf_put(out, sp.v[i].match ? with : p + sp.v[i].s,
                        sp.v[i].match ? with_len : sp.v[i].e - sp.v[i].s) != 0)
            rc = TOK_ERR;
    free(sp.v);
    pcre2_match_data_free(md);
    return rc == TOK_OK ? tok_buf_put(out, "", 0) : -1;
}

/* Strip: up to start copies of the character removed from the front, up to stop from the back. */
static int strip(const tok_dec_step *d, const char *p, size_t n, tok_buf *out)
{
    size_t a = 0, b = n, c = d->strip_len;
    for (size_t k = 0; k < d->start && n - a >= c && memcmp(p + a, d->strip, c) == 0; k++)
        a += c;
    for (size_t k = 0; k < d->stop && b >= a + c && memcmp(p + b - c, d->strip, c) == 0; k++)
        b -= c;
    return tok_buf_put(out, p + a, b - a);
}

/* WordPiece: a token after the first loses its leading prefix, or else gets a space in front; then
 * cleanup's replacements, in order, each over the whole token (as str::replace). */
static int wordpiece(const tok_dec_step *d, const char *p, size_t n, size_t idx, tok_buf *out)
{
    static const char *const fixes[][2] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},     {" ,", ","},
        {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},   {" do not", " don't"},
        {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    tok_buf cur = {0};
    int rc = 0;
    if (idx != 0 && n >= d->content_len && memcmp(p, d->content, d->content_len) == 0)
        rc = tok_buf_put(&cur, p + d->content_len, n - d->content_len);
    else if (idx != 0)
        rc = tok_buf_put(&cur, " ", 1) || tok_buf_put(&cur, p, n) ? -1 : 0;
    else
        rc = tok_buf_put(&cur, p, n);
    for (size_t f = 0; d->cleanup && f < sizeof fixes / sizeof fixes[0] && rc == 0; f++) {
        size_t flen = strlen(fixes[f][0]), tlen = strlen(fixes[f][1]);
        tok_buf next = {0};
        for (size_t i = 0; i < cur.n && rc == 0;) {
            if (cur.n - i >= flen && memcmp(cur.s + i, fixes[f][0], flen) == 0) {
                rc = tok_buf_put(&next, fixes[f][1], tlen);
                i += flen;
            } else {
                rc = tok_buf_put(&next, cur.s + i, 1);
                i++;
            }
        }
        free(cur.s);
        cur = next;
    }
    if (rc == 0) rc = tok_buf_put(out, cur.s ? cur.s : "", cur.n);
    free(cur.s);
    return rc;
}

int tok_dec_apply(const tok_dec_step *d, const char *p, size_t n, size_t idx, tok_buf *out)
{
    switch (d->kind) {
    case TOK_DEC_REPLACE:
        return replace_all(d->re, d->content, d->content_len, p, n, out);
    case TOK_DEC_STRIP:
        return strip(d, p, n, out);
    case TOK_DEC_WORDPIECE:
        return wordpiece(d, p, n, idx, out);
    case TOK_DEC_METASPACE:
        for (size_t i = 0; i < n;) {
            if (n - i >= d->repl_len && memcmp(p + i, d->repl, d->repl_len) == 0) {
                if ((idx != 0 || d->prepend_never) && tok_buf_put(out, " ", 1) != 0) return -1;
                i += d->repl_len;
            } else {
                size_t k = 1;
                while (i + k < n && ((uint8_t)p[i + k] & 0xC0) == 0x80)
                    k++;
                if (tok_buf_put(out, p + i, k) != 0) return -1;
                i += k;
            }
        }
        return tok_buf_put(out, "", 0);
    case TOK_DEC_BYTEFALLBACK: {
        uint8_t b;
        if (!tok_dec_byte_token(p, n, &b)) return tok_buf_put(out, p, n);
        return b < 0x80 ? tok_buf_put(out, (const char *)&b, 1)
                        : tok_buf_put(out, "\xEF\xBF\xBD", 3);
    }
    case TOK_DEC_BYTELEVEL: {
        tok_buf raw = {0};
        int rc = tok_dec_byte_level(p, n, &raw);
        char *fixed = rc == 0 ? malloc(raw.n * 3 + 1) : NULL;
        if (fixed)
            rc = tok_buf_put(out, fixed,
                             tok_utf8_lossy((const uint8_t *)raw.s, raw.n, (uint8_t *)fixed));
        else
            rc = -1;
        free(fixed);
        free(raw.s);
        return rc;
    }
    default: /* Fuse on one token */
        return tok_buf_put(out, p, n);
    }
}

/* What one id decodes to in the middle of a text: the steps before the join as for a token that is
 * not the first, a byte token as its byte, ByteLevel's bytes before any UTF-8 repair, and the steps
 * after the join that act on every character (Replace, Metaspace); Strip after the join only
 * touches the text's ends and is left out. */
static int token_bytes(const tok_tokenizer *t, const char *p, size_t n, tok_buf *out)
{
    tok_buf cur = {0};
    if (tok_buf_put(&cur, p, n) != 0) return -1;
    for (size_t i = 0; i < t->n_dec; i++) {
        const tok_dec_step *d = &t->dec[i];
        tok_buf next = {0};
        uint8_t b;
        int rc;
        if (d->kind == TOK_DEC_BYTEFALLBACK && tok_dec_byte_token(cur.s, cur.n, &b))
            rc = tok_buf_put(&next, (const char *)&b, 1);
        else if (d->kind == TOK_DEC_BYTELEVEL)
            rc = tok_dec_byte_level(cur.s, cur.n, &next);
        else if ((d->kind == TOK_DEC_STRIP && i > t->dec_join) ||
                 tok_utf8_valid_prefix((const uint8_t *)cur.s, cur.n) != cur.n)
            rc = tok_buf_put(&next, cur.s, cur.n); /* a lone byte is no text for a pattern */
        else
            rc = tok_dec_apply(d, cur.s, cur.n, i > t->dec_join ? 0 : 1, &next);
        free(cur.s);
        cur = next;
        if (rc != 0) {
            free(cur.s);
            return -1;
        }
    }
    int rc = tok_buf_put(out, cur.s, cur.n);
    free(cur.s);
    return rc;
}

int tok_build_decode_table(tok_tokenizer *t, char *err, size_t errlen)
{
    tok_buf all = {0};
    t->dec_off = calloc((size_t)(uint32_t)t->n_ids, sizeof *t->dec_off);
    t->dec_len = calloc((size_t)(uint32_t)t->n_ids, sizeof *t->dec_len);
    if (!t->dec_off || !t->dec_len) return tok_fail(err, errlen, "out of memory");
    for (int32_t id = 0; id < t->n_ids; id++) {
        if (t->piece_off[id] == UINT32_MAX) continue;
        const char *p = t->blob + t->piece_off[id];
        size_t before = all.n;
        if (token_bytes(t, p, strlen(p), &all) != 0 || all.n >= UINT32_MAX) {
            free(all.s);
            return tok_fail(err, errlen, "out of memory building the decode table");
        }
        t->dec_off[id] = (uint32_t)before;
        t->dec_len[id] = (uint32_t)(all.n - before);
    }
    t->dec_blob = (uint8_t *)all.s;
    if (!t->dec_blob && !(t->dec_blob = malloc(1))) return tok_fail(err, errlen, "out of memory");
    return TOK_OK;
}

/* Frees one slot past each count too: a step whose parsing failed halfway may hold a pattern. */
void tok_components_free(tok_tokenizer *t)
{
    for (size_t i = 0; i <= t->n_norm && i < TOK_MAX_STEPS; i++) {
        free(t->norm[i].text);
        pcre2_code_free(t->norm[i].re);
    }
    for (size_t i = 0; i <= t->n_pre && i < TOK_MAX_STEPS; i++)
        pcre2_code_free(t->pre[i].re);
    for (size_t i = 0; i <= t->n_dec && i < TOK_MAX_STEPS; i++) {
        free(t->dec[i].content);
        pcre2_code_free(t->dec[i].re);
    }
    free(t->post_prefix);
    free(t->post_suffix);
}
