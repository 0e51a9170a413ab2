/* Proves the key store: a good file loads and looks keys up; each bad file is refused with a
 * message naming the field and index and never a secret; reload swaps in a good file, keeps the old
 * store on a bad one, and a reader's snapshot survives a reload. */
#include "server/auth/key_store.h"
#include "tests/support/test_support.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/berth-keystore-XXXXXX";
static char path[256];

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

#define POLICY                                                                                     \
    "\"policy\":{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}"
#define GOOD_A                                                                                     \
    "{\"access_key_id\":\"AKIAAAA\",\"secret_access_key\":\"SECRETMARKER-a\","                     \
    "\"principal_arn\":\"arn:aws:iam::111122223333:user/alice\"," POLICY "}"
#define GOOD_B                                                                                     \
    "{\"access_key_id\":\"ASIABBB\",\"secret_access_key\":\"SECRETMARKER-b\","                     \
    "\"principal_arn\":\"arn:aws:sts::444455556666:assumed-role/r/s\","                            \
    "\"session_token\":\"SECRETMARKER-token\",\"expiration\":\"2030-01-01T00:00:00Z\"," POLICY "}"

static void good_file(void)
{
    char err[512];
    write_file("{\"identities\":[" GOOD_A "," GOOD_B "]}");
    keystore *ks = keystore_load(path, err, sizeof err);
    CHECKF(ks != NULL, "load: %s", err);
    if (!ks) return;
    CHECK(keystore_count(ks) == 2);
    const keystore_identity *a = keystore_find(ks, "AKIAAAA"), *b = keystore_find(ks, "ASIABBB");
    CHECK(a && strcmp(a->account, "111122223333") == 0 && !a->session_token && a->expiration == 0);
    CHECK(b && strcmp(b->account, "444455556666") == 0 && b->session_token &&
          b->expiration == 1893456000);
    CHECK(keystore_find(ks, "AKIAZZZ") == NULL);
    keystore_release(ks);

    char arn[256];
    CHECK(keystore_endpoint_arn(arn, sizeof arn, "us-east-1", "111122223333", "My-Endpoint") == 0 &&
          strcmp(arn, "arn:aws:sagemaker:us-east-1:111122223333:endpoint/my-endpoint") == 0);
    CHECK(keystore_endpoint_arn(arn, 20, "us-east-1", "111122223333", "x") != 0);
}

static void bad_file(const char *text, const char *want)
{
    char err[512] = "";
    write_file(text);
    keystore *ks = keystore_load(path, err, sizeof err);
    CHECKF(ks == NULL, "accepted a bad file (want error '%s')", want);
    if (ks) keystore_release(ks);
    CHECKF(strstr(err, want) != NULL, "error '%s' does not say '%s'", err, want);
    CHECKF(strstr(err, path) != NULL, "error '%s' does not name the file", err);
    CHECKF(strstr(err, "SECRETMARKER") == NULL, "error reveals a secret: %s", err);
}

static void bad_files(void)
{
    bad_file("{\"identities\":[" GOOD_A ",", "not valid JSON");
    bad_file("{\"ids\":[]}", "\"identities\" list");
    bad_file("{\"identities\":[" GOOD_A ",{\"secret_access_key\":\"SECRETMARKER-x\"}]}",
             "identities[1].access_key_id");
    bad_file("{\"identities\":[{\"access_key_id\":\"AKIAX\",\"principal_arn\":\"arn:aws:iam::"
             "111122223333:user/x\"," POLICY "}]}",
             "identities[0].secret_access_key");
    bad_file(
        "{\"identities\":[{\"access_key_id\":\"AKIAX\",\"secret_access_key\":\"SECRETMARKER-x\","
        "\"principal_arn\":\"arn:aws:iam::12345:user/x\"," POLICY "}]}",
        "identities[0].principal_arn");
    bad_file(
        "{\"identities\":[{\"access_key_id\":\"AKIAX\",\"secret_access_key\":\"SECRETMARKER-x\","
        "\"principal_arn\":\"arn:aws:iam::111122223333:user/x\"}]}",
        "identities[0].policy");
    bad_file(
        "{\"identities\":[{\"access_key_id\":\"AKIAX\",\"secret_access_key\":\"SECRETMARKER-x\","
        "\"principal_arn\":\"arn:aws:iam::111122223333:user/x\",\"expiration\":\"tomorrow\"," POLICY
        "}]}",
        "identities[0].expiration");
    bad_file(
        "{\"identities\":[{\"access_key_id\":\"AKIAX\",\"secret_access_key\":\"SECRETMARKER-x\","
        "\"principal_arn\":\"arn:aws:iam::111122223333:user/x\",\"policy\":{\"Statement\":"
        "[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{}}]}}]}",
        "identities[0].policy.Statement[0].Condition");
    bad_file("{\"identities\":[" GOOD_A "," GOOD_A "]}",
             "identities[1].access_key_id: the same key as identities[0]");
    bad_file(
        "{\"identities\":[{\"access_key_id\":\"AKIA-X\",\"secret_access_key\":\"SECRETMARKER-x\","
        "\"principal_arn\":\"arn:aws:iam::111122223333:user/x\"," POLICY "}]}",
        "identities[0].access_key_id");
    bad_file(
        "{\"identities\":[{\"access_key_id\":\"AKIAX\",\"secret_access_key\":\"SECRETMARKER-x\","
        "\"principal_arn\":\"arn:aws:iam::111122223333:user/x\",\"secret\":1," POLICY "}]}",
        "identities[0].secret: unknown field");
    char err[512];
    CHECK(keystore_load("/nonexistent/keys.json", err, sizeof err) == NULL &&
          strstr(err, "/nonexistent/keys.json"));
}

static void reload(void)
{
    char err[512];
    write_file("{\"identities\":[" GOOD_A "]}");
    keystore_handle *h = keystore_handle_open(path, err, sizeof err);
    CHECKF(h != NULL, "open: %s", err);
    if (!h) return;
    keystore *before = keystore_handle_acquire(h);
    CHECK(keystore_find(before, "AKIAAAA") && !keystore_find(before, "ASIABBB"));

    write_file("{\"identities\":[" GOOD_A ",{\"access_key_id\":1}]}");
    CHECK(keystore_handle_reload(h, err, sizeof err) != 0 &&
          strstr(err, "identities[1].access_key_id"));
    keystore *still = keystore_handle_acquire(h);
    CHECK(still == before && keystore_find(still, "AKIAAAA"));
    keystore_release(still);

    write_file("{\"identities\":[" GOOD_B "]}");
    CHECKF(keystore_handle_reload(h, err, sizeof err) == 0, "reload: %s", err);
    keystore *after = keystore_handle_acquire(h);
    CHECK(after != before && keystore_find(after, "ASIABBB") && !keystore_find(after, "AKIAAAA"));
    /* The snapshot taken before the reload is still whole (ASan would flag a use after free). */
    const keystore_identity *old = keystore_find(before, "AKIAAAA");
    CHECK(old && strcmp(old->principal_arn, "arn:aws:iam::111122223333:user/alice") == 0);
    keystore_release(before);
    keystore_release(after);

    unlink(path);
    CHECK(keystore_handle_reload(h, err, sizeof err) != 0 && strstr(err, "cannot open"));
    keystore *kept = keystore_handle_acquire(h);
    CHECK(keystore_find(kept, "ASIABBB") != NULL);
    keystore_release(kept);
    keystore_handle_close(h);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.json", dir);
    good_file();
    bad_files();
    reload();
    unlink(path);
    rmdir(dir);
    return test_finish("test_key_store");
}
