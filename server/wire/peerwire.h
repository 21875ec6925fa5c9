/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The client protocol spoken on a peer link's connection (DESIGN §7): this
 * server is the client of the remote member. It sends ChannelOpen
 * {code_hash, SERVER_KK_RESPONDER}; the remote's ServerFrames (the
 * Response, ChannelData, ChannelClosed) become calls on the link
 * (core/peer.h), and the link's channel output goes back as ClientFrame
 * ChannelData (struct peer_conn_ops). Anything unexpected from the remote
 * fails the link with a reason; the remote gets no explanation.
 *
 * Ownership: a struct peerwire is embedded in the session of the link's
 * connection (session_new_peer), which the driver owns; it writes into that
 * session's encoder. The link borrows it as its conn until it hangs up or
 * the session is freed (peerwire_closed). Loop thread only.
 */
#ifndef ENCLAVED_PEERWIRE_H
#define ENCLAVED_PEERWIRE_H

#include <stddef.h>
#include <stdint.h>

struct encoder;
struct peer_table;

/* Embedded in a peer link's session. All fields private. */
struct peerwire {
    struct peer_table *peers;     /* borrowed */
    struct encoder *out;          /* the session's encoder */
    void (*wake)(void *ctx);      /* the session's wake */
    void *wake_ctx;
    uint32_t link_id;
    uint32_t remote_id;           /* the remote's channel, once opened */
    int hung_up;                  /* the link let go: ignore the rest */
};

/* Attaches w to link link_id and encodes the ChannelOpen into out; 0 when
 * the link no longer waits for a connection (nothing is encoded then). */
int peerwire_start(struct peerwire *w, struct peer_table *peers, struct encoder *out,
                   void (*wake)(void *ctx), void *wake_ctx, uint32_t link_id);
/* One ServerFrame body from the remote. */
void peerwire_frame(struct peerwire *w, const uint8_t *body, size_t len);
/* The session is being freed: the link hears it, unless it hung up first. */
void peerwire_closed(struct peerwire *w);

#endif
