/* JSON Schema -> GBNF (gr_json_schema_to_gbnf, gr_compile_json_schema, gr_compile_json_object):
 * for hand-written schemas of every supported keyword, instances accepted and rejected byte by
 * byte through the matcher; refusals naming the keyword; recursion; options (whitespace, strict,
 * rule prefix); pathological schemas failing within a time bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/grammar/gr_match_int.h"
#include "tests/grammar/grammar_test_util.h"

static gr_vocab *V;

typedef struct schema_case {
    const char *schema;
    const char *accept[12];
    const char *reject[12];
} schema_case;

static const schema_case cases[] = {
    /* type, type lists, true/{} */
    {"{\"type\":\"string\"}",
     {"\"\"", "\"abc\"", "\"a\\\"b\"", "\"\\\\\"", "\"\\n\\t\\u0001\"", "\"é世😀\""},
     {"abc", "\"a", "1", "\"\\u0041\"", "\"\\/\"", "\"a\nb\"", "null"}},
    {"{\"type\":\"integer\"}",
     {"0", "-1", "123456789012345678901234"},
     {"01", "1.0", "-", "1e3", "\"1\""}},
    {"{\"type\":\"number\"}", {"0", "-1.5", "1e-05", "2.5E+10", "1"}, {".5", "1.", "01", "+1"}},
    {"{\"type\":\"boolean\"}", {"true", "false"}, {"1", "null", "True"}},
    {"{\"type\":\"null\"}", {"null"}, {"0", "\"null\""}},
    {"{\"type\":[\"string\",\"null\"]}", {"\"x\"", "null"}, {"1", "true"}},
    {"{\"type\":\"string\",\"nullable\":true}", {"\"x\"", "null"}, {"1"}},
    {"true", {"1", "{\"a\":[1,{\"b\":null}]}", "\"s\""}, {"{", "[1,]"}},
    {"{}", {"[]", "{}", "-0.5e3"}, {"x"}},
    /* enum, const */
    {"{\"enum\":[\"red\",\"green\",1,null,{\"a\":[1,2]}]}",
     {"\"red\"", "\"green\"", "1", "null", "{\"a\":[1,2]}"},
     {"\"blue\"", "2", "\"re\"", "{\"a\":[1]}"}},
    {"{\"const\":\"x\\\"y\"}", {"\"x\\\"y\""}, {"\"x\"", "\"xy\""}},
    {"{\"type\":\"string\",\"enum\":[\"a\",1,\"bb\"],\"maxLength\":1}", {"\"a\""}, {"1", "\"bb\""}},
    {"{\"enum\":[1.5,-2,2.5e-7]}", {"1.5", "-2", "2.5e-07"}, {"1.50", "2", "2.5e-7"}},
    /* strings */
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}",
     {"\"ab\"", "\"abc\"", "\"é😀\"", "\"\\n\\\"\""},
     {"\"a\"", "\"abcd\"", "\"\""}},
    {"{\"type\":\"string\",\"pattern\":\"^[a-z]+-\\\\d{2}$\"}",
     {"\"ab-12\"", "\"z-00\""},
     {"\"ab-1\"", "\"Ab-12\"", "\"ab-123\"", "\"-12\""}},
    {"{\"type\":\"string\",\"pattern\":\"abc\"}",
     {"\"abc\"", "\"xxabcxx\"", "\"abc\\n\""},
     {"\"ab\"", "\"acb\""}},
    {"{\"type\":\"string\",\"pattern\":\"^(a|bc)*\\\\.?$\"}",
     {"\"\"", "\"abca.\"", "\"bc\""},
     {"\"b\"", "\"a..\""}},
    {"{\"type\":\"string\",\"pattern\":\"^[^a]$\"}",
     {"\"b\"", "\"\\\"\"", "\"\\n\"", "\"é\""},
     {"\"a\"", "\"bb\""}},
    {"{\"type\":\"string\",\"pattern\":\"^\\\\w\\\\s\\\\S.$\"}",
     {"\"a x!\"", "\"_\\txy\""},
     {"\"é x!\"", "\"a\\u00a0x!\"", "\"a x\\n\"", "\"a\\u001cx!\""}},
    {"{\"type\":\"string\",\"pattern\":\"^a{2,3}$\",\"maxLength\":3}",
     {"\"aa\"", "\"aaa\""},
     {"\"a\"", "\"aaaa\""}},
    /* pattern with lengths: fitted into the one variable part (a subset: anchored) */
    {"{\"type\":\"string\",\"pattern\":\"^a+$\",\"maxLength\":3}",
     {"\"a\"", "\"aaa\""},
     {"\"aaaa\"", "\"\""}},
    {"{\"type\":\"string\",\"pattern\":\"[0-9a-f]+\",\"minLength\":4,\"maxLength\":4}",
     {"\"ab12\""},
     {"\"ab1\"", "\"ab12f\"", "\"ab1g\""}},
    {"{\"type\":\"string\",\"pattern\":\"^a|b$\",\"minLength\":3}",
     {"\"axx\"", "\"xxb\""},
     {"\"bxx\"", "\"ab\"", "\"xxa\""}},
    {"{\"type\":\"string\",\"pattern\":\"abc\",\"maxLength\":5}",
     {"\"abc\"", "\"abcde\""},
     {"\"abcdef\"", "\"ab\""}},
    {"{\"type\":\"string\",\"format\":\"date\"}",
     {"\"2024-02-28\"", "\"1999-12-31\""},
     {"\"2024-02-30\"", "\"2024-13-01\"", "\"24-01-01\"", "\"2024-04-31\""}},
    {"{\"type\":\"string\",\"format\":\"date-time\"}",
     {"\"2024-01-02T03:04:05Z\"", "\"2024-01-02T23:59:59.123+05:30\""},
     {"\"2024-01-02 03:04:05Z\"", "\"2024-01-02T24:00:00Z\"", "\"2024-01-02T03:04:05\""}},
    {"{\"type\":\"string\",\"format\":\"time\"}",
     {"\"03:04:05Z\"", "\"23:59:59-01:00\""},
     {"\"3:04:05Z\""}},
    {"{\"type\":\"string\",\"format\":\"email\"}",
     {"\"a.b+c@ex-ample.com\""},
     {"\"a@b\"", "\"@b.com\"", "\"a..b@c.com\"", "\"a@-b.com\""}},
    {"{\"type\":\"string\",\"format\":\"uuid\"}",
     {"\"123e4567-e89b-12d3-a456-426614174000\""},
     {"\"123e4567e89b12d3a456426614174000\"", "\"123e4567-e89b-12d3-a456-42661417400g\""}},
    {"{\"type\":\"string\",\"format\":\"ipv4\"}",
     {"\"0.0.0.0\"", "\"255.255.255.255\"", "\"10.1.20.3\""},
     {"\"256.1.1.1\"", "\"01.1.1.1\"", "\"1.1.1\""}},
    {"{\"type\":\"string\",\"format\":\"ipv6\"}",
     {"\"::\"", "\"::1\"", "\"fe80::1:2\"", "\"1:2:3:4:5:6:7:8\""},
     {"\"1:2:3:4:5:6:7\"", "\"1::2::3\"", "\"12345::\""}},
    {"{\"type\":\"string\",\"format\":\"hostname\"}",
     {"\"example.com\"", "\"a-b.c\"", "\"localhost\""},
     {"\"-a.com\"", "\"a..b\"", "\"1.2.3\""}},
    {"{\"type\":\"string\",\"format\":\"uri\"}",
     {"\"https://example.com/a/b?q=1#f\"", "\"ftp://h:21\"", "\"file:///path/to/f.js\"",
      "\"urn:isbn:0451450523\"", "\"mailto:a@b.c\"", "\"x:/p%20q\"", "\"http://u:p@h/\""},
     {"\"example.com\"", "\"http://a b\"", "\"a:\"", "\"1a:b\"", "\"a:%zz\"", "\"a:b c\""}},
    {"{\"type\":\"string\",\"format\":\"no-such-format\"}", {"\"anything\""}, {"1"}},
    /* integers */
    {"{\"type\":\"integer\",\"minimum\":-12,\"maximum\":305}",
     {"-12", "-1", "0", "9", "10", "99", "100", "299", "305"},
     {"-13", "306", "1000", "-0", "00", "310"}},
    {"{\"type\":\"integer\",\"exclusiveMinimum\":0}", {"1", "12345678901234567890"}, {"0", "-1"}},
    {"{\"type\":\"integer\",\"minimum\":5,\"exclusiveMinimum\":true}", {"6"}, {"5"}},
    {"{\"type\":\"integer\",\"maximum\":-100}", {"-100", "-101", "-99999"}, {"-99", "0", "5"}},
    {"{\"type\":\"integer\",\"minimum\":0,\"maximum\":0}", {"0"}, {"1", "-1"}},
    /* numbers with bounds */
    {"{\"type\":\"number\",\"minimum\":0,\"maximum\":1}",
     {"0", "0.5", "1", "1.0", "1.000"},
     {"1.01", "-0.1", "2", "1e0"}},
    {"{\"type\":\"number\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":10}",
     {"0.001", "9.999", "5"},
     {"0", "0.0", "10", "10.0", "-1"}},
    {"{\"type\":\"number\",\"minimum\":-2}", {"-2", "-1.5", "-2.0", "7.25"}, {"-2.1", "-3"}},
    {"{\"type\":\"integer\",\"multipleOf\":1}", {"3"}, {"3.5"}},
    /* fractional bounds, compared as the doubles they are (exclusive: the next double) */
    {"{\"type\":\"number\",\"minimum\":0.5,\"maximum\":2.5}",
     {"1", "1.75", "2", "0.5", "0.7", "2.5", "2.50"},
     {"0.4", "0.49999", "2.51", "3", "-1"}},
    {"{\"type\":\"number\",\"exclusiveMinimum\":5,\"maximum\":7.25}",
     {"5.1", "7.25", "6", "5.000000000000001"},
     {"5", "5.0", "7.26", "8", "5.0000000000000000001", "4.9"}},
    {"{\"type\":\"number\",\"maximum\":-0.5}",
     {"-0.5", "-3", "-0.75"},
     {"-0.4", "0", "1", "-0.05"}},
    {"{\"type\":\"number\",\"minimum\":-1.5,\"exclusiveMaximum\":0}",
     {"-1.5", "-1", "-0.001"},
     {"-1.6", "0", "0.0", "-2"}},
    /* objects */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}"
     "},"
     "\"required\":[\"a\"],\"additionalProperties\":false}",
     {"{\"a\":1}", "{\"a\":1,\"b\":\"x\"}"},
     {"{}", "{\"b\":\"x\"}", "{\"b\":\"x\",\"a\":1}", "{\"a\":1,\"c\":2}", "{\"a\":\"1\"}",
      "{\"a\":1,\"a\":2}"}},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}",
     {"{}", "{\"a\":1}", "{\"b\":\"x\"}", "{\"b\":1,\"a\":2,\"c\":[]}", "{\"ab\":\"x\"}",
      "{\"\":0}"},
     {"{\"a\":\"x\"}", "{\"b\":1,\"a\":\"x\"}", "{\"a\":1,\"a\":1}"}},
    {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}",
     {"{}", "{\"x\":1,\"y\":2}"},
     {"{\"x\":\"1\"}"}},
    {"{\"type\":\"object\",\"required\":[\"k\"],\"additionalProperties\":{\"type\":\"boolean\"}}",
     {"{\"k\":true}", "{\"k\":false,\"z\":true}"},
     {"{}", "{\"k\":1}"}},
    {"{\"type\":\"object\",\"properties\":{\"x\":false}}", {"{}", "{\"y\":1}"}, {"{\"x\":1}"}},
    {"{\"type\":\"object\",\"minProperties\":1,\"required\":[\"a\"]}", {"{\"a\":null}"}, {"{}"}},
    {"{\"type\":\"object\",\"minProperties\":1}", {"{\"a\":1}", "{\"a\":1,\"b\":2}"}, {"{}"}},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{}},\"minProperties\":"
     "1,"
     "\"additionalProperties\":false}",
     {"{\"a\":\"x\"}", "{\"b\":1}", "{\"a\":\"x\",\"b\":1}"},
     {"{}"}},
    /* an optional property no value satisfies may not appear */
    {"{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"object\",\"enum\":[\"a\"]},\"y\":{"
     "\"type\":"
     "\"integer\"}}}",
     {"{\"y\":1}", "{}"},
     {"{\"x\":\"a\"}", "{\"x\":{}}"}},
    /* patternProperties: keys matching a pattern take its schema, after the defined properties
     * (a subset: a pattern key before them is not produced); with a constraining schema, other
     * extra keys are not produced (a subset) */
    {"{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"}},\"patternProperties\":"
     "{\"^x-\":{\"type\":\"string\"}},\"additionalProperties\":false}",
     {"{\"id\":1}", "{\"id\":1,\"x-a\":\"s\",\"x-\":\"t\"}", "{\"x-a\":\"s\"}"},
     {"{\"x-a\":1}", "{\"y\":\"s\"}", "{\"ax-\":\"s\"}", "{\"x-a\":\"s\",\"id\":1}"}},
    /* a defined name that matches a pattern takes both schemas: here its own adds nothing, so S */
    {"{\"type\":\"object\",\"properties\":{\"a\":{}},\"patternProperties\":{\"^a$\":{\"type\":"
     "\"integer\"}},\"additionalProperties\":false}",
     {"{}", "{\"a\":1}"},
     {"{\"a\":\"s\"}", "{\"a\":null}", "{\"b\":1}"}},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":"
     "\"string\"}},\"patternProperties\":{\"^a\":{\"type\":\"integer\"}}}",
     {"{\"a\":1,\"b\":\"s\",\"ab\":2}", "{\"b\":\"s\",\"a1\":3}", "{\"ab\":2}"},
     {"{\"a\":\"s\"}", "{\"ab\":\"s\"}", "{\"b\":1}"}},
    /* names only required, each matching the (search) pattern: written with S, in order */
    {"{\"type\":\"object\",\"patternProperties\":{\"A|B\":{\"type\":\"integer\"}},\"required\":"
     "[\"A\",\"B\"],\"additionalProperties\":false}",
     {"{\"A\":1,\"B\":2}", "{\"A\":1,\"B\":2,\"xA\":3}"},
     {"{\"A\":1}", "{\"A\":\"s\",\"B\":2}", "{\"A\":1,\"B\":2,\"C\":3}"}},
    {"{\"type\":\"object\",\"patternProperties\":{\"^[0-9]+$\":{\"type\":\"boolean\"}}}",
     {"{}", "{\"12\":true}"},
     {"{\"12\":1}", "{\"1a\":1}"}},
    {"{\"type\":\"object\",\"patternProperties\":{\".*\":{}},\"additionalProperties\":false}",
     {"{}", "{\"a\":[1]}"},
     {"[]"}},
    /* arrays */
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}",
     {"[1]", "[1,2,3]"},
     {"[]", "[1,2,3,4]", "[\"a\"]", "[1,]"}},
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":"
     "false}",
     {"[]", "[\"a\"]", "[\"a\",1]"},
     {"[1]", "[\"a\",1,2]"}},
    {"{\"type\":\"array\",\"prefixItems\":[{\"const\":1}],\"items\":{\"type\":\"string\"},"
     "\"minItems\":2}",
     {"[1,\"a\"]", "[1,\"a\",\"b\"]"},
     {"[1]", "[1,2]", "[\"a\",\"b\"]"}},
    {"{\"type\":\"array\",\"items\":[{\"type\":\"null\"}],\"additionalItems\":false}",
     {"[]", "[null]"},
     {"[null,null]"}},
    {"{\"type\":\"array\",\"uniqueItems\":true,\"maxItems\":1}", {"[]", "[5]"}, {"[5,6]"}},
    /* not (required lists, types), dependencies (both forms) */
    {"{\"not\":{\"type\":\"string\"}}", {"1", "null", "{}", "[\"a\"]"}, {"\"a\""}},
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},\"not\":{\"required\":[\"a\",\"b\"]}"
     "}",
     {"{}", "{\"a\":1}", "{\"b\":1}"},
     {"{\"a\":1,\"b\":2}"}},
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},\"dependencies\":{\"a\":[\"b\"]}}",
     {"{}", "{\"b\":1}", "{\"a\":1,\"b\":2}"},
     {"{\"a\":1}"}},
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},\"dependentSchemas\":{\"a\":"
     "{\"required\":[\"b\"],\"properties\":{\"b\":{\"type\":\"string\"}}}}}",
     {"{}", "{\"b\":1}", "{\"a\":1,\"b\":\"x\"}"},
     {"{\"a\":1}", "{\"a\":1,\"b\":2}"}},
    /* anyOf, oneOf, allOf, $ref */
    /* oneOf of required lists: exactly one list complete */
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{},\"c\":{}},\"oneOf\":[{\"required\":["
     "\"a\"]},"
     "{\"required\":[\"b\",\"c\"]}]}",
     {"{\"a\":1}", "{\"a\":1,\"b\":2}", "{\"b\":1,\"c\":2}", "{\"a\":1,\"c\":2}"},
     {"{}", "{\"a\":1,\"b\":2,\"c\":3}", "{\"b\":1}"}},
    /* oneOf of objects whose required property cannot agree */
    {"{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}},\"required\":["
     "\"n\"]},"
     "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"string\"}},\"required\":[\"n\"]}]}",
     {"{\"n\":1}", "{\"n\":\"x\"}"},
     {"{\"n\":null}", "{}"}},
    /* oneOf of strings told apart by their pattern's literal prefix, or by enum values */
    {"{\"oneOf\":[{\"type\":\"string\",\"pattern\":\"^https?://"
     ".+$\"},{\"type\":\"string\",\"pattern\":"
     "\"^\\\\./.+$\"},{\"enum\":[\"none\"]}]}",
     {"\"http://x\"", "\"./a\"", "\"none\""},
     {"\"ftp://x\"", "\"none2\""}},
    {"{\"oneOf\":[{\"type\":\"integer\",\"maximum\":2},{\"type\":\"integer\",\"minimum\":5}]}",
     {"2", "5"},
     {"3"}},
    {"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}",
     {"1", "\"a\""},
     {"\"ab\"", "null"}},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"boolean\"}]}", {"1", "true"}, {"\"a\""}},
    {"{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"a\"},\"v\":{\"type\":"
     "\"integer\"}},"
     "\"required\":[\"k\"]},{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"b\"}},"
     "\"required\":[\"k\"]}]}",
     {"{\"k\":\"a\",\"v\":1}", "{\"k\":\"b\",\"v\":\"x\"}"},
     {"{\"k\":\"a\",\"v\":\"x\"}", "{\"k\":\"c\"}"}},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"anyOf\":[{\"required\":["
     "\"a\"]},"
     "{\"required\":[\"b\"]}]}",
     {"{\"a\":1}", "{\"b\":0}"},
     {"{}", "{\"a\":\"x\"}"}},
    {"{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":["
     "\"a\"]},"
     "{\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}]}",
     {"{\"a\":1,\"b\":\"x\"}"},
     {"{\"a\":1}", "{\"b\":\"x\"}", "{\"a\":1,\"b\":2}"}},
    {"{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
     "\"additionalProperties\":false},{\"properties\":{\"b\":{\"type\":\"string\"}}}]}",
     {"{}", "{\"a\":1}"},
     {"{\"b\":\"x\"}"}},
    {"{\"allOf\":[{\"type\":\"integer\",\"minimum\":0},{\"maximum\":10}]}",
     {"0", "10"},
     {"-1", "11"}},
    {"{\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":1}},\"type\":\"array\",\"items\":{\"$"
     "ref\":\"#/$defs/pos\"}}",
     {"[1,2]"},
     {"[0]"}},
    {"{\"definitions\":{\"s\":{\"type\":\"string\"}},\"$ref\":\"#/definitions/s\",\"maxLength\":2}",
     {"\"ab\""},
     {"\"abc\"", "1"}},
    /* recursion */
    {"{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
     "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"v\"],"
     "\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}",
     {"{\"v\":1}", "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":3}]},{\"v\":4}]}"},
     {"{\"v\":1,\"kids\":[{}]}", "{\"v\":1,\"kids\":[{\"v\":\"x\"}]}"}},
    {"{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#\"}},\"additionalProperties\":"
     "false}",
     {"{}", "{\"next\":{\"next\":{}}}"},
     {"{\"next\":1}"}},
    /* annotations and unknown keys are ignored */
    {"{\"title\":\"t\",\"description\":\"d\",\"examples\":[1],\"default\":2,\"$comment\":\"c\","
     "\"x-extension\":{\"type\":\"string\"},\"type\":\"integer\"}",
     {"1"},
     {"\"a\""}},
};

static int check_case(const schema_case *sc)
{
    char err[512] = "";
    gr_grammar *g = NULL;
    int rc = gr_compile_json_schema(&g, V, sc->schema, strlen(sc->schema), NULL, err, sizeof err);
    CHECKF(rc == GR_OK, "schema should compile: %s\n  %s", err, sc->schema);
    if (rc != GR_OK) return 1;
    for (int i = 0; i < 12 && sc->accept[i]; i++)
        CHECKF(matches(g, sc->accept[i], strlen(sc->accept[i])), "%s\n  should accept %s",
               sc->schema, sc->accept[i]);
    for (int i = 0; i < 12 && sc->reject[i]; i++)
        CHECKF(!matches(g, sc->reject[i], strlen(sc->reject[i])), "%s\n  should reject %s",
               sc->schema, sc->reject[i]);
    gr_grammar_free(g);
    return 0;
}

/* Schemas refused with an error naming the keyword (or feature). */
static void test_refusals(void)
{
    static const char *const refused[][2] = {
        {"{\"type\":\"array\",\"uniqueItems\":true}", "uniqueItems"},
        {"{\"not\":{\"enum\":[1]}}", "\"not\""},
        {"{\"not\":{\"type\":\"integer\"}}", "\"not\""},
        {"{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":1}}", "\"if\""},
        {"{\"type\":\"object\",\"patternProperties\":{\"^a\":{},\"^b\":{\"type\":\"string\"}}}",
         "patternProperties"},
        {"{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},"
         "\"patternProperties\":{\"^a\":{\"type\":\"string\"}}}",
         "\"ab\""},
        {"{\"type\":\"object\",\"propertyNames\":{\"maxLength\":3}}", "propertyNames"},
        {"{\"type\":\"array\",\"contains\":{\"type\":\"integer\"}}", "contains"},
        {"{\"type\":\"number\",\"multipleOf\":0.01}", "multipleOf"},
        {"{\"type\":\"string\",\"format\":\"duration\"}", "duration"},
        {"{\"type\":\"string\",\"pattern\":\"(?=a)b\"}", "lookaround"},
        {"{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", "\\1"},
        {"{\"type\":\"string\",\"pattern\":\"\\\\bword\"}", "\\b"},
        {"{\"type\":\"string\",\"pattern\":\"^(a|b)+x+$\",\"maxLength\":5}", "maxLength"},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", "oneOf"},
        {"{\"oneOf\":[{\"type\":\"string\",\"pattern\":\"^ab\"},{\"type\":\"string\",\"pattern\":"
         "\"^a\"}]}",
         "oneOf"},
        {"{\"allOf\":[{\"pattern\":\"a\"},{\"pattern\":\"b\"}]}", "pattern"},
        {"{\"$ref\":\"http://example.com/s.json\"}", "$ref"},
        {"{\"$ref\":\"#/$defs/missing\"}", "does not resolve"},
        {"{\"type\":\"frobnicate\"}", "frobnicate"},
        {"{\"type\":\"string\",\"minLength\":5,\"maxLength\":2}", "matches nothing"},
        {"{\"type\":\"integer\",\"maximum\":1e300}", "maximum"},
        {"{\"type\":\"object\",\"required\":[\"a\"],\"additionalProperties\":false}", "\"a\""},
        {"{\"type\":\"object\",\"minProperties\":2}", "minProperties"},
        {"{\"type\":\"object\",\"properties\":{\"x\":{\"enum\":[1],\"type\":\"string\"}},"
         "\"required\":[\"x\"]}",
         "matches nothing"},
        {"{\"type\":", "invalid JSON"},
        {"{\"enum\":[\"\xbc\"]}", "invalid UTF-8"},
        {"{\"const\":\"\xed\xa0\x80\"}", "invalid UTF-8"}, /* a surrogate */
        {"[1]", "object or a boolean"},
        {"false", "matches nothing"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        char err[512] = "";
        char *text = NULL;
        int rc = gr_json_schema_to_gbnf(refused[i][0], strlen(refused[i][0]), "", NULL, &text, err,
                                        sizeof err);
        CHECKF(rc == GR_ERR && !text, "should be refused: %s", refused[i][0]);
        CHECKF(strstr(err, refused[i][1]) != NULL, "error for %s should name %s: %s", refused[i][0],
               refused[i][1], err);
        free(text);
    }
}

/* Options: rule prefix, flexible whitespace (bounded), strict additionalProperties. */
static void test_options(void)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"items\":"
                    "{\"type\":\"integer\"}}},\"required\":[\"a\"]}";
    char err[512] = "";
    char *text = NULL;
    CHECK(gr_json_schema_to_gbnf(s, strlen(s), "tool-x-", NULL, &text, err, sizeof err) == GR_OK);
    /* every rule defined starts with the prefix, and the start rule is prefix + root */
    CHECK(text && strncmp(text, "tool-x-root ::= ", 16) == 0);
    for (char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        CHECKF(strncmp(line, "tool-x-", 7) == 0, "rule without prefix: %.40s", line);
    /* composing: the prefixed grammar inside a wrapper */
    if (text) {
        size_t n = strlen(text) + 128;
        char *wrapped = malloc(n);
        snprintf(wrapped, n, "root ::= \"<call>\" tool-x-root \"</call>\"\n%s", text);
        gr_grammar *g = compile(V, wrapped);
        CHECK(g && matches(g, "<call>{\"a\":[1,2]}</call>", 24));
        CHECK(g && !matches(g, "<call>{\"a\":[\"1\"]}</call>", 26));
        gr_grammar_free(g);
        free(wrapped);
    }
    free(text);
    CHECK(gr_json_schema_to_gbnf(s, strlen(s), "bad prefix", NULL, &text, err, sizeof err) ==
          GR_ERR);

    gr_json_options flex = {.flexible_whitespace = true, .max_whitespace = 2};
    gr_grammar *g = NULL;
    CHECK(gr_compile_json_schema(&g, V, s, strlen(s), &flex, err, sizeof err) == GR_OK);
    const char *ok[] = {"{\"a\":[1,2]}", "{ \"a\" : [ 1 , 2 ] }", "{\n\t\"a\":\r\n[]}"};
    for (size_t i = 0; g && i < 3; i++)
        CHECKF(matches(g, ok[i], strlen(ok[i])), "flex: %s", ok[i]);
    const char *bad[] = {"{   \"a\":[]}", " {\"a\":[]}", "{\"a\":[1,,2]}"};
    for (size_t i = 0; g && i < 3; i++)
        CHECKF(!matches(g, bad[i], strlen(bad[i])), "flex: %s", bad[i]);
    gr_grammar_free(g);

    gr_json_options strict = {.strict = true};
    const char *o = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}";
    CHECK(gr_compile_json_schema(&g, V, o, strlen(o), &strict, err, sizeof err) == GR_OK);
    CHECK(g && matches(g, "{\"a\":1}", 7) && !matches(g, "{\"b\":1}", 7));
    gr_grammar_free(g);
    CHECK(gr_compile_json_schema(&g, V, o, strlen(o), NULL, err, sizeof err) == GR_OK);
    CHECK(g && matches(g, "{\"b\":1}", 7));
    gr_grammar_free(g);

    /* declared_only (what the server sets, as vLLM's xgrammar backend): an object schema that
     * declares properties takes no other key unless it says so; one that declares none, any key;
     * a required name outside `properties` any value. */
    gr_json_options declared = {.declared_only = true};
    CHECK(gr_compile_json_schema(&g, V, o, strlen(o), &declared, err, sizeof err) == GR_OK);
    CHECK(g && matches(g, "{\"a\":1}", 7) && matches(g, "{}", 2) && !matches(g, "{\"b\":1}", 7));
    gr_grammar_free(g);
    const char *nested = "{\"type\":\"object\",\"properties\":{\"in\":{\"type\":\"object\","
                         "\"properties\":{\"x\":{}}},\"free\":{\"type\":\"object\"}},"
                         "\"required\":[\"in\",\"z\"]}";
    CHECK(gr_compile_json_schema(&g, V, nested, strlen(nested), &declared, err, sizeof err) ==
          GR_OK);
    const char *nested_ok[] = {"{\"in\":{\"x\":1},\"z\":[true]}",
                               "{\"in\":{},\"free\":{\"any\":{\"k\":2}},\"z\":null}"};
    for (size_t i = 0; g && i < 2; i++)
        CHECKF(matches(g, nested_ok[i], strlen(nested_ok[i])), "declared_only: %s", nested_ok[i]);
    const char *nested_bad[] = {"{\"in\":{\"y\":1},\"z\":1}", "{\"in\":{},\"z\":1,\"w\":1}",
                                "{\"in\":{}}"};
    for (size_t i = 0; g && i < 3; i++)
        CHECKF(!matches(g, nested_bad[i], strlen(nested_bad[i])), "declared_only: %s",
               nested_bad[i]);
    gr_grammar_free(g);
    const char *open_ = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
                        "\"additionalProperties\":true}";
    CHECK(gr_compile_json_schema(&g, V, open_, strlen(open_), &declared, err, sizeof err) == GR_OK);
    CHECK(g && matches(g, "{\"a\":1,\"b\":1}", 13));
    gr_grammar_free(g);
    /* strict wins: a required name outside `properties` has no allowed value */
    gr_json_options both = {.strict = true, .declared_only = true};
    CHECK(gr_compile_json_schema(&g, V, nested, strlen(nested), &both, err, sizeof err) == GR_ERR);

    /* json_object: any object, whatever strict says */
    CHECK(gr_compile_json_object(&g, V, &strict, err, sizeof err) == GR_OK);
    const char *any = "{\"x\":{\"y\":[1,\"2\",null]}}";
    CHECK(g && matches(g, any, strlen(any)) && matches(g, "{}", 2));
    CHECK(g && !matches(g, "[]", 2) && !matches(g, "1", 1));
    gr_grammar_free(g);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Pathological schemas: each compiles or fails within a few seconds, never hangs or crashes. */
static void test_pathological(void)
{
    char err[512];
    size_t cap = 4 << 20;
    char *s = malloc(cap);
    /* 100000 nested arrays */
    size_t n = 0;
    for (int i = 0; i < 100000; i++)
        n += (size_t)sprintf(s + n, "{\"type\":\"array\",\"items\":");
    n += (size_t)sprintf(s + n, "{}");
    for (int i = 0; i < 100000; i++)
        s[n++] = '}';
    double t0 = now_s();
    gr_grammar *g = NULL;
    int rc = gr_compile_json_schema(&g, V, s, n, NULL, err, sizeof err);
    CHECKF(rc == GR_ERR && (strstr(err, "nesting") || strstr(err, "invalid JSON")), "deep: %s",
           err);
    /* a huge enum */
    n = (size_t)sprintf(s, "{\"enum\":[");
    for (int i = 0; i < 100000; i++)
        n += (size_t)sprintf(s + n, "%s\"value-%d\"", i ? "," : "", i);
    n += (size_t)sprintf(s + n, "]}");
    rc = gr_compile_json_schema(&g, V, s, n, NULL, err, sizeof err);
    fprintf(stderr, "huge enum: %s\n", rc == GR_OK ? "compiled" : err);
    if (rc == GR_OK) {
        CHECK(matches(g, "\"value-99999\"", 13));
        CHECK(!matches(g, "\"value-100000\"", 14));
        gr_grammar_free(g);
    }
    /* exponential allOf/anyOf distribution and nested repetitions */
    n = (size_t)sprintf(s, "{\"allOf\":[");
    for (int i = 0; i < 40; i++)
        n += (size_t)sprintf(s + n, "%s{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}",
                             i ? "," : "");
    n += (size_t)sprintf(s + n, "]}");
    rc = gr_compile_json_schema(&g, V, s, n, NULL, err, sizeof err);
    if (rc == GR_OK) gr_grammar_free(g);
    const char *rep = "{\"type\":\"string\",\"pattern\":\"^((a{1,1000}){1,1000}){1,1000}$\"}";
    rc = gr_compile_json_schema(&g, V, rep, strlen(rep), NULL, err, sizeof err);
    fprintf(stderr, "nested repetitions: %s\n", rc == GR_OK ? "compiled" : err);
    if (rc == GR_OK) gr_grammar_free(g);
    const char *many = "{\"type\":\"array\",\"minItems\":5000,\"maxItems\":9000,"
                       "\"items\":{\"type\":\"string\",\"maxLength\":9000}}";
    rc = gr_compile_json_schema(&g, V, many, strlen(many), NULL, err, sizeof err);
    if (rc == GR_OK) gr_grammar_free(g);
    double dt = now_s() - t0;
    CHECKF(dt < 20, "pathological schemas took %.1f s", dt);
    free(s);
}

/* A pattern key is never read as a defined one: after each member of an object whose 24 required
 * names all match its pattern, the parse holds as many stacks as after the first (it used to fork
 * at every key, one more way per key read, until a mask went over the matcher's bounds). */
static void test_pattern_keys_do_not_fork(void)
{
    char schema[2048], doc[1024];
    size_t n = (size_t)snprintf(schema, sizeof schema,
                                "{\"type\":\"object\",\"patternProperties\":{\"K|Q\":{\"type\":"
                                "\"number\"}},\"additionalProperties\":false,\"required\":[");
    size_t d = (size_t)snprintf(doc, sizeof doc, "{");
    for (int i = 0; i < 24; i++) {
        n += (size_t)snprintf(schema + n, sizeof schema - n, "%s\"K%02d\"", i ? "," : "", i);
        d += (size_t)snprintf(doc + d, sizeof doc - d, "%s\"K%02d\":%d", i ? "," : "", i, i);
    }
    snprintf(schema + n, sizeof schema - n, "]}");
    snprintf(doc + d, sizeof doc - d, "}");
    gr_grammar *g = NULL;
    char err[512];
    CHECKF(gr_compile_json_schema(&g, V, schema, strlen(schema), NULL, err, sizeof err) == GR_OK,
           "%s", err);
    gr_matcher *m = g ? gr_matcher_new(g) : NULL;
    int32_t first = -1, most = 0;
    for (size_t i = 0; m && doc[i]; i++) {
        CHECKF(gr_matcher_accept_bytes(m, (const uint8_t *)doc + i, 1) == GR_OK, "byte %zu", i);
        if (doc[i] != '"' || doc[i - 1] != ',') continue;
        int32_t tops = m->states[m->cur].n_tops;
        if (first < 0) first = tops;
        if (tops > most) most = tops;
    }
    CHECK(m && gr_matcher_is_complete(m));
    CHECKF(first > 0 && most == first, "stacks at a key: %d at the second, up to %d later", first,
           most);
    gr_matcher_free(m);
    gr_grammar_free(g);
}

int main(void)
{
    tok_tokenizer *tok = small_tokenizer();
    CHECK(tok != NULL);
    if (!tok) return test_finish("grammar_json_schema");
    int32_t eos = SMALL_EOS;
    char err[256];
    CHECK(gr_vocab_new(&V, tok, &eos, 1, err, sizeof err) == GR_OK);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_case(&cases[i]);
    test_refusals();
    test_options();
    test_pathological();
    test_pattern_keys_do_not_fork();
    gr_vocab_free(V);
    tok_free(tok);
    return test_finish("grammar_json_schema");
}
