/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "wire/frame.h"

static const struct {
    const char *name;
    uint8_t bytes[8];
    size_t len;
    uint32_t max_frame;
    enum frame_result want;
    uint32_t want_len;
} rows[] = {
    {"empty buffer", {0}, 0, 100, FRAME_NEED_MORE, 0},
    {"three header bytes", {0, 0, 0}, 3, 100, FRAME_NEED_MORE, 0},
    {"zero length", {0, 0, 0, 0}, 4, 100, FRAME_EMPTY, 0},
    {"header only", {0, 0, 0, 2}, 4, 100, FRAME_NEED_MORE, 2},
    {"partial body", {0, 0, 0, 2, 9}, 5, 100, FRAME_NEED_MORE, 2},
    {"whole frame", {0, 0, 0, 2, 9, 9}, 6, 100, FRAME_READY, 2},
    {"whole frame and more", {0, 0, 0, 1, 9, 0, 0}, 7, 100, FRAME_READY, 1},
    {"exactly max_frame", {0, 0, 0, 100}, 4, 100, FRAME_NEED_MORE, 100},
    {"one over max_frame", {0, 0, 0, 101}, 4, 100, FRAME_TOO_LARGE, 101},
    {"top byte set", {0x80, 0, 0, 1}, 4, 1u << 20, FRAME_TOO_LARGE, 0x80000001u},
};

START_TEST(test_frame_next_table)
{
    uint32_t n = 12345;

    ck_assert_msg(frame_next(rows[_i].bytes, rows[_i].len, rows[_i].max_frame, &n) ==
                      rows[_i].want,
                  "row '%s'", rows[_i].name);
    ck_assert_msg(n == rows[_i].want_len, "row '%s': length %u", rows[_i].name, n);
}
END_TEST

START_TEST(test_frame_length_round_trips_big_endian)
{
    uint8_t h[4];

    frame_write_length(h, 0x01020304u);
    ck_assert_uint_eq(h[0], 1);
    ck_assert_uint_eq(h[3], 4);
    ck_assert_uint_eq(frame_read_length(h), 0x01020304u);
    frame_write_length(h, 0xffffffffu);
    ck_assert_uint_eq(frame_read_length(h), 0xffffffffu);
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_frame_next_table, 0, sizeof(rows) / sizeof(rows[0]));
    tcase_add_test(tc, test_frame_length_round_trips_big_endian);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
