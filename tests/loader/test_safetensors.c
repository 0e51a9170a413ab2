/* Safetensors parsing and checkpoint opening: valid single and sharded checkpoints give the right
 * shapes and bytes (including a file written by the reference Python library), and every kind of
 * corruption is refused with a message naming the file and the tensor or field. */
#include "models/loader/safetensors.h"
#include "tests/support/test_support.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- building files ----------------------------------------------------------------------------
 */

/* A safetensors image: little-endian header length, the header text, then data_len bytes 0,1,2,...
 */
static uint8_t *image(const char *header, size_t data_len, size_t *len)
{
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *b = malloc(*len);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data_len; i++)
        b[8 + h + i] = (uint8_t)i;
    return b;
}

static void write_bytes(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECKF(f != NULL, "cannot write %s", path);
    if (!f) return;
    fwrite(b, 1, len, f);
    fclose(f);
}

static void write_image(const char *dir, const char *name, const char *header, size_t data_len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    uint8_t *b = image(header, data_len, &len);
    write_bytes(path, b, len);
    free(b);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_bytes(path, (const uint8_t *)text, strlen(text));
}

/* A fresh empty directory under $TMPDIR. */
static void make_dir(char *dir, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, len, "%s/berth-loader-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
}

static void remove_dir(const char *dir)
{
    static const char *const names[] = {"model.safetensors", "model.safetensors.index.json",
                                        "a.safetensors", "b.safetensors"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static bool contains_all(const char *s, const char *a, const char *b, const char *c)
{
    return strstr(s, a) && (!b || strstr(s, b)) && (!c || strstr(s, c));
}

/* Parses header+data and expects a refusal whose message names the file and contains a, b, c. */
static void expect_parse_error(const char *header, size_t data_len, const char *a, const char *b,
                               const char *c)
{
    size_t n, len;
    st_tensor *t = NULL;
    char err[512] = "";
    uint8_t *img = image(header, data_len, &len);
    int rc = st_parse(img, len, "dir/x.safetensors", &t, &n, err, sizeof err);
    CHECKF(rc == -1 && t == NULL && strstr(err, "dir/x.safetensors") && contains_all(err, a, b, c),
           "header %s: rc %d, message \"%s\"", header, rc, err);
    free(img);
}

/* ---- st_parse ----------------------------------------------------------------------------------
 */

static void test_valid_file_gives_shapes_and_bytes(void)
{
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[4,16]},"
                    "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                    "\"e\":{\"dtype\":\"F8_E5M2\",\"shape\":[0,7],\"data_offsets\":[16,16]}}";
    size_t len, n = 0;
    uint8_t *b = image(h, 16, &len);
    st_tensor *t = NULL;
    char err[512] = "";
    CHECKF(st_parse(b, len, "x.safetensors", &t, &n, err, sizeof err) == 0, "%s", err);
    CHECK(n == 3);
    if (n == 3) {
        const uint8_t *data = b + 8 + strlen(h);
        CHECK(strcmp(t[0].name, "w") == 0 && t[0].dtype == ST_BF16 && t[0].ndim == 2);
        CHECK(t[0].shape[0] == 2 && t[0].shape[1] == 3 && t[0].nbytes == 12);
        CHECK(t[0].data == data + 4 && ((const uint8_t *)t[0].data)[0] == 4);
        CHECK(strcmp(t[0].path, "x.safetensors") == 0);
        CHECK(t[1].dtype == ST_F32 && t[1].ndim == 0 && t[1].nbytes == 4 && t[1].data == data);
        CHECK(t[2].dtype == ST_F8_E5M2 && t[2].nbytes == 0 && t[2].shape[1] == 7);
    }
    st_tensors_free(t, n);
    free(b);
}

static void test_reference_writer_file_parses(void)
{
    /* Written by Python safetensors (save_file): padding, key order and metadata as HF writes them.
     */
    char path[512];
    test_source_path("tests/fuzz/corpus/safetensors/valid_hf.safetensors", path, sizeof path);
    FILE *f = fopen(path, "rb");
    CHECKF(f != NULL, "missing %s", path);
    if (!f) return;
    uint8_t buf[1024];
    size_t len = fread(buf, 1, sizeof buf, f), n = 0;
    fclose(f);
    st_tensor *t = NULL;
    char err[512] = "";
    CHECKF(st_parse(buf, len, path, &t, &n, err, sizeof err) == 0, "%s", err);
    CHECK(n == 4);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].name, "model.embed_tokens.weight") == 0) {
            float v[12];
            CHECK(t[i].dtype == ST_F32 && t[i].ndim == 2 && t[i].shape[0] == 3 &&
                  t[i].shape[1] == 4);
            memcpy(v, t[i].data, sizeof v);
            CHECK(v[0] == 0.0f && v[5] == 5.0f && v[11] == 11.0f);
        } else if (strcmp(t[i].name, "lm_head.bias") == 0) {
            int64_t v[2];
            memcpy(v, t[i].data, sizeof v);
            CHECK(t[i].dtype == ST_I64 && v[0] == 7 && v[1] == 8);
        } else if (strcmp(t[i].name, "model.norm.weight") == 0) {
            uint16_t v[3];
            memcpy(v, t[i].data, sizeof v);
            CHECK(t[i].dtype == ST_F16 && v[0] == 0x3C00 && v[1] == 0xC000 && v[2] == 0x4200);
        } else {
            const uint8_t *v = t[i].data;
            CHECK(strcmp(t[i].name, "flags") == 0 && t[i].dtype == ST_BOOL);
            CHECK(t[i].nbytes == 3 && v[0] == 1 && v[1] == 0 && v[2] == 1);
        }
    }
    st_tensors_free(t, n);
}

static void test_framing_errors(void)
{
    char err[512] = "";
    st_tensor *t;
    size_t n;
    uint8_t small[5] = {0};
    CHECK(st_parse(small, 5, "dir/x.safetensors", &t, &n, err, sizeof err) == -1);
    CHECKF(contains_all(err, "dir/x.safetensors", "shorter than the 8-byte", NULL), "%s", err);

    uint8_t zero[16] = {0};
    CHECK(st_parse(zero, 16, "dir/x.safetensors", &t, &n, err, sizeof err) == -1);
    CHECKF(contains_all(err, "dir/x.safetensors", "header length is 0", NULL), "%s", err);

    uint8_t big[16] = {0x01, 0xE1, 0xF5, 0x05}; /* 100000001 */
    CHECK(st_parse(big, 16, "dir/x.safetensors", &t, &n, err, sizeof err) == -1);
    CHECKF(contains_all(err, "dir/x.safetensors", "100000001", "over the format's limit"), "%s",
           err);

    uint8_t past[16] = {9, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(st_parse(past, 16, "dir/x.safetensors", &t, &n, err, sizeof err) == -1);
    CHECKF(contains_all(err, "dir/x.safetensors", "runs past the end", NULL), "%s", err);

    uint8_t huge[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
    CHECK(st_parse(huge, 10, "dir/x.safetensors", &t, &n, err, sizeof err) == -1);
    CHECKF(strstr(err, "over the format's limit") != NULL, "%s", err);
}

static void test_header_errors(void)
{
    expect_parse_error("{\"a\":", 0, "not valid JSON", NULL, NULL);
    expect_parse_error("[1,2]", 0, "not an object", NULL, NULL);
    expect_parse_error("{} x", 0, "text after the JSON", NULL, NULL);
    expect_parse_error("{\"\xff\":{}}", 0, "not valid UTF-8", NULL, NULL);
    expect_parse_error("{\"\xc0\x80\":{}}", 0, "not valid UTF-8", NULL, NULL); /* overlong NUL */
    expect_parse_error("{\"__metadata__\":{\"k\":1}}", 0, "\"__metadata__\"", "object of strings",
                       NULL);
    expect_parse_error("{\"__metadata__\":[]}", 0, "\"__metadata__\"", NULL, NULL);
    expect_parse_error("{\"t\":[]}", 0, "tensor \"t\"", "expected an object", NULL);
}

static void test_entry_errors(void)
{
    expect_parse_error("{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor \"t\"",
                       "field \"dtype\"", "missing");
    expect_parse_error("{\"t\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                       "tensor \"t\"", "field \"dtype\"", "\"Q4\"");
    expect_parse_error("{\"t\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                       "tensor \"t\"", "field \"dtype\"", NULL);
    expect_parse_error(
        "{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
        "tensor \"t\"", "field \"dtype\"", "more than once");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                       "tensor \"t\"", "field \"shape\"", "dimension 0");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                       "tensor \"t\"", "field \"shape\"", NULL);
    expect_parse_error(
        "{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
        "tensor \"t\"", "field \"shape\"", "at most 8");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4,
                       "tensor \"t\"", "field \"shape\"", NULL);
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
                       "tensor \"t\"", "field \"data_offsets\"", "[begin, end]");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 4,
                       "tensor \"t\"", "field \"data_offsets\"", NULL);
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
                       "tensor \"t\"", "field \"data_offsets\"", "after end");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                       "tensor \"t\"", "field \"data_offsets\"", "past the data section");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e300]}}", 4,
                       "tensor \"t\"", "field \"data_offsets\"", NULL);
}

static void test_dtype_shape_mismatch_and_overflow(void)
{
    expect_parse_error("{\"t\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", 8,
                       "tensor \"t\"", "spans 8 bytes", "[2, 3] of BF16 needs 12");
    /* 2^32 * 2^32 elements wraps to 0 in 64 bits: must not pass as an empty tensor. */
    expect_parse_error("{\"t\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                       "\"data_offsets\":[0,0]}}",
                       0, "tensor \"t\"", "field \"shape\"", "overflows");
    expect_parse_error("{\"t\":{\"dtype\":\"F64\",\"shape\":[1125899906842624,2048],"
                       "\"data_offsets\":[0,0]}}",
                       0, "tensor \"t\"", "overflows", NULL);
}

static void test_overlap_and_duplicates(void)
{
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                       12, "\"a\"", "\"b\"", "overlap");
    expect_parse_error("{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                       "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}",
                       4, "\"a\"", "\"b\"", "overlap");
    expect_parse_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                       "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                       2, "tensor \"a\"", "more than once", NULL);

    /* Adjacent tensors, empty tensors anywhere, and a gap (HF writers never leave one, but the
     * format does not forbid it) are all fine. */
    const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                    "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[1,1]},"
                    "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
                    "\"c\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[6,7]}}";
    size_t len, n = 0;
    uint8_t *b = image(h, 8, &len);
    st_tensor *t = NULL;
    char err[512] = "";
    CHECKF(st_parse(b, len, "x", &t, &n, err, sizeof err) == 0 && n == 4, "%s", err);
    st_tensors_free(t, n);
    free(b);
}

static void test_truncated_file(void)
{
    const char *h = "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    size_t len, n;
    uint8_t *b = image(h, 16, &len);
    st_tensor *t;
    char err[512] = "";
    CHECK(st_parse(b, len, "x", &t, &n, err, sizeof err) == 0);
    st_tensors_free(t, n);
    CHECK(st_parse(b, len - 1, "dir/cut.safetensors", &t, &n, err, sizeof err) == -1);
    CHECKF(contains_all(err, "dir/cut.safetensors", "tensor \"t\"", "truncated"), "%s", err);
    CHECK(st_parse(b, 20, "dir/cut.safetensors", &t, &n, err, sizeof err) == -1);
    CHECKF(contains_all(err, "dir/cut.safetensors", "runs past the end", NULL), "%s", err);
    free(b);
}

static void test_dtype_names_and_sizes(void)
{
    CHECK(strcmp(st_dtype_name(ST_BF16), "BF16") == 0 && st_dtype_size(ST_BF16) == 2);
    CHECK(strcmp(st_dtype_name(ST_F8_E4M3), "F8_E4M3") == 0 && st_dtype_size(ST_F8_E4M3) == 1);
    CHECK(st_dtype_size(ST_F64) == 8 && st_dtype_size(ST_I64) == 8 && st_dtype_size(ST_BOOL) == 1);
}

/* ---- st_checkpoint -----------------------------------------------------------------------------
 */

#define SHARD_A                                                                                    \
    "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"                             \
    "\"y\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[8,11]}}"
#define SHARD_B "{\"z\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}"
#define INDEX_AB                                                                                   \
    "{\"metadata\":{\"total_size\":19},\"weight_map\":{\"x\":\"a.safetensors\","                   \
    "\"y\":\"a.safetensors\",\"z\":\"b.safetensors\"}}"

static void test_single_file_checkpoint(void)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    write_image(dir, "model.safetensors", SHARD_A, 11);
    st_checkpoint *ck = NULL;
    char err[512] = "";
    CHECKF(st_checkpoint_open(&ck, dir, err, sizeof err) == 0, "%s", err);
    if (ck) {
        CHECK(st_checkpoint_count(ck) == 2);
        const st_tensor *y = st_checkpoint_find(ck, "y");
        CHECK(y && y->dtype == ST_I8 && y->shape[0] == 3 && ((const uint8_t *)y->data)[2] == 10);
        CHECK(y && strstr(y->path, "/model.safetensors"));
        CHECK(st_checkpoint_find(ck, "nope") == NULL);
        CHECK(strcmp(st_checkpoint_tensor(ck, 0)->name, "x") == 0);
        CHECK(st_checkpoint_tensor(ck, 2) == NULL);
        st_checkpoint_close(ck);
    }
    remove_dir(dir);
}

static void test_sharded_checkpoint(void)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    write_image(dir, "a.safetensors", SHARD_A, 11);
    write_image(dir, "b.safetensors", SHARD_B, 8);
    write_text(dir, "model.safetensors.index.json", INDEX_AB);
    st_checkpoint *ck = NULL;
    char err[512] = "";
    CHECKF(st_checkpoint_open(&ck, dir, err, sizeof err) == 0, "%s", err);
    if (ck) {
        CHECK(st_checkpoint_count(ck) == 3);
        const st_tensor *z = st_checkpoint_find(ck, "z"), *x = st_checkpoint_find(ck, "x");
        CHECK(z && z->dtype == ST_BF16 && z->ndim == 2 && z->nbytes == 8 && strstr(z->path, "/b."));
        CHECK(z && ((const uint8_t *)z->data)[7] == 7);
        CHECK(x && strstr(x->path, "/a.safetensors") && ((const uint8_t *)x->data)[0] == 0);
        st_checkpoint_close(ck);
    }
    remove_dir(dir);
}

/* Opens dir and expects a refusal naming every given substring. */
static void expect_open_error(const char *dir, const char *a, const char *b, const char *c)
{
    st_checkpoint *ck = (st_checkpoint *)1;
    char err[512] = "";
    int rc = st_checkpoint_open(&ck, dir, err, sizeof err);
    CHECKF(rc == -1 && ck == NULL && contains_all(err, a, b, c), "open %s: rc %d, message \"%s\"",
           dir, rc, err);
}

static void test_checkpoint_errors(void)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    expect_open_error(dir, dir, "no model.safetensors", NULL);

    write_text(dir, "model.safetensors.index.json", INDEX_AB);
    write_image(dir, "a.safetensors", SHARD_A, 11);
    expect_open_error(dir, "b.safetensors", "cannot open", NULL); /* shard missing */

    write_image(dir, "b.safetensors",
                "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", 8);
    expect_open_error(dir, "b.safetensors", "tensor \"w\"", "is not listed");

    write_image(dir, "b.safetensors",
                "{\"z\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                "\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[8,9]}}",
                9);
    expect_open_error(dir, "tensor \"x\"", "mapped to shard \"a.safetensors\"", NULL);

    write_image(dir, "b.safetensors", "{}", 0); /* index names z, shard lacks it */
    expect_open_error(dir, "model.safetensors.index.json", "tensor \"z\"", "does not contain it");

    write_image(dir, "b.safetensors",
                "{\"z\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,9]}}", 9);
    expect_open_error(dir, "b.safetensors", "tensor \"z\"", "data_offsets");

    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"x\":\"../a.safetensors\"}}");
    expect_open_error(dir, "weight_map[\"x\"]", "same directory", NULL);
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"x\":\"a.safetensors\",\"x\":\"a.safetensors\"}}");
    expect_open_error(dir, "tensor \"x\"", "more than once", NULL);
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\":[]}");
    expect_open_error(dir, "model.safetensors.index.json", "weight_map", NULL);
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\":{}} x");
    expect_open_error(dir, "model.safetensors.index.json", "JSON", NULL);
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\":");
    expect_open_error(dir, "model.safetensors.index.json", "JSON", NULL);

    /* model.safetensors wins over the index, as in transformers; an empty one is refused. */
    write_text(dir, "model.safetensors", "");
    expect_open_error(dir, "model.safetensors", "shorter than the 8-byte", NULL);
    remove_dir(dir);
}

int main(void)
{
    test_valid_file_gives_shapes_and_bytes();
    test_reference_writer_file_parses();
    test_framing_errors();
    test_header_errors();
    test_entry_errors();
    test_dtype_shape_mismatch_and_overflow();
    test_overlap_and_duplicates();
    test_truncated_file();
    test_dtype_names_and_sizes();
    test_single_file_checkpoint();
    test_sharded_checkpoint();
    test_checkpoint_errors();
    return test_finish("test_safetensors");
}
