/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The HACL* backend: Curve25519 from mbedTLS 3.6's Everest code, a
 * variable-base Montgomery ladder for both operations (HACL* has no
 * fixed-base one). It runs when meson -Dx25519=hacl; otherwise it is the
 * unit suite's cross-check of libsodium.
 */
#include <string.h>

/* HACL*'s headers type uint128 as unsigned __int128 unless told to use their
 * portable struct; 32-bit targets (the e5500 SEE) have no __int128. The same
 * test mbedTLS makes before including this header (everest/library/x25519.c),
 * matching the legacy 32-bit path Hacl_Curve25519_joined.c compiles. */
#if !(defined(__SIZEOF_INT128__) && (__SIZEOF_INT128__ == 16))
#define KRML_VERIFIED_UINT128
#endif
#include <everest/Hacl_Curve25519.h>
#include <mbedtls/platform_util.h>

#include "crypto/x25519_backend.h"

static int hacl_scalarmult(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN],
                           const uint8_t point[X25519_KEY_LEN])
{
    uint8_t s[X25519_KEY_LEN];
    uint8_t p[X25519_KEY_LEN];

    /* HACL* takes non-const pointers; give it copies. */
    memcpy(s, scalar, sizeof(s));
    memcpy(p, point, sizeof(p));
    Hacl_Curve25519_crypto_scalarmult(out, s, p);
    mbedtls_platform_zeroize(s, sizeof(s));
    return 0;
}

static int hacl_scalarmult_base(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN])
{
    static const uint8_t base_point[X25519_KEY_LEN] = {9};

    return hacl_scalarmult(out, scalar, base_point);
}

const struct x25519_backend x25519_backend_hacl = {"hacl", hacl_scalarmult,
                                                   hacl_scalarmult_base};
