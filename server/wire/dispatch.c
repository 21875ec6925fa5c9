/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "wire/dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "base/log.h"
#include "core/core.h"
#include "core/peer.h"
#include "platform/platform.h"
#include "wire/encode.h"

enum { PROTOCOL_VERSION = 1, ARENA_LEN = 64 * 1024 };

/*
 * Unpacking a ClientFrame allocates a handful of small blocks. They come from
 * a bump arena that is reset after every frame; only a frame carrying more
 * than ARENA_LEN of data falls back to malloc. The loop is single-threaded,
 * so one arena serves every session.
 */
struct arena_block {
    SLIST_ENTRY(arena_block) link;
    max_align_t data[];
};

static struct {
    max_align_t space[ARENA_LEN / sizeof(max_align_t)];
    size_t used;
    SLIST_HEAD(, arena_block) overflow;
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
    SLIST_INSERT_HEAD(&arena.overflow, b, link);
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
    struct arena_block *b;

    while ((b = SLIST_FIRST(&arena.overflow)) != NULL) {
        SLIST_REMOVE_HEAD(&arena.overflow, link);
        free(b);
    }
    arena.used = 0;
}

static ProtobufCAllocator arena_allocator = {arena_alloc, arena_free, NULL};

/* Who sent the frame being handled: the core it speaks to, the owner of its
 * channels and the encoder its answers go to. */
struct caller {
    struct core *core;
    struct channel_owner *owner;
    struct encoder *out;
};

/* The wire's channel types onto the domain's, by name (core/channel.h). */
static status_t channel_type_from_wire(Enclaved__ChannelType wire, enum channel_type *out)
{
    switch (wire) {
#define CHANNEL_TYPE_FROM_WIRE(name, chan)  \
    case ENCLAVED__CHANNEL_TYPE__##name:    \
        *out = CHANNEL_TYPE_##name;         \
        return STATUS_OK;
        CHANNEL_TYPE_LIST(CHANNEL_TYPE_FROM_WIRE)
#undef CHANNEL_TYPE_FROM_WIRE
    default:
        FAIL(STATUS_INVALID_ARGUMENT, "unknown channel type");
    }
}

/* The one reading of a request's process_id-or-code_hash oneof. */
static struct proc_target target_from_wire(int is_id, int is_hash, uint32_t process_id,
                                           const ProtobufCBinaryData *hash)
{
    struct proc_target t = {.kind = PROC_TARGET_NONE};

    if (is_id) {
        t.kind = PROC_TARGET_ID;
        t.process_id = process_id;
    } else if (is_hash) {
        t.kind = PROC_TARGET_CODE_HASH;
        t.code_hash = hash->data;
        t.code_hash_len = hash->len;
    }
    return t;
}

/* A Response with no result for a failed request: it takes the failure
 * off the trail, sends the innermost message and logs the whole trail at
 * level. */
static void answer_failure_logged(const struct caller *c, uint64_t id, status_t st,
                                  enum log_level level)
{
    struct status_report r;

    status_trail_take(&r);
    if (log_get_level() >= level) {
        log_msg(level, "connection %llu: request %llu: %s: %s",
                (unsigned long long)c->out->conn_id, (unsigned long long)id, status_name(st),
                r.trail);
    }
    encode_status(c->out, id, st, r.message);
}

static void answer_failure(const struct caller *c, uint64_t id, status_t st)
{
    answer_failure_logged(c, id, st, LOG_DEBUG);
}

static void handle_get_info(const struct caller *c, uint64_t id)
{
    const struct config *cfg = &c->core->config;
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
    info.public_key.data = (uint8_t *)keystore_public_key(c->core->keystore);
    info.public_key.len = X25519_KEY_LEN;
    info.limits = &limits;
    info.target = (char *)platform_target();
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_INFO;
    r.info = &info;
    encode_response(c->out, &r);
}

/* One ProcessInfo per process, oldest first, into malloc'd arrays the caller
 * frees (both). RESOURCE_EXHAUSTED when memory is short. */
static status_t fill_process_infos(const struct process_table *t, Enclaved__ProcessInfo **infos_out,
                                   Enclaved__ProcessInfo ***ptrs_out, size_t *count_out)
{
    size_t count = procs_count(t);
    Enclaved__ProcessInfo *infos = calloc(count ? count : 1, sizeof(*infos));
    Enclaved__ProcessInfo **ptrs = calloc(count ? count : 1, sizeof(*ptrs));
    size_t n = 0;

    if (infos == NULL || ptrs == NULL) {
        free(infos);
        free(ptrs);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    /* Creation order is id order until ids wrap. */
    for (struct proc *p = procs_first(t); p != NULL; p = procs_next(p)) {
        Enclaved__ProcessInfo *info = &infos[n];
        enclaved__process_info__init(info);
        info->process_id = process_id(p->lua);
        info->name = (char *)process_name(p->lua);
        info->code_hash.data = (uint8_t *)process_code_hash(p->lua);
        info->code_hash.len = PROCESS_CODE_HASH_LEN;
        info->channels = channel_group_count(&p->channels);
        info->memory_used = process_memory_used(p->lua);
        info->created_at_micros = process_created_at(p->lua);
        info->messages = p->channels.messages;
        info->errors = p->channels.errors;
        info->limit_hits = p->channels.limit_hits;
        ptrs[n++] = info;
    }
    *infos_out = infos;
    *ptrs_out = ptrs;
    *count_out = n;
    return STATUS_OK;
}

/* Fills stats->peer_links from the link table, into caller arrays of
 * PEER_LINKS_MAX entries (addresses formatted into addr). */
static void fill_peer_links(const struct core *core, Enclaved__Stats *stats,
                            Enclaved__PeerLinkInfo *infos, Enclaved__PeerLinkInfo **ptrs,
                            char (*addr)[CONFIG_HOST_MAX + 8])
{
    size_t n = 0;

    for (const struct peer_link *l = peer_first(core->peers); l != NULL && n < PEER_LINKS_MAX;
         l = peer_next(l)) {
        Enclaved__PeerLinkInfo *info = &infos[n];

        enclaved__peer_link_info__init(info);
        snprintf(addr[n], sizeof(addr[n]), "%s:%u", l->host, l->port);
        info->link_id = l->id;
        info->address = addr[n];
        info->code_hash.data = (uint8_t *)l->code_hash;
        info->code_hash.len = PEER_HASH_LEN;
        info->state = (char *)peer_state_name(l->state);
        info->channel_id = l->channel_id;
        info->remote_channel_id = l->remote_channel_id;
        info->last_error = (char *)l->last_error;
        info->since_micros = l->since_micros;
        info->messages_in = l->messages_in;
        info->messages_out = l->messages_out;
        info->bytes_in = l->bytes_in;
        info->bytes_out = l->bytes_out;
        info->failures = l->failures;
        info->origin = (char *)(l->origin == PEER_ORIGIN_CONFIG ? "config" : "request");
        ptrs[n] = info;
        n++;
    }
    stats->n_peer_links = n;
    stats->peer_links = ptrs;
}

static void handle_get_stats(const struct caller *c, uint64_t id)
{
    static Enclaved__PeerLinkInfo peer_infos[PEER_LINKS_MAX];
    static Enclaved__PeerLinkInfo *peer_ptrs[PEER_LINKS_MAX];
    static char peer_addrs[PEER_LINKS_MAX][CONFIG_HOST_MAX + 8];
    const struct core *core = c->core;
    const struct core_stats *st = &core->stats;
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
    stats.channels_raw = channel_count_by_type(core->channels, CHANNEL_TYPE_RAW);
    stats.channels_nk = channel_count_by_type(core->channels, CHANNEL_TYPE_CLIENT_NK);
    stats.channels_kk = channel_count_by_type(core->channels, CHANNEL_TYPE_SERVER_KK_INITIATOR) +
                        channel_count_by_type(core->channels, CHANNEL_TYPE_SERVER_KK_RESPONDER);
    stats.processes = procs_count(core->processes);
    stats.handshakes_ok = st->handshakes_ok;
    stats.handshakes_failed = st->handshakes_failed;
    stats.lua_errors = st->lua_errors;
    stats.limit_hits = st->limit_hits;
    stats.memory_rss = platform_rss_bytes();
    stats.start_time_micros = core->started_micros;
    stats.uptime_ms = platform_monotonic_ms() - core->started_ms;
    Enclaved__ProcessInfo *infos = NULL;
    Enclaved__ProcessInfo **ptrs = NULL;
    size_t procs = 0;
    if (fill_process_infos(core->processes, &infos, &ptrs, &procs) != STATUS_OK) {
        encode_status(c->out, id, STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    stats.n_processes_info = procs;
    stats.processes_info = ptrs;
    fill_peer_links(core, &stats, peer_infos, peer_ptrs, peer_addrs);
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_STATS;
    r.stats = &stats;
    encode_response(c->out, &r);
    free(infos);
    free(ptrs);
}

static void handle_process_create(const struct caller *c, uint64_t id,
                                  const Enclaved__ProcessCreate *req)
{
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    Enclaved__ProcessCreated created = ENCLAVED__PROCESS_CREATED__INIT;
    const char *name = req->name != NULL ? req->name : "";
    struct proc *p = NULL;
    status_t st;

    st = procs_create(c->core->processes, name, req->lua_source.data, req->lua_source.len,
                      req->memory_limit, &p);
    if (st != STATUS_OK) {
        LOG_I("ProcessCreate '%.64s' refused", name);
        answer_failure_logged(c, id, st, LOG_INFO);
        return;
    }
    created.process_id = process_id(p->lua);
    created.code_hash.data = (uint8_t *)process_code_hash(p->lua);
    created.code_hash.len = PROCESS_CODE_HASH_LEN;
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_PROCESS_CREATED;
    r.process_created = &created;
    encode_response(c->out, &r);
}

static void handle_process_destroy(const struct caller *c, uint64_t id,
                                   const Enclaved__ProcessDestroy *req)
{
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    Enclaved__ProcessDestroyed destroyed = ENCLAVED__PROCESS_DESTROYED__INIT;
    struct proc_target target = target_from_wire(
        req->target_case == ENCLAVED__PROCESS_DESTROY__TARGET_PROCESS_ID,
        req->target_case == ENCLAVED__PROCESS_DESTROY__TARGET_CODE_HASH, req->process_id,
        &req->code_hash);
    struct proc *p = NULL;
    uint8_t hash[PEER_HASH_LEN];
    status_t st;

    st = procs_resolve(c->core->processes, &target, &p);
    if (st != STATUS_OK) {
        answer_failure(c, id, st);
        return;
    }
    destroyed.process_id = process_id(p->lua);
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_PROCESS_DESTROYED;
    r.process_destroyed = &destroyed;
    encode_response(c->out, &r);
    /* Its consequences: each channel's ChannelClosed UNAVAILABLE, and the
     * end of the peer links of the last process with this code. */
    memcpy(hash, process_code_hash(p->lua), sizeof(hash));
    procs_destroy(c->core->processes, p);
    peer_forget_hash(c->core->peers, hash);
}

static void handle_process_list(const struct caller *c, uint64_t id)
{
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    Enclaved__ProcessListResult list = ENCLAVED__PROCESS_LIST_RESULT__INIT;
    Enclaved__ProcessInfo *infos = NULL;
    Enclaved__ProcessInfo **ptrs = NULL;
    size_t n = 0;

    if (fill_process_infos(c->core->processes, &infos, &ptrs, &n) != STATUS_OK) {
        encode_status(c->out, id, STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    list.n_processes = n;
    list.processes = ptrs;
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_PROCESS_LIST;
    r.process_list = &list;
    encode_response(c->out, &r);
    free(infos);
    free(ptrs);
}

static void handle_reset(const struct caller *c, uint64_t id)
{
    size_t count;

    encode_status(c->out, id, STATUS_OK, "");
    /* Its consequences: every channel's ChannelClosed UNAVAILABLE. */
    count = procs_reset(c->core->processes);
    /* No process is left, so no peer link either. */
    peer_stop_all(c->core->peers);
    LOG_I("reset: %zu processes destroyed", count);
}

/* PeerConnect: a server-owned link, answered at once with its id. */
static void handle_peer_connect(const struct caller *c, uint64_t id,
                                const Enclaved__PeerConnect *req)
{
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    Enclaved__PeerConnected connected = ENCLAVED__PEER_CONNECTED__INIT;
    char host[CONFIG_HOST_MAX];
    uint16_t port = 0;
    uint32_t link_id = 0;
    status_t st;

    if (req->address == NULL || strlen(req->address) >= CONFIG_LINE_MAX ||
        config_parse_address(req->address, host, &port) != STATUS_OK || port == 0) {
        status_trail_reset();
        encode_status(c->out, id, STATUS_INVALID_ARGUMENT, "address must be dotted IPv4 HOST:PORT");
        return;
    }
    if (req->code_hash.len != PEER_HASH_LEN) {
        encode_status(c->out, id, STATUS_INVALID_ARGUMENT, "code_hash must be 32 bytes");
        return;
    }
    st = peer_add(c->core->peers, host, port, req->code_hash.data, PEER_ORIGIN_REQUEST, &link_id);
    if (st != STATUS_OK) {
        answer_failure(c, id, st);
        return;
    }
    connected.link_id = link_id;
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_PEER_CONNECTED;
    r.peer_connected = &connected;
    /* The first dial is due now: the driver rearms its timer after this input. */
    encode_response(c->out, &r);
}

static void handle_channel_open(const struct caller *c, uint64_t id,
                                const Enclaved__ChannelOpen *req)
{
    struct core *core = c->core;
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    Enclaved__ChannelOpened opened = ENCLAVED__CHANNEL_OPENED__INIT;
    struct proc_target target = target_from_wire(
        req->target_case == ENCLAVED__CHANNEL_OPEN__TARGET_PROCESS_ID,
        req->target_case == ENCLAVED__CHANNEL_OPEN__TARGET_CODE_HASH, req->process_id,
        &req->code_hash);
    enum channel_type type = CHANNEL_TYPE_RAW;
    struct proc *p = NULL;
    uint32_t channel_id = 0;
    status_t st;

    /* Resolve: the type, the target and the limits; then act. */
    st = channel_type_from_wire(req->type, &type);
    if (st == STATUS_OK) {
        st = procs_resolve(core->processes, &target, &p);
    }
    if (st == STATUS_OK) {
        st = channel_check_open(core->channels, &p->channels, type);
    }
    if (st == STATUS_OK) {
        st = channel_open(core->channels, c->owner, &p->channels, type, &channel_id);
    }
    if (st != STATUS_OK) {
        answer_failure(c, id, st);
        return;
    }
    opened.channel_id = channel_id;
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_CHANNEL_OPENED;
    r.channel_opened = &opened;
    encode_response(c->out, &r);
    /* Its consequences: HandleChannelCreate (raw) or our first handshake
     * message (KK initiator). */
    channel_start(core->channels, channel_id);
}

static void handle_request(const struct caller *c, const Enclaved__Request *req)
{
    const ProtobufCFieldDescriptor *kind = protobuf_c_message_descriptor_get_field(
        &enclaved__request__descriptor, (unsigned)req->body_case);

    LOG_D("connection %llu: request %llu %s", (unsigned long long)c->out->conn_id,
          (unsigned long long)req->id, kind != NULL ? kind->name : "(none)");
    switch (req->body_case) {
    case ENCLAVED__REQUEST__BODY_PING:
        encode_status(c->out, req->id, STATUS_OK, "");
        break;
    case ENCLAVED__REQUEST__BODY_GET_INFO:
        handle_get_info(c, req->id);
        break;
    case ENCLAVED__REQUEST__BODY_GET_STATS:
        handle_get_stats(c, req->id);
        break;
    case ENCLAVED__REQUEST__BODY_PROCESS_CREATE:
        handle_process_create(c, req->id, req->process_create);
        break;
    case ENCLAVED__REQUEST__BODY_PROCESS_DESTROY:
        handle_process_destroy(c, req->id, req->process_destroy);
        break;
    case ENCLAVED__REQUEST__BODY_PROCESS_LIST:
        handle_process_list(c, req->id);
        break;
    case ENCLAVED__REQUEST__BODY_RESET:
        handle_reset(c, req->id);
        break;
    case ENCLAVED__REQUEST__BODY_CHANNEL_OPEN:
        handle_channel_open(c, req->id, req->channel_open);
        break;
    case ENCLAVED__REQUEST__BODY_PEER_CONNECT:
        handle_peer_connect(c, req->id, req->peer_connect);
        break;
    case ENCLAVED__REQUEST__BODY__NOT_SET:
        if (req->base.n_unknown_fields > 0) {
            encode_status(c->out, req->id, STATUS_UNIMPLEMENTED, "unknown request kind");
        } else {
            encode_status(c->out, req->id, STATUS_INVALID_ARGUMENT, "request has no body");
        }
        break;
    default:
        encode_status(c->out, req->id, STATUS_UNIMPLEMENTED, "request not implemented");
        break;
    }
}

void dispatch_frame(struct core *core, struct channel_owner *owner, struct encoder *out,
                    const uint8_t *body, size_t len)
{
    const struct caller caller = {core, owner, out};
    const struct caller *c = &caller;
    struct channel_table *channels = core->channels;
    Enclaved__ClientFrame *frame;

    frame = enclaved__client_frame__unpack(&arena_allocator, len, body);
    if (frame == NULL) {
        LOG_W("connection %llu: malformed ClientFrame (%zu bytes)",
              (unsigned long long)c->out->conn_id, len);
        encode_status(c->out, 0, STATUS_INVALID_ARGUMENT, "malformed ClientFrame");
        arena_reset();
        return;
    }
    switch (frame->kind_case) {
    case ENCLAVED__CLIENT_FRAME__KIND_REQUEST:
        handle_request(c, frame->request);
        break;
    case ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_DATA:
        channel_input(channels, c->owner, frame->channel_data->channel_id,
                      frame->channel_data->data.data, frame->channel_data->data.len);
        break;
    case ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_CLOSE:
        channel_close(channels, c->owner, frame->channel_close->channel_id);
        break;
    default:
        encode_status(c->out, 0, STATUS_INVALID_ARGUMENT, "ClientFrame has no kind");
        break;
    }
    arena_reset();
}
