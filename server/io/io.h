/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The two I/O drivers of DESIGN §9. Each owns the sockets, the timer and the
 * signals, creates the core with its wake callback, and feeds it bytes. They
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

#include "image/config.h"
#include "core/core.h"
#include "crypto/keystore.h"
#include "base/status.h"

enum { IO_READ_CHUNK = 64 * 1024, IO_LISTEN_BACKLOG = 511, IO_SHUTDOWN_GRACE_MS = 2000 };

/* Runs once the core exists and before the server listens (boot apps). */
typedef status_t (*io_boot_fn)(struct core *core, void *ctx);

/* Each runs the server until a shutdown signal. They take ownership of ks.
 * Return the process exit status: 0 after a graceful shutdown. */
int io_uv_run(const struct config *cfg, struct keystore *ks, io_boot_fn boot, void *boot_ctx);
int io_poll_run(const struct config *cfg, struct keystore *ks, io_boot_fn boot, void *boot_ctx);

#endif
