#include "models/aws/aws_credentials.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include "models/aws/sigv4.h"

#define MAX_RESPONSE (64 * 1024)
#define DEFAULT_IMDS "http://169.254.169.254"
#define DEFAULT_CONTAINER_HOST "http://169.254.170.2"

static bool env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v;
}

/* ---- shared files (INI) ------------------------------------------------------------------------
 */

static void file_path(char *out, size_t outlen, const char *env, const char *dflt)
{
    const char *v = getenv(env);
    const char *home = getenv("HOME");
    if (!v || !*v) v = dflt;
    if (v[0] == '~' && v[1] == '/' && home)
        snprintf(out, outlen, "%s/%s", home, v + 2);
    else
        snprintf(out, outlen, "%s", v);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

/* Looks `key` up in section `section` of an INI file. Returns 1 when found (value in out), 0 when
 * the section exists without the key, -1 when the section (or file) does not exist. Indented lines
 * belong to nested blocks (e.g. "s3 =") and are skipped. */
static int ini_get(const char *path, const char *section, const char *key, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    int found = -1;
    bool in = false;
    while (getline(&line, &cap, f) >= 0) {
        if (line[0] == ' ' || line[0] == '\t') continue;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';') continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close) continue;
            *close = '\0';
            in = strcmp(trim(s + 1), section) == 0;
            if (in && found < 0) found = 0;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in || !eq) continue;
        *eq = '\0';
        if (strcmp(trim(s), key) == 0) {
            if (out) snprintf(out, outlen, "%s", trim(eq + 1));
            found = 1;
        }
    }
    if (line) OPENSSL_cleanse(line, cap);
    free(line);
    fclose(f);
    return found;
}

/* The config file names profiles "[profile x]", except the default which may be "[default]". */
static int config_get(const char *path, const char *profile, const char *key, char *out,
                      size_t outlen)
{
    char section[300];
    snprintf(section, sizeof section, "profile %s", profile);
    int r = ini_get(path, section, key, out, outlen);
    if (r < 0 && strcmp(profile, "default") == 0) r = ini_get(path, "default", key, out, outlen);
    return r;
}

static const char *chosen_profile(const awscred_options *opt, bool *named)
{
    *named = true;
    if (opt && opt->profile && *opt->profile) return opt->profile;
    if (env_set("AWS_PROFILE")) return getenv("AWS_PROFILE");
    *named = false;
    return "default";
}

/* ---- credentials from JSON (credential_process, container, IMDS) -------------------------------
 */

static int creds_from_json(const char *json, const char *token_field, const char *what,
                           awscred *out, char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *ak = cJSON_GetObjectItemCaseSensitive(root, "AccessKeyId");
    const cJSON *sk = cJSON_GetObjectItemCaseSensitive(root, "SecretAccessKey");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, token_field);
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "Expiration");
    int rc = -1;
    if (!root) {
        snprintf(err, errlen, "%s: response is not JSON", what);
    } else if (!cJSON_IsString(ak) || !cJSON_IsString(sk) || !*ak->valuestring ||
               !*sk->valuestring) {
        snprintf(err, errlen, "%s: expected AccessKeyId and SecretAccessKey strings", what);
    } else if (strlen(ak->valuestring) >= sizeof out->access_key_id ||
               strlen(sk->valuestring) >= sizeof out->secret_access_key) {
        snprintf(err, errlen, "%s: AccessKeyId or SecretAccessKey longer than 128 characters",
                 what);
    } else if (tok && !cJSON_IsString(tok) && !cJSON_IsNull(tok)) {
        snprintf(err, errlen, "%s: %s must be a string", what, token_field);
    } else if (exp && !cJSON_IsNull(exp) &&
               (!cJSON_IsString(exp) ||
                sigv4_parse_iso8601(exp->valuestring, &out->expiration) != 0)) {
        snprintf(err, errlen,
                 "%s: Expiration must be an ISO 8601 time such as 2030-01-01T00:00:00Z", what);
    } else {
        snprintf(out->access_key_id, sizeof out->access_key_id, "%s", ak->valuestring);
        snprintf(out->secret_access_key, sizeof out->secret_access_key, "%s", sk->valuestring);
        if (cJSON_IsString(tok) && *tok->valuestring) out->session_token = strdup(tok->valuestring);
        rc = 0;
    }
    if (root && sk && cJSON_IsString(sk)) OPENSSL_cleanse(sk->valuestring, strlen(sk->valuestring));
    cJSON_Delete(root);
    return rc;
}

static int run_process(const char *cmd, awscred *out, char *err, size_t errlen)
{
    /* The config file is the user's own; its command line runs through the shell as the AWS CLI's
     * does on POSIX. Its stderr goes to ours so the user sees why it failed. */
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(err, errlen, "credential_process: cannot start the command");
        return -1;
    }
    sigv4_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0 && b.len < MAX_RESPONSE)
        sigv4_buf_append(&b, chunk, n);
    int status = pclose(p);
    int rc = -1;
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "credential_process: the command failed (exit status %d)",
                 status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    } else if (!b.data) {
        snprintf(err, errlen, "credential_process: the command printed nothing");
    } else {
        cJSON *root = cJSON_Parse(b.data);
        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "Version");
        bool v1 = cJSON_IsNumber(ver) && ver->valueint == 1;
        cJSON_Delete(root);
        if (!v1)
            snprintf(err, errlen, "credential_process: output must be JSON with \"Version\": 1");
        else
            rc = creds_from_json(b.data, "SessionToken", "credential_process", out, err, errlen);
    }
    sigv4_buf_free(&b);
    return rc;
}

/* ---- HTTP (container and instance metadata) ----------------------------------------------------
 */

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
    sigv4_buf *b = userp;
    if (b->len + size * nmemb > MAX_RESPONSE) return 0;
    sigv4_buf_append(b, data, size * nmemb);
    return size * nmemb;
}

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Returns the HTTP status (0 when the request failed), body in `b`. */
static long http(const char *method, const char *url, const char *const *headers, long timeout_ms,
                 sigv4_buf *b, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "%s: cannot start an HTTP request", url);
        return 0;
    }
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(rc));
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!b->data) sigv4_buf_append(b, "", 0);
    return status;
}

/* Plain http only to the addresses botocore trusts for container credentials. */
static bool container_url_allowed(const char *url)
{
    if (strncmp(url, "https://", 8) == 0) return true;
    if (strncmp(url, "http://", 7) != 0) return false;
    CURLU *u = curl_url();
    char *host = NULL;
    bool ok = false;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        ok = strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0 ||
             strcmp(host, "[::1]") == 0 || strcmp(host, "169.254.170.2") == 0 ||
             strcmp(host, "169.254.170.23") == 0 || strcmp(host, "[fd00:ec2::23]") == 0;
    }
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

static int from_container(long timeout_ms, awscred *out, char *err, size_t errlen)
{
    char url[2048], auth[8192] = "";
    if (env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
        snprintf(url, sizeof url, "%s%s", DEFAULT_CONTAINER_HOST,
                 getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
    else
        snprintf(url, sizeof url, "%s", getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"));
    if (!container_url_allowed(url)) {
        snprintf(err, errlen,
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http is allowed only to a loopback "
                 "address or the ECS/EKS credential addresses");
        return -1;
    }
    if (env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
        const char *path = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        FILE *f = fopen(path, "r");
        char tok[7000] = "";
        size_t n = f ? fread(tok, 1, sizeof tok - 1, f) : 0;
        if (f) fclose(f);
        if (!f) {
            snprintf(err, errlen, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: cannot read %s", path);
            return -1;
        }
        tok[n] = '\0';
        snprintf(auth, sizeof auth, "Authorization: %s", trim(tok));
        OPENSSL_cleanse(tok, sizeof tok);
    } else if (env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        snprintf(auth, sizeof auth, "Authorization: %s",
                 getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
    }
    const char *headers[] = {auth[0] ? auth : NULL, NULL};
    sigv4_buf b = {0};
    long status = http("GET", url, headers, timeout_ms, &b, err, errlen);
    OPENSSL_cleanse(auth, sizeof auth);
    int rc = -1;
    if (status == 200)
        rc = creds_from_json(b.data, "Token", "container credentials", out, err, errlen);
    else if (status)
        snprintf(err, errlen, "container credentials: %s answered HTTP %ld", url, status);
    sigv4_buf_free(&b);
    return rc;
}

static int from_imds(long timeout_ms, awscred *out, char *err, size_t errlen)
{
    char base[1024], url[2048], tokhdr[1200];
    const char *ep = env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                         ? getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                         : DEFAULT_IMDS;
    snprintf(base, sizeof base, "%s", ep);
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        base[--bl] = '\0';
    sigv4_buf tok = {0}, role = {0}, body = {0};
    int rc = -1;
    snprintf(url, sizeof url, "%s/latest/api/token", base);
    const char *put_headers[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
    long st = http("PUT", url, put_headers, timeout_ms, &tok, err, errlen);
    if (st != 200 || tok.len == 0 || tok.len > 1000) {
        if (st) snprintf(err, errlen, "instance metadata: token request answered HTTP %ld", st);
        goto done;
    }
    snprintf(tokhdr, sizeof tokhdr, "X-aws-ec2-metadata-token: %s", trim(tok.data));
    const char *get_headers[] = {tokhdr, NULL};
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", base);
    st = http("GET", url, get_headers, timeout_ms, &role, err, errlen);
    char *name = role.data ? trim(role.data) : NULL;
    if (name) name[strcspn(name, "\r\n")] = '\0';
    if (st != 200 || !name || !*name || strlen(name) > 512) {
        if (st) snprintf(err, errlen, "instance metadata: no IAM role attached (HTTP %ld)", st);
        goto done;
    }
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s", base, name);
    st = http("GET", url, get_headers, timeout_ms, &body, err, errlen);
    if (st != 200) {
        if (st) snprintf(err, errlen, "instance metadata: role credentials answered HTTP %ld", st);
        goto done;
    }
    cJSON *root = cJSON_Parse(body.data);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "Code");
    bool success = !code || (cJSON_IsString(code) && strcmp(code->valuestring, "Success") == 0);
    cJSON_Delete(root);
    if (!success)
        snprintf(err, errlen, "instance metadata: role credentials Code is not \"Success\"");
    else
        rc = creds_from_json(body.data, "Token", "instance metadata", out, err, errlen);
done:
    OPENSSL_cleanse(tokhdr, sizeof tokhdr);
    sigv4_buf_free(&tok);
    sigv4_buf_free(&role);
    sigv4_buf_free(&body);
    return rc;
}

/* ---- the chain ---------------------------------------------------------------------------------
 */

static int from_env(awscred *out, char *err, size_t errlen)
{
    bool ak = env_set("AWS_ACCESS_KEY_ID"), sk = env_set("AWS_SECRET_ACCESS_KEY");
    if (!ak && !sk) return 1;
    if (ak != sk) {
        snprintf(err, errlen, "environment: %s is set but %s is not",
                 ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                 ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return -1;
    }
    if (strlen(getenv("AWS_ACCESS_KEY_ID")) >= sizeof out->access_key_id ||
        strlen(getenv("AWS_SECRET_ACCESS_KEY")) >= sizeof out->secret_access_key) {
        snprintf(
            err, errlen,
            "environment: AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY longer than 128 characters");
        return -1;
    }
    snprintf(out->access_key_id, sizeof out->access_key_id, "%s", getenv("AWS_ACCESS_KEY_ID"));
    snprintf(out->secret_access_key, sizeof out->secret_access_key, "%s",
             getenv("AWS_SECRET_ACCESS_KEY"));
    if (env_set("AWS_SESSION_TOKEN")) out->session_token = strdup(getenv("AWS_SESSION_TOKEN"));
    snprintf(out->source, sizeof out->source, "environment");
    return 0;
}

/* Keys straight from a profile section. 1 when the section has none. */
static int from_keys(const char *path, bool config, const char *profile, const char *source,
                     awscred *out, char *err, size_t errlen)
{
    char tok[8192];
    int (*get)(const char *, const char *, const char *, char *, size_t) =
        config ? config_get : ini_get;
    int a = get(path, profile, "aws_access_key_id", out->access_key_id, sizeof out->access_key_id);
    int s = get(path, profile, "aws_secret_access_key", out->secret_access_key,
                sizeof out->secret_access_key);
    if (a != 1 && s != 1) return 1;
    if (a != 1 || s != 1 || !out->access_key_id[0] || !out->secret_access_key[0]) {
        snprintf(err, errlen,
                 "%s: profile %s: needs both aws_access_key_id and aws_secret_access_key", path,
                 profile);
        return -1;
    }
    if (get(path, profile, "aws_session_token", tok, sizeof tok) == 1 && tok[0])
        out->session_token = strdup(tok);
    OPENSSL_cleanse(tok, sizeof tok);
    snprintf(out->source, sizeof out->source, "%s", source);
    return 0;
}

int awscred_resolve(const awscred_options *opt, awscred *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    bool named;
    const char *profile = chosen_profile(opt, &named);
    long timeout = opt && opt->timeout_ms > 0 ? opt->timeout_ms : 1000;
    char cred_file[4096], conf_file[4096], value[4096];
    file_path(cred_file, sizeof cred_file, "AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials");
    file_path(conf_file, sizeof conf_file, "AWS_CONFIG_FILE", "~/.aws/config");
    int r;
    if (!(opt && opt->profile && *opt->profile)) {
        r = from_env(out, err, errlen);
        if (r <= 0) goto out;
    }
    bool in_cred = ini_get(cred_file, profile, "aws_access_key_id", NULL, 0) >= 0;
    bool in_conf = config_get(conf_file, profile, "region", NULL, 0) >= 0;
    if (named && !in_cred && !in_conf) {
        snprintf(err, errlen, "profile %s not found in %s or %s", profile, cred_file, conf_file);
        r = -1;
        goto out;
    }
    if ((r = from_keys(cred_file, false, profile, "shared-credentials-file", out, err, errlen)) <=
        0)
        goto out;
    if (config_get(conf_file, profile, "credential_process", value, sizeof value) == 1 ||
        ini_get(cred_file, profile, "credential_process", value, sizeof value) == 1) {
        r = run_process(value, out, err, errlen);
        if (r == 0) snprintf(out->source, sizeof out->source, "credential_process");
        goto out;
    }
    if ((r = from_keys(conf_file, true, profile, "config-file", out, err, errlen)) <= 0) goto out;
    static const char *const unsupported[] = {"role_arn", "sso_session", "sso_start_url",
                                              "web_identity_token_file"};
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++) {
        if (config_get(conf_file, profile, unsupported[i], NULL, 0) == 1 ||
            ini_get(cred_file, profile, unsupported[i], NULL, 0) == 1) {
            snprintf(err, errlen,
                     "profile %s uses %s, which berth does not resolve: export the credentials "
                     "(e.g. with `aws configure export-credentials`) or use credential_process",
                     profile, unsupported[i]);
            r = -1;
            goto out;
        }
    }
    if (env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") ||
        env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
        r = from_container(timeout, out, err, errlen);
        if (r == 0) snprintf(out->source, sizeof out->source, "container");
        goto out;
    }
    const char *disabled = getenv("AWS_EC2_METADATA_DISABLED");
    if (!(disabled && strcasecmp(disabled, "true") == 0)) {
        char imds_err[512] = "";
        r = from_imds(timeout, out, imds_err, sizeof imds_err);
        if (r == 0) {
            snprintf(out->source, sizeof out->source, "instance-metadata");
            goto out;
        }
        snprintf(err, errlen,
                 "no AWS credentials found (tried the environment, %s, %s, container "
                 "credentials and instance metadata: %s)",
                 cred_file, conf_file, imds_err);
    } else {
        snprintf(err, errlen,
                 "no AWS credentials found (tried the environment, %s, %s and container "
                 "credentials; instance metadata is disabled)",
                 cred_file, conf_file);
    }
    r = -1;
out:
    OPENSSL_cleanse(value, sizeof value);
    if (r != 0) awscred_clear(out);
    return r == 0 ? 0 : -1;
}

void awscred_clear(awscred *c)
{
    if (c->session_token) {
        OPENSSL_cleanse(c->session_token, strlen(c->session_token));
        free(c->session_token);
    }
    OPENSSL_cleanse(c, sizeof *c);
}

int awscred_region(const char *explicit_region, const char *profile, char *out, size_t outlen,
                   char *err, size_t errlen)
{
    const char *v = explicit_region && *explicit_region ? explicit_region
                    : env_set("AWS_REGION")             ? getenv("AWS_REGION")
                    : env_set("AWS_DEFAULT_REGION")     ? getenv("AWS_DEFAULT_REGION")
                                                        : NULL;
    if (v) {
        snprintf(out, outlen, "%s", v);
        return 0;
    }
    awscred_options o = {.profile = profile};
    bool named;
    const char *p = chosen_profile(&o, &named);
    char conf[4096];
    file_path(conf, sizeof conf, "AWS_CONFIG_FILE", "~/.aws/config");
    if (config_get(conf, p, "region", out, outlen) == 1 && *out) return 0;
    snprintf(err, errlen,
             "no region: pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or set region in "
             "profile %s of %s",
             p, conf);
    return -1;
}
