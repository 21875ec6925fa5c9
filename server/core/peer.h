/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Peer links (DESIGN §7): KK channels to other fleet members that this
 * server dials itself. A link is (address, code hash); it comes from
 * `peers =` in the config (for the boot apps of `peer_apps`) or from
 * PeerConnect. This module is the link's policy: which links exist, their
 * state, timers (connect and open deadlines, redial with exponential backoff
 * and jitter), the reason of the last failure and the counters GetStats
 * shows. It does not touch sockets or protobuf: the driver dials through
 * core_io.dial, and wire/peerwire speaks the client protocol on the
 * connection, reporting progress here.
 *
 * A link's life: BACKOFF (waiting to dial) -> CONNECTING (TCP connect) ->
 * OPENING (ChannelOpen sent, Response awaited) -> HANDSHAKE (local KK
 * initiator channel exists, message 2 awaited) -> UP (both processes ran
 * HandleChannelCreate). Every failure goes back to BACKOFF with its reason.
 *
 * Ownership: the peer table (in struct core) owns every link. A link refers
 * to its connection's session while one exists (the driver owns the
 * session); everything else refers to links by id, so a removed link is
 * simply not found. Loop thread only.
 */
#ifndef ENCLAVED_PEER_H
#define ENCLAVED_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "base/status.h"

struct session;

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
    struct session *session;      /* OPENING, HANDSHAKE, UP */
    uint32_t channel_id;          /* local KK channel (HANDSHAKE, UP), else 0 */
    uint32_t remote_channel_id;   /* the remote's channel (HANDSHAKE, UP), else 0 */
    uint64_t messages_in, messages_out, bytes_in, bytes_out;
    struct peer_link *next;       /* private: table order, by id */
};

status_t peer_table_new(struct peer_table **out);
/* Frees every link. The driver has closed their sessions and dials first. */
void peer_table_free(struct peer_table *t);

/* Adds a link to host:port for code_hash and schedules its first dial now.
 * The same (host, port, hash) again gives the existing link's id. *link_id
 * gets the id. NOT_FOUND when no local process has the hash (a link would
 * have nothing to connect), RESOURCE_EXHAUSTED past PEER_LINKS_MAX. */
status_t peer_add(struct core *core, const char *host, uint16_t port,
                  const uint8_t hash[PEER_HASH_LEN], enum peer_origin origin, uint32_t *link_id);
/* The links of `peers =` for each boot app named in `peer_apps` (all when
 * it is empty) that runs now: called once after the boot apps start. */
void peer_add_configured(struct core *core);
/* The last process with hash is gone: its links end (hung up, removed). */
void peer_forget_hash(struct core *core, const uint8_t hash[PEER_HASH_LEN]);
/* Ends every link (shutdown): pending dials are cancelled and connected
 * sessions told to close. */
void peer_stop_all(struct core *core);

/* Progress reported by the driver and wire/peerwire, by link id; a link
 * that was removed meanwhile is ignored (the caller cleans up its side). */
/* The TCP connect finished: s is the link's session from now on. Returns
 * 0 if the link no longer exists, and the caller closes s. */
int peer_link_connected(struct core *core, uint32_t link_id, struct session *s);
/* The local KK channel exists (ChannelOpen answered). */
void peer_link_opened(struct core *core, uint32_t link_id, uint32_t channel_id,
                      uint32_t remote_channel_id);
/* The handshake completed on this side. */
void peer_link_up(struct core *core, uint32_t link_id);
/* The link failed before or after connecting: records why and schedules a
 * redial. The caller has released the dial or session already. */
void peer_link_failed(struct core *core, uint32_t link_id, const char *reason);
/* The driver closes the link's session s (peer gone, or told to hang up):
 * the link fails with reason unless it had let go of s already. */
void peer_link_session_closed(struct core *core, uint32_t link_id, const struct session *s,
                              const char *reason);
/* Traffic over the link, for GetStats. */
void peer_link_count(struct core *core, uint32_t link_id, int outbound, size_t bytes);
struct peer_link *peer_find(const struct core *core, uint32_t link_id);

/* Connect and open deadlines and redials. */
int64_t peer_next_timeout_ms(const struct core *core, uint64_t now_ms);
void peer_run_timers(struct core *core, uint64_t now_ms);

/* Iteration for GetStats, in id order: NULL past the end. */
const struct peer_link *peer_first(const struct core *core);
const char *peer_state_name(enum peer_state state);

#endif
