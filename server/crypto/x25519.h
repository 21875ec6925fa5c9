/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * X25519 (RFC 7748), DESIGN §6. One small module with two backends chosen at
 * build time (meson option x25519): libsodium, the default (DESIGN §3: 30 µs
 * here against 101-107 µs, and a fixed-base key generation), and HACL*
 * Curve25519 from mbedTLS 3.6's Everest code. Noise, the keystore and the
 * client library call only this header, so they cannot tell which runs.
 * Scalars are clamped by the backend; an all-zero result (a low-order or
 * non-canonical low-order point) is rejected here, identically for both.
 *
 * Ownership: no state but libsodium's one-time initialisation; every call
 * borrows its arguments for the call only. Safe from any thread.
 */
#ifndef ENCLAVED_X25519_H
#define ENCLAVED_X25519_H

#include <stdint.h>

#include "base/status.h"

enum { X25519_KEY_LEN = 32 };

/* out = X25519(scalar, point). PERMISSION_DENIED "x25519 result is zero" when
 * the result is all zero (a low-order point); out is then wiped. */
status_t x25519(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN],
                const uint8_t point[X25519_KEY_LEN]);
/* out = X25519(scalar, 9): the public key of a private key, with the
 * backend's fixed-base operation where it has one. */
void x25519_public_key(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN]);
/* The backend this build runs: "libsodium" or "hacl". */
const char *x25519_backend_name(void);

#endif
