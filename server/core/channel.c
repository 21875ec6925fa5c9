/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "core/channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "base/idmap.h"
#include "base/log.h"
#include "crypto/keypool.h"
#include "crypto/noise.h"
#include "crypto/rng.h"
#include "platform/platform.h"

enum {
    /* NK message 1 carries 1..32 acceptable code hashes. */
    CHANNEL_MAX_ACCEPTED_HASHES = 32,
    CHANNEL_HANDSHAKE_MAX = NOISE_KEY_LEN + CHANNEL_MAX_ACCEPTED_HASHES * PROCESS_CODE_HASH_LEN +
                            NOISE_TAG_LEN,
};

static const enum process_chan_type lua_type_of[CHANNEL_TYPE_COUNT] = {
#define CHANNEL_LUA_TYPE(name, chan) [CHANNEL_TYPE_##name] = chan,
    CHANNEL_TYPE_LIST(CHANNEL_LUA_TYPE)
#undef CHANNEL_LUA_TYPE
};

/* Only Noise channels carry this; a raw channel stays small. */
struct channel_crypto {
    struct noise_handshake *hs;           /* NULL once the handshake is done */
    struct noise_transport transport;     /* valid once hs is NULL */
    uint64_t deadline_ms;
    struct channel *channel;              /* back pointer, for the handshake list */
    TAILQ_ENTRY(channel_crypto) pending;  /* table's handshake list, deadline order */
    uint8_t strict_asked;                 /* NK message 1 carried the strict marker */
};

struct channel {
    uint32_t id;
    uint8_t type;                         /* enum channel_type */
    uint8_t open;                         /* HandleChannelCreate ran: Lua knows it */
    struct channel_owner *owner;
    struct channel_group *group;
    LIST_ENTRY(channel) by_owner;
    LIST_ENTRY(channel) by_group;
    struct channel_crypto *crypto;
};

struct channel_table {
    struct idmap by_id;
    const struct config *config;
    const struct keystore *keystore;
    struct core_stats *stats;
    struct process_host host;
    uint64_t count_by_type[CHANNEL_TYPE_COUNT];
    TAILQ_HEAD(, channel_crypto) handshakes;
    uint8_t *scratch;                     /* decrypt/encrypt buffer, grown to need */
    size_t scratch_cap;
};

static int host_channel_belongs(void *ctx, const struct process *p, uint32_t channel_id);
static void host_deliver(void *ctx, struct process *p, const struct process_output *out);

status_t channel_table_new(const struct config *cfg, const struct keystore *ks,
                           struct core_stats *stats, struct channel_table **out)
{
    struct channel_table *t = calloc(1, sizeof(*t));

    ENSURE(t != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    idmap_init(&t->by_id);
    t->config = cfg;
    t->keystore = ks;
    t->stats = stats;
    t->host.ctx = t;
    t->host.channel_belongs = host_channel_belongs;
    t->host.deliver = host_deliver;
    TAILQ_INIT(&t->handshakes);
    *out = t;
    return STATUS_OK;
}

void channel_table_free(struct channel_table *t)
{
    if (t == NULL) {
        return;
    }
    ENCLAVED_ASSERT(t->by_id.count == 0);
    idmap_clear(&t->by_id);
    free(t->scratch);
    free(t);
}

void channel_owner_init(struct channel_owner *o, const struct core_sink *sink, void *ctx)
{
    o->sink = sink;
    o->ctx = ctx;
    LIST_INIT(&o->channels);
}

void channel_group_init(struct channel_group *g, struct process *p)
{
    g->process = p;
    g->count = 0;
    LIST_INIT(&g->channels);
}

const struct process_host *channel_process_host(struct channel_table *t)
{
    return &t->host;
}

static struct channel *find(const struct channel_table *t, uint32_t id)
{
    return idmap_get(&t->by_id, id);
}

/* A scratch buffer of at least len bytes; it is reused by the next call, so
 * callers finish with it before anything else runs. */
static uint8_t *scratch(struct channel_table *t, size_t len)
{
    /* Never NULL on success, not even for an empty message. */
    if (len == 0) {
        len = 1;
    }
    if (t->scratch_cap < len) {
        uint8_t *grown = realloc(t->scratch, len);
        if (grown == NULL) {
            return NULL;
        }
        t->scratch = grown;
        t->scratch_cap = len;
    }
    return t->scratch;
}

static void send_data(struct channel *ch, const uint8_t *data, size_t len)
{
    ch->owner->sink->channel_data(ch->owner->ctx, ch->id, data, len);
}

static void send_closed(struct channel_table *t, struct channel_owner *o, uint32_t id,
                        status_t status, const char *reason)
{
    core_stats_count_status(t->stats, status);
    o->sink->channel_closed(o->ctx, id, status, reason);
}

static void unlink_channel(struct channel_table *t, struct channel *ch)
{
    idmap_remove(&t->by_id, ch->id);
    t->count_by_type[ch->type]--;
    LIST_REMOVE(ch, by_owner);
    LIST_REMOVE(ch, by_group);
    ch->group->count--;
    if (ch->crypto != NULL && ch->crypto->hs != NULL) {
        TAILQ_REMOVE(&t->handshakes, ch->crypto, pending);
    }
}

static void free_channel(struct channel *ch)
{
    if (ch->crypto != NULL) {
        noise_handshake_free(ch->crypto->hs);
        noise_transport_clear(&ch->crypto->transport);
        free(ch->crypto);
    }
    free(ch);
}

/* The one way a channel ends. run_close_hook: Lua sees HandleChannelClose
 * (if it knew the channel). notify_owner: the owner gets channel_closed. */
static void close_channel(struct channel_table *t, struct channel *ch, status_t status,
                          const char *reason, int run_close_hook, int notify_owner)
{
    uint32_t id = ch->id;
    struct channel_owner *owner = ch->owner;
    struct process *lua = ch->group->process;
    int was_open = ch->open;

    /* Unlink first, so Lua output addressed to this channel is refused. */
    unlink_channel(t, ch);
    free_channel(ch);
    LOG_D("channel %u closed: %s %s", id, status_name(status), reason);
    if (run_close_hook && was_open) {
        status_t st = process_handle_close(lua, id);
        if (st != STATUS_OK) {
            struct status_report r;

            status_trail_take(&r);
            t->stats->lua_errors++;
            LOG_I("process %u: HandleChannelClose(%u) failed: %s: %s", process_id(lua), id,
                  status_name(st), r.trail);
        }
    }
    if (notify_owner) {
        send_closed(t, owner, id, status, reason);
    }
}

/* A hook of group g's process failed on input to channel id: close it with
 * the mapped status and the bounded Lua message, counting the failure for
 * the process too. The channel may already be gone (Lua closed it); g is not. */
static void fail_hook(struct channel_table *t, struct channel_group *g, uint32_t id,
                      status_t status)
{
    struct status_report r;
    struct channel *ch;

    status_trail_take(&r);
    if (status == STATUS_RESOURCE_EXHAUSTED || status == STATUS_DEADLINE_EXCEEDED) {
        t->stats->limit_hits++;
        g->limit_hits++;
    } else {
        t->stats->lua_errors++;
        g->errors++;
    }
    ch = find(t, id);
    if (ch == NULL) {
        return;
    }
    LOG_I("channel %u: process %u hook failed: %s: %s", id, process_id(ch->group->process),
          status_name(status), r.trail);
    /* DESIGN §5: Lua hears of every close it did not make itself, so a
     * broadcast app drops the id of a channel its own error closed. */
    close_channel(t, ch, status, r.message, 1, 1);
}

/* Crypto failures get a fixed reason on the wire; the detail (why, and the
 * trail of the crypto call) is logged. */
static void fail_crypto(struct channel_table *t, struct channel *ch, status_t status,
                        const char *why)
{
    const char *reason = status == STATUS_DATA_LOSS ? "decrypt failed" : "handshake failed";
    struct status_report r;

    status_trail_take(&r);
    if (ch->crypto->hs != NULL) {
        t->stats->handshakes_failed++;
    }
    LOG_W("channel %u: %s: %s%s%s", ch->id, reason, why, r.trail[0] != '\0' ? ": " : "",
          r.trail);
    /* Lua hears of it only if HandleChannelCreate ran (a failed decrypt
     * after the handshake), never for a failed handshake. */
    close_channel(t, ch, status, reason, 1, 1);
}

/* The channel is open: Lua learns of it. */
static void open_for_lua(struct channel_table *t, struct channel *ch)
{
    uint32_t id = ch->id;
    struct channel_group *g = ch->group;
    status_t st;

    ch->open = 1;
    st = process_handle_create(g->process, id, lua_type_of[ch->type]);
    if (st != STATUS_OK) {
        fail_hook(t, g, id, st);
    }
}

static status_t start_crypto(struct channel_table *t, struct channel *ch)
{
    enum noise_pattern pattern = ch->type == CHANNEL_TYPE_CLIENT_NK ? NOISE_PATTERN_NK
                                                                    : NOISE_PATTERN_KK;
    enum noise_role role = ch->type == CHANNEL_TYPE_SERVER_KK_INITIATOR ? NOISE_ROLE_INITIATOR
                                                                        : NOISE_ROLE_RESPONDER;
    /* KK peers are enclaves of the same fleet: they hold our static key. */
    const uint8_t *remote = pattern == NOISE_PATTERN_KK ? keystore_public_key(t->keystore)
                                                         : NULL;
    struct channel_crypto *cr = calloc(1, sizeof(*cr));
    uint8_t e_private[X25519_KEY_LEN];
    uint8_t e_public[X25519_KEY_LEN];

    ENSURE(cr != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    if (noise_handshake_new(pattern, role, t->keystore, remote, NULL, 0, rng_bytes, NULL,
                            &cr->hs) != STATUS_OK) {
        free(cr);
        FAIL(STATUS_INTERNAL, "cannot start a handshake");
    }
    /* Our ephemeral key, computed ahead on the other core when one is ready. */
    if (keypool_take(e_private, e_public)) {
        (void)noise_handshake_use_ephemeral(cr->hs, e_private, e_public);
        mbedtls_platform_zeroize(e_private, sizeof(e_private));
    }
    cr->deadline_ms = platform_monotonic_ms() + t->config->handshake_timeout_ms;
    cr->channel = ch;
    ch->crypto = cr;
    return STATUS_OK;
}

/* Writes our handshake message carrying this process's code hash. */
static status_t write_handshake(struct channel *ch)
{
    uint8_t msg[NOISE_KEY_LEN + PROCESS_CODE_HASH_LEN + NOISE_TAG_LEN];
    size_t len = 0;

    TRY(noise_handshake_write_message(ch->crypto->hs, process_code_hash(ch->group->process),
                                      PROCESS_CODE_HASH_LEN, msg, sizeof(msg), &len));
    send_data(ch, msg, len);
    return STATUS_OK;
}

/* The handshake is complete: keep the transport keys and open for Lua. */
static void finish_handshake(struct channel_table *t, struct channel *ch)
{
    struct channel_crypto *cr = ch->crypto;

    if (noise_handshake_split(cr->hs, &cr->transport) != STATUS_OK) {
        fail_crypto(t, ch, STATUS_PERMISSION_DENIED, "split failed");
        return;
    }
    /* DESIGN §6: KK and strict-asking NK clients get strict framing of their
     * input; other NK clients get libsignal's. */
    if (ch->type == CHANNEL_TYPE_CLIENT_NK && !cr->strict_asked) {
        cr->transport.recv_framing = NOISE_FRAMING_LIBSIGNAL;
    }
    TAILQ_REMOVE(&t->handshakes, cr, pending);
    noise_handshake_free(cr->hs);
    cr->hs = NULL;
    t->stats->handshakes_ok++;
    open_for_lua(t, ch);
}

/* Whether the peer's payload attests our code: NK lists acceptable hashes,
 * KK must carry exactly ours. An NK list that also holds the strict marker
 * asks for strict framing (noise.h). */
static int payload_accepts(struct channel *ch, const uint8_t *payload, size_t len)
{
    const uint8_t *ours = process_code_hash(ch->group->process);
    int accepted = 0;

    if (ch->type != CHANNEL_TYPE_CLIENT_NK) {
        return len == PROCESS_CODE_HASH_LEN && memcmp(payload, ours, len) == 0;
    }
    if (len == 0 || len % PROCESS_CODE_HASH_LEN != 0) {
        return 0;
    }
    for (size_t i = 0; i < len; i += PROCESS_CODE_HASH_LEN) {
        if (memcmp(payload + i, ours, PROCESS_CODE_HASH_LEN) == 0) {
            accepted = 1;
        }
        if (memcmp(payload + i, noise_strict_framing_marker, PROCESS_CODE_HASH_LEN) == 0) {
            ch->crypto->strict_asked = 1;
        }
    }
    return accepted;
}

/* Why reading a handshake message failed, for the log (the wire gets only
 * "handshake failed"). A payload that does not decrypt means the two sides
 * derived different keys: for NK message 1, the client encrypted to another
 * server static key than ours (a wrong pinned key); for KK, the peer holds
 * another fleet key. Either way the bytes may also have been altered. */
static const char *handshake_failure(const struct channel *ch)
{
    const char *why = status_trail_message();

    /* The innermost why of an AEAD failure is the cipher's "bad tag". */
    if (strcmp(why, "bad tag") != 0 && strcmp(why, "handshake payload failed to decrypt") != 0) {
        return "malformed handshake message";
    }
    return ch->type == CHANNEL_TYPE_CLIENT_NK
               ? "NK message 1 does not decrypt: the client pinned another server key "
                 "(or the message was altered)"
               : "KK message does not decrypt: the peer holds another fleet key "
                 "(or the message was altered)";
}

static void handle_handshake_input(struct channel_table *t, struct channel *ch,
                                   const uint8_t *data, size_t len)
{
    uint8_t payload[CHANNEL_HANDSHAKE_MAX];
    size_t payload_len = 0;

    if (len > CHANNEL_HANDSHAKE_MAX) {
        fail_crypto(t, ch, STATUS_PERMISSION_DENIED, "handshake message too long");
        return;
    }
    if (noise_handshake_read_message(ch->crypto->hs, data, len, payload, sizeof(payload),
                                     &payload_len) != STATUS_OK) {
        fail_crypto(t, ch, STATUS_PERMISSION_DENIED, handshake_failure(ch));
        return;
    }
    if (!payload_accepts(ch, payload, payload_len)) {
        fail_crypto(t, ch, STATUS_PERMISSION_DENIED, "peer does not accept this code hash");
        return;
    }
    if (!noise_handshake_is_complete(ch->crypto->hs) && write_handshake(ch) != STATUS_OK) {
        fail_crypto(t, ch, STATUS_PERMISSION_DENIED, "cannot write the handshake reply");
        return;
    }
    if (noise_handshake_is_complete(ch->crypto->hs)) {
        finish_handshake(t, ch);
    }
}

status_t channel_check_open(struct channel_table *t, struct channel_group *g,
                            enum channel_type type)
{
    ENSURE((unsigned)type < CHANNEL_TYPE_COUNT, STATUS_INVALID_ARGUMENT, "unknown channel type");
    if (g->count >= t->config->max_channels_per_process) {
        t->stats->limit_hits++;
        g->limit_hits++;
        FAIL(STATUS_RESOURCE_EXHAUSTED, "too many channels (max_channels_per_process)");
    }
    return STATUS_OK;
}

status_t channel_open(struct channel_table *t, struct channel_owner *o, struct channel_group *g,
                      enum channel_type type, uint32_t *id)
{
    struct channel *ch = calloc(1, sizeof(*ch));

    ENSURE(ch != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    ch->type = (uint8_t)type;
    ch->owner = o;
    ch->group = g;
    if (type != CHANNEL_TYPE_RAW && start_crypto(t, ch) != STATUS_OK) {
        free(ch);
        FAIL(STATUS_INTERNAL, "cannot start the channel");
    }
    ch->id = idmap_next_key(&t->by_id);
    if (idmap_put(&t->by_id, ch->id, ch) != STATUS_OK) {
        free_channel(ch);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    t->count_by_type[type]++;
    LIST_INSERT_HEAD(&o->channels, ch, by_owner);
    LIST_INSERT_HEAD(&g->channels, ch, by_group);
    g->count++;
    if (ch->crypto != NULL) {
        /* Every handshake has the same timeout: appending keeps deadline order. */
        TAILQ_INSERT_TAIL(&t->handshakes, ch->crypto, pending);
    }
    LOG_D("channel %u opened to process %u", ch->id, process_id(g->process));
    *id = ch->id;
    return STATUS_OK;
}

void channel_start(struct channel_table *t, uint32_t id)
{
    struct channel *ch = find(t, id);

    if (ch == NULL) {
        return;
    }
    if (ch->type == CHANNEL_TYPE_RAW) {
        open_for_lua(t, ch);
    } else if (ch->type == CHANNEL_TYPE_SERVER_KK_INITIATOR && write_handshake(ch) != STATUS_OK) {
        fail_crypto(t, ch, STATUS_PERMISSION_DENIED, "cannot write the first message");
    }
}

static void deliver_message(struct channel_table *t, struct channel *ch, const uint8_t *data,
                            size_t len)
{
    struct channel_group *g = ch->group;
    uint32_t id = ch->id;
    status_t st;

    g->messages++;
    st = process_handle_message(g->process, id, data, len);
    if (st != STATUS_OK) {
        fail_hook(t, g, id, st);
    }
}

void channel_input(struct channel_table *t, struct channel_owner *o, uint32_t id,
                   const uint8_t *data, size_t len)
{
    struct channel *ch = find(t, id);
    struct channel_crypto *cr;
    uint8_t *plain;
    size_t plain_len = 0;

    if (ch == NULL || ch->owner != o) {
        LOG_D("data for channel %u, which its sender does not own, dropped", id);
        return;
    }
    cr = ch->crypto;
    if (cr == NULL) {
        if (len > t->config->max_message) {
            t->stats->limit_hits++;
            ch->group->limit_hits++;
            close_channel(t, ch, STATUS_RESOURCE_EXHAUSTED, "message over max_message", 0, 1);
            return;
        }
        deliver_message(t, ch, data, len);
        return;
    }
    if (cr->hs != NULL) {
        handle_handshake_input(t, ch, data, len);
        return;
    }
    if (len > noise_transport_sealed_len(t->config->max_message)) {
        t->stats->limit_hits++;
        ch->group->limit_hits++;
        close_channel(t, ch, STATUS_RESOURCE_EXHAUSTED, "message over max_message", 0, 1);
        return;
    }
    plain = scratch(t, len);
    if (plain == NULL) {
        close_channel(t, ch, STATUS_RESOURCE_EXHAUSTED, "out of memory", 0, 1);
        return;
    }
    if (noise_transport_decrypt(&cr->transport, data, len, plain, len, &plain_len) != STATUS_OK) {
        /* The wire gets "decrypt failed"; the log says which rule it broke. */
        fail_crypto(t, ch, STATUS_DATA_LOSS, "transport message failed to decrypt");
        return;
    }
    deliver_message(t, ch, plain, plain_len);
}

void channel_close(struct channel_table *t, struct channel_owner *o, uint32_t id)
{
    struct channel *ch = find(t, id);

    if (ch == NULL || ch->owner != o) {
        LOG_D("close of channel %u, which its sender does not own, ignored", id);
        return;
    }
    close_channel(t, ch, STATUS_OK, "closed by the client", 1, 1);
}

void channel_close_owner(struct channel_table *t, struct channel_owner *o)
{
    while (!LIST_EMPTY(&o->channels)) {
        close_channel(t, LIST_FIRST(&o->channels), STATUS_OK, "connection closed", 1, 0);
    }
}

void channel_close_group(struct channel_table *t, struct channel_group *g)
{
    while (!LIST_EMPTY(&g->channels)) {
        close_channel(t, LIST_FIRST(&g->channels), STATUS_UNAVAILABLE, "process destroyed", 1, 1);
    }
}

/* process_host: whether channel_id is an open channel of p. */
static int host_channel_belongs(void *ctx, const struct process *p, uint32_t channel_id)
{
    struct channel *ch = find(ctx, channel_id);

    return ch != NULL && ch->open && ch->group->process == p &&
           (ch->crypto == NULL || ch->crypto->hs == NULL);
}

/* process_host: one validated output of p, to its channel's owner. */
static void host_deliver(void *ctx, struct process *p, const struct process_output *out)
{
    struct channel_table *t = ctx;
    struct channel *ch = find(t, out->channel_id);
    uint8_t *sealed;
    size_t sealed_len = 0;

    /* An earlier output of the same hook may have closed it. */
    if (ch == NULL || ch->group->process != p) {
        return;
    }
    if (out->is_close) {
        close_channel(t, ch, out->status, "closed by the process", 0, 1);
        return;
    }
    if (ch->crypto == NULL) {
        send_data(ch, out->data, out->len);
        return;
    }
    sealed_len = noise_transport_sealed_len(out->len);
    sealed = scratch(t, sealed_len);
    if (sealed == NULL ||
        noise_transport_encrypt(&ch->crypto->transport, out->data, out->len, sealed, sealed_len,
                                &sealed_len) != STATUS_OK) {
        struct status_report r;

        status_trail_take(&r);
        LOG_W("channel %u: cannot encrypt: %s", ch->id, r.trail);
        close_channel(t, ch, STATUS_INTERNAL, "cannot encrypt", 0, 1);
        return;
    }
    send_data(ch, sealed, sealed_len);
}

int64_t channel_next_timeout_ms(const struct channel_table *t, uint64_t now_ms)
{
    const struct channel_crypto *head = TAILQ_FIRST(&t->handshakes);

    if (head == NULL) {
        return -1;
    }
    return head->deadline_ms <= now_ms ? 0 : (int64_t)(head->deadline_ms - now_ms);
}

void channel_run_timers(struct channel_table *t, uint64_t now_ms)
{
    struct channel_crypto *head;

    while ((head = TAILQ_FIRST(&t->handshakes)) != NULL && head->deadline_ms <= now_ms) {
        fail_crypto(t, head->channel, STATUS_PERMISSION_DENIED, "handshake timed out");
    }
}

int channel_is_open(const struct channel_table *t, uint32_t id)
{
    const struct channel *ch = idmap_get(&t->by_id, id);

    return ch != NULL && ch->open;
}

uint64_t channel_count_by_type(const struct channel_table *t, enum channel_type type)
{
    return (unsigned)type < CHANNEL_TYPE_COUNT ? t->count_by_type[type] : 0;
}

uint32_t channel_group_count(const struct channel_group *g)
{
    return g->count;
}
