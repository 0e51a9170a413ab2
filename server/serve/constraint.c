/* Grammars are compiled on the request's HTTP thread (never the engine's), outside the cache lock;
 * two requests missing the same key at once both compile and the second result is dropped. The
 * cache holds no references: an entry is freed when it has left the cache and its last request is
 * done with it. */
#include "server/serve/constraint.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "models/grammar/grammar.h"

struct sc_entry {
    sc_cache *cache;
    char *key;
    size_t key_len;
    gr_grammar *g;
    int refs; /* requests holding it; guarded by the cache lock */
    /* A special token the output must open with before the grammar starts (Mistral's
     * [TOOL_CALLS]: masks never allow a special token inside a grammar), or -1. */
    int32_t lead;
    bool in_cache;
    sc_entry *prev, *next;
};

struct sc_cache {
    gr_vocab *vocab;
    int32_t model_words, gr_words;
    uint32_t *whitespace; /* [model_words]: tokens of newlines only (after </think>) */
    int32_t think_open, think_close, tool_open;
    int32_t mistral_calls; /* [TOOL_CALLS] when it is a special token, else -1 */
    pthread_mutex_t lock;
    sc_entry *head, *tail; /* most recently used first */
    size_t count, capacity;
    uint64_t compiled, hits;
};

/* ---- the engine's view ---- */

typedef struct sc_matcher {
    gr_matcher *m;
    int32_t gr_words, model_words;
    int32_t lead; /* the entry's lead token, still to come; -1 once generated or without one */
} sc_matcher;

static void *op_matcher_new(void *grammar)
{
    sc_entry *e = grammar;
    sc_matcher *m = malloc(sizeof *m);
    if (!m) return NULL;
    m->m = gr_matcher_new(e->g);
    if (!m->m) {
        free(m);
        return NULL;
    }
    m->gr_words = e->cache->gr_words;
    m->model_words = e->cache->model_words;
    m->lead = e->lead;
    return m;
}

static void op_matcher_free(void *matcher)
{
    sc_matcher *m = matcher;
    gr_matcher_free(m->m);
    free(m);
}

/* The model's logits may be wider than the tokenizer: tokens past it are never allowed. */
static int op_fill_mask(void *matcher, uint32_t *mask)
{
    sc_matcher *m = matcher;
    if (m->lead >= 0) {
        memset(mask, 0, sizeof(uint32_t) * (size_t)m->model_words);
        mask[m->lead / 32] = 1u << (m->lead % 32);
        return 0;
    }
    if (gr_matcher_fill_mask(m->m, mask) != GR_OK) return -1;
    memset(mask + m->gr_words, 0, sizeof(uint32_t) * (size_t)(m->model_words - m->gr_words));
    return 0;
}

static int op_accept(void *matcher, int32_t token)
{
    sc_matcher *m = matcher;
    if (m->lead >= 0) {
        if (token != m->lead) return -1;
        m->lead = -1;
        return 0;
    }
    if (gr_matcher_accept_token(m->m, token) == GR_OK) return 0;
    return gr_matcher_call_failed(m->m) ? -2 : -1;
}

static bool op_terminated(const void *matcher)
{
    const sc_matcher *m = matcher;
    return m->lead < 0 && gr_matcher_is_terminated(m->m);
}

static void entry_free(sc_entry *e)
{
    gr_grammar_free(e->g);
    free(e->key);
    free(e);
}

static void op_release(void *grammar)
{
    sc_entry *e = grammar;
    sc_cache *c = e->cache;
    pthread_mutex_lock(&c->lock);
    bool gone = --e->refs == 0 && !e->in_cache;
    pthread_mutex_unlock(&c->lock);
    if (gone) entry_free(e);
}

static const engine_constraint_ops sc_ops = {op_matcher_new, op_matcher_free, op_fill_mask,
                                             op_accept,      op_terminated,   op_release};

/* ---- the cache ---- */

int sc_cache_new(sc_cache **out, const tok_tokenizer *tok, int32_t model_vocab,
                 const int32_t *eos_ids, int n_eos, size_t capacity, char *err, size_t errlen)
{
    *out = NULL;
    sc_cache *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    char gerr[256];
    if (gr_vocab_new(&c->vocab, tok, eos_ids, (size_t)n_eos, gerr, sizeof gerr) != GR_OK) {
        snprintf(err, errlen, "constrained decoding: %s", gerr);
        free(c);
        return -1;
    }
    int32_t n = gr_vocab_size(c->vocab);
    if (n > model_vocab) {
        snprintf(err, errlen,
                 "constrained decoding: the tokenizer has %d tokens, more than the model's %d "
                 "logits",
                 n, model_vocab);
        gr_vocab_free(c->vocab);
        free(c);
        return -1;
    }
    c->gr_words = (int32_t)gr_mask_words(c->vocab);
    c->model_words = BK_SAMPLE_MASK_WORDS(model_vocab);
    c->whitespace = calloc((size_t)c->model_words, sizeof(uint32_t));
    if (!c->whitespace) {
        gr_vocab_free(c->vocab);
        free(c);
        goto oom;
    }
    for (int32_t id = 0; id < n; id++) {
        size_t len = 0;
        const uint8_t *b = tok_token_bytes(tok, id, &len);
        bool ws = b && len > 0 && !tok_is_special(tok, id);
        for (size_t i = 0; ws && i < len; i++)
            ws = b[i] == '\n';
        if (ws) c->whitespace[id / 32] |= 1u << (id % 32);
    }
    c->think_open = tok_token_id(tok, "<think>");
    c->think_close = tok_token_id(tok, "</think>");
    c->tool_open = tok_token_id(tok, "<tool_call>");
    c->mistral_calls = tok_token_id(tok, "[TOOL_CALLS]");
    if (c->mistral_calls >= 0 && !tok_is_special(tok, c->mistral_calls)) c->mistral_calls = -1;
    c->capacity = capacity ? capacity : 64;
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return 0;
oom:
    snprintf(err, errlen, "constrained decoding: out of memory");
    return -1;
}

void sc_cache_free(sc_cache *c)
{
    if (!c) return;
    for (sc_entry *e = c->head, *next; e; e = next) {
        next = e->next;
        e->in_cache = false;
        if (e->refs == 0) entry_free(e);
    }
    pthread_mutex_destroy(&c->lock);
    free(c->whitespace);
    gr_vocab_free(c->vocab);
    free(c);
}

void sc_cache_counts(sc_cache *c, uint64_t *compiled, uint64_t *hits)
{
    pthread_mutex_lock(&c->lock);
    *compiled = c->compiled;
    *hits = c->hits;
    pthread_mutex_unlock(&c->lock);
}

/* With the lock held. */
static void unlink_entry(sc_cache *c, sc_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(sc_cache *c, sc_entry *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head) c->head->prev = e;
    c->head = e;
    if (!c->tail) c->tail = e;
}

/* A referenced entry for key, or NULL. With the lock held. */
static sc_entry *lookup(sc_cache *c, const char *key, size_t len)
{
    for (sc_entry *e = c->head; e; e = e->next) {
        if (e->key_len == len && !memcmp(e->key, key, len)) {
            unlink_entry(c, e);
            push_front(c, e);
            e->refs++;
            return e;
        }
    }
    return NULL;
}

typedef struct compile_job {
    api_so_kind kind;
    const char *text; /* schema, regex, GBNF */
    char *const *choices;
    size_t n_choices;
    gr_json_options opt;
    bool has_lead; /* lead: the entry's lead token (GBNF text only; its text names it too) */
    int32_t lead;
} compile_job;

static int compile(sc_cache *c, const compile_job *j, gr_grammar **g, char *err, size_t errlen)
{
    switch (j->kind) {
    case API_SO_JSON_OBJECT:
        return gr_compile_json_object(g, c->vocab, &j->opt, err, errlen);
    case API_SO_JSON_SCHEMA:
        return gr_compile_json_schema(g, c->vocab, j->text, strlen(j->text), &j->opt, err, errlen);
    case API_SO_REGEX:
        return gr_compile_regex(g, c->vocab, j->text, err, errlen);
    case API_SO_CHOICE:
        return gr_compile_choice(g, c->vocab, (const char *const *)j->choices, j->n_choices, err,
                                 errlen);
    case API_SO_GRAMMAR:
        return gr_compile_gbnf(g, c->vocab, j->text, strlen(j->text), err, errlen);
    default:
        snprintf(err, errlen, "nothing to compile");
        return GR_ERR;
    }
}

/* The cache key: the kind, the options, then the source (choices separated by NUL bytes). */
static char *make_key(const compile_job *j, size_t *len)
{
    size_t n = 32 + (j->text ? strlen(j->text) : 0);
    for (size_t i = 0; i < j->n_choices; i++)
        n += strlen(j->choices[i]) + 1;
    char *k = malloc(n);
    if (!k) return NULL;
    size_t at = (size_t)snprintf(k, n, "%d:%d:%d:%d:%d:", (int)j->kind, j->opt.flexible_whitespace,
                                 (int)j->opt.max_whitespace, j->opt.strict, j->opt.declared_only);
    if (j->text) {
        memcpy(k + at, j->text, strlen(j->text));
        at += strlen(j->text);
    }
    for (size_t i = 0; i < j->n_choices; i++) {
        size_t l = strlen(j->choices[i]);
        memcpy(k + at, j->choices[i], l);
        at += l;
        k[at++] = 0;
    }
    *len = at;
    return k;
}

static size_t source_size(const compile_job *j)
{
    size_t n = j->text ? strlen(j->text) : 0;
    for (size_t i = 0; i < j->n_choices; i++)
        n += strlen(j->choices[i]) + 1;
    return n;
}

/* A referenced entry for the job: from the cache, or compiled. -1 with a 400 naming param. */
static int get_entry(sc_cache *c, const compile_job *j, const char *param, const char *what,
                     sc_entry **out, api_error *e)
{
    *out = NULL;
    if (source_size(j) > SC_MAX_SOURCE) {
        api_error_set(e, 400, NULL, param, "invalid_value",
                      "'%s' is %zu bytes; at most %d are compiled", param, source_size(j),
                      SC_MAX_SOURCE);
        return -1;
    }
    size_t klen;
    char *key = make_key(j, &klen);
    if (!key) goto oom;
    pthread_mutex_lock(&c->lock);
    sc_entry *hit = lookup(c, key, klen);
    if (hit) c->hits++;
    pthread_mutex_unlock(&c->lock);
    if (hit) {
        free(key);
        *out = hit;
        return 0;
    }
    char err[512];
    gr_grammar *g = NULL;
    if (compile(c, j, &g, err, sizeof err) != GR_OK) {
        free(key);
        api_error_set(e, 400, NULL, param, "invalid_value", "'%s' is not a valid %s: %s", param,
                      what, err);
        return -1;
    }
    sc_entry *ent = calloc(1, sizeof *ent);
    if (!ent) {
        gr_grammar_free(g);
        free(key);
        goto oom;
    }
    *ent = (sc_entry){.cache = c,
                      .key = key,
                      .key_len = klen,
                      .g = g,
                      .refs = 1,
                      .in_cache = true,
                      .lead = j->has_lead ? j->lead : -1};
    pthread_mutex_lock(&c->lock);
    sc_entry *raced = lookup(c, key, klen);
    if (!raced) {
        push_front(c, ent);
        c->count++;
        c->compiled++;
        while (c->count > c->capacity) {
            sc_entry *old = c->tail;
            unlink_entry(c, old);
            c->count--;
            old->in_cache = false;
            if (old->refs == 0) entry_free(old);
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (raced) {
        entry_free(ent);
        ent = raced;
    }
    *out = ent;
    return 0;
oom:
    api_error_set(e, 500, NULL, NULL, NULL, "out of memory compiling '%s'", param);
    return -1;
}

/* ---- tool calls in Qwen3's (Hermes) format ---- */

/* Appends to a growing string; -1 out of memory. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool failed;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->s, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* s as the inside of a GBNF string literal. */
static void put_literal(sbuf *b, const char *s)
{
    for (; *s; s++) {
        char esc[8];
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            snprintf(esc, sizeof esc, "\\%c", ch);
        else if (ch == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (ch < 0x20)
            snprintf(esc, sizeof esc, "\\x%02X", ch);
        else
            snprintf(esc, sizeof esc, "%c", ch);
        puts_(b, esc);
    }
}

/* CALLS_FROM_START: the output is calls (required, named). CALL_AFTER_OPEN: the calls after the
 * token that opens them (hermes <tool_call>, mistral's special [TOOL_CALLS]), free text before.
 * CALLS_OR_TEXT (llama3_json under auto): calls open the output or it is free text, as the
 * llama3_json parser decides. */
typedef enum { CALLS_FROM_START, CALL_AFTER_OPEN, CALLS_OR_TEXT } calls_mode;

/* GBNF for tool calls exactly as the format's templates render them:
 *   hermes (Qwen3):  <tool_call>\n{"name": "NAME", "arguments": ARGS}\n</tool_call>, joined by "\n"
 *   llama3_json:     {"name": "NAME", "parameters": ARGS}, joined by "; "
 *   mistral:         [TOOL_CALLS][{"name": "NAME", "arguments": ARGS}, ...] ([TOOL_CALLS] left to
 *                    the lead token when lead >= 0)
 * ARGS by the tool's parameters schema, with at most one whitespace byte in a row (the templates'
 * json separators ", " and ": " fit). only: one tool's name, or NULL for every tool.
 * CALL_AFTER_OPEN: hermes, the text after the <tool_call> token of one call; mistral, the array
 * after the [TOOL_CALLS] token. */
static int tools_gbnf(const api_chat_request *r, const char *only, calls_mode mode, bool many,
                      op_tool_format fmt, int32_t lead, char **out, api_error *e)
{
    bool llama3 = fmt == OP_TOOLS_LLAMA3_JSON, mistral = fmt == OP_TOOLS_MISTRAL;
    cJSON *tools = cJSON_Parse(r->tools_json ? r->tools_json : "[]");
    if (!tools) {
        api_error_set(e, 500, NULL, "tools", NULL, "out of memory reading 'tools'");
        return -1;
    }
    sbuf b = {0}, rules = {0};
    if (mistral) {
        /* As Mistral's templates render calls and vLLM's mistral parser reads them: one JSON array
         * after [TOOL_CALLS]. That opener is the entry's lead token when it is a special token
         * (masks never allow one); the comment then keeps this text's cache key apart. */
        if (mode == CALL_AFTER_OPEN) {
            puts_(&b, "root ::= \"[\" call");
        } else if (lead >= 0) {
            char line[96];
            snprintf(line, sizeof line, "# after the special token [TOOL_CALLS] (id %d)\n", lead);
            puts_(&b, line);
            puts_(&b, "root ::= \"[\" call");
        } else {
            puts_(&b, "root ::= \"[TOOL_CALLS][\" call");
        }
        puts_(&b, many ? " (\", \" call)* \"]\"\n" : " \"]\"\n");
        puts_(&b, "call ::= \"{\\\"name\\\": \\\"\" body \"}\"\n");
    } else if (llama3) {
        /* As Llama 3's template renders a call and vLLM's llama3_json parser reads them: objects
         * with "parameters", several separated by "; ". Under auto the output is calls or text
         * that does not open with '{' (a few whitespace bytes first either way), which is what
         * the parser takes for content. */
        if (mode == CALLS_OR_TEXT) {
            puts_(&b, "root ::= [ \\t\\n]{0,4} (calls | text)?\n");
            puts_(&b, "text ::= [^{ \\t\\n] .*\n");
            puts_(&b, many ? "calls ::= call (\"; \" call)*\n" : "calls ::= call\n");
        } else {
            puts_(&b, many ? "root ::= call (\"; \" call)*\n" : "root ::= call\n");
        }
        puts_(&b, "call ::= \"{\\\"name\\\": \\\"\" body \"}\"\n");
    } else if (mode == CALLS_FROM_START) {
        puts_(&b, many ? "root ::= call (\"\\n\" call)*\n" : "root ::= call\n");
        puts_(&b, "call ::= \"<tool_call>\\n{\\\"name\\\": \\\"\" body \"}\\n</tool_call>\"\n");
    } else {
        puts_(&b, "root ::= \"\\n{\\\"name\\\": \\\"\" body \"}\\n</tool_call>\"\n");
    }
    puts_(&b, "body ::= ");
    int i = 0, used = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        const char *name = cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring;
        int idx = i++;
        if (only && strcmp(name, only)) continue;
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        const cJSON *strict = cJSON_GetObjectItemCaseSensitive(fn, "strict");
        char *schema = params && !cJSON_IsNull(params)
                           ? cJSON_PrintUnformatted(params)
                           : strdup("{\"type\":\"object\",\"properties\":{},"
                                    "\"additionalProperties\":false}");
        char prefix[32], param[64], err[512];
        snprintf(prefix, sizeof prefix, "tool%d-", idx);
        snprintf(param, sizeof param, "tools[%d].function.parameters", idx);
        gr_json_options opt = {.flexible_whitespace = true,
                               .max_whitespace = 1,
                               .strict = cJSON_IsTrue(strict),
                               .declared_only = true};
        char *gbnf = NULL;
        int rc = schema ? gr_json_schema_to_gbnf(schema, strlen(schema), prefix, &opt, &gbnf, err,
                                                 sizeof err)
                        : GR_ERR;
        free(schema);
        if (rc != GR_OK) {
            api_error_set(e, 400, NULL, param, "invalid_value",
                          "'%s' is not a usable JSON Schema: %s", param,
                          schema ? err : "out of memory");
            cJSON_Delete(tools);
            free(b.s);
            free(rules.s);
            return -1;
        }
        if (used++) puts_(&b, " | ");
        puts_(&b, "\"");
        put_literal(&b, name);
        puts_(&b, llama3 ? "\\\", \\\"parameters\\\": \" " : "\\\", \\\"arguments\\\": \" ");
        puts_(&b, prefix);
        puts_(&b, "root");
        puts_(&rules, gbnf);
        puts_(&rules, "\n");
        free(gbnf);
    }
    cJSON_Delete(tools);
    puts_(&b, "\n");
    if (rules.s) puts_(&b, rules.s);
    free(rules.s);
    if (b.failed || rules.failed || !used) {
        free(b.s);
        api_error_set(e, 500, NULL, "tools", NULL, "out of memory building the tool-call grammar");
        return -1;
    }
    *out = b.s;
    return 0;
}

static bool any_strict(const api_chat_request *r)
{
    cJSON *tools = cJSON_Parse(r->tools_json ? r->tools_json : "[]");
    bool strict = false;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        strict |= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(fn, "strict"));
    }
    cJSON_Delete(tools);
    return strict;
}

/* ---- requests ---- */

static void start_after_thinking(sc_cache *c, op_think_mode think, engine_constraint *base)
{
    if (think == OP_THINK_OFF || c->think_close < 0) return;
    base->trigger_token = c->think_close;
    base->prefix_mask = c->whitespace;
    base->prefix_max = SC_THINK_WHITESPACE_TOKENS;
    if (think == OP_THINK_OPTIONAL && c->think_open >= 0) {
        base->has_open = true;
        base->open_token = c->think_open;
    }
}

static int structured(sc_cache *c, const api_structured *s, sc_request *out, api_error *e)
{
    compile_job j = {.kind = s->kind,
                     .text = s->text,
                     .choices = s->choices,
                     .n_choices = s->n_choices,
                     .opt = {.strict = s->strict, .declared_only = true}};
    static const char *what[] = {
        "", "JSON object", "JSON Schema", "regular expression", "choice list", "grammar"};
    return get_entry(c, &j, s->param, what[s->kind], &out->entry, e);
}

static void init_request(sc_cache *c, sc_request *out)
{
    *out = (sc_request){.cache = c};
    out->base = (engine_constraint){.ops = &sc_ops, .trigger_token = -1};
}

int sc_for_completion(sc_cache *c, const api_structured *s, sc_request *out, api_error *e)
{
    init_request(c, out);
    if (s->kind == API_SO_NONE) return 0;
    return structured(c, s, out, e);
}

int sc_for_chat(sc_cache *c, const api_chat_request *r, op_think_mode think, op_tool_format fmt,
                sc_request *out, api_error *e)
{
    init_request(c, out);
    bool forced = r->n_tools > 0 && (r->tool_choice == API_TOOL_CHOICE_REQUIRED ||
                                     r->tool_choice == API_TOOL_CHOICE_NAMED);
    if (r->structured.kind != API_SO_NONE) {
        if (forced) {
            api_error_set(e, 400, NULL, "tool_choice", "invalid_value",
                          "'tool_choice' %s and '%s' both constrain the output; give only one",
                          r->tool_choice == API_TOOL_CHOICE_NAMED ? "naming a function"
                                                                  : "required",
                          r->structured.param);
            return -1;
        }
        if (structured(c, &r->structured, out, e)) return -1;
        start_after_thinking(c, think, &out->base);
        return 0;
    }
    if (r->n_tools == 0 || r->tool_choice == API_TOOL_CHOICE_NONE) return 0;
    calls_mode mode = CALLS_FROM_START;
    int32_t open = -1;
    if (!forced) {
        /* auto: free text, and a call's grammar once the model opens one. */
        if (r->parallel_tool_calls && !any_strict(r)) return 0;
        if (fmt == OP_TOOLS_LLAMA3_JSON) {
            mode = CALLS_OR_TEXT;
        } else {
            open = fmt == OP_TOOLS_MISTRAL ? c->mistral_calls : c->tool_open;
            if (open < 0) return 0; /* no token opens a call: nothing to trigger on */
            mode = CALL_AFTER_OPEN;
        }
    }
    const char *only = r->tool_choice == API_TOOL_CHOICE_NAMED ? r->tool_choice_name : NULL;
    /* A hermes call is one per <tool_call> (rearmed for the next); the other formats hold all of
     * a turn's calls in one grammar. */
    bool many = r->parallel_tool_calls &&
                (forced ? r->tool_choice == API_TOOL_CHOICE_REQUIRED : fmt != OP_TOOLS_HERMES);
    char *gbnf = NULL;
    int32_t lead = fmt == OP_TOOLS_MISTRAL && mode == CALLS_FROM_START ? c->mistral_calls : -1;
    if (tools_gbnf(r, only, mode, many, fmt, lead, &gbnf, e)) return -1;
    compile_job j = {.kind = API_SO_GRAMMAR, .text = gbnf, .has_lead = lead >= 0, .lead = lead};
    int rc = get_entry(c, &j, "tools", "tool-call grammar", &out->entry, e);
    free(gbnf);
    if (rc) return -1;
    if (mode == CALL_AFTER_OPEN) {
        out->base.trigger_token = open;
        out->base.rearm = r->parallel_tool_calls;
    } else {
        start_after_thinking(c, think, &out->base);
    }
    return 0;
}

void sc_request_constraint(sc_request *r, engine_constraint *out)
{
    if (!r->entry) {
        *out = (engine_constraint){.trigger_token = -1};
        return;
    }
    pthread_mutex_lock(&r->cache->lock);
    r->entry->refs++;
    pthread_mutex_unlock(&r->cache->lock);
    *out = r->base;
    out->grammar = r->entry;
}

void sc_request_release(sc_request *r)
{
    if (r->entry) op_release(r->entry);
    r->entry = NULL;
}
