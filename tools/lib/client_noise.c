/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lib/client_noise.h"

#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/noise.h"
#include "crypto/rng.h"

enum {
    /* The largest handshake message we write or accept: the accepted hashes
     * and the strict marker. */
    HANDSHAKE_BUF_LEN = NOISE_HANDSHAKE_OVERHEAD +
                        (CLIENT_MAX_ACCEPTED_HASHES + 1) * CLIENT_CODE_HASH_LEN,
    CLOSE_WAIT_MS = 2000,
};

static const char KEY_MISMATCH[] = "server key does not match the pinned key";
static const char HASH_MISMATCH[] = "code hash mismatch";

struct client_secure {
    struct client *c;
    uint32_t channel_id;
    struct noise_transport transport;
    uint8_t code_hash[CLIENT_CODE_HASH_LEN];
};

static void set_message(char *dst, size_t cap, const char *text)
{
    if (dst != NULL && cap > 0) {
        snprintf(dst, cap, "%s", text);
    }
}

/* Best effort: the channel is unusable, so tell the server and drain its close. */
static void abandon_channel(struct client *c, uint32_t channel_id)
{
    status_t ignored;

    if (client_send_close(c, channel_id) == STATUS_OK) {
        client_channel_wait_closed(c, channel_id, CLOSE_WAIT_MS, &ignored, NULL, 0);
    }
}

static status_t open_channel(struct client *c, const struct client_target *target,
                             Enclaved__ChannelType type, uint32_t *channel_id, char *message,
                             size_t message_cap)
{
    return client_channel_open(c, target->process_id, target->code_hash, type, channel_id,
                               message, message_cap);
}

static int hash_in(const uint8_t *hash, const uint8_t *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (memcmp(hash, list + i * CLIENT_CODE_HASH_LEN, CLIENT_CODE_HASH_LEN) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The server refused message 1 with its generic reason. An honest server
 * runs the process we asked for, so when we know its hash the cause is
 * either that hash not being accepted or, failing that, the key. */
static const char *explain_nk_refusal(const struct client_target *target, const uint8_t *accepted,
                                      size_t accepted_count)
{
    const uint8_t *hash = target->code_hash != NULL ? target->code_hash : target->believed_hash;

    if (hash == NULL) {
        return "server key does not match the pinned key, or code hash mismatch "
               "(the server does not say which)";
    }
    return hash_in(hash, accepted, accepted_count) ? KEY_MISMATCH : HASH_MISMATCH;
}

static status_t make_secure(struct client *c, uint32_t channel_id, struct noise_handshake *hs,
                            const uint8_t *code_hash, struct client_secure **out)
{
    struct client_secure *s = calloc(1, sizeof(*s));

    ENSURE(s != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    if (noise_handshake_split(hs, &s->transport) != STATUS_OK) {
        free(s);
        FAIL(STATUS_INTERNAL, "handshake incomplete");
    }
    s->c = c;
    s->channel_id = channel_id;
    memcpy(s->code_hash, code_hash, CLIENT_CODE_HASH_LEN);
    *out = s;
    return STATUS_OK;
}

/* Receives one handshake message on the channel. A ChannelClosed returns its
 * status (never OK) with the reason in message. */
static status_t recv_handshake(struct client *c, uint32_t channel_id, uint8_t **msg, size_t *len,
                               char *message, size_t message_cap)
{
    return client_channel_recv(c, channel_id, client_get_timeout(c), msg, len, message,
                               message_cap);
}

static client_ephemeral_fn bench_ephemerals;

void client_noise_bench_set_ephemerals(client_ephemeral_fn fn)
{
    bench_ephemerals = fn;
}

/* Runs the NK initiator on an open channel. */
static status_t run_nk(struct client *c, uint32_t channel_id, const struct client_target *target,
                       const uint8_t server_public[CLIENT_KEY_LEN], const uint8_t *accepted,
                       size_t accepted_count, struct client_secure **out, char *message,
                       size_t message_cap)
{
    struct noise_handshake *hs = NULL;
    uint8_t buf[HANDSHAKE_BUF_LEN];
    uint8_t payload[HANDSHAKE_BUF_LEN];
    uint8_t *reply = NULL;
    size_t len = 0, reply_len = 0, payload_len = 0;
    size_t list_len = accepted_count * CLIENT_CODE_HASH_LEN;
    status_t s;

    s = noise_handshake_new(NOISE_PATTERN_NK, NOISE_ROLE_INITIATOR, NULL, server_public, NULL, 0,
                            rng_bytes, NULL, &hs);
    if (s == STATUS_OK && bench_ephemerals != NULL) {
        uint8_t priv[CLIENT_KEY_LEN], pub[CLIENT_KEY_LEN];
        if (bench_ephemerals(priv, pub) && noise_handshake_use_ephemeral(hs, priv, pub) != STATUS_OK) {
            noise_handshake_free(hs);
            s = STATUS_INTERNAL;
        }
        mbedtls_platform_zeroize(priv, sizeof(priv));
    }
    if (s != STATUS_OK) {
        set_message(message, message_cap, "cannot start the handshake");
        return s;
    }
    /* -> e, es; payload: the acceptable code hashes, then the marker that asks
     * for strict framing (inside the encryption, so the host cannot strip it). */
    memcpy(payload, accepted, list_len);
    memcpy(payload + list_len, noise_strict_framing_marker, CLIENT_CODE_HASH_LEN);
    s = noise_handshake_write_message(hs, payload, list_len + CLIENT_CODE_HASH_LEN, buf,
                                      sizeof(buf), &len);
    if (s == STATUS_OK) {
        s = client_send_data(c, channel_id, buf, len);
    }
    if (s != STATUS_OK) {
        set_message(message, message_cap, "cannot send handshake message 1");
        abandon_channel(c, channel_id);
        goto out;
    }
    /* <- e, ee; payload: the process's code hash. */
    s = recv_handshake(c, channel_id, &reply, &reply_len, message, message_cap);
    if (s == STATUS_PERMISSION_DENIED) {
        set_message(message, message_cap, explain_nk_refusal(target, accepted, accepted_count));
        goto out;
    }
    if (s != STATUS_OK) {
        goto out;
    }
    if (reply_len > sizeof(buf) ||
        noise_handshake_read_message(hs, reply, reply_len, payload, sizeof(payload),
                                     &payload_len) != STATUS_OK) {
        /* Only the holder of the pinned key can produce a message 2 that
         * authenticates under es. */
        s = STATUS_PERMISSION_DENIED;
        set_message(message, message_cap, KEY_MISMATCH);
        abandon_channel(c, channel_id);
        goto out;
    }
    if (payload_len != CLIENT_CODE_HASH_LEN || !hash_in(payload, accepted, accepted_count)) {
        s = STATUS_PERMISSION_DENIED;
        set_message(message, message_cap, HASH_MISMATCH);
        abandon_channel(c, channel_id);
        goto out;
    }
    s = make_secure(c, channel_id, hs, payload, out);
    if (s != STATUS_OK) {
        set_message(message, message_cap, "out of memory");
        abandon_channel(c, channel_id);
    }
out:
    free(reply);
    noise_handshake_free(hs);
    mbedtls_platform_zeroize(payload, sizeof(payload));
    return s;
}

status_t client_nk_open(struct client *c, const struct client_target *target,
                        const uint8_t server_public[CLIENT_KEY_LEN], const uint8_t *accepted,
                        size_t accepted_count, struct client_secure **out, char *message,
                        size_t message_cap)
{
    uint32_t channel_id = 0;

    if (accepted_count < 1 || accepted_count > CLIENT_MAX_ACCEPTED_HASHES) {
        set_message(message, message_cap, "accept 1 to 31 code hashes");
        FAIL(STATUS_INVALID_ARGUMENT, "accept 1 to 31 code hashes");
    }
    TRY(open_channel(c, target, ENCLAVED__CHANNEL_TYPE__CLIENT_NK, &channel_id, message,
                     message_cap));
    return run_nk(c, channel_id, target, server_public, accepted, accepted_count, out, message,
                  message_cap);
}

/* Writes our KK message (payload: our code hash) and sends it. */
static status_t send_kk(struct client *c, uint32_t channel_id, struct noise_handshake *hs,
                        const uint8_t code_hash[CLIENT_CODE_HASH_LEN])
{
    uint8_t buf[HANDSHAKE_BUF_LEN];
    size_t len = 0;

    TRY(noise_handshake_write_message(hs, code_hash, CLIENT_CODE_HASH_LEN, buf, sizeof(buf),
                                      &len));
    return client_send_data(c, channel_id, buf, len);
}

/* Receives the server's KK message and checks its payload is our hash. */
static status_t recv_kk(struct client *c, uint32_t channel_id, struct noise_handshake *hs,
                        const uint8_t code_hash[CLIENT_CODE_HASH_LEN], char *message,
                        size_t message_cap)
{
    uint8_t payload[HANDSHAKE_BUF_LEN];
    uint8_t *msg = NULL;
    size_t len = 0, payload_len = 0;
    status_t s;

    s = recv_handshake(c, channel_id, &msg, &len, message, message_cap);
    if (s != STATUS_OK) {
        if (s == STATUS_PERMISSION_DENIED) {
            set_message(message, message_cap,
                        "handshake refused: the server's key or code hash is not ours");
        }
        return s;
    }
    s = len <= sizeof(payload) ? noise_handshake_read_message(hs, msg, len, payload,
                                                              sizeof(payload), &payload_len)
                               : STATUS_PERMISSION_DENIED;
    free(msg);
    if (s != STATUS_OK) {
        set_message(message, message_cap, KEY_MISMATCH);
        FAIL(STATUS_PERMISSION_DENIED, "KK message does not authenticate");
    }
    if (payload_len != CLIENT_CODE_HASH_LEN ||
        memcmp(payload, code_hash, CLIENT_CODE_HASH_LEN) != 0) {
        set_message(message, message_cap, HASH_MISMATCH);
        FAIL(STATUS_PERMISSION_DENIED, "code hash mismatch");
    }
    return STATUS_OK;
}

status_t client_kk_open(struct client *c, const struct client_target *target,
                        Enclaved__ChannelType type, const struct keystore *local,
                        const uint8_t code_hash[CLIENT_CODE_HASH_LEN],
                        struct client_secure **out, char *message, size_t message_cap)
{
    struct noise_handshake *hs = NULL;
    enum noise_role role;
    uint32_t channel_id = 0;
    status_t s;

    if (type == ENCLAVED__CHANNEL_TYPE__SERVER_KK_INITIATOR) {
        role = NOISE_ROLE_RESPONDER;
    } else if (type == ENCLAVED__CHANNEL_TYPE__SERVER_KK_RESPONDER) {
        role = NOISE_ROLE_INITIATOR;
    } else {
        set_message(message, message_cap, "not a KK channel type");
        FAIL(STATUS_INVALID_ARGUMENT, "not a KK channel type");
    }
    TRY(open_channel(c, target, type, &channel_id, message, message_cap));
    s = noise_handshake_new(NOISE_PATTERN_KK, role, local, keystore_public_key(local), NULL, 0,
                            rng_bytes, NULL, &hs);
    if (s != STATUS_OK) {
        set_message(message, message_cap, "cannot start the handshake");
        abandon_channel(c, channel_id);
        return s;
    }
    if (role == NOISE_ROLE_INITIATOR) {
        /* -> e, es, ss, then <- e, ee, se. */
        s = send_kk(c, channel_id, hs, code_hash);
        if (s == STATUS_OK) {
            s = recv_kk(c, channel_id, hs, code_hash, message, message_cap);
        }
    } else {
        s = recv_kk(c, channel_id, hs, code_hash, message, message_cap);
        if (s == STATUS_OK) {
            s = send_kk(c, channel_id, hs, code_hash);
        }
    }
    if (s == STATUS_OK) {
        s = make_secure(c, channel_id, hs, code_hash, out);
    }
    if (s != STATUS_OK) {
        abandon_channel(c, channel_id);
    }
    noise_handshake_free(hs);
    return s;
}

status_t client_secure_send(struct client_secure *s, const uint8_t *msg, size_t len)
{
    size_t cap = noise_transport_sealed_len(len);
    size_t out_len = 0;
    uint8_t *buf;
    status_t st;

    ENSURE(cap != 0, STATUS_INVALID_ARGUMENT, "message too large");
    buf = malloc(cap);
    ENSURE(buf != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    st = noise_transport_encrypt(&s->transport, msg, len, buf, cap, &out_len);
    if (st == STATUS_OK) {
        st = client_send_data(s->c, s->channel_id, buf, out_len);
    }
    free(buf);
    return st;
}

status_t client_secure_recv(struct client_secure *s, int timeout_ms, uint8_t **data,
                            size_t *len, char *reason, size_t reason_cap)
{
    uint8_t *ct = NULL;
    uint8_t *pt;
    size_t ct_len = 0, pt_len = 0;
    status_t st;

    TRY(client_channel_recv(s->c, s->channel_id, timeout_ms, &ct, &ct_len, reason,
                            reason_cap));
    pt = malloc(ct_len + 1);
    if (pt == NULL) {
        free(ct);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    st = noise_transport_decrypt(&s->transport, ct, ct_len, pt, ct_len, &pt_len);
    free(ct);
    if (st != STATUS_OK) {
        free(pt);
        set_message(reason, reason_cap, "decrypt failed");
        FAIL(STATUS_DATA_LOSS, "decrypt failed");
    }
    pt[pt_len] = 0;
    *data = pt;
    *len = pt_len;
    return STATUS_OK;
}

status_t client_secure_close(struct client_secure *s, int timeout_ms, status_t *status)
{
    TRY(client_send_close(s->c, s->channel_id));
    return client_channel_wait_closed(s->c, s->channel_id, timeout_ms, status, NULL, 0);
}

void client_secure_free(struct client_secure *s)
{
    if (s == NULL) {
        return;
    }
    noise_transport_clear(&s->transport);
    mbedtls_platform_zeroize(s, sizeof(*s));
    free(s);
}

uint32_t client_secure_channel_id(const struct client_secure *s)
{
    return s->channel_id;
}

const uint8_t *client_secure_code_hash(const struct client_secure *s)
{
    return s->code_hash;
}
