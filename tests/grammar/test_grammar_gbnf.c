/* The GBNF compiler and the matcher on a synthetic vocabulary: parse errors name line and column;
 * hand-written grammars (recursion, Unicode classes, repetition bounds, escapes) accept and reject
 * exactly the right byte strings; masks agree with trying every token; EOS exactly when complete;
 * special tokens never; choices. */
#include "tests/grammar/grammar_test_util.h"

static gr_vocab *vocab;
static tok_tokenizer *tok;
static const int32_t eos_id = SMALL_EOS;

static void expect_error(const char *gbnf, const char *frag1, const char *frag2)
{
    gr_grammar *g = NULL;
    char err[512] = "";
    int rc = gr_compile_gbnf(&g, vocab, gbnf, strlen(gbnf), err, sizeof err);
    CHECKF(rc == GR_ERR && g == NULL, "should fail: %s", gbnf);
    CHECKF(strstr(err, frag1) != NULL, "error \"%s\" lacks \"%s\" (grammar %s)", err, frag1, gbnf);
    CHECKF(!frag2 || strstr(err, frag2) != NULL, "error \"%s\" lacks \"%s\" (grammar %s)", err,
           frag2, gbnf);
    gr_grammar_free(g);
}

static void test_errors(void)
{
    expect_error("root ::= foo\n", "line 1, column 10", "undefined rule 'foo'");
    expect_error("root ::= \"a\"\n\nx ::= \"b\" | y\n", "line 3, column 13", "undefined rule 'y'");
    expect_error("start ::= \"a\"\n", "no rule named 'root'", NULL);
    expect_error("root \"a\"\n", "line 1, column 6", "expected '::='");
    expect_error("root ::= \"abc\n", "line 1, column 10", "unterminated string");
    expect_error("root ::= [a-z\n", "line 1, column 10", "unterminated character class");
    expect_error("root ::= \"\\q\"", "line 1, column 11", "unknown escape \\q");
    expect_error("root ::= \"\\x4\"", "line 1, column 11", "hexadecimal");
    expect_error("root ::= \"\\ud800\"", "surrogate", NULL);
    expect_error("root ::= [z-a]", "line 1, column 12", "out of order");
    expect_error("root ::= (\"a\" | \"b\"\n", "line 1, column 10", "unclosed '('");
    expect_error("root ::= \"a\" )", "line 1, column 14", "unmatched ')'");
    expect_error("root ::= * \"a\"", "line 1, column 10", "needs an item");
    expect_error("root ::= \"a\"{3,1}", "n < m", NULL);
    expect_error("root ::= \"a\"{200000}", "limit", NULL);
    expect_error("root ::= \"a\"{2", "expected '}'", NULL);
    expect_error("root ::= \"a\"*+", "line 1, column 14", "needs an item");
    expect_error("root ::= \"a\"{2}?", "needs an item", NULL);
    expect_error("root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1", "defined twice");
    expect_error("root ::= root \"a\" | \"b\"", "left-recursive", "'root'");
    expect_error("root ::= x\nx ::= y \"a\"\ny ::= \"b\"? x | \"c\"", "left-recursive", NULL);
    expect_error("root ::= [^\\x00-\\U0010FFFF]", "matches no string", NULL);
    expect_error("root ::= \"a\" root", "matches no string", NULL);
    expect_error("root ::= \"\xff\"", "invalid UTF-8", NULL);
    expect_error("root ::= @", "line 1, column 10", "unexpected character '@'");
    gr_grammar *none = NULL;
    char e2[128];
    CHECK(gr_compile_gbnf(&none, NULL, "root ::= \"a\"", 12, e2, sizeof e2) == GR_ERR &&
          strstr(e2, "vocabulary"));
    /* too deep nesting is refused, not a stack overflow */
    char deep[2000];
    size_t n = (size_t)sprintf(deep, "root ::= ");
    for (int i = 0; i < 300; i++)
        deep[n++] = '(';
    deep[n++] = '"', deep[n++] = 'a', deep[n++] = '"';
    for (int i = 0; i < 300; i++)
        deep[n++] = ')';
    deep[n] = 0;
    expect_error(deep, "nested too deeply", NULL);
    /* nested repetition shares the repeated rule, so a huge language stays a small grammar */
    gr_grammar *g = compile(vocab, "root ::= ((((\"ab\"{1000}){1000}){1000}){1000})");
    CHECK(g && !matches(g, "abab", 4));
    gr_grammar_free(g);
    /* a blow-up of elements is refused by the size bound, quickly */
    expect_error("root ::= \"a\"{0,100000} \"b\"{0,100000} \"c\"{0,100000} \"d\"{0,100000} "
                 "\"e\"{0,100000} \"f\"{0,100000} \"g\"{0,100000} \"h\"{0,100000}",
                 "too large", NULL);
}

typedef struct lang_case {
    const char *s;
    bool ok;
} lang_case;

static void check_language(const char *gbnf, const lang_case *cases, size_t n)
{
    gr_grammar *g = compile(vocab, gbnf);
    if (!g) return;
    for (size_t i = 0; i < n; i++) {
        bool got = matches(g, cases[i].s, strlen(cases[i].s));
        CHECKF(got == cases[i].ok, "grammar %s: \"%s\" %s but should be %s", gbnf, cases[i].s,
               got ? "accepted" : "rejected", cases[i].ok ? "accepted" : "rejected");
    }
    gr_grammar_free(g);
}

#define LANG(gbnf, ...)                                                                            \
    do {                                                                                           \
        static const lang_case c_[] = {__VA_ARGS__};                                               \
        check_language(gbnf, c_, sizeof c_ / sizeof *c_);                                          \
    } while (0)

static void test_languages(void)
{
    LANG("root ::= \"a\" | \"b\" \"c\"", {"a", true}, {"bc", true}, {"b", false}, {"", false},
         {"ac", false}, {"bcc", false});
    /* comments, newlines inside rules, rule order */
    LANG("# a comment\nroot ::=\n  x   # trailing\n  | \"z\"\nx ::= \"x\"\n   \"y\"", {"xy", true},
         {"z", true}, {"x", false});
    /* recursion: balanced parentheses */
    LANG("root ::= \"(\" root \")\" root | \"\"", {"", true}, {"()", true}, {"(())()", true},
         {"(()", false}, {")(", false},
         {"((((((((((((((((((((((((((((((()))))))))))))))))))))))))))))))", true});
    /* arithmetic with precedence via repetition */
    LANG("root ::= expr\nexpr ::= term (\"+\" term)*\nterm ::= [0-9]+ | \"(\" expr \")\"",
         {"1", true}, {"1+2", true}, {"(1+2)+34", true}, {"1+", false}, {"+1", false},
         {"((1))", true}, {"(1+(2+3))", true}, {"(1+(2+3)", false});
    /* repetition bounds */
    LANG("root ::= \"a\"{2,3}", {"a", false}, {"aa", true}, {"aaa", true}, {"aaaa", false});
    LANG("root ::= \"ab\"{2}", {"ab", false}, {"abab", true}, {"ababab", false});
    LANG("root ::= \"a\"{2,} \"b\"", {"ab", false}, {"aab", true}, {"aaaaaab", true});
    LANG("root ::= (\"x\" | \"yz\"){0,2}", {"", true}, {"x", true}, {"yzx", true}, {"xxx", false},
         {"y", false});
    LANG("root ::= \"a\"? \"b\"+ \"c\"*", {"b", true}, {"abbc", true}, {"ac", false},
         {"abccc", true});
    /* nullable repetitions terminate */
    LANG("root ::= (\"a\"?)* \"b\"", {"b", true}, {"aaab", true}, {"aa", false});
    LANG("root ::= ((\"a\"*)*)* ", {"", true}, {"aaaa", true}, {"ab", false});
    /* escapes, code points as UTF-8 */
    LANG("root ::= \"\\x41\\u00e9\\n\\t\\\"\\\\\\U0001F600\"",
         {"A\xc3\xa9\n\t\"\\\xf0\x9f\x98\x80", true}, {"A\xe9\n\t\"\\", false});
    /* classes: Unicode ranges, negation, any character */
    LANG("root ::= [α-ω]+", {"αβω", true}, {"a", false}, {"\xce\xb1\xce", false}, {"Ω", false});
    LANG("root ::= \"\\\"\" [^\"\\\\]* \"\\\"\"", {"\"\"", true}, {"\"héllo 世界 😀\"", true},
         {"\"a\\\"", false}, {"\"a\"b\"", false}, {"\"\xff\"", false}, {"\"\xed\xa0\x80\"", false},
         {"\"\xc0\xaf\"", false});
    LANG("root ::= .{3}", {"abc", true}, {"a世😀", true}, {"ab", false}, {"\xe4\xb8", false},
         {"abcd", false});
    LANG("root ::= [\\x00-\\x7f\\u0100]", {"\x01", true}, {"\xc4\x80", true}, {"\xc3\xbf", false});
    LANG("root ::= [a-cx-z-]+", {"abz-", true}, {"d", false});
    LANG("root ::= []? \"k\"", {"k", true});
    /* a byte-order mark and CRLF line ends */
    LANG("\xEF\xBB\xBFroot ::= a\r\na ::= \"x\" |\r\n  \"y\"\r\n", {"x", true}, {"y", true});
    /* rule names with dashes and digits; forward references */
    LANG("root ::= my-rule2 my-rule2\nmy-rule2 ::= [0-9]", {"12", true}, {"1", false});
}

/* Walks text through a matcher token by token (greedy longest token), checking the mask at every
 * step against the brute force. */
static void check_masks_along(const char *gbnf, const char *text)
{
    gr_grammar *g = compile(vocab, gbnf);
    if (!g) return;
    gr_matcher *m = gr_matcher_new(g);
    size_t len = strlen(text), at = 0;
    while (1) {
        check_mask(vocab, g, m, (const uint8_t *)text, at, &eos_id, 1, tok, gbnf);
        size_t w = (size_t)gr_mask_words(vocab);
        uint32_t *mask = calloc(w, 4);
        gr_matcher_fill_mask(m, mask);
        CHECKF(((mask[SMALL_EOS >> 5] >> (SMALL_EOS & 31)) & 1) == matches(g, text, at),
               "%s: EOS allowed exactly when complete (at %zu of %zu)", gbnf, at, len);
        CHECK(gr_matcher_is_complete(m) == matches(g, text, at));
        CHECK(!((mask[SMALL_PAD >> 5] >> (SMALL_PAD & 31)) & 1));
        free(mask);
        if (at == len) break;
        /* one byte at a time keeps every intermediate state covered */
        CHECK(gr_matcher_accept_token(m, (uint8_t)text[at]) == GR_OK);
        at++;
    }
    CHECK(gr_matcher_is_complete(m));
    CHECK(gr_matcher_accept_token(m, SMALL_EOS) == GR_OK);
    CHECK(gr_matcher_accept_token(m, SMALL_PAD) == GR_ERR);
    gr_matcher_free(m);
    gr_grammar_free(g);
}

static void test_masks(void)
{
    check_masks_along(
        "root ::= \"{\\\"\" [a-z]+ \"\\\":\" (\"true\" | \"false\" | \"null\" | [0-9]+) "
        "\"}\"",
        "{\"abc\":123}");
    check_masks_along("root ::= \"(\" root \")\" | \"a\"", "((a))");
    check_masks_along("root ::= [α-ω]+ \"é\"? \"x\"", "αβéx");
    check_masks_along("root ::= \"<tc>\" \"x\"* ", "<tc>xx");
    /* free text: whole slices of the vocabulary allowed wholesale, the rest walked */
    check_masks_along("root ::= \"\\\"\" [^\"\\\\\\x00-\\x1f]* \"\\\"\"", "\"aéαβ \"");
    check_masks_along("root ::= .* \"!\"", "x\nαé!");
    check_masks_along("root ::= [^\"]{0,3} \"\\\"\"", "ab\"");
    check_masks_along("root ::= ([^\"] | \"\\\"\" \"x\")* \"}\"", "a\"x}");
    /* the grammar is complete but can go on: EOS and continuations both allowed */
    check_masks_along("root ::= \"a\"* \"b\"?", "aab");
}

static void test_tokens(void)
{
    gr_grammar *g = compile(vocab, "root ::= \"<tc>\" \"x\" | \"ab\" \"c\"?");
    gr_matcher *m = gr_matcher_new(g);
    CHECK(!gr_matcher_is_complete(m) && !gr_matcher_is_terminated(m));
    CHECK(gr_matcher_accept_token(m, SMALL_EOS) == GR_ERR);
    CHECK(gr_matcher_accept_token(m, 'q') == GR_ERR);
    CHECK(gr_matcher_accept_token(m, -1) == GR_ERR);
    CHECK(gr_matcher_accept_token(m, 1 << 30) == GR_ERR);
    CHECK(gr_matcher_accept_token(m, 256 + 1) == GR_OK); /* "abc" */
    CHECK(gr_matcher_is_complete(m) && gr_matcher_is_terminated(m));
    gr_matcher_free(m);
    m = gr_matcher_new(g);
    CHECK(gr_matcher_accept_token(m, SMALL_TC) == GR_OK); /* non-special added token, by bytes */
    CHECK(!gr_matcher_is_complete(m));
    CHECK(gr_matcher_accept_token(m, 'x') == GR_OK);
    CHECK(gr_matcher_is_terminated(m));
    gr_matcher_free(m);
    m = gr_matcher_new(g);
    CHECK(gr_matcher_accept_token(m, 'a') == GR_OK);
    CHECK(gr_matcher_accept_token(m, 'x') == GR_ERR); /* rejected: unchanged */
    CHECK(gr_matcher_accept_token(m, 'b') == GR_OK);
    CHECK(gr_matcher_is_complete(m) && !gr_matcher_is_terminated(m));
    gr_matcher_free(m);
    gr_grammar_free(g);
}

/* Many named rules (as generated grammars have): a chain r0 -> r1 -> ... each adding a byte. */
static void test_many_rules(void)
{
    enum { N = 3000 };
    char *text = malloc(N * 40), *w = text;
    w += sprintf(w, "root ::= r0\n");
    for (int i = 0; i < N; i++)
        w += i + 1 < N ? sprintf(w, "r%d ::= [a-c] r%d | \"z\"\n", i, i + 1)
                       : sprintf(w, "r%d ::= \"end\"\n", i);
    gr_grammar *g = compile(vocab, text);
    char *in = malloc(N + 8);
    memset(in, 'b', N - 1);
    memcpy(in + N - 1, "end", 4);
    CHECK(g && matches(g, in, strlen(in)) && matches(g, "abz", 3) && !matches(g, "abend", 5));
    gr_grammar_free(g);
    free(in), free(text);
}

/* A long bounded run creates a new state per byte: past the table bounds the matcher rebuilds its
 * tables around the live state and goes on exactly (masks still agree with the brute force). */
static void test_compaction(void)
{
    gr_grammar *g = compile(vocab, "root ::= \"(\" [a-z]{0,50000} \")\"");
    gr_matcher *m = g ? gr_matcher_new(g) : NULL;
    if (!m) return;
    enum { N = 40000 };
    uint8_t *text = malloc(N + 2);
    text[0] = '(';
    for (int i = 1; i <= N; i++)
        text[i] = (uint8_t)('a' + i % 26);
    text[N + 1] = ')';
    CHECK(gr_matcher_accept_token(m, '(') == GR_OK);
    bool ok = true;
    for (int i = 1; i <= N && ok; i++)
        ok = gr_matcher_accept_token(m, text[i]) == GR_OK;
    CHECK(ok);
    int32_t eos = SMALL_EOS;
    check_mask(vocab, g, m, text, N + 1, &eos, 1, tok, "after 40000 bytes");
    CHECK(gr_matcher_accept_token(m, ')') == GR_OK && gr_matcher_is_terminated(m));
    gr_matcher_free(m);
    gr_grammar_free(g);
    free(text);
}

static void test_choice(void)
{
    const char *choices[] = {"yes", "no", "n/a", "", "日本"};
    gr_grammar *g = NULL;
    char err[256];
    CHECK(gr_compile_choice(&g, vocab, choices, 5, err, sizeof err) == GR_OK);
    CHECK(matches(g, "yes", 3) && matches(g, "no", 2) && matches(g, "", 0) && matches(g, "n/a", 3));
    CHECK(matches(g, "日本", strlen("日本")) && !matches(g, "ye", 2) && !matches(g, "yess", 4));
    gr_grammar_free(g);
    CHECK(gr_compile_choice(&g, vocab, choices, 0, err, sizeof err) == GR_ERR &&
          strstr(err, "empty"));
    /* a long list with shared prefixes and duplicates: exactly the listed strings */
    enum { N = 1200 };
    char *many[N];
    for (int i = 0; i < N; i++) {
        many[i] = malloc(32);
        if (i < 1000)
            snprintf(many[i], 32, "item-%d", i * 7 % 1000);
        else
            snprintf(many[i], 32, "%s", i % 2 ? "item" : "item-1");
    }
    CHECK(gr_compile_choice(&g, vocab, (const char *const *)many, N, err, sizeof err) == GR_OK);
    for (int i = 0; i < 1000 && g; i++) {
        char s[32];
        snprintf(s, sizeof s, "item-%d", i);
        CHECKF(matches(g, s, strlen(s)), "choice %s", s);
        snprintf(s, sizeof s, "item-%dx", i);
        CHECK(!matches(g, s, strlen(s)));
    }
    CHECK(g && matches(g, "item", 4) && !matches(g, "item-", 5) && !matches(g, "ite", 3));
    CHECK(g && !matches(g, "item-1000", 9) && !matches(g, "", 0));
    gr_matcher *m = g ? gr_matcher_new(g) : NULL;
    if (m) {
        int32_t eos = SMALL_EOS;
        check_mask(vocab, g, m, NULL, 0, &eos, 1, tok, "choice start");
        CHECK(gr_matcher_accept_bytes(m, (const uint8_t *)"item-4", 6) == GR_OK);
        check_mask(vocab, g, m, (const uint8_t *)"item-4", 6, &eos, 1, tok, "choice item-4");
        CHECK(gr_matcher_is_complete(m) && !gr_matcher_is_terminated(m));
    }
    gr_matcher_free(m);
    gr_grammar_free(g);
    for (int i = 0; i < N; i++)
        free(many[i]);
}

int main(void)
{
    tok = small_tokenizer();
    CHECK(tok != NULL);
    if (!tok) return test_finish("grammar_gbnf");
    char err[256];
    int32_t bad = 1 << 20;
    CHECK(gr_vocab_new(&vocab, tok, &bad, 1, err, sizeof err) == GR_ERR && strstr(err, "outside"));
    CHECK(gr_vocab_new(&vocab, tok, &eos_id, 1, err, sizeof err) == GR_OK);
    CHECK(gr_vocab_size(vocab) == SMALL_TC + 1);
    CHECK(gr_mask_words(vocab) == (size_t)(SMALL_TC + 1 + 31) / 32);
    test_errors();
    test_languages();
    test_masks();
    test_tokens();
    test_many_rules();
    test_compaction();
    test_choice();
    gr_vocab_free(vocab);
    tok_free(tok);
    return test_finish("grammar_gbnf");
}
