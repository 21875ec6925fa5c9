/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "core/channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "base/idmap.h"
#include "crypto/keypool.h"
#include "base/log.h"
#include "crypto/noise.h"
#include "platform/platform.h"
#include "core/procs.h"
#include "crypto/rng.h"
#include "wire/session.h"

enum {
    CHANNEL_TYPE_COUNT = 4,
    /* NK message 1 carries 1..32 acceptable code hashes. */
    CHANNEL_MAX_ACCEPTED_HASHES = 32,
    CHANNEL_HANDSHAKE_MAX = NOISE_KEY_LEN + CHANNEL_MAX_ACCEPTED_HASHES * PROCESS_CODE_HASH_LEN +
                            NOISE_TAG_LEN,
};

/* Only Noise channels carry this; a raw channel stays small. */
struct channel_crypto {
    struct noise_handshake *hs;           /* NULL once the handshake is done */
    struct noise_transport transport;     /* valid once hs is NULL */
    uint64_t deadline_ms;
    struct channel *hs_next, *hs_prev;    /* table's handshake list, deadline order */
    uint8_t strict_asked;                 /* NK message 1 carried the strict marker */
};

struct channel {
    uint32_t id;
    uint8_t type;                         /* Enclaved__ChannelType */
    uint8_t open;                         /* HandleChannelCreate ran: Lua knows it */
    struct session *owner;
    struct proc *proc;
    struct channel *s_next, *s_prev;      /* owner's channels */
    struct channel *p_next, *p_prev;      /* process's channels */
    struct channel_crypto *crypto;
};

struct channel_table {
    struct idmap by_id;
    uint32_t next_id;
    uint64_t count_by_type[CHANNEL_TYPE_COUNT];
    struct channel *hs_head, *hs_tail;
    uint8_t *scratch;                     /* decrypt/encrypt buffer, grown to need */
    size_t scratch_cap;
};

status_t channel_table_new(struct channel_table **out)
{
    struct channel_table *t = calloc(1, sizeof(*t));

    ENSURE(t != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    idmap_init(&t->by_id);
    t->next_id = 1;
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

static struct channel *find(const struct core *core, uint32_t id)
{
    return idmap_get(&core->channels->by_id, id);
}

/* A scratch buffer of at least len bytes; it is reused by the next call, so
 * callers finish with it before anything else runs. */
static uint8_t *scratch(struct core *core, size_t len)
{
    struct channel_table *t = core->channels;

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

static void send_data(struct session *s, uint32_t id, const uint8_t *data, size_t len)
{
    Enclaved__ServerFrame f = ENCLAVED__SERVER_FRAME__INIT;
    Enclaved__ChannelData d = ENCLAVED__CHANNEL_DATA__INIT;

    d.channel_id = id;
    d.data.data = (uint8_t *)data;
    d.data.len = len;
    f.kind_case = ENCLAVED__SERVER_FRAME__KIND_CHANNEL_DATA;
    f.channel_data = &d;
    (void)session_send(s, &f);
}

static void send_closed(struct session *s, uint32_t id, status_t status, const char *reason)
{
    Enclaved__ServerFrame f = ENCLAVED__SERVER_FRAME__INIT;
    Enclaved__ChannelClosed c = ENCLAVED__CHANNEL_CLOSED__INIT;

    c.channel_id = id;
    c.status = (Enclaved__Status)status;
    c.reason = (char *)reason;
    f.kind_case = ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED;
    f.channel_closed = &c;
    core_count_error(s->core, status);
    (void)session_send(s, &f);
}

static void handshake_list_remove(struct channel_table *t, struct channel *ch)
{
    struct channel_crypto *cr = ch->crypto;

    if (cr->hs_prev != NULL) {
        cr->hs_prev->crypto->hs_next = cr->hs_next;
    } else if (t->hs_head == ch) {
        t->hs_head = cr->hs_next;
    }
    if (cr->hs_next != NULL) {
        cr->hs_next->crypto->hs_prev = cr->hs_prev;
    } else if (t->hs_tail == ch) {
        t->hs_tail = cr->hs_prev;
    }
    cr->hs_next = NULL;
    cr->hs_prev = NULL;
}

static void unlink_channel(struct core *core, struct channel *ch)
{
    struct channel_table *t = core->channels;

    idmap_remove(&t->by_id, ch->id);
    t->count_by_type[ch->type]--;
    if (ch->s_prev != NULL) {
        ch->s_prev->s_next = ch->s_next;
    } else {
        ch->owner->channels = ch->s_next;
    }
    if (ch->s_next != NULL) {
        ch->s_next->s_prev = ch->s_prev;
    }
    if (ch->p_prev != NULL) {
        ch->p_prev->p_next = ch->p_next;
    } else {
        ch->proc->channels = ch->p_next;
    }
    if (ch->p_next != NULL) {
        ch->p_next->p_prev = ch->p_prev;
    }
    ch->proc->channel_count--;
    if (ch->crypto != NULL && ch->crypto->hs != NULL) {
        handshake_list_remove(t, ch);
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
 * (if it knew the channel). notify_owner: the owner gets ChannelClosed. */
static void close_channel(struct core *core, struct channel *ch, status_t status,
                          const char *reason, int run_close_hook, int notify_owner)
{
    uint32_t id = ch->id;
    struct session *owner = ch->owner;
    struct process *lua = ch->proc->lua;
    int was_open = ch->open;

    /* Unlink first, so Lua output addressed to this channel is refused. */
    unlink_channel(core, ch);
    free_channel(ch);
    LOG_D("channel %u closed: %s %s", id, status_name(status), reason);
    if (run_close_hook && was_open) {
        status_trail_reset();
        status_t st = process_handle_close(lua, id);
        if (st != STATUS_OK) {
            core->stats.lua_errors++;
            LOG_I("process %u: HandleChannelClose(%u) failed: %s: %s", process_id(lua), id,
                  status_name(st), status_trail_message());
        }
    }
    if (notify_owner) {
        send_closed(owner, id, status, reason);
    }
}

/* A hook of process p failed on input to channel id: close it with the
 * mapped status and the bounded Lua message, counting the failure for p.
 * The channel may already be gone (Lua closed it); p is not. */
static void fail_hook(struct core *core, struct proc *p, uint32_t id, status_t status)
{
    char reason[STATUS_DETAIL_CAP];
    struct channel *ch;

    snprintf(reason, sizeof(reason), "%s", status_trail_message());
    if (status == STATUS_RESOURCE_EXHAUSTED || status == STATUS_DEADLINE_EXCEEDED) {
        core->stats.limit_hits++;
        p->limit_hits++;
    } else {
        core->stats.lua_errors++;
        p->errors++;
    }
    ch = find(core, id);
    if (ch == NULL) {
        return;
    }
    LOG_I("channel %u: process %u hook failed: %s: %s", id, process_id(ch->proc->lua),
          status_name(status), reason);
    close_channel(core, ch, status, reason, 0, 1);
}

/* Crypto failures get a fixed reason on the wire; the detail is logged. */
static void fail_crypto(struct core *core, struct channel *ch, status_t status, const char *why)
{
    const char *reason = status == STATUS_DATA_LOSS ? "decrypt failed" : "handshake failed";

    if (ch->crypto->hs != NULL) {
        core->stats.handshakes_failed++;
    }
    LOG_W("channel %u: %s: %s", ch->id, reason, why);
    close_channel(core, ch, status, reason, 0, 1);
}

/* The channel is open: Lua learns of it. */
static void open_for_lua(struct core *core, struct channel *ch)
{
    uint32_t id = ch->id;
    enum process_chan_type type = ch->type == ENCLAVED__CHANNEL_TYPE__RAW
                                      ? PROCESS_CHAN_UNENCRYPTED
                                  : ch->type == ENCLAVED__CHANNEL_TYPE__CLIENT_NK
                                      ? PROCESS_CHAN_CLIENT_NK
                                      : PROCESS_CHAN_SERVER_KK;
    status_t st;

    struct proc *p = ch->proc;

    ch->open = 1;
    status_trail_reset();
    st = process_handle_create(p->lua, id, type);
    if (st != STATUS_OK) {
        fail_hook(core, p, id, st);
    }
}

static status_t start_crypto(struct core *core, struct channel *ch)
{
    enum noise_pattern pattern = ch->type == ENCLAVED__CHANNEL_TYPE__CLIENT_NK
                                     ? NOISE_PATTERN_NK
                                     : NOISE_PATTERN_KK;
    enum noise_role role = ch->type == ENCLAVED__CHANNEL_TYPE__SERVER_KK_INITIATOR
                               ? NOISE_ROLE_INITIATOR
                               : NOISE_ROLE_RESPONDER;
    /* KK peers are enclaves of the same fleet: they hold our static key. */
    const uint8_t *remote = pattern == NOISE_PATTERN_KK ? keystore_public_key(core->keystore)
                                                         : NULL;
    struct channel_table *t = core->channels;
    struct channel_crypto *cr = calloc(1, sizeof(*cr));
    uint8_t e_private[X25519_KEY_LEN];
    uint8_t e_public[X25519_KEY_LEN];

    ENSURE(cr != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    if (noise_handshake_new(pattern, role, core->keystore, remote, NULL, 0, rng_bytes, NULL,
                            &cr->hs) != STATUS_OK) {
        free(cr);
        FAIL(STATUS_INTERNAL, "cannot start a handshake");
    }
    /* Our ephemeral key, computed ahead on the other core when one is ready. */
    if (keypool_take(e_private, e_public)) {
        (void)noise_handshake_use_ephemeral(cr->hs, e_private, e_public);
        mbedtls_platform_zeroize(e_private, sizeof(e_private));
    }
    cr->deadline_ms = platform_monotonic_ms() + core->config.handshake_timeout_ms;
    ch->crypto = cr;
    /* Every handshake has the same timeout, so appending keeps deadline order. */
    cr->hs_prev = t->hs_tail;
    if (t->hs_tail != NULL) {
        t->hs_tail->crypto->hs_next = ch;
    } else {
        t->hs_head = ch;
    }
    t->hs_tail = ch;
    return STATUS_OK;
}

/* Writes our handshake message carrying this process's code hash. */
static status_t write_handshake(struct channel *ch)
{
    uint8_t msg[NOISE_KEY_LEN + PROCESS_CODE_HASH_LEN + NOISE_TAG_LEN];
    size_t len = 0;

    TRY(noise_handshake_write_message(ch->crypto->hs, process_code_hash(ch->proc->lua),
                                      PROCESS_CODE_HASH_LEN, msg, sizeof(msg), &len));
    send_data(ch->owner, ch->id, msg, len);
    return STATUS_OK;
}

/* The handshake is complete: keep the transport keys and open for Lua. */
static void finish_handshake(struct core *core, struct channel *ch)
{
    struct channel_crypto *cr = ch->crypto;

    if (noise_handshake_split(cr->hs, &cr->transport) != STATUS_OK) {
        fail_crypto(core, ch, STATUS_PERMISSION_DENIED, "split failed");
        return;
    }
    /* DESIGN §6: KK and strict-asking NK clients get strict framing of their
     * input; other NK clients get libsignal's. */
    if (ch->type == ENCLAVED__CHANNEL_TYPE__CLIENT_NK && !cr->strict_asked) {
        cr->transport.recv_framing = NOISE_FRAMING_LIBSIGNAL;
    }
    handshake_list_remove(core->channels, ch);
    noise_handshake_free(cr->hs);
    cr->hs = NULL;
    core->stats.handshakes_ok++;
    open_for_lua(core, ch);
}

/* Whether the peer's payload attests our code: NK lists acceptable hashes,
 * KK must carry exactly ours. An NK list that also holds the strict marker
 * asks for strict framing (noise.h). */
static int payload_accepts(struct channel *ch, const uint8_t *payload, size_t len)
{
    const uint8_t *ours = process_code_hash(ch->proc->lua);
    int accepted = 0;

    if (ch->type != ENCLAVED__CHANNEL_TYPE__CLIENT_NK) {
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
        return why;
    }
    return ch->type == ENCLAVED__CHANNEL_TYPE__CLIENT_NK
               ? "NK message 1 does not decrypt: the client pinned another server key "
                 "(or the message was altered)"
               : "KK message does not decrypt: the peer holds another fleet key "
                 "(or the message was altered)";
}

static void handle_handshake_input(struct core *core, struct channel *ch, const uint8_t *data,
                                   size_t len)
{
    uint8_t payload[CHANNEL_HANDSHAKE_MAX];
    size_t payload_len = 0;

    if (len > CHANNEL_HANDSHAKE_MAX) {
        fail_crypto(core, ch, STATUS_PERMISSION_DENIED, "handshake message too long");
        return;
    }
    if (noise_handshake_read_message(ch->crypto->hs, data, len, payload, sizeof(payload),
                                     &payload_len) != STATUS_OK) {
        fail_crypto(core, ch, STATUS_PERMISSION_DENIED, handshake_failure(ch));
        return;
    }
    if (!payload_accepts(ch, payload, payload_len)) {
        fail_crypto(core, ch, STATUS_PERMISSION_DENIED, "peer does not accept this code hash");
        return;
    }
    if (!noise_handshake_is_complete(ch->crypto->hs) && write_handshake(ch) != STATUS_OK) {
        fail_crypto(core, ch, STATUS_PERMISSION_DENIED, "cannot write the handshake reply");
        return;
    }
    if (noise_handshake_is_complete(ch->crypto->hs)) {
        finish_handshake(core, ch);
    }
}

static uint32_t allocate_id(struct channel_table *t)
{
    while (t->next_id == 0 || idmap_get(&t->by_id, t->next_id) != NULL) {
        t->next_id++;
    }
    return t->next_id++;
}

void channel_handle_open(struct session *s, uint64_t id, const Enclaved__ChannelOpen *req)
{
    struct core *core = s->core;
    struct channel_table *t = core->channels;
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    Enclaved__ChannelOpened opened = ENCLAVED__CHANNEL_OPENED__INIT;
    struct proc *p = NULL;
    struct channel *ch;

    if (req->target_case == ENCLAVED__CHANNEL_OPEN__TARGET_PROCESS_ID) {
        p = procs_find(core, req->process_id);
    } else if (req->target_case == ENCLAVED__CHANNEL_OPEN__TARGET_CODE_HASH) {
        if (req->code_hash.len != PROCESS_CODE_HASH_LEN) {
            session_send_status(s, id, STATUS_INVALID_ARGUMENT, "code_hash must be 32 bytes");
            return;
        }
        p = procs_find_hash(core, req->code_hash.data, req->code_hash.len);
    } else {
        session_send_status(s, id, STATUS_INVALID_ARGUMENT, "give process_id or code_hash");
        return;
    }
    if ((unsigned)req->type >= CHANNEL_TYPE_COUNT) {
        session_send_status(s, id, STATUS_INVALID_ARGUMENT, "unknown channel type");
        return;
    }
    if (p == NULL) {
        session_send_status(s, id, STATUS_NOT_FOUND, "no such process");
        return;
    }
    if (p->channel_count >= core->config.max_channels_per_process) {
        core->stats.limit_hits++;
        p->limit_hits++;
        session_send_status(s, id, STATUS_RESOURCE_EXHAUSTED,
                            "too many channels (max_channels_per_process)");
        return;
    }
    ch = calloc(1, sizeof(*ch));
    if (ch == NULL) {
        session_send_status(s, id, STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    ch->type = (uint8_t)req->type;
    ch->owner = s;
    ch->proc = p;
    status_trail_reset();
    if (ch->type != ENCLAVED__CHANNEL_TYPE__RAW && start_crypto(core, ch) != STATUS_OK) {
        session_send_status(s, id, STATUS_INTERNAL, status_trail_message());
        free(ch);
        return;
    }
    ch->id = allocate_id(t);
    if (idmap_put(&t->by_id, ch->id, ch) != STATUS_OK) {
        if (ch->crypto != NULL) {
            handshake_list_remove(t, ch);
        }
        free_channel(ch);
        session_send_status(s, id, STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    t->count_by_type[ch->type]++;
    ch->s_next = s->channels;
    if (s->channels != NULL) {
        s->channels->s_prev = ch;
    }
    s->channels = ch;
    ch->p_next = p->channels;
    if (p->channels != NULL) {
        p->channels->p_prev = ch;
    }
    p->channels = ch;
    p->channel_count++;

    opened.channel_id = ch->id;
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_CHANNEL_OPENED;
    r.channel_opened = &opened;
    session_send_response(s, &r);
    LOG_D("channel %u opened to process %u", ch->id, process_id(p->lua));

    if (ch->type == ENCLAVED__CHANNEL_TYPE__RAW) {
        open_for_lua(core, ch);
    } else if (ch->type == ENCLAVED__CHANNEL_TYPE__SERVER_KK_INITIATOR &&
               write_handshake(ch) != STATUS_OK) {
        fail_crypto(core, ch, STATUS_PERMISSION_DENIED, "cannot write the first message");
    }
}

static void deliver_message(struct core *core, struct channel *ch, const uint8_t *data,
                            size_t len)
{
    struct proc *p = ch->proc;
    uint32_t id = ch->id;
    status_t st;

    p->messages++;
    status_trail_reset();
    st = process_handle_message(p->lua, id, data, len);
    if (st != STATUS_OK) {
        fail_hook(core, p, id, st);
    }
}

void channel_handle_data(struct session *s, uint32_t channel_id, const uint8_t *data, size_t len)
{
    struct core *core = s->core;
    struct channel *ch = find(core, channel_id);
    struct channel_crypto *cr;
    uint8_t *plain;
    size_t plain_len = 0;

    if (ch == NULL || ch->owner != s) {
        LOG_D("connection %llu: data for channel %u, which it does not own, dropped",
              (unsigned long long)s->id, channel_id);
        return;
    }
    cr = ch->crypto;
    if (cr == NULL) {
        if (len > core->config.max_message) {
            core->stats.limit_hits++;
            ch->proc->limit_hits++;
            close_channel(core, ch, STATUS_RESOURCE_EXHAUSTED, "message over max_message", 0, 1);
            return;
        }
        deliver_message(core, ch, data, len);
        return;
    }
    if (cr->hs != NULL) {
        handle_handshake_input(core, ch, data, len);
        return;
    }
    if (len > noise_transport_sealed_len(core->config.max_message)) {
        core->stats.limit_hits++;
        ch->proc->limit_hits++;
        close_channel(core, ch, STATUS_RESOURCE_EXHAUSTED, "message over max_message", 0, 1);
        return;
    }
    plain = scratch(core, len);
    if (plain == NULL) {
        close_channel(core, ch, STATUS_RESOURCE_EXHAUSTED, "out of memory", 0, 1);
        return;
    }
    status_trail_reset();
    if (noise_transport_decrypt(&cr->transport, data, len, plain, len, &plain_len) != STATUS_OK) {
        /* The wire gets "decrypt failed"; the log says which rule it broke. */
        fail_crypto(core, ch, STATUS_DATA_LOSS, status_trail_message());
        return;
    }
    deliver_message(core, ch, plain, plain_len);
}

void channel_handle_client_close(struct session *s, uint32_t channel_id)
{
    struct channel *ch = find(s->core, channel_id);

    if (ch == NULL || ch->owner != s) {
        LOG_D("connection %llu: close of channel %u, which it does not own, ignored",
              (unsigned long long)s->id, channel_id);
        return;
    }
    close_channel(s->core, ch, STATUS_OK, "closed by the client", 1, 1);
}

void channel_close_session(struct core *core, struct session *s)
{
    while (s->channels != NULL) {
        close_channel(core, s->channels, STATUS_OK, "connection closed", 1, 0);
    }
}

void channel_close_process(struct core *core, struct proc *p)
{
    while (p->channels != NULL) {
        close_channel(core, p->channels, STATUS_UNAVAILABLE, "process destroyed", 1, 1);
    }
}

int channel_belongs(struct core *core, const struct process *p, uint32_t channel_id)
{
    struct channel *ch = find(core, channel_id);

    return ch != NULL && ch->open && ch->proc->lua == p && (ch->crypto == NULL || ch->crypto->hs == NULL);
}

void channel_deliver(struct core *core, struct process *p, const struct process_output *out)
{
    struct channel *ch = find(core, out->channel_id);
    uint8_t *sealed;
    size_t sealed_len = 0;

    /* An earlier output of the same hook may have closed it. */
    if (ch == NULL || ch->proc->lua != p) {
        return;
    }
    if (out->is_close) {
        close_channel(core, ch, out->status, "closed by the process", 0, 1);
        return;
    }
    if (ch->crypto == NULL) {
        send_data(ch->owner, ch->id, out->data, out->len);
        return;
    }
    sealed_len = noise_transport_sealed_len(out->len);
    sealed = scratch(core, sealed_len);
    if (sealed == NULL ||
        noise_transport_encrypt(&ch->crypto->transport, out->data, out->len, sealed, sealed_len,
                                &sealed_len) != STATUS_OK) {
        close_channel(core, ch, STATUS_INTERNAL, "cannot encrypt", 0, 1);
        return;
    }
    send_data(ch->owner, ch->id, sealed, sealed_len);
}

int64_t channel_next_timeout_ms(const struct core *core, uint64_t now_ms)
{
    const struct channel *head = core->channels->hs_head;

    if (head == NULL) {
        return -1;
    }
    return head->crypto->deadline_ms <= now_ms ? 0 : (int64_t)(head->crypto->deadline_ms - now_ms);
}

void channel_run_timers(struct core *core, uint64_t now_ms)
{
    struct channel *head;

    while ((head = core->channels->hs_head) != NULL && head->crypto->deadline_ms <= now_ms) {
        fail_crypto(core, head, STATUS_PERMISSION_DENIED, "handshake timed out");
    }
}

void channel_fill_stats(const struct core *core, Enclaved__Stats *stats)
{
    const struct channel_table *t = core->channels;

    stats->channels_raw = t->count_by_type[ENCLAVED__CHANNEL_TYPE__RAW];
    stats->channels_nk = t->count_by_type[ENCLAVED__CHANNEL_TYPE__CLIENT_NK];
    stats->channels_kk = t->count_by_type[ENCLAVED__CHANNEL_TYPE__SERVER_KK_INITIATOR] +
                         t->count_by_type[ENCLAVED__CHANNEL_TYPE__SERVER_KK_RESPONDER];
    stats->processes = procs_count(core);
}
