/* Proves bearer_parse / bearer_verify / bearer_generate: a generated token verifies, and each way a
 * token can be wrong (tampered, expired, future-dated, wrong region or service, unknown key,
 * session token mismatch, malformed shape) is refused with its own reason. */
#include "server/auth/bearer_token.h"
#include "tests/support/test_support.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const char *const regions[] = {"us-east-1", "us-west-2"};
static const bearer_options opt = {.regions = regions, .n_regions = 2, .clock_skew = 300};
static const int64_t T0 = 1704067200; /* 2024-01-01T00:00:00Z */

static char *make(bearer_kind kind, const char *region, const char *token, int64_t expires)
{
    bearer_request g = {.kind = kind,
                        .region = region,
                        .access_key_id = "AKIDEXAMPLE",
                        .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                        .session_token = token,
                        .now = T0,
                        .expires = expires};
    sigv4_buf b;
    char err[256];
    CHECKF(bearer_generate(&g, &b, err, sizeof err) == 0, "generate: %s", err);
    return b.data;
}

/* A token around a hand-written URL: how a forger would build one. */
static char *wrap(const char *prefix, const char *url)
{
    size_t n = strlen(url);
    char *out = malloc(strlen(prefix) + 4 * ((n + 2) / 3) + 1);
    strcpy(out, prefix);
    EVP_EncodeBlock((unsigned char *)out + strlen(prefix), (const unsigned char *)url, (int)n);
    return out;
}

static char *unwrap(const char *token)
{
    const char *b64 = strstr(token, "-api-key-") + strlen("-api-key-");
    size_t n = strlen(b64);
    unsigned char *out = calloc(n, 1);
    int len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    while (len > 0 && out[len - 1] == '\0')
        len--;
    out[len] = '\0';
    return (char *)out;
}

static bearer_status check(const char *token, const bearer_options *o, const bearer_key *key,
                           int64_t now)
{
    bearer_token t;
    bearer_status st = bearer_parse(token, strlen(token), o, &t);
    if (st == BEARER_OK) st = bearer_verify(&t, key, o, now);
    bearer_token_free(&t);
    return st;
}

#define EXPECT(token, o, key, now, want)                                                           \
    do {                                                                                           \
        bearer_status got_ = check(token, o, key, now);                                            \
        CHECKF(got_ == (want), "%s:%d: got %s, want %s", __func__, __LINE__,                       \
               bearer_status_name(got_), bearer_status_name(want));                                \
    } while (0)

static const char *const param_names[] = {
    "Action",        "X-Amz-Algorithm",     "X-Amz-Credential",     "X-Amz-Date",
    "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature",
    "Version"};
enum { P_COUNT = sizeof param_names / sizeof *param_names };

static const bearer_key long_term = {.secret_access_key =
                                         "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};

static void valid_and_time_window(void)
{
    char *tok = make(BEARER_SAGEMAKER, "us-east-1", NULL, 3600);
    EXPECT(tok, &opt, &long_term, T0, BEARER_OK);
    EXPECT(tok, &opt, &long_term, T0 + 3600, BEARER_OK);
    EXPECT(tok, &opt, &long_term, T0 + 3601, BEARER_EXPIRED);
    EXPECT(tok, &opt, &long_term, T0 - 300, BEARER_OK);
    EXPECT(tok, &opt, &long_term, T0 - 301, BEARER_NOT_YET_VALID);
    EXPECT(tok, &opt, NULL, T0, BEARER_UNKNOWN_KEY);
    bearer_key other = {.secret_access_key = "another-secret"};
    EXPECT(tok, &opt, &other, T0, BEARER_BAD_SIGNATURE);
    bearer_token t;
    CHECK(bearer_parse(tok, strlen(tok), &opt, &t) == BEARER_OK);
    CHECK(strcmp(t.access_key_id, "AKIDEXAMPLE") == 0 && strcmp(t.region, "us-east-1") == 0);
    CHECK(t.expires == 3600 && t.signed_at == T0 && t.session_token == NULL);
    bearer_token_free(&t);
    free(tok);
}

static void scope(void)
{
    char *tok = make(BEARER_SAGEMAKER, "eu-west-1", NULL, 60);
    EXPECT(tok, &opt, &long_term, T0, BEARER_WRONG_REGION);
    free(tok);
    tok = make(BEARER_BEDROCK, "us-east-1", NULL, 60);
    EXPECT(tok, &opt, &long_term, T0, BEARER_WRONG_SERVICE);
    bearer_options with_bedrock = opt;
    with_bedrock.accept_bedrock = true;
    EXPECT(tok, &with_bedrock, &long_term, T0, BEARER_OK);
    /* A bedrock-scoped signature inside a sagemaker token. */
    char *url = unwrap(tok);
    char *p = strstr(url, "bedrock.amazonaws.com");
    char *swapped = malloc(strlen(url) + 8);
    sprintf(swapped, "sagemaker.amazonaws.com%s", p + strlen("bedrock.amazonaws.com"));
    char *forged = wrap(BEARER_SAGEMAKER_PREFIX, swapped);
    EXPECT(forged, &with_bedrock, &long_term, T0, BEARER_WRONG_SERVICE);
    free(forged), free(swapped), free(url), free(tok);
}

static void session_tokens(void)
{
    const char *st = "FwoGZXIvYXdzEBYaDH/session+token==";
    char *tok = make(BEARER_SAGEMAKER, "us-west-2", st, 43200);
    bearer_key temp = {.secret_access_key = long_term.secret_access_key, .session_token = st};
    EXPECT(tok, &opt, &temp, T0, BEARER_OK);
    bearer_token t;
    CHECK(bearer_parse(tok, strlen(tok), &opt, &t) == BEARER_OK && t.session_token &&
          strcmp(t.session_token, st) == 0);
    bearer_token_free(&t);
    bearer_key wrong = temp;
    wrong.session_token = "FwoGZXIvYXdzEBYaDH/other+token==";
    EXPECT(tok, &opt, &wrong, T0, BEARER_SESSION_TOKEN_MISMATCH);
    EXPECT(tok, &opt, &long_term, T0, BEARER_SESSION_TOKEN_MISMATCH);
    char *plain = make(BEARER_SAGEMAKER, "us-west-2", NULL, 43200);
    EXPECT(plain, &opt, &temp, T0, BEARER_SESSION_TOKEN_MISMATCH);
    /* The credentials' own expiration caps the token. */
    temp.expiration = T0 + 600;
    EXPECT(tok, &opt, &temp, T0 + 600, BEARER_OK);
    EXPECT(tok, &opt, &temp, T0 + 601, BEARER_EXPIRED);
    free(plain), free(tok);
}

static void replace(char *url, const char *from, const char *to, char *out)
{
    char *p = strstr(url, from);
    CHECKF(p != NULL, "'%s' not in the token URL", from);
    if (!p) {
        strcpy(out, url);
        return;
    }
    sprintf(out, "%.*s%s%s", (int)(p - url), url, to, p + strlen(from));
}

static void tampering_and_shape(void)
{
    char *tok = make(BEARER_SAGEMAKER, "us-east-1", NULL, 3600);
    char *url = unwrap(tok);
    char buf[4096];
    struct {
        const char *from, *to;
        bearer_status want;
    } cases[] = {
        {"X-Amz-Expires=3600", "X-Amz-Expires=3599", BEARER_BAD_SIGNATURE},
        {"X-Amz-Date=20240101T000000Z", "X-Amz-Date=20240101T000001Z", BEARER_BAD_SIGNATURE},
        {"X-Amz-Expires=3600", "X-Amz-Expires=0", BEARER_MALFORMED},
        {"X-Amz-Expires=3600", "X-Amz-Expires=43201", BEARER_MALFORMED},
        {"X-Amz-Expires=3600", "X-Amz-Expires=03600", BEARER_MALFORMED},
        {"X-Amz-Date=20240101T000000Z", "X-Amz-Date=20240102T000000Z", BEARER_MALFORMED},
        {"X-Amz-Date=20240101T000000Z", "X-Amz-Date=2024-01-01", BEARER_MALFORMED},
        {"Action=CallWithBearerToken", "Action=InvokeEndpoint", BEARER_MALFORMED},
        {"X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=host%3Bx-amz-date", BEARER_MALFORMED},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1", BEARER_MALFORMED},
        {"&Version=1", "", BEARER_MALFORMED},
        {"&Version=1", "&Version=2", BEARER_MALFORMED},
        {"&Version=1", "&Version=1&Version=1", BEARER_MALFORMED},
        {"&Version=1", "&Version=1&Extra=1", BEARER_MALFORMED},
        {"&Version=1", "&Version=1&X-Amz-Security-Token=x", BEARER_BAD_SIGNATURE},
        {"sagemaker.amazonaws.com/", "sagemaker.us-east-1.amazonaws.com/", BEARER_MALFORMED},
        {"amazonaws.com/?", "amazonaws.com/x?", BEARER_MALFORMED},
        {"%2Faws4_request", "%2Faws4_reqeust", BEARER_MALFORMED},
        {"AKIDEXAMPLE%2F", "AKID%2FEXAMPLE%2F", BEARER_MALFORMED},
        {"X-Amz-Signature=", "X-Amz-Signature=0", BEARER_MALFORMED},
        {"X-Amz-Credential=AKIDEXAMPLE", "X-Amz-Credential=AKIDEXAMPLF", BEARER_BAD_SIGNATURE},
        {"Action=", "Action=%zz", BEARER_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        replace(url, cases[i].from, cases[i].to, buf);
        char *forged = wrap(BEARER_SAGEMAKER_PREFIX, buf);
        bearer_status got = check(forged, &opt, &long_term, T0);
        CHECKF(got == cases[i].want, "case %zu (%s -> %s): got %s, want %s", i, cases[i].from,
               cases[i].to, bearer_status_name(got), bearer_status_name(cases[i].want));
        free(forged);
    }
    /* One flipped signature digit. */
    char *sig = strstr(url, "X-Amz-Signature=") + strlen("X-Amz-Signature=");
    sig[10] = sig[10] == 'a' ? 'b' : 'a';
    char *forged = wrap(BEARER_SAGEMAKER_PREFIX, url);
    EXPECT(forged, &opt, &long_term, T0, BEARER_BAD_SIGNATURE);
    free(forged);

    const char *bad[] = {"",
                         "sagemaker-api-key-",
                         "sagemaker-api-key-!!!!",
                         "sagemaker-api-key-YQ",
                         "sagemaker-api-key-YR==",
                         "sagemaker-api-key-YQ==YQ==",
                         "sk-plainkey",
                         "sagemaker-api-key-IGhvc3Q=" /* " host" */};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bearer_status got = check(bad[i], &opt, &long_term, T0);
        CHECKF(got == (i == 0 ? BEARER_MISSING : BEARER_MALFORMED), "bad[%zu]: got %s", i,
               bearer_status_name(got));
    }
    char *huge = malloc(BEARER_MAX_TOKEN_LEN + 64);
    strcpy(huge, BEARER_SAGEMAKER_PREFIX);
    memset(huge + strlen(huge), 'A', BEARER_MAX_TOKEN_LEN + 4);
    huge[strlen(BEARER_SAGEMAKER_PREFIX) + BEARER_MAX_TOKEN_LEN + 4] = '\0';
    EXPECT(huge, &opt, &long_term, T0, BEARER_MALFORMED);
    free(huge), free(url), free(tok);
}

/* Inserts `text` at the end of parameter `name`'s value in `url`. */
static void append_to_value(const char *url, const char *name, const char *text, char *out)
{
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    const char *p = strstr(url, key);
    if (p != url && p && p[-1] != '&' && p[-1] != '?') p = NULL;
    CHECKF(p != NULL, "'%s' not in the token URL", key);
    if (!p) {
        strcpy(out, url);
        return;
    }
    const char *end = strchr(p, '&');
    if (!end) end = p + strlen(p);
    sprintf(out, "%.*s%s%s", (int)(end - url), url, text, end);
}

/* Every field, with a NUL and junk, a control byte or an 8-bit byte after its value, or a second
 * spelling of the same decoded value: never accepted, whether or not re-signing would match. */
static void smuggled_bytes(void)
{
    const char *st = "FwoGZXIvYXdzEBYaDH/session+token==";
    char *tok = make(BEARER_SAGEMAKER, "us-east-1", st, 3600);
    bearer_key temp = {.secret_access_key = long_term.secret_access_key, .session_token = st};
    EXPECT(tok, &opt, &temp, T0, BEARER_OK);
    char *url = unwrap(tok);
    char buf[4096];
    const char *suffixes[] = {"%00junk", "%00", "%01", "%09", "%0A", "%0D", "%0D%0Ax", "%1F",
                              "%7F",     "%80", "%FF", "%C3%A9"};
    for (int f = 0; f < P_COUNT; f++) {
        for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
            append_to_value(url, param_names[f], suffixes[i], buf);
            char *forged = wrap(BEARER_SAGEMAKER_PREFIX, buf);
            bearer_status got = check(forged, &opt, &temp, T0);
            CHECKF(got == BEARER_MALFORMED, "%s + %s: got %s, want malformed", param_names[f],
                   suffixes[i], bearer_status_name(got));
            free(forged);
        }
    }
    /* Escapes that decode to the signed bytes are still another spelling. */
    struct {
        const char *from, *to;
    } spellings[] = {
        {"Action=CallWithBearerToken", "Action=%43allWithBearerToken"},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4%2DHMAC-SHA256"},
        {"AKIDEXAMPLE%2F", "AKIDEXAMPLE%2f"},
        {"AKIDEXAMPLE%2F", "AKIDEXAMPLE/"},
        {"X-Amz-Date=2024", "X-Amz-Date=%324"},
        {"X-Amz-Expires=3600", "X-Amz-Expires=%33600"},
        {"X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=hos%74"},
        {"Version=1", "Version=%31"},
        {"X-Amz-Security-Token=Fwo", "X-Amz-Security-Token=%46wo"},
        {"%2Btoken", "+token"},
        {"X-Amz-Signature=", "X-Amz-Signature=%"},
    };
    for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++) {
        replace(url, spellings[i].from, spellings[i].to, buf);
        char *forged = wrap(BEARER_SAGEMAKER_PREFIX, buf);
        bearer_status got = check(forged, &opt, &temp, T0);
        CHECKF(got == BEARER_MALFORMED, "spelling %s -> %s: got %s, want malformed",
               spellings[i].from, spellings[i].to, bearer_status_name(got));
        free(forged);
    }
    free(url), free(tok);
}

static void generator_limits(void)
{
    bearer_request g = {
        .region = "us-east-1", .access_key_id = "A", .secret_access_key = "s", .now = T0};
    sigv4_buf b;
    char err[256];
    g.expires = 0;
    CHECK(bearer_generate(&g, &b, err, sizeof err) != 0 && strstr(err, "1..43200"));
    g.expires = 43201;
    CHECK(bearer_generate(&g, &b, err, sizeof err) != 0);
    g.expires = 43200;
    CHECK(bearer_generate(&g, &b, err, sizeof err) == 0);
    sigv4_buf_free(&b);
}

int main(void)
{
    valid_and_time_window();
    scope();
    session_tokens();
    tampering_and_shape();
    smuggled_bytes();
    generator_limits();
    return test_finish("test_bearer_token");
}
