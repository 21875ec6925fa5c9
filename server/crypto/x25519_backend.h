/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The two X25519 backends behind crypto/x25519.h. Both are compiled into
 * every build so the unit suite can check them against RFC 7748 and against
 * each other; the meson option x25519 only picks which one x25519() calls.
 * Only crypto/x25519.c, tests/unit/test_x25519.c and crypto-bench include this.
 *
 * Ownership: the tables are static constants; calls borrow their arguments.
 */
#ifndef ENCLAVED_X25519_BACKEND_H
#define ENCLAVED_X25519_BACKEND_H

#include <stdint.h>

#include "base/status.h"
#include "crypto/x25519.h"

struct x25519_backend {
    const char *name;
    /* out = X25519(scalar, point). 0 when out was written; nonzero when the
     * backend refused (libsodium does for low-order points), out then
     * undefined. Neither checks for an all-zero out: x25519_backend_run does. */
    int (*scalarmult)(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN],
                      const uint8_t point[X25519_KEY_LEN]);
    /* out = X25519(scalar, 9); 0 on success. */
    int (*scalarmult_base)(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN]);
};

extern const struct x25519_backend x25519_backend_sodium;
extern const struct x25519_backend x25519_backend_hacl;

/* x25519() over the given backend: the one place that turns a refusal or an
 * all-zero result into PERMISSION_DENIED, with out wiped. */
status_t x25519_backend_run(const struct x25519_backend *b, uint8_t out[X25519_KEY_LEN],
                            const uint8_t scalar[X25519_KEY_LEN],
                            const uint8_t point[X25519_KEY_LEN]);
/* x25519_public_key() over the given backend. */
void x25519_backend_public_key(const struct x25519_backend *b, uint8_t out[X25519_KEY_LEN],
                               const uint8_t scalar[X25519_KEY_LEN]);

#endif
