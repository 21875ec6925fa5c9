/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "hex.h"
#include "libsignal_frame.h"
#include "crypto/keystore.h"
#include "crypto/noise.h"
#include "noise_vectors.h"
#include "crypto/x25519.h"

enum { VECTOR_COUNT = sizeof(noise_vectors) / sizeof(noise_vectors[0]), BUF_CAP = 512 };

/* {====================================================================
 * Deterministic randomness */

/* Hands out fixed bytes (a vector's ephemeral key), then fails. */
struct fixed_rng {
    uint8_t bytes[64];
    size_t len;
    size_t off;
};

static status_t fixed_rng_bytes(void *ctx, uint8_t *buf, size_t len)
{
    struct fixed_rng *r = ctx;

    if (len > r->len - r->off) {
        return STATUS_UNAVAILABLE;
    }
    memcpy(buf, r->bytes + r->off, len);
    r->off += len;
    return STATUS_OK;
}

/* xorshift64: any 32 bytes are a valid X25519 scalar. */
static status_t xorshift_rng_bytes(void *ctx, uint8_t *buf, size_t len)
{
    uint64_t *x = ctx;

    for (size_t i = 0; i < len; i++) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        buf[i] = (uint8_t)(*x >> 24);
    }
    return STATUS_OK;
}

/* ====================================================================}
 * {====================================================================
 * One side of a vector */

struct party {
    struct keystore *ks;
    struct noise_handshake *hs;
    struct fixed_rng rng;
};

struct party_overrides {
    const uint8_t *prologue; /* replaces the vector's when set */
    size_t prologue_len;
    const uint8_t *remote_static;
};

static void decode_or_null(const char *hex, uint8_t *out, size_t len, const uint8_t **ptr)
{
    *ptr = NULL;
    if (hex != NULL) {
        hex_decode_exact(hex, out, len);
        *ptr = out;
    }
}

static void party_init(struct party *p, const struct noise_vector *v, enum noise_role role,
                       const struct party_overrides *o)
{
    int init = role == NOISE_ROLE_INITIATOR;
    uint8_t prologue[BUF_CAP], priv[32], rs[32], sealing[32] = {0};
    const uint8_t *priv_p, *rs_p;
    long prologue_len;

    memset(p, 0, sizeof(*p));
    prologue_len = hex_decode(init ? v->init_prologue : v->resp_prologue, prologue, sizeof(prologue));
    ck_assert_int_ge(prologue_len, 0);
    decode_or_null(init ? v->init_static : v->resp_static, priv, 32, &priv_p);
    decode_or_null(init ? v->init_remote_static : v->resp_remote_static, rs, 32, &rs_p);
    hex_decode_exact(init ? v->init_ephemeral : v->resp_ephemeral, p->rng.bytes, 32);
    p->rng.len = 32;
    if (priv_p != NULL) {
        ck_assert_int_eq(keystore_new(priv_p, sealing, &p->ks), STATUS_OK);
    }
    if (o != NULL && o->prologue != NULL) {
        memcpy(prologue, o->prologue, o->prologue_len);
        prologue_len = (long)o->prologue_len;
    }
    if (o != NULL && o->remote_static != NULL) {
        rs_p = o->remote_static;
    }
    ck_assert_int_eq(noise_handshake_new(v->pattern, role, p->ks, rs_p, prologue,
                                         (size_t)prologue_len, fixed_rng_bytes, &p->rng, &p->hs),
                     STATUS_OK);
}

static void party_free(struct party *p)
{
    noise_handshake_free(p->hs);
    keystore_free(p->ks);
}

static size_t decode_message(const char *hex, uint8_t *out)
{
    long n = hex_decode(hex, out, BUF_CAP);

    ck_assert_int_ge(n, 0);
    return (size_t)n;
}

static const struct noise_vector *first_vector(enum noise_pattern pattern)
{
    for (size_t i = 0; i < VECTOR_COUNT; i++) {
        if (noise_vectors[i].pattern == pattern) {
            return &noise_vectors[i];
        }
    }
    ck_abort_msg("no vector for the pattern");
    return NULL;
}

/* ====================================================================}
 * {====================================================================
 * Vector replay */

/* Plays one side of vector v: writes (and compares byte for byte) what this
 * role sends, reads (and compares the payload of) what the peer sends. */
static void replay_vector(const struct noise_vector *v, enum noise_role role)
{
    struct party p;
    struct noise_transport t;
    uint8_t payload[BUF_CAP], ct[BUF_CAP], got[BUF_CAP], hash[32], want_hash[32];
    size_t got_len;

    party_init(&p, v, role, NULL);
    for (size_t i = 0; i < v->message_count; i++) {
        enum noise_role sender = i % 2 == 0 ? NOISE_ROLE_INITIATOR : NOISE_ROLE_RESPONDER;
        size_t payload_len = decode_message(v->messages[i].payload, payload);
        size_t ct_len = decode_message(v->messages[i].ciphertext, ct);
        int handshake = i < 2;
        status_t st;

        if (sender == role && handshake) {
            st = noise_handshake_write_message(p.hs, payload, payload_len, got, sizeof(got),
                                               &got_len);
        } else if (sender == role) {
            st = noise_transport_encrypt(&t, payload, payload_len, got, sizeof(got), &got_len);
        } else if (handshake) {
            st = noise_handshake_read_message(p.hs, ct, ct_len, got, sizeof(got), &got_len);
        } else {
            st = noise_transport_decrypt(&t, ct, ct_len, got, sizeof(got), &got_len);
        }
        ck_assert_int_eq(st, STATUS_OK);
        if (sender == role) {
            ck_assert_uint_eq(got_len, ct_len);
            ck_assert_mem_eq(got, ct, ct_len);
        } else {
            ck_assert_uint_eq(got_len, payload_len);
            ck_assert_mem_eq(got, payload, payload_len);
        }
        if (i == 1) {
            ck_assert(noise_handshake_is_complete(p.hs));
            if (v->handshake_hash != NULL) {
                hex_decode_exact(v->handshake_hash, want_hash, 32);
                noise_handshake_get_hash(p.hs, hash);
                ck_assert_mem_eq(hash, want_hash, 32);
            }
            ck_assert_int_eq(noise_handshake_split(p.hs, &t), STATUS_OK);
        }
    }
    ck_assert_uint_eq(p.rng.off, 32);
    noise_transport_clear(&t);
    party_free(&p);
}

/* Loop index = 2 * vector + role. */
START_TEST(test_noise_vectors_replay_in_both_roles)
{
    const struct noise_vector *v = &noise_vectors[_i / 2];
    enum noise_role role = _i % 2 == 0 ? NOISE_ROLE_INITIATOR : NOISE_ROLE_RESPONDER;

    ck_assert(v->message_count >= 2);
    replay_vector(v, role);
}
END_TEST

START_TEST(test_noise_vector_file_has_every_pattern_with_a_hash)
{
    int seen[2][2] = {{0}};

    ck_assert_uint_eq(VECTOR_COUNT, 6);
    for (size_t i = 0; i < VECTOR_COUNT; i++) {
        seen[noise_vectors[i].pattern][noise_vectors[i].handshake_hash != NULL] = 1;
    }
    ck_assert(seen[NOISE_PATTERN_NK][1] && seen[NOISE_PATTERN_KK][1]);
}
END_TEST

/* ====================================================================}
 * {====================================================================
 * Handshake rejections */

/* A responder that reads msg (len bytes) as message 0 of v. */
static status_t respond_to(const struct noise_vector *v, const uint8_t *msg, size_t len,
                           const struct party_overrides *o)
{
    struct party p;
    uint8_t payload[BUF_CAP];
    size_t payload_len = 12345;
    status_t st;

    party_init(&p, v, NOISE_ROLE_RESPONDER, o);
    st = noise_handshake_read_message(p.hs, msg, len, payload, sizeof(payload), &payload_len);
    if (st != STATUS_OK) {
        ck_assert_uint_eq(payload_len, 12345);
        ck_assert(!noise_handshake_is_complete(p.hs));
        /* A failed handshake stays failed. */
        ck_assert_int_eq(noise_handshake_write_message(p.hs, NULL, 0, payload, sizeof(payload),
                                                       &payload_len),
                         STATUS_FAILED_PRECONDITION);
    }
    party_free(&p);
    return st;
}

/* An initiator that writes message 0 of v, then reads msg as message 1. */
static status_t initiate_and_read(const struct noise_vector *v, const uint8_t *msg, size_t len,
                                  const struct party_overrides *o)
{
    struct party p;
    uint8_t payload[BUF_CAP], out[BUF_CAP];
    size_t payload_len = decode_message(v->messages[0].payload, payload), out_len;
    status_t st;

    party_init(&p, v, NOISE_ROLE_INITIATOR, o);
    ck_assert_int_eq(noise_handshake_write_message(p.hs, payload, payload_len, out, sizeof(out),
                                                   &out_len),
                     STATUS_OK);
    st = noise_handshake_read_message(p.hs, msg, len, payload, sizeof(payload), &payload_len);
    ck_assert(noise_handshake_is_complete(p.hs) == (st == STATUS_OK));
    party_free(&p);
    return st;
}

START_TEST(test_noise_rejects_flipped_bit_in_each_handshake_message)
{
    const struct noise_vector *v = &noise_vectors[_i];
    uint8_t m0[BUF_CAP], m1[BUF_CAP];
    size_t m0_len = decode_message(v->messages[0].ciphertext, m0);
    size_t m1_len = decode_message(v->messages[1].ciphertext, m1);

    ck_assert_int_eq(respond_to(v, m0, m0_len, NULL), STATUS_OK);
    ck_assert_int_eq(initiate_and_read(v, m1, m1_len, NULL), STATUS_OK);
    /* One bit per byte, cycling through bit positions; the top bit of the
     * ephemeral key is ignored by X25519 but still hashed into h. */
    for (size_t j = 0; j < m0_len; j++) {
        m0[j] ^= (uint8_t)(1u << (j % 8));
        ck_assert_int_eq(respond_to(v, m0, m0_len, NULL), STATUS_PERMISSION_DENIED);
        m0[j] ^= (uint8_t)(1u << (j % 8));
    }
    m0[31] ^= 0x80;
    ck_assert_int_eq(respond_to(v, m0, m0_len, NULL), STATUS_PERMISSION_DENIED);
    m0[31] ^= 0x80;
    for (size_t j = 0; j < m1_len; j++) {
        m1[j] ^= (uint8_t)(1u << (j % 8));
        ck_assert_int_eq(initiate_and_read(v, m1, m1_len, NULL), STATUS_PERMISSION_DENIED);
        m1[j] ^= (uint8_t)(1u << (j % 8));
    }
}
END_TEST

START_TEST(test_noise_rejects_wrong_prologue)
{
    const struct noise_vector *v = &noise_vectors[_i];
    struct party_overrides o = {.prologue = (const uint8_t *)"x", .prologue_len = 1};
    struct party_overrides empty = {.prologue = (const uint8_t *)"", .prologue_len = 0};
    uint8_t m0[BUF_CAP], m1[BUF_CAP];
    size_t m0_len = decode_message(v->messages[0].ciphertext, m0);
    size_t m1_len = decode_message(v->messages[1].ciphertext, m1);

    ck_assert_int_eq(respond_to(v, m0, m0_len, &o), STATUS_PERMISSION_DENIED);
    ck_assert_int_eq(respond_to(v, m0, m0_len, &empty), STATUS_PERMISSION_DENIED);
    ck_assert_int_eq(initiate_and_read(v, m1, m1_len, &o), STATUS_PERMISSION_DENIED);
}
END_TEST

START_TEST(test_noise_rejects_wrong_remote_static)
{
    const struct noise_vector *v = &noise_vectors[_i];
    uint8_t other[32], other_priv[32];
    struct party_overrides o = {.remote_static = other};
    uint8_t m0[BUF_CAP], m1[BUF_CAP];
    size_t m0_len = decode_message(v->messages[0].ciphertext, m0);
    size_t m1_len = decode_message(v->messages[1].ciphertext, m1);

    memset(other_priv, 0x5a, sizeof(other_priv));
    x25519_public_key(other, other_priv);
    /* The initiator aims at the wrong responder key: message 1 no longer fits. */
    ck_assert_int_eq(initiate_and_read(v, m1, m1_len, &o), STATUS_PERMISSION_DENIED);
    if (v->pattern == NOISE_PATTERN_KK) {
        /* The KK responder expects another initiator: message 0 fails on ss. */
        ck_assert_int_eq(respond_to(v, m0, m0_len, &o), STATUS_PERMISSION_DENIED);
    }
}
END_TEST

START_TEST(test_noise_rejects_every_truncation_of_message_0)
{
    const struct noise_vector *v = &noise_vectors[_i];
    uint8_t m0[BUF_CAP];
    size_t m0_len = decode_message(v->messages[0].ciphertext, m0);

    for (size_t n = 0; n < m0_len; n++) {
        /* An exact-size heap copy, so ASan sees any read past n. */
        uint8_t *copy = malloc(n > 0 ? n : 1);

        ck_assert_ptr_nonnull(copy);
        memcpy(copy, m0, n);
        ck_assert_int_eq(respond_to(v, copy, n, NULL), STATUS_PERMISSION_DENIED);
        free(copy);
    }
}
END_TEST

START_TEST(test_noise_rejects_oversized_handshake_message)
{
    const struct noise_vector *v = first_vector(NOISE_PATTERN_NK);
    uint8_t *big = calloc(1, NOISE_MAX_MESSAGE_LEN + 1);

    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(respond_to(v, big, NOISE_MAX_MESSAGE_LEN + 1, NULL),
                     STATUS_PERMISSION_DENIED);
    free(big);
}
END_TEST

/* Points of order 1, 2 and 8 (little-endian u). */
static const char *const low_order_points[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
};

START_TEST(test_noise_rejects_low_order_ephemeral_key)
{
    const struct noise_vector *v = &noise_vectors[_i];
    uint8_t m0[BUF_CAP], m1[BUF_CAP], scalar[32], out[32];
    size_t m0_len = decode_message(v->messages[0].ciphertext, m0);
    size_t m1_len = decode_message(v->messages[1].ciphertext, m1);

    memset(scalar, 0x77, sizeof(scalar));
    for (size_t k = 0; k < sizeof(low_order_points) / sizeof(low_order_points[0]); k++) {
        hex_decode_exact(low_order_points[k], m0, 32);
        hex_decode_exact(low_order_points[k], m1, 32);
        /* The point really is low order: DH with it is zero. */
        ck_assert_int_eq(x25519(out, scalar, m0), STATUS_PERMISSION_DENIED);
        status_trail_reset();
        ck_assert_int_eq(respond_to(v, m0, m0_len, NULL), STATUS_PERMISSION_DENIED);
        ck_assert_str_eq(status_trail_message(), "x25519 result is zero");
        status_trail_reset();
        ck_assert_int_eq(initiate_and_read(v, m1, m1_len, NULL), STATUS_PERMISSION_DENIED);
        ck_assert_str_eq(status_trail_message(), "x25519 result is zero");
    }
}
END_TEST

START_TEST(test_noise_rejects_out_of_turn_calls)
{
    const struct noise_vector *v = &noise_vectors[_i];
    struct party ini, resp;
    struct noise_transport t;
    uint8_t m0[BUF_CAP], m1[BUF_CAP], buf[BUF_CAP];
    size_t m0_len = decode_message(v->messages[0].ciphertext, m0);
    size_t m1_len = decode_message(v->messages[1].ciphertext, m1);
    size_t n = 777;

    party_init(&ini, v, NOISE_ROLE_INITIATOR, NULL);
    party_init(&resp, v, NOISE_ROLE_RESPONDER, NULL);
    ck_assert_int_eq(noise_handshake_read_message(ini.hs, m1, m1_len, buf, sizeof(buf), &n),
                     STATUS_FAILED_PRECONDITION);
    ck_assert_int_eq(noise_handshake_write_message(resp.hs, NULL, 0, buf, sizeof(buf), &n),
                     STATUS_FAILED_PRECONDITION);
    ck_assert_int_eq(noise_handshake_split(ini.hs, &t), STATUS_FAILED_PRECONDITION);
    ck_assert_uint_eq(n, 777);
    /* Out-of-turn calls do not spoil the handshake: the vector still plays. */
    ck_assert_int_eq(noise_handshake_write_message(ini.hs, NULL, 0, buf, sizeof(buf), &n),
                     STATUS_OK);
    ck_assert_int_eq(noise_handshake_write_message(ini.hs, NULL, 0, buf, sizeof(buf), &n),
                     STATUS_FAILED_PRECONDITION);
    ck_assert_int_eq(noise_handshake_read_message(resp.hs, m0, m0_len, buf, sizeof(buf), &n),
                     STATUS_OK);
    ck_assert_int_eq(noise_handshake_read_message(resp.hs, m0, m0_len, buf, sizeof(buf), &n),
                     STATUS_FAILED_PRECONDITION);
    ck_assert_int_eq(noise_handshake_split(resp.hs, &t), STATUS_FAILED_PRECONDITION);
    party_free(&ini);
    party_free(&resp);
}
END_TEST

START_TEST(test_noise_new_rejects_missing_keys)
{
    struct noise_handshake *hs = NULL;
    uint8_t rs[32] = {9}, priv[32] = {1}, sealing[32] = {0};
    uint64_t seed = 1;
    struct keystore *ks;

    ck_assert_int_eq(keystore_new(priv, sealing, &ks), STATUS_OK);
    ck_assert_int_eq(noise_handshake_new(NOISE_PATTERN_NK, NOISE_ROLE_INITIATOR, NULL, NULL, NULL,
                                         0, xorshift_rng_bytes, &seed, &hs),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(noise_handshake_new(NOISE_PATTERN_NK, NOISE_ROLE_RESPONDER, NULL, NULL, NULL,
                                         0, xorshift_rng_bytes, &seed, &hs),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(noise_handshake_new(NOISE_PATTERN_KK, NOISE_ROLE_INITIATOR, NULL, rs, NULL,
                                         0, xorshift_rng_bytes, &seed, &hs),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(noise_handshake_new(NOISE_PATTERN_KK, NOISE_ROLE_RESPONDER, ks, NULL, NULL,
                                         0, xorshift_rng_bytes, &seed, &hs),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(noise_handshake_new(NOISE_PATTERN_NK, NOISE_ROLE_RESPONDER, ks, NULL, NULL,
                                         0, NULL, NULL, &hs),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_null(hs);
    noise_handshake_free(NULL);
    keystore_free(ks);
}
END_TEST

/* ====================================================================}
 * {====================================================================
 * Transport */

/* A live handshake with an empty prologue, as the product runs it. */
static void handshake_pair(enum noise_pattern pattern, struct noise_transport *ti,
                           struct noise_transport *tr)
{
    uint8_t priv_i[32], priv_r[32], sealing[32] = {0}, buf[BUF_CAP], hi[32], hr[32];
    uint64_t seed_i = 0x1234, seed_r = 0x5678;
    struct keystore *ks_i, *ks_r;
    struct noise_handshake *i, *r;
    size_t n, m;

    memset(priv_i, 0x11, sizeof(priv_i));
    memset(priv_r, 0x22, sizeof(priv_r));
    ck_assert_int_eq(keystore_new(priv_i, sealing, &ks_i), STATUS_OK);
    ck_assert_int_eq(keystore_new(priv_r, sealing, &ks_r), STATUS_OK);
    ck_assert_int_eq(noise_handshake_new(pattern, NOISE_ROLE_INITIATOR,
                                         pattern == NOISE_PATTERN_KK ? ks_i : NULL,
                                         keystore_public_key(ks_r), NULL, 0, xorshift_rng_bytes,
                                         &seed_i, &i),
                     STATUS_OK);
    ck_assert_int_eq(noise_handshake_new(pattern, NOISE_ROLE_RESPONDER, ks_r,
                                         pattern == NOISE_PATTERN_KK ? keystore_public_key(ks_i)
                                                                     : NULL,
                                         NULL, 0, xorshift_rng_bytes, &seed_r, &r),
                     STATUS_OK);
    ck_assert_int_eq(noise_handshake_write_message(i, (const uint8_t *)"hi", 2, buf, sizeof(buf), &n),
                     STATUS_OK);
    ck_assert_uint_eq(n, 32 + 2 + 16);
    ck_assert_int_eq(noise_handshake_read_message(r, buf, n, buf, sizeof(buf), &m), STATUS_OK);
    ck_assert_uint_eq(m, 2);
    ck_assert_mem_eq(buf, "hi", 2);
    ck_assert_int_eq(noise_handshake_write_message(r, NULL, 0, buf, sizeof(buf), &n), STATUS_OK);
    ck_assert_uint_eq(n, 48);
    ck_assert_int_eq(noise_handshake_read_message(i, buf, n, buf, sizeof(buf), &m), STATUS_OK);
    ck_assert_uint_eq(m, 0);
    noise_handshake_get_hash(i, hi);
    noise_handshake_get_hash(r, hr);
    ck_assert_mem_eq(hi, hr, 32);
    ck_assert_int_eq(noise_handshake_split(i, ti), STATUS_OK);
    ck_assert_int_eq(noise_handshake_split(r, tr), STATUS_OK);
    ck_assert_mem_eq(ti->send.key, tr->recv.key, NOISE_KEY_LEN);
    ck_assert_mem_eq(ti->recv.key, tr->send.key, NOISE_KEY_LEN);
    ck_assert_mem_ne(ti->send.key, ti->recv.key, NOISE_KEY_LEN);
    noise_handshake_free(i);
    noise_handshake_free(r);
    keystore_free(ks_i);
    keystore_free(ks_r);
}

START_TEST(test_noise_transport_rejects_replayed_reordered_and_tampered_messages)
{
    struct noise_transport ti, tr;
    uint8_t c1[64], c2[64], c3[64], out[64];
    size_t n1, n2, n3, n = 999;

    handshake_pair(_i == 0 ? NOISE_PATTERN_NK : NOISE_PATTERN_KK, &ti, &tr);
    ck_assert_int_eq(noise_transport_encrypt(&ti, (const uint8_t *)"one", 3, c1, sizeof(c1), &n1),
                     STATUS_OK);
    ck_assert_int_eq(noise_transport_encrypt(&ti, (const uint8_t *)"two", 3, c2, sizeof(c2), &n2),
                     STATUS_OK);
    ck_assert_int_eq(noise_transport_encrypt(&ti, (const uint8_t *)"", 0, c3, sizeof(c3), &n3),
                     STATUS_OK);
    ck_assert_uint_eq(n3, 16);
    /* Reordered. */
    ck_assert_int_eq(noise_transport_decrypt(&tr, c2, n2, out, sizeof(out), &n), STATUS_DATA_LOSS);
    ck_assert_uint_eq(n, 999);
    ck_assert_int_eq(noise_transport_decrypt(&tr, c1, n1, out, sizeof(out), &n), STATUS_OK);
    ck_assert_mem_eq(out, "one", 3);
    /* Replayed. */
    ck_assert_int_eq(noise_transport_decrypt(&tr, c1, n1, out, sizeof(out), &n), STATUS_DATA_LOSS);
    ck_assert_int_eq(noise_transport_decrypt(&tr, c2, n2, out, sizeof(out), &n), STATUS_OK);
    ck_assert_mem_eq(out, "two", 3);
    /* Tampered, byte by byte; failures leave the nonce where it was. */
    for (size_t j = 0; j < n3; j++) {
        c3[j] ^= 0x01;
        ck_assert_int_eq(noise_transport_decrypt(&tr, c3, n3, out, sizeof(out), &n),
                         STATUS_DATA_LOSS);
        c3[j] ^= 0x01;
    }
    ck_assert_int_eq(noise_transport_decrypt(&tr, c3, n3, out, sizeof(out), &n), STATUS_OK);
    ck_assert_uint_eq(n, 0);
    /* The other direction has its own key: a message does not come back. */
    ck_assert_int_eq(noise_transport_encrypt(&ti, (const uint8_t *)"x", 1, c1, sizeof(c1), &n1),
                     STATUS_OK);
    ck_assert_int_eq(noise_transport_decrypt(&ti, c1, n1, out, sizeof(out), &n), STATUS_DATA_LOSS);
    noise_transport_clear(&ti);
    noise_transport_clear(&tr);
}
END_TEST

START_TEST(test_noise_transport_never_uses_the_last_nonce)
{
    struct noise_transport ti, tr;
    uint8_t *pt = calloc(1, NOISE_MAX_CHUNK_PLAINTEXT + 1);
    uint8_t *ct = malloc(NOISE_MAX_MESSAGE_LEN + 32);
    size_t n = 4242;

    ck_assert_ptr_nonnull(pt);
    ck_assert_ptr_nonnull(ct);
    handshake_pair(NOISE_PATTERN_NK, &ti, &tr);
    ti.send.nonce = UINT64_MAX;
    ck_assert_int_eq(noise_transport_encrypt(&ti, pt, 1, ct, 64, &n), STATUS_RESOURCE_EXHAUSTED);
    /* Two chunks would need nonces 2^64-2 and 2^64-1. */
    ti.send.nonce = UINT64_MAX - 1;
    ck_assert_int_eq(noise_transport_encrypt(&ti, pt, NOISE_MAX_CHUNK_PLAINTEXT + 1, ct,
                                             NOISE_MAX_MESSAGE_LEN + 32, &n),
                     STATUS_RESOURCE_EXHAUSTED);
    ck_assert_uint_eq(n, 4242);
    ck_assert_uint_eq(ti.send.nonce, UINT64_MAX - 1);
    ck_assert_int_eq(noise_transport_encrypt(&ti, pt, 1, ct, 64, &n), STATUS_OK);
    ck_assert_uint_eq(ti.send.nonce, UINT64_MAX);
    tr.recv.nonce = UINT64_MAX;
    ck_assert_int_eq(noise_transport_decrypt(&tr, ct, n, pt, 64, &n), STATUS_DATA_LOSS);
    tr.recv.nonce = UINT64_MAX - 1;
    ck_assert_int_eq(noise_transport_decrypt(&tr, ct, n, pt, 64, &n), STATUS_OK);
    ck_assert_uint_eq(n, 1);
    free(pt);
    free(ct);
}
END_TEST

/* Plaintext lengths at and around every chunk boundary; 131022 is the size at
 * which HsmEnclave's decrypt over-read. */
static const size_t boundary_lengths[] = {
    0, 1, 2, 15, 16, 17, 65518, 65519, 65520, 65535, 65536, 131022, 131037, 131038, 131039,
    2 * 65519 - 1, 2 * 65519, 2 * 65519 + 1, 3 * 65519 - 1, 3 * 65519, 3 * 65519 + 1,
    4 * 65519 - 1, 4 * 65519, 4 * 65519 + 1,
};

static size_t expected_sealed_len(size_t len)
{
    /* Full chunks, then one short (possibly empty) final chunk. */
    size_t chunks = len / NOISE_MAX_CHUNK_PLAINTEXT + 1;

    return len + 16 * chunks;
}

START_TEST(test_noise_transport_round_trips_at_chunk_boundaries)
{
    struct noise_transport ti, tr;
    uint64_t nonce_before;

    handshake_pair(NOISE_PATTERN_NK, &ti, &tr);
    for (size_t k = 0; k < sizeof(boundary_lengths) / sizeof(boundary_lengths[0]); k++) {
        size_t len = boundary_lengths[k], sealed = noise_transport_sealed_len(len), n = 0;
        /* Exact-size heap buffers so ASan catches any access past either end. */
        uint8_t *pt = malloc(len + 1), *ct = malloc(sealed), *back = malloc(len + 1);

        ck_assert_ptr_nonnull(pt);
        ck_assert_ptr_nonnull(ct);
        ck_assert_ptr_nonnull(back);
        ck_assert_uint_eq(sealed, expected_sealed_len(len));
        for (size_t j = 0; j < len; j++) {
            pt[j] = (uint8_t)(j * 131 + k);
        }
        nonce_before = ti.send.nonce;
        ck_assert_int_eq(noise_transport_encrypt(&ti, pt, len, ct, sealed, &n), STATUS_OK);
        ck_assert_uint_eq(n, sealed);
        ck_assert_uint_eq(ti.send.nonce - nonce_before, (sealed - len) / 16);
        ck_assert_int_eq(noise_transport_decrypt(&tr, ct, sealed, back, len, &n), STATUS_OK);
        ck_assert_uint_eq(n, len);
        ck_assert(len == 0 || memcmp(pt, back, len) == 0);
        ck_assert_uint_eq(tr.recv.nonce, ti.send.nonce);
        free(pt);
        free(ct);
        free(back);
    }
    ck_assert_uint_eq(noise_transport_sealed_len(SIZE_MAX), 0);
    ck_assert_uint_eq(noise_transport_sealed_len(SIZE_MAX - 15), 0);
}
END_TEST

/* Every truncation by 1..17 bytes of a sealed boundary-sized message fails
 * cleanly (exact-size buffers: an over-read is an ASan error), including a
 * cut on a chunk boundary, and a short cap is refused before anything is
 * written. */
START_TEST(test_noise_transport_rejects_truncated_messages_without_over_read)
{
    struct noise_transport ti, tr;

    handshake_pair(NOISE_PATTERN_KK, &ti, &tr);
    for (size_t k = 0; k < sizeof(boundary_lengths) / sizeof(boundary_lengths[0]); k++) {
        size_t len = boundary_lengths[k], sealed = noise_transport_sealed_len(len), n = 31337;
        uint8_t *pt = calloc(1, len + 1), *ct = malloc(sealed), *back = malloc(len + 1);
        uint64_t recv_nonce = tr.recv.nonce;

        ck_assert_int_eq(noise_transport_encrypt(&ti, pt, len, ct, sealed, &n), STATUS_OK);
        for (size_t cut = 1; cut <= 17 && cut <= sealed; cut++) {
            uint8_t *short_ct = malloc(sealed - cut + 1);

            memcpy(short_ct, ct, sealed - cut);
            n = 31337;
            ck_assert_int_eq(noise_transport_decrypt(&tr, short_ct, sealed - cut, back, len + 1,
                                                     &n),
                             STATUS_DATA_LOSS);
            ck_assert_uint_eq(n, 31337);
            ck_assert_uint_eq(tr.recv.nonce, recv_nonce);
            free(short_ct);
        }
        if (len > 0) {
            ck_assert_int_eq(noise_transport_decrypt(&tr, ct, sealed, back, len - 1, &n),
                             STATUS_INVALID_ARGUMENT);
        }
        ck_assert_int_eq(noise_transport_decrypt(&tr, ct, sealed, back, len, &n), STATUS_OK);
        free(pt);
        free(ct);
        free(back);
    }
}
END_TEST

/* Lengths no encrypt can produce: below one tag, a last Noise message that is
 * full (a message cut at a chunk boundary), and a trailing message shorter
 * than a tag after full ones. */
START_TEST(test_noise_transport_rejects_impossible_lengths)
{
    struct noise_transport ti, tr;
    uint8_t *ct = calloc(1, 3 * NOISE_MAX_MESSAGE_LEN);
    uint8_t *out = malloc(3 * NOISE_MAX_MESSAGE_LEN);
    size_t n = 5;

    ck_assert_ptr_nonnull(ct);
    ck_assert_ptr_nonnull(out);
    handshake_pair(NOISE_PATTERN_NK, &ti, &tr);
    for (size_t len = 0; len < 16; len++) {
        ck_assert_int_eq(noise_transport_decrypt(&tr, ct, len, out, 3 * NOISE_MAX_MESSAGE_LEN, &n),
                         STATUS_DATA_LOSS);
    }
    for (size_t full = 1; full <= 2; full++) {
        for (size_t extra = 0; extra < 16; extra++) {
            size_t len = full * NOISE_MAX_MESSAGE_LEN + extra;

            ck_assert_int_eq(noise_transport_decrypt(&tr, ct, len, out, 3 * NOISE_MAX_MESSAGE_LEN,
                                                     &n),
                             STATUS_DATA_LOSS);
        }
    }
    /* Right lengths, wrong bytes. */
    ck_assert_int_eq(noise_transport_decrypt(&tr, ct, 16, out, 16, &n), STATUS_DATA_LOSS);
    ck_assert_int_eq(noise_transport_decrypt(&tr, ct, NOISE_MAX_MESSAGE_LEN + 17, out,
                                             3 * NOISE_MAX_MESSAGE_LEN, &n),
                     STATUS_DATA_LOSS);
    ck_assert_uint_eq(n, 5);
    ck_assert_uint_eq(tr.recv.nonce, 0);
    free(ct);
    free(out);
}
END_TEST

/* A multi-chunk message whose second chunk is corrupt leaves no plaintext of
 * the authentic first chunk in the output. */
START_TEST(test_noise_transport_wipes_output_when_a_later_chunk_fails)
{
    struct noise_transport ti, tr;
    size_t len = NOISE_MAX_CHUNK_PLAINTEXT + 10, sealed = noise_transport_sealed_len(len), n;
    uint8_t *pt = malloc(len), *ct = malloc(sealed), *out = malloc(len);

    ck_assert_ptr_nonnull(pt);
    ck_assert_ptr_nonnull(ct);
    ck_assert_ptr_nonnull(out);
    memset(pt, 0xab, len);
    handshake_pair(NOISE_PATTERN_NK, &ti, &tr);
    ck_assert_int_eq(noise_transport_encrypt(&ti, pt, len, ct, sealed, &n), STATUS_OK);
    ct[sealed - 1] ^= 1;
    ck_assert_int_eq(noise_transport_decrypt(&tr, ct, sealed, out, len, &n), STATUS_DATA_LOSS);
    for (size_t j = 0; j < len; j++) {
        ck_assert_uint_eq(out[j], 0);
    }
    free(pt);
    free(ct);
    free(out);
}
END_TEST

/* ====================================================================} */

/* {====================================================================
 * The two framings (DESIGN §6) */

START_TEST(test_noise_strict_marker_is_the_hash_of_its_domain_string)
{
    uint8_t want[32];

    ck_assert_int_eq(mbedtls_sha256((const unsigned char *)NOISE_STRICT_MARKER_DOMAIN,
                                    strlen(NOISE_STRICT_MARKER_DOMAIN), want, 0),
                     0);
    ck_assert_mem_eq(noise_strict_framing_marker, want, 32);
}
END_TEST

START_TEST(test_noise_split_starts_with_strict_framing)
{
    struct noise_transport ti, tr;

    memset(&ti, 0xff, sizeof(ti));
    memset(&tr, 0xff, sizeof(tr));
    handshake_pair(NOISE_PATTERN_NK, &ti, &tr);
    ck_assert_int_eq(ti.recv_framing, NOISE_FRAMING_STRICT);
    ck_assert_int_eq(tr.recv_framing, NOISE_FRAMING_STRICT);
}
END_TEST

/* libsignal framing reads what libsignal writes at every boundary, exact
 * multiples (a full last message) and the empty plaintext (zero bytes, no
 * nonce used) included, and strict input too; strict framing refuses exactly
 * the libsignal messages whose last Noise message is full, and zero bytes. */
START_TEST(test_noise_libsignal_framing_reads_full_last_message_and_strict_refuses_it)
{
    struct noise_transport ti, tr_lib, tr_strict;

    handshake_pair(NOISE_PATTERN_NK, &ti, &tr_lib);
    tr_strict = tr_lib;
    tr_lib.recv_framing = NOISE_FRAMING_LIBSIGNAL;
    for (size_t k = 0; k < sizeof(boundary_lengths) / sizeof(boundary_lengths[0]); k++) {
        size_t len = boundary_lengths[k], lib_len = libsignal_sealed_len(len);
        size_t strict_len = noise_transport_sealed_len(len), n = 777;
        /* Exact-size heap buffers so ASan catches any access past either end. */
        uint8_t *pt = malloc(len + 1), *lib = malloc(lib_len + 1), *back = malloc(len + 1);
        uint8_t *strict = malloc(strict_len);
        int full_last = len % LIBSIGNAL_CHUNK == 0;
        uint64_t strict_nonce = tr_strict.recv.nonce;

        ck_assert_ptr_nonnull(pt);
        ck_assert_ptr_nonnull(lib);
        ck_assert_ptr_nonnull(back);
        ck_assert_ptr_nonnull(strict);
        for (size_t j = 0; j < len; j++) {
            pt[j] = (uint8_t)(j * 29 + k);
        }
        ck_assert_uint_eq(libsignal_seal(&ti.send, pt, len, lib), lib_len);
        ck_assert_int_eq(noise_transport_decrypt(&tr_lib, lib, lib_len, back, len, &n),
                         STATUS_OK);
        ck_assert_uint_eq(n, len);
        ck_assert(len == 0 || memcmp(pt, back, len) == 0);
        ck_assert_uint_eq(tr_lib.recv.nonce, ti.send.nonce);
        n = 777;
        if (full_last) {
            ck_assert_int_eq(noise_transport_decrypt(&tr_strict, lib, lib_len, back, len + 1, &n),
                             STATUS_DATA_LOSS);
            ck_assert_uint_eq(n, 777);
            ck_assert_uint_eq(tr_strict.recv.nonce, strict_nonce);
        } else {
            ck_assert_int_eq(noise_transport_decrypt(&tr_strict, lib, lib_len, back, len, &n),
                             STATUS_OK);
            ck_assert_uint_eq(n, len);
        }
        tr_strict.recv.nonce = tr_lib.recv.nonce;
        /* Strict input (what enclaved sends) is libsignal input too. */
        ck_assert_int_eq(noise_transport_encrypt(&ti, pt, len, strict, strict_len, &n),
                         STATUS_OK);
        ck_assert_int_eq(noise_transport_decrypt(&tr_lib, strict, strict_len, back, len, &n),
                         STATUS_OK);
        ck_assert_uint_eq(n, len);
        ck_assert(len == 0 || memcmp(pt, back, len) == 0);
        tr_strict.recv.nonce = tr_lib.recv.nonce;
        free(pt);
        free(lib);
        free(back);
        free(strict);
    }
}
END_TEST

/* The trade-off: a message cut at a chunk boundary is refused under strict
 * framing and read as its own prefix under libsignal framing. */
START_TEST(test_noise_cut_at_chunk_boundary_is_data_loss_only_when_strict)
{
    struct noise_transport ti, tr;
    size_t len = 2 * LIBSIGNAL_CHUNK + 500, sealed = noise_transport_sealed_len(len), n = 9;
    size_t cut = 2 * NOISE_MAX_MESSAGE_LEN;
    uint8_t *pt = malloc(len), *ct = malloc(sealed), *back = malloc(len);

    ck_assert_ptr_nonnull(pt);
    ck_assert_ptr_nonnull(ct);
    ck_assert_ptr_nonnull(back);
    memset(pt, 0x5a, len);
    handshake_pair(NOISE_PATTERN_NK, &ti, &tr);
    ck_assert_int_eq(noise_transport_encrypt(&ti, pt, len, ct, sealed, &n), STATUS_OK);
    n = 9;
    ck_assert_int_eq(noise_transport_decrypt(&tr, ct, cut, back, len, &n), STATUS_DATA_LOSS);
    ck_assert_uint_eq(n, 9);
    ck_assert_uint_eq(tr.recv.nonce, 0);
    tr.recv_framing = NOISE_FRAMING_LIBSIGNAL;
    ck_assert_int_eq(noise_transport_decrypt(&tr, ct, cut, back, len, &n), STATUS_OK);
    ck_assert_uint_eq(n, 2 * LIBSIGNAL_CHUNK);
    ck_assert_uint_eq(tr.recv.nonce, 2);
    free(pt);
    free(ct);
    free(back);
}
END_TEST

/* Both framings refuse a last Noise message shorter than a tag; the empty
 * libsignal message needs no buffer and uses no nonce, and strict refuses it. */
START_TEST(test_noise_framings_refuse_short_last_message_and_differ_on_empty)
{
    struct noise_transport ti, tr;
    uint8_t *ct = calloc(1, 2 * NOISE_MAX_MESSAGE_LEN);
    uint8_t out[64];
    size_t n = 3;

    ck_assert_ptr_nonnull(ct);
    handshake_pair(NOISE_PATTERN_NK, &ti, &tr);
    for (int f = 0; f < 2; f++) {
        tr.recv_framing = f == 0 ? NOISE_FRAMING_STRICT : NOISE_FRAMING_LIBSIGNAL;
        for (size_t extra = 1; extra < 16; extra++) {
            ck_assert_int_eq(noise_transport_decrypt(&tr, ct, extra, out, sizeof(out), &n),
                             STATUS_DATA_LOSS);
            ck_assert_int_eq(noise_transport_decrypt(&tr, ct, NOISE_MAX_MESSAGE_LEN + extra, out,
                                                     sizeof(out), &n),
                             STATUS_DATA_LOSS);
        }
    }
    ck_assert_uint_eq(n, 3);
    tr.recv_framing = NOISE_FRAMING_STRICT;
    ck_assert_int_eq(noise_transport_decrypt(&tr, ct, 0, NULL, 0, &n), STATUS_DATA_LOSS);
    ck_assert_uint_eq(n, 3);
    tr.recv_framing = NOISE_FRAMING_LIBSIGNAL;
    ck_assert_int_eq(noise_transport_decrypt(&tr, NULL, 0, NULL, 0, &n), STATUS_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(tr.recv.nonce, 0);
    /* The next real message still decrypts: no nonce was spent. */
    ck_assert_int_eq(noise_transport_encrypt(&ti, (const uint8_t *)"after", 5, ct, 64, &n),
                     STATUS_OK);
    ck_assert_int_eq(noise_transport_decrypt(&tr, ct, n, out, sizeof(out), &n), STATUS_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(out, "after", 5);
    free(ct);
}
END_TEST

/* ====================================================================} */

/* A supplied ephemeral pair (from the key pool) replaces the rng: with the
 * vector's own ephemeral key supplied and an rng that has nothing left, the
 * first message still matches the vector byte for byte. */
START_TEST(test_noise_supplied_ephemeral_matches_vector)
{
    const struct noise_vector *v = first_vector(NOISE_PATTERN_NK);
    struct party p;
    uint8_t priv[32], pub[32], payload[BUF_CAP], want[BUF_CAP], out[BUF_CAP];
    long payload_len, want_len;
    size_t len = 0;

    party_init(&p, v, NOISE_ROLE_INITIATOR, NULL);
    memcpy(priv, p.rng.bytes, 32);
    x25519_public_key(pub, priv);
    p.rng.len = 0;
    ck_assert_int_eq(noise_handshake_use_ephemeral(p.hs, priv, pub), STATUS_OK);
    payload_len = hex_decode(v->messages[0].payload, payload, sizeof(payload));
    want_len = hex_decode(v->messages[0].ciphertext, want, sizeof(want));
    ck_assert_int_eq(noise_handshake_write_message(p.hs, payload, (size_t)payload_len, out,
                                                   sizeof(out), &len),
                     STATUS_OK);
    ck_assert_uint_eq(len, (size_t)want_len);
    ck_assert_mem_eq(out, want, len);
    party_free(&p);
}
END_TEST

static Suite *noise_suite(void)
{
    Suite *s = suite_create("noise");
    TCase *vectors = tcase_create("vectors");
    TCase *handshake = tcase_create("handshake");
    TCase *transport = tcase_create("transport");

    tcase_add_test(vectors, test_noise_vector_file_has_every_pattern_with_a_hash);
    tcase_add_loop_test(vectors, test_noise_vectors_replay_in_both_roles, 0, 2 * VECTOR_COUNT);
    tcase_add_loop_test(handshake, test_noise_rejects_flipped_bit_in_each_handshake_message, 0,
                        VECTOR_COUNT);
    tcase_add_loop_test(handshake, test_noise_rejects_wrong_prologue, 0, VECTOR_COUNT);
    tcase_add_loop_test(handshake, test_noise_rejects_wrong_remote_static, 0, VECTOR_COUNT);
    tcase_add_loop_test(handshake, test_noise_rejects_every_truncation_of_message_0, 0,
                        VECTOR_COUNT);
    tcase_add_test(handshake, test_noise_rejects_oversized_handshake_message);
    tcase_add_loop_test(handshake, test_noise_rejects_low_order_ephemeral_key, 0, VECTOR_COUNT);
    tcase_add_loop_test(handshake, test_noise_rejects_out_of_turn_calls, 0, VECTOR_COUNT);
    tcase_add_test(handshake, test_noise_new_rejects_missing_keys);
    tcase_add_test(handshake, test_noise_supplied_ephemeral_matches_vector);
    tcase_add_loop_test(transport,
                        test_noise_transport_rejects_replayed_reordered_and_tampered_messages, 0,
                        2);
    tcase_add_test(transport, test_noise_transport_never_uses_the_last_nonce);
    tcase_add_test(transport, test_noise_transport_round_trips_at_chunk_boundaries);
    tcase_add_test(transport, test_noise_transport_rejects_truncated_messages_without_over_read);
    tcase_add_test(transport, test_noise_transport_rejects_impossible_lengths);
    tcase_add_test(transport, test_noise_transport_wipes_output_when_a_later_chunk_fails);
    tcase_add_test(transport, test_noise_strict_marker_is_the_hash_of_its_domain_string);
    tcase_add_test(transport, test_noise_split_starts_with_strict_framing);
    tcase_add_test(transport,
                   test_noise_libsignal_framing_reads_full_last_message_and_strict_refuses_it);
    tcase_add_test(transport, test_noise_cut_at_chunk_boundary_is_data_loss_only_when_strict);
    tcase_add_test(transport, test_noise_framings_refuse_short_last_message_and_differ_on_empty);
    tcase_set_timeout(handshake, 120);
    tcase_set_timeout(transport, 120);
    suite_add_tcase(s, vectors);
    suite_add_tcase(s, handshake);
    suite_add_tcase(s, transport);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(noise_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
