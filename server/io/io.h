/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The two I/O drivers of DESIGN §9. Each owns the sockets, the timer and the
 * signals, runs the core that main built, and feeds its sessions bytes. They
 * are the only files in server/ that touch sockets.
 *
 *   io_uv    libuv: TCP, timers, signals. The default on Linux.
 *   io_poll  only socket bind listen accept read write setsockopt poll fcntl,
 *            for the CodeSafe SEE where libuv cannot start.
 *
 * Both print the ready line "enclaved: listening on ADDR:PORT" (the real
 * port when the configured one is 0), stop accepting on SIGINT/SIGTERM, flush
 * what is queued (for at most IO_SHUTDOWN_GRACE_MS), close, and return 0.
 */
#ifndef ENCLAVED_IO_H
#define ENCLAVED_IO_H

#include "core/core.h"

enum { IO_READ_CHUNK = 64 * 1024, IO_LISTEN_BACKLOG = 511, IO_SHUTDOWN_GRACE_MS = 2000 };

/* Each listens on core->config's address and runs the server until a
 * shutdown signal, then frees every session it made; the core stays the
 * caller's. Return the process exit status: 0 after a graceful shutdown. */
int io_uv_run(struct core *core);
int io_poll_run(struct core *core);

#endif
