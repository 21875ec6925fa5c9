/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "crypto/x25519.h"

#include <string.h>

/* HACL*'s headers type uint128 as unsigned __int128 unless told to use their
 * portable struct; 32-bit targets (the e5500 SEE) have no __int128. The same
 * test mbedTLS makes before including this header (everest/library/x25519.c),
 * matching the legacy 32-bit path Hacl_Curve25519_joined.c compiles. */
#if !(defined(__SIZEOF_INT128__) && (__SIZEOF_INT128__ == 16))
#define KRML_VERIFIED_UINT128
#endif
#include <everest/Hacl_Curve25519.h>
#include <mbedtls/constant_time.h>
#include <mbedtls/platform_util.h>

static const uint8_t base_point[X25519_KEY_LEN] = {9};

status_t x25519(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN],
                const uint8_t point[X25519_KEY_LEN])
{
    static const uint8_t zero[X25519_KEY_LEN];
    uint8_t s[X25519_KEY_LEN];
    uint8_t p[X25519_KEY_LEN];

    /* HACL* takes non-const pointers; give it copies. */
    memcpy(s, scalar, sizeof(s));
    memcpy(p, point, sizeof(p));
    Hacl_Curve25519_crypto_scalarmult(out, s, p);
    mbedtls_platform_zeroize(s, sizeof(s));
    if (mbedtls_ct_memcmp(out, zero, X25519_KEY_LEN) == 0) {
        mbedtls_platform_zeroize(out, X25519_KEY_LEN);
        FAIL(STATUS_PERMISSION_DENIED, "x25519 result is zero");
    }
    return STATUS_OK;
}

void x25519_public_key(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN])
{
    status_t s = x25519(out, scalar, base_point);

    /* The base point has prime order; a zero result is impossible. */
    ENCLAVED_ASSERT(s == STATUS_OK);
}
