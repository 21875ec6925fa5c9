/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Targets noise_handshake_read_message (NK/KK responder, KK initiator), noise_handshake_write_message, noise_handshake_split, noise_transport_decrypt, noise_transport_encrypt, noise_transport_sealed_len. */
/*
 * The input is a mode byte, an 8-byte seed for every ephemeral key, and the
 * bytes under test (fixtures.h). Buffers are allocated at their exact sizes
 * so ASan sees any read or write past a length the API was given.
 */
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "fuzz.h"
#include "crypto/keystore.h"
#include "crypto/noise.h"

static uint8_t *exact(size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    ENCLAVED_ASSERT(p != NULL);
    return p;
}

/* Reads msg as the peer's next handshake message into an exact-size payload
 * buffer. A failure must be PERMISSION_DENIED and must leave the handshake
 * failed; success yields exactly len - 48 payload bytes. */
static status_t read_checked(struct noise_handshake *hs, const uint8_t *msg, size_t len)
{
    size_t cap = len >= NOISE_HANDSHAKE_OVERHEAD ? len - NOISE_HANDSHAKE_OVERHEAD : 0;
    uint8_t *payload = exact(cap);
    uint8_t *copy = exact(len);
    uint8_t reply[NOISE_HANDSHAKE_OVERHEAD];
    size_t payload_len = SIZE_MAX, reply_len = 0;
    status_t st;

    memcpy(copy, msg, len);
    st = noise_handshake_read_message(hs, copy, len, payload, cap, &payload_len);
    if (st == STATUS_OK) {
        ENCLAVED_ASSERT(payload_len == cap);
    } else {
        ENCLAVED_ASSERT(st == STATUS_PERMISSION_DENIED);
        ENCLAVED_ASSERT(payload_len == SIZE_MAX);
        ENCLAVED_ASSERT(!noise_handshake_is_complete(hs));
        ENCLAVED_ASSERT(noise_handshake_read_message(hs, copy, len, payload, cap,
                                                     &payload_len) ==
                        STATUS_FAILED_PRECONDITION);
        ENCLAVED_ASSERT(noise_handshake_write_message(hs, NULL, 0, reply, sizeof(reply),
                                                      &reply_len) ==
                        STATUS_FAILED_PRECONDITION);
    }
    free(copy);
    free(payload);
    return st;
}

/* The server's side of NK or KK reads message 1; on success it answers, and
 * the test's own initiator must accept the answer when it wrote message 1. */
static void responder(enum noise_pattern pattern, struct fx_rng *rng, const uint8_t *msg,
                      size_t len)
{
    struct keystore *server = fx_keystore(FX_SERVER_KEY_BYTE);
    struct keystore *peer = fx_keystore(FX_PEER_KEY_BYTE);
    const uint8_t *remote = pattern == NOISE_PATTERN_KK ? keystore_public_key(peer) : NULL;
    struct noise_handshake *hs = NULL;
    uint8_t reply[NOISE_HANDSHAKE_OVERHEAD + 2];
    size_t reply_len = 0;

    ENCLAVED_ASSERT(noise_handshake_new(pattern, NOISE_ROLE_RESPONDER, server, remote, NULL, 0,
                                        fx_rng_bytes, rng, &hs) == STATUS_OK);
    if (read_checked(hs, msg, len) == STATUS_OK) {
        ENCLAVED_ASSERT(!noise_handshake_is_complete(hs));
        ENCLAVED_ASSERT(noise_handshake_write_message(hs, (const uint8_t *)"ok", 2, reply,
                                                      sizeof(reply), &reply_len) == STATUS_OK);
        ENCLAVED_ASSERT(reply_len == sizeof(reply));
        ENCLAVED_ASSERT(noise_handshake_is_complete(hs));
    }
    noise_handshake_free(hs);
    keystore_free(peer);
    keystore_free(server);
}

/* A KK initiator (the peer key) writes message 1, then reads the input as
 * message 2 from the server key. */
static void kk_initiator(struct fx_rng *rng, const uint8_t *msg, size_t len)
{
    struct keystore *server = fx_keystore(FX_SERVER_KEY_BYTE);
    struct keystore *peer = fx_keystore(FX_PEER_KEY_BYTE);
    struct noise_handshake *hs = NULL;
    struct noise_transport t;
    uint8_t m1[NOISE_HANDSHAKE_OVERHEAD];
    size_t m1_len = 0;

    ENCLAVED_ASSERT(noise_handshake_new(NOISE_PATTERN_KK, NOISE_ROLE_INITIATOR, peer,
                                        keystore_public_key(server), NULL, 0, fx_rng_bytes, rng,
                                        &hs) == STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_write_message(hs, NULL, 0, m1, sizeof(m1), &m1_len) ==
                    STATUS_OK);
    /* Not our turn to write again. */
    ENCLAVED_ASSERT(noise_handshake_write_message(hs, NULL, 0, m1, sizeof(m1), &m1_len) ==
                    STATUS_FAILED_PRECONDITION);
    if (read_checked(hs, msg, len) == STATUS_OK) {
        ENCLAVED_ASSERT(noise_handshake_is_complete(hs));
        ENCLAVED_ASSERT(noise_handshake_split(hs, &t) == STATUS_OK);
        noise_transport_clear(&t);
    }
    noise_handshake_free(hs);
    keystore_free(peer);
    keystore_free(server);
}

/* Decrypts the input on the server side of a fresh NK transport, with a
 * one-short and an exact plaintext buffer. */
static void decrypt(struct fx_rng *rng, const uint8_t *ct, size_t len)
{
    struct keystore *server = fx_keystore(FX_SERVER_KEY_BYTE);
    struct noise_transport client_t, server_t, before;
    size_t want = len >= NOISE_TAG_LEN ? len - NOISE_TAG_LEN : 0;
    uint8_t *copy = exact(len), *pt = exact(want);
    size_t pt_len = SIZE_MAX;
    status_t st, st1;

    memcpy(copy, ct, len);
    fx_nk_pair(rng, server, &client_t, &server_t);
    before = server_t;
    /* One byte short first: enough for a multi-chunk message, whose
     * plaintext is 16 bytes per extra chunk shorter than want. */
    st1 = noise_transport_decrypt(&server_t, copy, len, pt, want > 0 ? want - 1 : 0, &pt_len);
    if (st1 != STATUS_OK) {
        ENCLAVED_ASSERT(st1 == STATUS_INVALID_ARGUMENT || st1 == STATUS_DATA_LOSS);
        ENCLAVED_ASSERT(pt_len == SIZE_MAX && server_t.recv.nonce == before.recv.nonce);
    }
    server_t = before;
    pt_len = SIZE_MAX;
    st = noise_transport_decrypt(&server_t, copy, len, pt, want, &pt_len);
    ENCLAVED_ASSERT(st1 != STATUS_OK || st == STATUS_OK);
    if (st == STATUS_OK) {
        ENCLAVED_ASSERT(pt_len <= want && server_t.recv.nonce > before.recv.nonce);
        ENCLAVED_ASSERT(noise_transport_sealed_len(pt_len) == len);
    } else {
        ENCLAVED_ASSERT(st == STATUS_DATA_LOSS);
        ENCLAVED_ASSERT(pt_len == SIZE_MAX && server_t.recv.nonce == before.recv.nonce);
    }
    /* libsignal framing accepts everything strict does, and more. */
    server_t = before;
    server_t.recv_framing = NOISE_FRAMING_LIBSIGNAL;
    pt_len = SIZE_MAX;
    st1 = noise_transport_decrypt(&server_t, copy, len, pt, want, &pt_len);
    ENCLAVED_ASSERT(st != STATUS_OK || st1 == STATUS_OK);
    if (st1 == STATUS_OK) {
        size_t count = (len + NOISE_MAX_MESSAGE_LEN - 1) / NOISE_MAX_MESSAGE_LEN;
        ENCLAVED_ASSERT(pt_len == len - count * NOISE_TAG_LEN);
        ENCLAVED_ASSERT(server_t.recv.nonce == before.recv.nonce + count);
    } else {
        ENCLAVED_ASSERT(st1 == STATUS_DATA_LOSS);
        ENCLAVED_ASSERT(pt_len == SIZE_MAX && server_t.recv.nonce == before.recv.nonce);
    }
    noise_transport_clear(&client_t);
    noise_transport_clear(&server_t);
    free(pt);
    free(copy);
    keystore_free(server);
}

/* Seals a plaintext of 65535*k + d bytes (k < 4, |d| <= 64, both from the
 * input) from client to server and opens it; then opens it again with the
 * last chunk cut, which must fail or, at a chunk boundary, yield a prefix. */
static void round_trip(struct fx_rng *rng, const uint8_t *in, size_t in_len)
{
    struct keystore *server = fx_keystore(FX_SERVER_KEY_BYTE);
    struct noise_transport client_t, server_t, saved;
    uint8_t k = in_len > 0 ? in[0] % 4 : 0;
    int d = in_len > 1 ? (int)(in[1] % 129) - 64 : 0;
    size_t cut = in_len > 3 ? (size_t)in[2] | (size_t)in[3] << 8 : 0;
    size_t len = (size_t)k * NOISE_MAX_MESSAGE_LEN;
    size_t sealed_len, out_len = 0, pt_len = 0;
    uint8_t *pt, *sealed, *opened;
    status_t st;

    len = d < 0 && (size_t)-d > len ? 0 : (size_t)((long)len + d);
    pt = exact(len);
    for (size_t i = 0; i < len; i++) {
        pt[i] = in_len > 4 ? in[4 + i % (in_len - 4)] : (uint8_t)i;
    }
    sealed_len = noise_transport_sealed_len(len);
    ENCLAVED_ASSERT(sealed_len > len);
    sealed = exact(sealed_len);
    opened = exact(len);
    fx_nk_pair(rng, server, &client_t, &server_t);
    saved = server_t;
    ENCLAVED_ASSERT(noise_transport_encrypt(&client_t, pt, len, sealed, sealed_len - 1,
                                            &out_len) == STATUS_INVALID_ARGUMENT);
    ENCLAVED_ASSERT(noise_transport_encrypt(&client_t, pt, len, sealed, sealed_len, &out_len) ==
                    STATUS_OK);
    ENCLAVED_ASSERT(out_len == sealed_len);
    ENCLAVED_ASSERT(noise_transport_decrypt(&server_t, sealed, sealed_len, opened, len,
                                            &pt_len) == STATUS_OK);
    ENCLAVED_ASSERT(pt_len == len && (len == 0 || memcmp(opened, pt, len) == 0));
    /* Opened twice: the nonce moved on, so the replay fails. */
    ENCLAVED_ASSERT(noise_transport_decrypt(&server_t, sealed, sealed_len, opened, len,
                                            &pt_len) == STATUS_DATA_LOSS);

    cut %= sealed_len;
    server_t = saved;
    st = noise_transport_decrypt(&server_t, sealed, cut, opened, len, &pt_len);
    if (st == STATUS_OK) {
        ENCLAVED_ASSERT(cut % NOISE_MAX_MESSAGE_LEN == 0 && cut > 0);
        ENCLAVED_ASSERT(pt_len == cut / NOISE_MAX_MESSAGE_LEN * NOISE_MAX_CHUNK_PLAINTEXT);
        ENCLAVED_ASSERT(memcmp(opened, pt, pt_len) == 0);
    } else {
        ENCLAVED_ASSERT(st == STATUS_DATA_LOSS);
    }
    noise_transport_clear(&client_t);
    noise_transport_clear(&server_t);
    noise_transport_clear(&saved);
    free(opened);
    free(sealed);
    free(pt);
    keystore_free(server);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fx_rng rng;

    if (size < FX_NOISE_HEADER) {
        return 0;
    }
    rng.state = fx_load64(data + 1);
    status_trail_reset();
    switch (data[0] % FX_NOISE_MODES) {
    case FX_NOISE_NK_RESPONDER:
        responder(NOISE_PATTERN_NK, &rng, data + FX_NOISE_HEADER, size - FX_NOISE_HEADER);
        break;
    case FX_NOISE_KK_RESPONDER:
        responder(NOISE_PATTERN_KK, &rng, data + FX_NOISE_HEADER, size - FX_NOISE_HEADER);
        break;
    case FX_NOISE_KK_INITIATOR:
        kk_initiator(&rng, data + FX_NOISE_HEADER, size - FX_NOISE_HEADER);
        break;
    case FX_NOISE_DECRYPT:
        decrypt(&rng, data + FX_NOISE_HEADER, size - FX_NOISE_HEADER);
        break;
    default:
        round_trip(&rng, data + FX_NOISE_HEADER, size - FX_NOISE_HEADER);
        break;
    }
    return 0;
}
