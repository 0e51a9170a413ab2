/* The component supervisor: one worker process (`berth serve` re-executed on a Unix socket) per
 * component copy, readiness probes, restarts with backoff, least-outstanding copy choice, and the
 * stop at shutdown. Owns the worker processes and their socket directory; knows no HTTP route. */
#ifndef BERTH_ROUTER_SUPERVISOR_H
#define BERTH_ROUTER_SUPERVISOR_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "server/router/component_config.h"

typedef struct supervisor supervisor;
typedef struct sup_copy sup_copy;

/* Starts the monitor thread, with no component yet (cfg gives the endpoint and backend every
 * worker gets). exe is the berth binary workers run. NULL with err on failure. */
supervisor *sup_start(const cc_config *cfg, const char *exe, char *err, size_t errlen);
/* Slot idx (< CC_MAX_COMPONENTS) runs component c (each copy keeps its own copy of it; c must stay
 * valid while sup_scale may start copies from it) with c->copies copies; the monitor thread
 * launches them and they become ready later (sup_ready_copies). */
void sup_add(supervisor *s, int idx, const cc_component *c);
/* fn(socket path) is called when a copy stops taking requests (retired), when its worker exits and
 * before a new worker starts on its socket: what was connected to that path is stale. Set once,
 * before sup_add. */
void sup_on_socket_reset(supervisor *s, void (*fn)(const char *socket_path));
/* Sets the number of live copies of slot idx: new ones run the specification of sup_add or
 * sup_set_spec; copies retired (not-ready ones first, then the highest-numbered) stop taking
 * requests at once and get SIGTERM when their last request ends or drain_s from now, whichever
 * comes first (SIGKILL 5 s later). sup_scale(s, idx, 0, d) retires a component. */
void sup_scale(supervisor *s, int idx, int copies, double drain_s);
/* What later sup_scale calls start new copies with (c must outlive them). */
void sup_set_spec(supervisor *s, int idx, const cc_component *c);

/* A rolling update works with sets of copies (bit j = copy j). Each copy keeps its own copy of
 * the specification it was started with. */
/* Copies of slot idx that run or are about to (not retiring): a mask. */
unsigned sup_live_mask(supervisor *s, int idx);
/* Starts n more copies of slot idx running spec (copied), beside the live ones; their mask, or 0
 * when fewer than n copy slots are free. */
unsigned sup_start_copies(supervisor *s, int idx, const cc_component *spec, int n);
/* Retires the copies of mask as sup_scale retires them. */
void sup_retire(supervisor *s, int idx, unsigned mask, double drain_s);
/* Ready copies among mask; exits of the copies of mask since they were started, with the last
 * log line of the copy that exited most (for a failure's reason; len may be 0). */
int sup_ready_in(supervisor *s, int idx, unsigned mask);
unsigned long sup_exits_in(supervisor *s, int idx, unsigned mask, char *last_log, size_t len);
/* Copies of slot idx still running or still answering requests (0: the slot may be reused). */
int sup_live_copies(supervisor *s, int idx);
/* SIGTERM to every worker, SIGKILL to those still alive after grace_s; joins and frees. */
void sup_stop(supervisor *s, double grace_s);

/* A ready copy of component idx with the fewest outstanding requests (now one more), or NULL when
 * none is ready. Give it back with sup_release. */
sup_copy *sup_acquire(supervisor *s, int idx);
void sup_release(sup_copy *c);
/* The copy's Unix socket path (stable across its restarts). */
const char *sup_copy_socket(const sup_copy *c);

int sup_ready_copies(supervisor *s, int idx);
/* Worker exits of component idx since sup_add (a counter). */
unsigned long sup_restarts(supervisor *s, int idx);
/* Its exits since a copy was last stable (ready for 60 s: the last exit of a stable copy counts
 * as the first), what decides a crash loop. */
unsigned long sup_recent_exits(supervisor *s, int idx);
/* How long a copy must stay ready to be stable (60 s); tests shorten it. */
void sup_set_stable_s(supervisor *s, double stable_s);
int sup_outstanding(supervisor *s, int idx);
/* The pid of copy `copy` of component idx (0 while it is not running), for logs and tests. */
pid_t sup_pid(supervisor *s, int idx, int copy);
/* That copy's Unix socket path (fixed for the supervisor's life). */
const char *sup_copy_socket_of(supervisor *s, int idx, int copy);
/* Whether that copy is in use (starting, running or stopping), whether it is ready, and its
 * outstanding requests. */
int sup_copy_live(supervisor *s, int idx, int copy);
int sup_copy_ready(supervisor *s, int idx, int copy);
int sup_copy_outstanding(supervisor *s, int idx, int copy);

/* Builds a worker's argv: the one place where a component's settings become worker flags.
 * argv gets at most SUP_MAX_ARGS entries plus NULL; strings live in store. -1 if they do not fit.
 */
#define SUP_MAX_ARGS 40
int sup_worker_argv(const cc_config *cfg, const cc_component *c, const char *exe,
                    const char *socket_path, char **argv, char *store, size_t store_len);

#endif
