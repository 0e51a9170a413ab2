/* The endpoint configuration of `berth serve --config FILE`: the endpoint name and its inference
 * components (name, model, memory share, copies, per-worker serving limits), parsed and validated.
 * Owns no process and no socket: the supervisor starts workers from what this holds. */
#ifndef BERTH_ROUTER_COMPONENT_CONFIG_H
#define BERTH_ROUTER_COMPONENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CC_MAX_COMPONENTS 16
#define CC_MAX_COPIES 16
#define CC_NAME_MAX 63 /* SageMaker endpoint and component names are 1..63 characters */

typedef struct cc_component {
    char name[CC_NAME_MAX + 1];
    char *model;                /* directory, .gguf file or s3:// URI, as `berth serve --model` */
    int64_t memory_mib;         /* 0 = not given (no share) */
    int copies;                 /* worker processes, default 1 */
    int max_num_seqs;           /* 0 = the worker's default */
    int max_waiting;            /* sequences queued beyond max_num_seqs; 0 = the worker's default */
    int max_model_len;          /* 0 = the worker's default */
    int max_num_batched_tokens; /* 0 = the worker's default */
    int64_t kv_cache_tokens;    /* 0 = the worker's default */
    int threads;                /* CPU backend threads; 0 = the worker's default */
    char tool_call_parser[32];  /* "" = detected by the worker */
    int64_t request_timeout_s;  /* 0 = none */
    int cpu_int8_weights;       /* 1: the worker's --cpu-weights int8 */
} cc_component;

typedef struct cc_config {
    char endpoint[CC_NAME_MAX + 1]; /* default "berth" */
    char backend[16];               /* cpu, cuda or auto ("" = the worker's default) */
    int mps; /* workers with a memory_mib run under NVIDIA MPS with it as their pinned limit */
    int n_components;
    cc_component components[CC_MAX_COMPONENTS];
} cc_config;

/* Parses and validates JSON text. 0, or -1 with err naming the key path and the value
 * ("components[1].memory_mib: ..."). On success free with cc_config_free. */
int cc_config_parse(const char *json, size_t len, cc_config *out, char *err, size_t errlen);
/* One component object (a cJSON object) as in the file's components array; where prefixes the
 * key names in errors ("components[1]."). 0, or -1 with err (then free nothing). */
struct cJSON;
int cc_component_parse(const struct cJSON *o, const char *where, cc_component *out, char *err,
                       size_t errlen);

/* Reads and parses a file; err starts with the file's path. */
int cc_config_load(const char *path, cc_config *out, char *err, size_t errlen);
void cc_config_free(cc_config *c);

/* Checks that the memory shares (memory_mib x copies, summed) fit in capacity_mib; -1 with err
 * naming the total, the capacity and each component's part. */
int cc_check_shares(const cc_config *c, int64_t capacity_mib, const char *capacity_what, char *err,
                    size_t errlen);

/* The component named name, or NULL. */
const cc_component *cc_find(const cc_config *c, const char *name);

/* 1 when s is a valid SageMaker resource name: 1..63 of [A-Za-z0-9-], no leading '-'. */
int cc_valid_name(const char *s);

#endif
