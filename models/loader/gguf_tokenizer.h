/* A GGUF file's tokenizer metadata (tokenizer.ggml.*: model, pre, tokens, token types, scores,
 * merges, special ids, add_bos; tokenizer.chat_template) -> the tokenizer.json and
 * tokenizer_config.json documents Hugging Face would ship for it, for tok_load_json.
 * Owns: llama.cpp's pre-tokenizer names and their Hugging Face equivalents. Must not: tokenize. */
#ifndef BERTH_MODELS_LOADER_GGUF_TOKENIZER_H
#define BERTH_MODELS_LOADER_GGUF_TOKENIZER_H

#include <stddef.h>

#include "models/loader/gguf.h"

typedef struct gguf_tok_docs {
    char *tokenizer_json; /* malloc'd, NUL-terminated */
    size_t tokenizer_len;
    char *config_json; /* tokenizer_config.json: chat_template, bos/eos/unk/pad strings, add_bos */
    size_t config_len;
} gguf_tok_docs;

/* tokenizer.ggml.model "gpt2" becomes byte-level BPE with the pre-tokenizer llama.cpp uses for
 * tokenizer.ggml.pre; "llama" becomes SentencePiece-style BPE (byte fallback, "▁", merges ranked
 * by the pieces' scores as transformers' converter ranks them). Other models (bert, t5, rwkv, ...)
 * and unknown pre-tokenizer names are errors naming the file and the value. */
int gguf_tokenizer_docs(const gguf_file *f, gguf_tok_docs *out, char *err, size_t errlen);
void gguf_tok_docs_free(gguf_tok_docs *d);

#endif
