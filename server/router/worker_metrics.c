#include "server/router/worker_metrics.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
    buf *b = u;
    put(b, p, sz * n);
    return b->oom ? 0 : sz * n;
}

typedef struct family {
    char name[128];
    buf head; /* HELP and TYPE lines */
    buf samples;
} family;

/* The family a "# HELP name ..." line opens. */
static family *family_of(family **fams, size_t *n, const char *line, size_t len)
{
    const char *name = line + 7;
    size_t nl = 0;
    while (name + nl < line + len && name[nl] != ' ')
        nl++;
    if (nl >= sizeof((family *)0)->name) nl = sizeof((family *)0)->name - 1;
    for (size_t i = 0; i < *n; i++)
        if (strlen((*fams)[i].name) == nl && !memcmp((*fams)[i].name, name, nl)) return &(*fams)[i];
    family *nf = realloc(*fams, (*n + 1) * sizeof **fams);
    if (!nf) return NULL;
    *fams = nf;
    family *f = &nf[(*n)++];
    memset(f, 0, sizeof *f);
    memcpy(f->name, name, nl);
    return f;
}

/* A sample line with copy="N" added to its labels. */
static void put_sample(buf *b, const char *line, size_t len, int copy)
{
    char label[32];
    const char *brace = memchr(line, '{', len), *space = memchr(line, ' ', len);
    if (!space) return;
    if (brace && brace < space) {
        const char *close = memchr(brace, '}', (size_t)(line + len - brace));
        if (!close) return;
        put(b, line, (size_t)(close - line));
        int n = snprintf(label, sizeof label, "%scopy=\"%d\"", close > brace + 1 ? "," : "", copy);
        put(b, label, (size_t)n);
        put(b, close, (size_t)(line + len - close));
    } else {
        put(b, line, (size_t)(space - line));
        int n = snprintf(label, sizeof label, "{copy=\"%d\"}", copy);
        put(b, label, (size_t)n);
        put(b, space, (size_t)(line + len - space));
    }
    put(b, "\n", 1);
}

/* Merges the exposition texts (NULL entries are skipped) by family, copy label added. */
char *wm_merge(const char *const *texts, const int *copies, size_t n)
{
    family *fams = NULL;
    size_t nf = 0;
    int oom = 0;
    for (size_t w = 0; w < n && !oom; w++) {
        family *cur = NULL;
        for (const char *p = texts[w]; p && *p;) {
            const char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len > 7 && !strncmp(p, "# HELP ", 7)) {
                size_t before = nf;
                cur = family_of(&fams, &nf, p, len);
                int fresh = nf > before; /* the first worker's HELP and TYPE head the family */
                if (!cur)
                    oom = 1;
                else if (fresh)
                    put(&cur->head, p, len), put(&cur->head, "\n", 1);
                p = e ? e + 1 : p + len;
                /* the TYPE line that follows goes to the head once */
                if (cur && !strncmp(p, "# TYPE ", 7)) {
                    const char *e2 = strchr(p, '\n');
                    size_t l2 = e2 ? (size_t)(e2 - p) : strlen(p);
                    if (fresh) put(&cur->head, p, l2), put(&cur->head, "\n", 1);
                    p = e2 ? e2 + 1 : p + l2;
                }
                continue;
            }
            if (cur && len && p[0] != '#') put_sample(&cur->samples, p, len, copies[w]);
            p = e ? e + 1 : p + len;
        }
    }
    buf out = {0};
    put(&out, "", 0);
    for (size_t i = 0; i < nf; i++) {
        oom |= fams[i].head.oom || fams[i].samples.oom;
        if (fams[i].head.p) put(&out, fams[i].head.p, fams[i].head.len);
        if (fams[i].samples.p) put(&out, fams[i].samples.p, fams[i].samples.len);
        free(fams[i].head.p);
        free(fams[i].samples.p);
    }
    free(fams);
    if (oom || out.oom) {
        free(out.p);
        return NULL;
    }
    return out.p ? out.p : strdup("");
}

char *wm_collect(const char *const *sockets, const int *copies, size_t n)
{
    char **texts = calloc(n ? n : 1, sizeof *texts);
    CURL *h = curl_easy_init();
    if (!texts || !h) {
        free(texts);
        if (h) curl_easy_cleanup(h);
        return NULL;
    }
    for (size_t w = 0; w < n; w++) {
        buf text = {0};
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sockets[w]);
        curl_easy_setopt(h, CURLOPT_URL, "http://localhost/metrics");
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &text);
        long code = 0;
        if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200 && !text.oom)
            texts[w] = text.p;
        else
            free(text.p);
    }
    curl_easy_cleanup(h);
    char *out = wm_merge((const char *const *)texts, copies, n);
    for (size_t w = 0; w < n; w++)
        free(texts[w]);
    free(texts);
    return out;
}
