#include "tests/support/test_support.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

int test_failures;
int test_checks;

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    test_failures++;
    fprintf(stderr, "%s:%d: FAILED: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int test_finish(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    if (test_checks == 0) {
        fprintf(stderr, "%s: no check ran: a test that checks nothing is a failure\n", name);
        return 1;
    }
    return test_failures ? 1 : 0;
}

static const char *join_env(const char *var, const char *rel, char *buf, size_t len)
{
    const char *base = getenv(var);
    if (!base || !*base) {
        fprintf(stderr, "%s is not set: run this test through ctest\n", var);
        exit(1);
    }
    snprintf(buf, len, "%s/%s", base, rel);
    return buf;
}

const char *test_source_path(const char *rel, char *buf, size_t len)
{
    return join_env("BERTH_SOURCE_DIR", rel, buf, len);
}

const char *test_shared_path(const char *rel, char *buf, size_t len)
{
    join_env("BERTH_SHARED_DIR", rel, buf, len);
    if (access(buf, R_OK) != 0) {
        fprintf(stderr, "shared test data missing: %s (CI lays ../shared beside the checkout)\n", buf);
        exit(1);
    }
    return buf;
}
