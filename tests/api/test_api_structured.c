/* The structured-output fields of chat and completion requests: every way of asking
 * (response_format json_object / json_schema, structured_outputs, guided_*) lands in one
 * api_structured with the field it came from; malformed ones and two at once are 400s naming the
 * field; tool_choice's parallel_tool_calls defaults to true. */
#include <string.h>

#include "server/api/api_request.h"
#include "tests/support/test_support.h"

#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static void ok(const char *fields, api_so_kind kind, const char *text, const char *param)
{
    char body[1024];
    snprintf(body, sizeof body, "{" MSG ",%s}", fields);
    api_chat_request r;
    api_error e;
    int rc = api_parse_chat_request(body, strlen(body), &r, &e);
    CHECKF(rc == 0, "rejected %s: %s", body, rc ? e.message : "");
    if (rc) return;
    CHECKF(r.structured.kind == kind, "kind %d, want %d: %s", r.structured.kind, kind, body);
    if (text)
        CHECKF(r.structured.text && !strcmp(r.structured.text, text), "text '%s', want '%s'",
               r.structured.text ? r.structured.text : "(null)", text);
    if (param)
        CHECKF(r.structured.param && !strcmp(r.structured.param, param), "param '%s', want '%s'",
               r.structured.param ? r.structured.param : "(null)", param);
    api_chat_request_free(&r);
}

static void err(const char *fields, const char *param)
{
    char body[1024];
    snprintf(body, sizeof body, "{" MSG ",%s}", fields);
    api_chat_request r;
    api_error e;
    int rc = api_parse_chat_request(body, strlen(body), &r, &e);
    CHECKF(rc == -1, "accepted: %s", body);
    if (rc == 0) {
        api_chat_request_free(&r);
        return;
    }
    CHECKF(e.status == 400 && !strcmp(e.param, param), "status %d param '%s' (want '%s'): %s",
           e.status, e.param, param, e.message);
}

int main(void)
{
    ok("\"response_format\":{\"type\":\"text\"}", API_SO_NONE, NULL, NULL);
    ok("\"response_format\":{\"type\":\"json_object\"}", API_SO_JSON_OBJECT, NULL,
       "response_format");
    ok("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"strict\":"
       "true,\"schema\":{\"type\": \"object\"}}}",
       API_SO_JSON_SCHEMA, "{\"type\":\"object\"}", "response_format.json_schema.schema");
    ok("\"structured_outputs\":{\"regex\":\"[a-z]+\"}", API_SO_REGEX, "[a-z]+",
       "structured_outputs.regex");
    ok("\"structured_outputs\":{\"grammar\":\"root ::= \\\"a\\\"\"}", API_SO_GRAMMAR,
       "root ::= \"a\"", "structured_outputs.grammar");
    ok("\"structured_outputs\":{\"json\":\"{\\\"type\\\":\\\"integer\\\"}\"}", API_SO_JSON_SCHEMA,
       "{\"type\":\"integer\"}", "structured_outputs.json");
    ok("\"structured_outputs\":{\"json_object\":true}", API_SO_JSON_OBJECT, NULL,
       "structured_outputs.json_object");
    ok("\"guided_json\":{\"enum\":[1,2]}", API_SO_JSON_SCHEMA, "{\"enum\":[1,2]}", "guided_json");
    ok("\"guided_regex\":\"a|b\"", API_SO_REGEX, "a|b", "guided_regex");
    ok("\"guided_grammar\":\"root ::= [0-9]\"", API_SO_GRAMMAR, "root ::= [0-9]", "guided_grammar");
    ok("\"guided_choice\":[\"yes\",\"no\"]", API_SO_CHOICE, NULL, "guided_choice");
    ok("\"guided_json\":null", API_SO_NONE, NULL, NULL);

    api_chat_request r;
    api_error e;
    const char *choice = "{" MSG ",\"structured_outputs\":{\"choice\":[\"a\",\"b c\"]},"
                         "\"parallel_tool_calls\":false}";
    CHECK(api_parse_chat_request(choice, strlen(choice), &r, &e) == 0);
    CHECK(r.structured.kind == API_SO_CHOICE && r.structured.n_choices == 2 &&
          !strcmp(r.structured.choices[1], "b c") && !r.parallel_tool_calls);
    api_chat_request_free(&r);
    const char *plain = "{" MSG "}";
    CHECK(api_parse_chat_request(plain, strlen(plain), &r, &e) == 0);
    CHECK(r.parallel_tool_calls && r.structured.kind == API_SO_NONE);
    api_chat_request_free(&r);
    api_completion_request c;
    const char *comp = "{\"prompt\":\"x\",\"guided_regex\":\"[0-9]{3}\"}";
    CHECK(api_parse_completion_request(comp, strlen(comp), &c, &e) == 0);
    CHECK(c.structured.kind == API_SO_REGEX && !strcmp(c.structured.text, "[0-9]{3}"));
    api_completion_request_free(&c);

    err("\"response_format\":{\"type\":\"yaml\"}", "response_format.type");
    err("\"response_format\":{\"type\":\"json_schema\"}", "response_format.json_schema");
    err("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}",
        "response_format.json_schema.schema");
    err("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":3}}",
        "response_format.json_schema.schema");
    err("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{},"
        "\"strict\":\"yes\"}}",
        "response_format.json_schema.strict");
    err("\"structured_outputs\":[1]", "structured_outputs");
    err("\"structured_outputs\":{\"regex\":5}", "structured_outputs.regex");
    err("\"structured_outputs\":{\"choice\":[]}", "structured_outputs.choice");
    err("\"guided_choice\":[\"a\",1]", "guided_choice");
    err("\"guided_json\":\"{not json\"", "guided_json");
    err("\"guided_regex\":\"\"", "guided_regex");
    err("\"response_format\":{\"type\":\"json_object\"},\"guided_regex\":\"a\"", "guided_regex");
    err("\"structured_outputs\":{\"regex\":\"a\",\"choice\":[\"b\"]}", "structured_outputs.choice");
    err("\"parallel_tool_calls\":1", "parallel_tool_calls");
    return test_finish("test_api_structured");
}
