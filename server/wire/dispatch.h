/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Dispatch: one ClientFrame in, the ServerFrames it causes out (DESIGN §4).
 * Unpacks with a per-loop arena so the hot path does not allocate, routes
 * requests by kind, and answers each Request with exactly one Response.
 *
 * Malformed input: bytes that do not unpack as a ClientFrame, or a
 * ClientFrame with no kind, get a Response with id 0 and INVALID_ARGUMENT
 * (no request id can be recovered from bytes that do not parse); the
 * connection stays open because framing is intact. A Request with an unknown
 * body gets UNIMPLEMENTED with its id.
 */
#ifndef ENCLAVED_DISPATCH_H
#define ENCLAVED_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

struct session;

/* Handles one frame body (borrowed for the call). */
void dispatch_frame(struct session *s, const uint8_t *body, size_t len);

#endif
