/* A small synthetic byte-level BPE tokenizer for the grammar tests and fuzz targets: every single
 * byte, some multi-byte tokens (partial UTF-8 included), a special end token, a special pad token
 * and a non-special added token. Written to a temporary tokenizer.json and loaded. */
#ifndef BERTH_GRAMMAR_SMALL_VOCAB_H
#define BERTH_GRAMMAR_SMALL_VOCAB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/tokenizer/tokenizer.h"

/* ids: 0..255 the single bytes; then the multi-byte tokens below; then <|end|> (special, the EOS),
 * <|pad|> (special) and <tc> (added, not special). */
static const char *const small_multi[] = {
    "ab",   "abc",      "ba",   "{\"",      "\"}",
    "\":",  "\",\"",    "true", "false",    "null",
    "12",   "123",      "0.",   "\xce\xb1", "\xce\xb1\xce\xb2",
    "\xce", "\xb1\xce", "é",    "aé",       "\xf0\x9f\x98",
    "\x80", "((",       "))",   "()",       "a(",
    "\n\n", "\\n",      "\\\"", "xyz",      "<tc>x"};
#define SMALL_N_MULTI ((int)(sizeof small_multi / sizeof *small_multi))
#define SMALL_EOS (256 + SMALL_N_MULTI)
#define SMALL_PAD (SMALL_EOS + 1)
#define SMALL_TC (SMALL_EOS + 2)

static void json_piece(char **w, const uint8_t *bytes, size_t len)
{
    /* GPT-2 byte-to-unicode mapping, then JSON string escaping */
    for (size_t i = 0; i < len; i++) {
        unsigned b = bytes[i], cp;
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174)) {
            cp = b;
        } else {
            unsigned n = 0;
            for (unsigned c = 0; c < b; c++)
                if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174))) n++;
            cp = 256 + n;
        }
        if (cp == '"' || cp == '\\') {
            *(*w)++ = '\\';
            *(*w)++ = (char)cp;
        } else if (cp < 0x80) {
            *(*w)++ = (char)cp;
        } else {
            *(*w)++ = (char)(0xC0 | (cp >> 6));
            *(*w)++ = (char)(0x80 | (cp & 0x3F));
        }
    }
}

/* Writes the synthetic tokenizer.json into a fresh temp dir and loads it. */
static __attribute__((unused)) tok_tokenizer *small_tokenizer(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/berth-grammar-XXXXXX");
    if (!mkdtemp(dir)) return NULL;
    char *buf = malloc(1 << 16), *w = buf;
    w += sprintf(w,
                 "{\"added_tokens\":[{\"id\":%d,\"content\":\"<|end|>\",\"special\":true},"
                 "{\"id\":%d,\"content\":\"<|pad|>\",\"special\":true},"
                 "{\"id\":%d,\"content\":\"<tc>\",\"special\":false}],"
                 "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\","
                 "\"add_prefix_space\":false,\"use_regex\":true},\"decoder\":{\"type\":"
                 "\"ByteLevel\"},\"post_processor\":null,\"model\":{\"type\":\"BPE\",\"vocab\":{",
                 SMALL_EOS, SMALL_PAD, SMALL_TC);
    for (int id = 0; id < 256 + SMALL_N_MULTI; id++) {
        uint8_t one = (uint8_t)id;
        const uint8_t *bytes = id < 256 ? &one : (const uint8_t *)small_multi[id - 256];
        size_t len = id < 256 ? 1 : strlen(small_multi[id - 256]);
        *w++ = '"';
        json_piece(&w, bytes, len);
        w += sprintf(w, "\":%d,", id);
    }
    w += sprintf(w, "\"<|end|>\":%d,\"<|pad|>\":%d,\"<tc>\":%d},\"merges\":[]}}", SMALL_EOS,
                 SMALL_PAD, SMALL_TC);
    char path[128];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return free(buf), NULL;
    fwrite(buf, 1, (size_t)(w - buf), f);
    fclose(f);
    free(buf);
    tok_tokenizer *t = NULL;
    char err[256];
    if (tok_load_file(&t, path, err, sizeof err) != TOK_OK)
        fprintf(stderr, "small tokenizer: %s\n", err);
    unlink(path);
    rmdir(dir);
    return t;
}

#endif
