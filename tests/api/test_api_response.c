/* Response builders compared structurally (cJSON_Compare) with the shapes of PROTOCOL.md §4 and the
 * OpenAI spec: chat.completion, chunks (role first, usage null / object / usage chunk), tool calls,
 * reasoning, logprobs, text_completion, models, errors, SSE framing and ids. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/api_error.h"
#include "server/api/api_response.h"
#include "tests/support/test_support.h"

#define USAGE(p, c, t, cached, reasoning)                                                          \
    "{\"prompt_tokens\":" #p ",\"completion_tokens\":" #c ",\"total_tokens\":" #t                \
    ",\"prompt_tokens_details\":{\"cached_tokens\":" #cached "},"                                  \
    "\"completion_tokens_details\":{\"reasoning_tokens\":" #reasoning "}}"

static void same_json(char *got, const char *want, const char *what)
{
    cJSON *g = got ? cJSON_Parse(got) : NULL, *w = cJSON_Parse(want);
    CHECKF(w != NULL, "%s: the expected JSON does not parse", what);
    CHECKF(g && w && cJSON_Compare(g, w, 1), "%s:\n got  %s\n want %s", what, got ? got : "(null)", want);
    cJSON_Delete(g);
    cJSON_Delete(w);
    free(got);
}

static void test_chat_completion(void)
{
    api_top_logprob top[] = {{"Hi", -0.1}, {"Yo", -2.5}};
    api_token_logprob lp[] = {{"Hi", -0.1, top, 2, 0}};
    api_tool_call_out calls[] = {{"call_1", "get_weather", "{\"city\":\"Paris\"}"}};
    api_chat_choice ch[] = {
        {.index = 0, .content = "Hi", .finish_reason = "stop", .has_logprobs = 1, .logprobs = lp, .n_logprobs = 1},
        {.index = 1, .content = NULL, .reasoning_content = "think", .tool_calls = calls, .n_tool_calls = 1,
         .finish_reason = "tool_calls"},
    };
    api_usage u = {.prompt_tokens = 5, .completion_tokens = 3, .cached_tokens = 1, .reasoning_tokens = 2};
    same_json(api_chat_completion_json("chatcmpl-1", 123, "m", ch, 2, &u),
              "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":123,\"model\":\"m\","
              "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\",\"refusal\":null},"
              "\"logprobs\":{\"content\":[{\"token\":\"Hi\",\"logprob\":-0.1,\"bytes\":[72,105],\"top_logprobs\":["
              "{\"token\":\"Hi\",\"logprob\":-0.1,\"bytes\":[72,105]},{\"token\":\"Yo\",\"logprob\":-2.5,\"bytes\":[89,111]}]}],"
              "\"refusal\":null},\"finish_reason\":\"stop\"},"
              "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":null,\"refusal\":null,"
              "\"reasoning_content\":\"think\",\"reasoning\":\"think\",\"tool_calls\":[{\"id\":\"call_1\","
              "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
              "\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],"
              "\"usage\":" USAGE(5, 3, 8, 1, 2) "}",
              "chat.completion");
}

static void test_chat_chunks(void)
{
    api_chat_delta first = {.index = 0, .with_role = 1, .content = ""};
    same_json(api_chat_chunk_json("c", 1, "m", &first, 1, NULL, 1),
              "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":["
              "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
              "\"finish_reason\":null}],\"usage\":null}",
              "first chunk with include_usage");
    api_chat_delta word = {.index = 0, .content = "Hel"};
    same_json(api_chat_chunk_json("c", 1, "m", &word, 1, NULL, 0),
              "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":["
              "{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"logprobs\":null,\"finish_reason\":null}]}",
              "content chunk without include_usage has no usage key");
    api_usage running = {.prompt_tokens = 4, .completion_tokens = 1};
    same_json(api_chat_chunk_json("c", 1, "m", &word, 1, &running, 1),
              "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":["
              "{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"logprobs\":null,\"finish_reason\":null}],"
              "\"usage\":" USAGE(4, 1, 5, 0, 0) "}",
              "continuous usage chunk");
    api_tool_call_delta tc[] = {{.index = 0, .id = "call_9", .name = "f"}, {.index = 1, .arguments = "{\"a\""}};
    api_chat_delta tools = {.index = 0, .reasoning_content = "r", .tool_calls = tc, .n_tool_calls = 2};
    same_json(api_chat_chunk_json("c", 1, "m", &tools, 1, NULL, 0),
              "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":["
              "{\"index\":0,\"delta\":{\"reasoning_content\":\"r\",\"reasoning\":\"r\",\"tool_calls\":["
              "{\"index\":0,\"id\":\"call_9\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}},"
              "{\"index\":1,\"function\":{\"arguments\":\"{\\\"a\\\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}",
              "tool-call and reasoning deltas");
    api_chat_delta fin[] = {{.index = 0, .finish_reason = "length"}, {.index = 1, .finish_reason = "stop"}};
    same_json(api_chat_chunk_json("c", 1, "m", fin, 2, NULL, 0),
              "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":["
              "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"},"
              "{\"index\":1,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}",
              "finish chunk for n=2");
    api_usage u = {.prompt_tokens = 4, .completion_tokens = 6};
    same_json(api_chat_usage_chunk_json("c", 1, "m", &u),
              "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],"
              "\"usage\":" USAGE(4, 6, 10, 0, 0) "}",
              "usage chunk");
}

static void test_completions(void)
{
    api_top_logprob top[] = {{" a", -0.5}, {" b", -1}};
    api_token_logprob lp[] = {{" a", -0.5, top, 2, 0}, {"!", -3, NULL, 0, 0}};
    api_completion_choice ch = {.index = 0, .text = " a!", .finish_reason = "length", .has_logprobs = 1,
                                .logprobs = lp, .n_logprobs = 2, .text_offset = 5};
    api_usage u = {.prompt_tokens = 2, .completion_tokens = 2};
    same_json(api_text_completion_json("cmpl-1", 9, "m", &ch, 1, &u),
              "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":9,\"model\":\"m\",\"choices\":["
              "{\"index\":0,\"text\":\" a!\",\"logprobs\":{\"tokens\":[\" a\",\"!\"],\"token_logprobs\":[-0.5,-3],"
              "\"top_logprobs\":[{\" a\":-0.5,\" b\":-1},{}],\"text_offset\":[5,7]},\"finish_reason\":\"length\"}],"
              "\"usage\":" USAGE(2, 2, 4, 0, 0) "}",
              "text_completion");
    api_completion_choice piece = {.index = 0, .text = "x"};
    same_json(api_completion_chunk_json("cmpl-1", 9, "m", &piece, 1, NULL, 1),
              "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":9,\"model\":\"m\",\"choices\":["
              "{\"index\":0,\"text\":\"x\",\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
              "completion chunk");
    same_json(api_completion_usage_chunk_json("cmpl-1", 9, "m", &u),
              "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":9,\"model\":\"m\",\"choices\":[],"
              "\"usage\":" USAGE(2, 2, 4, 0, 0) "}",
              "completion usage chunk");
    /* An echoed prompt: its first token has null logprob and top_logprobs; prompt_logprobs is
     * written as given (vLLM's list). */
    api_token_logprob echoed[] = {{"Hi", 0, NULL, 0, 1}, {" a", -0.5, top, 1, 0}};
    api_completion_choice e = {
        .index = 0,
        .text = "Hi a",
        .finish_reason = "length",
        .has_logprobs = 1,
        .logprobs = echoed,
        .n_logprobs = 2,
        .prompt_logprobs_json =
            "[null,{\"7\":{\"logprob\":-0.5,\"rank\":1,\"decoded_token\":\" a\"}}]"};
    same_json(
        api_text_completion_json("cmpl-1", 9, "m", &e, 1, &u),
        "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":9,\"model\":\"m\","
        "\"choices\":["
        "{\"index\":0,\"text\":\"Hi a\",\"logprobs\":{\"tokens\":[\"Hi\",\" "
        "a\"],\"token_logprobs\":[null,-0.5],"
        "\"top_logprobs\":[null,{\" a\":-0.5}],\"text_offset\":[0,2]},\"finish_reason\":\"length\","
        "\"prompt_logprobs\":[null,{\"7\":{\"logprob\":-0.5,\"rank\":1,\"decoded_token\":\" "
        "a\"}}]}],"
        "\"usage\":" USAGE(2, 2, 4, 0, 0) "}",
        "echoed prompt logprobs");
}

static void test_models_errors_sse_ids(void)
{
    const char *ids[] = {"qwen3"};
    same_json(api_models_json(ids, 1, 42, "berth"),
              "{\"object\":\"list\",\"data\":[{\"id\":\"qwen3\",\"object\":\"model\",\"created\":42,"
              "\"owned_by\":\"berth\"}]}",
              "models");
    api_error e;
    api_error_set(&e, 400, NULL, "temperature", "invalid_value", "bad %s", "temperature");
    same_json(api_error_json(&e),
              "{\"error\":{\"message\":\"bad temperature\",\"type\":\"invalid_request_error\","
              "\"param\":\"temperature\",\"code\":\"invalid_value\"}}",
              "400 envelope");
    api_error_set(&e, 500, NULL, NULL, NULL, "boom");
    same_json(api_error_json(&e),
              "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"param\":null,\"code\":null}}",
              "500 envelope with nulls");
    api_error_set(&e, 400, NULL, "messages[0].role", NULL, "unknown role '%s'", "\xff\xfeok\xc3\xa9\xe2\x82");
    CHECKF(!strcmp(e.message, "unknown role '?" "?ok\xc3\xa9?" "?'"), "sanitized: %s", e.message);
    api_error_overloaded(&e, 3);
    CHECK(e.status == 429 && e.retry_after == 3 && !strcmp(e.type, "rate_limit_error"));
    CHECK(!strcmp(e.code, "server_overloaded"));
    api_error_set(&e, 401, NULL, NULL, NULL, "x");
    CHECK(!strcmp(e.type, "authentication_error"));

    char *ev = api_sse_data("{\"a\":1}");
    CHECK(ev && !strcmp(ev, "data: {\"a\":1}\n\n"));
    free(ev);
    CHECK(!strcmp(API_SSE_DONE, "data: [DONE]\n\n"));

    char a[64], b[64];
    api_make_id(a, sizeof a, "chatcmpl-");
    api_make_id(b, sizeof b, "chatcmpl-");
    CHECK(strlen(a) == 9 + 24 && !strncmp(a, "chatcmpl-", 9));
    CHECK(strcmp(a, b) != 0);
    char small[12];
    api_make_id(small, sizeof small, "call_");
    CHECK(strlen(small) < sizeof small && !strncmp(small, "call_", 5));
}

int main(void)
{
    test_chat_completion();
    test_chat_chunks();
    test_completions();
    test_models_errors_sse_ids();
    return test_finish("test_api_response");
}
