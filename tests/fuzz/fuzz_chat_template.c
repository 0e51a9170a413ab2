/* Fuzz target for the chat template parser, and for the renderer over a fixed context whenever
 * the input parses: no input may crash, leak or run away. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "models/chat_template/chat_template.h"

static const char *CONTEXT =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},{\"role\":\"user\",\"content\":\"hi \\u00e9\"},"
    "{\"role\":\"assistant\",\"content\":\"<think>r</think>ok\",\"tool_calls\":[{\"id\":\"abcdefghi\","
    "\"function\":{\"name\":\"f\",\"arguments\":{\"a\":[1,2.5,null,true]}}}]},{\"role\":\"tool\",\"content\":\"1\"}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}}],"
    "\"add_generation_prompt\":true,\"enable_thinking\":false,\"bos_token\":\"<s>\",\"eos_token\":\"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static cJSON *vars;
    if (!vars) vars = cJSON_Parse(CONTEXT);
    ct_template *t;
    char err[512];
    if (ct_parse(&t, (const char *)data, size, err, sizeof err) != 0) return 0;
    char *out = NULL;
    size_t len;
    if (ct_render(t, vars, &out, &len, err, sizeof err) == 0) free(out);
    ct_free(t);
    return 0;
}
