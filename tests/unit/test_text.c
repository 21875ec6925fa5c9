/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The one printable-text sanitizer (base/text.h). */
#include <check.h>
#include <stdlib.h>

#include "base/text.h"

START_TEST(test_text_sanitize_replaces_unprintables_and_truncates)
{
    char out[8];

    ck_assert_uint_eq(text_sanitize(out, sizeof(out), "a\nb\x80" "c", 5), 5);
    ck_assert_str_eq(out, "a?b?c");
    ck_assert_uint_eq(text_sanitize(out, sizeof(out), "0123456789", 10), 7);
    ck_assert_str_eq(out, "0123456");
    ck_assert_uint_eq(text_sanitize(out, sizeof(out), "x\0y", 3), 3);
    ck_assert_str_eq(out, "x?y");
    ck_assert_uint_eq(text_sanitize(out, 1, "abc", 3), 0);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(text_sanitize(out, sizeof(out), "\x7f\x1f ~", 4), 4);
    ck_assert_str_eq(out, "?? ~");
}
END_TEST

static Suite *text_suite(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_text_sanitize_replaces_unprintables_and_truncates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(text_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
