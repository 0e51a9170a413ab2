/* The Hugging Face side files berth-make-model writes next to the weights: config.json and
 * generation_config.json in the Hub's Qwen3 layout, and the tokenizer files copied from a folder.
 * Must not touch model.safetensors. */
#ifndef BERTH_MM_HF_FILES_H
#define BERTH_MM_HF_FILES_H

#include <stddef.h>

#include "tools/make_model/mm_spec.h"

/* Writes DIR/config.json and DIR/generation_config.json. Returns 0, or -1 naming the file. */
int mm_write_configs(const char *dir, const mm_spec *spec, char *err, size_t errlen);

/* Copies tokenizer.json (or decompresses tokenizer.json.gz), and tokenizer_config.json and
 * chat_template.jinja when present, from src into dir. tokenizer.json is required. Stores the number
 * of files copied in *copied. */
int mm_copy_tokenizer(const char *src, const char *dir, int *copied, char *err, size_t errlen);

/* The token ids written to the configs: Qwen3's own when the vocabulary is Qwen3's, else the last two
 * ids of the vocabulary. */
int mm_bos_id(const mm_spec *spec);
int mm_eos_id(const mm_spec *spec);

#endif
