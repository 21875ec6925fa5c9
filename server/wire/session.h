/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * One client connection, sans-I/O. The driver feeds it the bytes it reads
 * and writes out the bytes it produces; the session splits input into frames
 * (frame.h), hands each to dispatch, and encodes ServerFrames into one output
 * buffer, so every frame produced for one read is written with one call.
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

#include "core/core.h"
#include "enclaved.pb-c.h"
#include "base/status.h"

struct channel;

struct byte_buffer {
    uint8_t *data;
    size_t start;   /* first unconsumed byte */
    size_t end;     /* one past the last byte */
    size_t cap;
};

enum { SESSION_PEER_CAP = 48 };

struct session {
    struct core *core;                /* read-only */
    void *io_handle;                  /* the driver's connection; read-only here */
    struct session *next, *prev;      /* private: core's list */
    struct channel *channels;         /* private to channel.c: channels this session owns */
    struct byte_buffer in;            /* private: partial frames and paused input */
    struct byte_buffer out;           /* private: encoded frames not yet written */
    uint64_t id;                      /* read-only: for logs */
    char peer[SESSION_PEER_CAP];      /* read-only: "ADDR:PORT" of the client, for logs */
    int closing;                      /* close once output is flushed */
    int dead;                         /* close now, drop output */
};

/* Creates a session for a new connection. RESOURCE_EXHAUSTED when
 * max_connections are open or memory is short; *out untouched then. */
status_t session_new(struct core *core, void *io_handle, struct session **out);
/* Records the client's address ("ADDR:PORT", truncated to fit) and logs the
 * open at info with the connection id; the close is logged with both too. */
void session_set_peer(struct session *s, const char *peer);
/* Encodes the one frame a refused connection gets before it is closed: a
 * Response with id 0, status s and the status trail's message. Returns its
 * length, or 0 when it does not fit in cap. */
size_t session_encode_refusal(status_t s, uint8_t *buf, size_t cap);
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
/* True when the driver should close the connection now (after writing any
 * output if the session is closing, or at once if it died). */
int session_should_close(const struct session *s);
/* Stop taking input and close once output is flushed (graceful shutdown). */
void session_shutdown(struct session *s);

/* Encodes f onto the output. A frame that cannot be encoded within
 * max_frame is replaced by nothing and RESOURCE_EXHAUSTED is returned. */
status_t session_send(struct session *s, const Enclaved__ServerFrame *f);
/* Sends r (id, status and result filled in by the caller). A Response that
 * does not fit in max_frame is replaced by one with RESOURCE_EXHAUSTED. */
void session_send_response(struct session *s, Enclaved__Response *r);
/* Sends a Response with no result. */
void session_send_status(struct session *s, uint64_t id, status_t status, const char *message);

#endif
