/* CUDA graphs of decode steps: a forward recorded with bk_cuda_capture_begin/_end and replayed gives
 * bit-identical logits to the same forward run op by op, for the step it was recorded on and for later
 * steps whose device arrays (tokens, positions, slots, seq_lens) were re-uploaded; one graph per batch
 * bucket (every case of a fixture decoding together, and one sequence alone). Also the recording's
 * error paths: downloads and uploads refused while recording, begin twice, end without begin, an op
 * failing while recording (end returns -1, keeps the op's message, and the backend works afterwards). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"
#include "tests/gpu/gpu_model.h"
#include "tests/model/reference_fixture.h"
#include "tests/support/test_support.h"

#define MAX_TOKENS 256
#define REPLAYED_STEPS 12

static bk_backend *gpu;

/* Stages and uploads decode step k of cases [first, first + n): each feeds its fixture's k-th greedy
 * token at position prompt_len + k. */
static int stage_decode(gm_runner *r, const ref_fixture *f, kvb_table *tables, int first, int n, int k)
{
    char err[512];
    step_batch_reset(&r->batch);
    for (int i = first; i < first + n; i++) {
        const ref_case *c = &f->cases[i];
        const int64_t pos = c->prompt_len + k;
        if (kvb_table_reserve(&r->pool, &tables[i], pos + 1) ||
            step_batch_add(&r->batch, &tables[i], &c->greedy[k], 1, pos, true, err, sizeof err) < 0) {
            test_fail(__FILE__, __LINE__, "%s: staging decode step %d: %s", f->name, k, err);
            return -1;
        }
    }
    char e2[512];
    if (step_batch_upload(&r->batch, e2, sizeof e2)) {
        test_fail(__FILE__, __LINE__, "%s: %s", f->name, e2);
        return -1;
    }
    /* Planned for the longest context the block tables allow: the graph stays valid as they grow. */
    r->batch.dev.max_seq_len = 0;
    return 0;
}

static int forward(gm_runner *r, bool download)
{
    char err[1024];
    if (model_forward(r->m, &r->batch.dev, &r->dev_logits, err, sizeof err) ||
        (download && gm_download(r, err, sizeof err))) {
        test_fail(__FILE__, __LINE__, "%s", err);
        return -1;
    }
    return 0;
}

/* Records one forward of the staged batch. */
static int record(gm_runner *r, bk_cuda_graph **g)
{
    char err[1024];
    if (bk_cuda_capture_begin(gpu)) {
        test_fail(__FILE__, __LINE__, "capture_begin: %s", gpu->ops->last_error(gpu));
        return 0;
    }
    const int rc = model_forward(r->m, &r->batch.dev, &r->dev_logits, err, sizeof err);
    if (bk_cuda_capture_end(gpu, g) || rc) {
        test_fail(__FILE__, __LINE__, "recording a forward: %s / %s", rc ? err : "",
                  gpu->ops->last_error(gpu));
        return 0;
    }
    return 1;
}

static int same_bits(const char *what, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            CHECKF(0, "%s: element %zu differs: replay %.9g, op by op %.9g", what, i, (double)a[i],
                   (double)b[i]);
            return 0;
        }
    return 1;
}

/* Prefills cases [first, first + n) alone, then records their decode step 0 and replays it for steps
 * 0 .. REPLAYED_STEPS - 1, each compared with the same step run op by op. */
static void test_bucket(gm_runner *r, const ref_fixture *f, int first, int n)
{
    char err[1024];
    kvb_table *tables = calloc((size_t)f->num_cases, sizeof *tables);
    const size_t rows = (size_t)n * (size_t)r->vocab;
    float *direct = malloc(rows * sizeof(float));
    bk_cuda_graph *g = NULL;
    int steps = REPLAYED_STEPS, ok = 1;
    for (int i = first; i < first + n; i++)
        if (f->cases[i].greedy_len - 1 < steps) steps = f->cases[i].greedy_len - 1;
    for (int i = first; i < first + n && ok; i++) {
        const ref_case *c = &f->cases[i];
        step_batch_reset(&r->batch);
        ok = kvb_table_reserve(&r->pool, &tables[i], c->prompt_len) == 0 &&
             step_batch_add(&r->batch, &tables[i], c->prompt, c->prompt_len, 0, true, err, sizeof err) >= 0 &&
             gm_step(r, false, err, sizeof err) == 0;
        CHECKF(ok, "%s case %d prefill: %s", f->name, i, err);
    }
    char what[256];
    for (int k = 0; k < steps && ok; k++) {
        snprintf(what, sizeof what, "%s bucket of %d, decode step %d", f->name, n, k);
        if (stage_decode(r, f, tables, first, n, k) || forward(r, true)) break;
        memcpy(direct, r->logits, rows * sizeof(float));
        if (k == 0) {
            /* Recorded on the step just run: re-running it rewrites the same K/V values. */
            ok = record(r, &g);
            if (!ok) break;
        }
        memset(r->logits, 0xff, rows * sizeof(float));
        if (bk_cuda_graph_launch(gpu, g) || gm_download(r, err, sizeof err)) {
            test_fail(__FILE__, __LINE__, "%s: replay: %s", what, gpu->ops->last_error(gpu));
            break;
        }
        ok = same_bits(what, r->logits, direct, rows);
    }
    bk_cuda_graph_free(g);
    for (int i = 0; i < f->num_cases; i++) {
        kvb_table_release(&r->pool, &tables[i]);
        kvb_table_free(&tables[i]);
    }
    free(tables);
    free(direct);
}

static void test_errors(gm_runner *r)
{
    char err[1024];
    bk_cuda_graph *g = NULL;
    CHECK(bk_cuda_capture_end(gpu, &g) == -1 && g == NULL);
    CHECKF(strstr(gpu->ops->last_error(gpu), "not recording") != NULL, "end without begin: %s",
           gpu->ops->last_error(gpu));
    CHECK(bk_cuda_capture_begin(gpu) == 0);
    CHECK(bk_cuda_capture_begin(gpu) == -1);
    CHECKF(strstr(gpu->ops->last_error(gpu), "already recording") != NULL, "begin twice: %s",
           gpu->ops->last_error(gpu));
    int32_t host[4] = {0};
    CHECK(gpu->ops->download_rows(gpu, &r->dev_argmax, 1, host) == -1);
    CHECKF(strstr(gpu->ops->last_error(gpu), "being recorded") != NULL, "download: %s",
           gpu->ops->last_error(gpu));
    bk_tensor view = r->dev_argmax;
    view.cols = 4;
    view.owned = 0;
    CHECK(gpu->ops->upload_rows(gpu, &view, 0, 1, host) == -1);
    /* An op that fails its argument checks while recording: the graph is refused. */
    bk_tensor bad = {0};
    CHECK(gpu->ops->silu_mul(gpu, &bad, &bad, 1) == -1);
    char op_msg[512];
    snprintf(op_msg, sizeof op_msg, "%s", gpu->ops->last_error(gpu));
    CHECK(bk_cuda_capture_end(gpu, &g) == -1 && g == NULL);
    CHECKF(strcmp(gpu->ops->last_error(gpu), op_msg) == 0, "end after a failed op: '%s', expected the "
           "op's message '%s'", gpu->ops->last_error(gpu), op_msg);
    CHECK(bk_cuda_graph_launch(gpu, NULL) == -1);
    /* The backend still works. */
    step_batch_reset(&r->batch);
    kvb_table t = {0};
    int32_t tok = 1;
    CHECK(kvb_table_reserve(&r->pool, &t, 1) == 0);
    CHECK(step_batch_add(&r->batch, &t, &tok, 1, 0, true, err, sizeof err) == 0);
    CHECKF(gm_step(r, true, err, sizeof err) == 0, "a step after a failed recording: %s", err);
    kvb_table_release(&r->pool, &t);
    kvb_table_free(&t);
}

int main(void)
{
    if (bk_cuda_device_count() == 0) {
        if (bk_cuda_init_error()[0]) {
            printf("FAILED: %s\n", bk_cuda_init_error());
            return 1;
        }
        printf("SKIPPED: no CUDA device\n");
        return 77;
    }
    char err[1024];
    gpu = bk_cuda_create(0, (size_t)256 << 20, err, sizeof err);
    CHECKF(gpu != NULL, "cuda backend: %s", err);
    char **dirs = NULL;
    int count = 0;
    if (gpu && (ref_fixture_list(&dirs, &count) || count == 0))
        test_fail(__FILE__, __LINE__, "no reference fixtures under tests/fixtures (see tools/reference)");
    for (int i = 0; i < count; i++) {
        ref_fixture f;
        if (ref_fixture_load(&f, dirs[i], err, sizeof err)) {
            test_fail(__FILE__, __LINE__, "%s", err);
            free(dirs[i]);
            continue;
        }
        int32_t blocks = 0, max_blocks = 0;
        for (int c = 0; c < f.num_cases; c++) {
            int32_t b = gm_blocks_for(f.cases[c].prompt_len + f.cases[c].greedy_len);
            blocks += b;
            if (b > max_blocks) max_blocks = b;
        }
        gm_runner r;
        if (gm_open(&r, gpu, f.dir, blocks + 1, MAX_TOKENS, f.num_cases, max_blocks, err, sizeof err)) {
            test_fail(__FILE__, __LINE__, "%s: %s", f.name, err);
        } else {
            test_bucket(&r, &f, 0, f.num_cases);
            test_bucket(&r, &f, f.num_cases - 1, 1);
            if (i == 0) test_errors(&r);
            CHECKF(r.pool.num_free == r.pool.num_blocks, "%s: %d of %d KV blocks free", f.name,
                   r.pool.num_free, r.pool.num_blocks);
            printf("%-24s decode graphs of %d and of 1 sequence compared with op-by-op steps\n",
                   f.name, f.num_cases);
            gm_close(&r);
        }
        ref_fixture_free(&f);
        free(dirs[i]);
    }
    free(dirs);
    if (gpu) gpu->ops->destroy(gpu);
    return test_finish("cuda_graph");
}
