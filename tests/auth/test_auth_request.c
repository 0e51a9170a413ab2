/* Proves auth_check_request, the HTTP layer's one call: 200 for an allowed token or API key, 403
 * for a known identity without permission (policy default deny, explicit Deny, CallWithBearerToken
 * missing), 401 for everything else; the messages are the fixed class texts and never contain a
 * token or a secret; static API keys compare correctly whatever their length. */
#include "server/auth/api_keys.h"
#include "server/auth/auth.h"
#include "tests/support/test_support.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/berth-auth-XXXXXX";
static char keys_path[256], apikeys_path[256];
static const int64_t T0 = 1704067200;
static const char *const regions[] = {"us-east-1"};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static char *token(const char *akid, const char *secret, const char *session, const char *region)
{
    bearer_request g = {.region = region,
                        .access_key_id = akid,
                        .secret_access_key = secret,
                        .session_token = session,
                        .now = T0,
                        .expires = 3600};
    sigv4_buf b;
    char err[256];
    CHECKF(bearer_generate(&g, &b, err, sizeof err) == 0, "%s", err);
    char *h = malloc(b.len + 8);
    sprintf(h, "Bearer %s", b.data);
    sigv4_buf_free(&b);
    return h;
}

/* Every refusal carries one of the two fixed texts, never anything from the request. */
static void no_leak(const auth_result *r, const char *what)
{
    if (r->status == 200) return;
    CHECKF(strstr(r->message, "SECRETMARKER") == NULL &&
               strstr(r->message, "sagemaker-api-key") == NULL,
           "%s: message leaks: %s", what, r->message);
    CHECKF(strcmp(r->message, "Invalid or missing authentication credentials.") == 0 ||
               strcmp(r->message,
                      "The authenticated identity is not allowed to access this endpoint.") == 0,
           "%s: unexpected message %s", what, r->message);
}

#define EXPECT(a, hdr, ep, now, want_status, want_reason)                                          \
    do {                                                                                           \
        auth_result r_;                                                                            \
        int s_ = auth_check_request(a, hdr, ep, now, &r_);                                         \
        CHECKF(s_ == (want_status) && r_.status == s_ && r_.reason == (want_reason),               \
               "line %d: got %d/%s, want %d/%s", __LINE__, s_, bearer_status_name(r_.reason),      \
               want_status, bearer_status_name(want_reason));                                      \
        no_leak(&r_, #hdr);                                                                        \
    } while (0)

static const char keys_json[] =
    "{\"identities\":["
    "{\"access_key_id\":\"AKIAALLOWED\",\"secret_access_key\":\"SECRETMARKER-allowed\","
    " \"principal_arn\":\"arn:aws:iam::111122223333:user/alice\","
    " \"policy\":{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sagemaker:"
    "CallWithBearerToken\",\"Resource\":\"*\"},"
    "  {\"Effect\":\"Allow\",\"Action\":\"sagemaker:InvokeEndpoint\","
    "   \"Resource\":\"arn:aws:sagemaker:us-east-1:111122223333:endpoint/prod-*\"},"
    "  {\"Effect\":\"Deny\",\"Action\":\"sagemaker:InvokeEndpoint\","
    "   \"Resource\":\"arn:aws:sagemaker:*:*:endpoint/prod-secret\"}]}},"
    "{\"access_key_id\":\"AKIANOBEARER\",\"secret_access_key\":\"SECRETMARKER-nobearer\","
    " \"principal_arn\":\"arn:aws:iam::111122223333:user/bob\","
    " \"policy\":{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sagemaker:InvokeEndpoint\","
    "\"Resource\":\"*\"}}},"
    "{\"access_key_id\":\"ASIATEMP\",\"secret_access_key\":\"SECRETMARKER-temp\","
    " \"principal_arn\":\"arn:aws:sts::111122223333:assumed-role/r/s\","
    " \"session_token\":\"SECRETMARKER-session\",\"expiration\":\"2024-01-01T00:30:00Z\","
    " \"policy\":{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sagemaker:*\",\"Resource\":\"*"
    "\"}}}]}";

static void tokens(void)
{
    write_file(keys_path, keys_json);
    auth_config cfg = {.keystore_path = keys_path,
                       .regions = regions,
                       .n_regions = 1,
                       .clock_skew = AUTH_DEFAULT_CLOCK_SKEW};
    char err[512];
    auth_ctx *a = auth_create(&cfg, err, sizeof err);
    CHECKF(a != NULL, "auth_create: %s", err);
    if (!a) return;
    CHECK(auth_enabled(a));
    char *ok = token("AKIAALLOWED", "SECRETMARKER-allowed", NULL, "us-east-1");
    EXPECT(a, ok, "prod-llm", T0, 200, BEARER_OK);
    EXPECT(a, ok, "PROD-LLM", T0, 200, BEARER_OK);
    auth_result r;
    auth_check_request(a, ok, "prod-llm", T0, &r);
    CHECK(strcmp(r.principal_arn, "arn:aws:iam::111122223333:user/alice") == 0 &&
          r.error_type == NULL);
    EXPECT(a, ok, "dev-llm", T0, 403, BEARER_OK);
    EXPECT(a, ok, "prod-secret", T0, 403, BEARER_OK);
    auth_check_request(a, ok, "prod-secret", T0, &r);
    CHECK(strcmp(r.error_type, "permission_error") == 0);
    EXPECT(a, ok, "prod-llm", T0 + 3601, 401, BEARER_EXPIRED);
    EXPECT(a, ok, "prod-llm", T0 - 301, 401, BEARER_NOT_YET_VALID);
    auth_check_request(a, ok, "prod-llm", T0 + 3601, &r);
    CHECK(strcmp(r.error_type, "authentication_error") == 0);

    char *nobearer = token("AKIANOBEARER", "SECRETMARKER-nobearer", NULL, "us-east-1");
    EXPECT(a, nobearer, "prod-llm", T0, 403, BEARER_OK);
    char *unknown = token("AKIAUNKNOWN", "SECRETMARKER-x", NULL, "us-east-1");
    EXPECT(a, unknown, "prod-llm", T0, 401, BEARER_UNKNOWN_KEY);
    char *badsig = token("AKIAALLOWED", "SECRETMARKER-wrong", NULL, "us-east-1");
    EXPECT(a, badsig, "prod-llm", T0, 401, BEARER_BAD_SIGNATURE);
    char *region = token("AKIAALLOWED", "SECRETMARKER-allowed", NULL, "eu-west-1");
    EXPECT(a, region, "prod-llm", T0, 401, BEARER_WRONG_REGION);

    char *temp = token("ASIATEMP", "SECRETMARKER-temp", "SECRETMARKER-session", "us-east-1");
    EXPECT(a, temp, "any", T0, 200, BEARER_OK);
    EXPECT(a, temp, "any", T0 + 1801, 401, BEARER_EXPIRED); /* the credentials expired first */
    char *wrong_session = token("ASIATEMP", "SECRETMARKER-temp", "SECRETMARKER-other", "us-east-1");
    EXPECT(a, wrong_session, "any", T0, 401, BEARER_SESSION_TOKEN_MISMATCH);

    EXPECT(a, NULL, "prod-llm", T0, 401, BEARER_MISSING);
    EXPECT(a, "", "prod-llm", T0, 401, BEARER_MISSING);
    EXPECT(a, "Bearer ", "prod-llm", T0, 401, BEARER_MISSING);
    EXPECT(a, "Basic dXNlcjpwYXNz", "prod-llm", T0, 401, BEARER_MALFORMED);
    EXPECT(a, "Bearer sk-SECRETMARKER", "prod-llm", T0, 401, BEARER_MALFORMED);
    EXPECT(a, "Bearer sagemaker-api-key-SECRETMARKER", "prod-llm", T0, 401, BEARER_MALFORMED);
    char lower[8192];
    snprintf(lower, sizeof lower, "bearer   %s  ", ok + 7);
    EXPECT(a, lower, "prod-llm", T0, 200, BEARER_OK);

    /* Reload: a broken file keeps the old identities; a good one replaces them. */
    write_file(keys_path, "{\"identities\":[{\"access_key_id\":\"AKIAALLOWED\"}]}");
    CHECK(auth_reload(a, err, sizeof err) != 0 && strstr(err, "identities[0].secret_access_key") &&
          !strstr(err, "SECRETMARKER"));
    EXPECT(a, ok, "prod-llm", T0, 200, BEARER_OK);
    write_file(keys_path, "{\"identities\":[]}");
    CHECK(auth_reload(a, err, sizeof err) == 0);
    EXPECT(a, ok, "prod-llm", T0, 401, BEARER_UNKNOWN_KEY);

    free(ok), free(nobearer), free(unknown), free(badsig), free(region), free(temp),
        free(wrong_session);
    auth_destroy(a);

    auth_config no_region = {.keystore_path = keys_path};
    CHECK(auth_create(&no_region, err, sizeof err) == NULL && strstr(err, "region"));
    write_file(
        keys_path,
        "{\"identities\":[{\"access_key_id\":\"AKIAX\",\"secret_access_key\":\"SECRETMARKER\"}]}");
    CHECK(auth_create(&cfg, err, sizeof err) == NULL &&
          strstr(err, "identities[0].principal_arn") && !strstr(err, "SECRETMARKER"));
}

static void api_keys(void)
{
    write_file(apikeys_path, "# team keys\n\n  key-from-file-1  \r\nkey-from-file-2\n");
    const char *list[] = {"sk-local-abcdef"};
    auth_config cfg = {.api_keys = list, .n_api_keys = 1, .api_keys_file = apikeys_path};
    char err[512];
    auth_ctx *a = auth_create(&cfg, err, sizeof err);
    CHECKF(a != NULL, "auth_create: %s", err);
    if (!a) return;
    EXPECT(a, "Bearer sk-local-abcdef", "ep", T0, 200, BEARER_OK);
    EXPECT(a, "Bearer key-from-file-1", "ep", T0, 200, BEARER_OK);
    EXPECT(a, "Bearer key-from-file-2", "ep", T0, 200, BEARER_OK);
    EXPECT(a, "Bearer # team keys", "ep", T0, 401, BEARER_UNKNOWN_KEY);
    EXPECT(a, "Bearer sk-local-abcdeg", "ep", T0, 401, BEARER_UNKNOWN_KEY);
    EXPECT(a, "Bearer sk-local-abcde", "ep", T0, 401, BEARER_UNKNOWN_KEY);
    EXPECT(a, "Bearer sk-local-abcdeff", "ep", T0, 401, BEARER_UNKNOWN_KEY);
    EXPECT(a, "Bearer SK-LOCAL-ABCDEF", "ep", T0, 401, BEARER_UNKNOWN_KEY);
    /* Without a key store a SageMaker token is just an unknown key. */
    EXPECT(a, "Bearer sagemaker-api-key-abcd", "ep", T0, 401, BEARER_UNKNOWN_KEY);
    auth_destroy(a);

    apikeys *k = apikeys_create(list, 1, NULL, err, sizeof err);
    CHECK(k && apikeys_count(k) == 1 && apikeys_check(k, "sk-local-abcdef", 15) &&
          !apikeys_check(k, "sk-local-abcdef", 14) && !apikeys_check(k, "", 0));
    apikeys_free(k);
    write_file(apikeys_path, "# only comments\n\n");
    CHECK(apikeys_create(NULL, 0, apikeys_path, err, sizeof err) == NULL &&
          strstr(err, "no API key"));
    const char *empty[] = {""};
    CHECK(apikeys_create(empty, 1, NULL, err, sizeof err) == NULL && strstr(err, "--api-key #1"));
    CHECK(apikeys_create(NULL, 0, "/nonexistent/keys", err, sizeof err) == NULL &&
          strstr(err, "/nonexistent/keys"));

    auth_config off = {0};
    a = auth_create(&off, err, sizeof err);
    CHECK(a && !auth_enabled(a));
    EXPECT(a, NULL, "ep", T0, 200, BEARER_OK);
    auth_destroy(a);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    snprintf(keys_path, sizeof keys_path, "%s/keys.json", dir);
    snprintf(apikeys_path, sizeof apikeys_path, "%s/api-keys.txt", dir);
    tokens();
    api_keys();
    unlink(keys_path);
    unlink(apikeys_path);
    rmdir(dir);
    return test_finish("test_auth_request");
}
