/* Chat messages as clients send them in agent loops (OpenAI SDK, LangChain, Strands) become the
 * template variables vLLM would render: content null/absent/parts, tool-call arguments as objects,
 * tool results, reasoning aliases, developer as system, unknown fields ignored. The rendering of
 * these variables through real templates against Jinja2 is
 * tests/chat_template/test_message_shapes.py. */
#include <stdlib.h>
#include <string.h>

#include "server/api/api_chat_vars.h"
#include "tests/support/test_support.h"

/* Parses {"messages": [msgs]} and checks the normalised message list prints as want. */
static void expect_messages(const char *msgs, const char *want)
{
    char body[4096];
    snprintf(body, sizeof body, "{\"messages\":[%s]}", msgs);
    api_chat_request r;
    api_error e;
    if (api_parse_chat_request(body, strlen(body), &r, &e) != 0) {
        CHECKF(0, "rejected (%s: %s): %s", e.param, e.message, body);
        return;
    }
    cJSON *j = api_chat_messages_json(&r);
    char *got = j ? cJSON_PrintUnformatted(j) : NULL;
    CHECKF(got && !strcmp(got, want), "for %s\n  want %s\n  got  %s", msgs, want,
           got ? got : "(null)");
    free(got);
    cJSON_Delete(j);
    api_chat_request_free(&r);
}

#define USER "{\"role\":\"user\",\"content\":\"q\"}"
#define USER_OUT "{\"role\":\"user\",\"content\":\"q\"}"

static void test_assistant_content(void)
{
    const char *call =
        "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{\\\"a\\\": 1}\"}}]";
    const char *call_out =
        "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":{\"a\":1}}}]";
    char in[1024], out[1024];
    /* null (OpenAI SDK, LangChain), absent (Strands), "" and text parts all give the template a
     * string */
    const char *contents[] = {"\"content\":null,", "", "\"content\":\"\",", "\"content\":[],"};
    for (size_t i = 0; i < sizeof contents / sizeof contents[0]; i++) {
        snprintf(in, sizeof in, USER ",{\"role\":\"assistant\",%s%s}", contents[i], call);
        snprintf(out, sizeof out, "[" USER_OUT ",{\"role\":\"assistant\",\"content\":\"\",%s}]",
                 call_out);
        expect_messages(in, out);
    }
    /* a plain assistant message with content null renders as "" too (the second failure) */
    expect_messages(USER ",{\"role\":\"assistant\",\"content\":null}," USER,
                    "[" USER_OUT ",{\"role\":\"assistant\",\"content\":\"\"}," USER_OUT "]");
    expect_messages(
        USER ",{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
             "{\"type\":\"refusal\",\"refusal\":\"no\"},{\"type\":\"text\",\"text\":\"b\"}]}",
        "[" USER_OUT ",{\"role\":\"assistant\",\"content\":\"a\\nno\\nb\"}]");
    /* what the OpenAI SDK echoes back (model_dump) carries fields templates never see */
    expect_messages(
        USER
        ",{\"role\":\"assistant\",\"content\":null,\"refusal\":null,\"audio\":null,"
        "\"function_call\":null,\"annotations\":[],\"tool_calls\":[{\"id\":\"c1\",\"index\":0,"
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\": 1}\"}}]}",
        "[" USER_OUT ",{\"role\":\"assistant\",\"content\":\"\","
        "\"tool_calls\":[{\"id\":\"c1\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1}}}]}]");
    /* an empty or null tool_calls list is dropped: templates take the plain assistant path */
    expect_messages(USER ",{\"role\":\"assistant\",\"content\":\"hi\",\"tool_calls\":[]}",
                    "[" USER_OUT ",{\"role\":\"assistant\",\"content\":\"hi\"}]");
    expect_messages(USER ",{\"role\":\"assistant\",\"content\":\"hi\",\"tool_calls\":null}",
                    "[" USER_OUT ",{\"role\":\"assistant\",\"content\":\"hi\"}]");
}

static void test_tool_call_arguments(void)
{
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"\"arguments\":\"{\\\"city\\\":\\\"Paris\\\",\\\"n\\\":[1,{\\\"x\\\":null}]}\"",
         "\"arguments\":{\"city\":\"Paris\",\"n\":[1,{\"x\":null}]}"},
        {"\"arguments\":\" {} \"", "\"arguments\":{}"},
        {"\"arguments\":{\"k\":true}",
         "\"arguments\":{\"k\":true}"}, /* an object as some clients send */
        {"", "\"arguments\":{}"},       /* absent */
        {"\"arguments\":null", "\"arguments\":{}"},
        /* not a JSON object: the template gets the client's text, not a made-up {} */
        {"\"arguments\":\"not json\"", "\"arguments\":\"not json\""},
        {"\"arguments\":\"{\\\"a\\\":1} trailing\"", "\"arguments\":\"{\\\"a\\\":1} trailing\""},
        {"\"arguments\":\"[1,2]\"", "\"arguments\":\"[1,2]\""},
        {"\"arguments\":\"\"", "\"arguments\":\"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char in[1024], out[1024];
        snprintf(in, sizeof in,
                 USER
                 ",{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\"%s%s}}]}",
                 cases[i].args[0] ? "," : "", cases[i].args);
        snprintf(out, sizeof out,
                 "[" USER_OUT ",{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
                 "[{\"type\":\"function\",\"function\":{\"name\":\"f\",%s}}]}]",
                 cases[i].want);
        expect_messages(in, out);
    }
}

static void test_tool_results(void)
{
    /* two parallel calls answered by two tool messages in a row; name kept, parts joined */
    expect_messages(
        USER
        ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},"
        "{\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"name\":\"f\",\"content\":\"1\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"b\",\"content\":[{\"type\":\"text\",\"text\":\"x\"},"
        "{\"type\":\"text\",\"text\":\"y\"}],\"status\":\"success\"}",
        "[" USER_OUT ",{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
        "{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{}}},"
        "{\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":{}}}]},"
        "{\"role\":\"tool\",\"content\":\"1\",\"tool_call_id\":\"a\",\"name\":\"f\"},"
        "{\"role\":\"tool\",\"content\":\"x\\ny\",\"tool_call_id\":\"b\"}]");
    /* tool_call_id means nothing on other roles (vLLM reads it on tool messages only) */
    expect_messages("{\"role\":\"user\",\"content\":\"q\",\"tool_call_id\":\"a\"}",
                    "[" USER_OUT "]");
}

static void test_reasoning_and_roles(void)
{
    const char *aliased =
        "{\"thinking\":\"r\",\"role\":\"assistant\",\"content\":\"a\",\"reasoning\":\"r\","
        "\"reasoning_content\":\"r\"}";
    char out[512];
    snprintf(out, sizeof out, "[" USER_OUT ",%s]", aliased);
    expect_messages(USER ",{\"role\":\"assistant\",\"content\":\"a\",\"reasoning_content\":\"r\"}",
                    out);
    expect_messages(USER ",{\"role\":\"assistant\",\"content\":\"a\",\"reasoning\":\"r\"}", out);
    expect_messages(USER ",{\"role\":\"assistant\",\"content\":\"a\",\"reasoning\":null}",
                    "[" USER_OUT ",{\"role\":\"assistant\",\"content\":\"a\"}]");
    /* reasoning on other roles is not a template field */
    expect_messages("{\"role\":\"user\",\"content\":\"q\",\"reasoning\":\"r\"}", "[" USER_OUT "]");
    expect_messages(
        "{\"role\":\"developer\",\"content\":\"d\"},{\"role\":\"system\",\"content\":[{\"type\":"
        "\"text\",\"text\":\"s\"}]},{\"role\":\"user\",\"content\":\"q\",\"name\":\"bob\"}",
        "[{\"role\":\"system\",\"content\":\"d\"},{\"role\":\"system\",\"content\":\"s\"},"
        "{\"role\":\"user\",\"content\":\"q\",\"name\":\"bob\"}]");
}

static void test_template_vars(void)
{
    const char *body =
        "{\"messages\":[" USER "],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
        "\"f\"}}],\"chat_template_kwargs\":{\"enable_thinking\":false,\"bos_token\":\"B\","
        "\"messages\":1,\"add_generation_prompt\":false}}";
    api_chat_request r;
    api_error e;
    CHECK(api_parse_chat_request(body, strlen(body), &r, &e) == 0);
    cJSON *vars = NULL;
    CHECK(api_chat_template_vars(&r, "<s>", "</s>", &vars, &e) == 0);
    char *got = vars ? cJSON_PrintUnformatted(vars) : NULL;
    /* kwargs override the special tokens but never messages/tools/documents/add_generation_prompt
     */
    const char *want = "{\"eos_token\":\"</"
                       "s>\",\"enable_thinking\":false,\"bos_token\":\"B\",\"messages\":[" USER_OUT
                       "],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                       "\"documents\":null,\"add_generation_prompt\":true}";
    CHECKF(got && !strcmp(got, want), "want %s\ngot  %s", want, got ? got : "(null)");
    free(got);
    cJSON_Delete(vars);
    api_chat_request_free(&r);
    /* no tools (or an empty list): tools is None */
    body = "{\"messages\":[" USER "],\"tools\":[]}";
    CHECK(api_parse_chat_request(body, strlen(body), &r, &e) == 0);
    CHECK(api_chat_template_vars(&r, NULL, NULL, &vars, &e) == 0);
    got = vars ? cJSON_PrintUnformatted(vars) : NULL;
    want = "{\"messages\":[" USER_OUT
           "],\"tools\":null,\"documents\":null,\"add_generation_prompt\":true}";
    CHECKF(got && !strcmp(got, want), "want %s\ngot  %s", want, got ? got : "(null)");
    free(got);
    cJSON_Delete(vars);
    api_chat_request_free(&r);
}

int main(void)
{
    test_assistant_content();
    test_tool_call_arguments();
    test_tool_results();
    test_reasoning_and_roles();
    test_template_vars();
    return test_finish("test_api_chat_vars");
}
