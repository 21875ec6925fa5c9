/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The server's random source: one mbedTLS CTR-DRBG seeded from the platform
 * entropy seam (DESIGN §6), never from mbedTLS's own probe. Loop thread only.
 * Modules that need randomness take a rng_fn so tests can inject a
 * deterministic source without anything test-only in the product.
 */
#ifndef ENCLAVED_RNG_H
#define ENCLAVED_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

/* A source of random bytes: fills buf[0..len) or fails. */
typedef status_t (*rng_fn)(void *ctx, uint8_t *buf, size_t len);

/* Seeds the DRBG; idempotent. UNAVAILABLE when the platform has no entropy. */
status_t rng_init(void);
/* Fills buf from the DRBG (rng_init runs on first use). Matches rng_fn. */
status_t rng_bytes(void *ctx, uint8_t *buf, size_t len);
/* Wipes the DRBG state. */
void rng_clear(void);
/* The one entropy callback for mbedTLS DRBGs (this one and the key pool's):
 * platform_entropy, in mbedTLS's f_entropy form, 0 or -1. Safe on any
 * thread: a failure's trail goes to the calling thread's (status.h). */
int rng_entropy(void *ctx, unsigned char *buf, size_t len);

#endif
