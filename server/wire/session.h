/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * One client connection, sans-I/O. The driver feeds it the bytes it reads
 * and writes out the bytes it produces; the session splits input into frames
 * (frame.h) and hands each to dispatch, whose answers and the channel output
 * of the core go through its encoder (encode.h) into one output buffer, so
 * every frame produced for one read is written with one call. It owns its
 * channels as a struct channel_owner whose core_sink encodes their data and
 * closes; output for a session other than the one being fed wakes the
 * driver through the session_wake_fn it gave.
 *
 * Backpressure: once unsent output passes a soft bound the session stops
 * taking frames (session_wants_read turns false, leftover input is kept) until
 * the driver drains it and calls session_resume. Output pushed by other
 * sessions (a Lua broadcast) past config.max_output_buffer drops the
 * connection: a client that never reads cannot make the server grow.
 *
 * Ownership: session_new / session_free by the driver. The output span from
 * session_output stays valid until the next call into the core. Loop thread only.
 */
#ifndef ENCLAVED_SESSION_H
#define ENCLAVED_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "base/buffer.h"
#include "base/status.h"
#include "core/channel.h"
#include "core/core.h"
#include "wire/encode.h"
#include "wire/peerwire.h"

/* The driver's wake (wire -> io): io_handle's session has output or must
 * close; the driver flushes it after the current event. */
typedef void (*session_wake_fn)(void *io_handle);

enum { SESSION_PEER_CAP = 48 };

struct session {
    struct core *core;                /* read-only */
    void *io_handle;                  /* the driver's connection; read-only here */
    session_wake_fn wake;             /* private */
    struct channel_owner owner;       /* private to channel.c: the channels it owns */
    struct byte_buffer in;            /* private: partial frames and paused input */
    struct encoder out;               /* private: encoded frames not yet written */
    uint64_t id;                      /* read-only: for logs */
    char client_addr[SESSION_PEER_CAP]; /* read-only: "ADDR:PORT" of the client, for logs */
    encode_write_fn write_now;        /* private: the driver's write, NULL: none */
    int feeding;                      /* private: its own input is being handled */
    int more_input;                   /* private: another whole frame follows this one */
    int closing;                      /* close once output is flushed */
    /* A peer link's connection (DESIGN §7): this server is the client, and
     * wire/peerwire reads the remote's ServerFrames. 0 for a client's. */
    uint32_t peer_link_id;            /* read-only */
    struct peerwire peer;             /* private to peerwire */
};

/* Creates a session for a new connection; wake (NULL: none) is called with
 * io_handle when another session's input gave it output. RESOURCE_EXHAUSTED
 * when max_connections are open or memory is short; *out untouched then. */
status_t session_new(struct core *core, session_wake_fn wake, void *io_handle,
                     struct session **out);
/* Lets the session write large channel output to io_handle's socket while
 * its input is handled (encode_channel_data_now): the reply to the last
 * frame of a read goes out with one call and its payload is never copied.
 * The driver's write must refuse (-1) while an earlier write is pending. */
void session_set_writer(struct session *s, encode_write_fn write_now);
/* Records the client's address ("ADDR:PORT", truncated to fit) and logs the
 * open at info with the connection id; the close is logged with both too. */
void session_set_client_addr(struct session *s, const char *peer);
/* The session of peer link link_id once its TCP connect finished: sends the
 * link's ChannelOpen (wire/peerwire). Not counted against max_connections.
 * NOT_FOUND when the link no longer waits for it (the driver closes the
 * socket), RESOURCE_EXHAUSTED on memory; *out untouched then. */
status_t session_new_peer(struct core *core, session_wake_fn wake, void *io_handle,
                          uint32_t link_id, struct session **out);
/* Closes the session's channels (their processes see HandleChannelClose)
 * and frees it. NULL is a no-op. */
void session_free(struct session *s);

/* Consumes len bytes read from the connection. */
void session_feed(struct session *s, const uint8_t *data, size_t len);
/* Handles input kept while paused, after the driver drained output. */
void session_resume(struct session *s);
/* Bytes waiting to be written (borrowed; valid until the next core call).
 * *data may be NULL when *len is 0. */
void session_output(const struct session *s, const uint8_t **data, size_t *len);
/* Marks n bytes of output as written. */
void session_consume_output(struct session *s, size_t n);
/* True while the driver should read from this connection. */
int session_wants_read(const struct session *s);
/* True when the connection must close at once, dropping its output (too
 * much unsent output, or no memory for it). */
int session_is_dead(const struct session *s);
/* True when the driver should close the connection now (after writing any
 * output if the session is closing, or at once if it died). */
int session_should_close(const struct session *s);
/* Stop taking input and close once output is flushed (graceful shutdown). */
void session_shutdown(struct session *s);

#endif
