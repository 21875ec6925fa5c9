/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Peer links (DESIGN §7): KK channels to other fleet members that this
 * server dials itself. A link is (address, code hash); it comes from
 * `peers =` in the config (for the boot apps of `peer_apps`) or from
 * PeerConnect. A link is the second kind of channel owner beside a client
 * session: it embeds a struct channel_owner whose core_sink relays the local
 * KK initiator's bytes over the link's connection.
 *
 * This module is the link's policy: which links exist, their state, timers
 * (connect and open deadlines, redial with exponential backoff and jitter),
 * the reason of the last failure and the counters GetStats shows. It does
 * not touch sockets or protobuf: the driver dials through struct
 * peer_dialer, and wire/peerwire speaks the client protocol on the
 * connection (struct peer_conn_ops), reporting progress here.
 *
 * A link's life: BACKOFF (waiting to dial) -> CONNECTING (TCP connect) ->
 * OPENING (ChannelOpen sent, Response awaited) -> HANDSHAKE (local KK
 * initiator channel exists, message 2 awaited) -> UP (both processes ran
 * HandleChannelCreate). Every failure closes the local channel (Lua gets
 * HandleChannelClose), drops the connection (so the remote closes its
 * side), records the reason and goes back to BACKOFF.
 *
 * Ownership: the peer table (in struct core) owns every link; it borrows
 * the config, the process table and the channel table. A link
 * borrows its connection (conn, with ops) while one exists; the driver owns
 * it. Everything outside refers to links by id, so a removed link is simply
 * not found. Loop thread only.
 */
#ifndef ENCLAVED_PEER_H
#define ENCLAVED_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "base/status.h"
#include "core/channel.h"
#include "image/config.h"

struct peer_table;
struct process_table;

enum {
    PEER_LINKS_MAX = 256,
    PEER_ERROR_MAX = 120,
    PEER_HASH_LEN = 32,
};

enum peer_state {
    PEER_BACKOFF,
    PEER_CONNECTING,
    PEER_OPENING,
    PEER_HANDSHAKE,
    PEER_UP,
};

enum peer_origin { PEER_ORIGIN_CONFIG, PEER_ORIGIN_REQUEST };

/* The driver's side (core -> io), set with peer_set_dialer. */
struct peer_dialer {
    void *ctx;
    /* Starts a non-blocking TCP connect to host:port for link_id and returns
     * the driver's handle, or NULL when it failed at once. The driver later
     * calls peer_link_connected (through the wire's peer session) or
     * peer_link_failed. */
    void *(*dial)(void *ctx, uint32_t link_id, const char *host, uint16_t port);
    /* Abandons a pending dial: nothing more is reported for it. */
    void (*cancel)(void *ctx, void *handle);
};

/* The connection's side (core -> wire), given by peer_link_connected. */
struct peer_conn_ops {
    /* Sends data to the remote's channel remote_id (a ClientFrame ChannelData). */
    void (*send)(void *conn, uint32_t remote_id, const uint8_t *data, size_t len);
    /* Drops the connection after the current event; the link has let go of
     * it and hears nothing more from it. */
    void (*hangup)(void *conn);
};

/* Read-only outside peer.c. */
struct peer_link {
    uint32_t id;
    char host[CONFIG_HOST_MAX];
    uint16_t port;
    uint8_t code_hash[PEER_HASH_LEN];
    enum peer_origin origin;
    enum peer_state state;
    uint32_t failures;            /* consecutive; 0 once up */
    uint64_t due_ms;              /* BACKOFF: redial time; else the state's deadline */
    uint64_t since_micros;        /* wall clock of the last state change */
    char last_error[PEER_ERROR_MAX];
    void *dial;                   /* the driver's pending connect (CONNECTING) */
    void *conn;                   /* OPENING, HANDSHAKE, UP: the wire's connection */
    const struct peer_conn_ops *ops;
    uint32_t channel_id;          /* local KK channel (HANDSHAKE, UP), else 0 */
    uint32_t remote_channel_id;   /* the remote's channel (HANDSHAKE, UP), else 0 */
    uint64_t messages_in, messages_out, bytes_in, bytes_out;
    struct peer_table *table;     /* private */
    struct channel_owner owner;   /* private to channel.c: the link's channel */
    TAILQ_ENTRY(peer_link) next;  /* private: table order, by id */
};

/* Lifecycle. */

/* The table borrows cfg, the process table and the channel table, which
 * must outlive it. RESOURCE_EXHAUSTED; *out untouched then. */
status_t peer_table_new(const struct config *cfg, struct process_table *processes,
                        struct channel_table *channels, struct peer_table **out);
/* Frees the table; peer_stop_all must have run (no dial or connection left). */
void peer_table_free(struct peer_table *t);
/* The driver that dials (borrowed until peer_set_dialer(t, NULL) or the end). */
void peer_set_dialer(struct peer_table *t, const struct peer_dialer *d);

/* Operations. */

/* Adds a link to host:port for hash, first dial due now. The same (host,
 * port, hash) again gives the existing link's id. NOT_FOUND when no local
 * process has the hash, RESOURCE_EXHAUSTED past PEER_LINKS_MAX; *link_id
 * untouched then. */
status_t peer_add(struct peer_table *t, const char *host, uint16_t port,
                  const uint8_t hash[PEER_HASH_LEN], enum peer_origin origin, uint32_t *link_id);
/* The links of `peers =` for each boot app named in `peer_apps` (all when
 * it is empty): called once after the boot apps start. */
void peer_add_configured(struct peer_table *t);
/* No local process has hash any more: its links end (removed). */
void peer_forget_hash(struct peer_table *t, const uint8_t hash[PEER_HASH_LEN]);
/* Ends every link: pending dials are cancelled, connections hung up. */
void peer_stop_all(struct peer_table *t);

/* Progress, by link id; a link removed meanwhile is ignored. */

/* The TCP connect finished: conn (with ops) is the link's connection now.
 * 0 if the link no longer waits for it: the caller closes conn. */
int peer_link_connected(struct peer_table *t, uint32_t link_id, const struct peer_conn_ops *ops,
                        void *conn);
/* The remote answered the ChannelOpen with remote_id: the local KK
 * initiator starts and sends message 1 through conn. On failure the link
 * fails (and hangs conn up) with the reason. */
void peer_link_opened(struct peer_table *t, uint32_t link_id, uint32_t remote_id);
/* ChannelData from the remote's channel. */
void peer_link_input(struct peer_table *t, uint32_t link_id, const uint8_t *data, size_t len);
/* Anything else that ends the link (a refused ChannelOpen, a closed remote
 * channel, a protocol error, a failed connect): records why, closes the
 * local channel, hangs the connection up and schedules a redial. */
void peer_link_failed(struct peer_table *t, uint32_t link_id, const char *reason);
/* The driver closed conn (peer gone): as peer_link_failed, unless the link
 * had let go of conn already. */
void peer_link_conn_closed(struct peer_table *t, uint32_t link_id, const void *conn,
                           const char *reason);

/* Connect and open deadlines, and redials. */
int64_t peer_next_timeout_ms(const struct peer_table *t, uint64_t now_ms);
void peer_run_timers(struct peer_table *t, uint64_t now_ms);

/* Queries, for GetStats: in id order, NULL past the end. */
const struct peer_link *peer_first(const struct peer_table *t);
const struct peer_link *peer_next(const struct peer_link *l);
struct peer_link *peer_find(const struct peer_table *t, uint32_t link_id);
const char *peer_state_name(enum peer_state state);

#endif
