/* The loader's one way to report an error: format into the caller's buffer and return -1. */
#ifndef BERTH_LOADER_ERROR_H
#define BERTH_LOADER_ERROR_H

#include <stddef.h>

int loader_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
