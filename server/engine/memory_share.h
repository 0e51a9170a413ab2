/* Memory shares (docs/components.md, "Memory shares"): whether a model fits the share it is given
 * and whether a set of shares fits one device, as arithmetic tested without a device; plus the
 * device probe a supervisor calls before anything loads. Must not: allocate device memory, load
 * models or start workers. */
#ifndef BERTH_ENGINE_MEMORY_SHARE_H
#define BERTH_ENGINE_MEMORY_SHARE_H

#include <stdbool.h>
#include <stddef.h>

#define MEMSHARE_MIB ((size_t)1 << 20)

/* What a model needs inside its share: everything is carved from the share, so their sum must fit.
 */
typedef struct memshare_need {
    size_t weights;   /* the checkpoint's tensors as the backend holds them */
    size_t workspace; /* the backend's fixed workspace (cuBLASLt, scratch), activations, sampler */
    size_t min_kv;    /* the smallest KV cache that serves: one sequence of max_model_len when it is
                       * given, else one block (plus the graphs' trash block) */
} memshare_need;

/* 0 when need fits `share` bytes; else -1 with err "weights X MiB + workspace Y MiB + minimum KV
 * Z MiB = T MiB > share N MiB". */
int memshare_fit(const memshare_need *need, size_t share, char *err, size_t errlen);

/* A device's memory as shares see it. */
typedef struct memshare_device {
    size_t total;       /* CUDA: the device's memory; CPU: physical RAM */
    size_t per_process; /* CUDA: one process's context (measured, see measured); CPU: 0 */
    bool measured; /* per_process came from a probe on the device, not the documented default */
} memshare_device;

/* One CUDA context's memory when it cannot be measured (docs/components.md says why). */
#define MEMSHARE_CUDA_CONTEXT_DEFAULT ((size_t)512 << 20)

/* 0 when n processes with these shares (bytes) fit dev: sum(shares) + n * per_process <= total;
 * else -1 with err giving every number. `what` names the device in the message. */
int memshare_check(const size_t *shares, size_t n, const memshare_device *dev, const char *what,
                   char *err, size_t errlen);

/* Reads the device: backend "cpu" (physical RAM) or "cuda" (device `device`: total memory, and the
 * context measured in a child process so that the caller never holds a context itself). 0, or -1
 * with err naming the call that failed. */
int memshare_probe(const char *backend, int device, memshare_device *out, char *err, size_t errlen);

/* memshare_probe then memshare_check: what a supervisor calls before it starts any worker. */
int memshare_check_device(const char *backend, int device, const size_t *shares, size_t n,
                          char *err, size_t errlen);

#endif
