/* berth components: the client of the router's inference-component admin API (SageMaker's
 * operations and field names over POST / with X-Amz-Target). Prints the JSON answer; exit 0 on a
 * 200, 1 on an error answer (printed to stderr), 2 on bad arguments. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli/commands.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: berth components list|describe|create|update|delete [options]\n"
        "\n"
        "Manages the inference components of a running `berth serve --config` "
        "(docs/components.md):\n"
        "  list                                  ListInferenceComponents\n"
        "  describe --name N                     DescribeInferenceComponent\n"
        "  create --name N --model M [--memory-mib N] [--copies N] [--threads N]\n"
        "         [--berth-parameters JSON]      CreateInferenceComponent (JSON: the config "
        "file's\n"
        "                                        per-component keys, e.g. '{\"max_num_seqs\": "
        "8}')\n"
        "  update --name N [--copies N] [--model M] [--memory-mib N] [--threads N]\n"
        "         [--berth-parameters JSON]      UpdateInferenceComponent: --copies alone "
        "scales;\n"
        "                                        any other option is a rolling update to the\n"
        "                                        component's current specification with those "
        "changes\n"
        "                                        (--berth-parameters keys replace those "
        "keys)\n"
        "  delete --name N                       DeleteInferenceComponent (drains, then stops)\n"
        "\n"
        "Options:\n"
        "  --url URL        the router (default http://127.0.0.1:8080) [BERTH_URL]\n"
        "  --endpoint NAME  the endpoint name for create (default: the one its components list)\n"
        "  --api-key KEY    the router's --admin-api-key, or a bearer token of a key-store "
        "identity\n"
        "                   allowed the operation (berth-token makes one); prefer the "
        "environment:\n"
        "                   argv is visible in ps [BERTH_ADMIN_API_KEY]\n");
}

static size_t collect(char *p, size_t sz, size_t n, void *u)
{
    char **buf = u;
    size_t old = *buf ? strlen(*buf) : 0, add = sz * n;
    char *nb = realloc(*buf, old + add + 1);
    if (!nb) return 0;
    memcpy(nb + old, p, add);
    nb[old + add] = 0;
    *buf = nb;
    return add;
}

/* POSTs body to url with X-Amz-Target: SageMaker.op; *out gets the answer. Returns the HTTP status
 * or -1 (message printed). */
static long call(const char *url, const char *key, const char *op, const char *body, char **out)
{
    CURL *h = curl_easy_init();
    if (!h) return -1;
    char target[96], auth[600];
    snprintf(target, sizeof target, "X-Amz-Target: SageMaker.%s", op);
    struct curl_slist *hd = curl_slist_append(NULL, target);
    hd = curl_slist_append(hd, "Content-Type: application/x-amz-json-1.1");
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        hd = curl_slist_append(hd, auth);
    }
    char u[1024];
    snprintf(u, sizeof u, "%s/", url);
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(h);
    long status = -1;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else
        fprintf(stderr, "berth components: %s: %s\n", u, curl_easy_strerror(rc));
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return status;
}

int cmd_components(int argc, char **argv)
{
    enum { O_URL = 256, O_KEY, O_NAME, O_MODEL, O_MEM, O_COPIES, O_THREADS, O_PARAMS, O_ENDPOINT };
    static const struct option longopts[] = {
        {"url", required_argument, 0, O_URL},
        {"api-key", required_argument, 0, O_KEY},
        {"name", required_argument, 0, O_NAME},
        {"model", required_argument, 0, O_MODEL},
        {"memory-mib", required_argument, 0, O_MEM},
        {"copies", required_argument, 0, O_COPIES},
        {"threads", required_argument, 0, O_THREADS},
        {"berth-parameters", required_argument, 0, O_PARAMS},
        {"endpoint", required_argument, 0, O_ENDPOINT},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *action = argv[1];
    const char *url = getenv("BERTH_URL") ? getenv("BERTH_URL") : "http://127.0.0.1:8080";
    const char *key = getenv("BERTH_ADMIN_API_KEY"), *name = NULL, *model = NULL, *params = NULL,
               *endpoint = NULL;
    char endpoint_buf[128];
    long mem = 0, copies = 0, threads = 0;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case O_URL:
            url = optarg;
            break;
        case O_KEY:
            key = optarg;
            break;
        case O_NAME:
            name = optarg;
            break;
        case O_MODEL:
            model = optarg;
            break;
        case O_PARAMS:
            params = optarg;
            break;
        case O_ENDPOINT:
            endpoint = optarg;
            break;
        case O_MEM:
            mem = strtol(optarg, &end, 10);
            break;
        case O_COPIES:
            copies = strtol(optarg, &end, 10);
            break;
        case O_THREADS:
            threads = strtol(optarg, &end, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (end && (*end || end == optarg)) {
            fprintf(stderr, "berth components: %s: expected an integer, got '%s'\n",
                    argv[optind - 2], optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "berth components: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    const char *op = !strcmp(action, "list")       ? "ListInferenceComponents"
                     : !strcmp(action, "describe") ? "DescribeInferenceComponent"
                     : !strcmp(action, "create")   ? "CreateInferenceComponent"
                     : !strcmp(action, "update")   ? "UpdateInferenceComponent"
                     : !strcmp(action, "delete")   ? "DeleteInferenceComponent"
                                                   : NULL;
    if (!op) {
        fprintf(stderr,
                "berth components: unknown action '%s' (list, describe, create, update, delete)\n",
                action);
        return 2;
    }
    if (strcmp(action, "list") && !name) {
        fprintf(stderr, "berth components %s: --name is required\n", action);
        return 2;
    }
    if (!strcmp(action, "create") && !model) {
        fprintf(stderr, "berth components create: --model is required (a directory, .gguf file or "
                        "s3:// URI)\n");
        return 2;
    }
    int respec = !strcmp(action, "update") && (model || mem || threads || params);
    if (!strcmp(action, "update") && !copies && !respec) {
        fprintf(stderr, "berth components update: give --copies, or what to change (--model, "
                        "--memory-mib, --threads, --berth-parameters)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cJSON *body = cJSON_CreateObject();
    if (name) cJSON_AddStringToObject(body, "InferenceComponentName", name);
    int rc = 1;
    char *out = NULL;
    if (!strcmp(action, "create")) {
        if (!endpoint) {
            /* the router's endpoint name, from its own list answer */
            long st = call(url, key, "ListInferenceComponents", "{}", &out);
            cJSON *l = st == 200 ? cJSON_Parse(out) : NULL;
            free(out);
            out = NULL;
            const cJSON *first =
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "InferenceComponents"), 0);
            const cJSON *ep = cJSON_GetObjectItemCaseSensitive(first, "EndpointName");
            endpoint = cJSON_IsString(ep) ? endpoint_buf : NULL;
            if (endpoint) snprintf(endpoint_buf, sizeof endpoint_buf, "%s", ep->valuestring);
            cJSON_Delete(l);
            if (!endpoint) {
                fprintf(stderr,
                        "berth components create: the router lists no component to learn its "
                        "endpoint name from (status %ld): give --endpoint\n",
                        st);
                goto done;
            }
        }
        cJSON_AddStringToObject(body, "EndpointName", endpoint);
    }
    if (!strcmp(action, "create") || respec) {
        cJSON *spec = NULL;
        if (respec) {
            /* SageMaker's Update takes a whole Specification: the current one, changed */
            char *cur = NULL, q[256];
            snprintf(q, sizeof q, "{\"InferenceComponentName\":\"%s\"}", name);
            long st = call(url, key, "DescribeInferenceComponent", q, &cur);
            cJSON *d = st == 200 ? cJSON_Parse(cur) : NULL;
            if (st > 0 && st != 200)
                fprintf(stderr, "berth components update: HTTP %ld: %s\n", st, cur ? cur : "");
            free(cur);
            spec = cJSON_DetachItemFromObjectCaseSensitive(d, "Specification");
            cJSON_Delete(d);
            if (!cJSON_IsObject(spec)) {
                cJSON_Delete(spec);
                goto done;
            }
            cJSON_AddItemToObject(body, "Specification", spec);
        } else {
            spec = cJSON_AddObjectToObject(body, "Specification");
        }
        cJSON *cont = cJSON_GetObjectItemCaseSensitive(spec, "Container");
        if (!cont) cont = cJSON_AddObjectToObject(spec, "Container");
        if (model) {
            cJSON_DeleteItemFromObjectCaseSensitive(cont, "ArtifactUrl");
            cJSON_AddStringToObject(cont, "ArtifactUrl", model);
        }
        cJSON *res = cJSON_GetObjectItemCaseSensitive(spec, "ComputeResourceRequirements");
        if (!res && (mem || threads))
            res = cJSON_AddObjectToObject(spec, "ComputeResourceRequirements");
        if (mem) {
            cJSON_DeleteItemFromObjectCaseSensitive(res, "MinMemoryRequiredInMb");
            cJSON_DeleteItemFromObjectCaseSensitive(res, "MaxMemoryRequiredInMb");
            cJSON_AddNumberToObject(res, "MaxMemoryRequiredInMb", (double)mem);
        }
        if (threads) {
            cJSON_DeleteItemFromObjectCaseSensitive(res, "NumberOfCpuCoresRequired");
            cJSON_AddNumberToObject(res, "NumberOfCpuCoresRequired", (double)threads);
        }
        if (params) {
            cJSON *p = cJSON_Parse(params);
            if (!cJSON_IsObject(p)) {
                fprintf(stderr, "berth components %s: --berth-parameters: expected a JSON object\n",
                        action);
                cJSON_Delete(p);
                goto done;
            }
            cJSON *bp = cJSON_GetObjectItemCaseSensitive(spec, "BerthParameters");
            if (!bp) bp = cJSON_AddObjectToObject(spec, "BerthParameters");
            while (p->child) {
                cJSON *it = cJSON_DetachItemViaPointer(p, p->child);
                cJSON_DeleteItemFromObjectCaseSensitive(bp, it->string);
                cJSON_AddItemToObject(bp, it->string, it);
            }
            cJSON_Delete(p);
        }
    }
    if (copies)
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(body, "RuntimeConfig"), "CopyCount",
                                (double)copies);
    char *text = cJSON_PrintUnformatted(body);
    long status = call(url, key, op, text, &out);
    free(text);
    if (status == 200) {
        printf("%s\n", out ? out : "{}");
        rc = 0;
    } else if (status > 0) {
        fprintf(stderr, "berth components %s: HTTP %ld: %s\n", action, status, out ? out : "");
    }
done:
    free(out);
    cJSON_Delete(body);
    curl_global_cleanup();
    return rc;
}
