#include "kernels/backends.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#ifdef BERTH_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

const char *bk_available(void)
{
#ifdef BERTH_HAVE_CUDA
    return "cpu, cuda";
#else
    return "cpu";
#endif
}

int bk_cuda_budget(size_t free_bytes, size_t total_bytes, double utilization, int device,
                   size_t *budget, char *err, size_t errlen)
{
    *budget = 0;
    bool given = utilization != 0;
    if (!given) utilization = BK_DEFAULT_GPU_MEMORY_UTILIZATION;
    if (!(utilization > 0 && utilization <= 1)) {
        snprintf(err, errlen, "--gpu-memory-utilization %g: expected a fraction in (0, 1]",
                 utilization);
        return -1;
    }
    if (free_bytes > total_bytes) free_bytes = total_bytes;
    size_t want = (size_t)((double)total_bytes * utilization);
    if (want <= free_bytes) {
        *budget = want;
        return 0;
    }
    size_t headroom = total_bytes - want;
    if (given || free_bytes <= headroom) {
        snprintf(
            err, errlen,
            "--gpu-memory-utilization %.3g of CUDA device %d's %zu bytes is %zu bytes, but only "
            "%zu "
            "are free (other processes hold the rest)%s: lower --gpu-memory-utilization or free "
            "the device",
            utilization, device, total_bytes, want, free_bytes,
            given ? "" : ", too little to leave the default's headroom");
        return -1;
    }
    *budget = free_bytes - headroom;
    return 0;
}

int bk_cuda_context_probe(int device, size_t *total, size_t *context, char *err, size_t errlen)
{
    *total = *context = 0;
#ifdef BERTH_HAVE_CUDA
    return bk_cuda_probe_context(device, total, context, err, errlen);
#else
    (void)device;
    snprintf(err, errlen, "this berth was built without the CUDA backend (available: %s)",
             bk_available());
    return -1;
#endif
}

static bk_backend *create_cuda(const bk_create_options *opt, char *err, size_t errlen)
{
#ifdef BERTH_HAVE_CUDA
    if (bk_cuda_device_count() <= opt->device) {
        snprintf(err, errlen, "CUDA device %d requested but %d found", opt->device, bk_cuda_device_count());
        return NULL;
    }
    size_t budget = opt->memory_budget;
    if (budget == 0) {
        size_t free_bytes = 0, total = 0;
        if (bk_cuda_device_memory(opt->device, &free_bytes, &total)) {
            snprintf(err, errlen, "cannot read CUDA device %d's memory", opt->device);
            return NULL;
        }
        if (bk_cuda_budget(free_bytes, total, opt->gpu_memory_utilization, opt->device, &budget,
                           err, errlen))
            return NULL;
    }
    return bk_cuda_create(opt->device, budget, err, errlen);
#else
    (void)opt;
    snprintf(err, errlen, "this berth was built without the CUDA backend (available: %s)", bk_available());
    return NULL;
#endif
}

bk_backend *bk_create(const bk_create_options *opt, char *err, size_t errlen)
{
    const char *name = opt->name ? opt->name : "auto";
    if (!strcmp(name, "cpu")) return bk_cpu_create(opt->threads, opt->memory_budget, err, errlen);
    if (!strcmp(name, "cuda")) return create_cuda(opt, err, errlen);
    if (!strcmp(name, "auto")) {
#ifdef BERTH_HAVE_CUDA
        if (bk_cuda_device_count() > opt->device) return create_cuda(opt, err, errlen);
#endif
        return bk_cpu_create(opt->threads, opt->memory_budget, err, errlen);
    }
    snprintf(err, errlen, "unknown backend '%s' (available: %s, auto)", name, bk_available());
    return NULL;
}

void bk_describe(const bk_backend *be, char *buf, size_t len)
{
    if (!strcmp(be->name, "cpu"))
        snprintf(buf, len, "cpu: %s kernels, %d threads (CPU has %s; BERTH_CPU_ISA forces a set)",
                 bk_cpu_kernels(be), bk_cpu_num_threads(be), bk_cpu_features());
    else
        snprintf(buf, len, "%s", be->name);
}
