/* Fuzz target: cc_config_parse (berth serve --config, and the body of a future admin API) on
 * arbitrary bytes must return 0 or -1 with a message, never crash; an accepted config must hold
 * the invariants the supervisor relies on (valid unique names, 1..16 copies, a model). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/router/component_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_config c;
    char err[1024] = "";
    if (cc_config_parse((const char *)data, size, &c, err, sizeof err) == 0) {
        if (c.n_components < 1 || c.n_components > CC_MAX_COMPONENTS || !cc_valid_name(c.endpoint))
            abort();
        for (int i = 0; i < c.n_components; i++) {
            const cc_component *k = &c.components[i];
            if (!cc_valid_name(k->name) || !k->model || !k->model[0] || k->copies < 1 ||
                k->copies > CC_MAX_COPIES)
                abort();
            for (int j = 0; j < i; j++)
                if (!strcmp(c.components[j].name, k->name)) abort();
        }
        cc_check_shares(&c, 1024, "fuzz", err, sizeof err);
        cc_config_free(&c);
    } else if (err[0] == '\0') {
        abort();
    }
    return 0;
}
