/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "wire/frame.h"

uint32_t frame_read_length(const uint8_t header[FRAME_HEADER_LEN])
{
    return (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 | (uint32_t)header[2] << 8 |
           (uint32_t)header[3];
}

void frame_write_length(uint8_t header[FRAME_HEADER_LEN], uint32_t len)
{
    header[0] = (uint8_t)(len >> 24);
    header[1] = (uint8_t)(len >> 16);
    header[2] = (uint8_t)(len >> 8);
    header[3] = (uint8_t)len;
}

enum frame_result frame_next(const uint8_t *buf, size_t len, uint32_t max_frame,
                             uint32_t *body_len)
{
    uint32_t n;

    *body_len = 0;
    if (len < FRAME_HEADER_LEN) {
        return FRAME_NEED_MORE;
    }
    n = frame_read_length(buf);
    *body_len = n;
    if (n == 0) {
        return FRAME_EMPTY;
    }
    if (n > max_frame) {
        return FRAME_TOO_LARGE;
    }
    if (len - FRAME_HEADER_LEN < n) {
        return FRAME_NEED_MORE;
    }
    return FRAME_READY;
}
