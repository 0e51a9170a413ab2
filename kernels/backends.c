#include "kernels/backends.h"

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
        budget = free_bytes / 10 * 9;
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
