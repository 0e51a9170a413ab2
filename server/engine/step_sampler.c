/* The device rows of bias and counts follow the logits rows, which move between steps (a finished
 * request shifts every later row). Each device row remembers whose data it holds: a row that keeps
 * its owner is brought up to date with the few words that changed (the counts of the tokens
 * generated since), a row that changes owner is rebuilt on the host and uploaded whole. Rows whose
 * request has no penalty are left as they are: with every penalty off, counts are the identity. */
#include "server/engine/step_sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail_be(step_sampler *s, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "sampling: %s: %s", what, s->be->ops->last_error(s->be));
    return -1;
}

static int alloc(step_sampler *s, bk_tensor *t, bk_dtype dtype, int64_t cols, char *err,
                 size_t errlen)
{
    if (s->be->ops->tensor_alloc(s->be, t, dtype, s->max_rows, cols))
        return fail_be(s, "allocating the sample op's tensors", err, errlen);
    return 0;
}

/* A [max_rows][vocab] tensor, zeroed: every row then holds owner 0's data. */
static int alloc_rows(step_sampler *s, bk_tensor *t, bk_dtype dtype, char *err, size_t errlen)
{
    if (alloc(s, t, dtype, s->vocab, err, errlen)) return -1;
    if (s->be->ops->fill_bytes(s->be, t, 0))
        return fail_be(s, "zeroing a sample tensor", err, errlen);
    return 0;
}

size_t step_sampler_device_bytes(int32_t max_rows, int32_t vocab, size_t align)
{
    /* params, out, logprobs, top_ids, bias, counts, mask: as step_sampler_init allocates them. */
    const size_t cols[] = {BK_SAMPLE_PARAM_WORDS, 1, 1 + BK_SAMPLE_MAX_TOP, BK_SAMPLE_MAX_TOP,
                           (size_t)vocab, (size_t)vocab, (size_t)BK_SAMPLE_MASK_WORDS(vocab)};
    size_t total = 0;
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        total += ((size_t)max_rows * cols[i] * 4 + align - 1) / align * align;
    return total;
}

int step_sampler_init(step_sampler *s, bk_backend *be, int32_t max_rows, int32_t vocab,
                      bool on_host, char *err, size_t errlen)
{
    *s = (step_sampler){.be = be, .max_rows = max_rows, .vocab = vocab};
    s->on_host = on_host || vocab > BK_SAMPLE_MAX_VOCAB || !be->ops->sample;
    size_t R = (size_t)max_rows, V = (size_t)vocab;
    s->mask_words = BK_SAMPLE_MASK_WORDS(vocab);
    s->host_mask = malloc(sizeof(uint32_t) * R * (size_t)s->mask_words);
    s->row_masked = calloc(R, sizeof(bool));
    if (!s->host_mask || !s->row_masked) goto oom;
    if (s->on_host) {
        s->logits = malloc(sizeof(float) * V * R);
        s->scratch_f = malloc(sizeof(float) * V);
        s->scratch_i = malloc(sizeof(int32_t) * V);
        if (!s->logits || !s->scratch_f || !s->scratch_i) goto oom;
        return 0;
    }
    s->host_params = calloc(R, sizeof *s->host_params);
    s->host_out = malloc(sizeof(int32_t) * R);
    s->host_logprobs = malloc(sizeof(float) * R * (1 + BK_SAMPLE_MAX_TOP));
    s->host_top_ids = malloc(sizeof(int32_t) * R * BK_SAMPLE_MAX_TOP);
    s->row_f = malloc(sizeof(float) * V);
    s->row_i = malloc(sizeof(int32_t) * V);
    s->bias_owner = calloc(R, sizeof(uint64_t));
    s->counts_owner = calloc(R, sizeof(uint64_t));
    s->bias_suppress = calloc(R, sizeof(bool));
    s->counts_done = calloc(R, sizeof(int32_t));
    if (!s->host_params || !s->host_out || !s->host_logprobs || !s->host_top_ids || !s->row_f ||
        !s->row_i || !s->bias_owner || !s->counts_owner || !s->bias_suppress || !s->counts_done)
        goto oom;
    if (alloc(s, &s->params, BK_I32, BK_SAMPLE_PARAM_WORDS, err, errlen) ||
        alloc(s, &s->out, BK_I32, 1, err, errlen) ||
        alloc(s, &s->logprobs, BK_F32, 1 + BK_SAMPLE_MAX_TOP, err, errlen) ||
        alloc(s, &s->top_ids, BK_I32, BK_SAMPLE_MAX_TOP, err, errlen) ||
        /* At start, not when a request first asks for a penalty or a bias: mid-serving the
         * device may be full, and a failed step stops the engine. */
        alloc_rows(s, &s->bias, BK_F32, err, errlen) ||
        alloc_rows(s, &s->counts, BK_I32, err, errlen) ||
        alloc(s, &s->mask, BK_I32, s->mask_words, err, errlen)) {
        step_sampler_free(s);
        return -1;
    }
    return 0;
oom:
    snprintf(err, errlen, "sampling: out of host memory for %d rows of %d logits", max_rows, vocab);
    step_sampler_free(s);
    return -1;
}

void step_sampler_free(step_sampler *s)
{
    if (s->be) {
        bk_tensor *ts[] = {&s->params, &s->out,    &s->logprobs, &s->top_ids,
                           &s->bias,   &s->counts, &s->mask};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            if (ts[i]->data) s->be->ops->tensor_free(s->be, ts[i]);
    }
    free(s->host_params);
    free(s->host_out);
    free(s->host_logprobs);
    free(s->host_top_ids);
    free(s->row_f);
    free(s->row_i);
    free(s->bias_owner);
    free(s->counts_owner);
    free(s->bias_suppress);
    free(s->counts_done);
    free(s->host_mask);
    free(s->row_masked);
    free(s->logits);
    free(s->scratch_f);
    free(s->scratch_i);
    *s = (step_sampler){0};
}

static bool has_penalty(const sampling_params *p)
{
    return p->repetition_penalty != 1.0f || p->presence_penalty != 0 || p->frequency_penalty != 0;
}

static bool has_bias(const sampling_params *p)
{
    return p->num_bias > 0 || (p->suppress && p->num_suppress > 0);
}

/* The host sampler adds each logit_bias entry, then sets the suppressed tokens to -inf; a bias row
 * of -inf makes the op do the same (the engine merges repeated bias ids, so one add is the same).
 */
static int stage_bias_row(step_sampler *s, int32_t r, const step_sampler_row *row, char *err,
                          size_t errlen)
{
    const sampling_params *p = row->params;
    uint64_t owner = has_bias(p) ? row->owner : 0;
    bool suppress = owner && p->suppress;
    if (s->bias_owner[r] == owner && s->bias_suppress[r] == suppress) return 0;
    memset(s->row_f, 0, sizeof(float) * (size_t)s->vocab);
    if (owner) {
        for (int32_t i = 0; i < p->num_bias; i++)
            if (p->bias_ids[i] >= 0 && p->bias_ids[i] < s->vocab)
                s->row_f[p->bias_ids[i]] += p->bias_values[i];
        if (suppress)
            for (int32_t i = 0; i < p->num_suppress; i++)
                if (p->suppress_ids[i] >= 0 && p->suppress_ids[i] < s->vocab)
                    s->row_f[p->suppress_ids[i]] = -INFINITY;
    }
    if (s->be->ops->upload_rows(s->be, &s->bias, r, 1, s->row_f))
        return fail_be(s, "uploading a logit_bias row", err, errlen);
    s->bias_owner[r] = owner;
    s->bias_suppress[r] = suppress;
    return 0;
}

static int32_t count_word(const sampler_state *st, int32_t token)
{
    return st->output_counts[token] | (st->in_prompt[token] ? BK_SAMPLE_IN_PROMPT : 0);
}

static int stage_counts_row(step_sampler *s, int32_t r, const step_sampler_row *row, char *err,
                            size_t errlen)
{
    const bk_ops *ops = s->be->ops;
    const sampler_state *st = row->state;
    if (s->counts_owner[r] == row->owner && s->counts_done[r] <= row->num_generated) {
        /* The counts tensor seen as one column, so one changed word is one row. */
        bk_tensor words = s->counts;
        words.rows = s->counts.rows * s->counts.cols;
        words.cols = 1;
        words.owned = 0;
        for (int32_t i = s->counts_done[r]; i < row->num_generated; i++) {
            int32_t tok = row->generated[i];
            if (tok < 0 || tok >= s->vocab) continue;
            int32_t w = count_word(st, tok);
            if (ops->upload_rows(s->be, &words, (int64_t)r * s->vocab + tok, 1, &w))
                return fail_be(s, "uploading penalty counts", err, errlen);
        }
    } else {
        for (int32_t i = 0; i < s->vocab; i++)
            s->row_i[i] = count_word(st, i);
        if (ops->upload_rows(s->be, &s->counts, r, 1, s->row_i))
            return fail_be(s, "uploading a penalty counts row", err, errlen);
    }
    s->counts_owner[r] = row->owner;
    s->counts_done[r] = row->num_generated;
    return 0;
}

int step_sampler_stage(step_sampler *s, const step_sampler_row *rows, int32_t num_rows,
                       int32_t padded_rows, char *err, size_t errlen)
{
    if (num_rows < 0 || padded_rows < num_rows || padded_rows > s->max_rows) {
        snprintf(err, errlen, "sampling: %d rows padded to %d, expected 0 <= rows <= padded <= %d",
                 num_rows, padded_rows, s->max_rows);
        return -1;
    }
    s->staged_rows = padded_rows;
    s->use_mask = false;
    for (int32_t r = 0; r < padded_rows; r++) {
        s->row_masked[r] = r < num_rows && rows[r].masked;
        s->use_mask |= s->row_masked[r];
    }
    if (s->on_host) return 0;
    s->use_bias = s->use_counts = s->use_logprobs = false;
    for (int32_t r = 0; r < num_rows; r++) {
        const sampling_params *p = rows[r].params;
        s->host_params[r] = (bk_sample_params){
            .seed = p->seed,
            .step = (uint64_t)rows[r].num_generated,
            .temperature = p->temperature,
            .top_p = p->top_p,
            .min_p = p->min_p,
            .top_k = p->top_k,
            .presence_penalty = p->presence_penalty,
            .frequency_penalty = p->frequency_penalty,
            .repetition_penalty = p->repetition_penalty,
            .num_logprobs = p->logprobs >= 0 ? p->logprobs : -1,
            .masked = rows[r].masked,
        };
        s->use_bias |= has_bias(p);
        s->use_counts |= has_penalty(p);
        s->use_logprobs |= p->logprobs >= 0;
    }
    for (int32_t r = num_rows; r < padded_rows; r++)
        s->host_params[r] =
            (bk_sample_params){.top_p = 1, .repetition_penalty = 1, .num_logprobs = -1};
    if (padded_rows > 0 &&
        s->be->ops->upload_rows(s->be, &s->params, 0, padded_rows, s->host_params))
        return fail_be(s, "uploading sampling params", err, errlen);
    if (s->use_bias) {
        for (int32_t r = 0; r < num_rows; r++)
            if (stage_bias_row(s, r, &rows[r], err, errlen)) return -1;
    }
    if (s->use_counts) {
        for (int32_t r = 0; r < num_rows; r++)
            if (has_penalty(rows[r].params) && stage_counts_row(s, r, &rows[r], err, errlen))
                return -1;
    }
    return 0;
}

uint32_t *step_sampler_mask_row(step_sampler *s, int32_t r)
{
    return s->host_mask + (size_t)r * (size_t)s->mask_words;
}

/* Row by row: a constrained row is usually one of few, and contiguous runs are the common case
 * only when every row is constrained. */
int step_sampler_upload_masks(step_sampler *s, char *err, size_t errlen)
{
    if (s->on_host || !s->use_mask) return 0;
    for (int32_t r = 0; r < s->staged_rows;) {
        if (!s->row_masked[r]) {
            r++;
            continue;
        }
        int32_t end = r + 1;
        while (end < s->staged_rows && s->row_masked[end])
            end++;
        if (s->be->ops->upload_rows(s->be, &s->mask, r, end - r, step_sampler_mask_row(s, r)))
            return fail_be(s, "uploading constraint masks", err, errlen);
        r = end;
    }
    return 0;
}

int step_sampler_enqueue(step_sampler *s, const bk_tensor *logits, char *err, size_t errlen)
{
    if (s->on_host || s->staged_rows == 0) return 0;
    if (s->be->ops->sample(s->be, &s->out, s->use_logprobs ? &s->logprobs : NULL,
                           s->use_logprobs ? &s->top_ids : NULL, logits, &s->params,
                           s->use_bias ? &s->bias : NULL, s->use_counts ? &s->counts : NULL,
                           s->use_mask ? &s->mask : NULL, s->staged_rows))
        return fail_be(s, "sample", err, errlen);
    return 0;
}

static int collect_on_host(step_sampler *s, const bk_tensor *logits, const step_sampler_row *rows,
                           int32_t num_rows, sampled_token *out, char *err, size_t errlen)
{
    if (s->be->ops->download_rows(s->be, logits, num_rows, s->logits))
        return fail_be(s, "logits download", err, errlen);
    for (int32_t r = 0; r < num_rows; r++) {
        sampling_params p = *rows[r].params;
        p.mask = rows[r].masked ? step_sampler_mask_row(s, r) : NULL;
        sampler_sample(&p, rows[r].state, s->logits + (size_t)r * (size_t)s->vocab,
                       (uint64_t)rows[r].num_generated, s->scratch_f, s->scratch_i, &out[r]);
    }
    return 0;
}

int step_sampler_collect(step_sampler *s, const bk_tensor *logits, const step_sampler_row *rows,
                         int32_t num_rows, sampled_token *out, char *err, size_t errlen)
{
    if (num_rows > s->staged_rows) {
        snprintf(err, errlen, "sampling: %d rows collected, %d staged", num_rows, s->staged_rows);
        return -1;
    }
    if (num_rows == 0) return 0;
    if (s->on_host) return collect_on_host(s, logits, rows, num_rows, out, err, errlen);
    const bk_ops *ops = s->be->ops;
    if (ops->download_rows(s->be, &s->out, num_rows, s->host_out))
        return fail_be(s, "sampled ids download", err, errlen);
    if (s->use_logprobs && (ops->download_rows(s->be, &s->logprobs, num_rows, s->host_logprobs) ||
                            ops->download_rows(s->be, &s->top_ids, num_rows, s->host_top_ids)))
        return fail_be(s, "logprobs download", err, errlen);
    for (int32_t r = 0; r < num_rows; r++) {
        sampled_token *t = &out[r];
        t->token = s->host_out[r];
        t->logprob = 0;
        t->num_top = 0;
        int32_t n = rows[r].params->logprobs;
        if (n < 0) continue;
        if (n > BK_SAMPLE_MAX_TOP) n = BK_SAMPLE_MAX_TOP;
        if (n > s->vocab) n = s->vocab;
        const float *lp = s->host_logprobs + (size_t)r * (1 + BK_SAMPLE_MAX_TOP);
        t->logprob = lp[0];
        t->num_top = n;
        memcpy(t->top_logprobs, lp + 1, sizeof(float) * (size_t)n);
        memcpy(t->top_ids, s->host_top_ids + (size_t)r * BK_SAMPLE_MAX_TOP,
               sizeof(int32_t) * (size_t)n);
    }
    return 0;
}
