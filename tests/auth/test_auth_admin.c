/* Proves auth_check_admin, the inference-component admin API's check: a key-store identity passes
 * only with sagemaker:CallWithBearerToken and the operation's action allowed on the component's
 * ARN (lower-cased, as SageMaker's) or on "*" for List; invoke-only identities, static API keys,
 * bad signatures and missing credentials do not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/auth/auth.h"
#include "tests/support/test_support.h"

static const int64_t T0 = 1704067200;

static char *token(const char *akid, const char *secret)
{
    bearer_request g = {.region = "us-east-1",
                        .access_key_id = akid,
                        .secret_access_key = secret,
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

static const char keys_json[] =
    "{\"identities\":["
    "{\"access_key_id\":\"AKIAOPS\",\"secret_access_key\":\"s-ops\","
    " \"principal_arn\":\"arn:aws:iam::111122223333:user/ops\","
    " \"policy\":{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sagemaker:"
    "CallWithBearerToken\","
    "\"Resource\":\"*\"},"
    "  {\"Effect\":\"Allow\",\"Action\":\"sagemaker:*InferenceComponent*\","
    "   \"Resource\":\"arn:aws:sagemaker:us-east-1:111122223333:inference-component/team-*\"},"
    "  "
    "{\"Effect\":\"Allow\",\"Action\":\"sagemaker:ListInferenceComponents\",\"Resource\":\"*\"}]}},"
    "{\"access_key_id\":\"AKIAINVOKE\",\"secret_access_key\":\"s-invoke\","
    " \"principal_arn\":\"arn:aws:iam::111122223333:user/app\","
    " \"policy\":{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"sagemaker:"
    "CallWithBearerToken\","
    "\"sagemaker:InvokeEndpoint\"],\"Resource\":\"*\"}]}}]}";

int main(void)
{
    char dir[] = "/tmp/berth-auth-admin-XXXXXX", path[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.json", dir);
    FILE *f = fopen(path, "w");
    fputs(keys_json, f);
    fclose(f);
    const char *regions[] = {"us-east-1"};
    const char *api_keys[] = {"static-key"};
    auth_config cfg = {.keystore_path = path,
                       .regions = regions,
                       .n_regions = 1,
                       .clock_skew = AUTH_DEFAULT_CLOCK_SKEW,
                       .api_keys = api_keys,
                       .n_api_keys = 1};
    char err[512];
    auth_ctx *a = auth_create(&cfg, err, sizeof err);
    CHECKF(a != NULL, "%s", err);
    if (!a) return test_finish("test_auth_admin");
    CHECK(auth_has_key_store(a));
    auth_result r;
    char *ops = token("AKIAOPS", "s-ops"), *app = token("AKIAINVOKE", "s-invoke"),
         *bad = token("AKIAOPS", "wrong");
    CHECK(auth_check_admin(a, ops, "sagemaker:CreateInferenceComponent", "team-a", T0, &r) == 200);
    CHECK(!strcmp(r.principal_arn, "arn:aws:iam::111122223333:user/ops"));
    CHECK(auth_check_admin(a, ops, "sagemaker:DeleteInferenceComponent", "TEAM-B", T0, &r) == 200);
    CHECK(auth_check_admin(a, ops, "sagemaker:DeleteInferenceComponent", "other", T0, &r) == 403);
    CHECK(auth_check_admin(a, ops, "sagemaker:ListInferenceComponents", NULL, T0, &r) == 200);
    CHECK(auth_check_admin(a, app, "sagemaker:ListInferenceComponents", NULL, T0, &r) == 403);
    CHECK(auth_check_admin(a, app, "sagemaker:CreateInferenceComponent", "team-a", T0, &r) == 403);
    CHECK(auth_check_admin(a, bad, "sagemaker:CreateInferenceComponent", "team-a", T0, &r) == 401);
    CHECK(auth_check_admin(a, ops, "sagemaker:CreateInferenceComponent", "team-a", T0 + 3601, &r) ==
          401);
    CHECK(auth_check_admin(a, "Bearer static-key", "sagemaker:ListInferenceComponents", NULL, T0,
                           &r) == 401);
    CHECK(auth_check_admin(a, NULL, "sagemaker:ListInferenceComponents", NULL, T0, &r) == 401);
    /* the same identity may still invoke through the ordinary check */
    CHECK(auth_check_request(a, app, "prod", T0, &r) == 200);
    free(ops);
    free(app);
    free(bad);
    auth_destroy(a);
    unlink(path);
    rmdir(dir);
    return test_finish("test_auth_admin");
}
