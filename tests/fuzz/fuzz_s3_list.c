/* Fuzz target for the ListObjectsV2 and <Error> parsers (bytes from an S3 server or anything
 * posing as one). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/source/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    s3_list_page pg;
    char err[256];
    if (s3_list_parse(copy, size, &pg, err, sizeof err) == 0) {
        for (size_t i = 0; i < pg.n_objects; i++)
            if (!pg.objects[i].key || strlen(pg.objects[i].key) > size) abort();
        if (pg.truncated && !pg.next_token) abort();
        s3_list_page_free(&pg);
    }
    char code[32], msg[64];
    s3_error_parse(copy, size, code, sizeof code, msg, sizeof msg);
    free(copy);
    return 0;
}
