/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/enclavelib.h"
#include "luacheck.h"
#include "platform/platform.h"

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

START_TEST(test_enclavelib_sealing_round_trips_and_rejects)
{
    luacheck_run(
        "local k1, k2 = string.rep('k', 32), string.rep('j', 32)\n"
        "assert(enclave.encrypt('') == '' and enclave.decrypt('') == '')\n"
        "local c = enclave.encrypt('attack at dawn')\n"
        "assert(#c == 14 + 49 and c:byte(1) == 1)\n"
        "assert(enclave.decrypt(c) == 'attack at dawn')\n"
        "assert(enclave.encrypt('x') ~= enclave.encrypt('x'), 'fresh IV each time')\n"
        "local big = string.rep('z', 200000)\n"
        "assert(enclave.decrypt(enclave.encrypt(big)) == big)\n"
        "local u = enclave.encrypt('with key', k1)\n"
        "assert(enclave.decrypt(u, k1) == 'with key')\n"
        "assert(enclave.decrypt(u, k2 .. k1) == 'with key')\n"
        "assert(fails(enclave.decrypt, u))\n"
        "assert(fails(enclave.decrypt, u, k2))\n"
        "assert(fails(enclave.decrypt, c, k1))\n"
        "assert(fails(enclave.decrypt, c:sub(1, -2)))\n"
        "assert(fails(enclave.decrypt, c:sub(1, 10)))\n"
        "local t = c:sub(1, 40) .. string.char(c:byte(41) ~ 1) .. c:sub(42)\n"
        "assert(fails(enclave.decrypt, t))\n"
        "assert(fails(enclave.decrypt, '\\2' .. c:sub(2)))\n"
        "assert(fails(enclave.encrypt, 'x', 'short key'))\n"
        "assert(fails(enclave.decrypt, c, 'abc'))\n"
        "local ok, err = pcall(enclave.decrypt, u, k2)\n"
        "assert(err:find('decrypt failed'), err)\n");
}
END_TEST

/* HsmEnclave derived every process's key from a zero hash; here the key is
 * bound to the code hash, so only identical code can unseal. */
START_TEST(test_enclavelib_sealing_is_bound_to_the_code_hash)
{
    static const char sealer[] =
        "function HandleChannelMessage(cid, msg) return {{cid, enclave.encrypt(msg)}} end\n";
    static const char opener[] =
        "-- different code\n"
        "function HandleChannelMessage(cid, msg)\n"
        "  local ok, v = pcall(enclave.decrypt, msg)\n"
        "  return {{cid, ok and ('opened:' .. v) or 'refused'}}\n"
        "end\n";
    static const char twin[] =
        "function HandleChannelMessage(cid, msg) return {{cid, enclave.decrypt(msg)}} end\n";
    struct apphost h;
    struct process *a, *b, *c;
    char *sealed;
    size_t sealed_len;

    apphost_init(&h);
    apphost_open(&h, 1);
    a = apphost_new(&h, sealer);
    ck_assert_int_eq(apphost_send(a, 1, "for my twin only"), STATUS_OK);
    ck_assert_uint_eq(h.count, 1);
    sealed_len = h.outs[0].len;
    sealed = malloc(sealed_len);
    ck_assert_ptr_nonnull(sealed);
    memcpy(sealed, h.outs[0].data, sealed_len);
    apphost_reset(&h);

    b = apphost_new(&h, opener);
    status_trail_reset();
    ck_assert_int_eq(process_handle_message(b, 1, (const uint8_t *)sealed, sealed_len), STATUS_OK);
    ck_assert_str_eq(h.outs[0].data, "refused");
    apphost_reset(&h);

    /* Code that only differs from the sealer in its hook body: its unguarded
     * decrypt raises, so the hook fails and delivers nothing. */
    c = apphost_new(&h, twin);
    status_trail_reset();
    ck_assert_int_eq(process_handle_message(c, 1, (const uint8_t *)sealed, sealed_len),
                     STATUS_INTERNAL);
    ck_assert_uint_eq(h.count, 0);
    process_free(c);
    process_free(b);
    process_free(a);
    free(sealed);
    apphost_clear(&h);
}
END_TEST

START_TEST(test_enclavelib_same_code_unseals_across_processes)
{
    static const char app[] =
        "function HandleChannelMessage(cid, msg)\n"
        "  if msg:sub(1, 1) == 'E' then return {{cid, enclave.encrypt(msg:sub(2))}} end\n"
        "  return {{cid, enclave.decrypt(msg:sub(2))}}\n"
        "end\n";
    struct apphost h;
    struct process *a, *b;
    char *msg;
    size_t len;

    apphost_init(&h);
    apphost_open(&h, 1);
    a = apphost_new(&h, app);
    ck_assert_int_eq(apphost_send(a, 1, "Ehello twin"), STATUS_OK);
    len = h.outs[0].len + 1;
    msg = malloc(len);
    ck_assert_ptr_nonnull(msg);
    msg[0] = 'D';
    memcpy(msg + 1, h.outs[0].data, len - 1);
    apphost_reset(&h);
    process_free(a);
    b = apphost_new(&h, app);
    status_trail_reset();
    ck_assert_int_eq(process_handle_message(b, 1, (const uint8_t *)msg, len), STATUS_OK);
    ck_assert_str_eq(h.outs[0].data, "hello twin");
    process_free(b);
    free(msg);
    apphost_clear(&h);
}
END_TEST

START_TEST(test_enclavelib_sealing_without_a_secret_raises)
{
    struct apphost h;
    struct process *p;

    apphost_init(&h);
    h.sealing_secret = NULL;
    p = apphost_new(&h, "assert(not pcall(enclave.encrypt, 'x'))\n"
                        "assert(not pcall(enclave.decrypt, 'x'))\n");
    process_free(p);
    apphost_clear(&h);
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
    tcase_add_test(tc, test_enclavelib_sealing_round_trips_and_rejects);
    tcase_add_test(tc, test_enclavelib_sealing_is_bound_to_the_code_hash);
    tcase_add_test(tc, test_enclavelib_same_code_unseals_across_processes);
    tcase_add_test(tc, test_enclavelib_sealing_without_a_secret_raises);
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
