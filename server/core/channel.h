/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Channels (DESIGN §4, §6): a channel joins one client session to one Lua
 * process, either raw or through a Noise handshake (NK with the client, KK
 * with a peer enclave) whose payloads carry code hashes. The Lua process
 * learns of a channel (HandleChannelCreate) only once it is open.
 *
 * Every channel ends with exactly one ChannelClosed to its owner: after a
 * client close (OK), a Lua close (Lua's status), a hook error (the mapped
 * status and the Lua message), a failed handshake (PERMISSION_DENIED
 * "handshake failed") or decrypt (DATA_LOSS "decrypt failed"), or a process
 * destroy (UNAVAILABLE). When the owner's connection drops nothing is sent.
 * HandleChannelClose runs on a client close, a dropped connection and a
 * process destroy; not when Lua closed the channel, and not after a hook or
 * crypto error on that channel.
 *
 * Ownership: the channel table owns every channel; sessions and processes
 * link to theirs through intrusive lists. Loop thread only.
 */
#ifndef ENCLAVED_CHANNEL_H
#define ENCLAVED_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "enclaved.pb-c.h"
#include "lua/process.h"
#include "base/status.h"

struct session;
struct proc;

status_t channel_table_new(struct channel_table **out);
/* Frees the table; every channel must be closed already. */
void channel_table_free(struct channel_table *t);

/* ChannelOpen: sends one Response, then (KK initiator) the first handshake
 * message or (raw) runs HandleChannelCreate. */
void channel_handle_open(struct session *s, uint64_t id, const Enclaved__ChannelOpen *req);
/* A peer link's local KK initiator channel to p, owned by the link's
 * session s: sends message 1 at once, through the session. *channel_id
 * gets its id; on failure nothing is created and the trail says why. */
status_t channel_open_peer(struct session *s, struct proc *p, uint32_t *channel_id);
/* True once HandleChannelCreate ran for the channel (its handshake done). */
int channel_is_open(const struct core *core, uint32_t channel_id);
/* ChannelData from the client. Data for a channel this session does not own
 * (or one already closed) is dropped with a debug log: there is no response
 * to carry an error, and the channel's ChannelClosed has been sent already. */
void channel_handle_data(struct session *s, uint32_t channel_id, const uint8_t *data, size_t len);
/* ChannelClose from the client: HandleChannelClose, then ChannelClosed OK. */
void channel_handle_client_close(struct session *s, uint32_t channel_id);
/* The session is going away: close its channels, running HandleChannelClose. */
void channel_close_session(struct core *core, struct session *s);
/* The process is being destroyed: close its channels with UNAVAILABLE. */
void channel_close_process(struct core *core, struct proc *p);

/* The process host callbacks (process.h). */
int channel_belongs(struct core *core, const struct process *p, uint32_t channel_id);
void channel_deliver(struct core *core, struct process *p, const struct process_output *out);

/* Handshake deadlines. */
int64_t channel_next_timeout_ms(const struct core *core, uint64_t now_ms);
void channel_run_timers(struct core *core, uint64_t now_ms);
/* Fills the channel counters of GetStats. */
void channel_fill_stats(const struct core *core, Enclaved__Stats *stats);

#endif
