/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "wire/dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "core/channel.h"
#include "core/core.h"
#include "base/log.h"
#include "platform/platform.h"
#include "core/procs.h"
#include "wire/session.h"

enum { PROTOCOL_VERSION = 1, ARENA_LEN = 64 * 1024 };

/*
 * Unpacking a ClientFrame allocates a handful of small blocks. They come from
 * a bump arena that is reset after every frame; only a frame carrying more
 * than ARENA_LEN of data falls back to malloc. The loop is single-threaded,
 * so one arena serves every session.
 */
struct arena_block {
    struct arena_block *next;
    max_align_t data[];
};

static struct {
    max_align_t space[ARENA_LEN / sizeof(max_align_t)];
    size_t used;
    struct arena_block *overflow;
} arena;

static void *arena_alloc(void *ctx, size_t size)
{
    struct arena_block *b;
    size_t rounded = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);

    (void)ctx;
    if (rounded >= size && rounded <= sizeof(arena.space) - arena.used) {
        void *p = (char *)arena.space + arena.used;
        arena.used += rounded;
        return p;
    }
    b = malloc(sizeof(*b) + size);
    if (b == NULL) {
        return NULL;
    }
    b->next = arena.overflow;
    arena.overflow = b;
    return b->data;
}

static void arena_free(void *ctx, void *p)
{
    /* Everything goes at once in arena_reset. */
    (void)ctx;
    (void)p;
}

static void arena_reset(void)
{
    while (arena.overflow != NULL) {
        struct arena_block *next = arena.overflow->next;
        free(arena.overflow);
        arena.overflow = next;
    }
    arena.used = 0;
}

static ProtobufCAllocator arena_allocator = {arena_alloc, arena_free, NULL};

static void handle_get_info(struct session *s, uint64_t id)
{
    const struct config *cfg = &s->core->config;
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    Enclaved__Info info = ENCLAVED__INFO__INIT;
    Enclaved__Limits limits = ENCLAVED__LIMITS__INIT;

    limits.max_frame = cfg->max_frame;
    limits.max_connections = cfg->max_connections;
    limits.max_processes = cfg->max_processes;
    limits.max_channels_per_process = cfg->max_channels_per_process;
    limits.max_memory_per_process = cfg->max_memory_per_process;
    limits.default_memory_per_process = cfg->default_memory_per_process;
    limits.max_instructions_per_hook = cfg->max_instructions_per_hook;
    limits.max_outputs_per_hook = cfg->max_outputs_per_hook;
    limits.max_message = cfg->max_message;
    limits.handshake_timeout_ms = cfg->handshake_timeout_ms;
    info.server_version = (char *)ENCLAVED_VERSION;
    info.protocol_version = PROTOCOL_VERSION;
    info.public_key.data = (uint8_t *)keystore_public_key(s->core->keystore);
    info.public_key.len = X25519_KEY_LEN;
    info.limits = &limits;
    info.target = (char *)platform_target();
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_INFO;
    r.info = &info;
    session_send_response(s, &r);
}

static void handle_get_stats(struct session *s, uint64_t id)
{
    const struct core_stats *st = &s->core->stats;
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    Enclaved__Stats stats = ENCLAVED__STATS__INIT;
    Enclaved__StatusCount counts[STATUS_COUNT];
    Enclaved__StatusCount *count_ptrs[STATUS_COUNT];
    size_t n = 0;

    for (int i = 1; i < STATUS_COUNT; i++) {
        if (st->errors[i] == 0) {
            continue;
        }
        enclaved__status_count__init(&counts[n]);
        counts[n].status = (Enclaved__Status)i;
        counts[n].count = st->errors[i];
        count_ptrs[n] = &counts[n];
        n++;
    }
    stats.connections_open = st->connections_open;
    stats.connections_total = st->connections_total;
    stats.frames_in = st->frames_in;
    stats.frames_out = st->frames_out;
    stats.bytes_in = st->bytes_in;
    stats.bytes_out = st->bytes_out;
    stats.n_errors = n;
    stats.errors = count_ptrs;
    channel_fill_stats(s->core, &stats);
    stats.handshakes_ok = st->handshakes_ok;
    stats.handshakes_failed = st->handshakes_failed;
    stats.lua_errors = st->lua_errors;
    stats.limit_hits = st->limit_hits;
    stats.memory_rss = platform_rss_bytes();
    stats.start_time_micros = s->core->started_micros;
    stats.uptime_ms = platform_monotonic_ms() - s->core->started_ms;
    Enclaved__ProcessInfo *infos = NULL;
    Enclaved__ProcessInfo **ptrs = NULL;
    size_t count = 0;
    if (procs_fill_infos(s->core, &infos, &ptrs, &count) != STATUS_OK) {
        session_send_status(s, id, STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    stats.n_processes_info = count;
    stats.processes_info = ptrs;
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_STATS;
    r.stats = &stats;
    session_send_response(s, &r);
    free(infos);
    free(ptrs);
}

static void handle_request(struct session *s, const Enclaved__Request *req)
{
    const ProtobufCFieldDescriptor *kind = protobuf_c_message_descriptor_get_field(
        &enclaved__request__descriptor, (unsigned)req->body_case);

    LOG_D("connection %llu: request %llu %s", (unsigned long long)s->id,
          (unsigned long long)req->id, kind != NULL ? kind->name : "(none)");
    switch (req->body_case) {
    case ENCLAVED__REQUEST__BODY_PING:
        session_send_status(s, req->id, STATUS_OK, "");
        break;
    case ENCLAVED__REQUEST__BODY_GET_INFO:
        handle_get_info(s, req->id);
        break;
    case ENCLAVED__REQUEST__BODY_GET_STATS:
        handle_get_stats(s, req->id);
        break;
    case ENCLAVED__REQUEST__BODY_PROCESS_CREATE:
        procs_handle_create(s, req->id, req->process_create);
        break;
    case ENCLAVED__REQUEST__BODY_PROCESS_DESTROY:
        procs_handle_destroy(s, req->id, req->process_destroy);
        break;
    case ENCLAVED__REQUEST__BODY_PROCESS_LIST:
        procs_handle_list(s, req->id);
        break;
    case ENCLAVED__REQUEST__BODY_RESET:
        procs_handle_reset(s, req->id);
        break;
    case ENCLAVED__REQUEST__BODY_CHANNEL_OPEN:
        channel_handle_open(s, req->id, req->channel_open);
        break;
    case ENCLAVED__REQUEST__BODY__NOT_SET:
        if (req->base.n_unknown_fields > 0) {
            session_send_status(s, req->id, STATUS_UNIMPLEMENTED, "unknown request kind");
        } else {
            session_send_status(s, req->id, STATUS_INVALID_ARGUMENT, "request has no body");
        }
        break;
    default:
        /* PeerConnect (DESIGN §7) is not built yet. */
        session_send_status(s, req->id, STATUS_UNIMPLEMENTED, "request not implemented");
        break;
    }
}

void dispatch_frame(struct session *s, const uint8_t *body, size_t len)
{
    Enclaved__ClientFrame *frame;

    status_trail_reset();
    frame = enclaved__client_frame__unpack(&arena_allocator, len, body);
    if (frame == NULL) {
        LOG_W("connection %llu from %s: malformed ClientFrame (%zu bytes)",
              (unsigned long long)s->id, s->peer, len);
        session_send_status(s, 0, STATUS_INVALID_ARGUMENT, "malformed ClientFrame");
        arena_reset();
        return;
    }
    switch (frame->kind_case) {
    case ENCLAVED__CLIENT_FRAME__KIND_REQUEST:
        handle_request(s, frame->request);
        break;
    case ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_DATA:
        channel_handle_data(s, frame->channel_data->channel_id, frame->channel_data->data.data,
                            frame->channel_data->data.len);
        break;
    case ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_CLOSE:
        channel_handle_client_close(s, frame->channel_close->channel_id);
        break;
    default:
        session_send_status(s, 0, STATUS_INVALID_ARGUMENT, "ClientFrame has no kind");
        break;
    }
    arena_reset();
}
