/* Reads a Hugging Face reference fixture (tests/fixtures/<name>/reference.json and
 * reference_logits.safetensors, written by tools/reference/make_fixtures.py). */
#ifndef BERTH_TESTS_REFERENCE_FIXTURE_H
#define BERTH_TESTS_REFERENCE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ref_case {
    int32_t *prompt, *greedy;
    int32_t prompt_len, greedy_len;
    const float *logits; /* [prompt_len + greedy_len][vocab]: row i predicts token i + 1 */
    const float *logits_f32; /* bf16 fixtures: the same weights computed in float32 by HF; else NULL */
} ref_case;

typedef struct ref_fixture {
    char dir[1024];
    char name[128];
    bool bf16;
    int32_t vocab;
    ref_case *cases;
    int num_cases;
    uint8_t *logits_file; /* the whole reference_logits.safetensors */
    void *tensors;        /* st_tensor array */
    size_t num_tensors;
} ref_fixture;

int ref_fixture_load(ref_fixture *f, const char *dir, char *err, size_t errlen);
void ref_fixture_free(ref_fixture *f);

/* Lists fixture folders (those holding reference.json) under tests/fixtures, sorted. */
int ref_fixture_list(char ***dirs, int *count);

#endif
