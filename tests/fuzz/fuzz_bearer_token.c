/* Fuzzes the bearer token parser and verifier with arbitrary credentials (what follows "Bearer ").
 * Parsed tokens are verified against a fixed key so the re-signing path runs on hostile fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth/bearer_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const regions[] = {"us-east-1", "us-west-2"};
    static const bearer_options opt = {
        .regions = regions, .n_regions = 2, .accept_bedrock = true, .clock_skew = 300};
    static const bearer_key key = {.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                   .session_token = "session"};
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    bearer_token t;
    if (bearer_parse(s, strlen(s), &opt, &t) == BEARER_OK)
        bearer_verify(&t, &key, &opt, 1704067200);
    bearer_token_free(&t);
    free(s);
    return 0;
}
