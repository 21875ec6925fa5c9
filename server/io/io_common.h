/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * What the two drivers share (DESIGN §9): the connection's link to its
 * session, the dirty list of connections that another connection's input
 * gave output (a Lua broadcast), the wake that puts them on it, opening a
 * session with the refusal frame for one over the limits, and closing it.
 * Sockets stay in each driver: this file does no I/O.
 *
 * The dirty list is the one subtle part. Closing a session runs Lua
 * (HandleChannelClose), which may write to other connections and wake them,
 * so closes happen with the list live; io_conn_close takes the connection
 * off the list, so a connection freed after its close can never be reached
 * from it. Drivers flush the list (io_loop_flush_dirty) before they free
 * closed connections or return to their event loop.
 *
 * Ownership: the driver allocates its connections with a struct io_conn
 * embedded and frees them; the loop borrows them while they are listed.
 * Loop thread only.
 */
#ifndef ENCLAVED_IO_COMMON_H
#define ENCLAVED_IO_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "base/status.h"
#include "core/core.h"
#include "wire/session.h"

/* The struct that embeds member m, from a pointer to m. */
#define IO_CONTAINER_OF(ptr, type, m) ((type *)(void *)((char *)(ptr) - offsetof(type, m)))

struct io_loop;

/* Embedded in each driver's connection. */
struct io_conn {
    struct session *session;          /* read-only: NULL before open and after close */
    struct io_loop *loop;             /* private */
    TAILQ_ENTRY(io_conn) dirty_link;  /* private */
    int dirty;                        /* private: on loop->dirty */
};

struct io_loop {
    struct core *core;                /* read-only: borrowed from main */
    TAILQ_HEAD(, io_conn) dirty;      /* private */
    void (*flush)(struct io_conn *c); /* the driver's: write c's output, maybe close it */
    /* The driver's write for session_set_writer (ctx is the io_conn), set
     * after io_loop_init; NULL: sessions only buffer. */
    encode_write_fn write_now;
};

void io_loop_init(struct io_loop *l, struct core *core, void (*flush)(struct io_conn *c));
/* Flushes every connection on the dirty list, including those that the
 * flushes themselves wake, until it is empty. */
void io_loop_flush_dirty(struct io_loop *l);

/* Opens c's session for the client at peer ("ADDR:PORT", for the logs; the
 * trail is reset: this is a top-level entry). On refusal (max_connections,
 * memory) writes the one frame the connection gets before it is closed into
 * refusal (cap bytes), sets *refusal_len, logs the reason as a warning and
 * returns the status; c has no session then. */
status_t io_conn_open(struct io_loop *l, struct io_conn *c, const char *peer, uint8_t *refusal,
                      size_t cap, size_t *refusal_len);
/* "ADDR:PORT" of an IPv4 or IPv6 socket address (a struct sockaddr_in or
 * sockaddr_in6 behind addr), "?:0" for anything else. */
void io_format_peer(const void *addr, char *buf, size_t cap);
/* Opens c's session for peer link link_id after its connect finished
 * (session_new_peer). NOT_FOUND when the link gave up meanwhile; c has no
 * session then and the driver closes the socket. */
status_t io_conn_open_peer(struct io_loop *l, struct io_conn *c, uint32_t link_id);
/* Frees c's session (its channels close; Lua may write to and wake other
 * connections) and takes c off the dirty list. Idempotent. */
void io_conn_close(struct io_conn *c);

#endif
