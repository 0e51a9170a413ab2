/* The router's state, shared by its routes (router.c) and its admin API (admin.c). Slots hold the
 * components: a request reads them under the read lock, the admin API changes them under the write
 * lock. Not for use outside server/router/. */
#ifndef BERTH_ROUTER_ROUTER_INTERNAL_H
#define BERTH_ROUTER_ROUTER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/auth/auth.h"
#include "server/http/http.h"
#include "server/router/component_config.h"
#include "server/router/router.h"
#include "server/router/supervisor.h"

#define ROUTER_CODES 600

enum { SLOT_FREE, SLOT_ACTIVE, SLOT_DELETING };

typedef struct comp_stats {
    atomic_ulong by_code[ROUTER_CODES];
    atomic_ulong worker_failures;
    atomic_int in_flight;
} comp_stats;

struct router {
    cc_config cfg; /* components[i] is slot i; n_components is CC_MAX_COMPONENTS once started */
    int state[CC_MAX_COMPONENTS];
    int64_t created_at[CC_MAX_COMPONENTS], modified_at[CC_MAX_COMPONENTS];
    /* A rolling update in progress (pending[i].model != NULL): the new specification, the copies
     * started with it (a mask) and its deadline; failure[i] is the last failed update's reason
     * (DescribeInferenceComponent's FailureReason). */
    cc_component pending[CC_MAX_COMPONENTS];
    unsigned upd_mask[CC_MAX_COMPONENTS];
    int64_t upd_deadline[CC_MAX_COMPONENTS];
    char failure[CC_MAX_COMPONENTS][640];
    pthread_rwlock_t lock;
    supervisor *sup;
    http_server *srv;
    router_options opt;
    atomic_bool draining;
    atomic_int in_flight;
    int64_t created;
    comp_stats stats[CC_MAX_COMPONENTS];
    atomic_ulong unrouted[ROUTER_CODES]; /* answered by the router itself (404, 503, ...) */
    pthread_t keeper;                    /* frees the slots of deleted components once drained */
    atomic_bool stop_keeper;
};

#define EACH_ACTIVE(rt, i)                                                                         \
    for (int i = 0; i < CC_MAX_COMPONENTS; i++)                                                    \
        if ((rt)->state[i] == SLOT_ACTIVE)

/* Under the read or write lock. */
int router_find(const router *rt, const char *name);
int router_n_active(const router *rt);
void router_count_unrouted(router *rt, int status);

/* POST / with X-Amz-Target: SageMaker.<Operation> (admin.c). */
void router_handle_admin(void *ctx, http_request *r);
/* Moves the rolling updates in progress on (switch over, or roll back); under the write lock. */
void router_tend_updates(router *rt);

#endif
