/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "crypto/keypool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/platform_util.h>

#include "base/log.h"
#include "crypto/rng.h"

struct key_pair {
    uint8_t private_key[X25519_KEY_LEN];
    uint8_t public_key[X25519_KEY_LEN];
};

static struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t not_full;
    struct key_pair *ring;
    size_t capacity;
    size_t head;
    size_t count;
    int refilling; /* the worker is filling the ring, or has been asked to */
    int stop;
    int running;
    mbedtls_ctr_drbg_context drbg;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .not_full = PTHREAD_COND_INITIALIZER};

static void *fill_ring(void *unused)
{
    struct key_pair pair;

    (void)unused;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        /* Refill in batches: once full, sleep until keypool_take has emptied
         * half the ring. A wake per pair would cost a futex call on the loop
         * and a context switch here for every handshake. */
        if (pool.count == pool.capacity) {
            pool.refilling = 0;
        }
        while (!pool.stop && !pool.refilling) {
            pthread_cond_wait(&pool.not_full, &pool.lock);
        }
        if (pool.stop) {
            break;
        }
        /* The X25519 runs unlocked: that is the work moved off the loop. */
        pthread_mutex_unlock(&pool.lock);
        if (mbedtls_ctr_drbg_random(&pool.drbg, pair.private_key, X25519_KEY_LEN) != 0) {
            LOG_W("key pool: DRBG failed; handshakes generate their own keys");
            pthread_mutex_lock(&pool.lock);
            break;
        }
        x25519_public_key(pair.public_key, pair.private_key);
        pthread_mutex_lock(&pool.lock);
        pool.ring[(pool.head + pool.count) % pool.capacity] = pair;
        pool.count++;
    }
    pthread_mutex_unlock(&pool.lock);
    mbedtls_platform_zeroize(&pair, sizeof(pair));
    return NULL;
}

status_t keypool_start(size_t capacity)
{
    static const unsigned char personalization[] = "enclaved keypool v1";

    ENSURE(!pool.running && capacity > 0, STATUS_FAILED_PRECONDITION, "key pool already running");
    pool.ring = calloc(capacity, sizeof(*pool.ring));
    ENSURE(pool.ring != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    pool.capacity = capacity;
    pool.head = 0;
    pool.count = 0;
    pool.refilling = 1;
    pool.stop = 0;
    mbedtls_ctr_drbg_init(&pool.drbg);
    if (mbedtls_ctr_drbg_seed(&pool.drbg, rng_entropy, NULL, personalization,
                              sizeof(personalization) - 1) != 0 ||
        pthread_create(&pool.thread, NULL, fill_ring, NULL) != 0) {
        mbedtls_ctr_drbg_free(&pool.drbg);
        free(pool.ring);
        pool.ring = NULL;
        FAIL(STATUS_UNAVAILABLE, "cannot start the key pool");
    }
    pool.running = 1;
    return STATUS_OK;
}

void keypool_stop(void)
{
    if (!pool.running) {
        return;
    }
    pthread_mutex_lock(&pool.lock);
    pool.stop = 1;
    pthread_cond_signal(&pool.not_full);
    pthread_mutex_unlock(&pool.lock);
    pthread_join(pool.thread, NULL);
    mbedtls_ctr_drbg_free(&pool.drbg);
    mbedtls_platform_zeroize(pool.ring, pool.capacity * sizeof(*pool.ring));
    free(pool.ring);
    pool.ring = NULL;
    pool.count = 0;
    pool.running = 0;
}

int keypool_take(uint8_t private_key[X25519_KEY_LEN], uint8_t public_key[X25519_KEY_LEN])
{
    struct key_pair *slot;

    if (!pool.running) {
        return 0;
    }
    pthread_mutex_lock(&pool.lock);
    if (pool.count == 0) {
        pthread_mutex_unlock(&pool.lock);
        return 0;
    }
    slot = &pool.ring[pool.head];
    memcpy(private_key, slot->private_key, X25519_KEY_LEN);
    memcpy(public_key, slot->public_key, X25519_KEY_LEN);
    mbedtls_platform_zeroize(slot, sizeof(*slot));
    pool.head = (pool.head + 1) % pool.capacity;
    pool.count--;
    if (!pool.refilling && pool.count <= pool.capacity / 2) {
        pool.refilling = 1;
        pthread_cond_signal(&pool.not_full);
    }
    pthread_mutex_unlock(&pool.lock);
    return 1;
}
