/* berth-render-template: renders a chat template over JSON variables, the way the tests and
 * operators check a model's template.
 *   berth-render-template TEMPLATE VARS.json     rendered text to stdout
 *   berth-render-template --batch TEMPLATE       one JSON object of variables per stdin line; one
 *                                                {"ok":true,"text":...} or {"ok":false,"error":...}
 *                                                line per input on stdout
 *   berth-render-template --chat-request [--bos-token S] [--eos-token S] TEMPLATE
 *                                                one /v1/chat/completions body per stdin line,
 * parsed and normalised as berth serve does; one
 *                                                {"ok":true,"variables":...,"text":...} or
 *                                                {"ok":false,"error":...} (plus "variables" when
 * only the template failed) line per input on stdout TEMPLATE is a .jinja file, or a
 * tokenizer_config.json whose "chat_template" is used. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "models/chat_template/chat_template.h"
#include "server/api/api_chat_vars.h"
#include "server/api/api_request.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *p = realloc(buf, (cap *= 2) + 1);
            if (!p) {
                free(buf);
                buf = NULL;
            }
            buf = p;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

/* The template text: the file itself, or the "chat_template" field of a tokenizer_config.json. */
static char *load_template(const char *path, size_t *len)
{
    char *text = read_file(path, len);
    if (!text) {
        fprintf(stderr, "berth-render-template: cannot read %s\n", path);
        return NULL;
    }
    size_t pl = strlen(path);
    if (pl < 5 || strcmp(path + pl - 5, ".json") != 0) return text;
    cJSON *cfg = cJSON_ParseWithLength(text, *len);
    free(text);
    const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (!cJSON_IsString(tpl)) {
        fprintf(stderr, "berth-render-template: %s: field \"chat_template\": expected a string\n",
                path);
        cJSON_Delete(cfg);
        return NULL;
    }
    text = strdup(tpl->valuestring);
    *len = strlen(text);
    cJSON_Delete(cfg);
    return text;
}

static int batch(const ct_template *t)
{
    size_t cap = 0;
    char *line = NULL;
    ssize_t n;
    char err[1024];
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (n == 1 && line[0] == '\n') continue;
        cJSON *vars = cJSON_ParseWithLength(line, (size_t)n), *res = cJSON_CreateObject();
        char *text = NULL;
        size_t len = 0;
        if (!vars) {
            cJSON_AddFalseToObject(res, "ok");
            cJSON_AddStringToObject(res, "error",
                                    "input line: expected a JSON object of variables");
        } else if (ct_render(t, vars, &text, &len, err, sizeof err) != 0) {
            cJSON_AddFalseToObject(res, "ok");
            cJSON_AddStringToObject(res, "error", err);
        } else {
            cJSON_AddTrueToObject(res, "ok");
            cJSON_AddStringToObject(res, "text", text);
        }
        char *s = cJSON_PrintUnformatted(res);
        puts(s);
        fflush(stdout);
        free(s);
        free(text);
        cJSON_Delete(vars);
        cJSON_Delete(res);
    }
    free(line);
    return 0;
}

/* Request bodies to berth serve's template variables (api_chat_template_vars) and their rendering.
 */
static int chat_requests(const ct_template *t, const char *bos, const char *eos)
{
    size_t cap = 0;
    char *line = NULL;
    ssize_t n;
    char err[1024];
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (n == 1 && line[0] == '\n') continue;
        cJSON *res = cJSON_CreateObject(), *vars = NULL;
        api_chat_request req;
        api_error e;
        char *text = NULL;
        size_t len = 0;
        if (api_parse_chat_request(line, (size_t)n, &req, &e) != 0) {
            cJSON_AddFalseToObject(res, "ok");
            cJSON_AddStringToObject(res, "error", e.message);
        } else {
            if (api_chat_template_vars(&req, bos, eos, &vars, &e) != 0) {
                cJSON_AddFalseToObject(res, "ok");
                cJSON_AddStringToObject(res, "error", e.message);
            } else if (ct_render(t, vars, &text, &len, err, sizeof err) != 0) {
                cJSON_AddFalseToObject(res, "ok");
                cJSON_AddStringToObject(res, "error", err);
            } else {
                cJSON_AddTrueToObject(res, "ok");
                cJSON_AddStringToObject(res, "text", text);
            }
            if (vars) cJSON_AddItemToObject(res, "variables", vars);
            api_chat_request_free(&req);
        }
        char *s = cJSON_PrintUnformatted(res);
        puts(s);
        fflush(stdout);
        free(s);
        free(text);
        cJSON_Delete(res);
    }
    free(line);
    return 0;
}

int main(int argc, char **argv)
{
    bool is_batch = argc == 3 && strcmp(argv[1], "--batch") == 0;
    bool is_request = argc >= 3 && strcmp(argv[1], "--chat-request") == 0;
    const char *bos = NULL, *eos = NULL;
    int a = 2;
    while (is_request && a + 1 < argc &&
           (!strcmp(argv[a], "--bos-token") || !strcmp(argv[a], "--eos-token"))) {
        *(argv[a][2] == 'b' ? &bos : &eos) = argv[a + 1];
        a += 2;
    }
    if (is_request ? a != argc - 1 : argc != 3) {
        fprintf(stderr,
                "usage: berth-render-template TEMPLATE VARS.json\n"
                "       berth-render-template --batch TEMPLATE < vars.jsonl\n"
                "       berth-render-template --chat-request [--bos-token S] [--eos-token S] "
                "TEMPLATE < requests.jsonl\n");
        return 2;
    }
    const char *tpath = is_request ? argv[argc - 1] : is_batch ? argv[2] : argv[1];
    size_t len;
    char *src = load_template(tpath, &len), err[1024];
    if (!src) return 2;
    ct_template *t;
    if (ct_parse(&t, src, len, err, sizeof err) != 0) {
        fprintf(stderr, "berth-render-template: %s: %s\n", tpath, err);
        free(src);
        return 1;
    }
    free(src);
    int rc = 0;
    if (is_request) {
        rc = chat_requests(t, bos, eos);
    } else if (is_batch) {
        rc = batch(t);
    } else {
        size_t vlen;
        char *vtext = read_file(argv[2], &vlen), *out = NULL;
        cJSON *vars = vtext ? cJSON_ParseWithLength(vtext, vlen) : NULL;
        size_t out_len;
        if (!vars) {
            fprintf(stderr, "berth-render-template: %s: expected a JSON object of variables\n",
                    argv[2]);
            rc = 2;
        } else if (ct_render(t, vars, &out, &out_len, err, sizeof err) != 0) {
            fprintf(stderr, "berth-render-template: %s\n", err);
            rc = 1;
        } else {
            fwrite(out, 1, out_len, stdout);
        }
        free(out);
        free(vtext);
        cJSON_Delete(vars);
    }
    ct_free(t);
    return rc;
}
