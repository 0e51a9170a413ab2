/* UTF-8 helpers for the tokenizer: decoding one code point, and replacing invalid sequences with
 * U+FFFD the way Python's decode(errors="replace") and Rust's from_utf8_lossy both do (one U+FFFD
 * per maximal subpart of an ill-formed sequence). Pure functions; no allocation policy beyond
 * malloc. */
#ifndef BERTH_TOK_UTF8_H
#define BERTH_TOK_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 when p starts an invalid one.
 * On success *cp receives the code point. */
size_t tok_utf8_next(const uint8_t *p, size_t n, int32_t *cp);

/* Length of the maximal subpart of an ill-formed sequence at p: the bytes one U+FFFD replaces.
 * Also the length of a truncated-but-valid prefix when p is at the end of the input. Always >= 1.
 */
size_t tok_utf8_invalid_len(const uint8_t *p, size_t n);

/* True when p[0..n) is a proper prefix of some valid multi-byte sequence (more bytes could
 * complete it). */
bool tok_utf8_incomplete(const uint8_t *p, size_t n);

/* Index of the first invalid byte, or n when p[0..n) is valid UTF-8. */
size_t tok_utf8_valid_prefix(const uint8_t *p, size_t n);

/* Appends p[0..n) to out with invalid sequences replaced by U+FFFD. out must have room for 3*n
 * bytes (each invalid byte grows to at most three). Returns the bytes written. */
size_t tok_utf8_lossy(const uint8_t *p, size_t n, uint8_t *out);

/* Writes the UTF-8 of cp (a Unicode scalar value) to out[0..4); returns its length. */
size_t tok_utf8_encode(int32_t cp, uint8_t *out);

#endif
