/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The SEE's platform seam (server/platform/platform_codesafe.c with
 * platform_posix.c), built for this machine and run here: the parts that
 * need no HSM. The clocks against glibc's, entropy, the userdata default,
 * and the memory figure with and without /proc (a private mount namespace
 * hides /proc, so this suite needs root, as test_userdir does).
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "platform/platform.h"

static uint64_t glibc_clock(clockid_t id, uint64_t sec_scale, uint64_t nsec_div)
{
    struct timespec ts;

    ck_assert_int_eq(clock_gettime(id, &ts), 0);
    return (uint64_t)ts.tv_sec * sec_scale + (uint64_t)ts.tv_nsec / nsec_div;
}

START_TEST(test_codesafe_names_its_target_and_the_root_as_userdata)
{
    ck_assert_str_eq(platform_target(), "codesafe");
    ck_assert_ptr_nonnull(platform_default_userdata());
    ck_assert_str_eq(platform_default_userdata(), "/");
}
END_TEST

START_TEST(test_codesafe_clocks_agree_with_glibc)
{
    uint64_t before = glibc_clock(CLOCK_REALTIME, 1000000u, 1000u);
    uint64_t now = platform_time_micros();
    uint64_t after = glibc_clock(CLOCK_REALTIME, 1000000u, 1000u);
    uint64_t mono_before = glibc_clock(CLOCK_MONOTONIC, 1000u, 1000000u);
    uint64_t mono = platform_monotonic_ms();
    uint64_t mono_after = glibc_clock(CLOCK_MONOTONIC, 1000u, 1000000u);
    struct timespec pause = {0, 20 * 1000000L};

    ck_assert_uint_ge(now, before);
    ck_assert_uint_le(now, after);
    ck_assert_uint_ge(mono, mono_before);
    ck_assert_uint_le(mono, mono_after);
    ck_assert_int_eq(nanosleep(&pause, NULL), 0);
    ck_assert_uint_ge(platform_monotonic_ms(), mono + 20);
}
END_TEST

START_TEST(test_codesafe_entropy_reads_urandom)
{
    uint8_t a[64];
    uint8_t b[64];
    uint8_t zero[64] = {0};

    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    ck_assert_int_eq(platform_entropy(a, sizeof(a)), STATUS_OK);
    ck_assert_int_eq(platform_entropy(b, sizeof(b)), STATUS_OK);
    ck_assert_int_eq(platform_entropy(b, 0), STATUS_OK);
    ck_assert(memcmp(a, zero, sizeof(a)) != 0);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
}
END_TEST

START_TEST(test_codesafe_rss_comes_from_proc_when_present)
{
    uint64_t rss = platform_rss_bytes();

    ck_assert_uint_gt(rss, 0);
    /* Resident pages: at least this process's code and stack. */
    ck_assert_uint_ge(rss, 64 * 1024);
}
END_TEST

/* Check runs each test in its own child, so hiding /proc here (and the
 * seam's first look for it) touches no other test. */
START_TEST(test_codesafe_memory_figure_without_proc_is_the_heap)
{
    enum { BLOCK = 4 * 1024 * 1024 };
    uint64_t before;
    uint64_t after;
    uint8_t *block;

    ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare: %s (this suite needs root)",
                  strerror(errno));
    ck_assert_int_eq(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    ck_assert_int_eq(mount("tmpfs", "/proc", "tmpfs", 0, NULL), 0);
    ck_assert_int_ne(access("/proc/self/statm", F_OK), 0);
    before = platform_rss_bytes();
    block = malloc(BLOCK);
    ck_assert_ptr_nonnull(block);
    memset(block, 1, BLOCK);
    after = platform_rss_bytes();
#if defined(__SANITIZE_ADDRESS__)
    /* ASan replaces malloc, and glibc's mallinfo then sees none of it; the
     * figure must still come without /proc and without failing. */
    ck_assert_uint_ge(after, before);
#else
    ck_assert_uint_gt(before, 0);
    ck_assert_uint_ge(after, before + BLOCK);
#endif
    free(block);
    /* LeakSanitizer reads /proc when the child exits. */
    ck_assert_int_eq(umount("/proc"), 0);
}
END_TEST

static Suite *platform_codesafe_suite(void)
{
    Suite *s = suite_create("platform_codesafe");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_codesafe_names_its_target_and_the_root_as_userdata);
    tcase_add_test(tc, test_codesafe_clocks_agree_with_glibc);
    tcase_add_test(tc, test_codesafe_entropy_reads_urandom);
    tcase_add_test(tc, test_codesafe_rss_comes_from_proc_when_present);
    tcase_add_test(tc, test_codesafe_memory_figure_without_proc_is_the_heap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(platform_codesafe_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
