/* Random prompts are drawn fresh for every request so no two share a prefix: a prefix cache must
 * not make the benchmark look faster than real traffic of the same lengths. */
#include "tools/bench/bench_dataset.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void bench_rng_seed(bench_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
uint64_t bench_rng_next(bench_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double bench_rng_uniform(bench_rng *r) { return (double)(bench_rng_next(r) >> 11) * 0x1.0p-53; }

/* Common English words, each a single token in the usual BPE vocabularies (with a leading space),
 * so a chat prompt of N words is close to N prompt tokens before the chat template. */
static const char *const words[] = {
    "time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child",
    "world", "school", "state", "family", "student", "group", "country", "problem", "hand", "part",
    "place", "case", "week", "company", "system", "program", "question", "work", "number", "night",
    "point", "home", "water", "room", "mother", "area", "money", "story", "fact", "month",
    "lot", "right", "study", "book", "eye", "job", "word", "business", "issue", "side",
    "kind", "head", "house", "service", "friend", "father", "power", "hour", "game", "line",
    "end", "member", "law", "car"};

char *bench_dataset_body(const bench_dataset_spec *spec, bench_rng *r)
{
    cJSON *body = cJSON_CreateObject();
    if (!body) return NULL;
    bool ok = cJSON_AddStringToObject(body, "model", spec->model ? spec->model : "") != NULL;
    if (spec->chat) {
        size_t nw = sizeof words / sizeof words[0], cap = (size_t)spec->input_len * 9 + 1, len = 0;
        char *text = malloc(cap);
        ok = ok && text;
        for (int i = 0; ok && i < spec->input_len; i++) {
            const char *w = words[bench_rng_next(r) % nw];
            size_t wl = strlen(w);
            if (i > 0) text[len++] = ' ';
            memcpy(text + len, w, wl);
            len += wl;
        }
        if (text) text[len] = '\0';
        cJSON *messages = ok ? cJSON_AddArrayToObject(body, "messages") : NULL;
        cJSON *msg = cJSON_CreateObject();
        ok = messages && msg && cJSON_AddItemToArray(messages, msg);
        if (!ok) cJSON_Delete(msg);
        ok = ok && cJSON_AddStringToObject(msg, "role", "user") &&
             cJSON_AddStringToObject(msg, "content", text) &&
             cJSON_AddNumberToObject(body, "max_completion_tokens", spec->output_len);
        free(text);
    } else {
        cJSON *prompt = ok ? cJSON_AddArrayToObject(body, "prompt") : NULL;
        ok = prompt != NULL;
        for (int i = 0; ok && i < spec->input_len; i++) {
            cJSON *id = cJSON_CreateNumber((double)(bench_rng_next(r) % (uint64_t)spec->vocab_size));
            ok = id && cJSON_AddItemToArray(prompt, id);
            if (!ok) cJSON_Delete(id);
        }
        ok = ok && cJSON_AddNumberToObject(body, "max_tokens", spec->output_len);
    }
    cJSON *opts = NULL;
    ok = ok && cJSON_AddNumberToObject(body, "temperature", 0) &&
         cJSON_AddTrueToObject(body, "ignore_eos") && cJSON_AddTrueToObject(body, "stream") &&
         (opts = cJSON_AddObjectToObject(body, "stream_options")) &&
         cJSON_AddTrueToObject(opts, "include_usage");
    char *out = ok ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    return out;
}

void bench_dataset_arrivals(bench_rng *r, double rate, double *out, size_t n)
{
    double t = 0;
    for (size_t i = 0; i < n; i++) {
        if (rate > 0 && i > 0) t += -log(1.0 - bench_rng_uniform(r)) / rate;
        out[i] = rate > 0 ? t : 0.0;
    }
}
