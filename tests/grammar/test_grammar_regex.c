/* The regex front end: ECMAScript-style patterns match exactly the right strings in full (classes,
 * escapes, Unicode, groups, alternation, bounded and lazy quantifiers, anchors at the ends); the
 * search flag gives JSON Schema `pattern` semantics; the JSON-string flag matches the escaped form;
 * unsupported constructs are refused with their offset; the rule prefix composes. */
#include "tests/grammar/grammar_test_util.h"

static gr_vocab *vocab;

static gr_grammar *regex_grammar(const char *re, unsigned flags)
{
    char *gbnf = NULL, err[512] = "";
    int rc = gr_regex_to_gbnf_ex(re, "p-", flags, &gbnf, err, sizeof err);
    CHECKF(rc == GR_OK, "regex %s: %s", re, err);
    if (rc != GR_OK) return NULL;
    /* the prefixed start rule embeds in a larger grammar */
    size_t n = strlen(gbnf) + 64;
    char *full = malloc(n);
    snprintf(full, n, "root ::= p-root\n%s", gbnf);
    gr_grammar *g = compile(vocab, full);
    free(full);
    free(gbnf);
    return g;
}

static void check_regex(const char *re, unsigned flags, const char *const *yes,
                        const char *const *no)
{
    gr_grammar *g = regex_grammar(re, flags);
    if (!g) return;
    for (; yes && *yes; yes++)
        CHECKF(matches(g, *yes, strlen(*yes)), "regex %s (flags %u) should match \"%s\"", re, flags,
               *yes);
    for (; no && *no; no++)
        CHECKF(!matches(g, *no, strlen(*no)), "regex %s (flags %u) should not match \"%s\"", re,
               flags, *no);
    gr_grammar_free(g);
}

#define RX(re, flags, yes, no)                                                                     \
    do {                                                                                           \
        static const char *const y_[] = {yes, NULL}, *const n_[] = {no, NULL};                     \
        check_regex(re, flags, y_, n_);                                                            \
    } while (0)
#define L(...) __VA_ARGS__

static void test_full_match(void)
{
    RX("abc", 0, L("abc"), L("ab", "abcd", "xabc", ""));
    RX("^abc$", 0, L("abc"), L("abcabc"));
    RX("a|bc|", 0, L("a", "bc", ""), L("b", "abc"));
    RX("^(?:a|b)+$", 0, L("a", "abba"), L("", "abc"));
    RX("(ab){2,3}", 0, L("abab", "ababab"), L("ab", "abababab"));
    RX("x{3}y{1,}z{0,2}", 0, L("xxxy", "xxxyyzz"), L("xxy", "xxxyzzz"));
    RX("a{2,}?b*?c+?d??", 0, L("aac", "aaabbccd"), L("ac"));
    RX("\\d{3}-\\d{4}", 0, L("555-1234"), L("55-1234", "555-12a4"));
    RX("\\w+\\s\\W\\S\\D", 0, L("ab_9 !xq", "a\t.\xc3\xa9z"), L("ab !x1", "a b!xq"));
    RX("[a-c\\d_-]+", 0, L("a-9_c"), L("d"));
    RX("[^a-c]", 0, L("d", "é", "\n"), L("a", ""));
    RX("[]a|b", 0, L("b"), L("a"));
    RX("[^]", 0, L("\n", "x"), L(""));
    RX(".", 0, L("a", "世", "😀"), L("\n", "\r", "\xe2\x80\xa8", ""));
    RX("\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$\\/\\\\", 0, L(".*+?()[]{}|^$/\\"), L("x"));
    RX("\\x41\\u00e9\\u{1F600}\\uD83D\\uDE00\\n\\t", 0, L("Aé😀😀\n\t"), L("Ae"));
    RX("[\\u0100-\\u017F]+", 0, L("ĀžſĀ"), L("A", "ƀ"));
    RX("(?<year>\\d{4})-(?<m>\\d\\d)", 0, L("2024-05"), L("2024-5"));
    RX("a{,2}", 0, L("a{,2}"), L("aa"));
    RX("a{x", 0, L("a{x"), L("a"));
    RX("[a\\-z]", 0, L("-", "a", "z"), L("b"));
    RX("[\\d-z]", 0, L("5", "-", "z"), L("y"));
    RX("[\\b]", 0, L("\b"), L("b"));
    RX("^\\+?[1-9]\\d{1,14}$", 0, L("+14155552671", "14155552671"), L("+0123", "+1"));
    RX("^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$", 0, L("a.b@c.io"), L("a@b", "@c.io"));
    RX("(a*)*b", 0, L("b", "aaab"), L("aa"));
}

static void test_search(void)
{
    RX("abc", GR_REGEX_SEARCH, L("abc", "xxabcyy", "\nabc\n"), L("ab", "acb"));
    RX("^abc", GR_REGEX_SEARCH, L("abc", "abcyy"), L("xabc"));
    RX("abc$", GR_REGEX_SEARCH, L("abc", "xxabc"), L("abcx"));
    RX("^a$|b", GR_REGEX_SEARCH, L("a", "xbx"), L("ax", "xa"));
    RX("", GR_REGEX_SEARCH, L("", "anything"), L(NULL));
    /* a top-level alternative that is one group carries its anchors into the group */
    RX("(^a$)|(^b)", GR_REGEX_SEARCH, L("a", "bxx"), L("xa", "ax", "xb"));
    RX("^(a|$)", GR_REGEX_SEARCH, L("a", "", "axx"), L("xa", "x"));
    RX("(?:^\\d+$)|x", GR_REGEX_SEARCH, L("12", "axb"), L("1a", "a"));
    RX("(^Hpt_|^Int_|_Armour_)", GR_REGEX_SEARCH, L("Hpt_x", "a_Armour_b"), L("aHpt_", "Int"));
    RX("(^a$)|(b)", 0, L("a", "b"), L("ab", ""));
}

static void test_json_string(void)
{
    /* the text between the quotes as json.dumps(ensure_ascii=False) writes it */
    RX("a\"b\\\\c", GR_REGEX_JSON_STRING, L("a\\\"b\\\\c"), L("a\"b\\c"));
    RX("[\\s\\S]*", GR_REGEX_JSON_STRING, L("", "x\\ny\\t\\\"\\\\ é \\u0001\\u001f\x7f"),
       L("\n", "\"", "\\", "\\u000a", "\\/", "\\u0041"));
    RX(".{2}", GR_REGEX_JSON_STRING, L("\\\"\\\\", "\\u0000a"), L("\\n\\n", "\\r."));
    RX("[^a]", GR_REGEX_JSON_STRING, L("\\b", "\\f", "\\\""), L("a", "\b"));
    RX("\\d+", GR_REGEX_JSON_STRING | GR_REGEX_SEARCH, L("ab12", "9", "\\\"1\\n"),
       L("ab", "\"1", "1\\", "1\n", "\\x1"));
}

static void expect_error(const char *re, const char *frag)
{
    char *gbnf = NULL, err[512] = "";
    int rc = gr_regex_to_gbnf(re, "", &gbnf, err, sizeof err);
    CHECKF(rc == GR_ERR && gbnf == NULL, "regex %s should be refused", re);
    CHECKF(strstr(err, frag) && strstr(err, "regex:"), "regex %s: error \"%s\" lacks \"%s\"", re,
           err, frag);
    free(gbnf);
    gr_grammar *g = NULL;
    CHECK(gr_compile_regex(&g, vocab, re, err, sizeof err) == GR_ERR && g == NULL);
}

static void test_errors(void)
{
    expect_error("(a)\\1", "backreferences are not supported at offset 3");
    expect_error("(?<n>a)\\k<n>", "backreferences");
    expect_error("a(?=b)", "lookahead and lookbehind are not supported at offset 1");
    expect_error("a(?!b)", "lookahead");
    expect_error("(?<=a)b", "lookahead");
    expect_error("(?<!a)b", "lookahead");
    expect_error("(?i)abc", "group modifiers");
    expect_error("(?", "group modifiers");
    expect_error("\\bword\\b", "word boundary");
    expect_error("a^b", "anchor ^");
    expect_error("a$b", "anchor $");
    expect_error("a(^b)", "anchor ^");
    expect_error("(^a)b", "anchor ^");
    expect_error("(a$)*", "anchor $");
    expect_error("*a", "nothing to repeat at offset 0");
    expect_error("a**", "nothing to repeat");
    expect_error("(ab", "unclosed group");
    expect_error("ab)", "unmatched ')' at offset 2");
    expect_error("[ab", "unterminated character class");
    expect_error("[z-a]", "out of order");
    expect_error("a{3,1}", "out of order");
    expect_error("a{1000000}", "limit");
    expect_error("\\p{L}", "property");
    expect_error("\\x4", "hexadecimal");
    expect_error("\\uD800", "surrogate");
    expect_error("\\q", "unknown escape");
    expect_error("a\\", "lone backslash");
    expect_error("\xff", "invalid UTF-8");
    char *gbnf = NULL, err[256];
    CHECK(gr_regex_to_gbnf("a", "bad prefix", &gbnf, err, sizeof err) == GR_ERR &&
          strstr(err, "prefix"));
    /* catastrophic backtracking patterns are ordinary grammars here */
    gr_grammar *g = NULL;
    CHECK(gr_compile_regex(&g, vocab, "(a+)+$", err, sizeof err) == GR_OK);
    CHECK(g && matches(g, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 40));
    CHECK(g && !matches(g, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 40));
    gr_grammar_free(g);
}

int main(void)
{
    tok_tokenizer *tok = small_tokenizer();
    CHECK(tok != NULL);
    if (!tok) return test_finish("grammar_regex");
    int32_t eos = SMALL_EOS;
    char err[256];
    CHECK(gr_vocab_new(&vocab, tok, &eos, 1, err, sizeof err) == GR_OK);
    test_full_match();
    test_search();
    test_json_string();
    test_errors();
    gr_vocab_free(vocab);
    tok_free(tok);
    return test_finish("grammar_regex");
}
