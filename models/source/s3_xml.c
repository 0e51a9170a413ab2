/* A small XML walker for S3's response documents. S3 writes no DTDs, no CDATA and no mixed content,
 * so the walker supports elements, attributes (skipped), the five predefined entities and numeric
 * character references, the XML declaration and comments — and refuses everything else. */
#include "models/source/s3_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XML_MAX_DEPTH 16

typedef enum { XML_OPEN, XML_LEAF, XML_CLOSE } xml_event;

typedef struct {
    const char *name;
    size_t len;
} xml_name;

/* Called with the element path (path[0] is the root). XML_LEAF carries the raw text of an element
 * without child elements, right before its XML_CLOSE. A non-zero return stops the walk. */
typedef int (*xml_cb)(void *ctx, xml_event ev, const xml_name *path, int depth, const char *text,
                      size_t len);

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int name_eq(const xml_name *n, const char *s)
{
    return n->len == strlen(s) && memcmp(n->name, s, n->len) == 0;
}

static const char *find(const char *p, const char *end, const char *needle)
{
    size_t k = strlen(needle);
    for (; p + k <= end; p++)
        if (memcmp(p, needle, k) == 0) return p;
    return NULL;
}

static int xml_walk(const char *s, size_t n, xml_cb cb, void *ctx, char *err, size_t errlen)
{
    const char *p = s, *end = s + n;
    xml_name path[XML_MAX_DEPTH];
    const char *content[XML_MAX_DEPTH];
    int had_child[XML_MAX_DEPTH];
    int depth = 0, roots = 0;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt) lt = end;
        if (depth == 0)
            for (const char *q = p; q < lt; q++)
                if (!is_space(*q)) {
                    snprintf(err, errlen, "XML: text outside the root element at byte %zu",
                             (size_t)(q - s));
                    return -1;
                }
        if (lt == end) break;
        p = lt + 1;
        if (p < end && *p == '?') {
            const char *q = find(p, end, "?>");
            if (!q) goto truncated;
            p = q + 2;
            continue;
        }
        if (p < end && *p == '!') {
            if (end - p >= 3 && memcmp(p, "!--", 3) == 0) {
                const char *q = find(p + 3, end, "-->");
                if (!q) goto truncated;
                p = q + 3;
                continue;
            }
            snprintf(err, errlen,
                     "XML: '<!' at byte %zu: DTDs and CDATA are not expected in S3 "
                     "responses",
                     (size_t)(lt - s));
            return -1;
        }
        int closing = p < end && *p == '/';
        if (closing) p++;
        const char *name = p;
        while (p < end && !is_space(*p) && *p != '>' && *p != '/')
            p++;
        if (p == end) goto truncated;
        xml_name nm = {name, (size_t)(p - name)};
        if (nm.len == 0) {
            snprintf(err, errlen, "XML: empty element name at byte %zu", (size_t)(lt - s));
            return -1;
        }
        char quote = 0;
        while (p < end && (quote || *p != '>')) {
            if (quote && *p == quote)
                quote = 0;
            else if (!quote && (*p == '"' || *p == '\''))
                quote = *p;
            p++;
        }
        if (p == end) goto truncated;
        int self_closing = !closing && p[-1] == '/';
        p++;
        if (closing) {
            if (depth == 0 || path[depth - 1].len != nm.len ||
                memcmp(path[depth - 1].name, nm.name, nm.len) != 0) {
                snprintf(err, errlen,
                         "XML: closing tag </%.*s> at byte %zu does not match the open "
                         "element",
                         (int)(nm.len > 64 ? 64 : nm.len), nm.name, (size_t)(lt - s));
                return -1;
            }
            if (!had_child[depth - 1] && cb(ctx, XML_LEAF, path, depth, content[depth - 1],
                                            (size_t)(lt - content[depth - 1])))
                return -1;
            if (cb(ctx, XML_CLOSE, path, depth, NULL, 0)) return -1;
            depth--;
            continue;
        }
        if (depth == 0 && roots++ > 0) {
            snprintf(err, errlen, "XML: a second root element at byte %zu", (size_t)(lt - s));
            return -1;
        }
        if (depth == XML_MAX_DEPTH) {
            snprintf(err, errlen, "XML: elements nested deeper than %d", XML_MAX_DEPTH);
            return -1;
        }
        if (depth > 0) had_child[depth - 1] = 1;
        path[depth] = nm;
        content[depth] = p;
        had_child[depth] = 0;
        depth++;
        if (cb(ctx, XML_OPEN, path, depth, NULL, 0)) return -1;
        if (self_closing) {
            if (cb(ctx, XML_LEAF, path, depth, p, 0) || cb(ctx, XML_CLOSE, path, depth, NULL, 0))
                return -1;
            depth--;
        }
    }
    if (depth != 0 || roots == 0) goto truncated;
    return 0;
truncated:
    snprintf(err, errlen, "XML: document ends inside %s", roots ? "an element" : "the prolog");
    return -1;
}

static void put_utf8(char *out, size_t *o, unsigned long cp)
{
    if (cp < 0x80) {
        out[(*o)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*o)++] = (char)(0xC0 | (cp >> 6));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*o)++] = (char)(0xE0 | (cp >> 12));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*o)++] = (char)(0xF0 | (cp >> 18));
        out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* Entity-decoded copy of raw element text; NULL on a malformed reference (message in err) or
 * when out of memory. Decoding only shrinks, so len + 1 bytes always suffice. */
static char *decode_text(const char *s, size_t len, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    char *out = malloc(len + 1);
    if (!out) {
        snprintf(err, errlen, "XML: out of memory");
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] != '&') {
            out[o++] = s[i++];
            continue;
        }
        const char *semi = memchr(s + i, ';', len - i);
        if (!semi || semi - (s + i) > 12) goto bad;
        const char *ref = s + i + 1;
        size_t rlen = (size_t)(semi - ref);
        int done = 0;
        for (size_t k = 0; k < sizeof named / sizeof named[0] && !done; k++)
            if (rlen == strlen(named[k].name) && memcmp(ref, named[k].name, rlen) == 0) {
                out[o++] = named[k].c;
                done = 1;
            }
        if (!done) {
            if (rlen < 2 || ref[0] != '#') goto bad;
            int hex = ref[1] == 'x';
            size_t j = hex ? 2 : 1;
            if (j == rlen) goto bad;
            unsigned long cp = 0;
            for (; j < rlen; j++) {
                char c = ref[j];
                int d = c >= '0' && c <= '9'          ? c - '0'
                        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                      : -1;
                if (d < 0) goto bad;
                cp = cp * (hex ? 16 : 10) + (unsigned long)d;
                if (cp > 0x10FFFF) goto bad;
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
            put_utf8(out, &o, cp);
        }
        i = (size_t)(semi - s) + 1;
    }
    out[o] = '\0';
    return out;
bad:
    snprintf(err, errlen, "XML: malformed character reference in \"%.*s\"",
             (int)(len > 64 ? 64 : len), s);
    free(out);
    return NULL;
}

typedef struct {
    s3_list_page *page;
    size_t cap;
    int in_contents;
    char *err;
    size_t errlen;
} list_ctx;

static int list_cb(void *vctx, xml_event ev, const xml_name *path, int depth, const char *text,
                   size_t len)
{
    list_ctx *c = vctx;
    s3_list_page *pg = c->page;
    if (depth == 1 && ev == XML_OPEN && !name_eq(&path[0], "ListBucketResult")) {
        snprintf(c->err, c->errlen,
                 "ListObjectsV2: expected a <ListBucketResult> document, got <%.*s>",
                 (int)(path[0].len > 64 ? 64 : path[0].len), path[0].name);
        return -1;
    }
    if (depth == 2 && name_eq(&path[1], "Contents")) {
        if (ev == XML_OPEN) {
            if (pg->n_objects == c->cap) {
                size_t cap = c->cap ? 2 * c->cap : 16;
                s3_list_object *o = realloc(pg->objects, cap * sizeof *o);
                if (!o) {
                    snprintf(c->err, c->errlen, "ListObjectsV2: out of memory");
                    return -1;
                }
                pg->objects = o;
                c->cap = cap;
            }
            pg->objects[pg->n_objects++] = (s3_list_object){.size = UINT64_MAX};
            c->in_contents = 1;
        } else if (ev == XML_CLOSE) {
            s3_list_object *o = &pg->objects[pg->n_objects - 1];
            if (!o->key || o->size == UINT64_MAX) {
                snprintf(c->err, c->errlen, "ListObjectsV2: <Contents> #%zu has no <%s>",
                         pg->n_objects, o->key ? "Size" : "Key");
                return -1;
            }
            c->in_contents = 0;
        }
        return 0;
    }
    if (ev != XML_LEAF) return 0;
    if (depth == 3 && c->in_contents) {
        s3_list_object *o = &pg->objects[pg->n_objects - 1];
        char **dst = name_eq(&path[2], "Key")    ? &o->key
                     : name_eq(&path[2], "ETag") ? &o->etag
                                                 : NULL;
        if (dst) {
            if (*dst) {
                snprintf(c->err, c->errlen, "ListObjectsV2: <Contents> #%zu repeats <%.*s>",
                         pg->n_objects, (int)path[2].len, path[2].name);
                return -1;
            }
            *dst = decode_text(text, len, c->err, c->errlen);
            return *dst ? 0 : -1;
        }
        if (name_eq(&path[2], "Size")) {
            uint64_t v = 0;
            if (len == 0 || len > 19) goto bad_size;
            for (size_t i = 0; i < len; i++) {
                if (text[i] < '0' || text[i] > '9') goto bad_size;
                v = v * 10 + (uint64_t)(text[i] - '0');
            }
            o->size = v;
            return 0;
        bad_size:
            snprintf(c->err, c->errlen,
                     "ListObjectsV2: <Size> of <Contents> #%zu is \"%.*s\", expected "
                     "a byte count",
                     pg->n_objects, (int)(len > 32 ? 32 : len), text);
            return -1;
        }
        return 0;
    }
    if (depth == 2 && name_eq(&path[1], "IsTruncated")) {
        if (len == 4 && memcmp(text, "true", 4) == 0)
            pg->truncated = true;
        else if (len == 5 && memcmp(text, "false", 5) == 0)
            pg->truncated = false;
        else {
            snprintf(c->err, c->errlen,
                     "ListObjectsV2: <IsTruncated> is \"%.*s\", expected true or "
                     "false",
                     (int)(len > 32 ? 32 : len), text);
            return -1;
        }
    } else if (depth == 2 && name_eq(&path[1], "NextContinuationToken")) {
        free(pg->next_token);
        pg->next_token = decode_text(text, len, c->err, c->errlen);
        return pg->next_token ? 0 : -1;
    }
    return 0;
}

int s3_list_parse(const char *xml, size_t len, s3_list_page *out, char *err, size_t errlen)
{
    *out = (s3_list_page){0};
    list_ctx c = {.page = out, .err = err, .errlen = errlen};
    char werr[256] = "";
    if (xml_walk(xml, len, list_cb, &c, werr, sizeof werr) != 0) {
        if (werr[0]) snprintf(err, errlen, "ListObjectsV2 response: %s", werr);
        s3_list_page_free(out);
        return -1;
    }
    if (out->truncated && (!out->next_token || !out->next_token[0])) {
        snprintf(err, errlen,
                 "ListObjectsV2: <IsTruncated> is true but there is no "
                 "<NextContinuationToken>");
        s3_list_page_free(out);
        return -1;
    }
    return 0;
}

void s3_list_page_free(s3_list_page *p)
{
    for (size_t i = 0; i < p->n_objects; i++) {
        free(p->objects[i].key);
        free(p->objects[i].etag);
    }
    free(p->objects);
    free(p->next_token);
    *p = (s3_list_page){0};
}

typedef struct {
    char *code, *msg;
    size_t codelen, msglen;
} error_ctx;

static void copy_text(char *dst, size_t cap, const char *text, size_t len)
{
    char derr[8];
    char *d = decode_text(text, len, derr, sizeof derr);
    snprintf(dst, cap, "%s", d ? d : "");
    free(d);
}

static int error_cb(void *vctx, xml_event ev, const xml_name *path, int depth, const char *text,
                    size_t len)
{
    error_ctx *c = vctx;
    if (ev != XML_LEAF || depth < 2 || !name_eq(&path[depth - 2], "Error")) return 0;
    if (name_eq(&path[depth - 1], "Code"))
        copy_text(c->code, c->codelen, text, len);
    else if (name_eq(&path[depth - 1], "Message"))
        copy_text(c->msg, c->msglen, text, len);
    return 0;
}

void s3_error_parse(const char *xml, size_t len, char *code, size_t codelen, char *msg,
                    size_t msglen)
{
    if (codelen) code[0] = '\0';
    if (msglen) msg[0] = '\0';
    if (!codelen || !msglen) return;
    error_ctx c = {code, msg, codelen, msglen};
    char werr[8];
    xml_walk(xml, len, error_cb, &c, werr, sizeof werr);
}
