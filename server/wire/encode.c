/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "wire/encode.h"

#include <string.h>

#include "base/log.h"
#include "wire/frame.h"

/* Output buffers give memory back above this once drained. */
enum { ENCODE_IDLE_BUFFER = 64 * 1024 };

void encoder_init(struct encoder *e, const struct config *cfg, struct core_stats *stats,
                  uint64_t conn_id)
{
    memset(e, 0, sizeof(*e));
    e->config = cfg;
    e->stats = stats;
    e->conn_id = conn_id;
}

void encoder_clear(struct encoder *e)
{
    buffer_free(&e->buf);
}

status_t encode_frame(struct encoder *e, const Enclaved__ServerFrame *f)
{
    return encode_message(e, &f->base);
}

status_t encode_message(struct encoder *e, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);

    if (e->dead) {
        return STATUS_OK;
    }
    if (n > e->config->max_frame) {
        LOG_W("connection %llu: a %zu-byte frame exceeds max_frame; not sent",
              (unsigned long long)e->conn_id, n);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "frame over max_frame");
    }
    if (buffer_len(&e->buf) + FRAME_HEADER_LEN + n > e->config->max_output_buffer) {
        LOG_W("connection %llu: over %llu bytes of unsent output, dropping the connection",
              (unsigned long long)e->conn_id, (unsigned long long)e->config->max_output_buffer);
        e->dead = 1;
        return STATUS_OK;
    }
    if (buffer_reserve(&e->buf, FRAME_HEADER_LEN + n) != STATUS_OK) {
        struct status_report r;

        status_trail_take(&r);
        LOG_W("connection %llu: %s, dropping the connection", (unsigned long long)e->conn_id,
              r.trail);
        e->dead = 1;
        return STATUS_OK;
    }
    frame_write_length(e->buf.data + e->buf.end, (uint32_t)n);
    protobuf_c_message_pack(m, e->buf.data + e->buf.end + FRAME_HEADER_LEN);
    e->buf.end += FRAME_HEADER_LEN + n;
    e->stats->frames_out++;
    return STATUS_OK;
}

void encode_response(struct encoder *e, Enclaved__Response *r)
{
    Enclaved__ServerFrame f = ENCLAVED__SERVER_FRAME__INIT;

    f.kind_case = ENCLAVED__SERVER_FRAME__KIND_RESPONSE;
    f.response = r;
    core_stats_count_status(e->stats, (status_t)r->status);
    if (encode_frame(e, &f) != STATUS_OK) {
        struct status_report dropped;

        /* Handled here: the caller's request gets this answer instead. */
        status_trail_take(&dropped);
        encode_status(e, r->id, STATUS_RESOURCE_EXHAUSTED, "response over max_frame");
    }
}

void encode_status(struct encoder *e, uint64_t id, status_t status, const char *message)
{
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;

    r.id = id;
    r.status = (Enclaved__Status)status;
    r.message = (char *)(message != NULL ? message : "");
    encode_response(e, &r);
}

/* A frame over max_frame that nobody answers for (it was logged). */
static void drop_unsent(status_t st)
{
    if (st != STATUS_OK) {
        struct status_report dropped;
        status_trail_take(&dropped);
    }
}

void encode_channel_data(struct encoder *e, uint32_t channel_id, const uint8_t *data, size_t len)
{
    Enclaved__ServerFrame f = ENCLAVED__SERVER_FRAME__INIT;
    Enclaved__ChannelData d = ENCLAVED__CHANNEL_DATA__INIT;

    d.channel_id = channel_id;
    d.data.data = (uint8_t *)data;
    d.data.len = len;
    f.kind_case = ENCLAVED__SERVER_FRAME__KIND_CHANNEL_DATA;
    f.channel_data = &d;
    drop_unsent(encode_frame(e, &f));
}

void encode_channel_closed(struct encoder *e, uint32_t channel_id, status_t status,
                           const char *reason)
{
    Enclaved__ServerFrame f = ENCLAVED__SERVER_FRAME__INIT;
    Enclaved__ChannelClosed c = ENCLAVED__CHANNEL_CLOSED__INIT;

    c.channel_id = channel_id;
    c.status = (Enclaved__Status)status;
    c.reason = (char *)reason;
    f.kind_case = ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED;
    f.channel_closed = &c;
    drop_unsent(encode_frame(e, &f));
}

size_t encode_refusal(status_t s, const char *message, uint8_t *buf, size_t cap)
{
    Enclaved__ServerFrame f = ENCLAVED__SERVER_FRAME__INIT;
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    size_t n;

    r.status = (Enclaved__Status)s;
    r.message = (char *)message;
    f.kind_case = ENCLAVED__SERVER_FRAME__KIND_RESPONSE;
    f.response = &r;
    n = protobuf_c_message_get_packed_size(&f.base);
    if (n + FRAME_HEADER_LEN > cap) {
        return 0;
    }
    frame_write_length(buf, (uint32_t)n);
    protobuf_c_message_pack(&f.base, buf + FRAME_HEADER_LEN);
    return n + FRAME_HEADER_LEN;
}
