/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Precomputed X25519 ephemeral key pairs (DESIGN §10: handshake crypto on
 * both cores). A background thread keeps a small ring of fresh pairs, so the
 * loop thread spends two X25519 operations on a server-side handshake
 * instead of three. The ephemeral key depends on nothing the peer sends,
 * which is what makes it safe to compute ahead. When the ring is empty (or
 * the pool was never started, as in unit tests) callers generate inline.
 * The thread refills in batches: it sleeps while the ring is more than half
 * full, so it wakes once per capacity / 2 handshakes, not once per pair.
 *
 * Ownership: the pool is process-wide. keypool_take copies a pair out and
 * wipes its slot; keypool_stop joins the thread and wipes the ring. The
 * worker has its own CTR-DRBG seeded through rng_entropy, so rng.c stays
 * single-threaded, and its own status trail, so its failures never land in
 * the loop's. Start and stop on the loop thread; take from it only.
 */
#ifndef ENCLAVED_KEYPOOL_H
#define ENCLAVED_KEYPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "crypto/x25519.h"

enum { KEYPOOL_DEFAULT_CAPACITY = 64 };

/* Starts the worker with room for capacity pairs. UNAVAILABLE when the
 * thread or its DRBG cannot start; the server then runs without a pool. */
status_t keypool_start(size_t capacity);
/* Stops and joins the worker and wipes every pair. No-op when not started. */
void keypool_stop(void);
/* Copies a fresh pair out: 1 when one was ready, 0 otherwise (outputs untouched). */
int keypool_take(uint8_t private_key[X25519_KEY_LEN], uint8_t public_key[X25519_KEY_LEN]);

#endif
