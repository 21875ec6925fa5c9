/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * A growable byte buffer with a consumed prefix: bytes are appended at the
 * end and consumed from the start, and the space is compacted or grown when
 * an append needs it. The wire keeps one per connection for input and one
 * for output.
 *
 * Ownership: caller storage, zeroed to start; buffer_free releases the
 * bytes. Pointers into the data stay valid until the next reserve/append.
 */
#ifndef ENCLAVED_BUFFER_H
#define ENCLAVED_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

struct byte_buffer {
    uint8_t *data;
    size_t start;   /* first unconsumed byte */
    size_t end;     /* one past the last byte */
    size_t cap;
};

/* Frees the bytes and zeroes b. */
void buffer_free(struct byte_buffer *b);
/* Bytes held and not yet consumed. */
size_t buffer_len(const struct byte_buffer *b);
/* Makes room for extra bytes at the end. RESOURCE_EXHAUSTED when growing
 * fails; b is unchanged then. */
status_t buffer_reserve(struct byte_buffer *b, size_t extra);
/* Appends len bytes. RESOURCE_EXHAUSTED as buffer_reserve. */
status_t buffer_append(struct byte_buffer *b, const uint8_t *data, size_t len);
/* Consumes n bytes (n <= buffer_len). Once empty, a buffer over idle_cap
 * bytes gives its memory back. */
void buffer_consume(struct byte_buffer *b, size_t n, size_t idle_cap);

#endif
