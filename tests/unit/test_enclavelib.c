/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enclavelib.h"
#include "luacheck.h"
#include "platform.h"

/* FIPS 180-2 / NIST examples for SHA-256. */
START_TEST(test_enclavelib_sha256_matches_known_answers)
{
    luacheck_run(
        "assert(hex(enclave.sha256('abc')) == "
        "'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')\n"
        "assert(hex(enclave.sha256()) == "
        "'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')\n"
        "assert(hex(enclave.sha256('') ) == hex(enclave.sha256()))\n"
        "assert(hex(enclave.sha256('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')) == "
        "'248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1')\n"
        "assert(enclave.sha256('a', 'b', 'c') == enclave.sha256('abc'))\n"
        "assert(enclave.sha256('ab', '', 'c') == enclave.sha256('abc'))\n"
        "assert(enclave.sha256(1, 2) == enclave.sha256('12'))\n"
        "assert(#enclave.sha256(string.rep('x', 100000)) == 32)\n"
        "assert(fails(enclave.sha256, {}))\n"
        "assert(fails(enclave.sha256, 'a', nil))\n");
}
END_TEST

START_TEST(test_enclavelib_random_lengths_and_bounds)
{
    luacheck_run(
        "assert(enclave.random(0) == '')\n"
        "for _, n in ipairs({1, 16, 32, 1000, 1024}) do assert(#enclave.random(n) == n) end\n"
        "assert(enclave.random(32) ~= enclave.random(32))\n"
        "assert(fails(enclave.random, 1025))\n"
        "assert(fails(enclave.random, -1))\n"
        "assert(fails(enclave.random, 1.5))\n"
        "assert(fails(enclave.random, 'x'))\n"
        "assert(fails(enclave.random))\n"
        "local seen = {}\n"
        "for i = 1, 4096 do seen[enclave.random(1)] = true end\n"
        "local n = 0 for _ in pairs(seen) do n = n + 1 end\n"
        "assert(n > 200, 'random bytes poorly spread: ' .. n)\n");
}
END_TEST

START_TEST(test_enclavelib_timestamp_is_wall_clock_micros)
{
    char src[256];
    uint64_t now = platform_time_micros();

    snprintf(src, sizeof(src),
             "local t = enclave.timestamp_micros()\n"
             "assert(math.type(t) == 'integer')\n"
             "assert(t >= %llu and t < %llu + 60000000)\n",
             (unsigned long long)now, (unsigned long long)now);
    luacheck_run(src);
}
END_TEST

START_TEST(test_enclavelib_log_takes_strings)
{
    luacheck_run(
        "enclave.log('hello from the app\\nwith a forged line')\n"
        "enclave.log(42)\n"
        "assert(fails(enclave.log, {}))\n"
        "assert(fails(enclave.log))\n");
}
END_TEST

START_TEST(test_enclavelib_sealing_is_not_here_yet)
{
    luacheck_run("assert(enclave.encrypt == nil and enclave.decrypt == nil)\n");
}
END_TEST

START_TEST(test_enclavelib_sanitize_replaces_unprintables_and_truncates)
{
    char out[8];

    ck_assert_uint_eq(enclavelib_sanitize(out, sizeof(out), "a\nb\x80" "c", 5), 5);
    ck_assert_str_eq(out, "a?b?c");
    ck_assert_uint_eq(enclavelib_sanitize(out, sizeof(out), "0123456789", 10), 7);
    ck_assert_str_eq(out, "0123456");
    ck_assert_uint_eq(enclavelib_sanitize(out, sizeof(out), "x\0y", 3), 3);
    ck_assert_str_eq(out, "x?y");
}
END_TEST

static Suite *enclavelib_suite(void)
{
    Suite *s = suite_create("enclavelib");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_enclavelib_sha256_matches_known_answers);
    tcase_add_test(tc, test_enclavelib_random_lengths_and_bounds);
    tcase_add_test(tc, test_enclavelib_timestamp_is_wall_clock_micros);
    tcase_add_test(tc, test_enclavelib_log_takes_strings);
    tcase_add_test(tc, test_enclavelib_sealing_is_not_here_yet);
    tcase_add_test(tc, test_enclavelib_sanitize_replaces_unprintables_and_truncates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(enclavelib_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
