/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "crypto/rng.h"

#include <mbedtls/ctr_drbg.h>

#include "platform/platform.h"

static mbedtls_ctr_drbg_context drbg;
static int seeded;

int rng_entropy(void *ctx, unsigned char *buf, size_t len)
{
    (void)ctx;
    return platform_entropy(buf, len) == STATUS_OK ? 0 : -1;
}

status_t rng_init(void)
{
    static const unsigned char personalization[] = "enclaved rng v1";

    if (seeded) {
        return STATUS_OK;
    }
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, rng_entropy, NULL, personalization,
                              sizeof(personalization) - 1) != 0) {
        mbedtls_ctr_drbg_free(&drbg);
        FAIL(STATUS_UNAVAILABLE, "cannot seed the DRBG");
    }
    seeded = 1;
    return STATUS_OK;
}

status_t rng_bytes(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    TRY(rng_init());
    while (len > 0) {
        size_t n = len < MBEDTLS_CTR_DRBG_MAX_REQUEST ? len : MBEDTLS_CTR_DRBG_MAX_REQUEST;
        ENSURE(mbedtls_ctr_drbg_random(&drbg, buf, n) == 0, STATUS_UNAVAILABLE,
               "DRBG failed");
        buf += n;
        len -= n;
    }
    return STATUS_OK;
}

void rng_clear(void)
{
    if (seeded) {
        mbedtls_ctr_drbg_free(&drbg);
        seeded = 0;
    }
}
