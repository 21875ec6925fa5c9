/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The core (DESIGN §2.1, §9): the domain state one server holds, the
 * configuration, the keystore, the counters, the process table and the
 * channel table, and its timers. It knows nothing of sockets or of the wire:
 * main builds it and boots the apps, wire/ turns requests into calls on its
 * tables, and channel output leaves through each owner's core_sink.
 *
 * Ownership: core_new takes ownership of the keystore; core_free frees the
 * tables and the keystore. The tables borrow config, keystore and stats from
 * the core, which outlives them. Loop thread only.
 */
#ifndef ENCLAVED_CORE_H
#define ENCLAVED_CORE_H

#include <stdint.h>

#include "base/status.h"
#include "core/channel.h"
#include "core/procs.h"
#include "core/stats.h"
#include "crypto/keystore.h"
#include "image/config.h"

struct peer_table;

struct core {
    struct config config;             /* read-only */
    struct keystore *keystore;        /* read-only; owned */
    struct core_stats stats;          /* counted where events happen */
    struct process_table *processes;  /* owned */
    struct channel_table *channels;   /* owned */
    uint64_t started_micros;          /* read-only: wall clock at core_new */
    uint64_t started_ms;              /* read-only: monotonic clock at core_new */
    struct peer_table *peers;         /* owned: the peer links (core/peer.h) */
};

/* Builds the core. Takes ownership of ks (freed on failure too).
 * RESOURCE_EXHAUSTED on allocation failure; *out untouched then. */
status_t core_new(const struct config *cfg, struct keystore *ks, struct core **out);
/* Frees every process, the tables and the keystore. Every
 * channel owner (session, peer link) must be gone already. NULL is a no-op. */
void core_free(struct core *core);

/* Milliseconds until the next timer is due (0 = now), or -1 for none. */
int64_t core_next_timeout_ms(const struct core *core, uint64_t now_ms);
/* Runs the timers due at now_ms (handshake timeouts, peer link redials). */
void core_run_timers(struct core *core, uint64_t now_ms);

#endif
