/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "wire/peerwire.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "core/channel.h"
#include "core/peer.h"
#include "core/procs.h"
#include "wire/session.h"

/* The one request a link sends. */
enum { PEERWIRE_OPEN_ID = 1 };

static void fail(struct session *s, const char *reason)
{
    peer_link_failed(s->core, s->peer_link_id, reason);
    /* The link hung up already if it still knew this session; make sure. */
    session_abort(s);
}

void peerwire_start(struct session *s)
{
    struct peer_link *l = peer_find(s->core, s->peer_link_id);
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__Request r = ENCLAVED__REQUEST__INIT;
    Enclaved__ChannelOpen open = ENCLAVED__CHANNEL_OPEN__INIT;

    ENCLAVED_ASSERT(l != NULL);
    open.target_case = ENCLAVED__CHANNEL_OPEN__TARGET_CODE_HASH;
    open.code_hash.data = l->code_hash;
    open.code_hash.len = PEER_HASH_LEN;
    open.type = ENCLAVED__CHANNEL_TYPE__SERVER_KK_RESPONDER;
    r.id = PEERWIRE_OPEN_ID;
    r.body_case = ENCLAVED__REQUEST__BODY_CHANNEL_OPEN;
    r.channel_open = &open;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_REQUEST;
    f.request = &r;
    (void)session_send_message(s, &f.base);
}

/* The ChannelOpen's answer: the remote channel exists, so the local KK
 * initiator starts and sends message 1. */
static void handle_response(struct session *s, const Enclaved__Response *r)
{
    char reason[PEER_ERROR_MAX];
    struct peer_link *l = peer_find(s->core, s->peer_link_id);
    struct proc *p;
    uint32_t channel_id = 0;

    if (l == NULL) {
        session_abort(s);
        return;
    }
    if (r->id != PEERWIRE_OPEN_ID || s->peer_remote_id != 0) {
        fail(s, "protocol error: unexpected Response from the peer");
        return;
    }
    if (r->status != ENCLAVED__STATUS__OK) {
        snprintf(reason, sizeof(reason), "peer refused ChannelOpen: %s %.60s",
                 status_name((status_t)r->status), r->message != NULL ? r->message : "");
        fail(s, reason);
        return;
    }
    if (r->result_case != ENCLAVED__RESPONSE__RESULT_CHANNEL_OPENED ||
        r->channel_opened->channel_id == 0) {
        fail(s, "protocol error: ChannelOpen answered without a channel");
        return;
    }
    p = procs_find_hash(s->core, l->code_hash, PEER_HASH_LEN);
    if (p == NULL) {
        fail(s, "no local process with this code hash");
        return;
    }
    s->peer_remote_id = r->channel_opened->channel_id;
    status_trail_reset();
    if (channel_open_peer(s, p, &channel_id) != STATUS_OK) {
        snprintf(reason, sizeof(reason), "cannot open the local channel: %.60s",
                 status_trail_message());
        fail(s, reason);
        return;
    }
    s->peer_channel_id = channel_id;
    peer_link_opened(s->core, s->peer_link_id, channel_id, s->peer_remote_id);
}

static void handle_data(struct session *s, const Enclaved__ChannelData *d)
{
    struct core *core = s->core;

    if (d->channel_id != s->peer_remote_id || s->peer_channel_id == 0) {
        fail(s, "protocol error: data for another channel");
        return;
    }
    peer_link_count(core, s->peer_link_id, 0, d->data.len);
    channel_handle_data(s, s->peer_channel_id, d->data.data, d->data.len);
    if (!s->peer_up && !s->dead && channel_is_open(core, s->peer_channel_id)) {
        s->peer_up = 1;
        peer_link_up(core, s->peer_link_id);
    }
}

void peerwire_frame(struct session *s, const uint8_t *body, size_t len)
{
    char reason[PEER_ERROR_MAX];
    Enclaved__ServerFrame *f = enclaved__server_frame__unpack(NULL, len, body);

    if (f == NULL) {
        fail(s, "protocol error: malformed ServerFrame from the peer");
        return;
    }
    switch (f->kind_case) {
    case ENCLAVED__SERVER_FRAME__KIND_RESPONSE:
        handle_response(s, f->response);
        break;
    case ENCLAVED__SERVER_FRAME__KIND_CHANNEL_DATA:
        handle_data(s, f->channel_data);
        break;
    case ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED:
        snprintf(reason, sizeof(reason), "peer closed the channel: %s %.60s",
                 status_name((status_t)f->channel_closed->status),
                 f->channel_closed->reason != NULL ? f->channel_closed->reason : "");
        fail(s, reason);
        break;
    default:
        fail(s, "protocol error: ServerFrame with no kind");
        break;
    }
    enclaved__server_frame__free_unpacked(f, NULL);
}

void peerwire_send_data(struct session *s, uint32_t channel_id, const uint8_t *data, size_t len)
{
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__ChannelData d = ENCLAVED__CHANNEL_DATA__INIT;

    (void)channel_id;
    if (s->dead) {
        return;
    }
    d.channel_id = s->peer_remote_id;
    d.data.data = (uint8_t *)data;
    d.data.len = len;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_DATA;
    f.channel_data = &d;
    peer_link_count(s->core, s->peer_link_id, 1, len);
    if (session_send_message(s, &f.base) != STATUS_OK) {
        fail(s, "message over max_frame");
    }
}

void peerwire_channel_closed(struct session *s, uint32_t channel_id, status_t status,
                             const char *reason)
{
    char why[PEER_ERROR_MAX];

    (void)channel_id;
    s->peer_channel_id = 0;
    if (s->dead) {
        return;
    }
    snprintf(why, sizeof(why), "local channel closed: %s %.60s", status_name(status),
             reason != NULL ? reason : "");
    fail(s, why);
}
