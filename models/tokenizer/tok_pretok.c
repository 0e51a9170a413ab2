/* Pre-tokenizers as HF's tokenizers composes them: Sequence (flattened), Split (the file's own
 * regex or string, every behaviour, invert), ByteLevel (add_prefix_space, use_regex), Digits,
 * Metaspace (replacement, prepend_scheme, split), Whitespace, WhitespaceSplit and BertPreTokenizer.
 * Each step splits
 * every piece the previous one made; the last pieces are the model's words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_bert.h"
#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_unicode.h"
#include "models/tokenizer/tok_utf8.h"

/* GPT-2's pattern, which ByteLevel applies itself when use_regex is true. */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int parse_behavior(const cJSON *v, const char *where, int *out, char *err, size_t errlen)
{
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                        "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5 && cJSON_IsString(v); i++)
        if (strcmp(v->valuestring, names[i]) == 0) {
            *out = i;
            return TOK_OK;
        }
    return tok_fail(
        err, errlen,
        "%s.behavior: expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous",
        where);
}

/* One UTF-8 character from a JSON string field into dst[5]. */
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

static int parse_one(void *ctx, const cJSON *p, const char *where, char *err, size_t errlen)
{
    tok_tokenizer *t = ctx;
    const char *ty = tok_json_type(p);
    if (t->n_pre == TOK_MAX_STEPS)
        return tok_fail(err, errlen, "%s: more than %d pre-tokenizers", where, TOK_MAX_STEPS);
    if (t->byte_level)
        return tok_fail(err, errlen,
                        "%s.type \"%s\" after a ByteLevel pre-tokenizer is not supported", where,
                        ty ? ty : "(missing)");
    tok_pre_step *s = &t->pre[t->n_pre];
    memset(s, 0, sizeof *s);
    char msg[256];
    if (ty && strcmp(ty, "Split") == 0) {
        s->kind = TOK_PRE_SPLIT;
        if (tok_parse_pattern(cJSON_GetObjectItemCaseSensitive(p, "pattern"), where, &s->re, err,
                              errlen) != TOK_OK ||
            parse_behavior(cJSON_GetObjectItemCaseSensitive(p, "behavior"), where, &s->behavior,
                           err, errlen) != TOK_OK)
            return TOK_ERR;
        s->invert = tok_json_flag(p, "invert", false);
    } else if (ty && strcmp(ty, "ByteLevel") == 0) {
        s->kind = TOK_PRE_BYTELEVEL;
        s->add_prefix_space = tok_json_flag(p, "add_prefix_space", true);
        s->behavior = TOK_SPLIT_ISOLATED;
        if (tok_json_flag(p, "use_regex", true) &&
            !(s->re = tok_regex_compile(gpt2_pattern, msg, sizeof msg)))
            return tok_fail(err, errlen, "%s: %s", where, msg);
        t->byte_level = true;
    } else if (ty && strcmp(ty, "Digits") == 0) {
        s->kind = TOK_PRE_DIGITS;
        s->behavior = tok_json_flag(p, "individual_digits", false) ? TOK_SPLIT_ISOLATED
                                                                   : TOK_SPLIT_CONTIGUOUS;
    } else if (ty && strcmp(ty, "Metaspace") == 0) {
        s->kind = TOK_PRE_METASPACE;
        if (parse_char(p, "replacement", where, s->repl, &s->repl_len, err, errlen) != TOK_OK)
            return TOK_ERR;
        const cJSON *scheme = cJSON_GetObjectItemCaseSensitive(p, "prepend_scheme");
        if (cJSON_IsString(scheme)) {
            const char *v = scheme->valuestring;
            s->prepend = strcmp(v, "always") == 0  ? TOK_PREPEND_ALWAYS
                         : strcmp(v, "first") == 0 ? TOK_PREPEND_FIRST
                         : strcmp(v, "never") == 0 ? TOK_PREPEND_NEVER
                                                   : -1;
            if (s->prepend < 0)
                return tok_fail(err, errlen,
                                "%s.prepend_scheme \"%s\": expected always, first or never", where,
                                v);
        } else { /* files older than prepend_scheme say add_prefix_space */
            s->prepend =
                tok_json_flag(p, "add_prefix_space", true) ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
        }
        s->split = tok_json_flag(p, "split", true);
        s->behavior = TOK_SPLIT_MERGED_NEXT;
    } else if (ty && strcmp(ty, "Whitespace") == 0) {
        s->kind = TOK_PRE_WHITESPACE;
    } else if (ty && strcmp(ty, "BertPreTokenizer") == 0) {
        s->kind = TOK_PRE_BERT;
    } else if (ty && strcmp(ty, "WhitespaceSplit") == 0) {
        s->kind = TOK_PRE_WSPLIT;
        s->behavior = TOK_SPLIT_REMOVED;
    } else {
        return tok_fail(err, errlen,
                        "%s.type \"%s\" is not supported (supported: Sequence, Split, ByteLevel, "
                        "Digits, Metaspace, Whitespace, WhitespaceSplit, BertPreTokenizer)",
                        where, ty ? ty : "(missing)");
    }
    t->n_pre++;
    return TOK_OK;
}

int tok_parse_pre_tokenizer(tok_tokenizer *t, const cJSON *root, char *err, size_t errlen)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (!p || cJSON_IsNull(p)) return TOK_OK;
    return tok_json_steps(p, "pre_tokenizer", "pretokenizers", parse_one, t, err, errlen);
}

typedef struct {
    const tok_tokenizer *t;
    pcre2_match_data *md;
    tok_word_fn fn;
    void *ctx;
    char *err;
    size_t errlen;
} pre_ctx;

/* find_matches for a character predicate: each matching character is a match of its own, the runs
 * between them non-matches. */
static int char_spans(const char *p, size_t n, bool (*pred)(int32_t, const void *), const void *arg,
                      tok_spans *out)
{
    out->n = 0;
    if (n == 0) return tok_span_push(out, 0, 0, false);
    size_t last = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp = 0xFFFD;
        size_t k = tok_utf8_next((const uint8_t *)p + i, n - i, &cp);
        if (k == 0) k = 1;
        if (pred(cp, arg)) {
            if (last < i && tok_span_push(out, last, i, false) != 0) return -1;
            if (tok_span_push(out, i, i + k, true) != 0) return -1;
            last = i + k;
        }
        i += k;
    }
    if (last < n && tok_span_push(out, last, n, false) != 0) return -1;
    return 0;
}

static bool numeric(int32_t cp, const void *arg)
{
    (void)arg;
    return tok_unicode_is_numeric(cp);
}

static bool space(int32_t cp, const void *arg)
{
    (void)arg;
    return tok_unicode_is_space(cp);
}

static bool is_char(int32_t cp, const void *arg)
{
    return cp == *(const int32_t *)arg;
}

/* NormalizedString::split: folds the matches by behaviour into pieces; a removed span gets e = s
 * and match = true so the caller skips it with the empty ones. */
static void fold(tok_spans *sp, int behavior)
{
    size_t k = 0;
    bool prev = false;
    switch (behavior) {
    case TOK_SPLIT_REMOVED:
        for (size_t i = 0; i < sp->n; i++)
            if (sp->v[i].match) sp->v[i].e = sp->v[i].s;
        return;
    case TOK_SPLIT_ISOLATED:
        return;
    case TOK_SPLIT_CONTIGUOUS:
    case TOK_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < sp->n; i++) {
            bool m = sp->v[i].match;
            bool merge = behavior == TOK_SPLIT_CONTIGUOUS ? m == prev : m && !prev;
            if (merge && k > 0)
                sp->v[k - 1].e = sp->v[i].e;
            else
                sp->v[k++] = sp->v[i];
            prev = m;
        }
        break;
    case TOK_SPLIT_MERGED_NEXT: /* the same, walking backwards */
        k = sp->n;
        for (size_t i = sp->n; i-- > 0;) {
            bool m = sp->v[i].match;
            if (m && !prev && k < sp->n)
                sp->v[k].s = sp->v[i].s;
            else
                sp->v[--k] = sp->v[i];
            prev = m;
        }
        memmove(sp->v, sp->v + k, (sp->n - k) * sizeof *sp->v);
        k = sp->n - k;
        break;
    }
    for (size_t i = 0; i < k; i++)
        sp->v[i].match = false;
    sp->n = k;
}

static int level(pre_ctx *c, size_t i, const char *p, size_t n, bool first);

static int each_span(pre_ctx *c, size_t i, const char *p, const tok_spans *sp, bool first)
{
    for (size_t k = 0; k < sp->n; k++) {
        const tok_span *s = &sp->v[k];
        if (s->e > s->s && level(c, i + 1, p + s->s, s->e - s->s, first && s->s == 0) != TOK_OK)
            return TOK_ERR;
    }
    return TOK_OK;
}

/* Whitespace: the matches of \w+|[^\w\s]+ (Rust regex), everything else dropped. */
static int whitespace(pre_ctx *c, size_t i, const char *p, size_t n, bool first)
{
    for (size_t a = 0; a < n;) {
        int32_t cp = 0xFFFD;
        size_t k = tok_utf8_next((const uint8_t *)p + a, n - a, &cp);
        if (k == 0) k = 1;
        if (tok_unicode_is_space(cp) && !tok_unicode_is_word(cp)) {
            a += k;
            continue;
        }
        bool word = tok_unicode_is_word(cp);
        size_t b = a + k;
        while (b < n) {
            k = tok_utf8_next((const uint8_t *)p + b, n - b, &cp);
            if (k == 0) k = 1;
            bool w = tok_unicode_is_word(cp);
            if (w != word || (!w && tok_unicode_is_space(cp))) break;
            b += k;
        }
        if (level(c, i + 1, p + a, b - a, first && a == 0) != TOK_OK) return TOK_ERR;
        a = b;
    }
    return TOK_OK;
}

/* BertPreTokenizer: split on whitespace (removed), then every punctuation character alone. */
static int bert(pre_ctx *c, size_t i, const char *p, size_t n, bool first)
{
    size_t run = 0;
    for (size_t a = 0; a < n;) {
        int32_t cp = 0xFFFD;
        size_t k = tok_utf8_next((const uint8_t *)p + a, n - a, &cp);
        if (k == 0) k = 1;
        bool ws = tok_bert_is_whitespace(cp), punct = !ws && tok_bert_is_punct(cp);
        if ((ws || punct) && run < a &&
            level(c, i + 1, p + run, a - run, first && run == 0) != TOK_OK)
            return TOK_ERR;
        if (punct && level(c, i + 1, p + a, k, first && a == 0) != TOK_OK) return TOK_ERR;
        a += k;
        if (ws || punct) run = a;
    }
    return run < n ? level(c, i + 1, p + run, n - run, first && run == 0) : TOK_OK;
}

static int level(pre_ctx *c, size_t i, const char *p, size_t n, bool first)
{
    const tok_tokenizer *t = c->t;
    if (n == 0) return TOK_OK;
    if (i == t->n_pre) return c->fn(c->ctx, p, n) == 0 ? TOK_OK : TOK_ERR;
    const tok_pre_step *s = &t->pre[i];
    if (s->kind == TOK_PRE_WHITESPACE) return whitespace(c, i, p, n, first);
    if (s->kind == TOK_PRE_BERT) return bert(c, i, p, n, first);
    char *own = NULL;
    tok_spans sp = {0};
    int rc = 0;
    if (s->kind == TOK_PRE_BYTELEVEL && s->add_prefix_space && p[0] != ' ') {
        if (!(own = malloc(n + 1))) goto oom;
        own[0] = ' ';
        memcpy(own + 1, p, n);
        p = own;
        n++;
    } else if (s->kind == TOK_PRE_METASPACE) {
        size_t spaces = 0;
        for (size_t k = 0; k < n; k++)
            spaces += p[k] == ' ';
        if (!(own = malloc(n + spaces * (s->repl_len - 1) + s->repl_len + 1))) goto oom;
        size_t m = 0;
        for (size_t k = 0; k < n; k++) {
            if (p[k] == ' ')
                memcpy(own + m, s->repl, s->repl_len), m += s->repl_len;
            else
                own[m++] = p[k];
        }
        bool starts = m >= s->repl_len && memcmp(own, s->repl, s->repl_len) == 0;
        if (!starts &&
            (s->prepend == TOK_PREPEND_ALWAYS || (s->prepend == TOK_PREPEND_FIRST && first))) {
            memmove(own + s->repl_len, own, m);
            memcpy(own, s->repl, s->repl_len);
            m += s->repl_len;
        }
        p = own;
        n = m;
        if (!s->split) {
            rc = level(c, i + 1, p, n, first);
            free(own);
            return rc;
        }
    }
    switch (s->kind) {
    case TOK_PRE_SPLIT:
    case TOK_PRE_BYTELEVEL:
        if (!s->re && s->kind == TOK_PRE_BYTELEVEL) { /* use_regex false: the piece as it is */
            rc = level(c, i + 1, p, n, first);
            free(own);
            return rc;
        }
        if (!s->re) { /* an empty String pattern matches nowhere */
            rc = tok_span_push(&sp, 0, n, false);
        } else if (tok_regex_find(s->re, c->md, p, n, &sp, c->err, c->errlen) != TOK_OK) {
            free(own);
            free(sp.v);
            return TOK_ERR;
        }
        if (s->invert)
            for (size_t k = 0; k < sp.n; k++)
                sp.v[k].match = !sp.v[k].match;
        break;
    case TOK_PRE_DIGITS:
        rc = char_spans(p, n, numeric, NULL, &sp);
        break;
    case TOK_PRE_WSPLIT:
        rc = char_spans(p, n, space, NULL, &sp);
        break;
    case TOK_PRE_METASPACE: {
        int32_t cp;
        tok_utf8_next((const uint8_t *)s->repl, s->repl_len, &cp);
        rc = char_spans(p, n, is_char, &cp, &sp);
        break;
    }
    }
    if (rc != 0) goto oom;
    fold(&sp, s->behavior);
    rc = each_span(c, i, p, &sp, first);
    free(sp.v);
    free(own);
    return rc;
oom:
    free(sp.v);
    free(own);
    return tok_fail(c->err, c->errlen, "tok_encode: out of memory");
}

int tok_pre_tokenize(const tok_tokenizer *t, const char *p, size_t n, bool first,
                     pcre2_match_data *md, tok_word_fn fn, void *ctx, char *err, size_t errlen)
{
    pre_ctx c = {t, md, fn, ctx, err, errlen};
    return level(&c, 0, p, n, first);
}
