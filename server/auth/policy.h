/* IAM-style identity policies: statements with Effect, Action and Resource (a string or a list, `*`
 * and `?` wildcards), parsed from JSON and evaluated with IAM's rule: an explicit Deny wins, then
 * any Allow, else deny. Knows nothing of tokens, key files or endpoints. */
#ifndef BERTH_AUTH_POLICY_H
#define BERTH_AUTH_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct {
    bool deny;
    char **actions;
    size_t n_actions;
    char **resources;
    size_t n_resources;
} policy_statement;

typedef struct {
    policy_statement *statements;
    size_t n;
} policy;

typedef enum { POLICY_ALLOW, POLICY_EXPLICIT_DENY, POLICY_IMPLICIT_DENY } policy_decision;

/* `doc` is an IAM policy document ({"Version": ..., "Statement": object or list}). `where` prefixes
 * error messages (e.g. "keys.json: identities[2].policy"). Condition, NotAction, NotResource and
 * Principal are refused by name: silently ignoring them would widen access. */
int policy_parse(const cJSON *doc, const char *where, policy *out, char *err, size_t errlen);
void policy_free(policy *p);

/* Actions compare case-insensitively (as IAM does), resources case-sensitively. */
policy_decision policy_evaluate(const policy *p, const char *action, const char *resource);
bool policy_wildcard_match(const char *pattern, const char *s, bool ignore_case);

#endif
