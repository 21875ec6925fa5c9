/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "wire/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "wire/dispatch.h"
#include "wire/frame.h"

/* Output past this pauses input; a whole frame of output is always allowed. */
enum { SESSION_SOFT_OUTPUT = 256 * 1024, SESSION_IDLE_BUFFER = 64 * 1024 };
/* Channel output from this size up is written from the payload itself
 * while its input is handled; a copy is cheaper than a call below it. */
enum { SESSION_WRITE_NOW_MIN = 4096 };

static uint64_t next_session_id = 1;

/* Tells the driver that s has output, unless s is the session being fed:
 * its driver flushes it after the feed anyway. */
static void wake(struct session *s)
{
    if (!s->feeding && s->wake != NULL) {
        s->wake(s->io_handle);
    }
}

/* peerwire's wake: the link's channel wrote to this session. */
static void wake_peer(void *ctx)
{
    wake(ctx);
}

/* The core_sink of a client session: channel output as ServerFrames. */
static void sink_channel_data(void *ctx, uint32_t channel_id, const uint8_t *data, size_t len)
{
    struct session *s = ctx;

    /* The reply to the last frame of a read: one call takes the output
     * before it, its header and the payload (DESIGN §10). */
    if (s->feeding && !s->more_input && s->write_now != NULL && len >= SESSION_WRITE_NOW_MIN &&
        encode_channel_data_now(&s->out, channel_id, data, len, s->write_now, s->io_handle)) {
        return;
    }
    encode_channel_data(&s->out, channel_id, data, len);
    wake(s);
}

static void sink_channel_closed(void *ctx, uint32_t channel_id, status_t status,
                                const char *reason)
{
    struct session *s = ctx;

    encode_channel_closed(&s->out, channel_id, status, reason);
    wake(s);
}

static const struct core_sink session_sink = {sink_channel_data, sink_channel_closed};

status_t session_new(struct core *core, session_wake_fn wake_fn, void *io_handle,
                     struct session **out)
{
    struct session *s;

    ENSURE(core->stats.connections_open < core->config.max_connections,
           STATUS_RESOURCE_EXHAUSTED, "too many connections");
    s = calloc(1, sizeof(*s));
    ENSURE(s != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    s->core = core;
    s->io_handle = io_handle;
    s->wake = wake_fn;
    s->id = next_session_id++;
    channel_owner_init(&s->owner, &session_sink, s);
    encoder_init(&s->out, &core->config, &core->stats, s->id);
    core->stats.connections_open++;
    core->stats.connections_total++;
    snprintf(s->client_addr, sizeof(s->client_addr), "?");
    *out = s;
    return STATUS_OK;
}

void session_set_writer(struct session *s, encode_write_fn write_now)
{
    s->write_now = write_now;
}

void session_set_client_addr(struct session *s, const char *peer)
{
    snprintf(s->client_addr, sizeof(s->client_addr), "%s", peer);
    LOG_I("connection %llu opened from %s", (unsigned long long)s->id, s->client_addr);
}

status_t session_new_peer(struct core *core, session_wake_fn wake_fn, void *io_handle,
                          uint32_t link_id, struct session **out)
{
    struct session *s = calloc(1, sizeof(*s));

    ENSURE(s != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    s->core = core;
    s->io_handle = io_handle;
    s->wake = wake_fn;
    s->id = next_session_id++;
    s->peer_link_id = link_id;
    snprintf(s->client_addr, sizeof(s->client_addr), "peer link %u", link_id);
    channel_owner_init(&s->owner, &session_sink, s);
    encoder_init(&s->out, &core->config, &core->stats, s->id);
    if (!peerwire_start(&s->peer, core->peers, &s->out, wake_peer, s, link_id)) {
        encoder_clear(&s->out);
        free(s);
        FAIL(STATUS_NOT_FOUND, "peer link gone");
    }
    core->stats.connections_open++;
    core->stats.connections_total++;
    LOG_D("connection %llu opened for peer link %u", (unsigned long long)s->id, link_id);
    *out = s;
    return STATUS_OK;
}

void session_free(struct session *s)
{
    struct core *core;

    if (s == NULL) {
        return;
    }
    core = s->core;
    channel_close_owner(core->channels, &s->owner);
    if (s->peer_link_id != 0) {
        peerwire_closed(&s->peer);
    }
    core->stats.connections_open--;
    LOG_I("connection %llu from %s closed", (unsigned long long)s->id, s->client_addr);
    buffer_free(&s->in);
    encoder_clear(&s->out);
    free(s);
}

static int output_over_soft_bound(const struct session *s)
{
    return buffer_len(&s->out.buf) > SESSION_SOFT_OUTPUT;
}

static int input_stopped(const struct session *s)
{
    return s->closing || s->out.dead;
}

/* A bad length prefix: one error frame, then close (DESIGN §4). */
static void fail_framing(struct session *s, enum frame_result r, uint32_t n)
{
    if (r == FRAME_EMPTY) {
        LOG_W("connection %llu from %s: frame length 0, closing", (unsigned long long)s->id,
              s->client_addr);
        encode_status(&s->out, 0, STATUS_INVALID_ARGUMENT, "frame length 0");
    } else {
        LOG_W("connection %llu from %s: frame length %u over max_frame %u, closing",
              (unsigned long long)s->id, s->client_addr, n, s->core->config.max_frame);
        encode_status(&s->out, 0, STATUS_RESOURCE_EXHAUSTED, "frame length over max_frame");
    }
    s->closing = 1;
}

/* Handles whole frames at data[0..len) until input pauses or stops;
 * returns how many bytes were used. */
static size_t handle_frames(struct session *s, const uint8_t *data, size_t len)
{
    size_t used = 0;

    while (!input_stopped(s) && !output_over_soft_bound(s)) {
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
        s->more_input = frame_next(data + used + FRAME_HEADER_LEN + n,
                                   len - used - FRAME_HEADER_LEN - n, s->core->config.max_frame,
                                   &(uint32_t){0}) == FRAME_READY;
        if (s->peer_link_id != 0) {
            peerwire_frame(&s->peer, data + used + FRAME_HEADER_LEN, n);
        } else {
            dispatch_frame(s->core, &s->owner, &s->out, data + used + FRAME_HEADER_LEN, n);
        }
        used += FRAME_HEADER_LEN + (size_t)n;
    }
    return used;
}

void session_feed(struct session *s, const uint8_t *data, size_t len)
{
    size_t used;

    if (input_stopped(s)) {
        return;
    }
    s->core->stats.bytes_in += len;
    s->feeding = 1;
    if (buffer_len(&s->in) == 0) {
        /* Common case: whole frames straight from the driver's read buffer. */
        used = handle_frames(s, data, len);
        data += used;
        len -= used;
    }
    if (len > 0 && !input_stopped(s)) {
        if (buffer_append(&s->in, data, len) != STATUS_OK) {
            struct status_report r;

            status_trail_take(&r);
            LOG_W("connection %llu: no memory for input, closing: %s", (unsigned long long)s->id,
                  r.trail);
            s->out.dead = 1;
        } else {
            used = handle_frames(s, s->in.data + s->in.start, buffer_len(&s->in));
            buffer_consume(&s->in, used, SESSION_IDLE_BUFFER);
        }
    }
    s->feeding = 0;
}

void session_resume(struct session *s)
{
    size_t used;

    if (buffer_len(&s->in) == 0 || input_stopped(s)) {
        return;
    }
    s->feeding = 1;
    used = handle_frames(s, s->in.data + s->in.start, buffer_len(&s->in));
    buffer_consume(&s->in, used, SESSION_IDLE_BUFFER);
    s->feeding = 0;
}

void session_output(const struct session *s, const uint8_t **data, size_t *len)
{
    const struct byte_buffer *b = &s->out.buf;

    *len = buffer_len(b);
    /* With nothing buffered data may be NULL, and NULL + 0 is undefined. */
    *data = *len > 0 ? b->data + b->start : b->data;
}

void session_consume_output(struct session *s, size_t n)
{
    s->core->stats.bytes_out += n;
    buffer_consume(&s->out.buf, n, SESSION_IDLE_BUFFER);
}

int session_wants_read(const struct session *s)
{
    return !input_stopped(s) && !output_over_soft_bound(s);
}

int session_is_dead(const struct session *s)
{
    return s->out.dead;
}

int session_should_close(const struct session *s)
{
    return s->out.dead || (s->closing && buffer_len(&s->out.buf) == 0);
}

void session_shutdown(struct session *s)
{
    s->closing = 1;
}
