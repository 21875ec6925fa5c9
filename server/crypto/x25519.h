/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * X25519 (RFC 7748) over HACL* Curve25519 from mbedTLS 3.6's Everest code.
 * The only place that names the backend, so it can change without touching
 * Noise. Scalars are clamped by the function itself.
 */
#ifndef ENCLAVED_X25519_H
#define ENCLAVED_X25519_H

#include <stdint.h>

#include "base/status.h"

enum { X25519_KEY_LEN = 32 };

/* out = X25519(scalar, point). PERMISSION_DENIED when the result is all zero
 * (a low-order point); out is then wiped. */
status_t x25519(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN],
                const uint8_t point[X25519_KEY_LEN]);
/* out = X25519(scalar, 9): the public key of a private key. */
void x25519_public_key(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN]);

#endif
