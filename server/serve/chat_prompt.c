#include "server/serve/chat_prompt.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "server/api/api_chat_vars.h"

int chat_prompt_render(const serve_ctx *s, const api_chat_request *req, char **prompt, api_error *e)
{
    *prompt = NULL;
    if (!s->tmpl) {
        api_error_set(e, 400, NULL, "messages", NULL,
                      "this model has no chat template (tokenizer_config.json chat_template or "
                      "chat_template.jinja); use /v1/completions");
        return -1;
    }
    cJSON *vars;
    if (api_chat_template_vars(req, tok_bos_token(s->tok), tok_eos_token(s->tok), &vars, e))
        return -1;
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
