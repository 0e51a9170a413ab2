#include "server/auth/bearer_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SAGEMAKER_HOST "sagemaker.amazonaws.com"
#define DEFAULT_BEDROCK_HOST "bedrock.amazonaws.com"

const char *bearer_status_name(bearer_status s)
{
    switch (s) {
    case BEARER_OK:
        return "ok";
    case BEARER_MISSING:
        return "missing";
    case BEARER_MALFORMED:
        return "malformed";
    case BEARER_UNKNOWN_KEY:
        return "unknown_key";
    case BEARER_BAD_SIGNATURE:
        return "bad_signature";
    case BEARER_EXPIRED:
        return "expired";
    case BEARER_NOT_YET_VALID:
        return "not_yet_valid";
    case BEARER_WRONG_REGION:
        return "wrong_region";
    case BEARER_WRONG_SERVICE:
        return "wrong_service";
    case BEARER_SESSION_TOKEN_MISMATCH:
        return "session_token_mismatch";
    }
    return "unknown";
}

static const char *service_of(bearer_kind k)
{
    return k == BEARER_BEDROCK ? "bedrock" : "sagemaker";
}

static const char *host_of(bearer_kind k, const char *sagemaker_host, const char *bedrock_host)
{
    if (k == BEARER_BEDROCK) return bedrock_host ? bedrock_host : DEFAULT_BEDROCK_HOST;
    return sagemaker_host ? sagemaker_host : DEFAULT_SAGEMAKER_HOST;
}

/* ---- base64 (standard alphabet, '=' padding required, nothing else allowed) -------------------
 */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Returns the decoded length, or -1. `out` holds at least len / 4 * 3 + 1 bytes. */
static long b64_decode(const char *in, size_t len, unsigned char *out)
{
    if (len == 0 || len % 4) return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad) return -1; /* data after '=' */
            v[k] = b64val(c);
            if (v[k] < 0) return -1;
        }
        unsigned n = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        out[o++] = (unsigned char)(n >> 16);
        if (pad < 2) out[o++] = (unsigned char)(n >> 8);
        if (pad < 1) out[o++] = (unsigned char)n;
        /* Non-canonical padding bits would let two strings decode alike: refuse them. */
        if ((pad == 2 && (v[1] & 15)) || (pad == 1 && (v[2] & 3))) return -1;
    }
    out[o] = '\0';
    return (long)o;
}

/* ---- parsing -----------------------------------------------------------------------------------
 */

enum {
    P_ACTION,
    P_ALGORITHM,
    P_CREDENTIAL,
    P_DATE,
    P_EXPIRES,
    P_SIGNED_HEADERS,
    P_TOKEN,
    P_SIGNATURE,
    P_VERSION,
    P_COUNT
};
static const char *const param_names[P_COUNT] = {
    "Action",        "X-Amz-Algorithm",     "X-Amz-Credential",     "X-Amz-Date",
    "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature",
    "Version"};

static bool all_of(const char *s, size_t n, const char *set_desc)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= '0' && c <= '9') || (set_desc[0] == 'A' && c >= 'A' && c <= 'Z') ||
                  (set_desc[1] == 'a' && c >= 'a' && c <= 'z') || (set_desc[2] == '-' && c == '-');
        if (!ok) return false;
    }
    return n > 0;
}

/* A decoded field against a literal: lengths first, so a value with anything after the literal
 * (or inside it) is a different value. */
static bool field_is(const sigv4_buf *v, const char *lit)
{
    size_t n = strlen(lit);
    return v->data && v->len == n && memcmp(v->data, lit, n) == 0;
}

/* "AKID/yyyymmdd/region/service/aws4_request", `n` bytes. */
static bearer_status parse_credential(const char *c, size_t n, bearer_token *out, char date8[9])
{
    const char *part[5];
    size_t len[5];
    const char *p = c, *end = c + n;
    for (int i = 0; i < 5; i++) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        if ((i < 4) != (slash != NULL)) return BEARER_MALFORMED;
        part[i] = p;
        len[i] = slash ? (size_t)(slash - p) : (size_t)(end - p);
        p = slash ? slash + 1 : p;
    }
    if (len[0] >= sizeof out->access_key_id || !all_of(part[0], len[0], "Aa_"))
        return BEARER_MALFORMED;
    if (len[1] != 8 || !all_of(part[1], 8, "___")) return BEARER_MALFORMED;
    if (len[2] >= sizeof out->region || !all_of(part[2], len[2], "_a-")) return BEARER_MALFORMED;
    if (len[3] >= sizeof out->service || !all_of(part[3], len[3], "_a-")) return BEARER_MALFORMED;
    if (len[4] != 12 || memcmp(part[4], "aws4_request", 12) != 0) return BEARER_MALFORMED;
    memcpy(out->access_key_id, part[0], len[0]);
    out->access_key_id[len[0]] = '\0';
    memcpy(date8, part[1], 8);
    date8[8] = '\0';
    memcpy(out->region, part[2], len[2]);
    out->region[len[2]] = '\0';
    memcpy(out->service, part[3], len[3]);
    out->service[len[3]] = '\0';
    return BEARER_OK;
}

/* The verifier re-signs from the decoded value, so the value as sent must be exactly the SigV4
 * encoding of it: "%41ction" or a lowercase escape would otherwise be a second spelling of the
 * same credential. Decoded bytes must be printable ASCII (no NUL, no controls, no 8-bit). */
static bool canonical_value(const sigv4_buf *dec, const char *raw, size_t rlen)
{
    for (size_t i = 0; i < dec->len; i++) {
        unsigned char c = (unsigned char)dec->data[i];
        if (c < 0x20 || c > 0x7e) return false;
    }
    sigv4_buf enc = {0};
    sigv4_uri_encode(&enc, dec->data, dec->len, false);
    bool same = !enc.oom && enc.len == rlen && (rlen == 0 || memcmp(enc.data, raw, rlen) == 0);
    sigv4_buf_free(&enc);
    return same;
}

/* Splits "k=v&k=v" into the known parameters, decoded. Unknown or repeated names are malformed:
 * the verifier re-signs from these fields, so nothing may ride along unsigned except Version. */
static bearer_status split_params(char *q, sigv4_buf vals[P_COUNT])
{
    for (char *p = q;;) {
        char *amp = strchr(p, '&');
        if (amp) *amp = '\0';
        char *eq = strchr(p, '=');
        if (!eq) return BEARER_MALFORMED;
        *eq = '\0';
        int which = -1;
        for (int i = 0; i < P_COUNT; i++)
            if (strcmp(p, param_names[i]) == 0) which = i;
        if (which < 0 || vals[which].data) return BEARER_MALFORMED;
        const char *v = eq + 1;
        size_t vlen = strlen(v);
        if (sigv4_percent_decode(&vals[which], v, vlen) != 0 || vals[which].oom ||
            !canonical_value(&vals[which], v, vlen))
            return BEARER_MALFORMED;
        if (!amp) break;
        p = amp + 1;
    }
    return BEARER_OK;
}

static bearer_status check_fields(sigv4_buf v[P_COUNT], bearer_token *out)
{
    for (int i = 0; i < P_COUNT; i++)
        if (i != P_TOKEN && !v[i].data) return BEARER_MALFORMED;
    if (!field_is(&v[P_ACTION], "CallWithBearerToken") ||
        !field_is(&v[P_ALGORITHM], SIGV4_ALGORITHM) || !field_is(&v[P_SIGNED_HEADERS], "host") ||
        !field_is(&v[P_VERSION], "1"))
        return BEARER_MALFORMED;
    char date8[9];
    bearer_status st = parse_credential(v[P_CREDENTIAL].data, v[P_CREDENTIAL].len, out, date8);
    if (st != BEARER_OK) return st;
    if (v[P_DATE].len != 16 || sigv4_parse_time(v[P_DATE].data, v[P_DATE].len, &out->signed_at) != 0 ||
        memcmp(v[P_DATE].data, date8, 8) != 0)
        return BEARER_MALFORMED;
    memcpy(out->amz_date, v[P_DATE].data, 16);
    out->amz_date[16] = '\0';
    /* Canonical decimal only: the verifier re-signs from the number, so "060" must not pass. */
    const char *e = v[P_EXPIRES].data;
    size_t elen = v[P_EXPIRES].len;
    if (elen == 0 || elen > 5 || e[0] == '0' || !all_of(e, elen, "___")) return BEARER_MALFORMED;
    out->expires = strtol(e, NULL, 10);
    if (out->expires < 1 || out->expires > BEARER_MAX_EXPIRES) return BEARER_MALFORMED;
    const char *sig = v[P_SIGNATURE].data;
    if (v[P_SIGNATURE].len != 64) return BEARER_MALFORMED;
    for (int i = 0; i < 64; i++)
        if (!((sig[i] >= '0' && sig[i] <= '9') || (sig[i] >= 'a' && sig[i] <= 'f')))
            return BEARER_MALFORMED;
    memcpy(out->signature, sig, 64);
    out->signature[64] = '\0';
    if (v[P_TOKEN].data) {
        size_t tlen = v[P_TOKEN].len;
        if (tlen == 0) return BEARER_MALFORMED;
        out->session_token = malloc(tlen + 1);
        if (!out->session_token) return BEARER_MALFORMED;
        memcpy(out->session_token, v[P_TOKEN].data, tlen);
        out->session_token[tlen] = '\0';
    }
    return BEARER_OK;
}

bearer_status bearer_parse(const char *value, size_t len, const bearer_options *opt,
                           bearer_token *out)
{
    memset(out, 0, sizeof *out);
    if (!value || len == 0) return BEARER_MISSING;
    size_t sp = strlen(BEARER_SAGEMAKER_PREFIX), bp = strlen(BEARER_BEDROCK_PREFIX);
    size_t plen;
    if (len > sp && memcmp(value, BEARER_SAGEMAKER_PREFIX, sp) == 0) {
        out->kind = BEARER_SAGEMAKER;
        plen = sp;
    } else if (len > bp && memcmp(value, BEARER_BEDROCK_PREFIX, bp) == 0) {
        out->kind = BEARER_BEDROCK;
        plen = bp;
    } else {
        return BEARER_MALFORMED;
    }
    size_t blen = len - plen;
    if (blen > BEARER_MAX_TOKEN_LEN) return BEARER_MALFORMED;
    unsigned char *url = malloc(blen / 4 * 3 + 1);
    if (!url) return BEARER_MALFORMED;
    long ulen = b64_decode(value + plen, blen, url);
    bearer_status st = BEARER_MALFORMED;
    sigv4_buf vals[P_COUNT] = {{0}};
    if (ulen <= 0) goto done;
    for (long i = 0; i < ulen; i++)
        if (url[i] < 0x21 || url[i] > 0x7e) goto done;
    char *s = (char *)url, *slash = strchr(s, '/');
    if (!slash || slash[1] != '?') goto done;
    *slash = '\0';
    if (strcmp(s, host_of(out->kind, opt->sagemaker_host, opt->bedrock_host)) != 0) goto done;
    st = split_params(slash + 2, vals);
    if (st == BEARER_OK) st = check_fields(vals, out);
    if (st != BEARER_OK) goto done;
    /* Scope: the service must match the prefix, the region must be one we serve. */
    if (strcmp(out->service, service_of(out->kind)) != 0 ||
        (out->kind == BEARER_BEDROCK && !opt->accept_bedrock)) {
        st = BEARER_WRONG_SERVICE;
        goto done;
    }
    st = BEARER_WRONG_REGION;
    for (size_t i = 0; i < opt->n_regions; i++)
        if (strcmp(opt->regions[i], out->region) == 0) st = BEARER_OK;
done:
    for (int i = 0; i < P_COUNT; i++)
        sigv4_buf_free(&vals[i]);
    OPENSSL_cleanse(url, blen / 4 * 3 + 1);
    free(url);
    return st;
}

void bearer_token_free(bearer_token *t)
{
    if (t->session_token) {
        OPENSSL_cleanse(t->session_token, strlen(t->session_token));
        free(t->session_token);
    }
    memset(t, 0, sizeof *t);
}

/* ---- verification ------------------------------------------------------------------------------
 */

static bool same_secret(const char *a, const char *b)
{
    /* Hash first so the comparison time depends on neither content nor length. */
    unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)a, strlen(a), ha);
    SHA256((const unsigned char *)b, strlen(b), hb);
    return CRYPTO_memcmp(ha, hb, sizeof ha) == 0;
}

static int presign(bearer_kind kind, const char *host, const char *region, const char *akid,
                   const char *secret, const char *session_token, int64_t when, int64_t expires,
                   sigv4_result *r, char *err, size_t errlen)
{
    sigv4_header h = {"host", host};
    sigv4_signer s = {.access_key_id = akid,
                      .secret_access_key = secret,
                      .session_token = session_token,
                      .region = region,
                      .service = service_of(kind),
                      .time = when,
                      .expires = expires};
    sigv4_request req = {.method = "POST",
                         .path = "/",
                         .query = "Action=CallWithBearerToken",
                         .headers = &h,
                         .n_headers = 1,
                         .payload_hash = SIGV4_EMPTY_SHA256};
    return sigv4_presign(&s, &req, r, err, errlen);
}

bearer_status bearer_verify(const bearer_token *t, const bearer_key *key, const bearer_options *opt,
                            int64_t now)
{
    if (!key || !key->secret_access_key) return BEARER_UNKNOWN_KEY;
    sigv4_result r;
    char err[128];
    if (presign(t->kind, host_of(t->kind, opt->sagemaker_host, opt->bedrock_host), t->region,
                t->access_key_id, key->secret_access_key, t->session_token, t->signed_at,
                t->expires, &r, err, sizeof err) != 0)
        return BEARER_BAD_SIGNATURE;
    bool sig_ok = CRYPTO_memcmp(r.signature, t->signature, 64) == 0;
    sigv4_result_free(&r);
    if (!sig_ok) return BEARER_BAD_SIGNATURE;
    bool has_key_token = key->session_token && *key->session_token;
    if (has_key_token != (t->session_token != NULL)) return BEARER_SESSION_TOKEN_MISMATCH;
    if (has_key_token && !same_secret(key->session_token, t->session_token))
        return BEARER_SESSION_TOKEN_MISMATCH;
    if (t->signed_at > now + opt->clock_skew) return BEARER_NOT_YET_VALID;
    if (now > t->signed_at + t->expires) return BEARER_EXPIRED;
    if (key->expiration && now > key->expiration) return BEARER_EXPIRED;
    return BEARER_OK;
}

/* ---- generation --------------------------------------------------------------------------------
 */

int bearer_generate(const bearer_request *g, sigv4_buf *out, char *err, size_t errlen)
{
    *out = (sigv4_buf){0};
    if (g->expires < 1 || g->expires > BEARER_MAX_EXPIRES) {
        snprintf(err, errlen, "token expiry must be 1..%d seconds, got %lld", BEARER_MAX_EXPIRES,
                 (long long)g->expires);
        return -1;
    }
    const char *host = g->host ? g->host : host_of(g->kind, NULL, NULL);
    sigv4_result r;
    if (presign(g->kind, host, g->region, g->access_key_id, g->secret_access_key, g->session_token,
                g->now, g->expires, &r, err, errlen) != 0)
        return -1;
    sigv4_buf url = {0};
    sigv4_buf_puts(&url, host);
    sigv4_buf_puts(&url, "/?");
    sigv4_buf_puts(&url, r.output.data);
    sigv4_buf_puts(&url, "&Version=1");
    sigv4_result_free(&r);
    if (url.oom) {
        sigv4_buf_free(&url);
        snprintf(err, errlen, "token: out of memory");
        return -1;
    }
    size_t enc_len = 4 * ((url.len + 2) / 3);
    char *enc = malloc(enc_len + 1);
    if (!enc) {
        sigv4_buf_free(&url);
        snprintf(err, errlen, "token: out of memory");
        return -1;
    }
    EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)url.data, (int)url.len);
    sigv4_buf_puts(out,
                   g->kind == BEARER_BEDROCK ? BEARER_BEDROCK_PREFIX : BEARER_SAGEMAKER_PREFIX);
    sigv4_buf_append(out, enc, enc_len);
    OPENSSL_cleanse(enc, enc_len);
    free(enc);
    sigv4_buf_free(&url);
    if (out->oom) {
        sigv4_buf_free(out);
        snprintf(err, errlen, "token: out of memory");
        return -1;
    }
    return 0;
}
