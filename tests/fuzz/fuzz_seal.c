/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Targets seal_decrypt (what clients reach through enclave.decrypt) and seal_encrypt. */
/*
 * The input is a flags byte, an 8-byte seed and the bytes under test
 * (fixtures.h). Decrypt mode opens the bytes as a sealed blob with 0..3
 * user keys: the status must be OK or DATA_LOSS (INVALID_ARGUMENT for ragged
 * keys), *out_len is set only on success, and a failure leaves the output
 * all zeros (or untouched, when it failed before decrypting). Round-trip mode seals the bytes (with one user key or none),
 * maybe flips one bit, and opens the result: it must give the plaintext back
 * exactly when nothing was flipped and the sealing key is among those tried.
 * Buffers have their exact sizes, so ASan sees any access past a length.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/seal.h"
#include "fixtures.h"
#include "fuzz.h"

static uint8_t *exact(size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    ENCLAVED_ASSERT(p != NULL);
    return p;
}

/* Every byte of p is v. */
static int all_bytes(const uint8_t *p, size_t len, uint8_t v)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != v) {
            return 0;
        }
    }
    return 1;
}

/* Opens ct[0..len) with keys[0..keys_len) and checks the contract; returns
 * the status, with the plaintext in *pt (freed by the caller) on success. */
static status_t open_checked(const uint8_t *ct, size_t len, const uint8_t *keys, size_t keys_len,
                             uint8_t **pt)
{
    size_t cap = len >= SEAL_OVERHEAD ? len - SEAL_OVERHEAD : 0;
    uint8_t *copy = exact(len);
    uint8_t *out = exact(cap);
    size_t out_len = SIZE_MAX;
    status_t st;

    memcpy(copy, ct, len);
    memset(out, 0x5a, cap);
    status_trail_reset();
    st = seal_decrypt(fx_seal_secret, fx_seal_code_hash, keys, keys_len, copy, len, out,
                      &out_len);
    if (keys_len % SEAL_USER_KEY_LEN != 0) {
        ENCLAVED_ASSERT(st == STATUS_INVALID_ARGUMENT);
    } else if (st == STATUS_OK) {
        ENCLAVED_ASSERT(out_len == cap);
    } else {
        ENCLAVED_ASSERT(st == STATUS_DATA_LOSS);
    }
    if (st != STATUS_OK) {
        ENCLAVED_ASSERT(out_len == SIZE_MAX);
        /* A failed open shows nothing of what it decrypted: the output is
         * wiped, or untouched when it failed before decrypting. */
        ENCLAVED_ASSERT(all_bytes(out, cap, 0) || all_bytes(out, cap, 0x5a));
        free(out);
        out = NULL;
    }
    free(copy);
    *pt = out;
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t keys[FX_SEAL_USER_KEYS * SEAL_USER_KEY_LEN];
    struct fx_rng rng = {0};
    size_t n_keys, keys_len;
    uint8_t flags;
    uint8_t *pt = NULL;

    if (size < FX_SEAL_HEADER) {
        return 0;
    }
    flags = data[0];
    memcpy(&rng.state, data + 1, sizeof(rng.state));
    data += FX_SEAL_HEADER;
    size -= FX_SEAL_HEADER;
    fx_seal_user_keys(keys);
    n_keys = flags & FX_SEAL_KEYS_MASK;
    if (n_keys > FX_SEAL_USER_KEYS) {
        n_keys = FX_SEAL_USER_KEYS;
    }
    keys_len = n_keys * SEAL_USER_KEY_LEN;
    if ((flags & FX_SEAL_RAGGED_KEYS) && keys_len > 0) {
        keys_len--;
    }

    if (!(flags & FX_SEAL_ROUND_TRIP)) {
        (void)open_checked(data, size, n_keys > 0 ? keys : NULL, keys_len, &pt);
        free(pt);
        return 0;
    }

    /* Round trip: sealer 0..2 is a user key, 3 is none. */
    size_t sealer = (flags >> FX_SEAL_SEALER_SHIFT) & 3;
    const uint8_t *user_key = sealer < FX_SEAL_USER_KEYS ? keys + sealer * SEAL_USER_KEY_LEN
                                                         : NULL;
    size_t sealed_cap = size > 0 ? size + SEAL_OVERHEAD : 0;
    uint8_t *sealed = exact(sealed_cap);
    size_t sealed_len = 0;
    int tampered = 0;
    status_t st;

    ENCLAVED_ASSERT(seal_encrypt(fx_seal_secret, fx_seal_code_hash, user_key, data, size,
                                 fx_rng_bytes, &rng, sealed, &sealed_len) == STATUS_OK);
    ENCLAVED_ASSERT(sealed_len == sealed_cap);
    if ((flags & FX_SEAL_TAMPER) && sealed_len > 0) {
        uint64_t spot = fx_rng_next(&rng);
        sealed[spot % sealed_len] ^= (uint8_t)(1u << ((spot >> 32) % 8));
        tampered = 1;
    }
    st = open_checked(sealed, sealed_len, n_keys > 0 ? keys : NULL, keys_len, &pt);
    if (keys_len % SEAL_USER_KEY_LEN != 0) {
        ENCLAVED_ASSERT(st == STATUS_INVALID_ARGUMENT);
    } else if (size == 0) {
        /* "" seals to "" and opens to "" whatever the keys (DESIGN §6). */
        ENCLAVED_ASSERT(st == STATUS_OK);
    } else {
        /* No user key tried means the no-key form; else only the keys tried. */
        int key_tried = n_keys == 0 ? user_key == NULL : (user_key != NULL && sealer < n_keys);
        int should_open = !tampered && key_tried;

        ENCLAVED_ASSERT((st == STATUS_OK) == should_open);
        if (st == STATUS_OK) {
            ENCLAVED_ASSERT(memcmp(pt, data, size) == 0);
        }
    }
    free(pt);
    free(sealed);
    return 0;
}
