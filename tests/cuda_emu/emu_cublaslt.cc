/* cuBLASLt on the CPU: a naive GEMM accumulating in fp32 in k order, D = alpha·op(A)·op(B) + beta·C
 * over column-major layouts with leading dimensions, A/B in fp32, fp16 or bf16, C/D in fp32, fp32
 * compute and scale. What berth's cuda_matmul.cu sets is honoured; any other attribute is refused. */
#include <cstdio>
#include <cstring>
#include <vector>

#include "cublasLt.h"
#include "cuda_bf16.h"
#include "cuda_fp16.h"
#include "emu_runtime.h"

struct cuemu_lt_context {
    int unused;
};

struct cuemu_lt_desc {
    cublasComputeType_t compute;
    cudaDataType_t scale;
    cublasOperation_t transa, transb;
};

struct cuemu_lt_layout {
    cudaDataType_t type;
    uint64_t rows, cols;
    int64_t ld;
};

struct cuemu_lt_pref {
    uint64_t max_workspace;
    uint32_t align[4]; /* A, B, C, D */
};

namespace {

/* Marks an algorithm the heuristic returned; data[1..4] keep the alignments it was chosen for. */
constexpr uint64_t ALGO_MAGIC = 0x6375656d756c7431ull;

size_t type_size(cudaDataType_t t)
{
    switch (t) {
    case CUDA_R_32F: return 4;
    case CUDA_R_16F:
    case CUDA_R_16BF: return 2;
    default: return 0;
    }
}

float load(const void *p, cudaDataType_t t, size_t i)
{
    switch (t) {
    case CUDA_R_16F: return __half2float(static_cast<const __half *>(p)[i]);
    case CUDA_R_16BF: return __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i]);
    default: return static_cast<const float *>(p)[i];
    }
}

struct shape {
    uint64_t m, n, k;
};

/* The checks cuBLASLt makes of a problem, shared by the heuristic and the matmul. */
cublasStatus_t check_problem(const cuemu_lt_desc *d, const cuemu_lt_layout *a,
                             const cuemu_lt_layout *b, const cuemu_lt_layout *c,
                             const cuemu_lt_layout *dl, shape *s)
{
    if (!d || !a || !b || !c || !dl) return CUBLAS_STATUS_INVALID_VALUE;
    if (d->compute != CUBLAS_COMPUTE_32F || d->scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (a->type != b->type || type_size(a->type) == 0 || c->type != CUDA_R_32F || dl->type != CUDA_R_32F)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    const uint64_t am = d->transa == CUBLAS_OP_N ? a->rows : a->cols;
    const uint64_t ak = d->transa == CUBLAS_OP_N ? a->cols : a->rows;
    const uint64_t bk = d->transb == CUBLAS_OP_N ? b->rows : b->cols;
    const uint64_t bn = d->transb == CUBLAS_OP_N ? b->cols : b->rows;
    if (ak != bk || c->rows != am || c->cols != bn || dl->rows != am || dl->cols != bn ||
        c->ld != dl->ld)
        return CUBLAS_STATUS_INVALID_VALUE;
    for (const cuemu_lt_layout *l : {a, b, c, dl})
        if (l->ld < 1 || (uint64_t)l->ld < l->rows) return CUBLAS_STATUS_INVALID_VALUE;
    *s = shape{am, bn, ak};
    return CUBLAS_STATUS_SUCCESS;
}

size_t span_bytes(const cuemu_lt_layout *l)
{
    if (l->rows == 0 || l->cols == 0) return 0;
    return ((l->cols - 1) * (uint64_t)l->ld + l->rows) * type_size(l->type);
}

} // namespace

cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle)
{
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    *handle = new cuemu_lt_context{};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle)
{
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *desc, cublasComputeType_t compute,
                                        cudaDataType_t scale)
{
    if (!desc) return CUBLAS_STATUS_INVALID_VALUE;
    *desc = new cuemu_lt_desc{compute, scale, CUBLAS_OP_N, CUBLAS_OP_N};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc)
{
    delete desc;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                                              cublasLtMatmulDescAttributes_t attr, const void *buf,
                                              size_t size)
{
    if (!desc || !buf) return CUBLAS_STATUS_INVALID_VALUE;
    switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
    case CUBLASLT_MATMUL_DESC_TRANSB: {
        int32_t op;
        if (size != sizeof op) return CUBLAS_STATUS_INVALID_VALUE;
        memcpy(&op, buf, sizeof op);
        if (op != CUBLAS_OP_N && op != CUBLAS_OP_T) return CUBLAS_STATUS_NOT_SUPPORTED;
        (attr == CUBLASLT_MATMUL_DESC_TRANSA ? desc->transa : desc->transb) = (cublasOperation_t)op;
        return CUBLAS_STATUS_SUCCESS;
    }
    default: return CUBLAS_STATUS_NOT_SUPPORTED; /* epilogues and the rest: not emulated */
    }
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *layout, cudaDataType_t type,
                                          uint64_t rows, uint64_t cols, int64_t ld)
{
    if (!layout) return CUBLAS_STATUS_INVALID_VALUE;
    *layout = new cuemu_lt_layout{type, rows, cols, ld};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout)
{
    delete layout;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref)
{
    if (!pref) return CUBLAS_STATUS_INVALID_VALUE;
    *pref = new cuemu_lt_pref{0, {256, 256, 256, 256}};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref)
{
    delete pref;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void *buf, size_t size)
{
    if (!pref || !buf) return CUBLAS_STATUS_INVALID_VALUE;
    switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
        if (size != sizeof pref->max_workspace) return CUBLAS_STATUS_INVALID_VALUE;
        memcpy(&pref->max_workspace, buf, size);
        return CUBLAS_STATUS_SUCCESS;
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: {
        uint32_t v;
        if (size != sizeof v) return CUBLAS_STATUS_INVALID_VALUE;
        memcpy(&v, buf, sizeof v);
        if (v == 0 || (v & (v - 1))) return CUBLAS_STATUS_INVALID_VALUE;
        pref->align[attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES] = v;
        return CUBLAS_STATUS_SUCCESS;
    }
    default: return CUBLAS_STATUS_NOT_SUPPORTED;
    }
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t *results, int *count)
{
    if (!handle || !pref || requested < 1 || !results || !count) return CUBLAS_STATUS_INVALID_VALUE;
    *count = 0;
    shape s;
    const cublasStatus_t st = check_problem(desc, a, b, c, d, &s);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
    memset(results, 0, sizeof *results);
    results->algo.data[0] = ALGO_MAGIC;
    for (int i = 0; i < 4; i++) results->algo.data[1 + i] = pref->align[i];
    results->workspaceSize = 0;
    results->state = CUBLAS_STATUS_SUCCESS;
    results->wavesCount = 1.0f;
    *count = 1;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void *alpha,
                              const void *a, cublasLtMatrixLayout_t a_layout, const void *b,
                              cublasLtMatrixLayout_t b_layout, const void *beta, const void *c,
                              cublasLtMatrixLayout_t c_layout, void *d,
                              cublasLtMatrixLayout_t d_layout, const cublasLtMatmulAlgo_t *algo,
                              void *workspace, size_t workspace_size, cudaStream_t stream)
{
    if (!handle || !alpha || !beta || !algo || algo->data[0] != ALGO_MAGIC)
        return CUBLAS_STATUS_INVALID_VALUE;
    shape s;
    const cublasStatus_t st = check_problem(desc, a_layout, b_layout, c_layout, d_layout, &s);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
    /* The algorithm was chosen for these alignments; less aligned pointers are not supported. */
    const void *ptrs[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++)
        if ((uintptr_t)ptrs[i] % algo->data[1 + i]) return CUBLAS_STATUS_NOT_SUPPORTED;
    const cuemu_lt_layout *ls[4] = {a_layout, b_layout, c_layout, d_layout};
    for (int i = 0; i < 4; i++) {
        if (!cuemu::is_device_range(ptrs[i], span_bytes(ls[i]))) {
            fprintf(stderr, "cuda_emu: cublasLtMatmul: matrix %c at %p (%zu bytes) is not device "
                    "memory\n", "ABCD"[i], ptrs[i], span_bytes(ls[i]));
            return CUBLAS_STATUS_INVALID_VALUE;
        }
    }
    if (workspace_size && !cuemu::is_device_range(workspace, workspace_size))
        return CUBLAS_STATUS_INVALID_VALUE;
    float al, be;
    memcpy(&al, alpha, sizeof al);
    memcpy(&be, beta, sizeof be);
    const cuemu_lt_desc ds = *desc;
    const cuemu_lt_layout la = *a_layout, lb = *b_layout, lc = *c_layout, ld = *d_layout;
    const cudaError_t e = cuemu::enqueue(stream, [=]() {
        /* op(B) column j as floats, then every op(A) row i dotted with it in k order. */
        std::vector<float> bcols(s.n * s.k), arow(s.k);
        for (uint64_t j = 0; j < s.n; j++)
            for (uint64_t k = 0; k < s.k; k++)
                bcols[j * s.k + k] = load(b, lb.type, ds.transb == CUBLAS_OP_N ? k + j * lb.ld
                                                                               : j + k * lb.ld);
        for (uint64_t i = 0; i < s.m; i++) {
            for (uint64_t k = 0; k < s.k; k++)
                arow[k] = load(a, la.type, ds.transa == CUBLAS_OP_N ? i + k * la.ld : k + i * la.ld);
            for (uint64_t j = 0; j < s.n; j++) {
                const float *bc = &bcols[j * s.k];
                float acc = 0.0f;
                for (uint64_t k = 0; k < s.k; k++) acc += arow[k] * bc[k];
                /* beta == 0: C is not read (it may hold NaN), as cuBLAS documents. */
                const float cv = be == 0.0f ? 0.0f : be * static_cast<const float *>(c)[i + j * lc.ld];
                static_cast<float *>(d)[i + j * ld.ld] = al * acc + cv;
            }
        }
    });
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}
