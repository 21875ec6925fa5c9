/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The keystore (DESIGN §6): the server's static X25519 key and its sealing
 * secret, behind an interface that never hands out the private key. On Linux
 * it holds raw keys from userdata; on the HSM the static DH is an nCore
 * operation and the private key never exists in the machine's memory.
 *
 * Ownership: keystore_new copies the key bytes; keystore_free wipes them.
 * Loop thread only.
 */
#ifndef ENCLAVED_KEYSTORE_H
#define ENCLAVED_KEYSTORE_H

#include <stdint.h>

#include "base/status.h"
#include "crypto/x25519.h"

enum { KEYSTORE_SEALING_SECRET_LEN = 32 };

struct keystore;

/* Builds a keystore from a raw static private key and sealing secret (both
 * copied). RESOURCE_EXHAUSTED on allocation failure; *out untouched then. */
status_t keystore_new(const uint8_t static_private[X25519_KEY_LEN],
                      const uint8_t sealing_secret[KEYSTORE_SEALING_SECRET_LEN],
                      struct keystore **out);
/* Wipes and frees; NULL is a no-op. */
void keystore_free(struct keystore *ks);

/* The static public key (borrowed, valid until keystore_free). */
const uint8_t *keystore_public_key(const struct keystore *ks);
/* out = DH(static private, peer). PERMISSION_DENIED for a low-order peer. */
status_t keystore_dh(const struct keystore *ks, const uint8_t peer[X25519_KEY_LEN],
                     uint8_t out[X25519_KEY_LEN]);
/* The sealing secret (borrowed, valid until keystore_free). The core hands
 * it to each process, whose enclave.encrypt/decrypt pass it to seal.c. */
const uint8_t *keystore_sealing_secret(const struct keystore *ks);

#endif
