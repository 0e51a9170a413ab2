/* Dtype helpers shared by every backend. */
#include "kernels/backend.h"

size_t bk_dtype_size(bk_dtype dtype)
{
    switch (dtype) {
    case BK_F32:
    case BK_I32:
        return 4;
    case BK_F16:
    case BK_BF16:
        return 2;
    }
    return 0;
}

const char *bk_dtype_name(bk_dtype dtype)
{
    switch (dtype) {
    case BK_F32:
        return "F32";
    case BK_F16:
        return "F16";
    case BK_BF16:
        return "BF16";
    case BK_I32:
        return "I32";
    }
    return "?";
}
