/* berth-grammar: checks and measures the grammar engine on JSON Schema test suites (the
 * jsonschemabench line format). Owns no grammar logic: everything goes through grammar.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "models/grammar/grammar.h"
#include "tools/grammar/py_json.h"

static const char usage[] =
    "usage: berth-grammar check --tokenizer DIR_OR_FILE [--limit N] [--every K] [--mask-every K] "
    "[--slow-us T] [--cpu-time] FILE.jsonl[.gz]\n"
    "       berth-grammar dump FILE.jsonl[.gz]\n"
    "       berth-grammar gbnf [--flexible-whitespace] [--strict] SCHEMA.json\n"
    "check: for each line {\"id\", \"schema\", \"tests\": [{\"valid\", \"data\"}, ...]} compiles "
    "the\n"
    "  schema (compact whitespace, additionalProperties true unless a schema says otherwise)\n"
    "  against the tokenizer's vocabulary, serialises each test's data as Python's\n"
    "  json.dumps(data, separators=(\",\", \":\"), ensure_ascii=False) does, tokenizes it and "
    "walks\n"
    "  it token by token, timing every mask (one thread). A valid instance must be accepted to\n"
    "  the end with end-of-sequence allowed there, an invalid one rejected somewhere. Prints one\n"
    "  JSON line per schema, one summary line per split (the id's part before \"---\"; BFCL_*\n"
    "  ids are split BFCL), then exactly:\n"
    "  passing=P/N wrong_accepts=W wrong_rejects=R compile_errors=C mask_p50_us=X mask_p99_us=Y "
    "compile_p50_us=Z\n"
    "  (passing: compiled and every test right). Exit status 0 unless the input is unreadable.\n"
    "  --limit N: only the first N lines.  --every K: only lines 1, K+1, 2K+1, ... (a sample).\n"
    "  --mask-every K: compute (and time) the mask at every K-th step only (default 1: every\n"
    "  step); acceptance is decided by the matcher either way, and end-of-sequence is always\n"
    "  checked in the mask. For quick runs: the published figures use K = 1.\n"
    "  --slow-us T: report on stderr every mask that took T microseconds or more (the schema id,\n"
    "  the byte offset and the text before it), to find where the tail goes.\n"
    "  --cpu-time: time masks by the thread's CPU clock instead of the wall clock (on a loaded\n"
    "  machine, where preemption dominates the wall-clock tail).\n"
    "  A mask call over the matcher's time or work bound (GR_ERR) rejects the instance and is\n"
    "  reported on stderr.\n"
    "dump: the serialised data of every test, one per line (to compare with Python).\n"
    "gbnf: the GBNF text gr_json_schema_to_gbnf makes of a schema file.\n";

static bool cpu_time; /* --cpu-time: masks timed by the thread's CPU clock, not the wall clock */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double mask_clock_us(void)
{
    if (!cpu_time) return now_us();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

static void dvec_push(dvec *d, double x)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 1024;
        double *p = realloc(d->v, d->cap * sizeof *p);
        if (!p) {
            fprintf(stderr, "berth-grammar: out of memory\n");
            exit(1);
        }
        d->v = p;
    }
    d->v[d->n++] = x;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(dvec *d, double p)
{
    if (!d->n) return 0;
    qsort(d->v, d->n, sizeof *d->v, cmp_d);
    return d->v[(size_t)(p * (double)(d->n - 1) + 0.5)];
}

/* Reads a whole line from a (possibly gzip'd) file; NULL at the end. */
static char *read_line(gzFile f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (!gzgets(f, buf + n, (int)(cap - n))) break;
        n += strlen(buf + n);
        if (n && buf[n - 1] == '\n') break;
        if (n + 1 < cap) continue;
        char *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            return NULL;
        }
        buf = b;
        cap *= 2;
    }
    if (n == 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

typedef struct stats {
    char name[64];
    long schemas, passing, wrong_accepts, wrong_rejects, compile_errors;
    dvec mask, compile;
} stats;

static void print_stats(stats *s, bool split)
{
    if (split) printf("split=%s ", s->name);
    printf("passing=%ld/%ld wrong_accepts=%ld wrong_rejects=%ld compile_errors=%ld "
           "mask_p50_us=%.1f mask_p99_us=%.1f compile_p50_us=%.1f\n",
           s->passing, s->schemas, s->wrong_accepts, s->wrong_rejects, s->compile_errors,
           pct(&s->mask, 0.5), pct(&s->mask, 0.99), pct(&s->compile, 0.5));
}

static void json_str(FILE *f, const char *s)
{
    size_t n = strlen(s);
    char *t = malloc(6 * n + 2);
    if (!t) {
        fprintf(stderr, "berth-grammar: out of memory\n");
        exit(1);
    }
    fwrite(t, 1, gr_json_string(s, n, t), f);
    free(t);
}

static stats *split_of(stats **splits, size_t *n, const char *id)
{
    char name[64];
    const char *dash = strstr(id, "---");
    if (strncmp(id, "BFCL_", 5) == 0)
        snprintf(name, sizeof name, "BFCL");
    else
        snprintf(name, sizeof name, "%.*s", dash ? (int)(dash - id) : 63, id);
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*splits)[i].name, name) == 0) return &(*splits)[i];
    stats *p = realloc(*splits, (*n + 1) * sizeof *p);
    if (!p) exit(1);
    *splits = p;
    memset(&p[*n], 0, sizeof p[*n]);
    snprintf(p[*n].name, sizeof p[*n].name, "%s", name);
    return &p[(*n)++];
}

/* Walks one instance: 1 accepted to the end with end-of-sequence allowed, 0 rejected, and the
 * byte offset of the rejection in *at. */
static long mask_every = 1, line_every = 1, mismatches, mask_failures;
static double slow_us;
static const char *cur_id = "";
static unsigned long mask_step;

static int walk(const gr_grammar *g, const gr_vocab *v, const tok_tokenizer *tok,
                const int32_t *eos, size_t n_eos, const char *text, size_t len, uint32_t *mask,
                stats *all, stats *sp, long *at)
{
    char err[256];
    int32_t *ids = NULL;
    size_t n = 0;
    if (tok_encode(tok, text, len, &ids, &n, err, sizeof err) != TOK_OK) {
        fprintf(stderr, "berth-grammar: encode: %s\n", err);
        exit(1);
    }
    gr_matcher *m = gr_matcher_new(g);
    if (!m) exit(1);
    int ok = 1, mask_rc = GR_OK;
    long off = 0;
    for (size_t i = 0; i <= n; i++) {
        /* timed: the sampled steps only, so that sampling keeps the steps' proportions */
        bool sampled = mask_step++ % (unsigned long)mask_every == 0;
        bool masked = sampled || i == n;
        if (masked) {
            double t0 = mask_clock_us();
            mask_rc = gr_matcher_fill_mask(m, mask);
            double dt = mask_clock_us() - t0;
            if (slow_us > 0 && dt >= slow_us)
                fprintf(stderr, "berth-grammar: slow mask %.0f us: %s at byte %ld: %.*s\n", dt,
                        cur_id, off, (int)(off < 60 ? off : 60), text + (off < 60 ? 0 : off - 60));
            if (sampled) {
                dvec_push(&all->mask, dt);
                dvec_push(&sp->mask, dt);
            }
        }
        if (i == n) {
            bool eos_ok = n_eos > 0;
            for (size_t e = 0; e < n_eos; e++)
                if (!((mask[eos[e] >> 5] >> (eos[e] & 31)) & 1)) eos_ok = false;
            if (eos_ok != gr_matcher_is_complete(m)) {
                mismatches++;
                fprintf(stderr, "berth-grammar: %s: mask and is_complete disagree at the end\n",
                        cur_id);
            }
            ok = eos_ok && gr_matcher_is_complete(m);
            break;
        }
        bool allowed = masked ? (mask[ids[i] >> 5] >> (ids[i] & 31)) & 1 : true;
        if (masked && mask_rc != GR_OK) {
            /* the call went over the matcher's time or work bound: by contract an empty mask and
             * an error (the request fails), not a disagreement with accept_token, whose call has
             * a fresh bound */
            mask_failures++;
            fprintf(stderr,
                    "berth-grammar: %s: the mask call failed (over its bound) at byte %ld\n",
                    cur_id, off);
            ok = 0;
            break;
        }
        bool accepted = gr_matcher_accept_token(m, ids[i]) == GR_OK;
        if (masked && allowed != accepted) {
            /* an engine bug: reported, and the token counts as rejected either way (the mask is
             * what sampling obeys; a matcher that refused it cannot go on) */
            mismatches++;
            fprintf(stderr,
                    "berth-grammar: %s: mask (%d) and accept_token (%d) disagree on token %d\n",
                    cur_id, allowed, accepted, ids[i]);
        }
        if (!accepted || !allowed) {
            ok = 0;
            break;
        }
        size_t bl;
        tok_token_bytes(tok, ids[i], &bl);
        off += (long)bl;
    }
    *at = off;
    gr_matcher_free(m);
    free(ids);
    return ok;
}

static gzFile open_input(const char *path)
{
    gzFile f = gzopen(path, "rb");
    if (!f) fprintf(stderr, "berth-grammar: cannot open %s\n", path);
    return f;
}

static int cmd_check(const char *tok_path, const char *path, long limit)
{
    char err[1024];
    tok_tokenizer *tok = NULL;
    struct stat st;
    int rc = stat(tok_path, &st) == 0 && S_ISDIR(st.st_mode)
                 ? tok_load_dir(&tok, tok_path, err, sizeof err)
                 : tok_load_file(&tok, tok_path, err, sizeof err);
    if (rc != TOK_OK) {
        fprintf(stderr, "berth-grammar: %s\n", err);
        return 1;
    }
    int32_t eos[2];
    size_t n_eos = 0;
    const char *names[2] = {tok_eos_token(tok), "<|im_end|>"};
    for (int i = 0; i < 2; i++) {
        int32_t id = names[i] ? tok_token_id(tok, names[i]) : -1;
        if (id >= 0 && !(n_eos == 1 && eos[0] == id)) eos[n_eos++] = id;
    }
    if (!n_eos) {
        fprintf(stderr, "berth-grammar: the tokenizer names no end-of-sequence token\n");
        return 1;
    }
    gr_vocab *v = NULL;
    if (gr_vocab_new(&v, tok, eos, n_eos, err, sizeof err) != GR_OK) {
        fprintf(stderr, "berth-grammar: %s\n", err);
        return 1;
    }
    gzFile f = open_input(path);
    if (!f) return 1;
    uint32_t *mask = malloc(gr_mask_words(v) * sizeof *mask);
    stats all = {.name = "all"};
    stats *splits = NULL;
    size_t n_splits = 0;
    char *line;
    size_t len;
    long lineno = 0;
    while ((limit < 0 || lineno < limit) && (line = read_line(f, &len))) {
        lineno++;
        if ((lineno - 1) % line_every != 0) {
            free(line);
            continue;
        }
        pj_value *doc = pj_parse(line, len);
        pj_value *idv = doc ? pj_get(doc, "id") : NULL;
        pj_value *schema = doc ? pj_get(doc, "schema") : NULL;
        pj_value *tests = doc ? pj_get(doc, "tests") : NULL;
        if (!schema || !tests || tests->kind != PJ_ARRAY) {
            fprintf(stderr, "berth-grammar: %s:%ld: not a {\"schema\", \"tests\"} line\n", path,
                    lineno);
            return 1;
        }
        char *id = idv && idv->kind == PJ_STRING ? pj_string(idv, &(size_t){0}) : NULL;
        if (!id) {
            id = malloc(32);
            snprintf(id, 32, "line%ld", lineno);
        }
        stats *sp = split_of(&splits, &n_splits, id);
        cur_id = id;
        all.schemas++;
        sp->schemas++;
        gr_grammar *g = NULL;
        double t0 = now_us();
        int crc = gr_compile_json_schema(&g, v, schema->start, schema->len, NULL, err, sizeof err);
        double ct = now_us() - t0;
        printf("{\"id\":");
        json_str(stdout, id);
        if (crc != GR_OK) {
            all.compile_errors++;
            sp->compile_errors++;
            printf(",\"status\":\"compile_error\",\"error\":");
            json_str(stdout, err);
            printf("}\n");
        } else {
            dvec_push(&all.compile, ct);
            dvec_push(&sp->compile, ct);
            long wa = 0, wr = 0, nt = 0;
            printf(",\"compile_us\":%.0f,\"failures\":[", ct);
            int nf = 0;
            for (pj_value *t = tests->child; t; t = t->next, nt++) {
                pj_value *valid = pj_get(t, "valid"), *data = pj_get(t, "data");
                if (!valid || !data) {
                    fprintf(stderr, "berth-grammar: %s:%ld: a test without valid/data\n", path,
                            lineno);
                    return 1;
                }
                size_t tl;
                char *text = pj_dump_python(data, &tl);
                if (!text) return 1;
                long at;
                int acc = walk(g, v, tok, eos, n_eos, text, tl, mask, &all, sp, &at);
                bool want = valid->kind == PJ_TRUE;
                if (acc != want) {
                    if (want)
                        wr++;
                    else
                        wa++;
                    printf("%s{\"test\":%ld,\"valid\":%s,\"rejected_at\":%ld,\"data\":",
                           nf++ ? "," : "", nt, want ? "true" : "false", acc ? -1 : at);
                    json_str(stdout, text);
                    printf("}");
                }
                free(text);
            }
            bool pass = wa == 0 && wr == 0;
            printf(
                "],\"status\":\"%s\",\"tests\":%ld,\"wrong_accepts\":%ld,\"wrong_rejects\":%ld}\n",
                pass ? "pass" : "fail", nt, wa, wr);
            all.wrong_accepts += wa;
            sp->wrong_accepts += wa;
            all.wrong_rejects += wr;
            sp->wrong_rejects += wr;
            all.passing += pass;
            sp->passing += pass;
            gr_grammar_free(g);
        }
        fflush(stdout);
        free(id);
        pj_free(doc);
        free(line);
    }
    gzclose(f);
    for (size_t i = 0; i < n_splits; i++) {
        print_stats(&splits[i], true);
        free(splits[i].mask.v);
        free(splits[i].compile.v);
    }
    if (mismatches)
        fprintf(stderr, "berth-grammar: %ld mask/matcher disagreements (engine bugs; see above)\n",
                mismatches);
    if (mask_failures)
        fprintf(stderr, "berth-grammar: %ld mask calls over their bound (see above)\n",
                mask_failures);
    print_stats(&all, false);
    free(all.mask.v);
    free(all.compile.v);
    free(splits);
    free(mask);
    gr_vocab_free(v);
    tok_free(tok);
    return 0;
}

static int cmd_dump(const char *path)
{
    gzFile f = open_input(path);
    if (!f) return 1;
    char *line;
    size_t len;
    long lineno = 0;
    while ((line = read_line(f, &len))) {
        lineno++;
        pj_value *doc = pj_parse(line, len);
        pj_value *tests = doc ? pj_get(doc, "tests") : NULL;
        if (!tests) {
            fprintf(stderr, "berth-grammar: %s:%ld: no tests\n", path, lineno);
            return 1;
        }
        for (pj_value *t = tests->child; t; t = t->next) {
            pj_value *data = pj_get(t, "data");
            char *text = data ? pj_dump_python(data, NULL) : NULL;
            if (!text) return 1;
            printf("%s\n", text);
            free(text);
        }
        pj_free(doc);
        free(line);
    }
    gzclose(f);
    return 0;
}

static int cmd_gbnf(const char *path, const gr_json_options *opt)
{
    gzFile f = open_input(path);
    if (!f) return 1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int got;
    while (buf && (got = gzread(f, buf + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    gzclose(f);
    if (!buf) return 1;
    char err[1024], *text = NULL;
    int rc = gr_json_schema_to_gbnf(buf, n, "", opt, &text, err, sizeof err);
    free(buf);
    if (rc != GR_OK) {
        fprintf(stderr, "berth-grammar: %s\n", err);
        return 1;
    }
    fputs(text, stdout);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "dump") == 0) return cmd_dump(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "gbnf") == 0) {
        gr_json_options o = {0};
        int i = 2;
        for (; i < argc - 1; i++) {
            if (strcmp(argv[i], "--flexible-whitespace") == 0)
                o.flexible_whitespace = true;
            else if (strcmp(argv[i], "--strict") == 0)
                o.strict = true;
            else
                break;
        }
        if (i == argc - 1) return cmd_gbnf(argv[i], &o);
    }
    if (argc >= 3 && strcmp(argv[1], "check") == 0) {
        const char *tok = NULL, *file = NULL;
        long limit = -1;
        for (int i = 2; i < argc; i++) {
            if ((strcmp(argv[i], "--tokenizer") == 0 || strcmp(argv[i], "-t") == 0) && i + 1 < argc)
                tok = argv[++i];
            else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
                limit = atol(argv[++i]);
            else if (strcmp(argv[i], "--every") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0)
                line_every = atol(argv[++i]);
            else if (strcmp(argv[i], "--mask-every") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0)
                mask_every = atol(argv[++i]);
            else if (strcmp(argv[i], "--cpu-time") == 0)
                cpu_time = true;
            else if (strcmp(argv[i], "--slow-us") == 0 && i + 1 < argc)
                slow_us = atof(argv[++i]);
            else if (!file && argv[i][0] != '-')
                file = argv[i];
            else
                file = NULL, tok = NULL, i = argc;
        }
        if (tok && file) return cmd_check(tok, file, limit);
    }
    fputs(usage, stderr);
    return 2;
}
