/* Grammar IR construction: rules and alternatives built by the front ends (GBNF, regex, choices),
 * code-point classes expanded to UTF-8 byte ranges, repetitions desugared into right-recursive
 * rules, and the final checks (undefined rules, left recursion, empty language) and flattening. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/gr_internal.h"
#include "models/tokenizer/tok_utf8.h"

void gr_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool grow(void **p, int32_t *cap, int32_t need, size_t elem)
{
    if (need <= *cap) return true;
    int32_t nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > INT32_MAX / 2) return false;
        nc *= 2;
    }
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

static bool oom(gr_builder *b)
{
    if (!b->failed) gr_errf(b->err, b->errlen, "out of memory compiling the grammar");
    b->failed = true;
    return false;
}

void gr_builder_init(gr_builder *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    b->err = err;
    b->errlen = errlen;
}

void gr_builder_free(gr_builder *b)
{
    for (int32_t i = 0; i < b->n_rules; i++) {
        for (int32_t j = 0; j < b->rules[i].n_alts; j++)
            free(b->rules[i].alts[j].e);
        free(b->rules[i].alts);
        free(b->rules[i].name);
    }
    free(b->rules);
    free(b->classes);
    free(b->names);
    memset(b, 0, sizeof *b);
}

int32_t gr_rule_new(gr_builder *b)
{
    if (b->n_rules >= GR_MAX_RULES) {
        if (!b->failed)
            gr_errf(b->err, b->errlen, "grammar too large: more than %d rules", GR_MAX_RULES);
        b->failed = true;
        return -1;
    }
    if (!grow((void **)&b->rules, &b->cap_rules, b->n_rules + 1, sizeof *b->rules))
        return oom(b), -1;
    gr_brule *r = &b->rules[b->n_rules];
    memset(r, 0, sizeof *r);
    return b->n_rules++;
}

static uint32_t name_hash(const char *name, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 16777619u;
    return h;
}

static bool names_grow(gr_builder *b)
{
    uint32_t cap = b->names_cap ? b->names_cap * 2 : 256;
    int32_t *t = calloc(cap, sizeof *t);
    if (!t) return false;
    for (uint32_t i = 0; i < b->names_cap; i++) {
        int32_t r = b->names[i] - 1;
        if (r < 0) continue;
        uint32_t h = name_hash(b->rules[r].name, strlen(b->rules[r].name)) & (cap - 1);
        while (t[h])
            h = (h + 1) & (cap - 1);
        t[h] = r + 1;
    }
    free(b->names);
    b->names = t;
    b->names_cap = cap;
    return true;
}

int32_t gr_rule_named(gr_builder *b, const char *name, size_t len, int line, int col)
{
    if (2 * (b->n_names + 1) > b->names_cap && !names_grow(b)) return oom(b), -1;
    uint32_t h = name_hash(name, len) & (b->names_cap - 1);
    for (; b->names[h]; h = (h + 1) & (b->names_cap - 1)) {
        const char *n = b->rules[b->names[h] - 1].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) return b->names[h] - 1;
    }
    int32_t r = gr_rule_new(b);
    if (r < 0) return -1;
    char *copy = malloc(len + 1);
    if (!copy) return oom(b), -1;
    memcpy(copy, name, len);
    copy[len] = 0;
    b->rules[r].name = copy;
    b->rules[r].line = line;
    b->rules[r].col = col;
    b->names[h] = r + 1;
    b->n_names++;
    return r;
}

gr_seq *gr_rule_add_alt(gr_builder *b, int32_t rule)
{
    gr_brule *r = &b->rules[rule];
    if (!grow((void **)&r->alts, &r->cap_alts, r->n_alts + 1, sizeof *r->alts)) return oom(b), NULL;
    gr_seq *s = &r->alts[r->n_alts++];
    memset(s, 0, sizeof *s);
    return s;
}

bool gr_seq_push(gr_builder *b, gr_seq *s, int32_t kind, int32_t arg)
{
    if (++b->n_elems > GR_MAX_ELEMS) {
        if (!b->failed)
            gr_errf(b->err, b->errlen, "grammar too large: more than %d elements after expansion",
                    GR_MAX_ELEMS);
        b->failed = true;
        return false;
    }
    if (!grow((void **)&s->e, &s->cap, s->n + 1, sizeof *s->e)) return oom(b);
    s->e[s->n].kind = kind;
    s->e[s->n].arg = arg;
    s->n++;
    return true;
}

int32_t gr_class_index(gr_builder *b, const gr_bytes_set *set)
{
    int single = -1, count = 0;
    for (int i = 0; i < 4 && count < 2; i++)
        for (uint64_t w = set->w[i]; w && count < 2; w &= w - 1, count++)
            single = i * 64 + __builtin_ctzll(w);
    if (count == 1 && b->byte_class[single]) return b->byte_class[single] - 1;
    for (int32_t i = b->n_classes - 1; i >= 0 && i >= b->n_classes - 64; i--)
        if (memcmp(&b->classes[i], set, sizeof *set) == 0) return i;
    if (!grow((void **)&b->classes, &b->cap_classes, b->n_classes + 1, sizeof *b->classes))
        return oom(b), -1;
    b->classes[b->n_classes] = *set;
    if (count == 1) b->byte_class[single] = b->n_classes + 1;
    return b->n_classes++;
}

static bool push_byte_range(gr_builder *b, gr_seq *s, unsigned lo, unsigned hi)
{
    gr_bytes_set set = {{0}};
    for (unsigned c = lo; c <= hi; c++)
        set.w[c >> 6] |= 1ull << (c & 63);
    int32_t k = gr_class_index(b, &set);
    return k >= 0 && gr_seq_push(b, s, GR_CLASS, k);
}

/* Code points here are already checked (<= 0x10FFFF), so the tokenizer's encoder serves. */
static int utf8_encode(uint32_t cp, uint8_t out[4])
{
    return (int)tok_utf8_encode((int32_t)cp, out);
}

bool gr_seq_push_cp(gr_builder *b, gr_seq *s, uint32_t cp)
{
    uint8_t u[4];
    int n = utf8_encode(cp, u);
    for (int i = 0; i < n; i++)
        if (!push_byte_range(b, s, u[i], u[i])) return false;
    return true;
}

/* ---- code-point sets ---- */

bool gr_cpset_add(gr_cpset *s, uint32_t lo, uint32_t hi)
{
    if (lo > hi) return true;
    if (!grow((void **)&s->r, &s->cap, s->n + 1, sizeof *s->r)) return false;
    /* keep sorted and merged: insert, then coalesce */
    int32_t i = s->n;
    while (i > 0 && s->r[i - 1][0] > lo) {
        s->r[i][0] = s->r[i - 1][0];
        s->r[i][1] = s->r[i - 1][1];
        i--;
    }
    s->r[i][0] = lo;
    s->r[i][1] = hi;
    s->n++;
    int32_t w = 0;
    for (int32_t k = 1; k < s->n; k++) {
        if (s->r[k][0] <= s->r[w][1] + 1) {
            if (s->r[k][1] > s->r[w][1]) s->r[w][1] = s->r[k][1];
        } else {
            w++;
            s->r[w][0] = s->r[k][0];
            s->r[w][1] = s->r[k][1];
        }
    }
    s->n = w + 1;
    return true;
}

void gr_cpset_negate(gr_cpset *s)
{
    uint32_t(*out)[2] = malloc(((size_t)s->n + 2) * sizeof *out);
    if (!out) {
        s->n = 0; /* unreachable in practice; an empty class rejects, never wrongly accepts */
        return;
    }
    int32_t n = 0;
    uint32_t next = 0;
    for (int32_t i = 0; i < s->n; i++) {
        if (s->r[i][0] > next) {
            out[n][0] = next;
            out[n][1] = s->r[i][0] - 1;
            n++;
        }
        next = s->r[i][1] + 1;
    }
    if (next <= 0x10FFFF) {
        out[n][0] = next;
        out[n][1] = 0x10FFFF;
        n++;
    }
    free(s->r);
    s->cap = s->n + 2;
    s->r = out;
    s->n = n;
}

void gr_cpset_free(gr_cpset *s)
{
    free(s->r);
    memset(s, 0, sizeof *s);
}

/* Splits a code-point range until each piece has one UTF-8 length and every byte position of its
 * encodings is a contiguous byte range (the construction of RE2 and Rust's utf8-ranges). */
static void utf8_split(uint32_t lo, uint32_t hi, int *n_out, uint8_t (*los)[4], uint8_t (*his)[4],
                       uint8_t *lens, int cap)
{
    static const uint32_t limits[] = {0x7F, 0x7FF, 0xFFFF};
    for (int k = 0; k < 3; k++)
        if (lo <= limits[k] && hi > limits[k]) {
            utf8_split(lo, limits[k], n_out, los, his, lens, cap);
            utf8_split(limits[k] + 1, hi, n_out, los, his, lens, cap);
            return;
        }
    if (hi >= 0x80) {
        for (int i = 1; i < 4; i++) {
            uint32_t m = (1u << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m)) {
                if ((lo & m) != 0) {
                    utf8_split(lo, lo | m, n_out, los, his, lens, cap);
                    utf8_split((lo | m) + 1, hi, n_out, los, his, lens, cap);
                    return;
                }
                if ((hi & m) != m) {
                    utf8_split(lo, (hi & ~m) - 1, n_out, los, his, lens, cap);
                    utf8_split(hi & ~m, hi, n_out, los, his, lens, cap);
                    return;
                }
            }
        }
    }
    if (*n_out >= cap) return;
    int l = utf8_encode(lo, los[*n_out]);
    utf8_encode(hi, his[*n_out]);
    lens[*n_out] = (uint8_t)l;
    (*n_out)++;
}

bool gr_seq_push_cpset(gr_builder *b, gr_seq *s, const gr_cpset *set)
{
    /* Each range (surrogates removed) yields well under 40 byte-range sequences. */
    int cap = (set->n + 2) * 40, n = 0;
    uint8_t(*los)[4] = malloc((size_t)cap * 4), (*his)[4] = malloc((size_t)cap * 4);
    uint8_t *lens = malloc((size_t)cap);
    if (!los || !his || !lens) {
        free(los), free(his), free(lens);
        return oom(b);
    }
    gr_bytes_set ascii = {{0}};
    bool any_ascii = false;
    for (int32_t i = 0; i < set->n; i++) {
        uint32_t lo = set->r[i][0], hi = set->r[i][1] > 0x10FFFF ? 0x10FFFF : set->r[i][1];
        if (lo > hi) continue;
        for (uint32_t c = lo; c <= hi && c < 0x80; c++) {
            ascii.w[c >> 6] |= 1ull << (c & 63);
            any_ascii = true;
        }
        if (hi < 0x80) continue;
        if (lo < 0x80) lo = 0x80;
        if (lo < 0xD800 && hi >= 0xD800) {
            utf8_split(lo, 0xD7FF, &n, los, his, lens, cap);
            lo = 0xE000;
        } else if (lo >= 0xD800 && lo <= 0xDFFF) {
            lo = 0xE000;
        }
        if (lo <= hi) utf8_split(lo, hi, &n, los, his, lens, cap);
    }
    bool ok = true;
    if (n == 0) {
        int32_t k = gr_class_index(b, &ascii); /* possibly empty: matches nothing */
        ok = k >= 0 && gr_seq_push(b, s, GR_CLASS, k);
    } else {
        int32_t r = gr_rule_new(b);
        ok = r >= 0;
        if (ok && any_ascii) {
            gr_seq *a = gr_rule_add_alt(b, r);
            int32_t k = gr_class_index(b, &ascii);
            ok = a && k >= 0 && gr_seq_push(b, a, GR_CLASS, k);
        }
        for (int i = 0; ok && i < n; i++) {
            gr_seq *a = gr_rule_add_alt(b, r);
            ok = a != NULL;
            for (int j = 0; ok && j < lens[i]; j++)
                ok = push_byte_range(b, a, los[i][j], his[i][j]);
        }
        ok = ok && gr_seq_push(b, s, GR_REF, r);
    }
    free(los), free(his), free(lens);
    return ok;
}

/* ---- repetition ---- */

bool gr_seq_repeat(gr_builder *b, gr_seq *s, int32_t from, int64_t min, int64_t max)
{
    if (min > GR_MAX_REPEAT || max > GR_MAX_REPEAT) {
        if (!b->failed)
            gr_errf(b->err, b->errlen, "repetition bound %lld exceeds the limit %d",
                    (long long)(min > max ? min : max), GR_MAX_REPEAT);
        b->failed = true;
        return false;
    }
    gr_elem x;
    if (s->n - from == 1) {
        x = s->e[from];
    } else {
        int32_t w = gr_rule_new(b);
        if (w < 0) return false;
        gr_seq *a = gr_rule_add_alt(b, w);
        if (!a) return false;
        for (int32_t i = from; i < s->n; i++)
            if (!gr_seq_push(b, a, s->e[i].kind, s->e[i].arg)) return false;
        x.kind = GR_REF;
        x.arg = w;
    }
    s->n = from;
    for (int64_t i = 0; i < min; i++)
        if (!gr_seq_push(b, s, x.kind, x.arg)) return false;
    if (max < 0) { /* S ::= x S | (empty) */
        int32_t r = gr_rule_new(b);
        if (r < 0) return false;
        gr_seq *a = gr_rule_add_alt(b, r);
        if (!a || !gr_seq_push(b, a, x.kind, x.arg) || !gr_seq_push(b, a, GR_REF, r)) return false;
        if (!gr_rule_add_alt(b, r)) return false;
        return gr_seq_push(b, s, GR_REF, r);
    }
    /* O_1 ::= x | (empty); O_k ::= x O_{k-1} | (empty) */
    int32_t prev = -1;
    for (int64_t k = min; k < max; k++) {
        int32_t r = gr_rule_new(b);
        if (r < 0) return false;
        b->rules[r].chain_depth = (int32_t)(k - min + 1);
        gr_seq *a = gr_rule_add_alt(b, r);
        if (!a || !gr_seq_push(b, a, x.kind, x.arg)) return false;
        if (prev >= 0 && !gr_seq_push(b, a, GR_REF, prev)) return false;
        if (!gr_rule_add_alt(b, r)) return false;
        prev = r;
    }
    return prev < 0 || gr_seq_push(b, s, GR_REF, prev);
}
