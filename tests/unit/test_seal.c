/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "crypto/seal.h"

/* Deterministic IVs: consecutive byte values from *ctx on. */
static status_t counting_rng(void *ctx, uint8_t *buf, size_t len)
{
    uint8_t *next = ctx;

    for (size_t i = 0; i < len; i++) {
        buf[i] = (*next)++;
    }
    return STATUS_OK;
}

static status_t failing_rng(void *ctx, uint8_t *buf, size_t len)
{
    return STATUS_UNAVAILABLE;
}

struct fixture {
    uint8_t secret[32];
    uint8_t code_hash[32];
    uint8_t user_key[32];
    uint8_t iv_start;
};

static void fixture_init(struct fixture *f)
{
    for (int i = 0; i < 32; i++) {
        f->secret[i] = (uint8_t)i;
        f->code_hash[i] = (uint8_t)(32 + i);
        f->user_key[i] = (uint8_t)(96 + i);
    }
    f->iv_start = 64;
}

static const char kat_plaintext[] = "sealed by enclaved";

/* Computed independently (Python hmac/hashlib HKDF and pyca ChaCha20Poly1305)
 * from the format in seal.h, with the fixture above: secret 00..1f, code hash
 * 20..3f, IV 40..5f, user key 60..7f. Pins the format across servers. */
static const char *const kat_no_user_key =
    "01404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "e9aea915efa42df54ac5d0ca345e258b7d57cf5e019186a9198c3c5e8da4afa42dd2";
static const char *const kat_user_key =
    "01404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "e65d6a1c75dce60a0efd17a6088ce700b45a4f513adeb3ee3fbbd3c2d9b376e532b9";

START_TEST(test_seal_matches_known_answers)
{
    struct fixture f;
    uint8_t out[128], want[128], back[64];
    size_t len = sizeof(kat_plaintext) - 1, n, m;

    fixture_init(&f);
    ck_assert_int_eq(seal_encrypt(f.secret, f.code_hash, NULL, (const uint8_t *)kat_plaintext, len,
                                  counting_rng, &f.iv_start, out, &n),
                     STATUS_OK);
    ck_assert_uint_eq(n, len + SEAL_OVERHEAD);
    hex_decode_exact(kat_no_user_key, want, n);
    ck_assert_mem_eq(out, want, n);
    ck_assert_int_eq(seal_decrypt(f.secret, f.code_hash, NULL, 0, out, n, back, &m), STATUS_OK);
    ck_assert_uint_eq(m, len);
    ck_assert_mem_eq(back, kat_plaintext, len);

    f.iv_start = 64;
    ck_assert_int_eq(seal_encrypt(f.secret, f.code_hash, f.user_key,
                                  (const uint8_t *)kat_plaintext, len, counting_rng, &f.iv_start,
                                  out, &n),
                     STATUS_OK);
    hex_decode_exact(kat_user_key, want, n);
    ck_assert_mem_eq(out, want, n);
    ck_assert_int_eq(seal_decrypt(f.secret, f.code_hash, f.user_key, 32, out, n, back, &m),
                     STATUS_OK);
    ck_assert_mem_eq(back, kat_plaintext, len);
}
END_TEST

START_TEST(test_seal_round_trips_various_lengths)
{
    static const size_t lengths[] = {1, 15, 16, 17, 64, 1000, 65536, 200000};
    struct fixture f;

    fixture_init(&f);
    for (size_t k = 0; k < sizeof(lengths) / sizeof(lengths[0]); k++) {
        size_t len = lengths[k], n, m;
        uint8_t *pt = malloc(len), *ct = malloc(len + SEAL_OVERHEAD), *back = malloc(len);

        ck_assert_ptr_nonnull(pt);
        ck_assert_ptr_nonnull(ct);
        ck_assert_ptr_nonnull(back);
        for (size_t j = 0; j < len; j++) {
            pt[j] = (uint8_t)(j * 7 + 3);
        }
        ck_assert_int_eq(seal_encrypt(f.secret, f.code_hash, k % 2 ? f.user_key : NULL, pt, len,
                                      counting_rng, &f.iv_start, ct, &n),
                         STATUS_OK);
        ck_assert_uint_eq(n, len + SEAL_OVERHEAD);
        ck_assert_int_eq(seal_decrypt(f.secret, f.code_hash, k % 2 ? f.user_key : NULL,
                                      k % 2 ? 32 : 0, ct, n, back, &m),
                         STATUS_OK);
        ck_assert_uint_eq(m, len);
        ck_assert_mem_eq(back, pt, len);
        free(pt);
        free(ct);
        free(back);
    }
}
END_TEST

START_TEST(test_seal_empty_plaintext_seals_to_empty)
{
    struct fixture f;
    uint8_t out[1] = {0xee};
    size_t n = 99;

    fixture_init(&f);
    ck_assert_int_eq(seal_encrypt(f.secret, f.code_hash, NULL, NULL, 0, failing_rng, NULL, out,
                                  &n),
                     STATUS_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(out[0], 0xee);
    n = 99;
    ck_assert_int_eq(seal_decrypt(f.secret, f.code_hash, f.user_key, 32, NULL, 0, out, &n),
                     STATUS_OK);
    ck_assert_uint_eq(n, 0);
}
END_TEST

/* Seals the KAT plaintext with the fixture (and its user key when asked). */
static size_t seal_fixture(struct fixture *f, int with_user_key, uint8_t *out)
{
    size_t n;

    ck_assert_int_eq(seal_encrypt(f->secret, f->code_hash, with_user_key ? f->user_key : NULL,
                                  (const uint8_t *)kat_plaintext, sizeof(kat_plaintext) - 1,
                                  counting_rng, &f->iv_start, out, &n),
                     STATUS_OK);
    return n;
}

static status_t open_fixture(const struct fixture *f, const uint8_t *user_keys, size_t keys_len,
                             const uint8_t *ct, size_t len)
{
    uint8_t back[128];
    size_t n = 4321;
    status_t st = seal_decrypt(f->secret, f->code_hash, user_keys, keys_len, ct, len, back, &n);

    if (st != STATUS_OK) {
        ck_assert_uint_eq(n, 4321);
    }
    return st;
}

START_TEST(test_seal_rejects_wrong_keys_secret_and_code_hash)
{
    struct fixture f, other;
    uint8_t ct[128], ct_uk[128], wrong[32];
    size_t n, n_uk;

    fixture_init(&f);
    n = seal_fixture(&f, 0, ct);
    n_uk = seal_fixture(&f, 1, ct_uk);
    memset(wrong, 0x99, sizeof(wrong));
    /* Wrong user key; a user key where none was used; none where one was. */
    ck_assert_int_eq(open_fixture(&f, wrong, 32, ct_uk, n_uk), STATUS_DATA_LOSS);
    ck_assert_int_eq(open_fixture(&f, f.user_key, 32, ct, n), STATUS_DATA_LOSS);
    ck_assert_int_eq(open_fixture(&f, NULL, 0, ct_uk, n_uk), STATUS_DATA_LOSS);
    /* Another code hash: its process key differs. */
    other = f;
    other.code_hash[31] ^= 1;
    ck_assert_int_eq(open_fixture(&other, NULL, 0, ct, n), STATUS_DATA_LOSS);
    ck_assert_int_eq(open_fixture(&other, f.user_key, 32, ct_uk, n_uk), STATUS_DATA_LOSS);
    /* Another secret. */
    other = f;
    other.secret[0] ^= 1;
    ck_assert_int_eq(open_fixture(&other, NULL, 0, ct, n), STATUS_DATA_LOSS);
    /* The fixture itself still opens both. */
    ck_assert_int_eq(open_fixture(&f, NULL, 0, ct, n), STATUS_OK);
    ck_assert_int_eq(open_fixture(&f, f.user_key, 32, ct_uk, n_uk), STATUS_OK);
}
END_TEST

START_TEST(test_seal_code_hashes_give_different_ciphertexts)
{
    struct fixture a, b;
    uint8_t ct_a[128], ct_b[128];
    size_t n_a, n_b;

    fixture_init(&a);
    b = a;
    b.code_hash[0] ^= 0x80;
    n_a = seal_fixture(&a, 0, ct_a);
    n_b = seal_fixture(&b, 0, ct_b);
    ck_assert_uint_eq(n_a, n_b);
    /* Same IV, same plaintext: only the process key differs. */
    ck_assert_mem_eq(ct_a, ct_b, 1 + SEAL_IV_LEN);
    ck_assert_mem_ne(ct_a + 1 + SEAL_IV_LEN, ct_b + 1 + SEAL_IV_LEN, n_a - 1 - SEAL_IV_LEN);
    ck_assert_int_eq(open_fixture(&b, NULL, 0, ct_a, n_a), STATUS_DATA_LOSS);
    ck_assert_int_eq(open_fixture(&a, NULL, 0, ct_b, n_b), STATUS_DATA_LOSS);
}
END_TEST

START_TEST(test_seal_rejects_every_truncation)
{
    struct fixture f;
    uint8_t ct[128];
    size_t n;

    fixture_init(&f);
    n = seal_fixture(&f, 1, ct);
    /* Length 0 is the empty seal and opens to ""; every other prefix fails. */
    ck_assert_int_eq(open_fixture(&f, f.user_key, 32, ct, 0), STATUS_OK);
    for (size_t len = 1; len < n; len++) {
        uint8_t *copy = malloc(len);

        ck_assert_ptr_nonnull(copy);
        memcpy(copy, ct, len);
        ck_assert_int_eq(open_fixture(&f, f.user_key, 32, copy, len), STATUS_DATA_LOSS);
        free(copy);
    }
}
END_TEST

/* Version, IV, ciphertext and tag: a flipped bit anywhere fails. */
START_TEST(test_seal_rejects_tampering_in_every_region)
{
    struct fixture f;
    uint8_t ct[128];
    size_t n;

    fixture_init(&f);
    n = seal_fixture(&f, 1, ct);
    for (size_t j = 0; j < n; j++) {
        ct[j] ^= (uint8_t)(1u << (j % 8));
        ck_assert_int_eq(open_fixture(&f, f.user_key, 32, ct, n), STATUS_DATA_LOSS);
        ct[j] ^= (uint8_t)(1u << (j % 8));
    }
    ck_assert_int_eq(open_fixture(&f, f.user_key, 32, ct, n), STATUS_OK);
}
END_TEST

START_TEST(test_seal_rejects_bad_version)
{
    struct fixture f;
    uint8_t ct[128];
    size_t n;

    fixture_init(&f);
    n = seal_fixture(&f, 0, ct);
    for (int v = 0; v < 256; v++) {
        ct[0] = (uint8_t)v;
        ck_assert_int_eq(open_fixture(&f, NULL, 0, ct, n),
                         v == SEAL_VERSION ? STATUS_OK : STATUS_DATA_LOSS);
    }
}
END_TEST

START_TEST(test_seal_tries_each_user_key_in_order)
{
    struct fixture f;
    uint8_t ct[128], keys[96];
    size_t n;

    fixture_init(&f);
    n = seal_fixture(&f, 1, ct);
    memset(keys, 0x11, 32);
    memcpy(keys + 32, f.user_key, 32);
    memset(keys + 64, 0x33, 32);
    ck_assert_int_eq(open_fixture(&f, keys, 96, ct, n), STATUS_OK);
    ck_assert_int_eq(open_fixture(&f, keys, 64, ct, n), STATUS_OK);
    ck_assert_int_eq(open_fixture(&f, keys, 32, ct, n), STATUS_DATA_LOSS);
    ck_assert_int_eq(open_fixture(&f, keys + 64, 32, ct, n), STATUS_DATA_LOSS);
}
END_TEST

START_TEST(test_seal_rejects_partial_user_key)
{
    struct fixture f;
    uint8_t ct[128], keys[96] = {0};
    size_t n;

    fixture_init(&f);
    n = seal_fixture(&f, 1, ct);
    memcpy(keys, f.user_key, 32);
    for (size_t len = 1; len < 96; len++) {
        if (len % 32 != 0) {
            ck_assert_int_eq(open_fixture(&f, keys, len, ct, n), STATUS_INVALID_ARGUMENT);
        }
    }
    ck_assert_int_eq(open_fixture(&f, keys, 31, ct, 0), STATUS_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_seal_propagates_rng_failure)
{
    struct fixture f;
    uint8_t out[128];
    size_t n = 17;

    fixture_init(&f);
    ck_assert_int_eq(seal_encrypt(f.secret, f.code_hash, NULL, (const uint8_t *)"x", 1,
                                  failing_rng, NULL, out, &n),
                     STATUS_UNAVAILABLE);
    ck_assert_uint_eq(n, 17);
}
END_TEST

static Suite *seal_suite(void)
{
    Suite *s = suite_create("seal");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_seal_matches_known_answers);
    tcase_add_test(tc, test_seal_round_trips_various_lengths);
    tcase_add_test(tc, test_seal_empty_plaintext_seals_to_empty);
    tcase_add_test(tc, test_seal_rejects_wrong_keys_secret_and_code_hash);
    tcase_add_test(tc, test_seal_code_hashes_give_different_ciphertexts);
    tcase_add_test(tc, test_seal_rejects_every_truncation);
    tcase_add_test(tc, test_seal_rejects_tampering_in_every_region);
    tcase_add_test(tc, test_seal_rejects_bad_version);
    tcase_add_test(tc, test_seal_tries_each_user_key_in_order);
    tcase_add_test(tc, test_seal_rejects_partial_user_key);
    tcase_add_test(tc, test_seal_propagates_rng_failure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(seal_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
