/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The core's one output path (DESIGN §2.1): the core hands a channel's data
 * and its close to the channel's owner through this table and never builds
 * a frame. A client session (wire/session.c) implements it by encoding
 * ServerFrames; a peer link implements it by relaying over its own
 * connection. channel.c calls it without knowing which kind of owner it has.
 *
 * Ownership: the table is owned by the implementer and must outlive every
 * channel of the owner; ctx is the owner's. Data and reason are borrowed for
 * the call only. Callbacks must not call back into the channel table.
 * Loop thread only.
 */
#ifndef ENCLAVED_SINK_H
#define ENCLAVED_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

struct core_sink {
    /* Data for channel_id, ready to send: a Noise channel's is ciphertext. */
    void (*channel_data)(void *ctx, uint32_t channel_id, const uint8_t *data, size_t len);
    /* channel_id ended: its one ChannelClosed. Not called for the channels
     * of an owner that went away itself. */
    void (*channel_closed)(void *ctx, uint32_t channel_id, status_t status, const char *reason);
};

#endif
