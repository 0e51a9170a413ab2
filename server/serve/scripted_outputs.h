/* Test only: the scripted model of `berth serve --test-scripted-outputs FILE`. Each generation
 * request takes the next line of FILE (JSON lines, one JSON string each: what the "model" says), in
 * arrival order; the text is tokenized with the model's own tokenizer and followed by its
 * end-of-sequence token, and the engine publishes those tokens in place of the sampled ones (see
 * engine_request_params.scripted_tokens). The file is read again at every request, so a test may
 * append the next turn's output between turns. Owns the file and its cursor; must not touch the
 * engine. */
#ifndef BERTH_SERVE_SCRIPTED_OUTPUTS_H
#define BERTH_SERVE_SCRIPTED_OUTPUTS_H

#include <pthread.h>
#include <stddef.h>

typedef struct scripted_outputs {
    const char *path;
    pthread_mutex_t lock;
    size_t next; /* lines taken so far */
} scripted_outputs;

void scripted_outputs_init(scripted_outputs *so, const char *path);
void scripted_outputs_destroy(scripted_outputs *so);

/* Takes the next line: *text (malloc'd) and *line (1-based, blank lines not counted). -1 with err
 * naming the file and line when it cannot be read, holds no line left, or the line is not a JSON
 * string; the line is then not taken. */
int scripted_outputs_next(scripted_outputs *so, char **text, size_t *line, char *err,
                          size_t errlen);

#endif
