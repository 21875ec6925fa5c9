/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The client protocol spoken on a peer link's connection (DESIGN §7): this
 * server is the client of the remote member. It sends ChannelOpen
 * {code_hash, SERVER_KK_RESPONDER}, runs the KK initiator on a local
 * channel to its own oldest process with that hash, and carries the
 * channel's bytes as ClientFrame ChannelData; the remote's ServerFrames
 * (the Response, ChannelData, ChannelClosed) come back here. Every failure
 * ends the connection through peer_link_failed, and the local channel
 * closes (HandleChannelClose) when the session is freed.
 *
 * Ownership: works on the session (struct session with peer_link_id set),
 * which the driver owns. Loop thread only.
 */
#ifndef ENCLAVED_PEERWIRE_H
#define ENCLAVED_PEERWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

struct session;

/* Sends the ChannelOpen; called once the session exists. */
void peerwire_start(struct session *s);
/* One ServerFrame body from the remote. */
void peerwire_frame(struct session *s, const uint8_t *body, size_t len);
/* The local channel's output: a handshake or transport message. */
void peerwire_send_data(struct session *s, uint32_t channel_id, const uint8_t *data, size_t len);
/* The core closed the local channel (Lua, a hook or crypto error, a
 * destroy): the link fails with that reason. */
void peerwire_channel_closed(struct session *s, uint32_t channel_id, status_t status,
                             const char *reason);

#endif
