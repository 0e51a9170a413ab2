/* The ListObjectsV2 and <Error> parsers: real S3 documents, entities, pagination fields, and the
 * malformed inputs each refused with a message naming the element. */
#include <string.h>

#include "models/source/s3_xml.h"
#include "tests/support/test_support.h"

static int parse(const char *xml, s3_list_page *pg, char *err)
{
    return s3_list_parse(xml, strlen(xml), pg, err, 512);
}

static void test_real_page(void)
{
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>models</Name><Prefix>qwen/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
        "<IsTruncated>true</IsTruncated>"
        "<Contents><Key>qwen/config.json</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
        "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><ChecksumAlgorithm>SHA256"
        "</ChecksumAlgorithm><Size>734</Size><StorageClass>STANDARD</StorageClass>"
        "<Owner><ID>abc</ID><DisplayName>x</DisplayName></Owner></Contents>"
        "<!-- a comment -->"
        "<Contents><Key>qwen/a &amp; b &#x41;&#66;.safetensors</Key><ETag>\"e-2\"</ETag>"
        "<Size>5497558138880</Size></Contents>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</"
        "NextContinuationToken>"
        "</ListBucketResult>";
    s3_list_page pg;
    char err[512] = "";
    CHECKF(parse(xml, &pg, err) == 0, "parse: %s", err);
    CHECK(pg.n_objects == 2);
    CHECK(pg.truncated);
    CHECK(pg.next_token && !strcmp(pg.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="));
    if (pg.n_objects == 2) {
        CHECK(!strcmp(pg.objects[0].key, "qwen/config.json"));
        CHECK(!strcmp(pg.objects[0].etag, "\"9b2cf535f27731c974343645a3985328\""));
        CHECK(pg.objects[0].size == 734);
        CHECKF(!strcmp(pg.objects[1].key, "qwen/a & b AB.safetensors"), "key %s",
               pg.objects[1].key);
        CHECK(pg.objects[1].size == 5497558138880ull);
    }
    s3_list_page_free(&pg);
}

static void test_empty_and_last_page(void)
{
    s3_list_page pg;
    char err[512];
    CHECK(parse("<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"
                "</ListBucketResult>",
                &pg, err) == 0);
    CHECK(pg.n_objects == 0 && !pg.truncated && !pg.next_token);
    s3_list_page_free(&pg);
    CHECK(parse("<ListBucketResult/>", &pg, err) == 0);
    s3_list_page_free(&pg);
}

static void expect_error(const char *xml, const char *needle)
{
    s3_list_page pg;
    char err[512] = "";
    int rc = parse(xml, &pg, err);
    CHECKF(rc == -1, "accepted: %s", xml);
    CHECKF(strstr(err, needle) != NULL, "error for %s is '%s', expected it to mention '%s'", xml,
           err, needle);
    CHECK(pg.objects == NULL && pg.n_objects == 0);
}

static void test_malformed(void)
{
    expect_error("<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>", "Size");
    expect_error("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", "Key");
    expect_error("<ListBucketResult><Contents/></ListBucketResult>", "Key");
    expect_error(
        "<ListBucketResult><Contents><Key>a</Key><Size>12a</Size></Contents></ListBucketResult>",
        "<Size>");
    expect_error(
        "<ListBucketResult><Contents><Key>a</Key><Size>123456789012345678901</Size></Contents>"
        "</ListBucketResult>",
        "<Size>");
    expect_error("<ListBucketResult><Contents><Key>a</Key><Key>b</Key><Size>1</Size></Contents>"
                 "</ListBucketResult>",
                 "repeats <Key>");
    expect_error("<ListBucketResult><Contents><Key>a", "ends inside");
    expect_error("<ListBucketResult></Contents></ListBucketResult>", "does not match");
    expect_error("<Error><Code>AccessDenied</Code></Error>", "<ListBucketResult>");
    expect_error("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
                 "NextContinuationToken");
    expect_error("<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
                 "true or false");
    expect_error("<ListBucketResult><Contents><Key>&bogus;</Key><Size>1</Size></Contents>"
                 "</ListBucketResult>",
                 "character reference");
    expect_error("<ListBucketResult><Contents><Key>&#0;</Key><Size>1</Size></Contents>"
                 "</ListBucketResult>",
                 "character reference");
    expect_error("<ListBucketResult><Contents><Key>&#xD800;</Key><Size>1</Size></Contents>"
                 "</ListBucketResult>",
                 "character reference");
    expect_error("<!DOCTYPE x><ListBucketResult/>", "DTD");
    expect_error("<ListBucketResult/><ListBucketResult/>", "second root");
    expect_error("junk<ListBucketResult/>", "outside the root");
    expect_error("", "ends inside the prolog");
    char deep[400] = "<ListBucketResult>";
    for (int i = 0; i < 20; i++)
        strcat(deep, "<a>");
    expect_error(deep, "deeper than");
}

static void test_error_document(void)
{
    const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchBucket</Code>"
                      "<Message>The specified bucket does not exist &amp; never did</Message>"
                      "<BucketName>nope</BucketName></Error>";
    char code[64], msg[128];
    s3_error_parse(xml, strlen(xml), code, sizeof code, msg, sizeof msg);
    CHECK(!strcmp(code, "NoSuchBucket"));
    CHECKF(!strcmp(msg, "The specified bucket does not exist & never did"), "msg %s", msg);
    s3_error_parse("", 0, code, sizeof code, msg, sizeof msg);
    CHECK(code[0] == '\0' && msg[0] == '\0');
    char small[5];
    s3_error_parse(xml, strlen(xml), small, sizeof small, msg, sizeof msg);
    CHECK(!strcmp(small, "NoSu"));
}

int main(void)
{
    test_real_page();
    test_empty_and_last_page();
    test_malformed();
    test_error_document();
    return test_finish("test_s3_xml");
}
