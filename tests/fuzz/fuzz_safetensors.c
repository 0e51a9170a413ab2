/* Fuzz target: st_parse on arbitrary bytes must return 0 or -1 with a message, never crash, and on
 * success every tensor must lie inside the input. */
#include "models/loader/safetensors.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_tensor *ts;
    size_t n;
    char err[512] = "";
    if (st_parse(data, size, "fuzz.safetensors", &ts, &n, err, sizeof err) != 0) {
        if (err[0] == '\0') abort();
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = ts[i].data;
        if (p < data || ts[i].nbytes > (uint64_t)(data + size - p) ||
            ts[i].nbytes % st_dtype_size(ts[i].dtype) != 0)
            abort();
    }
    st_tensors_free(ts, n);
    return 0;
}
