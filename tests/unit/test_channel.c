/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Channels driven through the channel table, no wire: raw and Noise NK/KK
 * channels against an in-process Noise peer, every chunk boundary, and every
 * failure of the Noise issue (malformed, unacceptable hash, wrong key,
 * tampered, replayed, reordered, after close, timeout), each closing with
 * its status and a fixed reason while a neighbour channel keeps working.
 * What the core sends is read from a fake sink (fakesink.h).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "libsignal_frame.h"
#include "crypto/noise.h"
#include "crypto/rng.h"
#include "fakesink.h"
#include "platform/platform.h"

static const char echo_app[] =
    "function HandleChannelCreate(cid, t) return {{cid, 'type ' .. t}} end\n"
    "function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n";

struct fixture {
    struct fakecore h;
    struct fakesink owner;
    struct proc *proc;
    uint8_t hash[32];
    uint64_t next_id;
};

static void fixture_init(struct fixture *fx, const struct config *cfg)
{
    memset(fx, 0, sizeof(*fx));
    fakecore_init(&fx->h, cfg);
    fakesink_init(&fx->owner);
    ck_assert_int_eq(procs_create(fx->h.core->processes, "echo", (const uint8_t *)echo_app,
                                  strlen(echo_app),
                                  0, &fx->proc),
                     STATUS_OK);
    memcpy(fx->hash, process_code_hash(fx->proc->lua), 32);
    fx->next_id = 1;
}

static void fixture_clear(struct fixture *fx)
{
    fakesink_clear(&fx->owner, fx->h.core);
    fakecore_clear(&fx->h);
}

/* Opens a channel to the process with fx->hash, as dispatch would. */
static uint32_t open_channel(struct fixture *fx, enum channel_type type)
{
    struct proc_target target = {.kind = PROC_TARGET_CODE_HASH, .code_hash = fx->hash,
                                 .code_hash_len = 32};
    struct proc *p = NULL;

    ck_assert_int_eq(procs_resolve(fx->h.core->processes, &target, &p), STATUS_OK);
    return fakecore_open(&fx->h, &fx->owner, p, type);
}

static void send_data(struct fixture *fx, uint32_t cid, const uint8_t *data, size_t len)
{
    channel_input(fx->h.core->channels, &fx->owner.owner, cid, data, len);
}

/* Pops channel data for cid; the caller frees it with sink_event_free. */
static struct sink_event *expect_data(struct fixture *fx, uint32_t cid)
{
    return fakesink_expect_data(&fx->owner, cid);
}

/* Pops the close of cid, and asserts nothing else was sent. */
static void expect_closed(struct fixture *fx, uint32_t cid, status_t status, const char *reason)
{
    fakesink_expect_closed(&fx->owner, cid, status, reason);
    ck_assert_ptr_null(fx->owner.head);
}

/* The client side of an NK channel, as a real client would run it. */
struct peer {
    struct noise_handshake *hs;
    struct noise_transport t;
    uint32_t cid;
};

static void peer_start_nk(struct fixture *fx, struct peer *p, const uint8_t *payload,
                          size_t payload_len, const uint8_t *server_key)
{
    uint8_t msg[2048];
    size_t len = 0;

    memset(p, 0, sizeof(*p));
    p->cid = open_channel(fx, CHANNEL_TYPE_CLIENT_NK);
    ck_assert_int_eq(noise_handshake_new(NOISE_PATTERN_NK, NOISE_ROLE_INITIATOR, NULL,
                                         server_key, NULL, 0, rng_bytes, NULL, &p->hs),
                     STATUS_OK);
    ck_assert_int_eq(noise_handshake_write_message(p->hs, payload, payload_len, msg, sizeof(msg),
                                                   &len),
                     STATUS_OK);
    send_data(fx, p->cid, msg, len);
}

/* Reads the server's handshake reply and checks the attested code hash. */
static void peer_finish(struct fixture *fx, struct peer *p)
{
    struct sink_event *f = expect_data(fx, p->cid);
    uint8_t payload[64];
    size_t len = 0;

    ck_assert_int_eq(noise_handshake_read_message(p->hs, f->data,
                                                  f->len, payload,
                                                  sizeof(payload), &len),
                     STATUS_OK);
    ck_assert_uint_eq(len, 32);
    ck_assert_mem_eq(payload, fx->hash, 32);
    sink_event_free(f);
    ck_assert(noise_handshake_is_complete(p->hs));
    ck_assert_int_eq(noise_handshake_split(p->hs, &p->t), STATUS_OK);
    noise_handshake_free(p->hs);
    p->hs = NULL;
}

static void peer_send(struct fixture *fx, struct peer *p, const uint8_t *pt, size_t len)
{
    size_t sealed_len = noise_transport_sealed_len(len);
    uint8_t *sealed = malloc(sealed_len);

    ck_assert_ptr_nonnull(sealed);
    ck_assert_int_eq(noise_transport_encrypt(&p->t, pt, len, sealed, sealed_len, &sealed_len),
                     STATUS_OK);
    send_data(fx, p->cid, sealed, sealed_len);
    free(sealed);
}

/* Pops ChannelData, decrypts it and compares with want. */
static void peer_expect(struct fixture *fx, struct peer *p, const uint8_t *want, size_t want_len)
{
    struct sink_event *f = expect_data(fx, p->cid);
    size_t len = f->len;
    uint8_t *pt = malloc(len ? len : 1);
    size_t pt_len = 0;

    ck_assert_ptr_nonnull(pt);
    ck_assert_int_eq(noise_transport_decrypt(&p->t, f->data, len, pt, len,
                                             &pt_len),
                     STATUS_OK);
    ck_assert_uint_eq(pt_len, want_len);
    ck_assert(want_len == 0 || memcmp(pt, want, want_len) == 0);
    free(pt);
    sink_event_free(f);
}

static void peer_clear(struct peer *p)
{
    noise_handshake_free(p->hs);
    noise_transport_clear(&p->t);
}

static void open_nk(struct fixture *fx, struct peer *p)
{
    peer_start_nk(fx, p, fx->hash, 32, keystore_public_key(fx->h.core->keystore));
    peer_finish(fx, p);
    peer_expect(fx, p, (const uint8_t *)"type 2", 6);
}

/* An NK channel whose client lists the strict marker after the code hash. */
static void open_nk_strict(struct fixture *fx, struct peer *p)
{
    uint8_t list[64];

    memcpy(list, fx->hash, 32);
    memcpy(list + 32, noise_strict_framing_marker, 32);
    peer_start_nk(fx, p, list, sizeof(list), keystore_public_key(fx->h.core->keystore));
    peer_finish(fx, p);
    peer_expect(fx, p, (const uint8_t *)"type 2", 6);
}

/* Sends pt the way libsignal's HsmEnclaveClient frames it. */
static void peer_send_libsignal(struct fixture *fx, struct peer *p, const uint8_t *pt, size_t len)
{
    uint8_t *sealed = malloc(libsignal_sealed_len(len) + 1);
    size_t sealed_len;

    ck_assert_ptr_nonnull(sealed);
    sealed_len = libsignal_seal(&p->t.send, pt, len, sealed);
    send_data(fx, p->cid, sealed, sealed_len);
    free(sealed);
}

START_TEST(test_raw_channel_echoes_and_closes_once)
{
    struct fixture fx;
    struct sink_event *f;
    uint32_t cid;

    fixture_init(&fx, NULL);
    cid = open_channel(&fx, CHANNEL_TYPE_RAW);
    f = expect_data(&fx, cid);
    ck_assert_uint_eq(f->len, 6);
    ck_assert_mem_eq(f->data, "type 1", 6);
    sink_event_free(f);
    send_data(&fx, cid, (const uint8_t *)"hi", 2);
    f = expect_data(&fx, cid);
    ck_assert_mem_eq(f->data, "hi", 2);
    sink_event_free(f);
    fixture_clear(&fx);
}
END_TEST

START_TEST(test_nk_handshake_attests_and_echoes_every_chunk_boundary)
{
    static const size_t lengths[] = {0, 1, 65518, 65519, 65520, 131022, 131037, 131038, 131039,
                                     65519 * 2 - 1, 65519 * 2 + 1, 65519 * 3 - 1, 65519 * 3,
                                     65519 * 3 + 1, 65519 * 4 - 1, 65519 * 4, 65519 * 4 + 1};
    struct fixture fx;
    struct peer p;
    uint8_t *msg = malloc(65519 * 4 + 1);

    ck_assert_ptr_nonnull(msg);
    for (size_t i = 0; i < 65519 * 4 + 1; i++) {
        msg[i] = (uint8_t)(i * 7 + 3);
    }
    fixture_init(&fx, NULL);
    open_nk(&fx, &p);
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        peer_send(&fx, &p, msg, lengths[i]);
        peer_expect(&fx, &p, msg, lengths[i]);
    }
    ck_assert_uint_eq(fx.h.core->stats.handshakes_ok, 1);
    peer_clear(&p);
    free(msg);
    fixture_clear(&fx);
}
END_TEST

START_TEST(test_nk_accepts_hash_among_several)
{
    struct fixture fx;
    struct peer p;
    uint8_t hashes[32 * 32];

    fixture_init(&fx, NULL);
    memset(hashes, 0x77, sizeof(hashes));
    memcpy(hashes + 31 * 32, fx.hash, 32);
    peer_start_nk(&fx, &p, hashes, sizeof(hashes), keystore_public_key(fx.h.core->keystore));
    peer_finish(&fx, &p);
    peer_clear(&p);
    fixture_clear(&fx);
}
END_TEST

/* Each row opens an NK channel, breaks it one way, and expects the close. */
START_TEST(test_nk_handshake_failures_close_with_permission_denied)
{
    struct fixture fx;
    struct peer p, neighbour;
    uint8_t other_hash[32], wrong_key[32], hashes[33 * 32];
    uint8_t priv[32];

    fixture_init(&fx, NULL);
    open_nk(&fx, &neighbour);
    memset(other_hash, 0x55, sizeof(other_hash));
    memset(priv, 0x44, sizeof(priv));
    x25519_public_key(wrong_key, priv);
    memset(hashes, 0, sizeof(hashes));
    memcpy(hashes, fx.hash, 32);

    /* No acceptable code hash. */
    peer_start_nk(&fx, &p, other_hash, 32, keystore_public_key(fx.h.core->keystore));
    expect_closed(&fx, p.cid, STATUS_PERMISSION_DENIED, "handshake failed");
    peer_clear(&p);
    /* An empty list, a ragged list and 33 hashes. */
    peer_start_nk(&fx, &p, NULL, 0, keystore_public_key(fx.h.core->keystore));
    expect_closed(&fx, p.cid, STATUS_PERMISSION_DENIED, "handshake failed");
    peer_clear(&p);
    peer_start_nk(&fx, &p, hashes, 33, keystore_public_key(fx.h.core->keystore));
    expect_closed(&fx, p.cid, STATUS_PERMISSION_DENIED, "handshake failed");
    peer_clear(&p);
    peer_start_nk(&fx, &p, hashes, sizeof(hashes), keystore_public_key(fx.h.core->keystore));
    expect_closed(&fx, p.cid, STATUS_PERMISSION_DENIED, "handshake failed");
    peer_clear(&p);
    /* The client pinned another server key: es differs, the tag fails. */
    peer_start_nk(&fx, &p, fx.hash, 32, wrong_key);
    expect_closed(&fx, p.cid, STATUS_PERMISSION_DENIED, "handshake failed");
    peer_clear(&p);
    /* Truncated and garbage first messages. */
    for (size_t len = 0; len < 80; len += 7) {
        uint8_t junk[80];
        uint32_t cid = open_channel(&fx, CHANNEL_TYPE_CLIENT_NK);
        memset(junk, 0x33, sizeof(junk));
        send_data(&fx, cid, junk, len);
        expect_closed(&fx, cid, STATUS_PERMISSION_DENIED, "handshake failed");
    }
    ck_assert_uint_eq(fx.h.core->stats.handshakes_failed, 4 + 1 + 12);
    /* The neighbour is unaffected. */
    peer_send(&fx, &neighbour, (const uint8_t *)"still here", 10);
    peer_expect(&fx, &neighbour, (const uint8_t *)"still here", 10);
    peer_clear(&neighbour);
    fixture_clear(&fx);
}
END_TEST

START_TEST(test_nk_transport_tamper_replay_reorder_close_with_data_loss)
{
    struct fixture fx;
    struct peer p, neighbour;
    uint8_t sealed[64], first[64];
    size_t len = 0, first_len = 0;

    fixture_init(&fx, NULL);
    open_nk(&fx, &neighbour);

    /* Tampered. */
    open_nk(&fx, &p);
    ck_assert_int_eq(noise_transport_encrypt(&p.t, (const uint8_t *)"abc", 3, sealed,
                                             sizeof(sealed), &len),
                     STATUS_OK);
    sealed[1] ^= 0x01;
    send_data(&fx, p.cid, sealed, len);
    expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
    peer_clear(&p);

    /* Replayed: the same ciphertext twice. */
    open_nk(&fx, &p);
    ck_assert_int_eq(noise_transport_encrypt(&p.t, (const uint8_t *)"abc", 3, sealed,
                                             sizeof(sealed), &len),
                     STATUS_OK);
    send_data(&fx, p.cid, sealed, len);
    peer_expect(&fx, &p, (const uint8_t *)"abc", 3);
    send_data(&fx, p.cid, sealed, len);
    expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
    peer_clear(&p);

    /* Reordered: the second message first. */
    open_nk(&fx, &p);
    ck_assert_int_eq(noise_transport_encrypt(&p.t, (const uint8_t *)"one", 3, first,
                                             sizeof(first), &first_len),
                     STATUS_OK);
    ck_assert_int_eq(noise_transport_encrypt(&p.t, (const uint8_t *)"two", 3, sealed,
                                             sizeof(sealed), &len),
                     STATUS_OK);
    send_data(&fx, p.cid, sealed, len);
    expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
    /* Data after close is dropped without a second ChannelClosed. */
    send_data(&fx, p.cid, first, first_len);
    ck_assert_ptr_null(fakesink_next(&fx.owner));
    peer_clear(&p);

    /* A length no encrypt produces. */
    open_nk(&fx, &p);
    send_data(&fx, p.cid, sealed, 5);
    expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
    peer_clear(&p);

    /* Cut at a chunk boundary: two whole, authentic Noise messages whose last
     * is full, so the rest of the message is missing (a strict client). */
    open_nk_strict(&fx, &p);
    {
        size_t big_len = 2 * NOISE_MAX_CHUNK_PLAINTEXT + 100;
        size_t big_sealed = noise_transport_sealed_len(big_len);
        uint8_t *plain = calloc(1, big_len);
        uint8_t *big = malloc(big_sealed);

        ck_assert_ptr_nonnull(plain);
        ck_assert_ptr_nonnull(big);
        ck_assert_int_eq(noise_transport_encrypt(&p.t, plain, big_len, big, big_sealed, &len),
                         STATUS_OK);
        send_data(&fx, p.cid, big, 2 * NOISE_MAX_MESSAGE_LEN);
        expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
        free(plain);
        free(big);
    }
    peer_clear(&p);

    peer_send(&fx, &neighbour, (const uint8_t *)"ok", 2);
    peer_expect(&fx, &neighbour, (const uint8_t *)"ok", 2);
    peer_clear(&neighbour);
    fixture_clear(&fx);
}
END_TEST

START_TEST(test_handshake_that_never_finishes_times_out)
{
    struct config cfg;
    struct fixture fx;
    uint32_t cid;
    int64_t due;

    config_defaults(&cfg);
    cfg.handshake_timeout_ms = 50;
    fixture_init(&fx, &cfg);
    cid = open_channel(&fx, CHANNEL_TYPE_CLIENT_NK);
    due = core_next_timeout_ms(fx.h.core, platform_monotonic_ms());
    ck_assert_int_ge(due, 0);
    ck_assert_int_le(due, 50);
    core_run_timers(fx.h.core, platform_monotonic_ms());
    ck_assert_ptr_null(fakesink_next(&fx.owner));
    core_run_timers(fx.h.core, platform_monotonic_ms() + 51);
    expect_closed(&fx, cid, STATUS_PERMISSION_DENIED, "handshake failed");
    ck_assert_int_eq(core_next_timeout_ms(fx.h.core, platform_monotonic_ms()), -1);
    fixture_clear(&fx);
}
END_TEST

/* KK: the test plays the peer enclave, holding the server's own static key. */
static void kk_peer_new(struct fixture *fx, enum noise_role role, const uint8_t *static_priv,
                        struct keystore **ks, struct noise_handshake **hs)
{
    uint8_t secret[32] = {0};

    ck_assert_int_eq(keystore_new(static_priv, secret, ks), STATUS_OK);
    ck_assert_int_eq(noise_handshake_new(NOISE_PATTERN_KK, role, *ks,
                                         keystore_public_key(fx->h.core->keystore), NULL, 0,
                                         rng_bytes, NULL, hs),
                     STATUS_OK);
}

START_TEST(test_kk_both_directions_with_the_fleet_key)
{
    struct fixture fx;
    struct keystore *ks;
    struct noise_handshake *hs;
    struct peer p;
    uint8_t fleet[32], msg[256], payload[64];
    size_t len = 0, plen = 0;
    struct sink_event *f;

    memset(fleet, 0x11, sizeof(fleet)); /* fakecore's server key */
    fixture_init(&fx, NULL);

    /* Server initiates: its first message follows channel_start. */
    memset(&p, 0, sizeof(p));
    kk_peer_new(&fx, NOISE_ROLE_RESPONDER, fleet, &ks, &hs);
    p.cid = open_channel(&fx, CHANNEL_TYPE_SERVER_KK_INITIATOR);
    f = expect_data(&fx, p.cid);
    ck_assert_int_eq(noise_handshake_read_message(hs, f->data,
                                                  f->len, payload,
                                                  sizeof(payload), &plen),
                     STATUS_OK);
    sink_event_free(f);
    ck_assert_uint_eq(plen, 32);
    ck_assert_mem_eq(payload, fx.hash, 32);
    ck_assert_int_eq(noise_handshake_write_message(hs, fx.hash, 32, msg, sizeof(msg), &len),
                     STATUS_OK);
    send_data(&fx, p.cid, msg, len);
    ck_assert_int_eq(noise_handshake_split(hs, &p.t), STATUS_OK);
    noise_handshake_free(hs);
    keystore_free(ks);
    peer_expect(&fx, &p, (const uint8_t *)"type 3", 6);
    peer_send(&fx, &p, (const uint8_t *)"kk!", 3);
    peer_expect(&fx, &p, (const uint8_t *)"kk!", 3);
    peer_clear(&p);

    /* Server responds. */
    memset(&p, 0, sizeof(p));
    kk_peer_new(&fx, NOISE_ROLE_INITIATOR, fleet, &ks, &p.hs);
    p.cid = open_channel(&fx, CHANNEL_TYPE_SERVER_KK_RESPONDER);
    ck_assert_int_eq(noise_handshake_write_message(p.hs, fx.hash, 32, msg, sizeof(msg), &len),
                     STATUS_OK);
    send_data(&fx, p.cid, msg, len);
    peer_finish(&fx, &p);
    keystore_free(ks);
    peer_expect(&fx, &p, (const uint8_t *)"type 3", 6);
    peer_clear(&p);
    ck_assert_uint_eq(fx.h.core->stats.handshakes_ok, 2);
    fixture_clear(&fx);
}
END_TEST

START_TEST(test_kk_rejects_other_code_or_other_key)
{
    struct fixture fx;
    struct keystore *ks;
    struct peer p;
    uint8_t fleet[32], stranger[32], other_hash[32], msg[256];
    size_t len = 0;

    memset(fleet, 0x11, sizeof(fleet));
    memset(stranger, 0x99, sizeof(stranger));
    memset(other_hash, 0x42, sizeof(other_hash));
    fixture_init(&fx, NULL);

    /* Same key, different code hash. */
    memset(&p, 0, sizeof(p));
    kk_peer_new(&fx, NOISE_ROLE_INITIATOR, fleet, &ks, &p.hs);
    p.cid = open_channel(&fx, CHANNEL_TYPE_SERVER_KK_RESPONDER);
    ck_assert_int_eq(noise_handshake_write_message(p.hs, other_hash, 32, msg, sizeof(msg), &len),
                     STATUS_OK);
    send_data(&fx, p.cid, msg, len);
    expect_closed(&fx, p.cid, STATUS_PERMISSION_DENIED, "handshake failed");
    peer_clear(&p);
    keystore_free(ks);

    /* Right code hash, a static key outside the fleet. */
    memset(&p, 0, sizeof(p));
    kk_peer_new(&fx, NOISE_ROLE_INITIATOR, stranger, &ks, &p.hs);
    p.cid = open_channel(&fx, CHANNEL_TYPE_SERVER_KK_RESPONDER);
    ck_assert_int_eq(noise_handshake_write_message(p.hs, fx.hash, 32, msg, sizeof(msg), &len),
                     STATUS_OK);
    send_data(&fx, p.cid, msg, len);
    expect_closed(&fx, p.cid, STATUS_PERMISSION_DENIED, "handshake failed");
    peer_clear(&p);
    keystore_free(ks);
    fixture_clear(&fx);
}
END_TEST

/* {====================================================================
 * Framings (DESIGN §6) and the empty ChannelData */

/* The KK responder channel of kk_both_directions, ready for transport. */
static void open_kk(struct fixture *fx, struct peer *p)
{
    struct keystore *ks;
    uint8_t fleet[32], msg[256];
    size_t len = 0;

    memset(fleet, 0x11, sizeof(fleet)); /* fakecore's server key */
    memset(p, 0, sizeof(*p));
    kk_peer_new(fx, NOISE_ROLE_INITIATOR, fleet, &ks, &p->hs);
    p->cid = open_channel(fx, CHANNEL_TYPE_SERVER_KK_RESPONDER);
    ck_assert_int_eq(noise_handshake_write_message(p->hs, fx->hash, 32, msg, sizeof(msg), &len),
                     STATUS_OK);
    send_data(fx, p->cid, msg, len);
    peer_finish(fx, p);
    keystore_free(ks);
    peer_expect(fx, p, (const uint8_t *)"type 3", 6);
}

static const size_t framing_lengths[] = {0, 1, 65518, 65519, 65520, 131038, 131039, 65519 * 3};

/* A client without the marker gets libsignal framing: every length libsignal
 * writes echoes, exact multiples (a full last message) and the empty
 * plaintext (a ChannelData of zero bytes) included; strict input works too,
 * and the server's own messages stay strict. */
START_TEST(test_nk_default_framing_takes_libsignal_messages)
{
    struct fixture fx;
    struct peer p;
    uint8_t *msg = malloc(65519 * 3);

    ck_assert_ptr_nonnull(msg);
    for (size_t i = 0; i < 65519 * 3; i++) {
        msg[i] = (uint8_t)(i * 5 + 1);
    }
    fixture_init(&fx, NULL);
    open_nk(&fx, &p);
    for (size_t i = 0; i < sizeof(framing_lengths) / sizeof(framing_lengths[0]); i++) {
        peer_send_libsignal(&fx, &p, msg, framing_lengths[i]);
        peer_expect(&fx, &p, msg, framing_lengths[i]);
        peer_send(&fx, &p, msg, framing_lengths[i]);
        peer_expect(&fx, &p, msg, framing_lengths[i]);
    }
    peer_clear(&p);
    free(msg);
    fixture_clear(&fx);
}
END_TEST

/* The first transport message a fresh server gets is an empty one on a
 * libsignal-framed channel: this closed the channel RESOURCE_EXHAUSTED "out
 * of memory" before (the scratch buffer was still NULL, and asking for 0
 * bytes grew nothing). Lua gets the empty message. */
START_TEST(test_nk_empty_channel_data_first_is_the_empty_message)
{
    static const char quiet_echo[] =
        "function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n";
    struct fixture fx;
    struct proc *quiet = NULL;
    struct peer p;

    fixture_init(&fx, NULL);
    ck_assert_int_eq(procs_create(fx.h.core->processes, "quiet", (const uint8_t *)quiet_echo,
                                  strlen(quiet_echo), 0, &quiet),
                     STATUS_OK);
    memcpy(fx.hash, process_code_hash(quiet->lua), 32);
    peer_start_nk(&fx, &p, fx.hash, 32, keystore_public_key(fx.h.core->keystore));
    peer_finish(&fx, &p);
    send_data(&fx, p.cid, NULL, 0);
    peer_expect(&fx, &p, NULL, 0);
    send_data(&fx, p.cid, NULL, 0);
    peer_expect(&fx, &p, NULL, 0);
    peer_send(&fx, &p, (const uint8_t *)"next", 4);
    peer_expect(&fx, &p, (const uint8_t *)"next", 4);
    ck_assert_uint_eq(fx.h.core->stats.limit_hits, 0);
    peer_clear(&p);
    fixture_clear(&fx);
}
END_TEST

START_TEST(test_raw_empty_channel_data_is_the_empty_message)
{
    struct fixture fx;
    struct sink_event *f;
    uint32_t cid;

    fixture_init(&fx, NULL);
    cid = open_channel(&fx, CHANNEL_TYPE_RAW);
    sink_event_free(expect_data(&fx, cid));
    send_data(&fx, cid, NULL, 0);
    f = expect_data(&fx, cid);
    ck_assert_uint_eq(f->len, 0);
    sink_event_free(f);
    ck_assert_ptr_null(fakesink_next(&fx.owner));
    fixture_clear(&fx);
}
END_TEST

/* A client with the marker gets strict framing: strict messages of every
 * length echo, and an empty ChannelData, a libsignal message of k * 65519
 * bytes, or a message cut at a chunk boundary by the host close the channel
 * DATA_LOSS "decrypt failed" (never "out of memory"), each as the channel's
 * first transport message too. */
START_TEST(test_nk_strict_marker_refuses_empty_full_last_and_cut_messages)
{
    static const size_t big_len = 2 * NOISE_MAX_CHUNK_PLAINTEXT + 100;
    struct fixture fx;
    struct peer p;
    uint8_t *msg = calloc(1, 65519 * 3);
    size_t sealed_len = noise_transport_sealed_len(big_len), len = 0;
    uint8_t *sealed = malloc(sealed_len);

    ck_assert_ptr_nonnull(msg);
    ck_assert_ptr_nonnull(sealed);
    fixture_init(&fx, NULL);
    open_nk_strict(&fx, &p);
    for (size_t i = 0; i < sizeof(framing_lengths) / sizeof(framing_lengths[0]); i++) {
        peer_send(&fx, &p, msg, framing_lengths[i]);
        peer_expect(&fx, &p, msg, framing_lengths[i]);
    }
    peer_clear(&p);

    open_nk_strict(&fx, &p);
    send_data(&fx, p.cid, NULL, 0);
    expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
    peer_clear(&p);

    open_nk_strict(&fx, &p);
    peer_send_libsignal(&fx, &p, msg, 65519);
    expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
    peer_clear(&p);

    open_nk_strict(&fx, &p);
    peer_send_libsignal(&fx, &p, msg, 131038);
    expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
    peer_clear(&p);

    open_nk_strict(&fx, &p);
    ck_assert_int_eq(noise_transport_encrypt(&p.t, msg, big_len, sealed, sealed_len, &len),
                     STATUS_OK);
    send_data(&fx, p.cid, sealed, 2 * NOISE_MAX_MESSAGE_LEN);
    expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
    peer_clear(&p);
    ck_assert_uint_eq(fx.h.core->stats.limit_hits, 0);
    free(msg);
    free(sealed);
    fixture_clear(&fx);
}
END_TEST

/* The marker counts as one of the 32 hashes, and on its own it attests no
 * process: no Lua source hashes to it, as its domain string is not Lua. */
START_TEST(test_nk_strict_marker_is_no_code_hash)
{
    struct fixture fx;
    struct peer p;
    struct proc *none = NULL;
    uint8_t list[33 * 32];

    fixture_init(&fx, NULL);
    ck_assert_int_eq(procs_create(fx.h.core->processes, "marker",
                                  (const uint8_t *)NOISE_STRICT_MARKER_DOMAIN,
                                  strlen(NOISE_STRICT_MARKER_DOMAIN), 0, &none),
                     STATUS_INVALID_ARGUMENT);
    peer_start_nk(&fx, &p, noise_strict_framing_marker, 32,
                  keystore_public_key(fx.h.core->keystore));
    expect_closed(&fx, p.cid, STATUS_PERMISSION_DENIED, "handshake failed");
    peer_clear(&p);
    /* 31 others, the hash and the marker: 33 entries is one too many. */
    memset(list, 0x66, sizeof(list));
    memcpy(list + 31 * 32, fx.hash, 32);
    memcpy(list + 32 * 32, noise_strict_framing_marker, 32);
    peer_start_nk(&fx, &p, list, sizeof(list), keystore_public_key(fx.h.core->keystore));
    expect_closed(&fx, p.cid, STATUS_PERMISSION_DENIED, "handshake failed");
    peer_clear(&p);
    /* 30 others, the hash and the marker fit, and the marker still counts. */
    memcpy(list + 30 * 32, fx.hash, 32);
    memcpy(list + 31 * 32, noise_strict_framing_marker, 32);
    peer_start_nk(&fx, &p, list, 32 * 32, keystore_public_key(fx.h.core->keystore));
    peer_finish(&fx, &p);
    peer_expect(&fx, &p, (const uint8_t *)"type 2", 6);
    send_data(&fx, p.cid, NULL, 0);
    expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
    peer_clear(&p);
    fixture_clear(&fx);
}
END_TEST

/* KK is always strict: empty and full-last messages are DATA_LOSS. */
START_TEST(test_kk_is_strict_and_refuses_empty_channel_data)
{
    struct fixture fx;
    struct peer p;
    uint8_t *msg = calloc(1, 65519);

    ck_assert_ptr_nonnull(msg);
    fixture_init(&fx, NULL);
    open_kk(&fx, &p);
    peer_send(&fx, &p, NULL, 0);
    peer_expect(&fx, &p, NULL, 0);
    peer_send(&fx, &p, msg, 65519);
    peer_expect(&fx, &p, msg, 65519);
    send_data(&fx, p.cid, NULL, 0);
    expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
    peer_clear(&p);
    open_kk(&fx, &p);
    peer_send_libsignal(&fx, &p, msg, 65519);
    expect_closed(&fx, p.cid, STATUS_DATA_LOSS, "decrypt failed");
    peer_clear(&p);
    free(msg);
    fixture_clear(&fx);
}
END_TEST

/* ====================================================================} */

START_TEST(test_lua_never_sees_a_channel_before_its_handshake)
{
    static const char app[] =
        "seen = 0\n"
        "function HandleChannelCreate(cid, t) seen = seen + 1 return {} end\n"
        "function HandleChannelMessage(cid, msg) return {{cid, tostring(seen)}} end\n";
    struct fixture fx;
    struct proc *counter = NULL;
    struct sink_event *f;
    uint32_t raw;

    fixture_init(&fx, NULL);
    ck_assert_int_eq(procs_create(fx.h.core->processes, "count", (const uint8_t *)app,
                                  strlen(app), 0,
                                  &counter),
                     STATUS_OK);
    memcpy(fx.hash, process_code_hash(counter->lua), 32);
    open_channel(&fx, CHANNEL_TYPE_CLIENT_NK);
    open_channel(&fx, CHANNEL_TYPE_SERVER_KK_RESPONDER);
    raw = open_channel(&fx, CHANNEL_TYPE_RAW);
    send_data(&fx, raw, (const uint8_t *)"?", 1);
    f = expect_data(&fx, raw);
    ck_assert_mem_eq(f->data, "1", 1);
    sink_event_free(f);
    fixture_clear(&fx);
}
END_TEST

/* Regression (fuzz_hook_output): outputs after a close of the same channel
 * in one list tripped the assertion in process.c's delivery pass and
 * aborted the server; any client could upload such an app. They are
 * dropped now, and the server carries on. */
START_TEST(test_outputs_after_a_close_in_the_same_list_are_dropped)
{
    static const char app[] =
        "function HandleChannelMessage(cid, msg)\n"
        "  if msg == 'ping' then return {{cid, 'pong'}} end\n"
        "  return {{cid, 'before'}, {cid, STATUS_ABORTED}, {cid, 'after'}, {cid, STATUS_OK}}\n"
        "end\n";
    struct fixture fx;
    struct proc *closer = NULL;
    struct sink_event *f;
    uint32_t a, b;

    fixture_init(&fx, NULL);
    ck_assert_int_eq(procs_create(fx.h.core->processes, "closer", (const uint8_t *)app,
                                  strlen(app), 0,
                                  &closer),
                     STATUS_OK);
    memcpy(fx.hash, process_code_hash(closer->lua), 32);
    a = open_channel(&fx, CHANNEL_TYPE_RAW);
    b = open_channel(&fx, CHANNEL_TYPE_RAW);
    send_data(&fx, a, (const uint8_t *)"go", 2);
    f = expect_data(&fx, a);
    ck_assert_uint_eq(f->len, 6);
    ck_assert_mem_eq(f->data, "before", 6);
    sink_event_free(f);
    expect_closed(&fx, a, STATUS_ABORTED, "closed by the process");
    send_data(&fx, b, (const uint8_t *)"ping", 4);
    f = expect_data(&fx, b);
    ck_assert_mem_eq(f->data, "pong", 4);
    sink_event_free(f);
    fixture_clear(&fx);
}
END_TEST

static Suite *channel_suite(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_raw_channel_echoes_and_closes_once);
    tcase_add_test(tc, test_nk_handshake_attests_and_echoes_every_chunk_boundary);
    tcase_add_test(tc, test_nk_accepts_hash_among_several);
    tcase_add_test(tc, test_nk_handshake_failures_close_with_permission_denied);
    tcase_add_test(tc, test_nk_transport_tamper_replay_reorder_close_with_data_loss);
    tcase_add_test(tc, test_handshake_that_never_finishes_times_out);
    tcase_add_test(tc, test_kk_both_directions_with_the_fleet_key);
    tcase_add_test(tc, test_kk_rejects_other_code_or_other_key);
    tcase_add_test(tc, test_nk_default_framing_takes_libsignal_messages);
    tcase_add_test(tc, test_nk_empty_channel_data_first_is_the_empty_message);
    tcase_add_test(tc, test_raw_empty_channel_data_is_the_empty_message);
    tcase_add_test(tc, test_nk_strict_marker_refuses_empty_full_last_and_cut_messages);
    tcase_add_test(tc, test_nk_strict_marker_is_no_code_hash);
    tcase_add_test(tc, test_kk_is_strict_and_refuses_empty_channel_data);
    tcase_add_test(tc, test_lua_never_sees_a_channel_before_its_handshake);
    tcase_add_test(tc, test_outputs_after_a_close_in_the_same_list_are_dropped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(channel_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
