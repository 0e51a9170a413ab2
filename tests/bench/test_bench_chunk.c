/* Which streamed chunks carry a generated token (what TTFT and ITL are measured on), where the token
 * counts come from, and how errors and garbage are reported. */
#include <string.h>

#include "tests/support/test_support.h"
#include "tools/bench/bench_chunk.h"

static bench_chunk parse(const char *s)
{
    bench_chunk c;
    bench_chunk_parse(s, strlen(s), &c);
    return c;
}

static void test_completion_chunks(void)
{
    bench_chunk c = parse("{\"choices\":[{\"index\":0,\"text\":\" Hi\",\"finish_reason\":null}],"
                          "\"usage\":null}");
    CHECK(c.token && !c.usage && !c.error && !c.done);
    /* An empty text is still a token's chunk: berth sends its first chunk at the first token
     * even when that token's text is held back (half of a UTF-8 character). */
    c = parse("{\"choices\":[{\"index\":0,\"text\":\"\"}],\"usage\":null}");
    CHECK(c.token && !c.error);
    c = parse("{\"choices\":[{\"index\":0,\"text\":\"end\",\"finish_reason\":\"stop\"}]}");
    CHECK(c.token);
    c = parse("{\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"length\"}]}");
    CHECK(!c.token);
    c = parse("{\"choices\":[{\"index\":0,\"text\":null}]}");
    CHECK(!c.token && !c.error);
}

static void test_chat_chunks(void)
{
    bench_chunk c = parse("{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"x\"}}]}");
    CHECK(c.token);
    c = parse("{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}");
    CHECK(c.token);
    /* A role announced before any token is not a token. */
    c = parse("{\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}");
    CHECK(!c.token);
    c = parse("{\"choices\":[{\"delta\":{\"content\":null}}]}");
    CHECK(!c.token);
    c = parse("{\"choices\":[{\"delta\":{\"content\":\"\"},\"finish_reason\":\"length\"}]}");
    CHECK(!c.token);
    c = parse("{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}");
    CHECK(!c.token && !c.error);
    c = parse("{\"choices\":[{\"delta\":{\"reasoning_content\":\"think\"}}]}");
    CHECK(c.token);
    /* A delta without content does not fall back to a stray "text" field. */
    c = parse("{\"choices\":[{\"delta\":{},\"text\":\"x\"}]}");
    CHECK(!c.token);
}

static void test_usage(void)
{
    bench_chunk c = parse("{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":"
                          "34,\"total_tokens\":46}}");
    CHECK(c.usage && !c.token && !c.error);
    CHECK(c.prompt_tokens == 12 && c.completion_tokens == 34);
    c = parse("{\"choices\":[],\"usage\":{\"prompt_tokens\":12}}");
    CHECK(!c.usage);
    c = parse("{\"choices\":[],\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":3}}");
    CHECK(!c.usage);
    c = parse("{\"choices\":[],\"usage\":{\"prompt_tokens\":\"1\",\"completion_tokens\":3}}");
    CHECK(!c.usage);
    /* Per-chunk usage (continuous_usage_stats) rides along with content. */
    c = parse("{\"choices\":[{\"text\":\"a\"}],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1}}");
    CHECK(c.token && c.usage && c.completion_tokens == 1);
}

static void test_done_and_errors(void)
{
    CHECK(parse("[DONE]").done);
    CHECK(!parse("[DONE]").error);
    bench_chunk c = parse("{\"error\":{\"message\":\"KV cache exhausted\",\"type\":\"x\"}}");
    CHECK(c.error);
    CHECKF(strstr(c.message, "KV cache exhausted") != NULL, "message: %s", c.message);
    c = parse("{\"error\":\"plain\"}");
    CHECK(c.error && strstr(c.message, "plain") != NULL);
    c = parse("{\"error\":null,\"choices\":[{\"text\":\"a\"}]}");
    CHECK(!c.error && c.token);
    c = parse("not json at all");
    CHECK(c.error);
    CHECKF(strstr(c.message, "not a JSON object: not json at all") != NULL, "message: %s", c.message);
    CHECK(parse("[1,2]").error);
    CHECK(parse("").error);
    CHECK(parse("[DONE] ").error);
    /* A long garbage chunk is cut in the message, not overflowed. */
    char big[2000];
    memset(big, 'g', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    c = parse(big);
    CHECK(c.error && strlen(c.message) < sizeof c.message);
}

int main(void)
{
    test_completion_chunks();
    test_chat_chunks();
    test_usage();
    test_done_and_errors();
    return test_finish("bench_chunk");
}
