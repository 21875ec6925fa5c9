/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/keypool.h"
#include "crypto/rng.h"
#include "crypto/x25519.h"

/* Takes one pair, waiting up to 5 s for the worker to make it. */
static void take_waiting(uint8_t priv[32], uint8_t pub[32])
{
    struct timespec pause = {0, 1000000};

    for (int i = 0; i < 5000; i++) {
        if (keypool_take(priv, pub)) {
            return;
        }
        nanosleep(&pause, NULL);
    }
    ck_abort_msg("the key pool produced nothing in 5 s");
}

START_TEST(test_keypool_empty_when_not_started)
{
    uint8_t priv[32], pub[32];

    memset(priv, 0xaa, sizeof(priv));
    ck_assert_int_eq(keypool_take(priv, pub), 0);
    ck_assert_uint_eq(priv[0], 0xaa);
    keypool_stop();
}
END_TEST

START_TEST(test_keypool_pairs_are_valid_and_fresh)
{
    enum { PAIRS = 200 };
    static uint8_t seen[PAIRS][32];
    uint8_t priv[32], pub[32], want[32];

    ck_assert_int_eq(rng_init(), STATUS_OK);
    ck_assert_int_eq(keypool_start(8), STATUS_OK);
    ck_assert_int_eq(keypool_start(8), STATUS_FAILED_PRECONDITION);
    for (int i = 0; i < PAIRS; i++) {
        take_waiting(priv, pub);
        x25519_public_key(want, priv);
        ck_assert_mem_eq(pub, want, 32);
        for (int j = 0; j < i; j++) {
            ck_assert_msg(memcmp(seen[j], priv, 32) != 0, "pair %d repeats pair %d", i, j);
        }
        memcpy(seen[i], priv, 32);
    }
    keypool_stop();
    ck_assert_int_eq(keypool_take(priv, pub), 0);
    keypool_stop();
    /* It starts again after a stop. */
    ck_assert_int_eq(keypool_start(4), STATUS_OK);
    take_waiting(priv, pub);
    keypool_stop();
}
END_TEST

static Suite *keypool_suite(void)
{
    Suite *s = suite_create("keypool");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_keypool_empty_when_not_started);
    tcase_add_test(tc, test_keypool_pairs_are_valid_and_fresh);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(keypool_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
