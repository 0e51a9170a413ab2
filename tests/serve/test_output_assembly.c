/* From tokens to OpenAI JSON around the output parser, with the real Qwen3 tokenizer and template:
 * <think>, </think>, <tool_call> survive skip_special_tokens; the think mode follows
 * enable_thinking; a tokenized Qwen3 answer streamed token by token through text_output and the
 * parser becomes chunks shaped as PROTOCOL.md §4 says, and the same answer becomes one
 * chat.completion message. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "models/chat_template/chat_template.h"
#include "models/tokenizer/tokenizer.h"
#include "server/serve/output_parser.h"
#include "server/serve/text_output.h"
#include "tests/support/test_support.h"

static const char *ANSWER =
    "<think>\nThe user asks for the weather in Zürich.\n</think>\n\nLet me check.\n<tool_call>\n"
    "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\", \"note\": "
    "\"</tool_call>\"}}\n"
    "</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": "
    "{}}\n</tool_call><|im_end|>";

static void test_tags_survive_skip_special(const tok_tokenizer *t)
{
    static const char *const tags[] = {"<think>", "</think>", "<tool_call>", "</tool_call>"};
    for (size_t i = 0; i < 4; i++) {
        int32_t id = tok_token_id(t, tags[i]);
        CHECKF(id > 0 && !tok_is_special(t, id), "%s: id %d must be an added, non-special token",
               tags[i], id);
        char *text = NULL, err[128];
        size_t len;
        CHECK(tok_decode(t, &id, 1, true, &text, &len, err, sizeof err) == 0);
        CHECKF(text && strcmp(text, tags[i]) == 0, "%s decodes with skip_special_tokens to [%s]",
               tags[i], text ? text : "");
        free(text);
    }
    int32_t im_end = tok_token_id(t, "<|im_end|>");
    CHECK(im_end > 0 && tok_is_special(t, im_end));
}

static void test_think_mode_from_template(const tok_tokenizer *t)
{
    const char *src = tok_chat_template(t);
    CHECK(src != NULL);
    ct_template *tmpl = NULL;
    char err[256];
    CHECKF(ct_parse(&tmpl, src, strlen(src), err, sizeof err) == 0, "template: %s", err);
    if (!tmpl) return;
    const char *vars_json[] = {
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"add_generation_prompt\": "
        "true}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"add_generation_prompt\": "
        "true, "
        "\"enable_thinking\": false}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", "
        "\"content\": "
        "\"<think>\\nr\\n</think>\\n\\nyes\"}, {\"role\": \"user\", \"content\": \"and?\"}], "
        "\"add_generation_prompt\": true}",
    };
    const op_think_mode want[] = {OP_THINK_OPTIONAL, OP_THINK_OFF, OP_THINK_OPTIONAL};
    for (size_t i = 0; i < 3; i++) {
        cJSON *vars = cJSON_Parse(vars_json[i]);
        char *prompt = NULL;
        size_t len;
        CHECKF(ct_render(tmpl, vars, &prompt, &len, err, sizeof err) == 0, "render %zu: %s", i,
               err);
        CHECKF(op_think_mode_for(src, prompt) == want[i], "prompt %zu: mode %d, expected %d", i,
               (int)op_think_mode_for(src, prompt), (int)want[i]);
        free(prompt);
        cJSON_Delete(vars);
    }
    ct_free(tmpl);
}

typedef struct streamed {
    char reasoning[512], content[512], args[2][256], names[2][64], ids[2][64];
    int n_starts;
    bool shape_ok;
} streamed;

/* Checks one chunk's delta as a client sees it and accumulates it as Strands and LangChain do. */
static void read_chunk(const char *json, streamed *s)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *delta =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0), "delta");
    const cJSON *r = cJSON_GetObjectItem(delta, "reasoning_content"),
                *r2 = cJSON_GetObjectItem(delta, "reasoning");
    if (r) {
        s->shape_ok &= cJSON_IsString(r2) && strcmp(r->valuestring, r2->valuestring) == 0;
        strcat(s->reasoning, r->valuestring);
    }
    const cJSON *c = cJSON_GetObjectItem(delta, "content");
    if (cJSON_IsString(c)) strcat(s->content, c->valuestring);
    const cJSON *tcs = cJSON_GetObjectItem(delta, "tool_calls");
    for (const cJSON *tc = tcs ? tcs->child : NULL; tc; tc = tc->next) {
        const cJSON *index = cJSON_GetObjectItem(tc, "index"), *id = cJSON_GetObjectItem(tc, "id");
        const cJSON *fn = cJSON_GetObjectItem(tc, "function");
        const cJSON *args = cJSON_GetObjectItem(fn, "arguments");
        s->shape_ok &= cJSON_IsNumber(index) && index->valueint >= 0 && index->valueint < 2;
        if (!cJSON_IsNumber(index) || index->valueint < 0 || index->valueint > 1) continue;
        int k = index->valueint;
        if (id) {
            /* A call's first delta: index, id, type, name and empty arguments, in order of index.
             */
            const cJSON *type = cJSON_GetObjectItem(tc, "type"),
                        *name = cJSON_GetObjectItem(fn, "name");
            s->shape_ok &= k == s->n_starts && cJSON_IsString(type) &&
                           strcmp(type->valuestring, "function") == 0 && cJSON_IsString(name) &&
                           cJSON_IsString(args) && args->valuestring[0] == 0;
            s->n_starts++;
            snprintf(s->ids[k], sizeof s->ids[k], "%s", id->valuestring);
            if (cJSON_IsString(name))
                snprintf(s->names[k], sizeof s->names[k], "%s", name->valuestring);
        } else {
            s->shape_ok &=
                k < s->n_starts && cJSON_IsString(args) && !cJSON_GetObjectItem(fn, "name");
            if (cJSON_IsString(args)) strcat(s->args[k], args->valuestring);
        }
    }
    cJSON_Delete(root);
}

static void test_stream_and_message(const tok_tokenizer *t)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char err[128];
    CHECK(tok_encode(t, ANSWER, strlen(ANSWER), &ids, &n, err, sizeof err) == 0 && n > 10);
    CHECK(ids && ids[0] == tok_token_id(t, "<think>"));
    text_output out;
    CHECK(text_output_init(&out, t, true, NULL, 0, false) == 0);
    op_parser p;
    op_init(&p, OP_THINK_OPTIONAL, true);
    streamed s = {.shape_ok = true};
    int chunks = 0;
    for (size_t i = 0; i <= n; i++) {
        char *piece = NULL;
        size_t piece_len = 0;
        CHECK((i < n ? text_output_push(&out, ids[i], &piece, &piece_len)
                     : text_output_finish(&out, &piece, &piece_len)) == 0);
        const op_event *ev;
        size_t n_ev;
        CHECK(op_feed(&p, piece, piece_len, &ev, &n_ev) == 0);
        free(piece);
        if (i == n) {
            CHECK(op_finish(&p, &ev, &n_ev) == 0);
        }
        for (size_t k = 0; k < n_ev; k++) {
            api_chat_delta d = {.index = 0, .with_role = chunks == 0};
            api_tool_call_delta tc;
            op_event_delta(&ev[k], &d, &tc);
            char *json = api_chat_chunk_json("chatcmpl-x", 1, "m", &d, 1, NULL, 0);
            read_chunk(json, &s);
            free(json);
            chunks++;
        }
    }
    free(ids);
    text_output_free(&out);
    CHECK(s.shape_ok);
    CHECKF(strcmp(s.reasoning, "\nThe user asks for the weather in Zürich.\n") == 0,
           "reasoning [%s]", s.reasoning);
    CHECKF(strcmp(s.content, "Let me check.\n") == 0, "content [%s]", s.content);
    CHECK(s.n_starts == 2);
    CHECK(strcmp(s.names[0], "get_weather") == 0 && strcmp(s.names[1], "get_time") == 0);
    CHECKF(strcmp(s.args[0], "{\"city\": \"Zürich\", \"note\": \"</tool_call>\"}") == 0,
           "args [%s]", s.args[0]);
    CHECK(strcmp(s.args[1], "{}") == 0);
    CHECK(strncmp(s.ids[0], "call_", 5) == 0 && strcmp(s.ids[0], s.ids[1]) != 0);
    CHECK(strcmp(op_finish_reason(&p, "stop"), "tool_calls") == 0);

    /* The same parse as a non-streaming message. */
    api_chat_choice choice = {.index = 0};
    api_tool_call_out calls[2];
    CHECK(p.n_calls == 2);
    op_message(&p, &choice, calls);
    choice.finish_reason = op_finish_reason(&p, "stop");
    api_usage u = {.prompt_tokens = 1, .completion_tokens = (int64_t)n};
    char *json = api_chat_completion_json("chatcmpl-x", 1, "m", &choice, 1, &u);
    cJSON *root = cJSON_Parse(json);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    const cJSON *msg = cJSON_GetObjectItem(c0, "message");
    CHECK(strcmp(cJSON_GetObjectItem(c0, "finish_reason")->valuestring, "tool_calls") == 0);
    CHECK(strcmp(cJSON_GetObjectItem(msg, "content")->valuestring, "Let me check.\n") == 0);
    CHECK(strcmp(cJSON_GetObjectItem(msg, "reasoning_content")->valuestring, s.reasoning) == 0);
    const cJSON *tcs = cJSON_GetObjectItem(msg, "tool_calls");
    CHECK(cJSON_GetArraySize(tcs) == 2);
    const cJSON *fn = cJSON_GetObjectItem(cJSON_GetArrayItem(tcs, 0), "function");
    CHECK(strcmp(cJSON_GetObjectItem(fn, "arguments")->valuestring, s.args[0]) == 0);
    CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(tcs, 0), "id")->valuestring, s.ids[0]) ==
          0);
    cJSON_Delete(root);
    free(json);
    op_free(&p);
}

static void test_message_without_calls(void)
{
    op_parser p;
    op_init(&p, OP_THINK_OPTIONAL, true);
    const op_event *ev;
    size_t n;
    CHECK(op_feed(&p, "Just text.", 10, &ev, &n) == 0 && op_finish(&p, &ev, &n) == 0);
    api_chat_choice c = {.index = 0};
    op_message(&p, &c, NULL);
    CHECK(c.content && strcmp(c.content, "Just text.") == 0);
    CHECK(c.reasoning_content == NULL && c.n_tool_calls == 0 && c.tool_calls == NULL);
    CHECK(strcmp(op_finish_reason(&p, "length"), "length") == 0);
    op_free(&p);
    /* Nothing generated at all: content "", never null. */
    op_init(&p, OP_THINK_OFF, true);
    CHECK(op_finish(&p, &ev, &n) == 0 && n == 0);
    op_message(&p, &c, NULL);
    CHECK(c.content && c.content[0] == 0);
    op_free(&p);
}

int main(void)
{
    char dir[1024], err[256];
    test_shared_path("data/qwen3-tokenizer", dir, sizeof dir);
    tok_tokenizer *t = NULL;
    CHECKF(tok_load_dir(&t, dir, err, sizeof err) == 0, "load %s: %s", dir, err);
    if (t) {
        test_tags_survive_skip_special(t);
        test_think_mode_from_template(t);
        test_stream_and_message(t);
        tok_free(t);
    }
    test_message_without_calls();
    return test_finish("output_assembly");
}
