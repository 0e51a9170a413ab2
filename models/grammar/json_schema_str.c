/* JSON Schema -> GBNF for strings: lengths, formats (exact or documented-subset grammars) and
 * `pattern`, whose regular expression is compiled here over the string's decoded content so that
 * every character is written in its canonical JSON escape (see js_cset_emit_json_char). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/json_schema_int.h"

/* ---- formats ---- */

typedef struct fmt {
    const char *name;
    const char *body; /* GBNF over the string content */
    long min_len, max_len;
} fmt;

#define DATE                                                                                       \
    "[1-9] [0-9]{3} \"-\" ((\"01\" | \"03\" | \"05\" | \"07\" | \"08\" | \"10\" | \"12\") \"-\" "  \
    "(\"0\" [1-9] | [12] [0-9] | \"3\" [01]) | (\"04\" | \"06\" | \"09\" | \"11\") \"-\" (\"0\" "  \
    "[1-9] | [12] [0-9] | \"30\") | \"02\" \"-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]))"
#define TIME                                                                                       \
    "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,9})? (\"Z\" | " \
    "[-+] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])"
#define LABEL "[a-zA-Z0-9] ([a-zA-Z0-9-]{0,61} [a-zA-Z0-9])?"
#define HEX "[0-9a-fA-F]"
#define H16 HEX "{1,4}"
#define OCTET "(\"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9] [0-9] | [0-9])"
#define PCHAR "([a-zA-Z0-9._~!$&'()*+,;=:@-] | \"%\" " HEX " " HEX ")"
/* a reg-name character (unreserved, sub-delims, a percent escape) */
#define REGCHAR "([a-zA-Z0-9._~!$&'()*+,;=-] | \"%\" " HEX " " HEX ")"

static const fmt formats[] = {
    {"date", DATE, 10, 10},
    {"time", TIME, 9, 24},
    {"date-time", DATE " \"T\" " TIME, 20, 35},
    {"uuid", HEX "{8} \"-\" " HEX "{4} \"-\" " HEX "{4} \"-\" " HEX "{4} \"-\" " HEX "{12}", 36,
     36},
    {"ipv4", OCTET " \".\" " OCTET " \".\" " OCTET " \".\" " OCTET, 7, 15},
    {"ip-address", OCTET " \".\" " OCTET " \".\" " OCTET " \".\" " OCTET, 7, 15},
    {"ipv6",
     "(" H16 " \":\"){7} " H16 " | \"::\" (" H16 " (\":\" " H16 "){0,6})? | " H16 " \"::\" (" H16
     " (\":\" " H16 "){0,5})? | (" H16 " \":\"){1} " H16 " \"::\" (" H16 " (\":\" " H16
     "){0,4})? | (" H16 " \":\"){2} " H16 " \"::\" (" H16 " (\":\" " H16 "){0,3})? | (" H16
     " \":\"){3} " H16 " \"::\" (" H16 " (\":\" " H16 "){0,2})? | (" H16 " \":\"){4} " H16
     " \"::\" (" H16 " (\":\" " H16 "){0,1})? | (" H16 " \":\"){5} " H16 " \"::\" (" H16
     ")? | (" H16 " \":\"){6} " H16 " \"::\"",
     2, 39},
    /* at most three labels, the last starting with a letter: always within 253 bytes, never an
     * all-numeric top-level label */
    {"hostname", "(" LABEL " \".\"){0,2} [a-zA-Z] ([a-zA-Z0-9-]{0,61} [a-zA-Z0-9])?", 1, 191},
    {"host-name", "(" LABEL " \".\"){0,2} [a-zA-Z] ([a-zA-Z0-9-]{0,61} [a-zA-Z0-9])?", 1, 191},
    {"email",
     "[a-zA-Z0-9_+-]+ (\".\" [a-zA-Z0-9_+-]+)* \"@\" (" LABEL " \".\"){1,2} [a-zA-Z] "
     "([a-zA-Z0-9-]{0,61} [a-zA-Z0-9])?",
     5, -1},
    /* RFC 3986's generic syntax, as ajv's full "uri" format: scheme ":" then "//" authority and
     * path, an absolute path, or a rootless one (never empty); IP literals in brackets left out */
    {"uri",
     "[a-zA-Z] [a-zA-Z0-9+.-]* \":\" (\"//\" ((" REGCHAR " | \":\")* \"@\")? " REGCHAR "* (\":\" "
     "[0-9]*)? (\"/\" " PCHAR "*)* | \"/\" (" PCHAR "+ (\"/\" " PCHAR "*)*)? | " PCHAR
     "+ (\"/\" " PCHAR "*)*) (\"?\" (" PCHAR " | [/?])*)? (\"#\" (" PCHAR " | [/?])*)?",
     3, -1},
    {"json-pointer", NULL, 0, -1}, /* built from a character set below */
    {NULL, NULL, 0, 0},
};

/* Standard format names we do not write a grammar for: refused (ignoring them could accept
 * what a validator with format checking rejects). Other names are not standard: ignored, as
 * validators ignore them. */
static const char *const refused_formats[] = {"duration",
                                              "idn-email",
                                              "idn-hostname",
                                              "uri-reference",
                                              "iri",
                                              "iri-reference",
                                              "uri-template",
                                              "relative-json-pointer",
                                              "regex",
                                              "color",
                                              NULL};

static char *format_expr(js_ctx *c, const char *name, long *min_len, long *max_len, bool *known)
{
    *known = false;
    for (size_t i = 0; refused_formats[i]; i++)
        if (strcmp(refused_formats[i], name) == 0) {
            js_fail(c, "json schema: format \"%s\" is not supported", name);
            return NULL;
        }
    for (const fmt *f = formats; f->name; f++) {
        if (strcmp(f->name, name) != 0) continue;
        *known = true;
        *min_len = f->min_len;
        *max_len = f->max_len;
        js_buf b = {0};
        if (f->body) {
            js_buf_printf(&b, "(%s)", f->body);
        } else { /* json-pointer: ("/" (unescaped | "~0" | "~1")*)* */
            js_cset cs = {0};
            js_cset_add(&cs, '/', '/');
            js_cset_add(&cs, '~', '~');
            js_cset_add(&cs, 0xD800, 0xDFFF);
            js_cset_invert(&cs);
            js_buf_puts(&b, "(\"/\" (");
            js_cset_emit_json_char(c, &b, &cs);
            js_buf_puts(&b, " | \"~\" [01])*)*");
            js_cset_free(&cs);
        }
        if (b.oom) {
            free(b.p);
            js_fail(c, "json schema: out of memory");
            return NULL;
        }
        return b.p;
    }
    return NULL;
}

static bool get_len(js_ctx *c, const cJSON *s, const char *kw, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, kw);
    if (!v) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || !js_num_integral(v->valuedouble)) {
        js_fail(c, "json schema: \"%s\" must be a non-negative integer", kw);
        return false;
    }
    *out = v->valuedouble > 1e9 ? 1000000000L : (long)v->valuedouble;
    return true;
}

char *js_gen_string(js_ctx *c, const cJSON *s)
{
    long lo = 0, hi = -1;
    if (!get_len(c, s, "minLength", &lo) || !get_len(c, s, "maxLength", &hi)) return NULL;
    if (hi >= 0 && lo > hi) {
        js_fail(c, "json schema: minLength above maxLength: the schema matches nothing");
        return NULL;
    }
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(s, "pattern");
    const cJSON *fm = cJSON_GetObjectItemCaseSensitive(s, "format");
    if (pat && !cJSON_IsString(pat)) {
        js_fail(c, "json schema: \"pattern\" must be a string");
        return NULL;
    }
    char *content = NULL;
    long cmin = 0, cmax = -1;
    const char *what = NULL;
    if (cJSON_IsString(fm)) {
        bool known;
        content = format_expr(c, fm->valuestring, &cmin, &cmax, &known);
        if (c->failed) return NULL;
        if (known) what = "format";
    }
    if (pat) {
        if (content) {
            free(content);
            js_fail(c, "json schema: \"pattern\" together with format \"%s\" is not supported",
                    fm->valuestring);
            return NULL;
        }
        content = js_pattern_expr(c, pat->valuestring, lo, hi, &cmin, &cmax);
        if (!content) return NULL;
        what = "pattern";
    }
    js_buf b = {0};
    if (content) {
        /* Lengths can only be kept when the pattern or format already implies them. */
        if (lo > cmin || (hi >= 0 && (cmax < 0 || cmax > hi))) {
            free(content);
            js_fail(c,
                    "json schema: minLength/maxLength together with %s (\"%.100s\") are "
                    "supported only when the %s implies them",
                    what, pat ? pat->valuestring : fm->valuestring, what);
            return NULL;
        }
        js_buf_printf(&b, "\"\\\"\" %s \"\\\"\"", content);
        free(content);
    } else if (lo == 0 && hi < 0) {
        js_buf_puts(&b, js_builtin(c, JS_B_STRING));
    } else {
        if (lo > JS_MAX_REPEAT || hi > JS_MAX_REPEAT) {
            js_fail(c, "json schema: minLength/maxLength above %d are not supported",
                    JS_MAX_REPEAT);
            return NULL;
        }
        const char *ch = js_builtin(c, JS_B_CHAR);
        if (hi < 0)
            js_buf_printf(&b, "\"\\\"\" %s{%ld,} \"\\\"\"", ch, lo);
        else
            js_buf_printf(&b, "\"\\\"\" %s{%ld,%ld} \"\\\"\"", ch, lo, hi);
    }
    if (b.oom) {
        free(b.p);
        js_fail(c, "json schema: out of memory");
        return NULL;
    }
    return b.p;
}
