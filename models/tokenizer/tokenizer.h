/* The tokenizer: loads a Hugging Face tokenizer.json with a BPE model (byte-level as GPT-2, Qwen
 * and Llama 3 ship it, or SentencePiece-style as Llama 2, Mistral and Gemma do) or a WordPiece one
 * (BERT), encodes UTF-8 text to ids and decodes ids back, identical to the `tokenizers` library.
 * Owns nothing outside models/tokenizer/; it knows nothing of chat templates or the model. */
#ifndef BERTH_TOKENIZER_H
#define BERTH_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tok_tokenizer tok_tokenizer;

/* Every int-returning function here returns TOK_OK or TOK_ERR (with a message in err). */
enum { TOK_OK = 0, TOK_ERR = -1 };

/* Loads dir/tokenizer.json (or dir/tokenizer.json.gz) and, when present in the same directory,
 * tokenizer_config.json (added-token flags, eos/pad/bos strings, chat_template) and
 * chat_template.jinja (which overrides the config's template). */
int tok_load_dir(tok_tokenizer **out, const char *dir, char *err, size_t errlen);
/* Same, from an explicit path; a name ending in ".gz" is read through zlib. The companion files are
 * looked up in the file's directory. */
int tok_load_file(tok_tokenizer **out, const char *tokenizer_json_path, char *err, size_t errlen);
/* From memory: json[0..len) is a tokenizer.json document and config_json[0..config_len), when not
 * NULL, a tokenizer_config.json one (eos/bos/pad strings, added_tokens_decoder flags,
 * chat_template). name stands for the document in error messages (NULL: "tokenizer.json"). No file
 * is read; GGUF loading builds both documents from the file's metadata and comes through here. */
int tok_load_json(tok_tokenizer **out, const char *json, size_t len, const char *config_json,
                  size_t config_len, const char *name, char *err, size_t errlen);
void tok_free(tok_tokenizer *t);

/* Encodes UTF-8 text. Added tokens (special or not) in the text are matched and become their ids,
 * as HF does for text that is already templated. Invalid UTF-8 is first replaced, one U+FFFD per
 * maximal invalid subpart, exactly as Python's bytes.decode("utf-8", errors="replace").
 * *ids is malloc'd (free() it); it may be NULL when *n is 0. Safe to call from many threads. */
int tok_encode(const tok_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
               char *err, size_t errlen);
/* The same with HF's add_special_tokens: when true, the ids the post-processor adds around a
 * sequence (TemplateProcessing's BOS/EOS, Bert/Roberta's CLS/SEP) are added, as HF's
 * encode(text, add_special_tokens=True) does. tok_encode is this with false: text rendered by a
 * chat template already holds its special tokens. */
int tok_encode_special(const tok_tokenizer *t, const char *text, size_t len,
                       bool add_special_tokens, int32_t **ids, size_t *n, char *err, size_t errlen);
/* Runs the pre-tokenizer alone over text (valid UTF-8), as HF's pre_tokenizer.pre_tokenize_str
 * does, calling fn with each word: raw bytes where HF shows ByteLevel's characters. For tests and
 * debugging. Non-zero from fn stops it and returns TOK_ERR. */
int tok_pre_tokenize_text(const tok_tokenizer *t, const char *text, size_t len,
                          int (*fn)(void *ctx, const char *word, size_t n), void *ctx, char *err,
                          size_t errlen);
/* The normalizer alone over text (valid UTF-8), as HF's normalizer.normalize_str does; *out is
 * malloc'd and NUL-terminated. For tests and debugging. */
int tok_normalize_text(const tok_tokenizer *t, const char *text, size_t len, char **out,
                       size_t *outlen, char *err, size_t errlen);
/* Decodes ids to UTF-8 through the tokenizer's decoder chain as HF's decode does (ByteLevel's
 * invalid byte sequences become U+FFFD; ids outside the vocabulary are skipped, as HF skips them).
 * *text is malloc'd and NUL-terminated. */
int tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, bool skip_special_tokens,
               char **text, size_t *len, char *err, size_t errlen);

int32_t tok_vocab_size(const tok_tokenizer *t);                  /* highest id + 1 */
int32_t tok_token_id(const tok_tokenizer *t, const char *token); /* -1 if absent */
const char *tok_token_text(const tok_tokenizer *t,
                           int32_t id); /* raw piece, NULL if out of range */
bool tok_is_special(const tok_tokenizer *t, int32_t id);
/* The bytes id decodes to on its own (before any UTF-8 repair: a piece may be part of a character),
 * as a pointer into the tokenizer valid for its lifetime; NULL with *len 0 for an id outside the
 * vocabulary. Constrained decoding matches grammars against these. */
const uint8_t *tok_token_bytes(const tok_tokenizer *t, int32_t id, size_t *len);
const char *tok_chat_template(const tok_tokenizer *t); /* NULL if none */
const char *tok_eos_token(const tok_tokenizer *t);     /* NULL if the config names none */
const char *tok_bos_token(const tok_tokenizer *t);
const char *tok_pad_token(const tok_tokenizer *t);

/* Streaming detokenizer: fed ids one at a time, emits only complete UTF-8 text; the concatenation
 * of everything emitted (plus tok_stream_finish) equals tok_decode of all ids. Each *text is
 * malloc'd and NUL-terminated (free() it), and may be empty. The tokenizer must outlive the stream.
 */
typedef struct tok_stream tok_stream;
tok_stream *tok_stream_new(const tok_tokenizer *t,
                           bool skip_special_tokens); /* NULL if no memory */
int tok_stream_push(tok_stream *s, int32_t id, char **text, size_t *len);
int tok_stream_finish(tok_stream *s, char **text, size_t *len);
void tok_stream_free(tok_stream *s);

#endif
