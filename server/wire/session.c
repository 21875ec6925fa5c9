/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "wire/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/channel.h"
#include "wire/dispatch.h"
#include "wire/frame.h"
#include "base/log.h"

/* Output past this pauses input; a whole frame of output is always allowed. */
enum { SESSION_SOFT_OUTPUT = 256 * 1024, SESSION_IDLE_BUFFER = 64 * 1024 };

static uint64_t next_session_id = 1;

static void buffer_free(struct byte_buffer *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static size_t buffer_len(const struct byte_buffer *b)
{
    return b->end - b->start;
}

/* Makes room for extra bytes at the end, compacting or growing. */
static status_t buffer_reserve(struct byte_buffer *b, size_t extra)
{
    size_t used = buffer_len(b);
    size_t want;
    uint8_t *grown;

    if (b->cap - b->end >= extra) {
        return STATUS_OK;
    }
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, used);
        b->start = 0;
        b->end = used;
        if (b->cap - b->end >= extra) {
            return STATUS_OK;
        }
    }
    want = b->cap ? b->cap : 4096;
    while (want - used < extra) {
        want *= 2;
    }
    grown = realloc(b->data, want);
    ENSURE(grown != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory for buffer");
    b->data = grown;
    b->cap = want;
    return STATUS_OK;
}

static void buffer_consume(struct byte_buffer *b, size_t n)
{
    b->start += n;
    if (b->start == b->end) {
        b->start = 0;
        b->end = 0;
        /* Give back the memory a large frame needed once it is gone. */
        if (b->cap > SESSION_IDLE_BUFFER) {
            free(b->data);
            b->data = NULL;
            b->cap = 0;
        }
    }
}

static status_t buffer_append(struct byte_buffer *b, const uint8_t *data, size_t len)
{
    TRY(buffer_reserve(b, len));
    memcpy(b->data + b->end, data, len);
    b->end += len;
    return STATUS_OK;
}

status_t session_new(struct core *core, void *io_handle, struct session **out)
{
    struct session *s;

    ENSURE(core->stats.connections_open < core->config.max_connections,
           STATUS_RESOURCE_EXHAUSTED, "too many connections");
    s = calloc(1, sizeof(*s));
    ENSURE(s != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    s->core = core;
    s->io_handle = io_handle;
    s->id = next_session_id++;
    s->next = core->sessions;
    if (core->sessions != NULL) {
        core->sessions->prev = s;
    }
    core->sessions = s;
    core->stats.connections_open++;
    core->stats.connections_total++;
    snprintf(s->peer, sizeof(s->peer), "?");
    *out = s;
    return STATUS_OK;
}

void session_set_peer(struct session *s, const char *peer)
{
    snprintf(s->peer, sizeof(s->peer), "%s", peer);
    LOG_I("connection %llu opened from %s", (unsigned long long)s->id, s->peer);
}

size_t session_encode_refusal(status_t s, uint8_t *buf, size_t cap)
{
    Enclaved__ServerFrame f = ENCLAVED__SERVER_FRAME__INIT;
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    size_t n;

    r.status = (Enclaved__Status)s;
    r.message = (char *)status_trail_message();
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

void session_free(struct session *s)
{
    struct core *core;

    if (s == NULL) {
        return;
    }
    core = s->core;
    channel_close_session(core, s);
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        core->sessions = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    core->stats.connections_open--;
    LOG_I("connection %llu from %s closed", (unsigned long long)s->id, s->peer);
    buffer_free(&s->in);
    buffer_free(&s->out);
    free(s);
}

static int output_over_soft_bound(const struct session *s)
{
    return buffer_len(&s->out) > SESSION_SOFT_OUTPUT;
}

/* A bad length prefix: one error frame, then close (DESIGN §4). */
static void fail_framing(struct session *s, enum frame_result r, uint32_t n)
{
    if (r == FRAME_EMPTY) {
        LOG_W("connection %llu from %s: frame length 0, closing", (unsigned long long)s->id,
              s->peer);
        session_send_status(s, 0, STATUS_INVALID_ARGUMENT, "frame length 0");
    } else {
        LOG_W("connection %llu from %s: frame length %u over max_frame %u, closing",
              (unsigned long long)s->id, s->peer, n, s->core->config.max_frame);
        session_send_status(s, 0, STATUS_RESOURCE_EXHAUSTED, "frame length over max_frame");
    }
    s->closing = 1;
}

/* Handles whole frames at data[0..len) until input pauses or stops;
 * returns how many bytes were used. */
static size_t handle_frames(struct session *s, const uint8_t *data, size_t len)
{
    size_t used = 0;

    while (!s->closing && !s->dead && !output_over_soft_bound(s)) {
        uint32_t n = 0;
        enum frame_result r = frame_next(data + used, len - used, s->core->config.max_frame, &n);

        if (r == FRAME_NEED_MORE) {
            break;
        }
        if (r != FRAME_READY) {
            fail_framing(s, r, n);
            break;
        }
        s->core->stats.frames_in++;
        dispatch_frame(s, data + used + FRAME_HEADER_LEN, n);
        used += FRAME_HEADER_LEN + (size_t)n;
    }
    return used;
}

void session_feed(struct session *s, const uint8_t *data, size_t len)
{
    struct core *core = s->core;
    size_t used;

    if (s->closing || s->dead) {
        return;
    }
    core->stats.bytes_in += len;
    core->feeding = s;
    if (buffer_len(&s->in) == 0) {
        /* Common case: whole frames straight from the driver's read buffer. */
        used = handle_frames(s, data, len);
        data += used;
        len -= used;
    }
    if (len > 0 && !s->closing && !s->dead) {
        if (buffer_append(&s->in, data, len) != STATUS_OK) {
            LOG_W("connection %llu: out of memory for input, closing", (unsigned long long)s->id);
            s->dead = 1;
        } else {
            used = handle_frames(s, s->in.data + s->in.start, buffer_len(&s->in));
            buffer_consume(&s->in, used);
        }
    }
    core->feeding = NULL;
}

void session_resume(struct session *s)
{
    size_t used;

    if (buffer_len(&s->in) == 0 || s->closing || s->dead) {
        return;
    }
    s->core->feeding = s;
    used = handle_frames(s, s->in.data + s->in.start, buffer_len(&s->in));
    buffer_consume(&s->in, used);
    s->core->feeding = NULL;
}

void session_output(const struct session *s, const uint8_t **data, size_t *len)
{
    *len = buffer_len(&s->out);
    /* With nothing buffered out.data may be NULL, and NULL + 0 is undefined. */
    *data = *len > 0 ? s->out.data + s->out.start : s->out.data;
}

void session_consume_output(struct session *s, size_t n)
{
    s->core->stats.bytes_out += n;
    buffer_consume(&s->out, n);
}

int session_wants_read(const struct session *s)
{
    return !s->closing && !s->dead && !output_over_soft_bound(s);
}

int session_should_close(const struct session *s)
{
    return s->dead || (s->closing && buffer_len(&s->out) == 0);
}

void session_shutdown(struct session *s)
{
    s->closing = 1;
}

status_t session_send(struct session *s, const Enclaved__ServerFrame *f)
{
    size_t n = protobuf_c_message_get_packed_size(&f->base);
    struct core *core = s->core;

    if (s->dead) {
        return STATUS_OK;
    }
    if (n > core->config.max_frame) {
        LOG_W("connection %llu: a %zu-byte frame exceeds max_frame; not sent",
              (unsigned long long)s->id, n);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "frame over max_frame");
    }
    if (buffer_len(&s->out) + FRAME_HEADER_LEN + n > core->config.max_output_buffer) {
        LOG_W("connection %llu: over %llu bytes of unsent output, dropping the connection",
              (unsigned long long)s->id, (unsigned long long)core->config.max_output_buffer);
        s->dead = 1;
        core_wake(core, s);
        return STATUS_OK;
    }
    if (buffer_reserve(&s->out, FRAME_HEADER_LEN + n) != STATUS_OK) {
        LOG_W("connection %llu: out of memory for output, dropping the connection",
              (unsigned long long)s->id);
        s->dead = 1;
        core_wake(core, s);
        return STATUS_OK;
    }
    frame_write_length(s->out.data + s->out.end, (uint32_t)n);
    protobuf_c_message_pack(&f->base, s->out.data + s->out.end + FRAME_HEADER_LEN);
    s->out.end += FRAME_HEADER_LEN + n;
    core->stats.frames_out++;
    core_wake(core, s);
    return STATUS_OK;
}

void session_send_response(struct session *s, Enclaved__Response *r)
{
    Enclaved__ServerFrame f = ENCLAVED__SERVER_FRAME__INIT;

    f.kind_case = ENCLAVED__SERVER_FRAME__KIND_RESPONSE;
    f.response = r;
    core_count_error(s->core, (status_t)r->status);
    if (session_send(s, &f) != STATUS_OK) {
        session_send_status(s, r->id, STATUS_RESOURCE_EXHAUSTED, "response over max_frame");
    }
}

void session_send_status(struct session *s, uint64_t id, status_t status, const char *message)
{
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;

    r.id = id;
    r.status = (Enclaved__Status)status;
    r.message = (char *)(message != NULL ? message : "");
    session_send_response(s, &r);
}
