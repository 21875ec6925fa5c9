/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Dispatch: one ClientFrame in, the ServerFrames it causes out (DESIGN §4).
 * Unpacks with a per-loop arena so the hot path does not allocate, routes
 * requests by kind, and answers each Request with exactly one Response,
 * built here: each handler resolves its target and checks the limits, then
 * acts, sends the Response, and only then runs what the request causes
 * (ChannelClosed of a destroyed process, HandleChannelCreate of a new raw
 * channel), so the Response always comes first.
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

#include "core/core.h"
#include "wire/encode.h"

/* Handles one frame body (borrowed for the call) sent by the connection
 * whose channels owner holds; its answers go to out. */
void dispatch_frame(struct core *core, struct channel_owner *owner, struct encoder *out,
                    const uint8_t *body, size_t len);

#endif
