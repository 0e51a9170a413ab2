/* Unit tests of the chat template API: rendering through ct_parse/ct_render, error messages that
 * name line, column and construct, raise_exception, and the limits that stop hostile templates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "models/chat_template/chat_template.h"
#include "tests/support/test_support.h"

static const char *VARS =
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi \\u00e9\"}],\"add_generation_prompt\":true,"
    "\"bos_token\":\"<s>\",\"n\":3,\"d\":{\"a\":1}}";

/* Renders src over VARS; returns the text (caller frees) or NULL with the error in err. */
static char *render(const char *src, char *err, size_t errlen) {
    ct_template *t;
    err[0] = 0;
    if (ct_parse(&t, src, strlen(src), err, errlen) != 0) return NULL;
    cJSON *vars = cJSON_Parse(VARS);
    char *out = NULL;
    size_t len = 0;
    if (ct_render(t, vars, &out, &len, err, errlen) != 0) out = NULL;
    if (out && strlen(out) != len) {
        free(out);
        out = NULL;
        snprintf(err, errlen, "length mismatch");
    }
    cJSON_Delete(vars);
    ct_free(t);
    return out;
}

static void expect_text(const char *src, const char *want) {
    char err[512];
    char *got = render(src, err, sizeof err);
    CHECKF(got && strcmp(got, want) == 0, "%s: want [%s], got [%s] (%s)", src, want, got ? got : "NULL", err);
    free(got);
}

static void expect_error(const char *src, const char *want1, const char *want2) {
    char err[512];
    char *got = render(src, err, sizeof err);
    CHECKF(!got, "%s: expected an error, rendered [%s]", src, got ? got : "");
    CHECKF(strstr(err, want1) && (!want2 || strstr(err, want2)), "%s: error [%s] lacks [%s] / [%s]", src, err, want1,
           want2 ? want2 : "");
    free(got);
}

static void test_rendering(void) {
    expect_text("{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m['content'] }}{% endfor %}", "<s><user>Hi é");
    expect_text("{%- if add_generation_prompt %}\n  go\n{%- endif %}", "  go");
    expect_text("{% for i in range(n) %}{{ loop.index }}{% if not loop.last %},{% endif %}{% endfor %}", "1,2,3");
    expect_text("{{ d | tojson }} {{ d }} {{ [1.5, none, true] }}", "{\"a\": 1} {'a': 1} [1.5, None, True]");
    expect_text("{% set ns = namespace(k=0) %}{% for i in [1, 2] %}{% set ns.k = ns.k + i %}{% endfor %}{{ ns.k }}", "3");
    expect_text("{% macro m(x, y='d') %}{{ x }}{{ y }}{% endmacro %}{{ m(1) }}{{ m(2, y=3) }}", "1d23");
    expect_text("{{ missing }}|{{ missing is defined }}|{{ d.zz is defined }}", "|False|False");
    expect_text("{{ 'x' }}\n", "x");
}

static void test_errors_name_line_and_column(void) {
    expect_error("a\nb\n{% for x in %}", "line 3, column", "expected an expression");
    expect_error("{% if x %}\nno end", "line 1, column 4", "unclosed tag 'if': expected 'endif'");
    expect_error("\n  {{ x | nosuchfilter }}", "line 2, column 10", "unsupported filter 'nosuchfilter'");
    expect_error("{{ x is nosuchtest }}", "line 1, column 9", "unsupported test 'nosuchtest'");
    expect_error("{% extends 'base' %}", "line 1, column 4", "unsupported or unexpected tag 'extends'");
    expect_error("{{ 'abc }}", "line 1, column 4", "string literal");
    expect_error("{{ (1 }}", "line 1", NULL);
    expect_error("{# never closed", "line 1, column 1", "comment");
    expect_error("\n\n   {{ missing.attr }}", "line 3, column", "'missing' is undefined");
    expect_error("{{ 1 // 0 }}", "line 1", "division or modulo by zero");
    expect_error("{{ 9223372036854775807 + 1 + 0 }}", "line 1", "literal too large");
    expect_error("{{ 999999999999999999 * 999999999999999999 }}", "line 1", "integer overflow");
}

static void test_raise_exception_carries_message(void) {
    expect_error("line\n{{ raise_exception('Roles must alternate') }}", "Roles must alternate", "line 2, column 4");
}

static void test_limits_stop_hostile_templates(void) {
    expect_error("{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}", "exceeded", NULL);
    expect_error("{% for i in range(100000) %}{% set r = range(100000) %}{% endfor %}", "too much memory", NULL);
    expect_error("{% for i in range(1000000) %}{% endfor %}", "Range too big", NULL);
    expect_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "nested deeper", NULL);
    size_t n = 100000;
    char *deep = malloc(2 * n + 16);
    strcpy(deep, "{{ ");
    memset(deep + 3, '(', n);
    strcpy(deep + 3 + n, " }}");
    expect_error(deep, "nested too deeply", NULL);
    memset(deep + 3, '[', n);
    expect_error(deep, "nested too deeply", NULL);
    free(deep);
    expect_error("{% set s = 'x' * 100000000 %}", "repetition too large", NULL);
}

static void test_render_rejects_non_object_variables(void) {
    ct_template *t;
    char err[256];
    CHECK(ct_parse(&t, "x", 1, err, sizeof err) == 0);
    cJSON *arr = cJSON_Parse("[1]");
    char *out;
    size_t len;
    CHECK(ct_render(t, arr, &out, &len, err, sizeof err) != 0);
    CHECKF(strstr(err, "expected a JSON object") != NULL, "%s", err);
    cJSON_Delete(arr);
    ct_free(t);
}

static void test_qwen3_template_renders(void) {
    char path[1024];
    test_shared_path("data/chat-templates/Qwen-Qwen3-0.6B.jinja", path, sizeof path);
    FILE *f = fopen(path, "rb");
    CHECKF(f != NULL, "cannot open %s", path);
    if (!f) return;
    char src[16384];
    size_t n = fread(src, 1, sizeof src - 1, f);
    fclose(f);
    src[n] = 0;
    char err[512];
    char *out = render(src, err, sizeof err);
    CHECKF(out && strcmp(out, "<|im_start|>user\nHi é<|im_end|>\n<|im_start|>assistant\n") == 0, "got [%s] (%s)",
           out ? out : "NULL", err);
    free(out);
}

int main(void) {
    test_rendering();
    test_errors_name_line_and_column();
    test_raise_exception_carries_message();
    test_limits_stop_hostile_templates();
    test_render_rejects_non_object_variables();
    test_qwen3_template_renders();
    return test_finish("test_chat_template");
}
