/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The libsodium backend (the default, DESIGN §3): crypto_scalarmult for DH
 * and crypto_scalarmult_base, libsodium's fixed-base operation, for key
 * generation.
 *
 * libsodium wants sodium_init() before first use; it picks the fastest
 * implementation for the CPU and stirs libsodium's random generator. We give
 * that generator the platform entropy source (DESIGN §9) first, so libsodium
 * never opens /dev/urandom or calls getrandom itself: on the SEE those are
 * not ours to use. Nothing here draws randomness from libsodium.
 */
#include <pthread.h>
#include <sodium.h>

#include "crypto/rng.h"
#include "crypto/x25519_backend.h"

static const char *entropy_name(void)
{
    return "enclaved platform_entropy";
}

static void entropy_buf(void *const buf, const size_t len)
{
    /* libsodium's generator has no way to fail; neither may this. */
    ENCLAVED_ASSERT(rng_entropy(NULL, buf, len) == 0);
}

static uint32_t entropy_random(void)
{
    uint32_t v;

    entropy_buf(&v, sizeof(v));
    return v;
}

static randombytes_implementation platform_randombytes = {
    .implementation_name = entropy_name,
    .random = entropy_random,
    .buf = entropy_buf,
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_sodium(void)
{
    ENCLAVED_ASSERT(randombytes_set_implementation(&platform_randombytes) == 0);
    /* 1 means already initialised, which is fine; -1 is a broken library. */
    ENCLAVED_ASSERT(sodium_init() >= 0);
}

static int sodium_scalarmult(uint8_t out[X25519_KEY_LEN], const uint8_t scalar[X25519_KEY_LEN],
                             const uint8_t point[X25519_KEY_LEN])
{
    pthread_once(&init_once, init_sodium);
    /* -1 for a low-order point (out then unwritten) or an all-zero result. */
    return crypto_scalarmult(out, scalar, point);
}

static int sodium_scalarmult_base(uint8_t out[X25519_KEY_LEN],
                                  const uint8_t scalar[X25519_KEY_LEN])
{
    pthread_once(&init_once, init_sodium);
    return crypto_scalarmult_base(out, scalar);
}

const struct x25519_backend x25519_backend_sodium = {"libsodium", sodium_scalarmult,
                                                     sodium_scalarmult_base};
