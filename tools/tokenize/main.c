/* berth-tokenize: a command-line front end to models/tokenizer for debugging, the Python tests
 * (batch mode: many requests per process) and the encode benchmark. Owns no tokenizer logic. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "models/tokenizer/tokenizer.h"

static const char usage[] =
    "usage: berth-tokenize -t PATH COMMAND [ARGS]\n"
    "  -t, --tokenizer PATH   a directory with tokenizer.json[.gz] (and tokenizer_config.json), or "
    "the file\n"
    "commands:\n"
    "  encode [TEXT...]       encode TEXT (arguments joined by spaces; stdin when none) -> JSON "
    "array of ids\n"
    "  decode [--skip-special] [ID...]\n"
    "                         decode ids (arguments, or a JSON array on stdin) -> text on stdout\n"
    "  batch                  JSON lines on stdin, one JSON line out per request:\n"
    "                           {\"encode\": \"text\"} or {\"encode_hex\": \"68690a\"}  -> "
    "{\"ids\": [...]}\n"
    "                             (with \"add_special_tokens\": true, the post-processor's ids "
    "too)\n"
    "                           {\"pre_tokenize\": \"text\"} -> {\"words\": [hex, ...]} (the "
    "pre-tokenizer alone)\n"
    "                           {\"normalize\": \"text\"} -> {\"text\": \"...\"} (the normalizer "
    "alone)\n"
    "                           {\"decode\": [ids], \"skip_special\": bool}        -> {\"text\": "
    "\"...\"}\n"
    "                           {\"stream\": [ids], \"skip_special\": bool}        -> {\"pieces\": "
    "[...]}\n"
    "                             (one piece per id, then the piece tok_stream_finish returns)\n"
    "                           a failed request answers {\"error\": \"...\"}\n"
    "  info                   vocabulary size, eos/bos/pad tokens, whether a chat template is "
    "present\n"
    "  bench FILE [REPEAT]    encode FILE line by line (newline kept), REPEAT times (default 3); "
    "prints the\n"
    "                         best run's MB/s and the token count\n";

static char *read_stream(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *b = realloc(buf, cap * 2 + 1);
        if (!b) {
            free(buf);
            return NULL;
        }
        buf = b;
        cap *= 2;
    }
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* JSON string output that keeps every byte of valid UTF-8, NUL included (cJSON strings stop at
 * NUL). */
static void put_json_string(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void put_ids(FILE *out, const int32_t *ids, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, i ? ",%d" : "%d", ids[i]);
    fputc(']', out);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Ids of a JSON array; NULL with *err set when an element is not an integer. */
static int32_t *json_ids(const cJSON *arr, size_t *n, const char **err)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsNumber(e)) {
            *err = "ids must be integers";
            free(ids);
            return NULL;
        }
        ids[i++] = (int32_t)e->valuedouble;
    }
    return ids;
}

/* Skips one JSON string starting at s[i] == '"'; returns the index after its closing quote. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
    for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\') i++;
    return i + 1;
}

static void put_utf8(char *out, size_t *k, uint32_t cp)
{
    if (cp < 0x80) {
        out[(*k)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*k)++] = (char)(0xC0 | (cp >> 6));
        out[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*k)++] = (char)(0xE0 | (cp >> 12));
        out[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*k)++] = (char)(0xF0 | (cp >> 18));
        out[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*k)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* The bytes of the string member key of the top-level object in line (JSON that cJSON has already
 * accepted), NUL characters included; malloc'd, NULL when out of memory. A lone surrogate escape
 * becomes U+FFFD, as Python's json.loads string would reach HF after its UTF-8 encoding fails. */
static char *json_member_string(const char *s, size_t n, const char *key, size_t *len)
{
    size_t i = 0, depth = 0, klen = strlen(key);
    while (i < n) {
        char c = s[i];
        if (c == '{' || c == '[') {
            depth++;
            i++;
        } else if (c == '}' || c == ']') {
            depth--;
            i++;
        } else if (c != '"') {
            i++;
        } else {
            size_t end = skip_string(s, n, i);
            size_t j = end;
            while (j < n && (s[j] == ' ' || s[j] == '\t'))
                j++;
            bool is_key = depth == 1 && j < n && s[j] == ':';
            if (!is_key || end - i - 2 != klen || memcmp(s + i + 1, key, klen) != 0) {
                i = end;
                continue;
            }
            for (j++; j < n && (s[j] == ' ' || s[j] == '\t'); j++) {
            }
            if (j >= n || s[j] != '"') return NULL;
            size_t vend = skip_string(s, n, j);
            char *out = malloc(3 * (vend - j) + 1);
            if (!out) return NULL;
            size_t k = 0;
            for (size_t p = j + 1; p + 1 < vend; p++) {
                if (s[p] != '\\') {
                    out[k++] = s[p];
                    continue;
                }
                char e = s[++p];
                const char *simple = strchr("\"\\/bfnrt", e);
                if (simple && e != 'u') {
                    out[k++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
                    continue;
                }
                uint32_t cp = (uint32_t)strtoul((char[]){s[p + 1], s[p + 2], s[p + 3], s[p + 4], 0},
                                                NULL, 16);
                p += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && p + 6 < vend && s[p + 1] == '\\' &&
                    s[p + 2] == 'u') {
                    uint32_t lo = (uint32_t)strtoul(
                        (char[]){s[p + 3], s[p + 4], s[p + 5], s[p + 6], 0}, NULL, 16);
                    if (lo >= 0xDC00 && lo < 0xE000) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        p += 6;
                    }
                }
                if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
                put_utf8(out, &k, cp);
            }
            *len = k;
            return out;
        }
    }
    return NULL;
}

struct word_out {
    FILE *out;
    size_t n;
};

/* A word as hex: ByteLevel's words are raw bytes, not always UTF-8. */
static int put_word(void *ctx, const char *p, size_t n)
{
    struct word_out *w = ctx;
    fputs(w->n++ ? ",\"" : "\"", w->out);
    for (size_t i = 0; i < n; i++)
        fprintf(w->out, "%02x", (unsigned char)p[i]);
    fputc('"', w->out);
    return 0;
}

static void batch_request(const tok_tokenizer *t, const cJSON *req, const char *line,
                          size_t line_len, FILE *out)
{
    char err[512] = "";
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(req, "encode");
    const cJSON *hex = cJSON_GetObjectItemCaseSensitive(req, "encode_hex");
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(req, "decode");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(req, "stream");
    bool skip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "skip_special"));
    if (cJSON_IsString(enc) || cJSON_IsString(hex)) {
        char *text = NULL;
        size_t len = 0;
        if (cJSON_IsString(hex)) {
            size_t h = strlen(hex->valuestring);
            text = malloc(h / 2 + 1);
            for (size_t i = 0; i + 1 < h; i += 2) {
                int a = hex_value(hex->valuestring[i]), b = hex_value(hex->valuestring[i + 1]);
                if (a < 0 || b < 0) {
                    free(text);
                    fprintf(out, "{\"error\":\"encode_hex: not hexadecimal\"}\n");
                    return;
                }
                text[len++] = (char)(a * 16 + b);
            }
        }
        int32_t *ids;
        size_t n;
        /* cJSON keeps a string's length only implicitly; a "\u0000" inside it ends valuestring, so
         * the string is decoded again here with its true length. */
        if (!text && !(text = json_member_string(line, line_len, "encode", &len))) {
            fprintf(out, "{\"error\":\"out of memory\"}\n");
            return;
        }
        bool add = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "add_special_tokens"));
        int rc = tok_encode_special(t, text, len, add, &ids, &n, err, sizeof err);
        free(text);
        if (rc != TOK_OK) {
            fputs("{\"error\":", out);
            put_json_string(out, err, strlen(err));
            fputs("}\n", out);
            return;
        }
        fputs("{\"ids\":", out);
        put_ids(out, ids, n);
        fputs("}\n", out);
        free(ids);
        return;
    }
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "normalize"))) {
        size_t len = 0, nlen = 0;
        char *text = json_member_string(line, line_len, "normalize", &len), *norm = NULL;
        int rc = text ? tok_normalize_text(t, text, len, &norm, &nlen, err, sizeof err) : TOK_ERR;
        free(text);
        fputs(rc == TOK_OK ? "{\"text\":" : "{\"error\":", out);
        if (rc == TOK_OK)
            put_json_string(out, norm, nlen);
        else
            put_json_string(out, err, strlen(err));
        fputs("}\n", out);
        free(norm);
        return;
    }
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "pre_tokenize"))) {
        size_t len = 0;
        char *text = json_member_string(line, line_len, "pre_tokenize", &len);
        fputs("{\"words\":[", out);
        struct word_out w = {out, 0};
        int rc =
            text ? tok_pre_tokenize_text(t, text, len, put_word, &w, err, sizeof err) : TOK_ERR;
        free(text);
        fputs("]", out);
        if (rc != TOK_OK) {
            fputs(",\"error\":", out);
            put_json_string(out, err, strlen(err));
        }
        fputs("}\n", out);
        return;
    }
    const cJSON *tb = cJSON_GetObjectItemCaseSensitive(req, "token_bytes");
    if (cJSON_IsArray(tb)) {
        fputs("{\"bytes\":[", out);
        const cJSON *e;
        size_t k = 0;
        cJSON_ArrayForEach(e, tb) {
            size_t n = 0;
            const uint8_t *b = tok_token_bytes(t, cJSON_IsNumber(e) ? (int32_t)e->valuedouble : -1, &n);
            fputs(k++ ? ",\"" : "\"", out);
            for (size_t i = 0; b && i < n; i++) fprintf(out, "%02x", b[i]);
            fputc('"', out);
        }
        fputs("]}\n", out);
        return;
    }
    const cJSON *arr = cJSON_IsArray(dec) ? dec : stream;
    if (!cJSON_IsArray(arr)) {
        fprintf(out, "{\"error\":\"expected one of encode, encode_hex, decode, stream\"}\n");
        return;
    }
    const char *why = NULL;
    size_t n;
    int32_t *ids = json_ids(arr, &n, &why);
    if (!ids) {
        fprintf(out, "{\"error\":\"%s\"}\n", why);
        return;
    }
    if (arr == dec) {
        char *text;
        size_t len;
        if (tok_decode(t, ids, n, skip, &text, &len, err, sizeof err) != TOK_OK) {
            fputs("{\"error\":", out);
            put_json_string(out, err, strlen(err));
            fputs("}\n", out);
        } else {
            fputs("{\"text\":", out);
            put_json_string(out, text, len);
            fputs("}\n", out);
            free(text);
        }
    } else {
        tok_stream *s = tok_stream_new(t, skip);
        fputs("{\"pieces\":[", out);
        for (size_t i = 0; i <= n && s; i++) {
            char *text;
            size_t len;
            int rc =
                i < n ? tok_stream_push(s, ids[i], &text, &len) : tok_stream_finish(s, &text, &len);
            if (rc != TOK_OK) break;
            if (i) fputc(',', out);
            put_json_string(out, text, len);
            free(text);
        }
        fputs("]}\n", out);
        tok_stream_free(s);
    }
    free(ids);
}

static int run_batch(const tok_tokenizer *t)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) > 0) {
        cJSON *req = cJSON_ParseWithLength(line, (size_t)got);
        if (!cJSON_IsObject(req))
            fprintf(stdout, "{\"error\":\"request is not a JSON object\"}\n");
        else
            batch_request(t, req, line, (size_t)got, stdout);
        cJSON_Delete(req);
        fflush(stdout);
    }
    free(line);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int run_bench(const tok_tokenizer *t, const char *path, int repeat)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "berth-tokenize: %s: cannot open\n", path);
        return 1;
    }
    size_t len;
    char *text = read_stream(f, &len);
    fclose(f);
    if (!text) return 1;
    double best = 1e30;
    size_t tokens = 0, lines = 0;
    char err[512];
    for (int r = 0; r < repeat; r++) {
        tokens = lines = 0;
        double t0 = now_s();
        for (size_t i = 0; i < len;) {
            const char *nl = memchr(text + i, '\n', len - i);
            size_t end = nl ? (size_t)(nl - text) + 1 : len;
            int32_t *ids;
            size_t n;
            if (tok_encode(t, text + i, end - i, &ids, &n, err, sizeof err) != TOK_OK) {
                fprintf(stderr, "berth-tokenize: %s\n", err);
                free(text);
                return 1;
            }
            tokens += n;
            lines++;
            free(ids);
            i = end;
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    printf("{\"bytes\":%zu,\"lines\":%zu,\"tokens\":%zu,\"seconds\":%.4f,\"mb_per_s\":%.2f}\n", len,
           lines, tokens, best, (double)len / best / 1e6);
    free(text);
    return 0;
}

static int run_encode(const tok_tokenizer *t, int argc, char **argv)
{
    char *text;
    size_t len = 0;
    if (argc > 0) {
        size_t total = 1;
        for (int i = 0; i < argc; i++)
            total += strlen(argv[i]) + 1;
        text = malloc(total);
        text[0] = '\0';
        for (int i = 0; i < argc; i++) {
            if (i) strcat(text, " ");
            strcat(text, argv[i]);
        }
        len = strlen(text);
    } else {
        text = read_stream(stdin, &len);
    }
    int32_t *ids;
    size_t n;
    char err[512];
    int rc = text ? tok_encode(t, text, len, &ids, &n, err, sizeof err) : TOK_ERR;
    free(text);
    if (rc != TOK_OK) {
        fprintf(stderr, "berth-tokenize: %s\n", text ? err : "out of memory");
        return 1;
    }
    put_ids(stdout, ids, n);
    fputc('\n', stdout);
    free(ids);
    return 0;
}

static int run_decode(const tok_tokenizer *t, int argc, char **argv)
{
    bool skip = argc > 0 && strcmp(argv[0], "--skip-special") == 0;
    argc -= skip;
    argv += skip;
    int32_t *ids;
    size_t n;
    if (argc > 0) {
        n = (size_t)argc;
        ids = malloc(n * sizeof *ids);
        for (int i = 0; i < argc; i++)
            ids[i] = (int32_t)strtol(argv[i], NULL, 10);
    } else {
        size_t len;
        char *in = read_stream(stdin, &len);
        cJSON *arr = in ? cJSON_Parse(in) : NULL;
        free(in);
        const char *why = "stdin: expected a JSON array of ids";
        ids = cJSON_IsArray(arr) ? json_ids(arr, &n, &why) : NULL;
        cJSON_Delete(arr);
        if (!ids) {
            fprintf(stderr, "berth-tokenize: %s\n", why);
            return 1;
        }
    }
    char *text, err[512];
    size_t len;
    int rc = tok_decode(t, ids, n, skip, &text, &len, err, sizeof err);
    free(ids);
    if (rc != TOK_OK) {
        fprintf(stderr, "berth-tokenize: %s\n", err);
        return 1;
    }
    fwrite(text, 1, len, stdout);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if ((strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--tokenizer") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "berth-tokenize: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!path || i >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[i++];
    struct stat st;
    char err[512];
    tok_tokenizer *t;
    int rc = stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? tok_load_dir(&t, path, err, sizeof err)
                                                         : tok_load_file(&t, path, err, sizeof err);
    if (rc != TOK_OK) {
        fprintf(stderr, "berth-tokenize: %s\n", err);
        return 1;
    }
    int status;
    if (strcmp(cmd, "encode") == 0)
        status = run_encode(t, argc - i, argv + i);
    else if (strcmp(cmd, "decode") == 0)
        status = run_decode(t, argc - i, argv + i);
    else if (strcmp(cmd, "batch") == 0)
        status = run_batch(t);
    else if (strcmp(cmd, "bench") == 0 && i < argc)
        status = run_bench(t, argv[i], i + 1 < argc ? atoi(argv[i + 1]) : 3);
    else if (strcmp(cmd, "info") == 0) {
        printf("{\"vocab_size\":%d,\"eos\":\"%s\",\"bos\":\"%s\",\"pad\":\"%s\",\"chat_template\":%"
               "s}\n",
               tok_vocab_size(t), tok_eos_token(t) ? tok_eos_token(t) : "",
               tok_bos_token(t) ? tok_bos_token(t) : "", tok_pad_token(t) ? tok_pad_token(t) : "",
               tok_chat_template(t) ? "true" : "false");
        status = 0;
    } else {
        fprintf(stderr, "berth-tokenize: unknown command %s\n%s", cmd, usage);
        status = 2;
    }
    tok_free(t);
    return status;
}
