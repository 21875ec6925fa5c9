/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Allocations per Noise handshake (DESIGN §10: no allocation per handshake
 * on the hot path). Linked with alloc_count.c, which counts every malloc,
 * calloc and realloc of the core library and mbedTLS. The handshake object
 * itself is the one allocation each side makes (in noise_handshake_new);
 * every message, DH, HKDF and the split allocate nothing.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_count.h"
#include "crypto/keystore.h"
#include "crypto/noise.h"
#include "crypto/x25519.h"

/* A deterministic rng: the handshake needs 32 bytes per `e`. */
static status_t counter_rng(void *ctx, uint8_t *buf, size_t len)
{
    uint8_t *next = ctx;

    for (size_t i = 0; i < len; i++) {
        buf[i] = (*next)++;
    }
    return STATUS_OK;
}

struct pair_counts {
    long news;  /* allocations inside the two noise_handshake_new calls */
    long steps; /* allocations in everything after them, frees included */
};

/* One full handshake of the pattern between fresh keystores. */
static struct pair_counts count_handshake(enum noise_pattern pattern)
{
    static const uint8_t hash[32] = {7};
    uint8_t priv_i[32], priv_r[32], secret[32] = {0}, seed_i = 1, seed_r = 101;
    uint8_t m0[256], m1[256], payload[256];
    struct keystore *ks_i = NULL, *ks_r = NULL;
    struct noise_handshake *hi = NULL, *hr = NULL;
    struct noise_transport ti, tr;
    struct pair_counts c;
    status_t st[8];
    size_t n0 = 0, n1 = 0, n = 0;

    memset(priv_i, 3, sizeof(priv_i));
    memset(priv_r, 5, sizeof(priv_r));
    ck_assert_int_eq(keystore_new(priv_i, secret, &ks_i), STATUS_OK);
    ck_assert_int_eq(keystore_new(priv_r, secret, &ks_r), STATUS_OK);

    /* No ck_assert inside the counted spans: Check's passing asserts record
     * their location, which allocates in fork mode. */
    alloc_count_reset();
    st[0] = noise_handshake_new(pattern, NOISE_ROLE_INITIATOR,
                                pattern == NOISE_PATTERN_KK ? ks_i : NULL,
                                keystore_public_key(ks_r), NULL, 0, counter_rng, &seed_i, &hi);
    st[1] = noise_handshake_new(pattern, NOISE_ROLE_RESPONDER, ks_r, keystore_public_key(ks_i),
                                NULL, 0, counter_rng, &seed_r, &hr);
    c.news = alloc_count_get();

    alloc_count_reset();
    st[2] = noise_handshake_write_message(hi, hash, 32, m0, sizeof(m0), &n0);
    st[3] = noise_handshake_read_message(hr, m0, n0, payload, sizeof(payload), &n);
    st[4] = noise_handshake_write_message(hr, hash, 32, m1, sizeof(m1), &n1);
    st[5] = noise_handshake_read_message(hi, m1, n1, payload, sizeof(payload), &n);
    st[6] = noise_handshake_split(hi, &ti);
    st[7] = noise_handshake_split(hr, &tr);
    noise_handshake_free(hi);
    noise_handshake_free(hr);
    c.steps = alloc_count_get();
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(st[i], STATUS_OK);
    }

    /* The handshake worked: the two transports talk. */
    {
        uint8_t ct[64 + NOISE_TAG_LEN], pt[64];
        size_t ct_len = 0, pt_len = 0;
        ck_assert_int_eq(noise_transport_encrypt(&ti, hash, 32, ct, sizeof(ct), &ct_len),
                         STATUS_OK);
        ck_assert_int_eq(noise_transport_decrypt(&tr, ct, ct_len, pt, sizeof(pt), &pt_len),
                         STATUS_OK);
        ck_assert_mem_eq(pt, hash, 32);
    }
    noise_transport_clear(&ti);
    noise_transport_clear(&tr);
    keystore_free(ks_i);
    keystore_free(ks_r);
    return c;
}

START_TEST(test_noise_nk_handshake_allocates_only_its_two_handshake_objects)
{
    struct pair_counts c = count_handshake(NOISE_PATTERN_NK);

    printf("noise NK: %ld allocations in noise_handshake_new (both sides), %ld after\n", c.news,
           c.steps);
    ck_assert_int_eq(c.news, 2);
    ck_assert_int_eq(c.steps, 0);
}
END_TEST

START_TEST(test_noise_kk_handshake_allocates_only_its_two_handshake_objects)
{
    struct pair_counts c = count_handshake(NOISE_PATTERN_KK);

    printf("noise KK: %ld allocations in noise_handshake_new (both sides), %ld after\n", c.news,
           c.steps);
    ck_assert_int_eq(c.news, 2);
    ck_assert_int_eq(c.steps, 0);
}
END_TEST

/* The counter itself counts: a test that could not fail would prove nothing. */
START_TEST(test_alloc_count_sees_an_allocation)
{
    void *p;

    long seen;

    alloc_count_reset();
    p = malloc(16);
    seen = alloc_count_get();
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(seen, 1);
    free(p);
}
END_TEST

static Suite *noise_alloc_suite(void)
{
    Suite *s = suite_create("noise_alloc");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_alloc_count_sees_an_allocation);
    tcase_add_test(tc, test_noise_nk_handshake_allocates_only_its_two_handshake_objects);
    tcase_add_test(tc, test_noise_kk_handshake_allocates_only_its_two_handshake_objects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(noise_alloc_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
