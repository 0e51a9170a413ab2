/* The WordPiece model (BERT and its descendants), as HF's models::wordpiece tokenizes a word:
 * greedy longest match from the left over the model vocabulary, every piece after the first looked
 * up with the continuing-subword prefix ("##"); any failure makes the whole word one unk. */
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer/tok_internal.h"

static int push_unk(const tok_tokenizer *t, tok_ids *out)
{
    if (t->unk_id < 0) return -2;
    return tok_ids_push(out, t->unk_id) == 0 ? 0 : -1;
}

int tok_wordpiece_word(const tok_tokenizer *t, const char *w, size_t n, tok_ids *out)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((uint8_t)w[i] & 0xC0) != 0x80;
    if (chars > t->wp_max_chars) return push_unk(t, out);
    size_t plen = t->wp_prefix_len, mark = out->n;
    char *buf = malloc(plen + n + 1);
    if (!buf) return -1;
    memcpy(buf, t->wp_prefix, plen);
    int rc = 0;
    for (size_t start = 0; start < n && rc == 0;) {
        size_t end = n;
        int32_t id = -1;
        while (start < end) {
            if (start == 0) {
                id = tok_strmap_get(&t->vocab, w, end);
            } else {
                memcpy(buf + plen, w + start, end - start);
                id = tok_strmap_get(&t->vocab, buf, plen + end - start);
            }
            if (id >= 0) break;
            do /* back one character */
                end--;
            while (end > start && ((uint8_t)w[end] & 0xC0) == 0x80);
        }
        if (id < 0) {
            out->n = mark;
            rc = push_unk(t, out);
            break;
        }
        rc = tok_ids_push(out, id) == 0 ? 0 : -1;
        start = end;
    }
    free(buf);
    return rc;
}
