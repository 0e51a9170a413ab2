#include "server/serve/scripted_outputs.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

void scripted_outputs_init(scripted_outputs *so, const char *path)
{
    so->path = path;
    so->next = 0;
    pthread_mutex_init(&so->lock, NULL);
}

void scripted_outputs_destroy(scripted_outputs *so)
{
    pthread_mutex_destroy(&so->lock);
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return false;
    return true;
}

/* Line `want` (0-based among non-blank lines) of the file as a decoded JSON string. */
static int read_line(const char *path, size_t want, char **text, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--test-scripted-outputs %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, seen = 0;
    ssize_t n;
    int rc = -1;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (blank(line)) continue;
        if (seen++ != want) continue;
        cJSON *j = cJSON_ParseWithOpts(line, NULL, 1);
        if (!cJSON_IsString(j)) {
            snprintf(err, errlen,
                     "--test-scripted-outputs %s: line %zu: expected a JSON string (the "
                     "output text)",
                     path, want + 1);
        } else {
            *text = strdup(j->valuestring);
            rc = *text ? 0 : -1;
            if (rc) snprintf(err, errlen, "out of memory");
        }
        cJSON_Delete(j);
        break;
    }
    if (seen <= want)
        snprintf(err, errlen,
                 "--test-scripted-outputs %s: no output left for request %zu (the file has "
                 "%zu)",
                 path, want + 1, seen);
    free(line);
    fclose(f);
    return rc;
}

int scripted_outputs_next(scripted_outputs *so, char **text, size_t *line, char *err, size_t errlen)
{
    pthread_mutex_lock(&so->lock);
    int rc = read_line(so->path, so->next, text, err, errlen);
    if (rc == 0) *line = ++so->next;
    pthread_mutex_unlock(&so->lock);
    return rc;
}
