/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "wire/peerwire.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "core/peer.h"
#include "wire/encode.h"

/* The one request a link sends. */
enum { PEERWIRE_OPEN_ID = 1 };

/* struct peer_conn_ops, with the session as conn. */
static void conn_send(void *conn, uint32_t remote_id, const uint8_t *data, size_t len)
{
    struct peerwire *w = conn;
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__ChannelData d = ENCLAVED__CHANNEL_DATA__INIT;

    d.channel_id = remote_id;
    d.data.data = (uint8_t *)data;
    d.data.len = len;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_DATA;
    f.channel_data = &d;
    if (encode_message(w->out, &f.base) != STATUS_OK) {
        struct status_report r;

        /* Over max_frame: the link cannot carry it. */
        status_trail_take(&r);
        w->out->dead = 1;
    }
    w->wake(w->wake_ctx);
}

static void conn_hangup(void *conn)
{
    struct peerwire *w = conn;

    w->hung_up = 1;
    w->out->dead = 1;
    w->wake(w->wake_ctx);
}

static const struct peer_conn_ops conn_ops = {conn_send, conn_hangup};

int peerwire_start(struct peerwire *w, struct peer_table *peers, struct encoder *out,
                   void (*wake)(void *ctx), void *wake_ctx, uint32_t link_id)
{
    struct peer_link *l = peer_find(peers, link_id);
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__Request r = ENCLAVED__REQUEST__INIT;
    Enclaved__ChannelOpen open = ENCLAVED__CHANNEL_OPEN__INIT;

    w->peers = peers;
    w->out = out;
    w->wake = wake;
    w->wake_ctx = wake_ctx;
    w->link_id = link_id;
    if (l == NULL || !peer_link_connected(peers, link_id, &conn_ops, w)) {
        return 0;
    }
    open.target_case = ENCLAVED__CHANNEL_OPEN__TARGET_CODE_HASH;
    open.code_hash.data = l->code_hash;
    open.code_hash.len = PEER_HASH_LEN;
    open.type = ENCLAVED__CHANNEL_TYPE__SERVER_KK_RESPONDER;
    r.id = PEERWIRE_OPEN_ID;
    r.body_case = ENCLAVED__REQUEST__BODY_CHANNEL_OPEN;
    r.channel_open = &open;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_REQUEST;
    f.request = &r;
    (void)encode_message(out, &f.base);
    return 1;
}

static void fail(struct peerwire *w, const char *reason)
{
    peer_link_failed(w->peers, w->link_id, reason);
    /* The link hung up if it still held w; one it let go of closes too. */
    w->hung_up = 1;
    w->out->dead = 1;
}

static void handle_response(struct peerwire *w, const Enclaved__Response *r)
{
    char reason[PEER_ERROR_MAX];

    if (r->id != PEERWIRE_OPEN_ID || w->remote_id != 0) {
        fail(w, "protocol error: unexpected Response from the peer");
        return;
    }
    if (r->status != ENCLAVED__STATUS__OK) {
        snprintf(reason, sizeof(reason), "peer refused ChannelOpen: %s %.60s",
                 status_name((status_t)r->status), r->message != NULL ? r->message : "");
        fail(w, reason);
        return;
    }
    if (r->result_case != ENCLAVED__RESPONSE__RESULT_CHANNEL_OPENED ||
        r->channel_opened->channel_id == 0) {
        fail(w, "protocol error: ChannelOpen answered without a channel");
        return;
    }
    w->remote_id = r->channel_opened->channel_id;
    peer_link_opened(w->peers, w->link_id, w->remote_id);
}

void peerwire_frame(struct peerwire *w, const uint8_t *body, size_t len)
{
    char reason[PEER_ERROR_MAX];
    Enclaved__ServerFrame *f;

    if (w->hung_up) {
        return;
    }
    f = enclaved__server_frame__unpack(NULL, len, body);
    if (f == NULL) {
        fail(w, "protocol error: malformed ServerFrame from the peer");
        return;
    }
    switch (f->kind_case) {
    case ENCLAVED__SERVER_FRAME__KIND_RESPONSE:
        handle_response(w, f->response);
        break;
    case ENCLAVED__SERVER_FRAME__KIND_CHANNEL_DATA:
        if (f->channel_data->channel_id != w->remote_id || w->remote_id == 0) {
            fail(w, "protocol error: data for another channel");
            break;
        }
        peer_link_input(w->peers, w->link_id, f->channel_data->data.data,
                        f->channel_data->data.len);
        break;
    case ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED:
        snprintf(reason, sizeof(reason), "peer closed the channel: %s %.60s",
                 status_name((status_t)f->channel_closed->status),
                 f->channel_closed->reason != NULL ? f->channel_closed->reason : "");
        fail(w, reason);
        break;
    default:
        fail(w, "protocol error: ServerFrame with no kind");
        break;
    }
    enclaved__server_frame__free_unpacked(f, NULL);
}

void peerwire_closed(struct peerwire *w)
{
    if (w->hung_up) {
        return;
    }
    peer_link_conn_closed(w->peers, w->link_id, w,
                          w->out->dead ? "peer not reading: output over max_output_buffer"
                                       : "connection lost");
}
