/* The reasoning / tool-call output parser: expected results for Qwen3-style (hermes), Llama 3
 * (llama3_json) and Mistral outputs, and the same result for every way of cutting an output into
 * deltas (whole, byte by byte, random cuts). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve/output_parser.h"
#include "tests/support/test_support.h"

typedef struct parsed {
    char *content, *reasoning; /* concatenated events */
    bool saw_reasoning;
    size_t n_calls;
    char *names[8], *args[8];
    bool events_match_results;
} parsed;

/* The tool-call format and call limit the next checks parse with. */
static op_tool_format g_format = OP_TOOLS_HERMES;
static size_t g_max_calls = 0;

static bool valid_id(const char *id)
{
    if (g_format != OP_TOOLS_MISTRAL) return strncmp(id, "call_", 5) == 0 && strlen(id) == 29;
    size_t n = 0;
    for (; id[n]; n++)
        if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'z') ||
              (id[n] >= 'A' && id[n] <= 'Z')))
            return false;
    return n == 9;
}

static char *cat(char *a, const char *b, size_t n)
{
    size_t la = a ? strlen(a) : 0;
    char *r = realloc(a, la + n + 1);
    memcpy(r + la, b, n);
    r[la + n] = 0;
    return r;
}

static void collect(parsed *r, const op_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const op_event *e = &ev[i];
        CHECK(strlen(e->text) == e->len);
        if (e->kind == OP_EV_CONTENT) {
            CHECK(e->len > 0);
            r->content = cat(r->content, e->text, e->len);
        } else if (e->kind == OP_EV_REASONING) {
            CHECK(e->len > 0);
            r->reasoning = cat(r->reasoning, e->text, e->len);
        } else if (e->kind == OP_EV_TOOL_START) {
            /* A call starts once, in order, with a fresh id; its arguments follow. */
            CHECK(e->index == (int)r->n_calls && r->n_calls < 8);
            CHECKF(valid_id(e->id), "bad call id [%s] for %s", e->id,
                   op_tool_format_name(g_format));
            r->names[r->n_calls] = strdup(e->text);
            r->args[r->n_calls] = strdup("");
            r->n_calls++;
        } else {
            CHECK(r->n_calls > 0 && e->index == (int)r->n_calls - 1);
            if (r->n_calls > 0)
                r->args[r->n_calls - 1] = cat(r->args[r->n_calls - 1], e->text, e->len);
        }
    }
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Parses text cut at the given offsets (ascending, each < len). */
static parsed parse_cuts(op_think_mode mode, bool tools, const char *text, const size_t *cuts,
                         size_t n_cuts)
{
    parsed r;
    memset(&r, 0, sizeof r);
    op_parser p;
    op_init(&p, mode, tools);
    op_set_tool_format(&p, g_format, g_max_calls);
    const op_event *ev;
    size_t n, at = 0, len = strlen(text);
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        CHECK(op_feed(&p, text + at, end - at, &ev, &n) == 0);
        collect(&r, ev, n);
        at = end;
    }
    CHECK(op_finish(&p, &ev, &n) == 0);
    collect(&r, ev, n);
    r.saw_reasoning = p.saw_reasoning;
    bool ok = same_str(r.content, p.content.s) && same_str(r.reasoning, p.reasoning.s) &&
              r.n_calls == p.n_calls;
    for (size_t i = 0; ok && i < p.n_calls; i++)
        ok = strcmp(r.names[i], p.calls[i].name) == 0 &&
             strcmp(r.args[i], p.calls[i].arguments) == 0;
    r.events_match_results = ok;
    op_free(&p);
    return r;
}

static void parsed_free(parsed *r)
{
    free(r->content);
    free(r->reasoning);
    for (size_t i = 0; i < r->n_calls; i++) {
        free(r->names[i]);
        free(r->args[i]);
    }
}

static bool same(const parsed *a, const parsed *b)
{
    if (!same_str(a->content, b->content) || !same_str(a->reasoning, b->reasoning) ||
        a->saw_reasoning != b->saw_reasoning || a->n_calls != b->n_calls)
        return false;
    for (size_t i = 0; i < a->n_calls; i++)
        if (strcmp(a->names[i], b->names[i]) || strcmp(a->args[i], b->args[i])) return false;
    return true;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Whole, byte by byte and 300 random cuttings all give the same result, whose events add up to the
 * parser's final results; returns the whole-text result for the caller's expectations. */
static parsed check_splits(const char *name, op_think_mode mode, bool tools, const char *text)
{
    parsed whole = parse_cuts(mode, tools, text, NULL, 0);
    CHECKF(whole.events_match_results, "%s: events differ from the final results", name);
    size_t len = strlen(text);
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    for (size_t i = 1; i < len; i++)
        cuts[i - 1] = i;
    parsed bytes = parse_cuts(mode, tools, text, cuts, len ? len - 1 : 0);
    CHECKF(same(&whole, &bytes) && bytes.events_match_results, "%s: byte-by-byte differs", name);
    parsed_free(&bytes);
    for (int trial = 0; trial < 300; trial++) {
        size_t n = 0;
        for (size_t i = 1; i < len; i++)
            if (next_rand() % 5 == 0) cuts[n++] = i;
        parsed r = parse_cuts(mode, tools, text, cuts, n);
        bool ok = same(&whole, &r) && r.events_match_results;
        CHECKF(ok, "%s: random split %d differs", name, trial);
        parsed_free(&r);
        if (!ok) break;
    }
    free(cuts);
    return whole;
}

static void expect(const char *name, op_think_mode mode, bool tools, const char *text,
                   const char *reasoning, const char *content, size_t n_calls,
                   const char *const *names, const char *const *args)
{
    parsed r = check_splits(name, mode, tools, text);
    CHECKF(same_str(r.reasoning, reasoning), "%s: reasoning [%s], expected [%s]", name,
           r.reasoning ? r.reasoning : "(none)", reasoning ? reasoning : "(none)");
    CHECKF(same_str(r.content, content), "%s: content [%s], expected [%s]", name,
           r.content ? r.content : "(none)", content ? content : "(none)");
    CHECKF(r.n_calls == n_calls, "%s: %zu calls, expected %zu", name, r.n_calls, n_calls);
    for (size_t i = 0; i < n_calls && i < r.n_calls; i++) {
        CHECKF(strcmp(r.names[i], names[i]) == 0, "%s: call %zu name [%s]", name, i, r.names[i]);
        CHECKF(strcmp(r.args[i], args[i]) == 0, "%s: call %zu arguments [%s], expected [%s]", name,
               i, r.args[i], args[i]);
    }
    parsed_free(&r);
}

static void test_reasoning(void)
{
    expect("think then answer", OP_THINK_OPTIONAL, false,
           "<think>\nThe user wants 2+2.\n</think>\n\nThe answer is 4.", "\nThe user wants 2+2.\n",
           "The answer is 4.", 0, NULL, NULL);
    expect("no think block", OP_THINK_OPTIONAL, true, "Hello, world!", NULL, "Hello, world!", 0,
           NULL, NULL);
    expect("unterminated think", OP_THINK_OPTIONAL, false,
           "<think>\nstill thinking <tool_call> and", "\nstill thinking <tool_call> and", NULL, 0,
           NULL, NULL);
    expect("empty think", OP_THINK_OPTIONAL, false, "<think>\n\n</think>\n\nHi", "\n\n", "Hi", 0,
           NULL, NULL);
    expect("think not at start is content", OP_THINK_OPTIONAL, false, "Hi <think>x</think>y", NULL,
           "Hi <think>x</think>y", 0, NULL, NULL);
    expect("thinking disabled: all content", OP_THINK_OFF, false, "<think>x</think>y", NULL,
           "<think>x</think>y", 0, NULL, NULL);
    expect("think opened by the prompt", OP_THINK_OPEN, false, "I reason.</think>\n\nDone.",
           "I reason.", "Done.", 0, NULL, NULL);
    expect("prompt opened think, model repeats the tag", OP_THINK_OPEN, false, "<think>r</think>c",
           "r", "c", 0, NULL, NULL);
    expect("open think cut off", OP_THINK_OPEN, false, "partial </thi", "partial </thi", NULL, 0,
           NULL, NULL);
    expect("near tags stay text", OP_THINK_OPTIONAL, false, "<thin", NULL, "<thin", 0, NULL, NULL);
    expect("unicode", OP_THINK_OPTIONAL, false,
           "<think>Überlegung 思考 🤔</think>\n\nVoilà 😀 東京",
           "Überlegung 思考 🤔", "Voilà 😀 東京", 0, NULL, NULL);
    expect("empty output", OP_THINK_OPTIONAL, true, "", NULL, NULL, 0, NULL, NULL);
}

static void test_tool_calls(void)
{
    const char *w[] = {"get_weather", "get_time"};
    const char *wa[] = {"{\"city\": \"Paris\"}", "{\"tz\": \"CET\"}"};
    expect("two calls after thinking", OP_THINK_OPTIONAL, true,
           "<think>\nNeed the weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", "
           "\"arguments\": "
           "{\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", "
           "\"arguments\": "
           "{\"tz\": \"CET\"}}\n</tool_call>",
           "\nNeed the weather.\n", NULL, 2, w, wa);
    expect("text before a call", OP_THINK_OFF, true,
           "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
           "\"Paris\"}}\n"
           "</tool_call>",
           NULL, "Let me check.\n", 1, w, wa);
    const char *e[] = {"echo"};
    const char *ea[] = {
        "{\"text\": \"a </tool_call> b \\\"q\\\" \\\\\", \"n\": [1, {\"k\": \"}\"}]}"};
    expect("closing tag inside a JSON string", OP_THINK_OFF, true,
           "<tool_call>\n{\"name\": \"echo\", \"arguments\": {\"text\": \"a </tool_call> b "
           "\\\"q\\\" \\\\\", "
           "\"n\": [1, {\"k\": \"}\"}]}}\n</tool_call>",
           NULL, NULL, 1, e, ea);
    const char *u[] = {"translate"};
    const char *ua[] = {
        "{\"text\": \"Zürich 東京 🚀\", \"x\": 1.50, \"big\": 12345678901234567890}"};
    expect("unicode and numbers kept as written", OP_THINK_OFF, true,
           "<tool_call>{\"name\":\"translate\",\"arguments\":{\"text\": \"Zürich 東京 🚀\", \"x\": "
           "1.50, "
           "\"big\": 12345678901234567890}}</tool_call>",
           NULL, NULL, 1, u, ua);
    const char *f[] = {"f"};
    const char *fa[] = {"{}"};
    expect("junk after tool calls stays content", OP_THINK_OFF, true,
           "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>\n\nDone! <tool", NULL,
           "\n\nDone! <tool", 1, f, fa);
    expect("whitespace after the last call is dropped", OP_THINK_OFF, true,
           "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>\n \n", NULL, NULL, 1, f,
           fa);
    /* Whitespace before the first call is layout (vLLM: content null); a plain answer of
     * whitespace, or whitespace before a section that is not a call, is still given back. */
    expect("whitespace before the first call is dropped", OP_THINK_OFF, true,
           "\n\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>", NULL, NULL, 1, f,
           fa);
    expect("whitespace after thinking and before a call is dropped", OP_THINK_OPTIONAL, true,
           "<think>\nx\n</think>\n\n \n<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>",
           "\nx\n", NULL, 1, f, fa);
    expect("whitespace alone is an answer", OP_THINK_OFF, true, " \n\n", NULL, " \n\n", 0, NULL,
           NULL);
    expect("whitespace then text is content", OP_THINK_OFF, true, "\n\nHi <tool", NULL,
           "\n\nHi <tool", 0, NULL, NULL);
    expect("whitespace before a section that is not a call is content", OP_THINK_OFF, true,
           "\n <tool_call>oops", NULL, "\n <tool_call>oops", 0, NULL, NULL);
    expect("text, whitespace, then a call: the content keeps its layout", OP_THINK_OFF, true,
           "Sure.\n\n<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>", NULL,
           "Sure.\n\n", 1, f, fa);
    expect("closing tag never came", OP_THINK_OFF, true,
           "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n", NULL, NULL, 1, f, fa);
    expect("arguments absent", OP_THINK_OFF, true, "<tool_call>{\"name\": \"f\"}</tool_call>", NULL,
           NULL, 1, f, fa);
    const char *sa[] = {"{\"a\": 1}"};
    expect("arguments given as a JSON string", OP_THINK_OFF, true,
           "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>", NULL,
           NULL, 1, f, sa);
    expect("tools off: calls are content", OP_THINK_OFF, false,
           "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>", NULL,
           "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>", 0, NULL, NULL);
    expect("tool call inside reasoning is reasoning", OP_THINK_OPTIONAL, true,
           "<think><tool_call>{\"name\": \"f\"}</tool_call></think>ok",
           "<tool_call>{\"name\": \"f\"}</tool_call>", "ok", 0, NULL, NULL);
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "<tool_call>\nget_weather(city=Paris)\n</tool_call>",
        "<tool_call>{\"name\": get}</tool_call>",
        "<tool_call>{\"arguments\": {}}</tool_call>",
        "<tool_call>{\"name\": \"\"}</tool_call>",
        "<tool_call>{\"name\": \"f\"} junk</tool_call>",
        "<tool_call>{\"name\": \"f\", \"argu",
        "<tool_call>",
        "<tool_call>[1, 2]</tool_call>",
        "<tool_call>{\"name\": \"f\"]</tool_call>",
        "<tool_call>{\"name\": \"f\"}</tool_cal>",
        "Hello <tool_",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char name[64];
        snprintf(name, sizeof name, "malformed %zu", i);
        expect(name, OP_THINK_OFF, true, bad[i], NULL, bad[i], 0, NULL, NULL);
    }
    /* A malformed block does not hide a good call after it. */
    const char *f[] = {"f"};
    const char *fa[] = {"{\"a\": 1}"};
    expect("bad then good", OP_THINK_OFF, true,
           "<tool_call>oops</tool_call><tool_call>{\"name\": \"f\", \"arguments\": {\"a\": "
           "1}}</tool_call>",
           NULL, "<tool_call>oops</tool_call>", 1, f, fa);
}

static void test_think_mode(void)
{
    const char *tmpl = "{{ '<think>\\n\\n</think>' }}";
    CHECK(op_think_mode_for(NULL, "x") == OP_THINK_OFF);
    CHECK(op_think_mode_for("{{ messages }}", "x") == OP_THINK_OFF);
    CHECK(op_think_mode_for(tmpl, "<|im_start|>assistant\n") == OP_THINK_OPTIONAL);
    CHECK(op_think_mode_for(tmpl, NULL) == OP_THINK_OPTIONAL);
    CHECK(op_think_mode_for(tmpl, "<|im_start|>assistant\n<think>\n\n</think>\n\n") ==
          OP_THINK_OFF);
    CHECK(op_think_mode_for(tmpl, "<|im_start|>assistant\n<think>\n") == OP_THINK_OPEN);
    /* Reasoning of an earlier turn in the history does not count. */
    CHECK(op_think_mode_for(tmpl,
                            "<think>\nold\n</think>\n\nhi<|im_end|>\n<|im_start|>assistant\n") ==
          OP_THINK_OPTIONAL);
}

static void test_llama3(void)
{
    g_format = OP_TOOLS_LLAMA3_JSON;
    const char *w[] = {"get_weather", "get_time"};
    const char *wa[] = {"{\"city\": \"Paris\"}", "{\"tz\": \"CET\"}"};
    expect("llama: parameters", OP_THINK_OFF, true,
           "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", NULL, NULL, 1, w,
           wa);
    expect("llama: python_tag and arguments", OP_THINK_OFF, true,
           "<|python_tag|>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}", NULL,
           NULL, 1, w, wa);
    expect("llama: two calls separated by ;", OP_THINK_OFF, true,
           "\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}; "
           "{\"name\": \"get_time\", \"parameters\": {\"tz\": \"CET\"}}\n",
           NULL, NULL, 2, w, wa);
    expect("llama: ; without space", OP_THINK_OFF, true,
           "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}};{\"name\": "
           "\"get_time\", \"parameters\": {\"tz\": \"CET\"}}",
           NULL, NULL, 2, w, wa);
    const char *u[] = {"translate"};
    const char *ua[] = {"{\"text\": \"Zürich 東京 🚀 } ; {\", \"x\": 1.50}"};
    expect("llama: braces and ; inside strings, unicode, numbers as written", OP_THINK_OFF, true,
           "{\"name\":\"translate\",\"parameters\":{\"text\": \"Zürich 東京 🚀 } ; {\", \"x\": "
           "1.50}}",
           NULL, NULL, 1, u, ua);
    const char *sa[] = {"{\"a\": 1}"};
    const char *f[] = {"f"};
    expect("llama: arguments as a JSON string", OP_THINK_OFF, true,
           "{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}", NULL, NULL, 1, f, sa);
    expect("llama: JSON later in an answer is content", OP_THINK_OFF, true,
           "Call it so: {\"name\": \"f\", \"parameters\": {}}", NULL,
           "Call it so: {\"name\": \"f\", \"parameters\": {}}", 0, NULL, NULL);
    expect("llama: a JSON answer without parameters is content", OP_THINK_OFF, true,
           "{\"name\": \"Bob\", \"age\": 3}", NULL, "{\"name\": \"Bob\", \"age\": 3}", 0, NULL,
           NULL);
    expect("llama: not JSON", OP_THINK_OFF, true, "{name: f}", NULL, "{name: f}", 0, NULL, NULL);
    expect("llama: cut off inside the object", OP_THINK_OFF, true,
           "{\"name\": \"f\", \"parameters\": {\"a\"", NULL,
           "{\"name\": \"f\", \"parameters\": {\"a\"", 0, NULL, NULL);
    expect("llama: python_tag then text", OP_THINK_OFF, true, "<|python_tag|>print(1)", NULL,
           "<|python_tag|>print(1)", 0, NULL, NULL);
    expect("llama: near tag stays text", OP_THINK_OFF, true, "<|python", NULL, "<|python", 0, NULL,
           NULL);
    const char *fa[] = {"{}"};
    expect("llama: text after the call is content", OP_THINK_OFF, true,
           "{\"name\": \"f\", \"parameters\": {}} and done", NULL, " and done", 1, f, fa);
    expect("llama: a bad second call is content", OP_THINK_OFF, true,
           "{\"name\": \"f\", \"parameters\": {}}; {\"x\": 1}", NULL, "; {\"x\": 1}", 1, f, fa);
    expect("llama: tools off", OP_THINK_OFF, false, "{\"name\": \"f\", \"parameters\": {}}", NULL,
           "{\"name\": \"f\", \"parameters\": {}}", 0, NULL, NULL);
    expect("llama: plain answer", OP_THINK_OFF, true, "  Hello!", NULL, "  Hello!", 0, NULL, NULL);
    expect("llama: empty", OP_THINK_OFF, true, "", NULL, NULL, 0, NULL, NULL);
    g_format = OP_TOOLS_HERMES;
}

static void test_mistral(void)
{
    g_format = OP_TOOLS_MISTRAL;
    const char *w[] = {"get_weather", "get_time"};
    const char *wa[] = {"{\"city\": \"Paris\"}", "{\"tz\": \"CET\"}"};
    expect("mistral: array of two", OP_THINK_OFF, true,
           "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, "
           "{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}]",
           NULL, NULL, 2, w, wa);
    expect("mistral: content before the calls", OP_THINK_OFF, true,
           "Let me check. [TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": "
           "\"Paris\"}}]",
           NULL, "Let me check. ", 1, w, wa);
    expect("mistral: v11 name{args}, two calls", OP_THINK_OFF, true,
           "[TOOL_CALLS]get_weather{\"city\": \"Paris\"}[TOOL_CALLS]get_time{\"tz\": \"CET\"}",
           NULL, NULL, 2, w, wa);
    expect("mistral: name[ARGS]{args}", OP_THINK_OFF, true,
           "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[ARGS]{\"tz\": "
           "\"CET\"}",
           NULL, NULL, 2, w, wa);
    expect("mistral: name[CALL_ID]id[ARGS]{args}", OP_THINK_OFF, true,
           "[TOOL_CALLS]get_weather[CALL_ID]abc123XYZ[ARGS]{\"city\": \"Paris\"}", NULL, NULL, 1, w,
           wa);
    expect("mistral: a single object", OP_THINK_OFF, true,
           "[TOOL_CALLS]{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}", NULL,
           NULL, 1, w, wa);
    const char *u[] = {"echo"};
    const char *ua[] = {"{\"t\": \"] [TOOL_CALLS] } \\\" 東京\", \"n\": 1.50}"};
    expect(
        "mistral: brackets and tags inside strings", OP_THINK_OFF, true,
        "[TOOL_CALLS][{\"name\": \"echo\", \"arguments\": {\"t\": \"] [TOOL_CALLS] } \\\" 東京\", "
        "\"n\": 1.50}}]",
        NULL, NULL, 1, u, ua);
    static const char *const bad[] = {
        "[TOOL_CALLS]",
        "[TOOL_CALLS] not json",
        "[TOOL_CALLS][{\"arguments\": {}}]",
        "[TOOL_CALLS][]",
        "[TOOL_CALLS][{\"name\": \"f\"}, 3]",
        "[TOOL_CALLS]f{\"a\": ",
        "[TOOL_CALLS]f[ARG]{}",
        "[TOOL_CALLS]f[ARGS][1]",
        "[TOOL_CALLS]f{broken}",
        "Hi [TOOL_CA",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char name[64];
        snprintf(name, sizeof name, "mistral malformed %zu", i);
        expect(name, OP_THINK_OFF, true, bad[i], NULL, bad[i], 0, NULL, NULL);
    }
    const char *f[] = {"f"};
    const char *fa[] = {"{}"};
    expect("mistral: whitespace after is dropped, text after is content", OP_THINK_OFF, true,
           "[TOOL_CALLS]f{}\n\nDone.", NULL, "\n\nDone.", 1, f, fa);
    expect("mistral: whitespace before the first call is dropped", OP_THINK_OFF, true,
           "\n [TOOL_CALLS]f{}", NULL, NULL, 1, f, fa);
    expect("mistral: tools off", OP_THINK_OFF, false, "[TOOL_CALLS]f{}", NULL, "[TOOL_CALLS]f{}", 0,
           NULL, NULL);
    g_format = OP_TOOLS_HERMES;
}

/* The model's own [CALL_ID] becomes the call's id when it is valid. */
static void test_mistral_ids(void)
{
    op_parser p;
    op_init(&p, OP_THINK_OFF, true);
    op_set_tool_format(&p, OP_TOOLS_MISTRAL, 0);
    const char *t = "[TOOL_CALLS]f[CALL_ID]abc123XYZ[ARGS]{}[TOOL_CALLS]g{}";
    const op_event *ev;
    size_t n;
    CHECK(op_feed(&p, t, strlen(t), &ev, &n) == 0 && op_finish(&p, &ev, &n) == 0);
    CHECK(p.n_calls == 2 && strcmp(p.calls[0].id, "abc123XYZ") == 0 &&
          strcmp(p.calls[1].id, "abc123XYZ") != 0 && strlen(p.calls[1].id) == 9);
    op_free(&p);
}

/* parallel_tool_calls false: the first call only; later ones are neither calls nor content. */
static void test_max_calls(void)
{
    const char *f[] = {"f"};
    const char *fa[] = {"{\"a\": 1}"};
    g_max_calls = 1;
    expect("one call: hermes", OP_THINK_OFF, true,
           "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>\n<tool_call>"
           "{\"name\": \"g\", \"arguments\": {}}</tool_call>",
           NULL, NULL, 1, f, fa);
    g_format = OP_TOOLS_LLAMA3_JSON;
    expect("one call: llama3_json", OP_THINK_OFF, true,
           "{\"name\": \"f\", \"parameters\": {\"a\": 1}}; {\"name\": \"g\", \"parameters\": {}}",
           NULL, NULL, 1, f, fa);
    g_format = OP_TOOLS_MISTRAL;
    expect("one call: mistral", OP_THINK_OFF, true,
           "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": 1}}, {\"name\": \"g\", "
           "\"arguments\": {}}]",
           NULL, NULL, 1, f, fa);
    g_format = OP_TOOLS_HERMES;
    g_max_calls = 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static void test_formats(void)
{
    op_tool_format f;
    for (int i = 0; i < OP_TOOLS_COUNT; i++)
        CHECK(op_tool_format_from_name(op_tool_format_name((op_tool_format)i), &f) == 0 &&
              f == (op_tool_format)i && strstr(op_tool_format_names(), op_tool_format_name(f)));
    CHECK(op_tool_format_from_name("llama3", &f) == -1);
    CHECK(op_tool_format_from_name(NULL, &f) == -1);
    const char *why = NULL;
    CHECK(op_tool_format_detect(NULL, &why) == OP_TOOLS_HERMES && why);
    CHECK(op_tool_format_detect("{{ messages }}", NULL) == OP_TOOLS_HERMES);
    /* Cohere's templates show "parameters" too, in their own turn format. */
    CHECK(op_tool_format_detect("<|START_OF_TURN_TOKEN|>\"parameters\": a dict", NULL) ==
          OP_TOOLS_HERMES);
    CHECK(op_tool_format_detect("<|start_header_id|>{\"name\": f, \"parameters\": x}", NULL) ==
          OP_TOOLS_LLAMA3_JSON);
    CHECK(op_tool_format_detect("<|python_tag|>", NULL) == OP_TOOLS_LLAMA3_JSON);
    CHECK(op_tool_format_detect("[TOOL_CALLS] <tool_call>", NULL) == OP_TOOLS_MISTRAL);
    /* The real templates of the shared collection. */
    static const struct {
        const char *file;
        op_tool_format want;
    } real[] = {
        {"Qwen-Qwen3-0.6B.jinja", OP_TOOLS_HERMES},
        {"meta-llama-Llama-3.2-3B-Instruct.jinja", OP_TOOLS_LLAMA3_JSON},
        {"mistralai-Mistral-Nemo-Instruct-2407.jinja", OP_TOOLS_MISTRAL},
    };
    for (size_t i = 0; i < sizeof real / sizeof *real; i++) {
        char rel[256], path[1024];
        snprintf(rel, sizeof rel, "data/chat-templates/%s", real[i].file);
        char *t = read_file(test_shared_path(rel, path, sizeof path));
        CHECKF(t != NULL, "cannot read %s", path);
        if (!t) continue;
        CHECKF(op_tool_format_detect(t, NULL) == real[i].want, "%s detected as %s", real[i].file,
               op_tool_format_name(op_tool_format_detect(t, NULL)));
        free(t);
    }
}

int main(void)
{
    test_reasoning();
    test_tool_calls();
    test_malformed();
    test_think_mode();
    test_llama3();
    test_mistral();
    test_mistral_ids();
    test_max_calls();
    test_formats();
    return test_finish("output_parser");
}
