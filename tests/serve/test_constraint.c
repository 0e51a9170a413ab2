/* server/serve/constraint.c on the Qwen3 tokenizer: the tool-call grammars accept a call exactly as
 * Qwen3's template renders it (token by token, as the model would write it) and refuse another
 * function or arguments off the schema; required with parallel calls accepts two calls, named and
 * parallel_tool_calls false end after one; auto with a strict tool waits for <tool_call> and
 * rearms; thinking sets the trigger (</think>), the opener (<think>) and the newline prefix; a
 * structured field and a forced tool choice together are a 400 naming tool_choice; the cache hits
 * on the same source, and an evicted grammar stays usable while a request holds it. */
#include <stdlib.h>
#include <string.h>

#include "models/grammar/grammar.h"
#include "server/serve/constraint.h"
#include "tests/support/test_support.h"

#define VOCAB 151936
#define WORDS ((VOCAB + 31) / 32)

static tok_tokenizer *tok;

static const char *TOOLS =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":"
    "\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":{\"enum\":[\"c\",\"f\"]}},"
    "\"required\":[\"city\",\"unit\"],\"additionalProperties\":false}}},{\"type\":\"function\","
    "\"function\":{\"name\":\"noop\"}}]";

static const char *CALL = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
                          "\"Paris\", \"unit\": \"c\"}}\n</tool_call>";

static api_chat_request chat(api_tool_choice choice, const char *name, bool parallel)
{
    api_chat_request r;
    memset(&r, 0, sizeof r);
    r.tools_json = (char *)TOOLS;
    r.n_tools = 2;
    r.tool_choice = choice;
    r.tool_choice_name = (char *)name;
    r.parallel_tool_calls = parallel;
    return r;
}

/* Feeds text's tokens; returns how many were accepted before the first refusal. */
static size_t feed(const engine_constraint *c, void *m, const char *text, size_t *total)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char err[256];
    CHECKF(tok_encode(tok, text, strlen(text), &ids, &n, err, sizeof err) == 0, "%s", err);
    size_t i = 0;
    uint32_t *mask = calloc(WORDS, sizeof(uint32_t));
    for (; i < n; i++) {
        CHECK(c->ops->fill_mask(m, mask) == 0);
        bool allowed = (mask[ids[i] / 32] >> (ids[i] % 32)) & 1u;
        if (c->ops->accept(m, ids[i]) != 0) {
            CHECKF(!allowed, "token %d refused but in the mask", ids[i]);
            break;
        }
        CHECKF(allowed, "token %d accepted but not in the mask", ids[i]);
    }
    free(mask);
    free(ids);
    *total = n;
    return i;
}

static void expect_calls_in(sc_cache *cache, op_tool_format fmt, api_chat_request r,
                            const char *text, bool accepted, bool terminated, const char *what)
{
    sc_request req;
    api_error e;
    CHECKF(sc_for_chat(cache, &r, OP_THINK_OFF, fmt, &req, &e) == 0, "%s: %s", what, e.message);
    engine_constraint c;
    sc_request_constraint(&req, &c);
    CHECKF(c.ops && c.trigger_token == -1, "%s: not constrained from the start", what);
    void *m = c.ops->matcher_new(c.grammar);
    size_t n, got = feed(&c, m, text, &n);
    CHECKF((got == n) == accepted, "%s: %zu of %zu tokens accepted", what, got, n);
    if (accepted) CHECKF(c.ops->is_terminated(m) == terminated, "%s: terminated?", what);
    c.ops->matcher_free(m);
    c.ops->release(c.grammar);
    sc_request_release(&req);
}

static void expect_calls(sc_cache *cache, api_chat_request r, const char *text, bool accepted,
                         bool terminated, const char *what)
{
    expect_calls_in(cache, OP_TOOLS_HERMES, r, text, accepted, terminated, what);
}

/* A byte-level vocabulary of printable ASCII, space and newline, with [TOOL_CALLS] (id 200) and
 * </s> (id 201) special, as Mistral's tokenizers have them: required must open with the special
 * token (the only token its first mask allows), then the array follows; without it nothing is
 * accepted. */
static void test_lead_token(void)
{
    char json[8192];
    size_t at = (size_t)snprintf(json, sizeof json, "{\"model\":{\"type\":\"BPE\",\"vocab\":{");
    for (int ch = 33; ch < 127; ch++)
        at += (size_t)snprintf(json + at, sizeof json - at, "\"%s%c\":%d,",
                               ch == '"' || ch == '\\' ? "\\" : "", ch, ch - 33);
    at +=
        (size_t)snprintf(json + at, sizeof json - at,
                         "\"\\u0120\":94,\"\\u010a\":95},\"merges\":[]},"
                         "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                         "\"use_regex\":true},\"decoder\":{\"type\":\"ByteLevel\"},"
                         "\"added_tokens\":[{\"id\":200,\"content\":\"[TOOL_CALLS]\","
                         "\"special\":true},{\"id\":201,\"content\":\"</s>\",\"special\":true}]}");
    char err[512];
    tok_tokenizer *mt = NULL;
    CHECKF(tok_load_json(&mt, json, at, NULL, 0, "lead-token vocabulary", err, sizeof err) ==
               TOK_OK,
           "%s", err);
    if (!mt) return;
    int32_t eos = 201;
    sc_cache *cache = NULL;
    CHECKF(sc_cache_new(&cache, mt, 202, &eos, 1, 2, err, sizeof err) == 0, "%s", err);
    if (cache) {
        sc_request req;
        api_error e;
        api_chat_request r = chat(API_TOOL_CHOICE_NAMED, "get_weather", true);
        CHECK(sc_for_chat(cache, &r, OP_THINK_OFF, OP_TOOLS_MISTRAL, &req, &e) == 0 && req.entry);
        engine_constraint c;
        sc_request_constraint(&req, &c);
        void *m = c.ops->matcher_new(c.grammar);
        uint32_t mask[(202 + 31) / 32];
        CHECK(c.ops->fill_mask(m, mask) == 0);
        int allowed = 0;
        for (int i = 0; i < 202; i++)
            allowed += (mask[i / 32] >> (i % 32)) & 1u;
        CHECK(allowed == 1 && ((mask[200 / 32] >> (200 % 32)) & 1u));
        CHECK(c.ops->accept(m, '[' - 33) == -1 && !c.ops->is_terminated(m));
        CHECK(c.ops->accept(m, 200) == 0);
        const char *rest =
            "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"c\"}}]";
        int32_t *ids = NULL;
        size_t n = 0;
        CHECKF(tok_encode(mt, rest, strlen(rest), &ids, &n, err, sizeof err) == 0, "%s", err);
        size_t i = 0;
        while (i < n && c.ops->accept(m, ids[i]) == 0)
            i++;
        CHECKF(i == n, "%zu of %zu tokens accepted after [TOOL_CALLS]", i, n);
        CHECK(c.ops->is_terminated(m));
        c.ops->matcher_free(m);
        c.ops->release(c.grammar);
        sc_request_release(&req);
        /* auto with parallel calls off: free text until the model writes [TOOL_CALLS], then the
         * array; the request ends after it. */
        api_chat_request a = chat(API_TOOL_CHOICE_AUTO, NULL, false);
        CHECK(sc_for_chat(cache, &a, OP_THINK_OFF, OP_TOOLS_MISTRAL, &req, &e) == 0 && req.entry);
        sc_request_constraint(&req, &c);
        CHECK(c.trigger_token == 200 && !c.rearm);
        m = c.ops->matcher_new(c.grammar);
        size_t k = 0;
        while (k < n && c.ops->accept(m, ids[k]) == 0)
            k++;
        CHECKF(k == n, "%zu of %zu tokens accepted after the trigger", k, n);
        CHECK(c.ops->is_terminated(m));
        c.ops->matcher_free(m);
        c.ops->release(c.grammar);
        sc_request_release(&req);
        free(ids);
        sc_cache_free(cache);
    }
    tok_free(mt);
}

int main(void)
{
    char path[1024], err[512];
    test_shared_path("data/qwen3-tokenizer/tokenizer.json.gz", path, sizeof path);
    CHECKF(tok_load_file(&tok, path, err, sizeof err) == TOK_OK, "%s", err);
    if (!tok) return test_finish("test_constraint");
    int32_t eos[2] = {151645, 151643};
    sc_cache *cache = NULL;
    CHECKF(sc_cache_new(&cache, tok, VOCAB, eos, 2, 2, err, sizeof err) == 0, "%s", err);
    if (!cache) return test_finish("test_constraint");

    char two[512];
    snprintf(two, sizeof two, "%s\n%s", CALL, CALL);
    expect_calls(cache, chat(API_TOOL_CHOICE_REQUIRED, NULL, true), CALL, true, false,
                 "required, one call");
    expect_calls(cache, chat(API_TOOL_CHOICE_REQUIRED, NULL, true), two, true, false,
                 "required, two calls");
    expect_calls(cache, chat(API_TOOL_CHOICE_REQUIRED, NULL, false), CALL, true, true,
                 "required, parallel_tool_calls false");
    expect_calls(cache, chat(API_TOOL_CHOICE_REQUIRED, NULL, false), two, false, false,
                 "required, parallel_tool_calls false, two calls");
    expect_calls(cache, chat(API_TOOL_CHOICE_NAMED, "get_weather", true), CALL, true, true,
                 "named");
    expect_calls(cache, chat(API_TOOL_CHOICE_NAMED, "noop", true), CALL, false, false,
                 "named another function");
    expect_calls(cache, chat(API_TOOL_CHOICE_REQUIRED, NULL, true),
                 "<tool_call>\n{\"name\": \"noop\", \"arguments\": {}}\n</tool_call>", true, false,
                 "a tool without parameters");
    expect_calls(cache, chat(API_TOOL_CHOICE_REQUIRED, NULL, true),
                 "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
                 "\"unit\": \"k\"}}\n</tool_call>",
                 false, false, "arguments off the schema");
    expect_calls(cache, chat(API_TOOL_CHOICE_REQUIRED, NULL, true), "Sure! I will call it.", false,
                 false, "text instead of a call");

    sc_request req;
    api_error e;
    /* llama3_json: calls as Llama 3's template renders them, "; " between them. */
    static const char *L3 = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", "
                            "\"unit\": \"c\"}}";
    char l3two[512];
    snprintf(l3two, sizeof l3two, "%s; %s", L3, L3);
    expect_calls_in(cache, OP_TOOLS_LLAMA3_JSON, chat(API_TOOL_CHOICE_REQUIRED, NULL, true), l3two,
                    true, false, "llama3_json required, two calls");
    expect_calls_in(cache, OP_TOOLS_LLAMA3_JSON, chat(API_TOOL_CHOICE_NAMED, "get_weather", true),
                    L3, true, true, "llama3_json named");
    expect_calls_in(cache, OP_TOOLS_LLAMA3_JSON, chat(API_TOOL_CHOICE_REQUIRED, NULL, true), CALL,
                    false, false, "llama3_json refuses a hermes call");
    expect_calls_in(cache, OP_TOOLS_LLAMA3_JSON, chat(API_TOOL_CHOICE_NAMED, "get_weather", true),
                    "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", false,
                    false, "llama3_json arguments off the schema");
    /* mistral: one JSON array after [TOOL_CALLS] (plain text in Qwen3's vocabulary; a special
     * token elsewhere: test_lead_token below). */
    static const char *M1 = "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
                            "\"unit\": \"f\"}}";
    char mone[256], mtwo[512];
    snprintf(mone, sizeof mone, "[TOOL_CALLS][%s]", M1);
    snprintf(mtwo, sizeof mtwo, "[TOOL_CALLS][%s, %s]", M1, M1);
    expect_calls_in(cache, OP_TOOLS_MISTRAL, chat(API_TOOL_CHOICE_REQUIRED, NULL, true), mtwo, true,
                    true, "mistral required, two calls");
    expect_calls_in(cache, OP_TOOLS_MISTRAL, chat(API_TOOL_CHOICE_NAMED, "get_weather", true), mone,
                    true, true, "mistral named");
    expect_calls_in(cache, OP_TOOLS_MISTRAL, chat(API_TOOL_CHOICE_NAMED, "noop", true), mone, false,
                    false, "mistral named another function");
    /* auto with parallel calls off. llama3_json: the output is one call, or text that does not
     * open with '{' (what its parser takes for content). mistral: from its special [TOOL_CALLS]
     * token on; where that is plain text (this vocabulary) there is nothing to trigger on. */
    api_chat_request single = chat(API_TOOL_CHOICE_AUTO, NULL, false);
    expect_calls_in(cache, OP_TOOLS_LLAMA3_JSON, single, L3, true, true,
                    "llama3_json auto, a call");
    expect_calls_in(cache, OP_TOOLS_LLAMA3_JSON, single, "Sunny, {about} 20 degrees.\nBye", true,
                    false, "llama3_json auto, text");
    expect_calls_in(cache, OP_TOOLS_LLAMA3_JSON, single, "{\"city\": \"Paris\"}", false, false,
                    "llama3_json auto, JSON that is no call");
    expect_calls_in(cache, OP_TOOLS_LLAMA3_JSON, single, l3two, false, false,
                    "llama3_json auto, two calls with parallel calls off");
    CHECK(sc_for_chat(cache, &single, OP_THINK_OFF, OP_TOOLS_MISTRAL, &req, &e) == 0 && !req.entry);

    /* auto: free unless a tool is strict or parallel calls are off; then from <tool_call> on */
    api_chat_request r = chat(API_TOOL_CHOICE_AUTO, NULL, true);
    CHECK(sc_for_chat(cache, &r, OP_THINK_OFF, OP_TOOLS_HERMES, &req, &e) == 0 && !req.entry);
    r.parallel_tool_calls = false;
    CHECK(sc_for_chat(cache, &r, OP_THINK_OFF, OP_TOOLS_HERMES, &req, &e) == 0 && req.entry);
    engine_constraint c;
    sc_request_constraint(&req, &c);
    CHECK(c.trigger_token == tok_token_id(tok, "<tool_call>") && !c.rearm);
    void *m = c.ops->matcher_new(c.grammar);
    size_t n;
    CHECK(feed(&c, m, CALL + strlen("<tool_call>"), &n) == n && c.ops->is_terminated(m));
    c.ops->matcher_free(m);
    c.ops->release(c.grammar);
    sc_request_release(&req);
    char strict_tools[1024];
    snprintf(strict_tools, sizeof strict_tools, "%s", TOOLS);
    char *at = strstr(strict_tools, "\"name\":\"noop\"");
    memmove(at + 14, at, strlen(at) + 1);
    memcpy(at, "\"strict\":true,", 14);
    r = chat(API_TOOL_CHOICE_AUTO, NULL, true);
    r.tools_json = strict_tools;
    CHECK(sc_for_chat(cache, &r, OP_THINK_OFF, OP_TOOLS_HERMES, &req, &e) == 0 && req.entry);
    sc_request_constraint(&req, &c);
    CHECK(c.trigger_token == tok_token_id(tok, "<tool_call>") && c.rearm);
    c.ops->release(c.grammar);
    sc_request_release(&req);

    /* thinking */
    api_chat_request js;
    memset(&js, 0, sizeof js);
    js.structured = (api_structured){.kind = API_SO_CHOICE,
                                     .choices = (char *[]){"a", "b"},
                                     .n_choices = 2,
                                     .param = "guided_choice"};
    CHECK(sc_for_chat(cache, &js, OP_THINK_OPEN, OP_TOOLS_HERMES, &req, &e) == 0);
    CHECK(req.base.trigger_token == tok_token_id(tok, "</think>") && !req.base.has_open &&
          req.base.prefix_mask && req.base.prefix_max == SC_THINK_WHITESPACE_TOKENS);
    int32_t nl = tok_token_id(tok, "\xc4\x8a\xc4\x8a"); /* "\n\n" */
    CHECKF(nl >= 0 && ((req.base.prefix_mask[nl / 32] >> (nl % 32)) & 1u),
           "\\n\\n (%d) is not "
           "in the prefix",
           nl);
    int32_t sp = tok_token_id(tok, "\xc4\xa0"); /* " " */
    CHECK(sp >= 0 && !((req.base.prefix_mask[sp / 32] >> (sp % 32)) & 1u));
    sc_request_release(&req);
    CHECK(sc_for_chat(cache, &js, OP_THINK_OPTIONAL, OP_TOOLS_HERMES, &req, &e) == 0);
    CHECK(req.base.has_open && req.base.open_token == tok_token_id(tok, "<think>"));
    sc_request_release(&req);
    CHECK(sc_for_chat(cache, &js, OP_THINK_OFF, OP_TOOLS_HERMES, &req, &e) == 0 &&
          req.base.trigger_token == -1);
    sc_request_release(&req);

    /* two constraints at once */
    js.tools_json = (char *)TOOLS;
    js.n_tools = 2;
    js.tool_choice = API_TOOL_CHOICE_REQUIRED;
    CHECK(sc_for_chat(cache, &js, OP_THINK_OFF, OP_TOOLS_HERMES, &req, &e) == -1 &&
          e.status == 400 && !strcmp(e.param, "tool_choice"));

    /* the cache: a hit on the same source; eviction keeps a held grammar alive */
    uint64_t compiled0, hits0, compiled1, hits1;
    sc_cache_counts(cache, &compiled0, &hits0);
    api_structured re = {.kind = API_SO_REGEX, .text = "[0-9]+", .param = "guided_regex"};
    sc_request held, again;
    CHECK(sc_for_completion(cache, &re, &held, &e) == 0);
    CHECK(sc_for_completion(cache, &re, &again, &e) == 0 && again.entry == held.entry);
    sc_request_release(&again);
    sc_cache_counts(cache, &compiled1, &hits1);
    CHECK(compiled1 == compiled0 + 1 && hits1 == hits0 + 1);
    const char *others[] = {"a+", "b+", "c+"};
    for (int i = 0; i < 3; i++) {
        api_structured o = {.kind = API_SO_REGEX, .text = (char *)others[i], .param = "x"};
        CHECK(sc_for_completion(cache, &o, &again, &e) == 0);
        sc_request_release(&again);
    }
    sc_request_constraint(&held, &c); /* evicted (capacity 2), still held */
    m = c.ops->matcher_new(c.grammar);
    CHECK(feed(&c, m, "123", &n) == n);
    c.ops->matcher_free(m);
    c.ops->release(c.grammar);
    sc_request_release(&held);
    CHECK(sc_for_completion(cache, &re, &again, &e) == 0);
    sc_cache_counts(cache, &compiled1, &hits1);
    CHECK(compiled1 == compiled0 + 5); /* recompiled after eviction */
    sc_request_release(&again);

    api_structured bad = {.kind = API_SO_REGEX, .text = "(a", .param = "guided_regex"};
    CHECK(sc_for_completion(cache, &bad, &again, &e) == -1 && e.status == 400 &&
          !strcmp(e.param, "guided_regex") && strstr(e.message, "regular expression"));

    sc_cache_free(cache);
    tok_free(tok);
    test_lead_token();
    return test_finish("test_constraint");
}
