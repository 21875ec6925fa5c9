/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclaved --run-app (issue 12 item 10): one app run offline in the real
 * core (the same process table, channels, sandbox and limits as the server),
 * fed channel events from a script and printing what it sends, with no
 * socket and no driver. main.c composes it; `enclavectl app run` execs it.
 *
 * Events, one per line (at most 2 * max_message + 64 bytes): `open CID
 * raw|nk|kk`, `msg CID TEXT` (TEXT verbatim, or `hex:HEX`), `close CID`,
 * `restart` (destroy the process and create it again from the same source),
 * blank lines and `#` comments. CID is the script's label for a channel
 * (1..4294967295). Output lines on stdout: `CID <- TEXT` (`hex:...` unless
 * printable ASCII), `CID closed STATUS (N): REASON`, `CID refused STATUS
 * (N): REASON`. Nk and kk channels run the real Noise handshake and
 * transport, the harness playing the client or the peer enclave.
 *
 * Ownership: borrows the core for the call; everything it opens is closed
 * before it returns. Loop thread only.
 */
#ifndef ENCLAVED_APPRUN_H
#define ENCLAVED_APPRUN_H

#include <stdint.h>

#include "core/core.h"

struct apprun_options {
    const char *app_path;     /* the Lua source file */
    const char *app_name;     /* NULL: the file name without .lua */
    uint64_t memory_limit;    /* 0: default_memory_per_process */
    const char *events_path;  /* NULL or "-": stdin */
};

/* Runs the app. Returns 0 when every event ran, 1 when the app could not
 * be read or created (or re-created by `restart`), 2 for an unreadable or
 * malformed event script (the line number is in the message on stderr). */
int apprun_main(struct core *core, const struct apprun_options *opt);

#endif
