/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "crypto/keystore.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

struct keystore {
    uint8_t static_private[X25519_KEY_LEN];
    uint8_t static_public[X25519_KEY_LEN];
    uint8_t sealing_secret[KEYSTORE_SEALING_SECRET_LEN];
};

status_t keystore_new(const uint8_t static_private[X25519_KEY_LEN],
                      const uint8_t sealing_secret[KEYSTORE_SEALING_SECRET_LEN],
                      struct keystore **out)
{
    struct keystore *ks = calloc(1, sizeof(*ks));

    ENSURE(ks != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    memcpy(ks->static_private, static_private, X25519_KEY_LEN);
    memcpy(ks->sealing_secret, sealing_secret, KEYSTORE_SEALING_SECRET_LEN);
    x25519_public_key(ks->static_public, ks->static_private);
    *out = ks;
    return STATUS_OK;
}

void keystore_free(struct keystore *ks)
{
    if (ks == NULL) {
        return;
    }
    mbedtls_platform_zeroize(ks, sizeof(*ks));
    free(ks);
}

const uint8_t *keystore_public_key(const struct keystore *ks)
{
    return ks->static_public;
}

status_t keystore_dh(const struct keystore *ks, const uint8_t peer[X25519_KEY_LEN],
                     uint8_t out[X25519_KEY_LEN])
{
    return x25519(out, ks->static_private, peer);
}

const uint8_t *keystore_sealing_secret(const struct keystore *ks)
{
    return ks->sealing_secret;
}
