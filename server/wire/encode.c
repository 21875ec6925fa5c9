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

/* A ProtobufCBuffer that keeps every byte of a packed frame except those of
 * one bytes field (protobuf-c appends it from the field's own pointer), so
 * the frame goes out as [head][payload] without copying the payload. */
enum { ENCODE_HEAD_CAP = 32 };

struct split_buffer {
    ProtobufCBuffer base;
    const uint8_t *payload;
    size_t payload_len;
    uint8_t head[ENCODE_HEAD_CAP];
    size_t head_len;
    int seen;                         /* the payload was appended */
    int bad;                          /* bytes after it, or a head over the cap */
};

static void split_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    struct split_buffer *s = (struct split_buffer *)(void *)b;

    if (!s->seen && data == s->payload && len == s->payload_len) {
        s->seen = 1;
        return;
    }
    if (s->seen || len > sizeof(s->head) - s->head_len) {
        s->bad = 1;
        return;
    }
    memcpy(s->head + s->head_len, data, len);
    s->head_len += len;
}

/* Appends len bytes to the output buffer, or marks the encoder dead as
 * encode_message does. */
static void append_output(struct encoder *e, const uint8_t *data, size_t len)
{
    if (e->dead || len == 0) {
        return;
    }
    if (buffer_len(&e->buf) + len > e->config->max_output_buffer) {
        LOG_W("connection %llu: over %llu bytes of unsent output, dropping the connection",
              (unsigned long long)e->conn_id, (unsigned long long)e->config->max_output_buffer);
        e->dead = 1;
        return;
    }
    if (buffer_append(&e->buf, data, len) != STATUS_OK) {
        struct status_report r;

        status_trail_take(&r);
        LOG_W("connection %llu: %s, dropping the connection", (unsigned long long)e->conn_id,
              r.trail);
        e->dead = 1;
    }
}

int encode_channel_data_now(struct encoder *e, uint32_t channel_id, const uint8_t *data,
                            size_t len, encode_write_fn write_fn, void *ctx)
{
    Enclaved__ServerFrame f = ENCLAVED__SERVER_FRAME__INIT;
    Enclaved__ChannelData d = ENCLAVED__CHANNEL_DATA__INIT;
    struct split_buffer split;
    struct iovec iov[3];
    size_t pending = buffer_len(&e->buf);
    size_t n, taken;
    ssize_t wrote;
    int count = 0;

    if (e->dead || len == 0) {
        return 0;
    }
    d.channel_id = channel_id;
    d.data.data = (uint8_t *)data;
    d.data.len = len;
    f.kind_case = ENCLAVED__SERVER_FRAME__KIND_CHANNEL_DATA;
    f.channel_data = &d;
    n = protobuf_c_message_get_packed_size(&f.base);
    if (n > e->config->max_frame) {
        return 0;
    }
    memset(&split, 0, sizeof(split));
    split.base.append = split_append;
    split.payload = data;
    split.payload_len = len;
    split.head_len = FRAME_HEADER_LEN;
    frame_write_length(split.head, (uint32_t)n);
    protobuf_c_message_pack_to_buffer(&f.base, &split.base);
    if (split.bad || !split.seen || split.head_len - FRAME_HEADER_LEN + len != n) {
        return 0;
    }
    if (pending > 0) {
        iov[count].iov_base = e->buf.data + e->buf.start;
        iov[count++].iov_len = pending;
    }
    iov[count].iov_base = split.head;
    iov[count++].iov_len = split.head_len;
    iov[count].iov_base = (void *)data;
    iov[count++].iov_len = len;
    wrote = write_fn(ctx, iov, count);
    if (wrote < 0) {
        return 0;
    }
    taken = (size_t)wrote;
    e->stats->bytes_out += taken;
    e->stats->frames_out++;
    if (taken < pending) {
        buffer_consume(&e->buf, taken, ENCODE_IDLE_BUFFER);
        append_output(e, split.head, split.head_len);
        append_output(e, data, len);
        return 1;
    }
    buffer_consume(&e->buf, pending, ENCODE_IDLE_BUFFER);
    taken -= pending;
    if (taken < split.head_len) {
        append_output(e, split.head + taken, split.head_len - taken);
        append_output(e, data, len);
    } else {
        taken -= split.head_len;
        append_output(e, data + taken, len - taken);
    }
    return 1;
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
