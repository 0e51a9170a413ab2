/* Fuzz target: wm_merge (the router's merge of its workers' /metrics text) on arbitrary bytes,
 * split into two workers' answers at the first NUL or in the middle: never a crash, and every
 * sample line of the result carries a copy label. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/router/worker_metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *a = malloc(size + 1);
    if (!a) return 0;
    memcpy(a, data, size);
    a[size] = 0;
    size_t half = strlen(a) < size ? strlen(a) + 1 : size / 2;
    char *b = strdup(a + half);
    a[half < size ? half : size] = 0;
    const char *texts[2] = {a, b};
    int copies[2] = {0, 1};
    char *out = wm_merge(texts, copies, 2);
    for (const char *p = out; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && p[0] != '#') {
            const char *c = strstr(p, "copy=\"");
            if (!c || c > p + len) abort();
        }
        p = e ? e + 1 : p + len;
    }
    free(out);
    free(a);
    free(b);
    return 0;
}
