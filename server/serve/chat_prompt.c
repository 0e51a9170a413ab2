#include "server/serve/chat_prompt.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static cJSON *string_or_null(const char *s)
{
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *tool_call_json(const api_tool_call *tc)
{
    cJSON *call = cJSON_CreateObject(), *fn = cJSON_CreateObject();
    if (tc->id) cJSON_AddStringToObject(call, "id", tc->id);
    cJSON_AddStringToObject(call, "type", "function");
    cJSON_AddStringToObject(fn, "name", tc->name ? tc->name : "");
    cJSON *args = tc->arguments ? cJSON_Parse(tc->arguments) : NULL;
    if (cJSON_IsObject(args)) {
        cJSON_AddItemToObject(fn, "arguments", args);
    } else {
        cJSON_Delete(args);
        cJSON_AddStringToObject(fn, "arguments", tc->arguments ? tc->arguments : "");
    }
    cJSON_AddItemToObject(call, "function", fn);
    return call;
}

/* As transformers' _alias_reasoning_fields: reasoning is offered as "thinking" (first) and as
 * "reasoning_content" (last), whichever name a template reads. */
static cJSON *message_json(const api_message *m)
{
    cJSON *o = cJSON_CreateObject();
    if (m->reasoning_content) cJSON_AddStringToObject(o, "thinking", m->reasoning_content);
    cJSON_AddStringToObject(o, "role", api_role_name(m->role));
    cJSON_AddItemToObject(o, "content", string_or_null(m->content));
    if (m->name) cJSON_AddStringToObject(o, "name", m->name);
    if (m->tool_call_id) cJSON_AddStringToObject(o, "tool_call_id", m->tool_call_id);
    if (m->n_tool_calls) {
        cJSON *calls = cJSON_AddArrayToObject(o, "tool_calls");
        for (size_t i = 0; i < m->n_tool_calls; i++)
            cJSON_AddItemToArray(calls, tool_call_json(&m->tool_calls[i]));
    }
    if (m->reasoning_content) cJSON_AddStringToObject(o, "reasoning_content", m->reasoning_content);
    return o;
}

int chat_prompt_render(const serve_ctx *s, const api_chat_request *req, char **prompt, api_error *e)
{
    *prompt = NULL;
    if (!s->tmpl) {
        api_error_set(e, 400, NULL, "messages", NULL,
                      "this model has no chat template (tokenizer_config.json chat_template or "
                      "chat_template.jinja); use /v1/completions");
        return -1;
    }
    /* The variables in apply_chat_template's order: special tokens, the request's kwargs over them,
     * then messages, tools (None without tools), documents and add_generation_prompt over both. */
    cJSON *vars = cJSON_CreateObject();
    const char *bos = tok_bos_token(s->tok), *eos = tok_eos_token(s->tok);
    if (bos) cJSON_AddStringToObject(vars, "bos_token", bos);
    if (eos) cJSON_AddStringToObject(vars, "eos_token", eos);
    if (req->chat_template_kwargs_json) {
        cJSON *kw = cJSON_Parse(req->chat_template_kwargs_json);
        if (!cJSON_IsObject(kw)) {
            cJSON_Delete(kw);
            cJSON_Delete(vars);
            api_error_set(e, 400, NULL, "chat_template_kwargs", NULL,
                          "chat_template_kwargs must be an object");
            return -1;
        }
        for (cJSON *it = kw->child; it; it = it->next) {
            cJSON_DeleteItemFromObjectCaseSensitive(vars, it->string);
            cJSON_AddItemToObject(vars, it->string, cJSON_Duplicate(it, 1));
        }
        cJSON_Delete(kw);
    }
    const char *fixed[] = {"messages", "tools", "documents", "add_generation_prompt"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(vars, fixed[i]);
    cJSON *msgs = cJSON_AddArrayToObject(vars, "messages");
    for (size_t i = 0; i < req->n_messages; i++) cJSON_AddItemToArray(msgs, message_json(&req->messages[i]));
    cJSON *tools = req->tools_json ? cJSON_Parse(req->tools_json) : NULL;
    if (tools && cJSON_GetArraySize(tools) > 0) {
        cJSON_AddItemToObject(vars, "tools", tools);
    } else {
        cJSON_Delete(tools);
        cJSON_AddNullToObject(vars, "tools");
    }
    cJSON_AddNullToObject(vars, "documents");
    cJSON_AddBoolToObject(vars, "add_generation_prompt", 1);
    char err[512] = "";
    size_t len;
    int rc = ct_render(s->tmpl, vars, prompt, &len, err, sizeof err);
    cJSON_Delete(vars);
    if (rc != 0) {
        api_error_set(e, 400, NULL, "messages", NULL, "chat template: %s", err);
        return -1;
    }
    return 0;
}
