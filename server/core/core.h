/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The sans-I/O server core (DESIGN §9): everything between the bytes a driver
 * reads and the bytes it writes. It owns the configuration, the keystore, the
 * sessions (one per connection), processes and channels, and the counters.
 * It knows nothing of sockets: drivers call session_* with bytes and ask
 * core_next_timeout_ms / core_run_timers for timers; the core calls back
 * through struct core_io only to say that a session has output to write.
 *
 * Ownership: core_new takes ownership of the keystore. Sessions are created
 * and freed by the driver through session_new / session_free; the core keeps
 * a list of them. Runs on the loop thread only.
 */
#ifndef ENCLAVED_CORE_H
#define ENCLAVED_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "image/config.h"
#include "crypto/keystore.h"
#include "base/status.h"

struct session;
struct channel_table;
struct process_table;

/* Callbacks from the core into its I/O driver. */
struct core_io {
    void *ctx;
    /* s (not the session being fed) has new output or must close: the driver
     * flushes it after the current event. */
    void (*wake)(void *ctx, struct session *s);
};

struct core_stats {
    uint64_t connections_open;
    uint64_t connections_total;
    uint64_t frames_in;
    uint64_t frames_out;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t errors[17];           /* indexed by status_t; responses and channel closes */
    uint64_t handshakes_ok;
    uint64_t handshakes_failed;
    uint64_t lua_errors;
    uint64_t limit_hits;
};

/* Read-only to modules other than core.c, except stats (counted where events happen). */
struct core {
    struct config config;
    struct keystore *keystore;
    struct core_io io;
    struct core_stats stats;
    struct session *sessions;      /* doubly linked through session->next/prev */
    struct session *feeding;       /* the session whose input is being handled */
    struct process_table *processes;
    struct channel_table *channels;
    int shutting_down;
    uint64_t started_micros;       /* read-only: wall clock at core_new */
    uint64_t started_ms;           /* read-only: monotonic clock at core_new */
};

/* Builds the core. Takes ownership of ks (freed on failure too).
 * RESOURCE_EXHAUSTED on allocation failure; *out untouched then. */
status_t core_new(const struct config *cfg, struct keystore *ks, const struct core_io *io,
                  struct core **out);
/* Frees processes, channels and the keystore. Sessions must be freed first. */
void core_free(struct core *core);

/* Milliseconds until the next timer is due (0 = now), or -1 for none. */
int64_t core_next_timeout_ms(const struct core *core, uint64_t now_ms);
/* Runs the timers due at now_ms (handshake timeouts). */
void core_run_timers(struct core *core, uint64_t now_ms);
/* Tells the driver that s has output (no-op for the session being fed). */
void core_wake(struct core *core, struct session *s);
/* Counts a non-OK status sent on the wire. */
void core_count_error(struct core *core, status_t status);

#endif
