#include "server/engine/memory_share.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kernels/backends.h"

static double mib(size_t bytes)
{
    return (double)bytes / (double)MEMSHARE_MIB;
}

/* a + b, saturating: shares near SIZE_MAX must fail the check, not wrap into a fit. */
static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

int memshare_fit(const memshare_need *need, size_t share, char *err, size_t errlen)
{
    size_t total = add_sat(add_sat(need->weights, need->workspace), need->min_kv);
    if (total <= share) return 0;
    snprintf(err, errlen,
             "the model does not fit its memory share: weights %.1f MiB + workspace %.1f MiB + "
             "minimum KV %.1f MiB = %.1f MiB > share %.1f MiB (--memory-mib, --memory-budget)",
             mib(need->weights), mib(need->workspace), mib(need->min_kv), mib(total), mib(share));
    return -1;
}

int memshare_check(const size_t *shares, size_t n, const memshare_device *dev, const char *what,
                   char *err, size_t errlen)
{
    size_t sum = 0, ctx = 0;
    for (size_t i = 0; i < n; i++) {
        sum = add_sat(sum, shares[i]);
        ctx = add_sat(ctx, dev->per_process);
    }
    size_t total = add_sat(sum, ctx);
    if (total <= dev->total) return 0;
    snprintf(err, errlen,
             "memory shares do not fit %s: %zu shares of %.1f MiB in all + %zu x %.1f MiB per "
             "process (%s) = %.1f MiB > %.1f MiB",
             what, n, mib(sum), n, mib(dev->per_process),
             dev->per_process == 0 ? "none"
             : dev->measured       ? "CUDA context, measured"
                                   : "CUDA context, default estimate",
             mib(total), mib(dev->total));
    return -1;
}

int memshare_probe(const char *backend, int device, memshare_device *out, char *err, size_t errlen)
{
    *out = (memshare_device){0};
    if (!strcmp(backend, "cpu")) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
        if (pages <= 0 || page <= 0) {
            snprintf(err, errlen, "cannot read the physical memory size (sysconf _SC_PHYS_PAGES)");
            return -1;
        }
        out->total = (size_t)pages * (size_t)page;
        return 0;
    }
    if (!strcmp(backend, "cuda")) {
        size_t total = 0, context = 0;
        int measured = bk_cuda_context_probe(device, &total, &context, err, errlen);
        if (measured < 0) return -1;
        out->total = total;
        out->measured = measured == 1;
        out->per_process = out->measured ? context : MEMSHARE_CUDA_CONTEXT_DEFAULT;
        return 0;
    }
    snprintf(err, errlen, "memory shares: unknown backend '%s' (expected cpu or cuda)", backend);
    return -1;
}

int memshare_check_device(const char *backend, int device, const size_t *shares, size_t n,
                          char *err, size_t errlen)
{
    memshare_device dev;
    if (memshare_probe(backend, device, &dev, err, errlen)) return -1;
    char what[64];
    if (!strcmp(backend, "cuda"))
        snprintf(what, sizeof what, "CUDA device %d", device);
    else
        snprintf(what, sizeof what, "the host's physical memory");
    return memshare_check(shares, n, &dev, what, err, errlen);
}
