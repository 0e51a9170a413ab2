/* Loading: tokenizer.json (plain or gzip) into the tables of tok_internal.h, then the optional
 * tokenizer_config.json and chat_template.jinja beside it. BPE and WordPiece models are accepted;
 * anything else is refused with the field that is not supported. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "models/tokenizer/tok_internal.h"
#include "models/tokenizer/tok_utf8.h"

int tok_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return TOK_ERR;
}
#define fail tok_fail

/* Reads a whole file; gzread passes uncompressed files through unchanged. */
static char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fail(err, errlen, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            fail(err, errlen, "%s: out of memory", path);
            break;
        }
        if (n == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger) {
                free(buf);
                buf = NULL;
                continue;
            }
            buf = bigger;
            cap *= 2;
        }
        int got = gzread(f, buf + n, (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n));
        if (got < 0) {
            int code;
            fail(err, errlen, "%s: read error: %s", path, gzerror(f, &code));
            free(buf);
            buf = NULL;
            break;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    gzclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* dir/name into buf; false when it does not fit. */
static bool join_path(char *buf, size_t n, const char *dir, const char *name)
{
    int k = snprintf(buf, n, "%s/%s", dir, name);
    return k >= 0 && (size_t)k < n;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A JSON boolean field; absent means the serde default. */
bool tok_json_flag(const cJSON *obj, const char *name, bool dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}
#define flag tok_json_flag

const char *tok_json_type(const cJSON *obj)
{
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(obj, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}
#define type_of tok_json_type

int tok_json_steps(const cJSON *node, const char *where, const char *list, tok_step_fn fn,
                   void *ctx, char *err, size_t errlen)
{
    const char *ty = type_of(node);
    if (!ty || strcmp(ty, "Sequence") != 0) return fn(ctx, node, where, err, errlen);
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(node, list);
    if (!cJSON_IsArray(steps)) return fail(err, errlen, "%s.%s: expected an array", where, list);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, steps)
    {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s[%d]", where, list, i++);
        if (tok_json_steps(e, sub, list, fn, ctx, err, errlen) != TOK_OK) return TOK_ERR;
    }
    return TOK_OK;
}

/* WordPiece's fields, with the defaults of HF's WordPieceBuilder when absent. */
static int check_wordpiece(const cJSON *model, const char *path, char *err, size_t errlen)
{
    const char *strs[] = {"unk_token", "continuing_subword_prefix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, strs[i]);
        if (v && !cJSON_IsString(v))
            return fail(err, errlen, "%s: model.%s: expected a string", path, strs[i]);
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (m && !(cJSON_IsNumber(m) && m->valuedouble >= 0 && m->valuedouble <= 1e9 &&
               m->valuedouble == (double)(int64_t)m->valuedouble))
        return fail(err, errlen,
                    "%s: model.max_input_chars_per_word: expected a non-negative integer", path);
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(model, "vocab")))
        return fail(err, errlen, "%s: model.vocab is missing or not an object", path);
    return TOK_OK;
}

static int check_model(const cJSON *model, const char *path, char *err, size_t errlen)
{
    if (!cJSON_IsObject(model))
        return fail(err, errlen, "%s: field \"model\" is missing or not an object", path);
    const char *ty = type_of(model);
    if (ty && strcmp(ty, "WordPiece") == 0) return check_wordpiece(model, path, err, errlen);
    if (!ty || strcmp(ty, "BPE") != 0)
        return fail(err, errlen, "%s: model.type is \"%s\"; expected \"BPE\" or \"WordPiece\"",
                    path, ty ? ty : "(missing)");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
        return fail(err, errlen,
                    "%s: model.dropout is set; expected null (BPE dropout is not supported)", path);
    const char *strs[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        v = cJSON_GetObjectItemCaseSensitive(model, strs[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && v->valuestring[0] == '\0'))
            return fail(err, errlen, "%s: model.%s is set; expected null or \"\"", path, strs[i]);
    }
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(model, "vocab")))
        return fail(err, errlen, "%s: model.vocab is missing or not an object", path);
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(model, "merges")))
        return fail(err, errlen, "%s: model.merges is missing or not an array", path);
    return TOK_OK;
}

/* Ids, the blob of pieces, and the vocabulary and added-token maps. */
static int load_vocab(tok_tokenizer *t, const cJSON *root, const char *path, char *err,
                      size_t errlen)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsArray(added))
        return fail(err, errlen, "%s: added_tokens: expected an array", path);
    int64_t max_id = -1;
    size_t bytes = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab)
    {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > INT32_MAX - 1 ||
            it->valuedouble != (double)(int64_t)it->valuedouble)
            return fail(err, errlen, "%s: model.vocab[\"%s\"]: expected a non-negative integer id",
                        path, it->string);
        if ((int64_t)it->valuedouble > max_id) max_id = (int64_t)it->valuedouble;
        size_t len = strlen(it->string);
        if (tok_utf8_valid_prefix((const uint8_t *)it->string, len) != len)
            return fail(err, errlen, "%s: model.vocab: a token is not valid UTF-8", path);
        bytes += len + 1;
    }
    size_t n_added = (size_t)cJSON_GetArraySize(added);
    cJSON_ArrayForEach(it, added)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > INT32_MAX - 1 ||
            !cJSON_IsString(content))
            return fail(
                err, errlen,
                "%s: added_tokens: each entry needs an integer \"id\" and a string \"content\"",
                path);
        if ((int64_t)id->valuedouble > max_id) max_id = (int64_t)id->valuedouble;
        size_t len = strlen(content->valuestring);
        if (tok_utf8_valid_prefix((const uint8_t *)content->valuestring, len) != len)
            return fail(err, errlen, "%s: added_tokens: a content is not valid UTF-8", path);
        bytes += len + 1;
    }
    if (max_id < 0) return fail(err, errlen, "%s: model.vocab is empty", path);
    if (bytes >= UINT32_MAX) return fail(err, errlen, "%s: vocabulary larger than 4 GiB", path);
    /* Tables are indexed by id, so ids must be roughly dense (real files are dense); a stray huge
     * id would otherwise cost gigabytes. */
    size_t entries = (size_t)cJSON_GetArraySize(vocab) + n_added;
    if ((size_t)max_id >= 2 * entries + 65536)
        return fail(err, errlen,
                    "%s: token id %lld is far beyond the %zu tokens defined (ids must be dense)",
                    path, (long long)max_id, entries);
    size_t n_ids = (size_t)max_id + 1;
    t->n_ids = (int32_t)n_ids;
    t->blob = malloc(bytes ? bytes : 1);
    t->piece_off = malloc(n_ids * sizeof *t->piece_off);
    t->special = calloc(n_ids, 1);
    t->added = calloc(n_added ? n_added : 1, sizeof *t->added);
    if (!t->blob || !t->piece_off || !t->special || !t->added ||
        tok_strmap_init(&t->vocab, (size_t)cJSON_GetArraySize(vocab)) != 0 ||
        tok_strmap_init(&t->added_map, n_added) != 0)
        return fail(err, errlen, "%s: out of memory", path);
    memset(t->piece_off, 0xFF, n_ids * sizeof *t->piece_off);
    size_t off = 0;
    cJSON_ArrayForEach(it, vocab)
    {
        size_t len = strlen(it->string);
        memcpy(t->blob + off, it->string, len + 1);
        int32_t id = (int32_t)it->valuedouble;
        t->piece_off[id] = (uint32_t)off;
        if (tok_strmap_put(&t->vocab, t->blob + off, len, id) != 0)
            return fail(err, errlen, "%s: out of memory", path);
        off += len + 1;
    }
    cJSON_ArrayForEach(it, added)
    {
        const char *content = cJSON_GetObjectItemCaseSensitive(it, "content")->valuestring;
        size_t len = strlen(content);
        memcpy(t->blob + off, content, len + 1);
        tok_added_token *a = &t->added[t->n_added++];
        *a = (tok_added_token){
            .content = t->blob + off,
            .len = len,
            .id = (int32_t)cJSON_GetObjectItemCaseSensitive(it, "id")->valuedouble,
            .single_word = flag(it, "single_word", false),
            .lstrip = flag(it, "lstrip", false),
            .rstrip = flag(it, "rstrip", false),
            .normalized = flag(it, "normalized", true),
            .special = flag(it, "special", false),
        };
        t->piece_off[a->id] =
            (uint32_t)off; /* an added token's content wins over the model's piece */
        if (tok_strmap_put(&t->added_map, a->content, len, a->id) != 0)
            return fail(err, errlen, "%s: out of memory", path);
        off += len + 1;
    }
    for (int b = 0; b < 256; b++) {
        char s[3];
        int32_t c = tok_byte_to_char((uint8_t)b);
        size_t k = c < 0x80 ? (s[0] = (char)c, 1)
                            : (s[0] = (char)(0xC0 | (c >> 6)), s[1] = (char)(0x80 | (c & 0x3F)), 2);
        t->byte_id[b] = tok_strmap_get(&t->vocab, s, k);
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_token[b] = tok_strmap_get(&t->vocab, s, 6);
    }
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    t->wordpiece = strcmp(type_of(model), "WordPiece") == 0;
    const char *unk_s = cJSON_IsString(unk) ? unk->valuestring : t->wordpiece ? "[UNK]" : NULL;
    t->unk_id = unk_s ? tok_strmap_get(&t->vocab, unk_s, strlen(unk_s)) : -1;
    t->unk_missing = unk_s && t->unk_id < 0;
    if (t->wordpiece) {
        const cJSON *pre = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
        const cJSON *max = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
        t->wp_prefix = strdup(cJSON_IsString(pre) ? pre->valuestring : "##");
        if (!t->wp_prefix) return fail(err, errlen, "%s: out of memory", path);
        t->wp_prefix_len = strlen(t->wp_prefix);
        t->wp_max_chars = max ? (size_t)max->valuedouble : 100;
    }
    t->ignore_merges = flag(model, "ignore_merges", false);
    t->byte_fallback = flag(model, "byte_fallback", false);
    t->fuse_unk = flag(model, "fuse_unk", false);
    return TOK_OK;
}

/* A merge's two pieces, joined: the merged token's text. Merges may be long (MPT's runs of
 * spaces, Command-R's), so the buffer grows to the longest. */
typedef struct {
    char *s;
    size_t cap;
} merge_buf;

static int join_pieces(merge_buf *b, const char *a, size_t alen, const char *c, size_t clen)
{
    if (alen + clen > b->cap) {
        size_t cap = (alen + clen) * 2;
        char *s = realloc(b->s, cap);
        if (!s) return -1;
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s, a, alen);
    memcpy(b->s + alen, c, clen);
    return 0;
}

static int load_merges(tok_tokenizer *t, const cJSON *root, const char *path, char *err,
                       size_t errlen)
{
    const cJSON *merges =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "merges");
    if (tok_pairmap_init(&t->merges, (size_t)cJSON_GetArraySize(merges)) != 0)
        return fail(err, errlen, "%s: out of memory", path);
    merge_buf buf = {0};
    int rc = TOK_ERR;
    int32_t rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges)
    {
        const char *a, *b;
        size_t alen, blen;
        if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
            cJSON_IsString(cJSON_GetArrayItem(m, 0)) && cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            a = cJSON_GetArrayItem(m, 0)->valuestring;
            b = cJSON_GetArrayItem(m, 1)->valuestring;
            alen = strlen(a);
            blen = strlen(b);
        } else if (cJSON_IsString(m) && strchr(m->valuestring, ' ')) { /* the older "a b" form */
            a = m->valuestring;
            alen = (size_t)(strchr(a, ' ') - a);
            b = a + alen + 1;
            blen = strlen(b);
        } else {
            fail(err, errlen, "%s: model.merges[%d]: expected [\"a\", \"b\"] or \"a b\"", path,
                 rank);
            goto done;
        }
        if (join_pieces(&buf, a, alen, b, blen) != 0) {
            fail(err, errlen, "%s: out of memory", path);
            goto done;
        }
        int32_t ia = tok_strmap_get(&t->vocab, a, alen), ib = tok_strmap_get(&t->vocab, b, blen);
        int32_t im = tok_strmap_get(&t->vocab, buf.s, alen + blen);
        if (ia < 0 || ib < 0 || im < 0) {
            fail(err, errlen,
                 "%s: model.merges[%d]: \"%.*s\" + \"%.*s\" uses a token missing from model.vocab",
                 path, rank, (int)alen, a, (int)blen, b);
            goto done;
        }
        if (tok_pairmap_put(&t->merges, ia, ib, rank, im) != 0) {
            fail(err, errlen, "%s: out of memory", path);
            goto done;
        }
        rank++;
    }
    rc = TOK_OK;
done:
    free(buf.s);
    return rc;
}

/* tokenizer_config.json writes special tokens either as a string or as an AddedToken object. */
static int config_token(char **dst, const cJSON *cfg, const char *name, const char *path, char *err,
                        size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, name);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!v || cJSON_IsNull(v)) return TOK_OK;
    if (!cJSON_IsString(v))
        return fail(err, errlen, "%s: %s: expected a string, an object with \"content\", or null",
                    path, name);
    *dst = strdup(v->valuestring);
    return *dst ? TOK_OK : fail(err, errlen, "%s: out of memory", path);
}

static int config_added_tokens(tok_tokenizer *t, const cJSON *cfg, const char *path, char *err,
                               size_t errlen)
{
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder");
    const cJSON *it;
    cJSON_ArrayForEach(it, dec)
    {
        char *end;
        long id = strtol(it->string, &end, 10);
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        tok_added_token *a = NULL;
        for (size_t i = 0; i < t->n_added && *end == '\0'; i++)
            if (t->added[i].id == id) a = &t->added[i];
        if (!a || !cJSON_IsString(content) || strcmp(content->valuestring, a->content) != 0)
            return fail(err, errlen,
                        "%s: added_tokens_decoder[\"%s\"]: expected an id and content that "
                        "tokenizer.json's added_tokens also has",
                        path, it->string);
        a->single_word = flag(it, "single_word", a->single_word);
        a->lstrip = flag(it, "lstrip", a->lstrip);
        a->rstrip = flag(it, "rstrip", a->rstrip);
        a->normalized = flag(it, "normalized", a->normalized);
        a->special = flag(it, "special", a->special);
    }
    return TOK_OK;
}

/* tokenizer_config.json's content: special-token strings, added-token flags, chat template. */
static int apply_config(tok_tokenizer *t, const char *text, size_t len, const char *path, char *err,
                        size_t errlen)
{
    cJSON *cfg = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return fail(err, errlen, "%s: not a JSON object", path);
    }
    int rc = config_token(&t->eos, cfg, "eos_token", path, err, errlen);
    if (rc == TOK_OK) rc = config_token(&t->bos, cfg, "bos_token", path, err, errlen);
    if (rc == TOK_OK) rc = config_token(&t->pad, cfg, "pad_token", path, err, errlen);
    if (rc == TOK_OK) rc = config_added_tokens(t, cfg, path, err, errlen);
    const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (cJSON_IsArray(tpl)) { /* a list of named templates: "default" is the chat one */
        const cJSON *named = NULL, *e;
        cJSON_ArrayForEach(e, tpl)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
            if (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0)
                named = cJSON_GetObjectItemCaseSensitive(e, "template");
        }
        tpl = named;
    }
    if (rc == TOK_OK && cJSON_IsString(tpl) && !(t->chat_template = strdup(tpl->valuestring)))
        rc = fail(err, errlen, "%s: out of memory", path);
    cJSON_Delete(cfg);
    return rc;
}

static int load_config(tok_tokenizer *t, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (join_path(path, sizeof path, dir, "tokenizer_config.json") && file_exists(path)) {
        size_t len;
        char *text = read_all(path, &len, err, errlen);
        if (!text) return TOK_ERR;
        int rc = apply_config(t, text, len, path, err, errlen);
        free(text);
        if (rc != TOK_OK) return rc;
    }
    if (join_path(path, sizeof path, dir, "chat_template.jinja") && file_exists(path)) {
        size_t len;
        char *text = read_all(path, &len, err, errlen);
        if (!text) return TOK_ERR;
        free(t->chat_template);
        t->chat_template = text;
    }
    return TOK_OK;
}

/* dir names the directory of companion files; NULL when there is none (tok_load_json). */
static int build(tok_tokenizer *t, const char *text, size_t len, const char *path, const char *dir,
                 char *err, size_t errlen)
{
    /* serde_json reads a &str: a file that is not UTF-8 is refused by HF as well. */
    size_t bad = tok_utf8_valid_prefix((const uint8_t *)text, len);
    if (bad != len) return fail(err, errlen, "%s: not valid UTF-8 (at byte %zu)", path, bad);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, errlen, "%s: not valid JSON (a tokenizer.json object was expected)", path);
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    int rc = check_model(model, path, err, errlen);
    if (rc == TOK_OK) rc = load_vocab(t, root, path, err, errlen);
    if (rc == TOK_OK && !t->wordpiece) rc = load_merges(t, root, path, err, errlen);
    char msg[512];
    if (rc == TOK_OK && (tok_parse_normalizer(t, root, msg, sizeof msg) != TOK_OK ||
                         tok_parse_pre_tokenizer(t, root, msg, sizeof msg) != TOK_OK ||
                         tok_parse_post_processor(t, root, msg, sizeof msg) != TOK_OK ||
                         tok_parse_decoder(t, root, msg, sizeof msg) != TOK_OK ||
                         tok_build_decode_table(t, msg, sizeof msg) != TOK_OK))
        rc = fail(err, errlen, "%s: %s", path, msg);
    cJSON_Delete(root);
    if (rc == TOK_OK && dir) rc = load_config(t, dir, err, errlen);
    return rc;
}

/* After the config has had its say on the added tokens' flags. */
static int finish(tok_tokenizer *t, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->n_added; i++)
        t->special[t->added[i].id] = t->added[i].special;
    return tok_build_matchers(t, err, errlen);
}

int tok_load_file(tok_tokenizer **out, const char *tokenizer_json_path, char *err, size_t errlen)
{
    *out = NULL;
    size_t len;
    char *text = read_all(tokenizer_json_path, &len, err, errlen);
    if (!text) return TOK_ERR;
    tok_tokenizer *t = calloc(1, sizeof *t);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tokenizer_json_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int rc = t ? build(t, text, len, tokenizer_json_path, dir, err, errlen)
               : fail(err, errlen, "out of memory");
    if (rc == TOK_OK) rc = finish(t, err, errlen);
    free(text);
    if (rc != TOK_OK) {
        tok_free(t);
        return rc;
    }
    *out = t;
    return TOK_OK;
}

int tok_load_json(tok_tokenizer **out, const char *json, size_t len, const char *config_json,
                  size_t config_len, const char *name, char *err, size_t errlen)
{
    *out = NULL;
    if (!name) name = "tokenizer.json";
    tok_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return fail(err, errlen, "%s: out of memory", name);
    int rc = build(t, json, len, name, NULL, err, errlen);
    if (rc == TOK_OK && config_json) {
        char cname[512];
        snprintf(cname, sizeof cname, "%s (tokenizer_config)", name);
        rc = apply_config(t, config_json, config_len, cname, err, errlen);
    }
    if (rc == TOK_OK) rc = finish(t, err, errlen);
    if (rc != TOK_OK) {
        tok_free(t);
        return rc;
    }
    *out = t;
    return TOK_OK;
}

int tok_load_dir(tok_tokenizer **out, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (!join_path(path, sizeof path, dir, "tokenizer.json") || !file_exists(path)) {
        if (!join_path(path, sizeof path, dir, "tokenizer.json.gz") || !file_exists(path)) {
            *out = NULL;
            return fail(err, errlen, "%s: no tokenizer.json or tokenizer.json.gz in this directory",
                        dir);
        }
    }
    return tok_load_file(out, path, err, errlen);
}

void tok_free(tok_tokenizer *t)
{
    if (!t) return;
    free(t->blob);
    free(t->piece_off);
    free(t->special);
    free(t->dec_blob);
    free(t->dec_off);
    free(t->dec_len);
    tok_strmap_free(&t->vocab);
    tok_strmap_free(&t->added_map);
    free(t->added);
    tok_matcher_free(&t->raw_match);
    tok_matcher_free(&t->norm_match);
    tok_pairmap_free(&t->merges);
    free(t->wp_prefix);
    tok_components_free(t);
    free(t->chat_template);
    free(t->eos);
    free(t->bos);
    free(t->pad);
    free(t);
}
