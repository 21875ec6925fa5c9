/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Channels (DESIGN §4, §6): a channel joins one owner (a client session, or
 * a peer link) to one Lua process, either raw or through a Noise handshake
 * (NK with a client, KK with a peer enclave) whose payloads carry code
 * hashes. The Lua process learns of a channel (HandleChannelCreate) only once
 * it is open. Output goes to the owner's struct core_sink (sink.h); this file
 * never builds a frame and does not know what kind of owner it serves.
 *
 * Every channel ends with exactly one channel_closed to its owner: after an
 * owner's close (OK), a Lua close (Lua's status), a hook error (the mapped
 * status and the Lua message), a failed handshake (PERMISSION_DENIED
 * "handshake failed") or decrypt (DATA_LOSS "decrypt failed"), or a process
 * destroy (UNAVAILABLE). When the owner itself goes away nothing is sent.
 * HandleChannelClose runs on an owner's close, a departed owner and a
 * process destroy; not when Lua closed the channel, and not after a hook or
 * crypto error on that channel.
 *
 * Ownership: the channel table owns every channel. Owners embed a struct
 * channel_owner and processes a struct channel_group; both are opaque
 * outside this file and hold the list heads channel.c keeps. The table
 * borrows the config, keystore and stats given to channel_table_new; they
 * must outlive it. Loop thread only.
 */
#ifndef ENCLAVED_CHANNEL_H
#define ENCLAVED_CHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "base/status.h"
#include "core/sink.h"
#include "core/stats.h"
#include "crypto/keystore.h"
#include "image/config.h"
#include "lua/process.h"

/* The channel types, owned here: X(name, the CHAN_* value Lua sees). The
 * wire maps its own enum onto these by name (wire/dispatch.c). */
#define CHANNEL_TYPE_LIST(X)                            \
    X(RAW, PROCESS_CHAN_UNENCRYPTED)                    \
    X(CLIENT_NK, PROCESS_CHAN_CLIENT_NK)                \
    X(SERVER_KK_INITIATOR, PROCESS_CHAN_SERVER_KK)      \
    X(SERVER_KK_RESPONDER, PROCESS_CHAN_SERVER_KK)

enum channel_type {
#define CHANNEL_TYPE_ENUM(name, chan) CHANNEL_TYPE_##name,
    CHANNEL_TYPE_LIST(CHANNEL_TYPE_ENUM)
#undef CHANNEL_TYPE_ENUM
    CHANNEL_TYPE_COUNT
};

struct channel;
struct channel_table;
LIST_HEAD(channel_list, channel);

/* Embedded in each owner. Private to channel.c: use channel_owner_init. */
struct channel_owner {
    const struct core_sink *sink;
    void *ctx;
    struct channel_list channels;
};

/* Embedded in each process table entry. Private to channel.c: use
 * channel_group_init and channel_group_count. */
struct channel_group {
    struct process *process;
    struct channel_list channels;
    uint32_t count;
    uint64_t messages;     /* read-only: messages delivered to the process's hooks */
    uint64_t errors;       /* read-only: its hook calls that raised */
    uint64_t limit_hits;   /* read-only: limits hit on its channels */
};

/* Lifecycle. */

/* RESOURCE_EXHAUSTED on allocation failure; *out untouched then. */
status_t channel_table_new(const struct config *cfg, const struct keystore *ks,
                           struct core_stats *stats, struct channel_table **out);
/* Frees the table; every channel must be closed already. NULL is a no-op. */
void channel_table_free(struct channel_table *t);
/* An owner whose channel output goes to sink with ctx (both borrowed). */
void channel_owner_init(struct channel_owner *o, const struct core_sink *sink, void *ctx);
/* The channels of process p (borrowed; it outlives the group). */
void channel_group_init(struct channel_group *g, struct process *p);
/* The process host that routes p's outputs through this table (process.h);
 * valid for the table's life. */
const struct process_host *channel_process_host(struct channel_table *t);

/* Operations. Opening is split so the caller answers the request between
 * creating the channel and what the opening causes. */

/* Whether g may take one more channel of type: INVALID_ARGUMENT for an
 * unknown type, RESOURCE_EXHAUSTED at max_channels_per_process. */
status_t channel_check_open(struct channel_table *t, struct channel_group *g,
                            enum channel_type type);
/* Creates a channel of type from o to g's process and sets *id. Nothing is
 * sent and Lua does not know it yet. RESOURCE_EXHAUSTED (memory), INTERNAL
 * (the handshake cannot start); *id untouched then. */
status_t channel_open(struct channel_table *t, struct channel_owner *o, struct channel_group *g,
                      enum channel_type type, uint32_t *id);
/* What opening channel id causes: a raw channel runs HandleChannelCreate; a
 * KK initiator writes the first handshake message; the others wait. */
void channel_start(struct channel_table *t, uint32_t id);
/* Input from owner o for channel id: handshake messages, transport
 * ciphertext, or raw messages. Input for a channel o does not own (or one
 * already closed) is dropped with a debug log: there is no response to
 * carry an error, and the channel's close has been sent already. */
void channel_input(struct channel_table *t, struct channel_owner *o, uint32_t id,
                   const uint8_t *data, size_t len);
/* Owner o closes channel id: HandleChannelClose, then channel_closed OK. */
void channel_close(struct channel_table *t, struct channel_owner *o, uint32_t id);
/* Owner o is going away: its channels close, running HandleChannelClose,
 * and nothing is sent to o. */
void channel_close_owner(struct channel_table *t, struct channel_owner *o);
/* g's process is being destroyed: its channels close with UNAVAILABLE. */
void channel_close_group(struct channel_table *t, struct channel_group *g);

/* Handshake deadlines: ms until the next (0 = now, -1 = none), and expiry. */
int64_t channel_next_timeout_ms(const struct channel_table *t, uint64_t now_ms);
void channel_run_timers(struct channel_table *t, uint64_t now_ms);

/* Queries. */

uint64_t channel_count_by_type(const struct channel_table *t, enum channel_type type);
/* True once HandleChannelCreate ran for channel id (its handshake is done). */
int channel_is_open(const struct channel_table *t, uint32_t id);
uint32_t channel_group_count(const struct channel_group *g);

#endif
