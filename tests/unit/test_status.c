/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "enclaved.pb-c.h"
#include "base/status.h"

START_TEST(test_status_list_matches_proto_descriptor)
{
    const ProtobufCEnumDescriptor *d = &enclaved__status__descriptor;

    ck_assert_uint_eq(d->n_values, STATUS_COUNT);
    for (unsigned i = 0; i < d->n_values; i++) {
        int num = d->values[i].value;
        ck_assert(status_is_valid(num));
        ck_assert_str_eq(status_name((status_t)num), d->values[i].name);
    }
    ck_assert_str_eq(status_name((status_t)99), "UNKNOWN_STATUS");
}
END_TEST

static status_t fail_inner(void)
{
    FAIL(STATUS_NOT_FOUND, "inner");
}

static status_t fail_outer(void)
{
    status_t s = fail_inner();
    if (s != STATUS_OK) {
        FAIL(s, "outer");
    }
    return STATUS_OK;
}

START_TEST(test_status_trail_formats_outermost_first)
{
    char buf[256];

    status_trail_reset();
    ck_assert_int_eq(fail_outer(), STATUS_NOT_FOUND);
    ck_assert_str_eq(status_trail_message(), "inner");
    status_trail_format(buf, sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "outer"));
    ck_assert(strstr(buf, "outer") < strstr(buf, "inner"));
    status_trail_set_detail("detail text", 11);
    ck_assert_str_eq(status_trail_message(), "detail text");
    status_trail_reset();
    ck_assert_str_eq(status_trail_message(), "");
}
END_TEST

static status_t inner(void)
{
    FAIL(STATUS_DATA_LOSS, "bad tag");
}

static status_t outer(void)
{
    status_t s = inner();
    if (s != STATUS_OK) {
        FAIL(s, "transport message failed to decrypt");
    }
    return STATUS_OK;
}

START_TEST(test_status_take_moves_the_failure_out_and_clears_the_trail)
{
    struct status_report r;

    status_trail_reset();
    ck_assert_int_eq(outer(), STATUS_DATA_LOSS);
    status_trail_take(&r);
    ck_assert_str_eq(r.message, "bad tag");
    /* "transport message failed to decrypt (FILE:LINE): bad tag (FILE:LINE)" */
    ck_assert_ptr_eq(strstr(r.trail, "transport message failed to decrypt ("), r.trail);
    ck_assert_ptr_nonnull(strstr(r.trail, "): bad tag ("));
    /* The next failure starts clean. */
    ck_assert_str_eq(status_trail_message(), "");
    status_trail_take(&r);
    ck_assert_str_eq(r.message, "");
    ck_assert_str_eq(r.trail, "");
}
END_TEST

static void *push_elsewhere(void *unused)
{
    (void)unused;
    (void)status_trail_push(STATUS_UNAVAILABLE, "key pool: no entropy", __FILE__, __LINE__);
    return NULL;
}

START_TEST(test_status_trail_of_another_thread_stays_there)
{
    pthread_t t;

    /* The key pool's worker fails while the loop's trail is empty. */
    status_trail_reset();
    ck_assert_int_eq(pthread_create(&t, NULL, push_elsewhere, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_str_eq(status_trail_message(), "");
    (void)status_trail_push(STATUS_NOT_FOUND, "no such process", __FILE__, __LINE__);
    ck_assert_str_eq(status_trail_message(), "no such process");
    status_trail_reset();
}
END_TEST

START_TEST(test_status_detail_is_bounded)
{
    char big[1000];

    memset(big, 'x', sizeof(big));
    status_trail_reset();
    status_trail_set_detail(big, sizeof(big));
    ck_assert_uint_eq(strlen(status_trail_message()), STATUS_DETAIL_CAP - 1);
}
END_TEST

static Suite *status_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_status_list_matches_proto_descriptor);
    tcase_add_test(tc, test_status_trail_formats_outermost_first);
    tcase_add_test(tc, test_status_detail_is_bounded);
    tcase_add_test(tc, test_status_take_moves_the_failure_out_and_clears_the_trail);
    tcase_add_test(tc, test_status_trail_of_another_thread_stays_there);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(status_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
