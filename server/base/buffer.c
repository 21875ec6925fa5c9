/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "base/buffer.h"

#include <stdlib.h>
#include <string.h>

void buffer_free(struct byte_buffer *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

size_t buffer_len(const struct byte_buffer *b)
{
    return b->end - b->start;
}

status_t buffer_reserve(struct byte_buffer *b, size_t extra)
{
    size_t used = buffer_len(b);
    size_t want;
    uint8_t *grown;

    if (b->cap - b->end >= extra) {
        return STATUS_OK;
    }
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, used);
        b->start = 0;
        b->end = used;
        if (b->cap - b->end >= extra) {
            return STATUS_OK;
        }
    }
    ENSURE(extra <= SIZE_MAX / 2 - used, STATUS_RESOURCE_EXHAUSTED, "buffer too large");
    want = b->cap ? b->cap : 4096;
    while (want - used < extra) {
        want *= 2;
    }
    grown = realloc(b->data, want);
    ENSURE(grown != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory for buffer");
    b->data = grown;
    b->cap = want;
    return STATUS_OK;
}

status_t buffer_append(struct byte_buffer *b, const uint8_t *data, size_t len)
{
    TRY(buffer_reserve(b, len));
    memcpy(b->data + b->end, data, len);
    b->end += len;
    return STATUS_OK;
}

void buffer_consume(struct byte_buffer *b, size_t n, size_t idle_cap)
{
    b->start += n;
    if (b->start == b->end) {
        b->start = 0;
        b->end = 0;
        /* Give back the memory a large frame needed once it is gone. */
        if (b->cap > idle_cap) {
            free(b->data);
            b->data = NULL;
            b->cap = 0;
        }
    }
}
