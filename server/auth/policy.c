#include "server/auth/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char fold(char c, bool ignore_case)
{
    return ignore_case && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool policy_wildcard_match(const char *pat, const char *s, bool ignore_case)
{
    /* Greedy matching with one backtrack point: the last '*' seen absorbs one more character
     * whenever the rest fails. Linear in practice, never exponential. */
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == '?' || (*pat && fold(*pat, ignore_case) == fold(*s, ignore_case))) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int string_list(const cJSON *item, const char *where, const char *field, char ***out,
                       size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (!item) {
        snprintf(err, errlen, "%s.%s: missing (expected a string or a list of strings)", where,
                 field);
        return -1;
    }
    size_t count = cJSON_IsString(item)  ? 1
                   : cJSON_IsArray(item) ? (size_t)cJSON_GetArraySize(item)
                                         : 0;
    if (count == 0) {
        snprintf(err, errlen, "%s.%s: expected a non-empty string or list of strings", where,
                 field);
        return -1;
    }
    char **v = calloc(count, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "%s: out of memory", where);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const cJSON *e = cJSON_IsString(item) ? item : cJSON_GetArrayItem(item, (int)i);
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            snprintf(err, errlen, "%s.%s[%zu]: expected a non-empty string", where, field, i);
            free_list(v, i);
            return -1;
        }
        v[i] = strdup(e->valuestring);
        if (!v[i]) {
            snprintf(err, errlen, "%s: out of memory", where);
            free_list(v, i);
            return -1;
        }
    }
    *out = v;
    *n = count;
    return 0;
}

static int parse_statement(const cJSON *st, const char *where, policy_statement *out, char *err,
                           size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(st)) {
        snprintf(err, errlen, "%s: expected an object", where);
        return -1;
    }
    for (const cJSON *f = st->child; f; f = f->next) {
        static const char *const known[] = {"Sid", "Effect", "Action", "Resource"};
        bool ok = false;
        for (size_t i = 0; i < 4; i++)
            ok |= strcmp(f->string, known[i]) == 0;
        if (!ok) {
            snprintf(err, errlen,
                     "%s.%s: not supported (berth policies have Effect, Action, Resource)", where,
                     f->string);
            return -1;
        }
    }
    const cJSON *effect = cJSON_GetObjectItemCaseSensitive(st, "Effect");
    if (!cJSON_IsString(effect) ||
        (strcmp(effect->valuestring, "Allow") != 0 && strcmp(effect->valuestring, "Deny") != 0)) {
        snprintf(err, errlen, "%s.Effect: expected \"Allow\" or \"Deny\"", where);
        return -1;
    }
    out->deny = strcmp(effect->valuestring, "Deny") == 0;
    if (string_list(cJSON_GetObjectItemCaseSensitive(st, "Action"), where, "Action", &out->actions,
                    &out->n_actions, err, errlen) != 0)
        return -1;
    if (string_list(cJSON_GetObjectItemCaseSensitive(st, "Resource"), where, "Resource",
                    &out->resources, &out->n_resources, err, errlen) != 0) {
        free_list(out->actions, out->n_actions);
        return -1;
    }
    return 0;
}

int policy_parse(const cJSON *doc, const char *where, policy *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(doc)) {
        snprintf(err, errlen, "%s: expected a policy object with \"Statement\"", where);
        return -1;
    }
    for (const cJSON *f = doc->child; f; f = f->next) {
        if (strcmp(f->string, "Version") != 0 && strcmp(f->string, "Statement") != 0 &&
            strcmp(f->string, "Id") != 0) {
            snprintf(err, errlen, "%s.%s: not supported (expected Version, Statement)", where,
                     f->string);
            return -1;
        }
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "Statement");
    size_t n = cJSON_IsObject(st) ? 1 : cJSON_IsArray(st) ? (size_t)cJSON_GetArraySize(st) : 0;
    if (!st || (!cJSON_IsObject(st) && !cJSON_IsArray(st))) {
        snprintf(err, errlen, "%s.Statement: expected an object or a list of objects", where);
        return -1;
    }
    out->statements = calloc(n ? n : 1, sizeof *out->statements);
    if (!out->statements) {
        snprintf(err, errlen, "%s: out of memory", where);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s.Statement[%zu]", where, i);
        const cJSON *s = cJSON_IsObject(st) ? st : cJSON_GetArrayItem(st, (int)i);
        if (parse_statement(s, sub, &out->statements[i], err, errlen) != 0) {
            policy_free(out);
            return -1;
        }
        out->n = i + 1;
    }
    return 0;
}

void policy_free(policy *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free_list(p->statements[i].actions, p->statements[i].n_actions);
        free_list(p->statements[i].resources, p->statements[i].n_resources);
    }
    free(p->statements);
    memset(p, 0, sizeof *p);
}

static bool any_match(char *const *patterns, size_t n, const char *s, bool ignore_case)
{
    for (size_t i = 0; i < n; i++)
        if (policy_wildcard_match(patterns[i], s, ignore_case)) return true;
    return false;
}

policy_decision policy_evaluate(const policy *p, const char *action, const char *resource)
{
    bool allowed = false;
    for (size_t i = 0; i < p->n; i++) {
        const policy_statement *st = &p->statements[i];
        if (!any_match(st->actions, st->n_actions, action, true) ||
            !any_match(st->resources, st->n_resources, resource, false))
            continue;
        if (st->deny) return POLICY_EXPLICIT_DENY;
        allowed = true;
    }
    return allowed ? POLICY_ALLOW : POLICY_IMPLICIT_DENY;
}
