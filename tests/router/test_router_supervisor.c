/* The supervisor's sets of copies, as a rolling update uses them: new copies start beside the live
 * ones in free slots with their own specification, retiring a set leaves the others live, scaling
 * down retires the not-ready and highest-numbered first, a full component refuses more, and the
 * exits of a set are counted with the last line its workers logged. The "berth" here is /bin/sh,
 * which fails at once on `sh serve ...` with a message on stderr. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/router/supervisor.h"
#include "tests/support/test_support.h"

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

int main(void)
{
    char err[256];
    cc_config shell = {0};
    snprintf(shell.endpoint, sizeof shell.endpoint, "ep");
    supervisor *s = sup_start(&shell, "/bin/sh", err, sizeof err);
    CHECKF(s != NULL, "sup_start: %s", err);
    if (!s) return test_finish("test_router_supervisor");

    cc_component old = {.name = "c", .model = "/models/old", .copies = 2};
    cc_component next = {.name = "c", .model = "/models/new", .memory_mib = 64, .copies = 2};
    sup_add(s, 0, &old);
    CHECKF(sup_live_mask(s, 0) == 0x3, "live %#x", sup_live_mask(s, 0));

    unsigned m = sup_start_copies(s, 0, &next, 2);
    CHECKF(m == 0xc, "new set %#x", m);
    CHECKF(sup_live_mask(s, 0) == 0xf, "live %#x", sup_live_mask(s, 0));
    CHECK(sup_ready_in(s, 0, m) == 0);

    /* each copy of the new set fails and is restarted with backoff; its message is kept */
    char last[256];
    unsigned long exits = 0;
    for (int i = 0; i < 100 && (exits = sup_exits_in(s, 0, m, last, sizeof last)) < 2; i++)
        sleep_ms(50);
    CHECKF(exits >= 2, "exits of the new set: %lu", exits);
    CHECKF(strstr(last, "serve") != NULL, "last log line: '%s'", last);
    CHECK(sup_exits_in(s, 0, m, NULL, 0) >= 2);

    sup_retire(s, 0, m, 0);
    CHECKF(sup_live_mask(s, 0) == 0x3, "after retiring the new set: %#x", sup_live_mask(s, 0));

    /* scaling down retires the highest-numbered of equally unready copies */
    sup_scale(s, 0, 1, 0);
    CHECKF(sup_live_mask(s, 0) == 0x1, "after scaling to 1: %#x", sup_live_mask(s, 0));

    /* 16 copies at most: 15 more fit beside the live one only once the retired slots are free */
    for (int i = 0; i < 100 && (sup_live_copies(s, 0) > 1); i++)
        sleep_ms(50);
    CHECKF(sup_live_copies(s, 0) == 1, "copies still in use: %d", sup_live_copies(s, 0));
    CHECK(sup_start_copies(s, 0, &next, CC_MAX_COPIES) == 0);
    m = sup_start_copies(s, 0, &next, CC_MAX_COPIES - 1);
    CHECKF(m == 0xfffe, "a full set: %#x", m);
    CHECK(sup_start_copies(s, 0, &next, 1) == 0);

    /* everything retired: nothing live */
    sup_retire(s, 0, 0xffff, 0);
    CHECK(sup_live_mask(s, 0) == 0);
    sup_stop(s, 1);
    return test_finish("test_router_supervisor");
}
