/* Static API keys for plain self-hosting (`--api-key`, a keys file with one key per line), kept as
 * SHA-256 digests and compared in constant time. Knows nothing of SigV4 tokens or HTTP. */
#ifndef BERTH_AUTH_API_KEYS_H
#define BERTH_AUTH_API_KEYS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct apikeys apikeys;

/* Keys from the list plus those of `file` (NULL: none). In the file, blank lines and lines starting
 * with '#' are skipped and surrounding whitespace is trimmed. No key at all is an error. */
apikeys *apikeys_create(const char *const *keys, size_t n, const char *file, char *err,
                        size_t errlen);
/* Takes the same time whichever key matches, or none: every stored digest is compared. */
bool apikeys_check(const apikeys *k, const char *presented, size_t len);
size_t apikeys_count(const apikeys *k);
void apikeys_free(apikeys *k);

#endif
