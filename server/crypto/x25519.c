/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "crypto/x25519.h"

#include <mbedtls/constant_time.h>
#include <mbedtls/platform_util.h>

#include "crypto/x25519_backend.h"

/* meson -Dx25519=hacl defines ENCLAVED_X25519_HACL; libsodium otherwise. */
#ifdef ENCLAVED_X25519_HACL
#define CHOSEN (&x25519_backend_hacl)
#else
#define CHOSEN (&x25519_backend_sodium)
#endif

status_t x25519_backend_run(const struct x25519_backend *b, uint8_t out[X25519_KEY_LEN],
                            const uint8_t scalar[X25519_KEY_LEN],
                            const uint8_t point[X25519_KEY_LEN])
{
    static const uint8_t zero[X25519_KEY_LEN];

    /* libsodium refuses low-order points without writing out; HACL* writes
     * zeros. Either way the caller sees the same status and a wiped out. */
    if (b->scalarmult(out, scalar, point) != 0 ||
        mbedtls_ct_memcmp(out, zero, X25519_KEY_LEN) == 0) {
        mbedtls_platform_zeroize(out, X25519_KEY_LEN);
        FAIL(STATUS_PERMISSION_DENIED, "x25519 result is zero");
    }
    return STATUS_OK;
}

void x25519_backend_public_key(const struct x25519_backend *b, uint8_t out[X25519_KEY_LEN],
                               const uint8_t scalar[X25519_KEY_LEN])
{
    /* The base point has prime order and a clamped scalar is nonzero modulo
     * it, so the result is never zero and the backends never refuse. */
    ENCLAVED_ASSERT(b->scalarmult_base(out, scalar) == 0);
}

status_t x25519(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN],
                const uint8_t point[X25519_KEY_LEN])
{
    return x25519_backend_run(CHOSEN, out, scalar, point);
}

void x25519_public_key(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN])
{
    x25519_backend_public_key(CHOSEN, out, scalar);
}

const char *x25519_backend_name(void)
{
    return CHOSEN->name;
}
