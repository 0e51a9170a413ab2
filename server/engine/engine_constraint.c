/* A request's constraint through its life: the matcher starts at submit (no trigger) or once the
 * trigger token is generated, sees every token sampled while it is active, and ends the request
 * (or, with rearm, goes back to waiting for the trigger) once only end-of-sequence can follow.
 *
 * Preemption needs nothing here: a preempted sequence keeps its generated tokens and recomputes
 * their KV only, so the matcher, which has accepted exactly those tokens, stays as it is. */
#include "server/engine/engine_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* triggered: started by the trigger token, so the prefix tokens (whitespace after </think>) may
 * come first; a matcher started at submit holds from the very first token. */
static int start_matcher(engine_request *r, bool triggered)
{
    r->matcher = r->constraint.ops->matcher_new(r->constraint.grammar);
    if (!r->matcher) return -1;
    r->matcher_fed = false;
    r->prefix_left = triggered && r->constraint.prefix_mask ? r->constraint.prefix_max : 0;
    return 0;
}

int constraint_attach(engine_request *r, const engine_constraint *c)
{
    r->constraint = *c;
    if (!c->ops) return 0;
    r->open_allowed = c->trigger_token >= 0 && c->has_open;
    if ((c->trigger_token < 0 || r->open_allowed) && start_matcher(r, false)) {
        r->constraint.ops = NULL; /* the caller keeps its reference on failure */
        return -1;
    }
    return 0;
}

void constraint_detach(engine_request *r)
{
    if (!r->constraint.ops) return;
    if (r->matcher) r->constraint.ops->matcher_free(r->matcher);
    r->matcher = NULL;
    r->constraint.ops->release(r->constraint.grammar);
    r->constraint.ops = NULL;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int fill_job(void *arg)
{
    engine_request *r = arg;
    const engine_constraint *c = &r->constraint;
    uint64_t t0 = now_ns();
    int rc = c->ops->fill_mask(r->matcher, r->mask_out);
    atomic_fetch_add(&r->e->mask_compute_ns, now_ns() - t0);
    if (rc) {
        /* This request fails alone (publish ends it); its row samples unconstrained, unread. */
        r->constraint_error = "the constraint's mask could not be computed within the grammar "
                              "matcher's time and work bounds (a pathologically ambiguous grammar)";
        fprintf(stderr, "engine: %s\n", r->constraint_error);
        r->constraint_broken = true;
        memset(r->mask_out, 0xFF, sizeof(uint32_t) * (((size_t)r->e->vocab + 31) / 32));
        return 0;
    }
    if (r->prefix_left > 0 && !r->matcher_fed) {
        size_t words = ((size_t)r->e->vocab + 31) / 32;
        for (size_t w = 0; w < words; w++)
            r->mask_out[w] |= c->prefix_mask[w];
    }
    if (r->open_allowed) r->mask_out[c->open_token / 32] |= 1u << (c->open_token % 32);
    return 0;
}

bool constraint_mask_job(engine_request *r, uint32_t *mask, mask_job *job)
{
    if (!r->constraint.ops || !r->matcher || r->constraint_broken) return false;
    r->mask_out = mask;
    *job = (mask_job){.fn = fill_job, .arg = r};
    return true;
}

static bool in_prefix(const engine_request *r, int32_t token)
{
    const uint32_t *m = r->constraint.prefix_mask;
    return m && r->prefix_left > 0 && !r->matcher_fed && ((m[token / 32] >> (token % 32)) & 1u);
}

void constraint_after_token(engine_request *r, int32_t token)
{
    const engine_constraint *c = &r->constraint;
    if (!c->ops || r->constraint_broken) return;
    bool first = r->open_allowed;
    r->open_allowed = false;
    if (first && token == c->open_token) {
        c->ops->matcher_free(r->matcher);
        r->matcher = NULL;
        return;
    }
    if (!r->matcher) {
        if (token == c->trigger_token && start_matcher(r, true)) {
            r->constraint_error = "out of memory for a constraint matcher";
            fprintf(stderr, "engine: %s\n", r->constraint_error);
            r->constraint_broken = true;
        }
        return;
    }
    int rc = c->ops->accept(r->matcher, token);
    if (rc == 0) {
        r->matcher_fed = true;
    } else if (in_prefix(r, token)) {
        r->prefix_left--;
        return;
    } else {
        /* End-of-sequence ends the request anyway. A matcher over its own limits says nothing
         * about the token; a refusal of a token its mask allowed means the mask was not applied. */
        for (int32_t i = 0; i < r->num_stop_ids; i++)
            if (r->stop_ids[i] == token) return;
        r->constraint_error =
            rc == -2 ? "the grammar matcher went over its work or stack limit on the sampled token "
                       "(a pathologically ambiguous grammar)"
                     : "a sampled token was outside the constraint (its mask was not applied)";
        fprintf(stderr, "engine: token %d: %s\n", token, r->constraint_error);
        r->constraint_broken = true;
        return;
    }
    if (!c->ops->is_terminated(r->matcher)) return;
    if (c->rearm && c->trigger_token >= 0) {
        c->ops->matcher_free(r->matcher);
        r->matcher = NULL;
    } else {
        r->constraint_ended = true;
    }
}

void constraint_unattach(engine_request *r)
{
    if (r->constraint.ops && r->matcher) r->constraint.ops->matcher_free(r->matcher);
    r->matcher = NULL;
    r->constraint.ops = NULL;
}
