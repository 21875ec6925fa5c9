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
    struct peer_link *head;       /* ascending ids */
    uint32_t next_id;
    size_t count;
};

status_t peer_table_new(struct peer_table **out)
{
    struct peer_table *t = calloc(1, sizeof(*t));

    ENSURE(t != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    t->next_id = 1;
    *out = t;
    return STATUS_OK;
}

void peer_table_free(struct peer_table *t)
{
    if (t == NULL) {
        return;
    }
    while (t->head != NULL) {
        struct peer_link *next = t->head->next;

        ENCLAVED_ASSERT(t->head->session == NULL && t->head->dial == NULL);
        free(t->head);
        t->head = next;
    }
    free(t);
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

struct peer_link *peer_find(const struct core *core, uint32_t link_id)
{
    for (struct peer_link *l = core->peers->head; l != NULL; l = l->next) {
        if (l->id == link_id) {
            return l;
        }
    }
    return NULL;
}

const struct peer_link *peer_first(const struct core *core)
{
    return core->peers->head;
}

static void set_state(struct peer_link *l, enum peer_state state, uint64_t due_ms)
{
    l->state = state;
    l->due_ms = due_ms;
    l->since_micros = platform_time_micros();
}

/* The redial delay after the n-th consecutive failure: the minimum doubled
 * per failure up to the maximum, plus up to half of it again at random so
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

/* Starts the TCP connect; a dial that fails at once counts as a failure. */
static void dial(struct core *core, struct peer_link *l)
{
    uint64_t now = platform_monotonic_ms();

    set_state(l, PEER_CONNECTING, now + core->config.peer_connect_timeout_ms);
    l->dial = core->io.dial != NULL ? core->io.dial(core->io.ctx, l->id, l->host, l->port)
                                    : NULL;
    if (l->dial == NULL) {
        peer_link_failed(core, l->id, "cannot start the connection");
    }
}

status_t peer_add(struct core *core, const char *host, uint16_t port,
                  const uint8_t hash[PEER_HASH_LEN], enum peer_origin origin, uint32_t *link_id)
{
    struct peer_table *t = core->peers;
    struct peer_link *l;
    struct peer_link **tail = &t->head;

    for (l = t->head; l != NULL; l = l->next) {
        if (l->port == port && strcmp(l->host, host) == 0 &&
            memcmp(l->code_hash, hash, PEER_HASH_LEN) == 0) {
            *link_id = l->id;
            return STATUS_OK;
        }
    }
    ENSURE(procs_find_hash(core, hash, PEER_HASH_LEN) != NULL, STATUS_NOT_FOUND,
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
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = l;
    t->count++;
    LOG_I("peer link %u to %s:%u added (%s)", l->id, host, port,
          origin == PEER_ORIGIN_CONFIG ? "config" : "PeerConnect");
    *link_id = l->id;
    set_state(l, PEER_BACKOFF, platform_monotonic_ms());
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

void peer_add_configured(struct core *core)
{
    const struct config *cfg = &core->config;

    for (uint32_t a = 0; a < cfg->peer_app_count; a++) {
        struct proc *p = procs_oldest(core);

        while (p != NULL && strcmp(process_name(p->lua), cfg->peer_apps[a]) != 0) {
            p = p->next;
        }
        if (p == NULL) {
            LOG_W("peer_apps: no boot app named '%s'", cfg->peer_apps[a]);
        }
    }
    for (struct proc *p = procs_oldest(core); p != NULL; p = p->next) {
        if (!app_is_listed(cfg, process_name(p->lua))) {
            continue;
        }
        for (uint32_t i = 0; i < cfg->peer_count; i++) {
            uint32_t id = 0;

            status_trail_reset();
            if (peer_add(core, cfg->peers[i].host, cfg->peers[i].port, process_code_hash(p->lua),
                         PEER_ORIGIN_CONFIG, &id) != STATUS_OK) {
                LOG_W("peers: cannot add %s:%u for '%s': %s", cfg->peers[i].host,
                      cfg->peers[i].port, process_name(p->lua), status_trail_message());
            }
        }
    }
}

/* Lets go of the link's dial or session; the link itself stays. */
static void release_connection(struct core *core, struct peer_link *l)
{
    if (l->dial != NULL) {
        core->io.cancel_dial(core->io.ctx, l->dial);
        l->dial = NULL;
    }
    if (l->session != NULL) {
        core->io.hangup(core->io.ctx, l->session);
        l->session = NULL;
    }
    l->channel_id = 0;
    l->remote_channel_id = 0;
}

static void remove_link(struct core *core, struct peer_link *l)
{
    struct peer_table *t = core->peers;
    struct peer_link **pp = &t->head;

    release_connection(core, l);
    while (*pp != l) {
        pp = &(*pp)->next;
    }
    *pp = l->next;
    t->count--;
    LOG_I("peer link %u to %s:%u removed", l->id, l->host, l->port);
    free(l);
}

void peer_forget_hash(struct core *core, const uint8_t hash[PEER_HASH_LEN])
{
    struct peer_link *l = core->peers->head;

    if (procs_find_hash(core, hash, PEER_HASH_LEN) != NULL) {
        return;
    }
    while (l != NULL) {
        struct peer_link *next = l->next;

        if (memcmp(l->code_hash, hash, PEER_HASH_LEN) == 0) {
            remove_link(core, l);
        }
        l = next;
    }
}

void peer_stop_all(struct core *core)
{
    while (core->peers->head != NULL) {
        remove_link(core, core->peers->head);
    }
}

int peer_link_connected(struct core *core, uint32_t link_id, struct session *s)
{
    struct peer_link *l = peer_find(core, link_id);

    if (l == NULL || l->state != PEER_CONNECTING) {
        return 0;
    }
    l->dial = NULL;
    l->session = s;
    /* The ChannelOpen answer and the handshake share one deadline. */
    set_state(l, PEER_OPENING, platform_monotonic_ms() + core->config.handshake_timeout_ms);
    LOG_D("peer link %u: connected to %s:%u", l->id, l->host, l->port);
    return 1;
}

void peer_link_opened(struct core *core, uint32_t link_id, uint32_t channel_id,
                      uint32_t remote_channel_id)
{
    struct peer_link *l = peer_find(core, link_id);

    if (l == NULL || l->state != PEER_OPENING) {
        return;
    }
    l->channel_id = channel_id;
    l->remote_channel_id = remote_channel_id;
    set_state(l, PEER_HANDSHAKE, l->due_ms);
}

void peer_link_up(struct core *core, uint32_t link_id)
{
    struct peer_link *l = peer_find(core, link_id);

    if (l == NULL || l->state != PEER_HANDSHAKE) {
        return;
    }
    l->failures = 0;
    set_state(l, PEER_UP, 0);
    LOG_I("peer link %u to %s:%u up: channel %u", l->id, l->host, l->port, l->channel_id);
}

void peer_link_failed(struct core *core, uint32_t link_id, const char *reason)
{
    struct peer_link *l = peer_find(core, link_id);
    uint64_t delay;

    if (l == NULL || l->state == PEER_BACKOFF) {
        return;
    }
    release_connection(core, l);
    l->failures++;
    delay = backoff_ms(&core->config, l->failures);
    snprintf(l->last_error, sizeof(l->last_error), "%s", reason);
    set_state(l, PEER_BACKOFF, platform_monotonic_ms() + delay);
    LOG_I("peer link %u to %s:%u down: %s; redial in %llu ms", l->id, l->host, l->port, reason,
          (unsigned long long)delay);
}

void peer_link_session_closed(struct core *core, uint32_t link_id, const struct session *s,
                              const char *reason)
{
    struct peer_link *l = peer_find(core, link_id);

    /* A session the link already let go of (it failed, or redialled). */
    if (l == NULL || l->session != s) {
        return;
    }
    l->session = NULL;
    peer_link_failed(core, link_id, reason);
}

void peer_link_count(struct core *core, uint32_t link_id, int outbound, size_t bytes)
{
    struct peer_link *l = peer_find(core, link_id);

    if (l == NULL) {
        return;
    }
    if (outbound) {
        l->messages_out++;
        l->bytes_out += bytes;
    } else {
        l->messages_in++;
        l->bytes_in += bytes;
    }
}

int64_t peer_next_timeout_ms(const struct core *core, uint64_t now_ms)
{
    int64_t best = -1;

    for (const struct peer_link *l = core->peers->head; l != NULL; l = l->next) {
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

void peer_run_timers(struct core *core, uint64_t now_ms)
{
    /* A failure changes only the failing link, so the walk stays valid. */
    for (struct peer_link *l = core->peers->head; l != NULL; l = l->next) {
        if (l->state == PEER_UP || l->due_ms > now_ms) {
            continue;
        }
        switch (l->state) {
        case PEER_BACKOFF:
            dial(core, l);
            break;
        case PEER_CONNECTING:
            peer_link_failed(core, l->id, "connect timed out");
            break;
        case PEER_OPENING:
        case PEER_HANDSHAKE:
            peer_link_failed(core, l->id, "handshake timed out");
            break;
        case PEER_UP:
            break;
        }
    }
}
