/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Sealing (DESIGN §6): authenticated encryption of a process's data under a
 * key derived from the server's sealing secret and the process's code hash, so
 * that the same secret and code hash on another server can open it, and no
 * other code can. An optional 32-byte user key is mixed into each message key.
 * It does not fetch the secret (callers pass keystore_sealing_secret) and does
 * not manage user keys.
 *
 * Keys, all HKDF-SHA256 (RFC 5869) with no salt, 32-byte outputs:
 *   process key = HKDF(ikm = sealing secret, info = code hash)
 *   message key = HKDF(ikm = process key, info = IV)             no user key
 *   message key = HKDF(ikm = process key, info = IV || user key) with one
 * The two info lengths (32 and 64) keep the forms apart. The message key is
 * used once (IV is 32 random bytes), so ChaCha20-Poly1305 runs with a zero
 * nonce; the associated data is the header, version || IV.
 *   sealed = version (1) || IV (32) || ciphertext (len) || tag (16)
 * An empty plaintext seals to an empty string and "" opens to "" (HsmEnclave).
 *
 * Ownership: every pointer is borrowed for the call only; derived keys are
 * wiped before return. Stateless.
 */
#ifndef ENCLAVED_SEAL_H
#define ENCLAVED_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/rng.h"
#include "base/status.h"

enum {
    SEAL_VERSION = 1,
    SEAL_IV_LEN = 32,
    SEAL_TAG_LEN = 16,
    SEAL_OVERHEAD = 1 + 32 + 16,
    SEAL_USER_KEY_LEN = 32,
    SEAL_SECRET_LEN = 32,
    SEAL_CODE_HASH_LEN = 32,
};

/* Seals pt (len bytes) into out, which must hold len + SEAL_OVERHEAD bytes (0
 * for len 0). user_key is NULL or SEAL_USER_KEY_LEN bytes. rng supplies the IV.
 * INVALID_ARGUMENT when len is too large; the rng's status when it fails;
 * RESOURCE_EXHAUSTED when mbedTLS runs out of memory. On failure *out_len is
 * untouched and out must be discarded. */
status_t seal_encrypt(const uint8_t secret[SEAL_SECRET_LEN],
                      const uint8_t code_hash[SEAL_CODE_HASH_LEN], const uint8_t *user_key,
                      const uint8_t *pt, size_t len, rng_fn rng, void *rng_ctx, uint8_t *out,
                      size_t *out_len);
/* Opens ct (len bytes) into out, which must hold len - SEAL_OVERHEAD bytes (0
 * for len 0). user_keys is the concatenation of zero or more user keys, tried
 * in order; with none, the no-user-key form is tried. INVALID_ARGUMENT when
 * user_keys_len is not a multiple of SEAL_USER_KEY_LEN; DATA_LOSS for a wrong
 * key, secret or code hash, a bad version, truncation or tampering. On failure
 * *out_len is untouched and out holds zeros where plaintext would have been. */
status_t seal_decrypt(const uint8_t secret[SEAL_SECRET_LEN],
                      const uint8_t code_hash[SEAL_CODE_HASH_LEN], const uint8_t *user_keys,
                      size_t user_keys_len, const uint8_t *ct, size_t len, uint8_t *out,
                      size_t *out_len);

#endif
