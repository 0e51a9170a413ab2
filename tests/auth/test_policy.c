/* Proves IAM-style policy evaluation: `*` and `?` wildcards, case-insensitive actions, resource
 * lists, explicit Deny over Allow, default deny, and parse errors that name the field. */
#include "server/auth/policy.h"
#include "tests/support/test_support.h"

#include <string.h>

static policy parse(const char *json)
{
    cJSON *doc = cJSON_Parse(json);
    policy p;
    char err[512];
    int rc = policy_parse(doc, "test", &p, err, sizeof err);
    CHECKF(rc == 0, "parse failed: %s", err);
    cJSON_Delete(doc);
    return p;
}

static void parse_error(const char *json, const char *want)
{
    cJSON *doc = cJSON_Parse(json);
    policy p;
    char err[512] = "";
    CHECKF(policy_parse(doc, "keys.json: identities[0].policy", &p, err, sizeof err) != 0,
           "accepted: %s", json);
    CHECKF(strstr(err, want) != NULL, "error '%s' does not name '%s'", err, want);
    cJSON_Delete(doc);
}

static void wildcards(void)
{
    CHECK(policy_wildcard_match("*", "", false));
    CHECK(policy_wildcard_match("*", "anything", false));
    CHECK(policy_wildcard_match("a?c", "abc", false));
    CHECK(!policy_wildcard_match("a?c", "ac", false));
    CHECK(policy_wildcard_match("arn:aws:sagemaker:*:123456789012:endpoint/prod-*",
                                "arn:aws:sagemaker:us-east-1:123456789012:endpoint/prod-llm",
                                false));
    CHECK(!policy_wildcard_match("arn:aws:sagemaker:*:123456789012:endpoint/prod-*",
                                 "arn:aws:sagemaker:us-east-1:123456789012:endpoint/dev-llm",
                                 false));
    CHECK(policy_wildcard_match("*a*b*c", "xxaxxbxxbxc", false));
    CHECK(!policy_wildcard_match("*a*b*c", "xxaxxbxxbx", false));
    CHECK(policy_wildcard_match("sagemaker:Invoke*", "SageMaker:invokeendpoint", true));
    CHECK(!policy_wildcard_match("Endpoint/A", "endpoint/a", false));
    CHECK(policy_wildcard_match("ab??", "abcd", false) &&
          !policy_wildcard_match("ab??", "abc", false));
}

static void evaluation(void)
{
    policy p =
        parse("{\"Version\":\"2012-10-17\",\"Statement\":["
              "{\"Effect\":\"Allow\",\"Action\":[\"sagemaker:CallWithBearerToken\",\"sagemaker:"
              "Invoke*\"],"
              " \"Resource\":[\"arn:aws:sagemaker:us-east-1:111122223333:endpoint/a\","
              "               \"arn:aws:sagemaker:us-east-1:111122223333:endpoint/b-?\", \"*\"]},"
              "{\"Effect\":\"Deny\",\"Action\":\"sagemaker:InvokeEndpoint\","
              " \"Resource\":\"arn:aws:sagemaker:*:*:endpoint/secret*\"}]}");
    CHECK(policy_evaluate(&p, "sagemaker:InvokeEndpoint",
                          "arn:aws:sagemaker:us-east-1:111122223333:endpoint/a") == POLICY_ALLOW);
    CHECK(policy_evaluate(&p, "SAGEMAKER:INVOKEENDPOINT",
                          "arn:aws:sagemaker:us-east-1:111122223333:endpoint/b-1") == POLICY_ALLOW);
    CHECK(policy_evaluate(&p, "sagemaker:InvokeEndpoint",
                          "arn:aws:sagemaker:us-east-1:111122223333:endpoint/secret-llm") ==
          POLICY_EXPLICIT_DENY);
    CHECK(policy_evaluate(&p, "sagemaker:DeleteEndpoint",
                          "arn:aws:sagemaker:us-east-1:111122223333:endpoint/a") ==
          POLICY_IMPLICIT_DENY);
    policy_free(&p);

    p = parse("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sagemaker:InvokeEndpoint\","
              "\"Resource\":[\"arn:aws:sagemaker:us-east-1:111122223333:endpoint/a\","
              "\"arn:aws:sagemaker:us-east-1:111122223333:endpoint/b\"]}}");
    CHECK(policy_evaluate(&p, "sagemaker:InvokeEndpoint",
                          "arn:aws:sagemaker:us-east-1:111122223333:endpoint/b") == POLICY_ALLOW);
    CHECK(policy_evaluate(&p, "sagemaker:InvokeEndpoint",
                          "arn:aws:sagemaker:us-east-1:111122223333:endpoint/c") ==
          POLICY_IMPLICIT_DENY);
    CHECK(policy_evaluate(&p, "sagemaker:CallWithBearerToken", "*") == POLICY_IMPLICIT_DENY);
    policy_free(&p);

    p = parse("{\"Statement\":[]}");
    CHECK(policy_evaluate(&p, "sagemaker:InvokeEndpoint", "*") == POLICY_IMPLICIT_DENY);
    policy_free(&p);

    /* Deny wins whatever the order of statements. */
    p = parse("{\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"},"
              "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}");
    CHECK(policy_evaluate(&p, "sagemaker:InvokeEndpoint", "x") == POLICY_EXPLICIT_DENY);
    policy_free(&p);
}

static void errors(void)
{
    parse_error("[]", "identities[0].policy");
    parse_error("{\"Statement\":[{\"Effect\":\"allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}",
                "Statement[0].Effect");
    parse_error("{\"Statement\":[{\"Effect\":\"Allow\",\"Resource\":\"*\"}]}",
                "Statement[0].Action");
    parse_error("{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\"},{}]}",
                "Statement[0].Resource");
    parse_error("{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"},"
                "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":[\"a\", 3]}]}",
                "Statement[1].Resource[1]");
    parse_error("{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\","
                "\"Condition\":{}}]}",
                "Statement[0].Condition: not supported");
    parse_error("{\"Statement\":[{\"Effect\":\"Allow\",\"NotAction\":\"*\",\"Resource\":\"*\"}]}",
                "NotAction");
    parse_error("{\"Statement\":\"x\"}", ".Statement");
    parse_error("{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[],\"Resource\":\"*\"}]}",
                "Action");
}

int main(void)
{
    wildcards();
    evaluation();
    errors();
    return test_finish("test_policy");
}
