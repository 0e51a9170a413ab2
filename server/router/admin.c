/* The inference-component admin API, in SageMaker's shape: POST / with
 * X-Amz-Target: SageMaker.<Operation> and a JSON body whose field names are SageMaker's
 * (CreateInferenceComponent, UpdateInferenceComponent, DeleteInferenceComponent,
 * DescribeInferenceComponent, ListInferenceComponents). Errors are {"__type", "message"} as the AWS
 * JSON protocol writes them. Callers need an --admin-api-key or a key-store identity allowed
 * sagemaker:<Operation>; plain API keys never reach it. */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/router/router_internal.h"

static void admin_error(router *rt, http_request *r, int status, const char *type, const char *fmt,
                        ...) __attribute__((format(printf, 5, 6)));
static void admin_error(router *rt, http_request *r, int status, const char *type, const char *fmt,
                        ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "__type", type);
    cJSON_AddStringToObject(o, "message", msg);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    router_count_unrouted(rt, status);
    http_respond(r, status, "application/x-amz-json-1.1", json ? json : "{}",
                 json ? strlen(json) : 2);
    free(json);
}

static void admin_ok(router *rt, http_request *r, cJSON *o)
{
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    router_count_unrouted(rt, 200);
    http_respond(r, 200, "application/x-amz-json-1.1", json ? json : "{}", json ? strlen(json) : 2);
    free(json);
}

static void arn(char *out, size_t cap, const char *kind, const char *name)
{
    const char *region = getenv("AWS_REGION");
    snprintf(out, cap, "arn:aws:sagemaker:%s:000000000000:%s/%s",
             region && *region ? region : "local", kind, name);
}

/* Admin keys (constant-time compare), else a key-store identity allowed sagemaker:<op>. */
static int authorized(router *rt, http_request *r, const char *op, const char *component)
{
    const char *h = http_request_header(r, "Authorization");
    if (rt->opt.n_admin_keys == 0 && !auth_has_key_store(rt->opt.auth)) {
        admin_error(
            rt, r, 403, "AccessDeniedException",
            "the admin API is off: start berth serve with --admin-api-key or --auth-key-store");
        return 0;
    }
    if (h && !strncasecmp(h, "Bearer ", 7)) {
        const char *cred = h + 7;
        while (*cred == ' ')
            cred++;
        size_t n = strlen(cred);
        while (n && cred[n - 1] == ' ')
            n--;
        for (size_t i = 0; i < rt->opt.n_admin_keys; i++)
            if (strlen(rt->opt.admin_keys[i]) == n &&
                CRYPTO_memcmp(rt->opt.admin_keys[i], cred, n) == 0)
                return 1;
    }
    char action[96];
    snprintf(action, sizeof action, "sagemaker:%s", op);
    auth_result res;
    int status = auth_check_admin(rt->opt.auth, h, action, component, (int64_t)time(NULL), &res);
    if (status == 200) return 1;
    admin_error(rt, r, status, status == 403 ? "AccessDeniedException" : "UnauthorizedException",
                "%s",
                status == 403 ? "the authenticated identity is not allowed this action"
                              : "invalid or missing admin credentials");
    return 0;
}

static int only_keys(router *rt, http_request *r, const cJSON *o, const char *where,
                     const char *const *keys)
{
    for (const cJSON *it = o->child; it; it = it->next) {
        int known = 0;
        for (size_t i = 0; keys[i] && !known; i++)
            known = !strcmp(it->string, keys[i]);
        if (!known) {
            admin_error(rt, r, 400, "ValidationException", "%s%.64s: unknown field", where,
                        it->string);
            return -1;
        }
    }
    return 0;
}

/* An integer field in [lo, hi]; absent leaves *out. */
static int int_field(router *rt, http_request *r, const cJSON *o, const char *key,
                     const char *where, long lo, long hi, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble ||
        v->valuedouble < lo || v->valuedouble > hi) {
        admin_error(rt, r, 400, "ValidationException", "%s%s: expected an integer in [%ld, %ld]",
                    where, key, lo, hi);
        return -1;
    }
    *out = (long)v->valuedouble;
    return 0;
}

/* The slot of a component that exists (active or being deleted), or -1. */
static int find_any(const router *rt, const char *name)
{
    for (int i = 0; i < CC_MAX_COMPONENTS; i++)
        if (rt->state[i] != SLOT_FREE && !strcmp(rt->cfg.components[i].name, name)) return i;
    return -1;
}

/* Shares of every live component, with slot `skip` counted as `extra_mib` instead. */
static int shares_fit(router *rt, http_request *r, int skip, int64_t extra_mib)
{
    if (!rt->opt.share_capacity_mib) return 1;
    int64_t total = extra_mib;
    for (int i = 0; i < CC_MAX_COMPONENTS; i++)
        if (i != skip && rt->state[i] != SLOT_FREE)
            total += rt->cfg.components[i].memory_mib * rt->cfg.components[i].copies +
                     rt->pending[i].memory_mib * rt->pending[i].copies; /* during an update */
    if (total <= rt->opt.share_capacity_mib) return 1;
    admin_error(rt, r, 400, "ResourceLimitExceeded",
                "the memory shares would add up to %lld MiB, more than the %lld MiB of %s",
                (long long)total, (long long)rt->opt.share_capacity_mib,
                rt->opt.share_capacity_what);
    return 0;
}

/* Failed: no copy is ready and workers exited this often since a copy was last stable (a bad model
 * path, a model that does not fit, a crash loop); the supervisor keeps retrying with backoff, so it
 * may still recover. */
#define ADMIN_FAILED_AFTER 3
/* An update whose new copies are not all ready by then is rolled back. */
#define ADMIN_UPDATE_DEADLINE_S 900

static const char *status_of(router *rt, int i)
{
    if (rt->state[i] == SLOT_DELETING) return "Deleting";
    if (rt->pending[i].model) return "Updating";
    int ready = sup_ready_copies(rt->sup, i);
    if (ready == 0 && sup_recent_exits(rt->sup, i) >= ADMIN_FAILED_AFTER) return "Failed";
    return ready == 0                              ? "Creating"
           : ready != rt->cfg.components[i].copies ? "Updating"
                                                   : "InService";
}

/* Specification and RuntimeConfig.CopyCount of a Create or Update body, as the component named
 * name (copies: the CopyCount, else dflt_copies). 0, or -1 once r is answered. */
static int parse_spec(router *rt, http_request *r, const cJSON *body, const char *name,
                      long dflt_copies, cc_component *comp)
{
    static const char *const spec_keys[] = {"Container", "ComputeResourceRequirements",
                                            "BerthParameters", NULL};
    static const char *const res_keys[] = {"MinMemoryRequiredInMb", "MaxMemoryRequiredInMb",
                                           "NumberOfCpuCoresRequired",
                                           "NumberOfAcceleratorDevicesRequired", NULL};
    static const char *const reserved[] = {"name",   "model",   "memory_mib",
                                           "copies", "threads", NULL};
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(body, "Specification");
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(spec, "Container");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(cont, "ArtifactUrl");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(spec, "ComputeResourceRequirements");
    const cJSON *berth = cJSON_GetObjectItemCaseSensitive(spec, "BerthParameters");
    const cJSON *runtime = cJSON_GetObjectItemCaseSensitive(body, "RuntimeConfig");
    if (!cJSON_IsObject(spec) || only_keys(rt, r, spec, "Specification.", spec_keys)) {
        if (!cJSON_IsObject(spec))
            admin_error(rt, r, 400, "ValidationException", "Specification: required, an object");
        return -1;
    }
    if (!cJSON_IsString(url) || !url->valuestring[0]) {
        admin_error(rt, r, 400, "ValidationException",
                    "Specification.Container.ArtifactUrl: required, the model (an s3:// URI, a "
                    "directory or a .gguf file)");
        return -1;
    }
    long mem = 0, cores = 0, accel = 0, copies = dflt_copies;
    if ((res && (!cJSON_IsObject(res) ||
                 only_keys(rt, r, res, "Specification.ComputeResourceRequirements.", res_keys))) ||
        int_field(rt, r, res, "MinMemoryRequiredInMb", "Specification.ComputeResourceRequirements.",
                  1, 1 << 24, &mem) ||
        int_field(rt, r, res, "MaxMemoryRequiredInMb", "Specification.ComputeResourceRequirements.",
                  1, 1 << 24, &mem) ||
        int_field(rt, r, res, "NumberOfCpuCoresRequired",
                  "Specification.ComputeResourceRequirements.", 1, 4096, &cores) ||
        int_field(rt, r, res, "NumberOfAcceleratorDevicesRequired",
                  "Specification.ComputeResourceRequirements.", 0, 1, &accel) ||
        int_field(rt, r, runtime, "CopyCount", "RuntimeConfig.", 1, CC_MAX_COPIES, &copies)) {
        if (res && !cJSON_IsObject(res))
            admin_error(rt, r, 400, "ValidationException",
                        "Specification.ComputeResourceRequirements: expected an object");
        return -1;
    }
    if (berth && !cJSON_IsObject(berth)) {
        admin_error(rt, r, 400, "ValidationException",
                    "Specification.BerthParameters: expected an object");
        return -1;
    }
    cJSON *obj = berth ? cJSON_Duplicate(berth, 1) : cJSON_CreateObject();
    for (size_t i = 0; reserved[i] && obj; i++)
        if (cJSON_GetObjectItemCaseSensitive(obj, reserved[i])) {
            admin_error(rt, r, 400, "ValidationException",
                        "Specification.BerthParameters.%s: set by SageMaker's own field "
                        "(InferenceComponentName, "
                        "ArtifactUrl, MaxMemoryRequiredInMb, CopyCount, NumberOfCpuCoresRequired)",
                        reserved[i]);
            cJSON_Delete(obj);
            return -1;
        }
    cJSON_AddStringToObject(obj, "name", name);
    cJSON_AddStringToObject(obj, "model", url->valuestring);
    if (mem) cJSON_AddNumberToObject(obj, "memory_mib", (double)mem);
    if (cores) cJSON_AddNumberToObject(obj, "threads", (double)cores);
    cJSON_AddNumberToObject(obj, "copies", (double)copies);
    char err[768];
    int rc = cc_component_parse(obj, "Specification.BerthParameters.", comp, err, sizeof err);
    cJSON_Delete(obj);
    if (rc) admin_error(rt, r, 400, "ValidationException", "%s", err);
    return rc ? -1 : 0;
}

static void answer_arn(router *rt, http_request *r, const char *name)
{
    char a[256];
    arn(a, sizeof a, "inference-component", name);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "InferenceComponentArn", a);
    admin_ok(rt, r, o);
}

static void create(router *rt, http_request *r, const cJSON *body, const char *name)
{
    static const char *const top[] = {
        "InferenceComponentName", "EndpointName", "VariantName", "Specification",
        "RuntimeConfig",          "Tags",         NULL};
    if (only_keys(rt, r, body, "", top)) return;
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(body, "EndpointName");
    if (!cJSON_IsString(ep) || strcmp(ep->valuestring, rt->cfg.endpoint)) {
        admin_error(rt, r, 400, "ValidationException",
                    "EndpointName: expected this endpoint's name, '%s'", rt->cfg.endpoint);
        return;
    }
    cc_component comp;
    if (parse_spec(rt, r, body, name, 1, &comp)) return;
    pthread_rwlock_wrlock(&rt->lock);
    int slot = -1;
    for (int i = 0; i < CC_MAX_COMPONENTS && slot < 0; i++)
        if (rt->state[i] == SLOT_FREE) slot = i;
    if (find_any(rt, name) >= 0) {
        admin_error(rt, r, 400, "ValidationException",
                    "Cannot create already existing inference component '%s'", name);
    } else if (slot < 0) {
        admin_error(rt, r, 400, "ResourceLimitExceeded",
                    "this endpoint already has %d inference components", CC_MAX_COMPONENTS);
    } else if (shares_fit(rt, r, -1, comp.memory_mib * comp.copies)) {
        rt->cfg.components[slot] = comp;
        comp.model = NULL;
        for (int c = 0; c < ROUTER_CODES; c++)
            atomic_store(&rt->stats[slot].by_code[c], 0);
        atomic_store(&rt->stats[slot].worker_failures, 0);
        rt->created_at[slot] = rt->modified_at[slot] = (int64_t)time(NULL);
        rt->failure[slot][0] = 0;
        rt->state[slot] = SLOT_ACTIVE;
        sup_add(rt->sup, slot, &rt->cfg.components[slot]);
        fprintf(stderr, "berth router: component %s created (%d cop%s, model %s)\n", name,
                rt->cfg.components[slot].copies, rt->cfg.components[slot].copies == 1 ? "y" : "ies",
                rt->cfg.components[slot].model);
        answer_arn(rt, r, name);
    }
    pthread_rwlock_unlock(&rt->lock);
    free(comp.model);
}

/* A changed Specification: start the new copies beside the old ones (router_tend_updates switches
 * over once they are ready, or gives up and keeps the old ones). Under the write lock. */
static void start_rolling(router *rt, http_request *r, int i, cc_component *comp)
{
    const cc_component *old = &rt->cfg.components[i];
    unsigned live = sup_live_mask(rt->sup, i);
    if (__builtin_popcount(live) + comp->copies > CC_MAX_COPIES) {
        admin_error(rt, r, 400, "ValidationException",
                    "RuntimeConfig.CopyCount: %d new copies beside the %d running ones pass the "
                    "%d copies a component may run during an update",
                    comp->copies, __builtin_popcount(live), CC_MAX_COPIES);
        return;
    }
    /* both sets run during the switch */
    if (!shares_fit(rt, r, i, old->memory_mib * old->copies + comp->memory_mib * comp->copies))
        return;
    rt->pending[i] = *comp;
    comp->model = NULL;
    rt->upd_mask[i] = sup_start_copies(rt->sup, i, &rt->pending[i], rt->pending[i].copies);
    if (!rt->upd_mask[i]) {
        free(rt->pending[i].model);
        memset(&rt->pending[i], 0, sizeof rt->pending[i]);
        admin_error(rt, r, 500, "InternalFailure", "cannot start the new copies");
        return;
    }
    rt->upd_deadline[i] = (int64_t)time(NULL) + ADMIN_UPDATE_DEADLINE_S;
    rt->failure[i][0] = 0;
    rt->modified_at[i] = (int64_t)time(NULL);
    fprintf(stderr,
            "berth router: component %s: rolling update to model %s (memory_mib %lld, %d cop%s) "
            "started; the %d running cop%s serve until the new ones are ready\n",
            old->name, rt->pending[i].model, (long long)rt->pending[i].memory_mib,
            rt->pending[i].copies, rt->pending[i].copies == 1 ? "y" : "ies",
            __builtin_popcount(live), __builtin_popcount(live) == 1 ? "y" : "ies");
    answer_arn(rt, r, old->name);
}

static void update(router *rt, http_request *r, const cJSON *body, const char *name)
{
    static const char *const top[] = {"InferenceComponentName", "RuntimeConfig", "Specification",
                                      "DeploymentConfig", NULL};
    if (only_keys(rt, r, body, "", top)) return;
    const cJSON *dc = cJSON_GetObjectItemCaseSensitive(body, "DeploymentConfig");
    if (dc && !cJSON_IsObject(dc)) {
        admin_error(rt, r, 400, "ValidationException", "DeploymentConfig: expected an object");
        return;
    }
    const cJSON *runtime = cJSON_GetObjectItemCaseSensitive(body, "RuntimeConfig");
    int has_spec = cJSON_GetObjectItemCaseSensitive(body, "Specification") != NULL;
    long copies = 0;
    if (int_field(rt, r, runtime, "CopyCount", "RuntimeConfig.", 1, CC_MAX_COPIES, &copies)) return;
    if (!copies && !has_spec) {
        admin_error(rt, r, 400, "ValidationException",
                    "RuntimeConfig.CopyCount or Specification: required");
        return;
    }
    cc_component comp = {0};
    if (has_spec && parse_spec(rt, r, body, name, 1, &comp)) return;
    pthread_rwlock_wrlock(&rt->lock);
    int i = router_find(rt, name);
    if (i < 0) {
        admin_error(rt, r, 400, "ValidationException", "Could not find inference component '%s'",
                    name);
    } else if (rt->pending[i].model) {
        admin_error(rt, r, 400, "ValidationException",
                    "Cannot update inference component '%s' while its previous update is in "
                    "progress (status Updating)",
                    name);
    } else if (has_spec) {
        if (!copies) comp.copies = rt->cfg.components[i].copies;
        start_rolling(rt, r, i, &comp);
    } else if (shares_fit(rt, r, i, rt->cfg.components[i].memory_mib * copies)) {
        fprintf(stderr, "berth router: component %s: %d -> %ld copies\n", name,
                rt->cfg.components[i].copies, copies);
        rt->cfg.components[i].copies = (int)copies;
        rt->modified_at[i] = (int64_t)time(NULL);
        sup_scale(rt->sup, i, (int)copies, rt->opt.drain_s);
        answer_arn(rt, r, name);
    }
    pthread_rwlock_unlock(&rt->lock);
    free(comp.model);
}

/* Drops an update in progress: its new copies are stopped at once (they serve nothing yet, or
 * requests that were routed to them finish first within the drain deadline). */
static void abandon_update(router *rt, int i, double drain_s)
{
    sup_retire(rt->sup, i, rt->upd_mask[i], drain_s);
    free(rt->pending[i].model);
    memset(&rt->pending[i], 0, sizeof rt->pending[i]);
    rt->upd_mask[i] = 0;
}

void router_tend_updates(router *rt)
{
    EACH_ACTIVE(rt, i)
    {
        if (!rt->pending[i].model) continue;
        unsigned mask = rt->upd_mask[i];
        cc_component *k = &rt->cfg.components[i];
        char last[256];
        unsigned long exits = sup_exits_in(rt->sup, i, mask, last, sizeof last);
        int64_t now = (int64_t)time(NULL);
        if (sup_ready_in(rt->sup, i, mask) == __builtin_popcount(mask)) {
            /* every new copy answers: the old ones take no new request from here and drain */
            sup_retire(rt->sup, i, sup_live_mask(rt->sup, i) & ~mask, rt->opt.drain_s);
            free(k->model);
            *k = rt->pending[i];
            memset(&rt->pending[i], 0, sizeof rt->pending[i]);
            sup_set_spec(rt->sup, i, k);
            rt->upd_mask[i] = 0;
            rt->modified_at[i] = now;
            fprintf(stderr,
                    "berth router: component %s: updated (model %s, memory_mib %lld); the old "
                    "copies drain\n",
                    k->name, k->model, (long long)k->memory_mib);
        } else if (exits >= ADMIN_FAILED_AFTER || now >= rt->upd_deadline[i]) {
            if (exits >= ADMIN_FAILED_AFTER)
                snprintf(rt->failure[i], sizeof rt->failure[i],
                         "UpdateInferenceComponent failed and was rolled back: the new copies "
                         "exited %lu times before becoming ready (last: %s); the previous "
                         "specification keeps serving",
                         exits, last[0] ? last : "no message");
            else
                snprintf(rt->failure[i], sizeof rt->failure[i],
                         "UpdateInferenceComponent failed and was rolled back: the new copies "
                         "were not ready within %d s; the previous specification keeps serving",
                         ADMIN_UPDATE_DEADLINE_S);
            fprintf(stderr, "berth router: component %s: %s\n", k->name, rt->failure[i]);
            abandon_update(rt, i, 0);
            rt->modified_at[i] = now;
        }
    }
}

static void delete (router *rt, http_request *r, const cJSON *body, const char *name)
{
    static const char *const top[] = {"InferenceComponentName", NULL};
    if (only_keys(rt, r, body, "", top)) return;
    pthread_rwlock_wrlock(&rt->lock);
    int i = router_find(rt, name);
    if (i < 0) {
        admin_error(rt, r, 400, "ValidationException", "Could not find inference component '%s'",
                    name);
    } else {
        /* No new requests from here (lookups see active slots only); those in flight get drain_s.
         */
        if (rt->pending[i].model) abandon_update(rt, i, rt->opt.drain_s);
        rt->state[i] = SLOT_DELETING;
        rt->modified_at[i] = (int64_t)time(NULL);
        sup_scale(rt->sup, i, 0, rt->opt.drain_s);
        fprintf(stderr,
                "berth router: component %s deleting (%d requests in flight, %.0f s to finish)\n",
                name, atomic_load(&rt->stats[i].in_flight), rt->opt.drain_s);
        admin_ok(rt, r, cJSON_CreateObject());
    }
    pthread_rwlock_unlock(&rt->lock);
}

static cJSON *summary(router *rt, int i)
{
    const cc_component *k = &rt->cfg.components[i];
    char a[256];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "InferenceComponentName", k->name);
    arn(a, sizeof a, "inference-component", k->name);
    cJSON_AddStringToObject(o, "InferenceComponentArn", a);
    cJSON_AddStringToObject(o, "EndpointName", rt->cfg.endpoint);
    arn(a, sizeof a, "endpoint", rt->cfg.endpoint);
    cJSON_AddStringToObject(o, "EndpointArn", a);
    cJSON_AddStringToObject(o, "VariantName", "AllTraffic");
    cJSON_AddStringToObject(o, "InferenceComponentStatus", status_of(rt, i));
    cJSON_AddNumberToObject(o, "CreationTime", (double)rt->created_at[i]);
    cJSON_AddNumberToObject(o, "LastModifiedTime", (double)rt->modified_at[i]);
    return o;
}

static void describe(router *rt, http_request *r, const cJSON *body, const char *name)
{
    static const char *const top[] = {"InferenceComponentName", NULL};
    if (only_keys(rt, r, body, "", top)) return;
    pthread_rwlock_rdlock(&rt->lock);
    int i = find_any(rt, name);
    if (i < 0) {
        admin_error(rt, r, 400, "ValidationException", "Could not find inference component '%s'",
                    name);
        pthread_rwlock_unlock(&rt->lock);
        return;
    }
    const cc_component *k = &rt->cfg.components[i];
    cJSON *o = summary(rt, i);
    cJSON *spec = cJSON_AddObjectToObject(o, "Specification");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(spec, "Container"), "ArtifactUrl", k->model);
    cJSON *res = cJSON_AddObjectToObject(spec, "ComputeResourceRequirements");
    if (k->memory_mib) cJSON_AddNumberToObject(res, "MaxMemoryRequiredInMb", (double)k->memory_mib);
    if (k->threads) cJSON_AddNumberToObject(res, "NumberOfCpuCoresRequired", k->threads);
    cJSON *bp = cJSON_AddObjectToObject(spec, "BerthParameters");
    if (k->max_num_seqs) cJSON_AddNumberToObject(bp, "max_num_seqs", k->max_num_seqs);
    if (k->max_waiting) cJSON_AddNumberToObject(bp, "max_waiting", k->max_waiting);
    if (k->max_model_len) cJSON_AddNumberToObject(bp, "max_model_len", k->max_model_len);
    if (k->max_num_batched_tokens)
        cJSON_AddNumberToObject(bp, "max_num_batched_tokens", k->max_num_batched_tokens);
    if (k->kv_cache_tokens)
        cJSON_AddNumberToObject(bp, "kv_cache_tokens", (double)k->kv_cache_tokens);
    if (k->tool_call_parser[0])
        cJSON_AddStringToObject(bp, "tool_call_parser", k->tool_call_parser);
    if (k->request_timeout_s)
        cJSON_AddNumberToObject(bp, "request_timeout_s", (double)k->request_timeout_s);
    if (k->cpu_int8_weights) cJSON_AddStringToObject(bp, "cpu_weights", "int8");
    if (!strcmp(status_of(rt, i), "Failed"))
        cJSON_AddStringToObject(
            o, "FailureReason",
            "its workers keep exiting, before they are ready or soon after (the router's "
            "log has their messages); berth keeps retrying with backoff");
    else if (rt->failure[i][0])
        cJSON_AddStringToObject(o, "FailureReason", rt->failure[i]);
    cJSON *rc = cJSON_AddObjectToObject(o, "RuntimeConfig");
    cJSON_AddNumberToObject(rc, "DesiredCopyCount", rt->state[i] == SLOT_DELETING ? 0 : k->copies);
    cJSON_AddNumberToObject(rc, "CurrentCopyCount", sup_ready_copies(rt->sup, i));
    pthread_rwlock_unlock(&rt->lock);
    admin_ok(rt, r, o);
}

static void list(router *rt, http_request *r, const cJSON *body)
{
    static const char *const top[] = {
        "EndpointNameEquals", "NameContains", "StatusEquals", "MaxResults",
        "NextToken",          "SortBy",       "SortOrder",    NULL};
    if (only_keys(rt, r, body, "", top)) return;
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(body, "EndpointNameEquals");
    const cJSON *nc = cJSON_GetObjectItemCaseSensitive(body, "NameContains");
    const cJSON *se = cJSON_GetObjectItemCaseSensitive(body, "StatusEquals");
    long max = 100;
    if ((ep && !cJSON_IsString(ep)) || (nc && !cJSON_IsString(nc)) || (se && !cJSON_IsString(se))) {
        admin_error(rt, r, 400, "ValidationException",
                    "EndpointNameEquals, NameContains and StatusEquals are strings");
        return;
    }
    if (int_field(rt, r, body, "MaxResults", "", 1, 100, &max)) return;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "InferenceComponents");
    pthread_rwlock_rdlock(&rt->lock);
    long n = 0;
    for (int i = 0; i < CC_MAX_COMPONENTS && n < max; i++) {
        if (rt->state[i] == SLOT_FREE) continue;
        if (ep && strcmp(ep->valuestring, rt->cfg.endpoint)) continue;
        if (nc && !strstr(rt->cfg.components[i].name, nc->valuestring)) continue;
        if (se && strcmp(se->valuestring, status_of(rt, i))) continue;
        cJSON_AddItemToArray(arr, summary(rt, i));
        n++;
    }
    pthread_rwlock_unlock(&rt->lock);
    admin_ok(rt, r, o);
}

void router_handle_admin(void *ctx, http_request *r)
{
    router *rt = ctx;
    const char *target = http_request_header(r, "X-Amz-Target");
    static const char *const ops[] = {"CreateInferenceComponent", "UpdateInferenceComponent",
                                      "DeleteInferenceComponent", "DescribeInferenceComponent",
                                      "ListInferenceComponents"};
    int op = -1;
    for (int i = 0; target && !strncmp(target, "SageMaker.", 10) && i < 5 && op < 0; i++)
        if (!strcmp(target + 10, ops[i])) op = i;
    size_t len;
    const char *text = http_request_body(r, &len);
    cJSON *body = cJSON_ParseWithLength(text, len);
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(body, "InferenceComponentName");
    const char *name = cJSON_IsString(nm) ? nm->valuestring : NULL;
    if (!authorized(rt, r, op >= 0 ? ops[op] : "UnknownOperation", op == 4 ? NULL : name)) goto out;
    if (op < 0) {
        admin_error(
            rt, r, 400, "UnknownOperationException",
            "X-Amz-Target: expected SageMaker.CreateInferenceComponent, UpdateInferenceComponent, "
            "DeleteInferenceComponent, DescribeInferenceComponent or ListInferenceComponents");
        goto out;
    }
    if (!cJSON_IsObject(body)) {
        admin_error(rt, r, 400, "SerializationException", "the body is not a JSON object");
        goto out;
    }
    if (op != 4 && (!name || !cc_valid_name(name))) {
        admin_error(rt, r, 400, "ValidationException",
                    "InferenceComponentName: required, 1-63 letters, digits and '-', not starting "
                    "with '-'");
        goto out;
    }
    switch (op) {
    case 0:
        create(rt, r, body, name);
        break;
    case 1:
        update(rt, r, body, name);
        break;
    case 2:
        delete (rt, r, body, name);
        break;
    case 3:
        describe(rt, r, body, name);
        break;
    default:
        list(rt, r, body);
        break;
    }
out:
    cJSON_Delete(body);
}
