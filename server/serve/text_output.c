#include "server/serve/text_output.h"

#include <stdlib.h>
#include <string.h>

int text_output_init(text_output *o, const tok_tokenizer *tok, bool skip_special_tokens,
                     char *const *stops, size_t n_stops, bool include_stop)
{
    memset(o, 0, sizeof *o);
    o->detok = tok_stream_new(tok, skip_special_tokens);
    if (!o->detok) return -1;
    o->stops = stops;
    o->n_stops = n_stops;
    o->include_stop = include_stop;
    for (size_t i = 0; i < n_stops; i++) {
        size_t l = strlen(stops[i]);
        if (l > o->max_stop_len) o->max_stop_len = l;
    }
    return 0;
}

void text_output_free(text_output *o)
{
    tok_stream_free(o->detok);
    free(o->pending);
    memset(o, 0, sizeof *o);
}

static int append(text_output *o, const char *s, size_t n)
{
    if (o->pending_len + n + 1 > o->pending_cap) {
        size_t cap = o->pending_cap ? o->pending_cap * 2 : 256;
        while (cap < o->pending_len + n + 1) cap *= 2;
        char *grown = realloc(o->pending, cap);
        if (!grown) return -1;
        o->pending = grown;
        o->pending_cap = cap;
    }
    memcpy(o->pending + o->pending_len, s, n);
    o->pending_len += n;
    o->pending[o->pending_len] = 0;
    return 0;
}

/* Moves the first n pending bytes into a fresh string. */
static int take(text_output *o, size_t n, char **emit, size_t *emit_len)
{
    *emit = malloc(n + 1);
    if (!*emit) return -1;
    if (n) memcpy(*emit, o->pending, n);
    (*emit)[n] = 0;
    *emit_len = n;
    memmove(o->pending, o->pending + n, o->pending_len - n);
    o->pending_len -= n;
    if (o->pending) o->pending[o->pending_len] = 0;
    return 0;
}

/* The earliest stop string in pending: its offset, or -1. */
static long find_stop(text_output *o, size_t *stop_len)
{
    long best = -1;
    for (size_t i = 0; i < o->n_stops; i++) {
        size_t l = strlen(o->stops[i]);
        if (l == 0 || l > o->pending_len) continue;
        const char *hit = memmem(o->pending, o->pending_len, o->stops[i], l);
        if (hit && (best < 0 || hit - o->pending < best)) {
            best = hit - o->pending;
            *stop_len = l;
            o->matched_stop = o->stops[i];
        }
    }
    return best;
}

int text_output_push(text_output *o, int32_t token, char **emit, size_t *emit_len)
{
    *emit = NULL;
    *emit_len = 0;
    if (o->stopped) return take(o, 0, emit, emit_len);
    char *piece;
    size_t piece_len;
    if (tok_stream_push(o->detok, token, &piece, &piece_len) != 0) return -1;
    int rc = append(o, piece, piece_len);
    free(piece);
    if (rc) return -1;
    size_t stop_len = 0;
    long at = find_stop(o, &stop_len);
    if (at >= 0) {
        o->stopped = true;
        size_t keep = (size_t)at + (o->include_stop ? stop_len : 0);
        if (take(o, keep, emit, emit_len)) return -1;
        o->pending_len = 0;
        return 0;
    }
    /* Hold back what could still become a stop string, and never split a UTF-8 character. */
    size_t hold = o->max_stop_len ? o->max_stop_len - 1 : 0;
    size_t n = o->pending_len > hold ? o->pending_len - hold : 0;
    while (n > 0 && n < o->pending_len && ((unsigned char)o->pending[n] & 0xC0) == 0x80) n--;
    return take(o, n, emit, emit_len);
}

int text_output_finish(text_output *o, char **emit, size_t *emit_len)
{
    *emit = NULL;
    *emit_len = 0;
    if (o->stopped) return take(o, 0, emit, emit_len);
    char *tail;
    size_t tail_len;
    if (tok_stream_finish(o->detok, &tail, &tail_len) != 0) return -1;
    int rc = append(o, tail, tail_len);
    free(tail);
    if (rc) return -1;
    size_t stop_len = 0;
    long at = find_stop(o, &stop_len);
    if (at >= 0) {
        o->stopped = true;
        return take(o, (size_t)at + (o->include_stop ? stop_len : 0), emit, emit_len);
    }
    return take(o, o->pending_len, emit, emit_len);
}
