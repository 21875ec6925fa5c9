/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Wire framing (DESIGN §4): a 4-byte big-endian length N, then N bytes of
 * protobuf, with 1 <= N <= max_frame. Pure functions over byte ranges; no
 * allocation, no I/O. Lengths are read byte by byte, never by casting.
 */
#ifndef ENCLAVED_FRAME_H
#define ENCLAVED_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum { FRAME_HEADER_LEN = 4 };

enum frame_result {
    FRAME_NEED_MORE,   /* buf holds less than one whole frame */
    FRAME_READY,       /* *body_len is the length of a whole frame at buf + 4 */
    FRAME_EMPTY,       /* the length prefix is 0 */
    FRAME_TOO_LARGE,   /* the length prefix exceeds max_frame */
};

/* Inspects buf for the next frame. *body_len is set for FRAME_READY and for
 * FRAME_NEED_MORE once the header is complete (else 0), and for FRAME_TOO_LARGE. */
enum frame_result frame_next(const uint8_t *buf, size_t len, uint32_t max_frame,
                             uint32_t *body_len);
uint32_t frame_read_length(const uint8_t header[FRAME_HEADER_LEN]);
void frame_write_length(uint8_t header[FRAME_HEADER_LEN], uint32_t len);

#endif
