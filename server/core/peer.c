/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "core/peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/procs.h"
#include "crypto/rng.h"
#include "lua/process.h"
#include "platform/platform.h"

struct peer_table {
    const struct config *config;       /* borrowed */
    struct process_table *processes;   /* borrowed */
    struct channel_table *channels;    /* borrowed */
    TAILQ_HEAD(, peer_link) links;     /* ascending ids */
    uint32_t next_id;
    size_t count;
    const struct peer_dialer *dialer;  /* borrowed; NULL: nothing dials */
};

static void release_connection(struct peer_link *l);

status_t peer_table_new(const struct config *cfg, struct process_table *processes,
                        struct channel_table *channels, struct peer_table **out)
{
    struct peer_table *t = calloc(1, sizeof(*t));

    ENSURE(t != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    t->config = cfg;
    t->processes = processes;
    t->channels = channels;
    TAILQ_INIT(&t->links);
    t->next_id = 1;
    *out = t;
    return STATUS_OK;
}

void peer_table_free(struct peer_table *t)
{
    struct peer_link *l;

    if (t == NULL) {
        return;
    }
    while ((l = TAILQ_FIRST(&t->links)) != NULL) {
        ENCLAVED_ASSERT(l->conn == NULL && l->dial == NULL);
        TAILQ_REMOVE(&t->links, l, next);
        free(l);
    }
    free(t);
}

void peer_set_dialer(struct peer_table *t, const struct peer_dialer *d)
{
    t->dialer = d;
}

const char *peer_state_name(enum peer_state state)
{
    switch (state) {
    case PEER_BACKOFF:
        return "backoff";
    case PEER_CONNECTING:
        return "connecting";
    case PEER_OPENING:
        return "opening";
    case PEER_HANDSHAKE:
        return "handshake";
    case PEER_UP:
        return "up";
    }
    return "?";
}

struct peer_link *peer_find(const struct peer_table *t, uint32_t link_id)
{
    struct peer_link *l;

    TAILQ_FOREACH(l, &t->links, next) {
        if (l->id == link_id) {
            return l;
        }
    }
    return NULL;
}

const struct peer_link *peer_first(const struct peer_table *t)
{
    return TAILQ_FIRST(&t->links);
}

const struct peer_link *peer_next(const struct peer_link *l)
{
    return TAILQ_NEXT(l, next);
}

static void set_state(struct peer_link *l, enum peer_state state, uint64_t due_ms)
{
    l->state = state;
    l->due_ms = due_ms;
    l->since_micros = platform_time_micros();
}

/* The redial delay after the n-th consecutive failure: the minimum doubled
 * per failure up to the maximum, plus up to half of it again at random, so
 * members that failed together do not redial together. */
static uint64_t backoff_ms(const struct config *cfg, uint32_t failures)
{
    uint64_t delay = cfg->peer_backoff_min_ms;
    uint32_t jitter = 0;

    for (uint32_t i = 1; i < failures && delay < cfg->peer_backoff_max_ms; i++) {
        delay *= 2;
    }
    if (delay > cfg->peer_backoff_max_ms) {
        delay = cfg->peer_backoff_max_ms;
    }
    if (delay >= 2 && rng_bytes(NULL, (uint8_t *)&jitter, sizeof(jitter)) == STATUS_OK) {
        delay += jitter % (delay / 2);
    }
    return delay;
}

/* {====================================================== the link's sink */

/* The local KK initiator's output: relayed to the remote's channel. */
static void link_channel_data(void *ctx, uint32_t channel_id, const uint8_t *data, size_t len)
{
    struct peer_link *l = ctx;

    (void)channel_id;
    if (l->conn == NULL) {
        return;
    }
    l->messages_out++;
    l->bytes_out += len;
    l->ops->send(l->conn, l->remote_channel_id, data, len);
}

/* Records a failure; the channel table is not touched (the sink's caller
 * may be inside it). */
static void mark_failed(struct peer_link *l, const char *reason)
{
    uint64_t delay;

    release_connection(l);
    l->channel_id = 0;
    l->remote_channel_id = 0;
    l->failures++;
    delay = backoff_ms(l->table->config, l->failures);
    snprintf(l->last_error, sizeof(l->last_error), "%s", reason);
    set_state(l, PEER_BACKOFF, platform_monotonic_ms() + delay);
    LOG_I("peer link %u to %s:%u down: %s; redial in %llu ms", l->id, l->host, l->port, reason,
          (unsigned long long)delay);
}

/* The core closed the local channel (a Lua close, a hook or crypto error,
 * a handshake timeout, the process destroyed): the link fails with that. */
static void link_channel_closed(void *ctx, uint32_t channel_id, status_t status,
                                const char *reason)
{
    struct peer_link *l = ctx;
    char why[PEER_ERROR_MAX];

    (void)channel_id;
    if (l->state == PEER_BACKOFF) {
        return;
    }
    snprintf(why, sizeof(why), "local channel closed: %s %.60s", status_name(status),
             reason != NULL ? reason : "");
    mark_failed(l, why);
}

static const struct core_sink link_sink = {link_channel_data, link_channel_closed};

/* }====================================================== */

/* Starts the TCP connect; a dial that fails at once counts as a failure. */
static void dial(struct peer_table *t, struct peer_link *l)
{
    const struct peer_dialer *d = t->dialer;

    set_state(l, PEER_CONNECTING, platform_monotonic_ms() + t->config->peer_connect_timeout_ms);
    l->dial = d != NULL ? d->dial(d->ctx, l->id, l->host, l->port) : NULL;
    if (l->dial == NULL) {
        mark_failed(l, "cannot start the connection");
    }
}

static struct proc *find_process(const struct peer_table *t, const uint8_t *hash)
{
    struct proc_target target = {PROC_TARGET_CODE_HASH, 0, hash, PEER_HASH_LEN};
    struct proc *p = NULL;

    if (procs_resolve(t->processes, &target, &p) != STATUS_OK) {
        return NULL;
    }
    return p;
}

status_t peer_add(struct peer_table *t, const char *host, uint16_t port,
                  const uint8_t hash[PEER_HASH_LEN], enum peer_origin origin, uint32_t *link_id)
{
    struct peer_link *l;

    TAILQ_FOREACH(l, &t->links, next) {
        if (l->port == port && strcmp(l->host, host) == 0 &&
            memcmp(l->code_hash, hash, PEER_HASH_LEN) == 0) {
            *link_id = l->id;
            return STATUS_OK;
        }
    }
    ENSURE(find_process(t, hash) != NULL, STATUS_NOT_FOUND,
           "no local process has this code hash");
    ENSURE(t->count < PEER_LINKS_MAX, STATUS_RESOURCE_EXHAUSTED, "too many peer links");
    ENSURE(strlen(host) < sizeof(l->host), STATUS_INVALID_ARGUMENT, "address too long");
    l = calloc(1, sizeof(*l));
    ENSURE(l != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    l->id = t->next_id++;
    snprintf(l->host, sizeof(l->host), "%s", host);
    l->port = port;
    memcpy(l->code_hash, hash, PEER_HASH_LEN);
    l->origin = origin;
    l->table = t;
    channel_owner_init(&l->owner, &link_sink, l);
    TAILQ_INSERT_TAIL(&t->links, l, next);
    t->count++;
    set_state(l, PEER_BACKOFF, platform_monotonic_ms());
    LOG_I("peer link %u to %s:%u added (%s)", l->id, host, port,
          origin == PEER_ORIGIN_CONFIG ? "config" : "PeerConnect");
    *link_id = l->id;
    return STATUS_OK;
}

static int app_is_listed(const struct config *cfg, const char *name)
{
    if (cfg->peer_app_count == 0) {
        return 1;
    }
    for (uint32_t i = 0; i < cfg->peer_app_count; i++) {
        if (strcmp(cfg->peer_apps[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

void peer_add_configured(struct peer_table *t)
{
    const struct config *cfg = t->config;

    for (uint32_t a = 0; a < cfg->peer_app_count; a++) {
        struct proc *p = procs_first(t->processes);

        while (p != NULL && strcmp(process_name(p->lua), cfg->peer_apps[a]) != 0) {
            p = procs_next(p);
        }
        if (p == NULL) {
            LOG_W("peer_apps: no boot app named '%s'", cfg->peer_apps[a]);
        }
    }
    for (struct proc *p = procs_first(t->processes); p != NULL; p = procs_next(p)) {
        if (!app_is_listed(cfg, process_name(p->lua))) {
            continue;
        }
        for (uint32_t i = 0; i < cfg->peer_count; i++) {
            uint32_t id = 0;

            status_trail_reset();
            if (peer_add(t, cfg->peers[i].host, cfg->peers[i].port, process_code_hash(p->lua),
                         PEER_ORIGIN_CONFIG, &id) != STATUS_OK) {
                struct status_report r;

                status_trail_take(&r);
                LOG_W("peers: cannot add %s:%u for '%s': %s", cfg->peers[i].host,
                      cfg->peers[i].port, process_name(p->lua), r.message);
            }
        }
    }
}

/* Lets go of the dial or the connection; the link itself stays. */
static void release_connection(struct peer_link *l)
{
    const struct peer_dialer *d = l->table->dialer;

    if (l->dial != NULL) {
        if (d != NULL) {
            d->cancel(d->ctx, l->dial);
        }
        l->dial = NULL;
    }
    if (l->conn != NULL) {
        void *conn = l->conn;

        l->conn = NULL;
        l->ops->hangup(conn);
    }
}

/* A failure outside the channel table: the local channel closes too, and
 * its process sees HandleChannelClose. */
static void fail_link(struct peer_link *l, const char *reason)
{
    mark_failed(l, reason);
    channel_close_owner(l->table->channels, &l->owner);
}

static void remove_link(struct peer_table *t, struct peer_link *l)
{
    release_connection(l);
    channel_close_owner(t->channels, &l->owner);
    TAILQ_REMOVE(&t->links, l, next);
    t->count--;
    LOG_I("peer link %u to %s:%u removed", l->id, l->host, l->port);
    free(l);
}

void peer_forget_hash(struct peer_table *t, const uint8_t hash[PEER_HASH_LEN])
{
    struct peer_link *l, *next;

    if (find_process(t, hash) != NULL) {
        return;
    }
    for (l = TAILQ_FIRST(&t->links); l != NULL; l = next) {
        next = TAILQ_NEXT(l, next);
        if (memcmp(l->code_hash, hash, PEER_HASH_LEN) == 0) {
            remove_link(t, l);
        }
    }
}

void peer_stop_all(struct peer_table *t)
{
    struct peer_link *l;

    while ((l = TAILQ_FIRST(&t->links)) != NULL) {
        remove_link(t, l);
    }
}

int peer_link_connected(struct peer_table *t, uint32_t link_id, const struct peer_conn_ops *ops,
                        void *conn)
{
    struct peer_link *l = peer_find(t, link_id);

    if (l == NULL || l->state != PEER_CONNECTING) {
        return 0;
    }
    l->dial = NULL;
    l->conn = conn;
    l->ops = ops;
    /* The ChannelOpen answer and the handshake share one deadline. */
    set_state(l, PEER_OPENING, platform_monotonic_ms() + t->config->handshake_timeout_ms);
    LOG_D("peer link %u: connected to %s:%u", l->id, l->host, l->port);
    return 1;
}

void peer_link_opened(struct peer_table *t, uint32_t link_id, uint32_t remote_id)
{
    struct peer_link *l = peer_find(t, link_id);
    struct proc *p;
    uint32_t id = 0;

    if (l == NULL || l->state != PEER_OPENING) {
        return;
    }
    p = find_process(t, l->code_hash);
    if (p == NULL) {
        fail_link(l, "no local process with this code hash");
        return;
    }
    status_trail_reset();
    if (channel_check_open(t->channels, &p->channels, CHANNEL_TYPE_SERVER_KK_INITIATOR) !=
            STATUS_OK ||
        channel_open(t->channels, &l->owner, &p->channels, CHANNEL_TYPE_SERVER_KK_INITIATOR,
                     &id) != STATUS_OK) {
        struct status_report r;
        char why[PEER_ERROR_MAX];

        status_trail_take(&r);
        snprintf(why, sizeof(why), "cannot open the local channel: %.60s", r.message);
        fail_link(l, why);
        return;
    }
    l->remote_channel_id = remote_id;
    l->channel_id = id;
    set_state(l, PEER_HANDSHAKE, l->due_ms);
    /* Message 1 goes out through the sink; a failure there fails the link. */
    channel_start(t->channels, id);
}

void peer_link_input(struct peer_table *t, uint32_t link_id, const uint8_t *data, size_t len)
{
    struct peer_link *l = peer_find(t, link_id);

    if (l == NULL || l->channel_id == 0) {
        return;
    }
    l->messages_in++;
    l->bytes_in += len;
    channel_input(t->channels, &l->owner, l->channel_id, data, len);
    if (l->state == PEER_HANDSHAKE && l->channel_id != 0 &&
        channel_is_open(t->channels, l->channel_id)) {
        l->failures = 0;
        set_state(l, PEER_UP, 0);
        LOG_I("peer link %u to %s:%u up: channel %u", l->id, l->host, l->port, l->channel_id);
    }
}

void peer_link_failed(struct peer_table *t, uint32_t link_id, const char *reason)
{
    struct peer_link *l = peer_find(t, link_id);

    if (l == NULL || l->state == PEER_BACKOFF) {
        return;
    }
    fail_link(l, reason);
}

void peer_link_conn_closed(struct peer_table *t, uint32_t link_id, const void *conn,
                           const char *reason)
{
    struct peer_link *l = peer_find(t, link_id);

    /* A connection the link let go of already (it failed, or redialled). */
    if (l == NULL || l->conn != conn) {
        return;
    }
    l->conn = NULL;
    fail_link(l, reason);
}

int64_t peer_next_timeout_ms(const struct peer_table *t, uint64_t now_ms)
{
    const struct peer_link *l;
    int64_t best = -1;

    TAILQ_FOREACH(l, &t->links, next) {
        int64_t left;

        /* Once up, the link has no timer: the channel and TCP watch it. */
        if (l->state == PEER_UP) {
            continue;
        }
        left = l->due_ms <= now_ms ? 0 : (int64_t)(l->due_ms - now_ms);
        if (best < 0 || left < best) {
            best = left;
        }
    }
    return best;
}

void peer_run_timers(struct peer_table *t, uint64_t now_ms)
{
    struct peer_link *l;

    /* A failure changes only the failing link, so the walk stays valid. */
    TAILQ_FOREACH(l, &t->links, next) {
        if (l->state == PEER_UP || l->due_ms > now_ms) {
            continue;
        }
        switch (l->state) {
        case PEER_BACKOFF:
            dial(t, l);
            break;
        case PEER_CONNECTING:
            fail_link(l, "connect timed out");
            break;
        case PEER_OPENING:
        case PEER_HANDSHAKE:
            fail_link(l, "handshake timed out");
            break;
        case PEER_UP:
            break;
        }
    }
}
