/* The two S3 response bodies the model fetcher reads: a ListObjectsV2 result page and an <Error>
 * document. Untrusted bytes in, owned C strings out (fuzzed: tests/fuzz/fuzz_s3_list.c).
 * Must not: do I/O or know anything about requests, signing or files. */
#ifndef BERTH_MODELS_SOURCE_S3_XML_H
#define BERTH_MODELS_SOURCE_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *key;  /* entity-decoded object key */
    char *etag; /* as S3 writes it, quotes included */
    uint64_t size;
} s3_list_object;

typedef struct {
    s3_list_object *objects;
    size_t n_objects;
    bool truncated;
    char *next_token; /* NextContinuationToken, NULL when absent */
} s3_list_page;

/* 0 with the page filled (free it with s3_list_page_free), -1 with a message naming the element and
 * what was expected (malformed XML, a missing <Key> or <Size>, a size that is not a number). */
int s3_list_parse(const char *xml, size_t len, s3_list_page *out, char *err, size_t errlen);
void s3_list_page_free(s3_list_page *p);

/* The <Code> and <Message> of an S3 <Error> body, truncated to fit; empty strings when the body is
 * not an error document (HEAD responses have no body at all). */
void s3_error_parse(const char *xml, size_t len, char *code, size_t codelen, char *msg,
                    size_t msglen);

#endif
