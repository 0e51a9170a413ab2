/* A minimal test harness for the C tests: checks that report file:line and keep going, a summary
 * line, and paths to the repository and to ../shared. */
#ifndef BERTH_TEST_SUPPORT_H
#define BERTH_TEST_SUPPORT_H

#include <stdio.h>

extern int test_failures;
extern int test_checks;

void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                            \
    } while (0)

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__);                                   \
    } while (0)

/* Prints "name: N checks, N failed" and returns the process exit code (0 only if all passed and
 * at least one check ran). */
int test_finish(const char *name);

/* $BERTH_SOURCE_DIR (set by ctest) joined with rel; exits the test with a message if unset. */
const char *test_source_path(const char *rel, char *buf, size_t len);
/* $BERTH_SHARED_DIR joined with rel; a missing ../shared fails the test with a message. */
const char *test_shared_path(const char *rel, char *buf, size_t len);

#endif
