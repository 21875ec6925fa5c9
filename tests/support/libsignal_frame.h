/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * libsignal's HsmEnclaveClient transport framing, written for the tests
 * independently of server/crypto/noise.c: the plaintext cut into 65519-byte
 * chunks, each one Noise message (ChaChaPoly, empty associated data), so an
 * exact multiple ends with a full message and an empty plaintext is no
 * message at all.
 */
#ifndef ENCLAVED_TEST_LIBSIGNAL_FRAME_H
#define ENCLAVED_TEST_LIBSIGNAL_FRAME_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/chachapoly.h>

#include "crypto/noise.h"

enum { LIBSIGNAL_CHUNK = 65519 };

/* Bytes libsignal_seal writes for len bytes of plaintext. */
static inline size_t libsignal_sealed_len(size_t len)
{
    return len + 16 * ((len + LIBSIGNAL_CHUNK - 1) / LIBSIGNAL_CHUNK);
}

/* Encrypts pt with c (advancing its nonce once per chunk) into out, which has
 * room for libsignal_sealed_len(len) bytes; returns that length. */
static inline size_t libsignal_seal(struct noise_cipher *c, const uint8_t *pt, size_t len,
                                    uint8_t *out)
{
    size_t o = 0;

    for (size_t off = 0; off < len; off += LIBSIGNAL_CHUNK) {
        size_t n = len - off < LIBSIGNAL_CHUNK ? len - off : LIBSIGNAL_CHUNK;
        uint8_t nonce[12] = {0};
        mbedtls_chachapoly_context ctx;

        for (int i = 0; i < 8; i++) {
            nonce[4 + i] = (uint8_t)(c->nonce >> (8 * i));
        }
        mbedtls_chachapoly_init(&ctx);
        ck_assert_int_eq(mbedtls_chachapoly_setkey(&ctx, c->key), 0);
        ck_assert_int_eq(mbedtls_chachapoly_encrypt_and_tag(&ctx, n, nonce, NULL, 0, pt + off,
                                                            out + o, out + o + n),
                         0);
        mbedtls_chachapoly_free(&ctx);
        c->nonce++;
        o += n + 16;
    }
    return o;
}

#endif
