/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The server's counters (GetStats, DESIGN §4), counted where the events
 * happen: sessions count connections, frames and bytes; channels count
 * handshakes, Lua errors and limit hits; both count the non-OK statuses they
 * send. Plain data; the core owns the one instance. Loop thread only.
 */
#ifndef ENCLAVED_STATS_H
#define ENCLAVED_STATS_H

#include <stdint.h>

#include "base/status.h"

struct core_stats {
    uint64_t connections_open;
    uint64_t connections_total;
    uint64_t frames_in;
    uint64_t frames_out;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t errors[STATUS_COUNT];  /* indexed by status_t: responses and channel closes */
    uint64_t handshakes_ok;
    uint64_t handshakes_failed;
    uint64_t lua_errors;
    uint64_t limit_hits;
};

/* Counts a non-OK status sent to a client or peer. */
static inline void core_stats_count_status(struct core_stats *st, status_t status)
{
    if (status != STATUS_OK && status_is_valid((int)status)) {
        st->errors[status]++;
    }
}

#endif
