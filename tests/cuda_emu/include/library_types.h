/* CUDA emulator (tests/cuda_emu): the data-type enum shared by the runtime and cuBLASLt headers.
 * Owns: cudaDataType_t. Must not: declare any function. */
#ifndef BERTH_CUDA_EMU_LIBRARY_TYPES_H
#define BERTH_CUDA_EMU_LIBRARY_TYPES_H

typedef enum cudaDataType_t {
    CUDA_R_16F = 2,
    CUDA_R_32F = 0,
    CUDA_R_64F = 1,
    CUDA_R_16BF = 14,
} cudaDataType_t;

#endif
