/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/idmap.h"

START_TEST(test_idmap_put_get_remove)
{
    struct idmap m;
    int values[3];

    idmap_init(&m);
    ck_assert_ptr_null(idmap_get(&m, 1));
    ck_assert_int_eq(idmap_put(&m, 1, &values[0]), STATUS_OK);
    ck_assert_int_eq(idmap_put(&m, 7, &values[1]), STATUS_OK);
    ck_assert_ptr_eq(idmap_get(&m, 1), &values[0]);
    ck_assert_ptr_eq(idmap_get(&m, 7), &values[1]);
    ck_assert_ptr_null(idmap_get(&m, 2));
    ck_assert_ptr_null(idmap_get(&m, 0));
    idmap_remove(&m, 1);
    idmap_remove(&m, 99);
    ck_assert_ptr_null(idmap_get(&m, 1));
    ck_assert_ptr_eq(idmap_get(&m, 7), &values[1]);
    ck_assert_uint_eq(m.count, 1);
    idmap_clear(&m);
}
END_TEST

/* Many keys with interleaved removals: every survivor stays reachable, so
 * backward-shift deletion keeps probe runs intact. */
START_TEST(test_idmap_survives_churn)
{
    enum { N = 20000 };
    struct idmap m;
    static uint8_t present[N + 1];

    idmap_init(&m);
    for (uint32_t k = 1; k <= N; k++) {
        ck_assert_int_eq(idmap_put(&m, k * 7919u, (void *)(uintptr_t)k), STATUS_OK);
        present[k] = 1;
        if (k % 3 == 0) {
            idmap_remove(&m, (k / 2) * 7919u);
            present[k / 2] = 0;
        }
    }
    for (uint32_t k = 1; k <= N; k++) {
        void *v = idmap_get(&m, k * 7919u);
        if (present[k]) {
            ck_assert_ptr_eq(v, (void *)(uintptr_t)k);
        } else {
            ck_assert_ptr_null(v);
        }
    }
    idmap_clear(&m);
}
END_TEST

static Suite *idmap_suite(void)
{
    Suite *s = suite_create("idmap");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_idmap_put_get_remove);
    tcase_add_test(tc, test_idmap_survives_churn);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(idmap_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
