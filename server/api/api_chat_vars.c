/* Message normalisation follows vLLM's chat_utils.py (_parse_chat_message_content with the "string"
 * content format, then _postprocess_messages) and transformers' _alias_reasoning_fields. Two
 * deliberate differences, both documented in docs/api.md: "developer" reaches the template as
 * "system" (templates know no developer role), and tool-call arguments that are not a JSON object
 * stay the string the client sent (vLLM replaces invalid JSON with {}, losing what the model said).
 */
#include "server/api/api_chat_vars.h"

#include <stdbool.h>
#include <string.h>

static bool add_string(cJSON *o, const char *key, const char *value)
{
    return cJSON_AddStringToObject(o, key, value) != NULL;
}

/* {"id", "type": "function", "function": {"name", "arguments"}}; arguments as an object when the
 * client's JSON text is one (templates index into it or print it with tojson). */
static cJSON *tool_call_json(const api_tool_call *tc)
{
    cJSON *call = cJSON_CreateObject(), *fn = cJSON_CreateObject();
    if (!call || !fn) goto fail;
    if (tc->id && !add_string(call, "id", tc->id)) goto fail;
    if (!add_string(call, "type", "function") || !add_string(fn, "name", tc->name)) goto fail;
    cJSON *args = cJSON_ParseWithOpts(tc->arguments, NULL, 1);
    if (cJSON_IsObject(args)) {
        cJSON_AddItemToObject(fn, "arguments", args);
    } else {
        cJSON_Delete(args);
        if (!add_string(fn, "arguments", tc->arguments)) goto fail;
    }
    cJSON_AddItemToObject(call, "function", fn);
    return call;
fail:
    cJSON_Delete(call);
    cJSON_Delete(fn);
    return NULL;
}

/* vLLM's conversation message (role, content, tool_calls, reasoning, reasoning_content,
 * tool_call_id, name) with transformers' "thinking" alias in front. */
static cJSON *message_json(const api_message *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const char *r = m->reasoning_content;
    if (r && !add_string(o, "thinking", r)) goto fail;
    if (!add_string(o, "role", api_role_name(m->role)) ||
        !add_string(o, "content", m->content ? m->content : ""))
        goto fail;
    if (m->n_tool_calls) { /* an empty list is dropped, as vLLM does, so templates take the plain
                              path */
        cJSON *calls = cJSON_AddArrayToObject(o, "tool_calls");
        if (!calls) goto fail;
        for (size_t i = 0; i < m->n_tool_calls; i++) {
            cJSON *c = tool_call_json(&m->tool_calls[i]);
            if (!c) goto fail;
            cJSON_AddItemToArray(calls, c);
        }
    }
    if (r && (!add_string(o, "reasoning", r) || !add_string(o, "reasoning_content", r))) goto fail;
    if (m->tool_call_id && !add_string(o, "tool_call_id", m->tool_call_id)) goto fail;
    if (m->name && !add_string(o, "name", m->name)) goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

cJSON *api_chat_messages_json(const api_chat_request *req)
{
    cJSON *msgs = cJSON_CreateArray();
    for (size_t i = 0; msgs && i < req->n_messages; i++) {
        cJSON *m = message_json(&req->messages[i]);
        if (!m) {
            cJSON_Delete(msgs);
            return NULL;
        }
        cJSON_AddItemToArray(msgs, m);
    }
    return msgs;
}

static int oom(cJSON *vars, api_error *e)
{
    cJSON_Delete(vars);
    api_error_set(e, 500, NULL, NULL, NULL,
                  "out of memory while building the chat template variables");
    return -1;
}

int api_chat_template_vars(const api_chat_request *req, const char *bos_token,
                           const char *eos_token, cJSON **out, api_error *e)
{
    *out = NULL;
    cJSON *vars = cJSON_CreateObject();
    if (!vars) return oom(vars, e);
    if (bos_token && !add_string(vars, "bos_token", bos_token)) return oom(vars, e);
    if (eos_token && !add_string(vars, "eos_token", eos_token)) return oom(vars, e);
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
            cJSON *copy = cJSON_Duplicate(it, 1);
            if (!copy) {
                cJSON_Delete(kw);
                return oom(vars, e);
            }
            cJSON_AddItemToObject(vars, it->string, copy);
        }
        cJSON_Delete(kw);
    }
    const char *fixed[] = {"messages", "tools", "documents", "add_generation_prompt"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(vars, fixed[i]);
    cJSON *msgs = api_chat_messages_json(req);
    if (!msgs) return oom(vars, e);
    cJSON_AddItemToObject(vars, "messages", msgs);
    cJSON *tools = req->tools_json ? cJSON_Parse(req->tools_json) : NULL;
    if (tools && cJSON_GetArraySize(tools) > 0) {
        cJSON_AddItemToObject(vars, "tools", tools);
    } else {
        cJSON_Delete(tools);
        if (!cJSON_AddNullToObject(vars, "tools")) return oom(vars, e);
    }
    if (!cJSON_AddNullToObject(vars, "documents") ||
        !cJSON_AddBoolToObject(vars, "add_generation_prompt", 1))
        return oom(vars, e);
    *out = vars;
    return 0;
}
