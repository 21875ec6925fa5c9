/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Encoding ServerFrames (DESIGN §4) onto one connection's output buffer: a
 * length prefix, then the packed protobuf, so every frame produced for one
 * input is written with one call. A frame over max_frame is not sent; output
 * past max_output_buffer marks the connection dead (a client that never
 * reads cannot make the server grow). The session embeds one encoder and
 * dispatch writes its Responses through it.
 *
 * Ownership: caller storage (encoder_init / encoder_clear); the config and
 * stats are borrowed from the core. Frames passed in are borrowed for the
 * call. Loop thread only.
 */
#ifndef ENCLAVED_ENCODE_H
#define ENCLAVED_ENCODE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/buffer.h"
#include "base/status.h"
#include "core/stats.h"
#include "enclaved.pb-c.h"
#include "image/config.h"

struct encoder {
    struct byte_buffer buf;           /* private: encoded frames not yet written */
    const struct config *config;      /* private */
    struct core_stats *stats;         /* private */
    uint64_t conn_id;                 /* read-only: for logs */
    int dead;                         /* read-only: over max_output_buffer or out of memory */
};

void encoder_init(struct encoder *e, const struct config *cfg, struct core_stats *stats,
                  uint64_t conn_id);
void encoder_clear(struct encoder *e);

/* Encodes f. RESOURCE_EXHAUSTED (nothing encoded) when f is over
 * max_frame; OK otherwise, also when the encoder is or becomes dead (the
 * frame is dropped with the connection). */
status_t encode_frame(struct encoder *e, const Enclaved__ServerFrame *f);
/* The same for any message: a peer link's connection sends ClientFrames. */
status_t encode_message(struct encoder *e, const ProtobufCMessage *m);
/* A Response (id, status and result filled in by the caller); one that does
 * not fit in max_frame is replaced by RESOURCE_EXHAUSTED. Counts a non-OK
 * status. */
void encode_response(struct encoder *e, Enclaved__Response *r);
/* A Response with no result. */
void encode_status(struct encoder *e, uint64_t id, status_t status, const char *message);
/* Channel output, as the core hands it to a client session's sink. */
void encode_channel_data(struct encoder *e, uint32_t channel_id, const uint8_t *data, size_t len);
/* The driver's write of a connection (wire -> io): writes iov[0..n) to its
 * socket now, in order; returns the bytes the kernel took (0 when it would
 * block), or -1 when it cannot write now (a write is still pending, or an
 * error that the next flush reports). */
typedef ssize_t (*encode_write_fn)(void *ctx, const struct iovec *iov, int n);
/* Channel output written from data itself (DESIGN §10: no copy of the
 * payload on the way out): the ServerFrame's header is packed by protobuf-c
 * apart from its data, and write takes the output already buffered, that
 * header and data in one call; only what it leaves is copied to the buffer.
 * Returns 0, having done nothing, when the frame must go through
 * encode_channel_data instead (dead, over max_frame, write refused). */
int encode_channel_data_now(struct encoder *e, uint32_t channel_id, const uint8_t *data,
                            size_t len, encode_write_fn write_fn, void *ctx);
void encode_channel_closed(struct encoder *e, uint32_t channel_id, status_t status,
                           const char *reason);
/* The one frame a refused connection gets before it is closed: a Response
 * with id 0, status s and message, into buf. Returns its length, or 0 when
 * it does not fit in cap. */
size_t encode_refusal(status_t s, const char *message, uint8_t *buf, size_t cap);

#endif
