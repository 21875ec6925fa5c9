/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Channels (DESIGN §4, §6): a channel joins one client session to one Lua
 * process. It belongs to the session that opened it, and every channel ends
 * with exactly one ChannelClosed to that session.
 *
 * Ownership: the channel table (in struct core) owns every channel; sessions
 * and processes link to theirs through intrusive lists. Loop thread only.
 */
#ifndef ENCLAVED_CHANNEL_H
#define ENCLAVED_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "enclaved.pb-c.h"
#include "status.h"

struct session;

status_t channel_table_new(struct channel_table **out);
void channel_table_free(struct channel_table *t);

/* ChannelData from the client. Unknown channel or one owned by another
 * session: ignored with a log line (there is no response to carry an error). */
void channel_handle_data(struct session *s, uint32_t channel_id, const uint8_t *data, size_t len);
/* ChannelClose from the client: answered by ChannelClosed OK. */
void channel_handle_client_close(struct session *s, uint32_t channel_id);
/* The session is going away: close its channels (HandleChannelClose runs). */
void channel_close_session(struct core *core, struct session *s);
/* Fills the channel counters of GetStats. */
void channel_fill_stats(const struct core *core, Enclaved__Stats *stats);

#endif
