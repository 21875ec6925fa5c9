/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apphost.h"
#include "lua/fixedmap.h"
#include "luacheck.h"

/* A counting allocator with the lua_Alloc contract, so leaks and size
 * mismatches show up as a nonzero balance. */
static long long balance;
static int fail_allocs;

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        balance -= ptr ? (long long)osize : 0;
        free(ptr);
        return NULL;
    }
    if (fail_allocs) {
        return NULL;
    }
    void *q = realloc(ptr, nsize);
    if (q != NULL) {
        balance += (long long)nsize - (ptr ? (long long)osize : 0);
    }
    return q;
}

static const uint8_t test_hash_key[FIXEDMAP_HASH_KEY_LEN] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
};

static struct fixedmap *new_map(size_t klen, size_t vlen)
{
    struct fixedmap *m = NULL;
    ck_assert_int_eq(fixedmap_new(klen, vlen, test_hash_key, counting_alloc, NULL, &m), STATUS_OK);
    return m;
}

/* SipHash paper, appendix A, and the reference vectors (key 00..0f). */
START_TEST(test_fixedmap_siphash_matches_reference_vectors)
{
    uint8_t msg[15];

    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (uint8_t)i;
    }
    ck_assert_uint_eq(fixedmap_siphash24(test_hash_key, msg, 0), UINT64_C(0x726fdb47dd0e0e31));
    ck_assert_uint_eq(fixedmap_siphash24(test_hash_key, msg, 15), UINT64_C(0xa129ca6149be45e5));
}
END_TEST

START_TEST(test_fixedmap_rejects_bad_sizes)
{
    struct fixedmap *m = (struct fixedmap *)&balance;

    ck_assert_int_eq(fixedmap_new(FIXEDMAP_KEY_MAX + 1, 4, test_hash_key, counting_alloc, NULL, &m),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(fixedmap_new(4, FIXEDMAP_VALUE_MAX + 1, test_hash_key, counting_alloc, NULL,
                                  &m),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_eq(m, (struct fixedmap *)&balance);
    fail_allocs = 1;
    ck_assert_int_eq(fixedmap_new(4, 4, test_hash_key, counting_alloc, NULL, &m),
                     STATUS_RESOURCE_EXHAUSTED);
    fail_allocs = 0;
    ck_assert_ptr_eq(m, (struct fixedmap *)&balance);
}
END_TEST

START_TEST(test_fixedmap_upsert_get_remove_semantics)
{
    struct fixedmap *m = new_map(3, 2);
    uint8_t old[2], val[2];
    int had;

    ck_assert_int_eq(fixedmap_get(m, (const uint8_t *)"abc", val), 0);
    ck_assert_int_eq(fixedmap_remove(m, (const uint8_t *)"abc", old), 0);
    ck_assert_int_eq(fixedmap_upsert(m, (const uint8_t *)"abc", (const uint8_t *)"v1", old, &had),
                     STATUS_OK);
    ck_assert_int_eq(had, 0);
    ck_assert_int_eq(fixedmap_upsert(m, (const uint8_t *)"abc", (const uint8_t *)"v2", old, &had),
                     STATUS_OK);
    ck_assert_int_eq(had, 1);
    ck_assert_mem_eq(old, "v1", 2);
    ck_assert_int_eq(fixedmap_get(m, (const uint8_t *)"abc", val), 1);
    ck_assert_mem_eq(val, "v2", 2);
    ck_assert_uint_eq(fixedmap_count(m), 1);
    ck_assert_int_eq(fixedmap_remove(m, (const uint8_t *)"abc", old), 1);
    ck_assert_mem_eq(old, "v2", 2);
    ck_assert_int_eq(fixedmap_get(m, (const uint8_t *)"abc", val), 0);
    ck_assert_uint_eq(fixedmap_count(m), 0);
    ck_assert_uint_eq(fixedmap_key_len(m), 3);
    ck_assert_uint_eq(fixedmap_value_len(m), 2);
    fixedmap_free(m);
    fixedmap_free(NULL);
    ck_assert_int_eq(balance, 0);
}
END_TEST

START_TEST(test_fixedmap_many_keys_grow_and_churn)
{
    enum { N = 20000 };
    struct fixedmap *m = new_map(4, 4);
    uint8_t key[4], val[4], old[4];
    int had;

    for (uint32_t round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < N; i++) {
            memcpy(key, &i, 4);
            uint32_t v = i ^ round;
            memcpy(val, &v, 4);
            ck_assert_int_eq(fixedmap_upsert(m, key, val, old, &had), STATUS_OK);
            ck_assert_int_eq(had, round > 0);
        }
        ck_assert_uint_eq(fixedmap_count(m), N);
        for (uint32_t i = 0; i < N; i++) {
            uint32_t v;
            memcpy(key, &i, 4);
            ck_assert_int_eq(fixedmap_get(m, key, val), 1);
            memcpy(&v, val, 4);
            ck_assert_uint_eq(v, i ^ round);
        }
        /* Remove the odd keys, then put them back in the next round. */
        for (uint32_t i = 1; i < N; i += 2) {
            memcpy(key, &i, 4);
            ck_assert_int_eq(fixedmap_remove(m, key, old), 1);
        }
        ck_assert_uint_eq(fixedmap_count(m), N / 2);
        for (uint32_t i = 1; i < N; i += 2) {
            memcpy(key, &i, 4);
            val[0] = 0;
            ck_assert_int_eq(fixedmap_upsert(m, key, val, old, &had), STATUS_OK);
            ck_assert_int_eq(had, 0);
        }
    }
    fixedmap_free(m);
    ck_assert_int_eq(balance, 0);
}
END_TEST

START_TEST(test_fixedmap_failed_growth_leaves_map_unchanged)
{
    struct fixedmap *m = new_map(1, 1);
    uint8_t key, old;
    int had;

    for (key = 0; key < 6; key++) {
        ck_assert_int_eq(fixedmap_upsert(m, &key, &key, &old, &had), STATUS_OK);
    }
    fail_allocs = 1;
    ck_assert_int_eq(fixedmap_upsert(m, &key, &key, &old, &had), STATUS_RESOURCE_EXHAUSTED);
    fail_allocs = 0;
    ck_assert_uint_eq(fixedmap_count(m), 6);
    for (key = 0; key < 6; key++) {
        ck_assert_int_eq(fixedmap_get(m, &key, &old), 1);
        ck_assert_uint_eq(old, key);
    }
    fixedmap_free(m);
    ck_assert_int_eq(balance, 0);
}
END_TEST

START_TEST(test_fixedmap_lua_binding_semantics)
{
    luacheck_run(
        "local m = enclave.fixedmap(4, 2)\n"
        "assert(m:get('aaaa') == '')\n"
        "assert(m:upsert('aaaa', 'v1') == '')\n"
        "assert(m:upsert('aaaa', 'v2') == 'v1')\n"
        "assert(m:get('aaaa') == 'v2')\n"
        "assert(m:remove('aaaa') == 'v2')\n"
        "assert(m:remove('aaaa') == '')\n"
        "assert(m:get('aaaa') == '')\n"
        "assert(m:upsert('\\0\\0\\0\\0', '\\0\\1') == '')\n"
        "assert(m:get('\\0\\0\\0\\0') == '\\0\\1')\n");
}
END_TEST

START_TEST(test_fixedmap_lua_rejects_wrong_sizes)
{
    luacheck_run(
        "local m = enclave.fixedmap(4, 2)\n"
        "assert(fails(m.upsert, m, 'aaa', 'v1'))\n"
        "assert(fails(m.upsert, m, 'aaaaa', 'v1'))\n"
        "assert(fails(m.upsert, m, 'aaaa', 'v'))\n"
        "assert(fails(m.upsert, m, 'aaaa', 'vvv'))\n"
        "assert(fails(m.get, m, 'aa'))\n"
        "assert(fails(m.remove, m, ''))\n"
        "assert(fails(m.get, {}, 'aaaa'))\n"
        "local ok, e = pcall(m.get, m, 'aa')\n"
        "assert(e:find('key must be 4 bytes'), e)\n"
        "assert(fails(enclave.fixedmap, -1, 1))\n"
        "assert(fails(enclave.fixedmap, 1, -1))\n"
        "assert(fails(enclave.fixedmap, 4 * 1024 * 1024 + 1, 1))\n"
        "assert(fails(enclave.fixedmap, 1, 4 * 1024 * 1024 + 1))\n"
        "assert(fails(enclave.fixedmap, 'x', 1))\n");
}
END_TEST

/* HsmEnclave: key and value sizes 0 to 4 MiB (within the memory limit). */
START_TEST(test_fixedmap_lua_sizes_zero_to_four_mib)
{
    luacheck_run(
        "local z = enclave.fixedmap(0, 0)\n"
        "assert(z:upsert('', '') == '' and z:get('') == '' and z:remove('') == '')\n"
        "local k = enclave.fixedmap(0, 3)\n"
        "assert(k:upsert('', 'abc') == '' and k:upsert('', 'def') == 'abc')\n"
        "assert(k:get('') == 'def' and k:remove('') == 'def' and k:get('') == '')\n"
        "local v = enclave.fixedmap(2, 0)\n"
        "assert(v:upsert('ab', '') == '' and v:get('ab') == '')\n"
        "local big = string.rep('k', 4 * 1024 * 1024)\n"
        "local m = enclave.fixedmap(4 * 1024 * 1024, 4 * 1024 * 1024)\n"
        "assert(m:upsert(big, big) == '')\n"
        "assert(m:get(big) == big)\n"
        "assert(m:remove(big) == big and m:get(big) == '')\n");
}
END_TEST

START_TEST(test_fixedmap_lua_many_keys_are_charged_to_the_process)
{
    static const char src[] =
        "m = enclave.fixedmap(8, 8)\n"
        "function HandleChannelMessage(cid, msg)\n"
        "  local n = tonumber(msg)\n"
        "  for i = 1, n do m:upsert(string.pack('<i8', i), string.pack('<i8', -i)) end\n"
        "  for i = 1, n do assert(m:get(string.pack('<i8', i)) == string.pack('<i8', -i)) end\n"
        "  return {{cid, 'ok'}}\n"
        "end\n";
    struct apphost h;

    apphost_init(&h);
    apphost_open(&h, 1);
    struct process *p = apphost_new(&h, src);
    size_t before = process_memory_used(p);
    ck_assert_int_eq(apphost_send(p, 1, "50000"), STATUS_OK);
    /* 50000 entries of 16 bytes plus control bytes, at most half full. */
    ck_assert_uint_gt(process_memory_used(p), before + 50000 * 17);
    ck_assert_int_eq(apphost_send(p, 1, "100000000"), STATUS_DEADLINE_EXCEEDED);
    process_free(p);
    apphost_clear(&h);
}
END_TEST

START_TEST(test_fixedmap_lua_growth_hits_the_memory_cap)
{
    static const char src[] =
        "m = enclave.fixedmap(8, 1024)\n"
        "function HandleChannelMessage(cid, msg)\n"
        "  if msg == 'fill' then\n"
        "    local v = string.rep('v', 1024)\n"
        "    for i = 1, 1e6 do m:upsert(string.pack('<i8', i), v) end\n"
        "  end\n"
        "  return {{cid, m:get(string.pack('<i8', 1))}}\n"
        "end\n";
    struct process_limits l = apphost_limits();
    struct apphost h;
    struct process *p = NULL;

    l.memory_cap = 8u << 20;
    apphost_init(&h);
    apphost_open(&h, 1);
    ck_assert_int_eq(process_new(1, "fill", (const uint8_t *)src, strlen(src), &l, &h.host,
                                 h.sealing_secret, &p),
                     STATUS_OK);
    ck_assert_int_eq(apphost_send(p, 1, "fill"), STATUS_RESOURCE_EXHAUSTED);
    ck_assert_uint_le(process_memory_used(p), l.memory_cap);
    ck_assert_int_eq(apphost_send(p, 1, "get"), STATUS_OK);
    ck_assert_uint_eq(h.outs[0].len, 1024);
    process_free(p);
    apphost_clear(&h);
}
END_TEST

static Suite *fixedmap_suite(void)
{
    Suite *s = suite_create("fixedmap");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fixedmap_siphash_matches_reference_vectors);
    tcase_add_test(tc, test_fixedmap_rejects_bad_sizes);
    tcase_add_test(tc, test_fixedmap_upsert_get_remove_semantics);
    tcase_add_test(tc, test_fixedmap_many_keys_grow_and_churn);
    tcase_add_test(tc, test_fixedmap_failed_growth_leaves_map_unchanged);
    tcase_add_test(tc, test_fixedmap_lua_binding_semantics);
    tcase_add_test(tc, test_fixedmap_lua_rejects_wrong_sizes);
    tcase_add_test(tc, test_fixedmap_lua_sizes_zero_to_four_mib);
    tcase_add_test(tc, test_fixedmap_lua_many_keys_are_charged_to_the_process);
    tcase_add_test(tc, test_fixedmap_lua_growth_hits_the_memory_cap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fixedmap_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
