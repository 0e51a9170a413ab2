/* Fuzz target: gguf_parse on arbitrary bytes must return 0 or -1 with a message, never crash; on
 * success every tensor lies inside the input, and the metadata consumers (config.json and
 * tokenizer.json from the metadata, dequantisation of small tensors) must also fail cleanly. */
#include "models/loader/gguf.h"
#include "models/loader/gguf_model.h"
#include "models/loader/gguf_quant.h"
#include "models/loader/gguf_tokenizer.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_file *f;
    char err[512] = "";
    if (gguf_parse(&f, data, size, "fuzz.gguf", err, sizeof err) != 0) {
        if (err[0] == '\0') abort();
        return 0;
    }
    for (size_t i = 0; i < f->ntensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (t->data < data || t->nbytes > (uint64_t)(data + size - t->data)) abort();
        int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        if (n <= (1 << 16) && gguf_quant_supported(t->type)) {
            float *x = malloc(sizeof(float) * (size_t)n);
            if (x && gguf_dequant(t->type, t->data, x, n) != 0) abort();
            free(x);
        }
    }
    char *json = NULL;
    err[0] = '\0';
    if (gguf_model_config_json(f, &json, err, sizeof err) != 0 && err[0] == '\0') abort();
    free(json);
    gguf_tok_docs d;
    err[0] = '\0';
    if (gguf_tokenizer_docs(f, &d, err, sizeof err) == 0)
        gguf_tok_docs_free(&d);
    else if (err[0] == '\0')
        abort();
    gguf_close(f);
    return 0;
}
