/* A llama.cpp GGUF model file -> what a safetensors directory gives the model: a validated config
 * (made as config.json text from the metadata and parsed by model_config), and a checkpoint of
 * Hugging Face-named tensors dequantised into one dtype, with llama's Q/K row permutation undone.
 * Owns: the GGUF name and metadata mapping. Must not: touch the backend or the tokenizer. */
#ifndef BERTH_MODELS_LOADER_GGUF_MODEL_H
#define BERTH_MODELS_LOADER_GGUF_MODEL_H

#include <stddef.h>

#include "models/loader/gguf.h"
#include "models/loader/model_config.h"
#include "models/loader/safetensors.h"

/* Whether `path` names a GGUF model: a file ending in ".gguf", or a directory with no config.json
 * that holds exactly one ".gguf" file (whose path goes to out). Returns 1 (out set), 0 (not GGUF:
 * a safetensors directory), or -1 with err set (a directory with several .gguf files and no
 * config.json, or a path that is neither a file nor a directory). */
int gguf_model_locate(const char *path, char *out, size_t outlen, char *err, size_t errlen);

/* The config.json that the metadata implies (malloc'd, NUL-terminated), for model_config_parse. */
int gguf_model_config_json(const gguf_file *f, char **json, char *err, size_t errlen);

/* Parses the metadata into cfg (gen: empty, as GGUF carries no sampling defaults; the stop ids are
 * in cfg) and dequantises every tensor into `dtype` (ST_F32, ST_BF16 or ST_F16; 1-D tensors always
 * ST_F32) under its Hugging Face name. A tensor of an unsupported type, an unknown name or a shape
 * that disagrees with the metadata is an error naming the file and the tensor. */
int gguf_model_load(const char *path, st_dtype dtype, model_config *cfg, generation_config *gen,
                    st_checkpoint **ck, char *err, size_t errlen);

#endif
