/* Parsing and validation of chat and completion requests: the values land in the structs, defaults
 * hold, and every error path answers 400 naming the right param. */
#include <math.h>
#include <string.h>

#include "server/api/api_request.h"
#include "tests/support/test_support.h"

#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static void expect_chat_error(const char *body, const char *param, const char *code)
{
    api_chat_request r;
    api_error e;
    int rc = api_parse_chat_request(body, strlen(body), &r, &e);
    CHECKF(rc == -1, "accepted: %s", body);
    if (rc == 0) {
        api_chat_request_free(&r);
        return;
    }
    CHECKF(e.status == 400, "status %d for %s", e.status, body);
    CHECKF(!strcmp(e.param, param), "param '%s' (want '%s') for %s: %s", e.param, param, body, e.message);
    CHECKF(!strcmp(e.type, "invalid_request_error"), "type %s", e.type);
    if (code) CHECKF(!strcmp(e.code, code), "code '%s' (want '%s') for %s", e.code, code, body);
    CHECKF(e.message[0] != 0, "empty message for %s", body);
}

static void expect_completion_error(const char *body, const char *param)
{
    api_completion_request r;
    api_error e;
    int rc = api_parse_completion_request(body, strlen(body), &r, &e);
    CHECKF(rc == -1, "accepted: %s", body);
    if (rc == 0) {
        api_completion_request_free(&r);
        return;
    }
    CHECKF(e.status == 400 && !strcmp(e.param, param), "param '%s' (want '%s') for %s", e.param, param,
           body);
}

static void test_full_chat_request(void)
{
    const char *body =
        "{\"model\":\"\",\"messages\":["
        "{\"role\":\"developer\",\"content\":\"sys\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
        "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"think\",\"tool_calls\":[{\"id\":\"c1\","
        "\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":{\"x\":1}}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"}],"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true,\"continuous_usage_stats\":true},"
        "\"max_tokens\":5,\"max_completion_tokens\":9,\"temperature\":0,\"top_p\":0.5,\"top_k\":40,"
        "\"min_p\":0.05,\"seed\":-3,\"n\":2,\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,"
        "\"repetition_penalty\":1.2,\"logit_bias\":{\"17\":-100,\"3\":2.5},\"stop\":[\"x\",\"yy\"],"
        "\"stop_token_ids\":[7,8],\"ignore_eos\":true,\"min_tokens\":2,\"logprobs\":true,\"top_logprobs\":3,"
        "\"skip_special_tokens\":false,\"include_stop_str_in_output\":true,"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get\"}}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get\"}},"
        "\"parallel_tool_calls\":false,"
        "\"chat_template_kwargs\":{\"enable_thinking\":false},\"response_format\":{\"type\":\"text\"},"
        "\"unknown_field\":[1]}";
    api_chat_request r;
    api_error e;
    int rc = api_parse_chat_request(body, strlen(body), &r, &e);
    CHECKF(rc == 0, "parse failed: %s (%s)", e.message, e.param);
    if (rc) return;
    CHECK(!strcmp(r.model, ""));
    CHECK(r.n_messages == 4);
    CHECK(r.messages[0].role == API_ROLE_SYSTEM && !strcmp(r.messages[0].content, "sys"));
    CHECK(!strcmp(r.messages[1].content, "a\nb"));
    CHECK(r.messages[2].role == API_ROLE_ASSISTANT && r.messages[2].content == NULL);
    CHECK(!strcmp(r.messages[2].reasoning_content, "think"));
    CHECK(r.messages[2].n_tool_calls == 1 && !strcmp(r.messages[2].tool_calls[0].name, "get"));
    CHECK(!strcmp(r.messages[2].tool_calls[0].arguments, "{\"x\":1}"));
    CHECK(!strcmp(r.messages[2].tool_calls[0].id, "c1"));
    CHECK(r.messages[3].role == API_ROLE_TOOL && !strcmp(r.messages[3].tool_call_id, "c1"));
    CHECK(r.stream.stream && r.stream.include_usage && r.stream.continuous_usage_stats);
    const api_sampling *s = &r.sampling;
    CHECK(s->max_tokens == 9);
    CHECK(s->has_temperature && s->temperature == 0);
    CHECK(s->has_top_p && s->top_p == 0.5 && s->has_top_k && s->top_k == 40);
    CHECK(s->has_min_p && fabs(s->min_p - 0.05) < 1e-12);
    CHECK(s->has_seed && s->seed == -3 && s->n == 2);
    CHECK(s->presence_penalty == 0.5 && s->frequency_penalty == -0.5 && s->repetition_penalty == 1.2);
    CHECK(s->n_logit_bias == 2 && s->logit_bias[0].token == 17 && s->logit_bias[0].bias == -100);
    CHECK(s->logit_bias[1].token == 3 && s->logit_bias[1].bias == 2.5f);
    CHECK(s->n_stop == 2 && !strcmp(s->stop[1], "yy"));
    CHECK(s->n_stop_token_ids == 2 && s->stop_token_ids[1] == 8);
    CHECK(s->ignore_eos && s->min_tokens == 2 && s->logprobs && s->top_logprobs == 3);
    CHECK(!s->skip_special_tokens && s->include_stop_str_in_output);
    CHECK(r.n_tools == 1 && strstr(r.tools_json, "\"get\""));
    CHECK(r.tool_choice == API_TOOL_CHOICE_NAMED && !strcmp(r.tool_choice_name, "get"));
    CHECK(!r.parallel_tool_calls);
    CHECK(!strcmp(r.chat_template_kwargs_json, "{\"enable_thinking\":false}"));
    api_chat_request_free(&r);
}

static void test_chat_defaults(void)
{
    const char *body = "{" MSG ",\"tools\":[],\"stop\":\"end\"}";
    api_chat_request r;
    api_error e;
    CHECK(api_parse_chat_request(body, strlen(body), &r, &e) == 0);
    CHECK(!strcmp(r.model, ""));
    CHECK(!r.sampling.has_temperature && !r.sampling.has_top_p && !r.sampling.has_seed);
    CHECK(r.sampling.n == 1 && r.sampling.max_tokens == -1 && r.sampling.skip_special_tokens);
    CHECK(!r.stream.stream && !r.sampling.logprobs);
    CHECK(r.n_tools == 0 && r.tools_json && !strcmp(r.tools_json, "[]"));
    CHECK(r.tool_choice == API_TOOL_CHOICE_NONE && r.chat_template_kwargs_json == NULL);
    CHECK(r.parallel_tool_calls);
    CHECK(r.sampling.n_stop == 1 && !strcmp(r.sampling.stop[0], "end"));
    api_chat_request_free(&r);
    /* nulls are "not given" */
    const char *nulls = "{" MSG ",\"temperature\":null,\"stream_options\":null,\"top_logprobs\":null,"
                        "\"max_tokens\":null,\"stop\":null,\"tools\":null}";
    CHECK(api_parse_chat_request(nulls, strlen(nulls), &r, &e) == 0);
    CHECK(!r.sampling.has_temperature && r.sampling.max_tokens == -1 && r.tools_json == NULL);
    api_chat_request_free(&r);
    /* max_tokens alone */
    const char *mt = "{" MSG ",\"max_tokens\":7}";
    CHECK(api_parse_chat_request(mt, strlen(mt), &r, &e) == 0 && r.sampling.max_tokens == 7);
    api_chat_request_free(&r);
}

static void test_chat_errors(void)
{
    expect_chat_error("", "", "invalid_json");
    expect_chat_error("{", "", "invalid_json");
    expect_chat_error("[]", "", "invalid_json");
    expect_chat_error("{}", "messages", NULL);
    expect_chat_error("{\"messages\":[]}", "messages", NULL);
    expect_chat_error("{\"messages\":{}}", "messages", "invalid_type");
    expect_chat_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"prompt_logprobs\":1,"
                      "\"stream\":true}",
                      "prompt_logprobs", NULL);
    expect_chat_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}",
                      "max_tokens", NULL);
    expect_chat_error("{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", "messages[0].role", NULL);
    expect_chat_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"user\"}]}",
                      "messages[1].content", NULL);
    expect_chat_error("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
                      "messages[0].content", NULL);
    expect_chat_error("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":1}]}]}",
                      "messages[0].content", NULL);
    expect_chat_error(
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{}}]}]}",
        "messages[0].tool_calls[0].function.name", NULL);
    /* malformed agent-loop messages name the field, down to the tool call */
    static const struct {
        const char *msgs, *param;
    } loop_cases[] = {
        {"{\"role\":\"tool\",\"content\":\"42\"}", "messages[1].tool_call_id"},
        {"{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":null}",
         "messages[1].tool_call_id"},
        {"{\"role\":\"tool\",\"tool_call_id\":\"c\"}", "messages[1].content"},
        {"{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":[{\"type\":\"image_url\"}]}",
         "messages[1].content"},
        {"{\"role\":\"assistant\",\"tool_calls\":{\"id\":\"c\"}}", "messages[1].tool_calls"},
        {"{\"role\":\"assistant\",\"tool_calls\":\"x\"}", "messages[1].tool_calls"},
        {"{\"role\":\"assistant\",\"tool_calls\":[1]}", "messages[1].tool_calls[0]"},
        {"{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\"}},"
         "{\"id\":\"b\",\"type\":\"function\"}]}",
         "messages[1].tool_calls[1].function"},
        {"{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"\"}}]}",
         "messages[1].tool_calls[0].function.name"},
        {"{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":7}}]}",
         "messages[1].tool_calls[0].function.name"},
        {"{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":[1]}}"
         "]}",
         "messages[1].tool_calls[0].function.arguments"},
        {"{\"role\":\"assistant\",\"tool_calls\":[{\"id\":5,\"function\":{\"name\":\"f\"}}]}",
         "messages[1].tool_calls[0].id"},
        {"{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[]}", "messages[1].tool_calls"},
        {"{\"role\":\"assistant\",\"content\":\"x\",\"reasoning\":[\"r\"]}",
         "messages[1].reasoning"},
        {"{\"role\":\"assistant\",\"content\":\"x\",\"name\":1}", "messages[1].name"},
    };
    for (size_t i = 0; i < sizeof loop_cases / sizeof loop_cases[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},%s]}",
                 loop_cases[i].msgs);
        expect_chat_error(body, loop_cases[i].param, NULL);
    }
    expect_chat_error("{\"messages\":[{\"role\":\"tool\",\"content\":\"x\",\"tool_call_id\":3}]}",
                      "messages[0].tool_call_id", NULL);
    expect_chat_error("{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"reasoning_content\":1}]}",
                      "messages[0].reasoning_content", NULL);
    const char *params[][2] = {
        {"\"model\":1", "model"},
        {"\"stream\":1", "stream"},
        {"\"stream_options\":{\"include_usage\":true}", "stream_options"},
        {"\"stream\":true,\"stream_options\":[]", "stream_options"},
        {"\"stream\":true,\"stream_options\":{\"continuous_usage_stats\":\"y\"}",
         "stream_options.continuous_usage_stats"},
        {"\"temperature\":-0.1", "temperature"},
        {"\"temperature\":2.01", "temperature"},
        {"\"top_p\":0", "top_p"},
        {"\"top_k\":-5", "top_k"},
        {"\"top_k\":2.5", "top_k"},
        {"\"min_p\":1.1", "min_p"},
        {"\"seed\":1.5", "seed"},
        {"\"seed\":1e30", "seed"},
        {"\"seed\":9223372036854775808", "seed"},
        {"\"n\":0", "n"},
        {"\"n\":200", "n"},
        {"\"presence_penalty\":2.1", "presence_penalty"},
        {"\"frequency_penalty\":\"a\"", "frequency_penalty"},
        {"\"repetition_penalty\":-1", "repetition_penalty"},
        {"\"max_tokens\":0", "max_tokens"},
        {"\"max_tokens\":1e12", "max_tokens"},
        {"\"max_completion_tokens\":\"5\"", "max_completion_tokens"},
        {"\"min_tokens\":-1", "min_tokens"},
        {"\"max_completion_tokens\":2,\"min_tokens\":3", "min_tokens"},
        {"\"stop\":{}", "stop"},
        {"\"stop\":[\"\"]", "stop"},
        {"\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\","
         "\"p\",\"q\",\"r\",\"s\",\"t\",\"u\",\"v\",\"w\",\"x\",\"y\",\"z\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\","
         "\"7\"]", "stop"},
        {"\"stop_token_ids\":[\"a\"]", "stop_token_ids"},
        {"\"stop_token_ids\":5", "stop_token_ids"},
        {"\"logit_bias\":[]", "logit_bias"},
        {"\"logit_bias\":{\"-1\":1}", "logit_bias"},
        {"\"logit_bias\":{\"1x\":1}", "logit_bias"},
        {"\"logit_bias\":{\"1\":-101}", "logit_bias"},
        {"\"logit_bias\":{\"1\":\"a\"}", "logit_bias"},
        {"\"logprobs\":\"true\"", "logprobs"},
        {"\"top_logprobs\":1", "top_logprobs"},
        {"\"logprobs\":false,\"top_logprobs\":0", "top_logprobs"},
        {"\"logprobs\":true,\"top_logprobs\":21", "top_logprobs"},
        {"\"ignore_eos\":0", "ignore_eos"},
        {"\"skip_special_tokens\":\"no\"", "skip_special_tokens"},
        {"\"include_stop_str_in_output\":1", "include_stop_str_in_output"},
        {"\"tools\":\"x\"", "tools"},
        {"\"tools\":[{\"type\":\"function\"}]", "tools[0]"},
        {"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},{\"type\":\"code\"}]", "tools[1]"},
        {"\"tool_choice\":\"maybe\"", "tool_choice"},
        {"\"tool_choice\":\"required\"", "tool_choice"},
        {"\"tool_choice\":5", "tool_choice"},
        {"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],"
         "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"b\"}}", "tool_choice"},
        {"\"chat_template_kwargs\":\"x\"", "chat_template_kwargs"},
        {"\"parallel_tool_calls\":\"no\"", "parallel_tool_calls"},
        {"\"response_format\":{\"type\":\"xml\"}", "response_format.type"},
        {"\"response_format\":\"json\"", "response_format"},
        /* asks for what berth cannot do: refused, not silently ignored */
        {"\"functions\":[{\"name\":\"f\"}]", "functions"},
        {"\"function_call\":\"auto\"", "function_call"},
        {"\"audio\":{\"voice\":\"alloy\"}", "audio"},
        {"\"web_search_options\":{}", "web_search_options"},
        {"\"modalities\":[\"text\",\"audio\"]", "modalities[1]"},
        {"\"modalities\":\"text\"", "modalities"},
    };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body, "{" MSG ",%s}", params[i][0]);
        expect_chat_error(body, params[i][1], NULL);
    }
    /* a NUL inside the body is not silently cut off */
    const char nul[] = "{" MSG "}\0{}";
    api_chat_request r;
    api_error e;
    CHECK(api_parse_chat_request(nul, sizeof nul - 1, &r, &e) == -1 && !strcmp(e.code, "invalid_json"));
}

static void test_completion_requests(void)
{
    api_completion_request r;
    api_error e;
    const char *text = "{\"prompt\":\"hello\",\"echo\":false,\"logprobs\":2,\"max_tokens\":3,\"stream\":true,"
                       "\"stream_options\":{\"include_usage\":true},\"suffix\":\"\",\"best_of\":1}";
    CHECK(api_parse_completion_request(text, strlen(text), &r, &e) == 0);
    CHECK(r.n_prompts == 1 && !strcmp(r.prompts[0].text, "hello") && !r.echo);
    CHECK(r.sampling.logprobs && r.sampling.top_logprobs == 2 && r.sampling.max_tokens == 3);
    CHECK(r.stream.stream && r.stream.include_usage);
    api_completion_request_free(&r);
    const char *ids = "{\"prompt\":[1,2,3]}";
    CHECK(api_parse_completion_request(ids, strlen(ids), &r, &e) == 0);
    CHECK(r.n_prompts == 1 && !r.prompts[0].text && r.prompts[0].n_ids == 3 && r.prompts[0].ids[2] == 3);
    api_completion_request_free(&r);
    const char *many = "{\"prompt\":[[1],[2,3],\"x\"]}";
    CHECK(api_parse_completion_request(many, strlen(many), &r, &e) == 0);
    CHECK(r.n_prompts == 3 && r.prompts[1].n_ids == 2 && !strcmp(r.prompts[2].text, "x"));
    api_completion_request_free(&r);
    const char *echo = "{\"prompt\":\"x\",\"echo\":true}";
    CHECK(api_parse_completion_request(echo, strlen(echo), &r, &e) == 0 && r.echo);
    api_completion_request_free(&r);
    const char *no_lp = "{\"prompt\":\"x\",\"logprobs\":0}";
    CHECK(api_parse_completion_request(no_lp, strlen(no_lp), &r, &e) == 0);
    CHECK(r.sampling.logprobs && r.sampling.top_logprobs == 0);
    api_completion_request_free(&r);
    /* lm-evaluation-harness's loglikelihood: the prompt echoed with its logprobs, nothing generated
     */
    const char *lm_eval = "{\"prompt\":[[1,2]],\"echo\":true,\"logprobs\":1,\"max_tokens\":0}";
    CHECK(api_parse_completion_request(lm_eval, strlen(lm_eval), &r, &e) == 0);
    CHECK(r.echo && r.sampling.logprobs && r.sampling.top_logprobs == 1 &&
          r.sampling.max_tokens == 0 && r.sampling.prompt_logprobs == -1);
    api_completion_request_free(&r);
    const char *plp = "{\"prompt\":\"x\",\"prompt_logprobs\":3}";
    CHECK(api_parse_completion_request(plp, strlen(plp), &r, &e) == 0);
    CHECK(r.sampling.prompt_logprobs == 3 && !r.sampling.logprobs);
    api_completion_request_free(&r);

    expect_completion_error("{}", "prompt");
    expect_completion_error("{\"prompt\":[]}", "prompt");
    expect_completion_error("{\"prompt\":{}}", "prompt");
    expect_completion_error("{\"prompt\":[[1],[]]}", "prompt");
    expect_completion_error("{\"prompt\":[1,2.5]}", "prompt");
    expect_completion_error("{\"prompt\":[true]}", "prompt");
    expect_completion_error("{\"prompt\":\"x\",\"suffix\":\"y\"}", "suffix");
    expect_completion_error("{\"prompt\":\"x\",\"best_of\":2}", "best_of");
    expect_completion_error("{\"prompt\":\"x\",\"logprobs\":true}", "logprobs");
    expect_completion_error("{\"prompt\":\"x\",\"logprobs\":21}", "logprobs");
    expect_completion_error("{\"prompt\":\"x\",\"echo\":\"y\"}", "echo");
    expect_completion_error("{\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens");
    expect_completion_error("{\"prompt\":\"x\",\"echo\":true,\"max_tokens\":-1}", "max_tokens");
    expect_completion_error("{\"prompt\":\"x\",\"prompt_logprobs\":21}", "prompt_logprobs");
    expect_completion_error("{\"prompt\":\"x\",\"prompt_logprobs\":-1}", "prompt_logprobs");
    expect_completion_error("{\"prompt\":\"x\",\"prompt_logprobs\":true}", "prompt_logprobs");
    expect_completion_error("{\"prompt\":\"x\",\"prompt_logprobs\":1,\"stream\":true}",
                            "prompt_logprobs");
    expect_completion_error("{\"prompt\":\"x\",\"stream_options\":{}}", "stream_options");
}

static void test_detect_kind_and_context(void)
{
    api_error e;
    CHECK(api_detect_kind("{\"messages\":[]}", 15, &e) == API_KIND_CHAT);
    CHECK(api_detect_kind("{\"prompt\":\"x\"}", 14, &e) == API_KIND_COMPLETION);
    CHECK(api_detect_kind("{\"input\":1}", 11, &e) == API_KIND_INVALID && e.status == 400);
    CHECK(api_detect_kind("nope", 4, &e) == API_KIND_INVALID && !strcmp(e.code, "invalid_json"));

    CHECK(api_check_context(10, 20, 30, "messages", &e) == 0);
    CHECK(api_check_context(10, 21, 30, "messages", &e) == -1);
    CHECK(!strcmp(e.code, "context_length_exceeded") && !strcmp(e.param, "messages") && e.status == 400);
    CHECK(strstr(e.message, "30") != NULL);
    CHECK(api_check_context(29, -1, 30, "prompt", &e) == 0);
    CHECK(api_check_context(30, -1, 30, "prompt", &e) == -1 && !strcmp(e.param, "prompt"));
}

int main(void)
{
    test_full_chat_request();
    test_chat_defaults();
    test_chat_errors();
    test_completion_requests();
    test_detect_kind_and_context();
    return test_finish("test_api_request");
}
