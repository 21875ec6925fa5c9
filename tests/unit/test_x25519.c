/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "crypto/keystore.h"
#include "crypto/x25519.h"

/* RFC 7748 §5.2: two scalar/u-coordinate pairs; the second u has its top
 * bit set, which X25519 must ignore. */
static const struct {
    const char *scalar, *point, *out;
} rfc7748_5_2[] = {
    {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
     "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
     "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
    {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
     "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
     "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
};

START_TEST(test_x25519_matches_rfc7748_section_5_2)
{
    uint8_t s[32], p[32], want[32], got[32];

    for (size_t i = 0; i < sizeof(rfc7748_5_2) / sizeof(rfc7748_5_2[0]); i++) {
        hex_decode_exact(rfc7748_5_2[i].scalar, s, 32);
        hex_decode_exact(rfc7748_5_2[i].point, p, 32);
        hex_decode_exact(rfc7748_5_2[i].out, want, 32);
        ck_assert_int_eq(x25519(got, s, p), STATUS_OK);
        ck_assert_mem_eq(got, want, 32);
    }
}
END_TEST

/* RFC 7748 §6.1: Alice and Bob agree on a shared secret. */
START_TEST(test_x25519_matches_rfc7748_section_6_1)
{
    uint8_t a[32], b[32], a_pub[32], b_pub[32], want[32], k1[32], k2[32];

    hex_decode_exact("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a, 32);
    hex_decode_exact("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", b, 32);
    x25519_public_key(a_pub, a);
    x25519_public_key(b_pub, b);
    hex_decode_exact("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", want, 32);
    ck_assert_mem_eq(a_pub, want, 32);
    hex_decode_exact("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", want, 32);
    ck_assert_mem_eq(b_pub, want, 32);
    hex_decode_exact("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", want, 32);
    ck_assert_int_eq(x25519(k1, a, b_pub), STATUS_OK);
    ck_assert_int_eq(x25519(k2, b, a_pub), STATUS_OK);
    ck_assert_mem_eq(k1, want, 32);
    ck_assert_mem_eq(k2, want, 32);
}
END_TEST

START_TEST(test_x25519_rejects_low_order_point)
{
    uint8_t s[32], zero_point[32] = {0}, out[32];

    memset(s, 0x42, sizeof(s));
    ck_assert_int_eq(x25519(out, s, zero_point), STATUS_PERMISSION_DENIED);
}
END_TEST

START_TEST(test_keystore_dh_agrees_with_raw_x25519)
{
    uint8_t priv[32], secret[32], peer_priv[32], peer_pub[32], k1[32], k2[32];
    struct keystore *ks = NULL;

    memset(priv, 7, sizeof(priv));
    memset(secret, 9, sizeof(secret));
    memset(peer_priv, 3, sizeof(peer_priv));
    x25519_public_key(peer_pub, peer_priv);
    ck_assert_int_eq(keystore_new(priv, secret, &ks), STATUS_OK);
    ck_assert_int_eq(keystore_dh(ks, peer_pub, k1), STATUS_OK);
    ck_assert_int_eq(x25519(k2, peer_priv, keystore_public_key(ks)), STATUS_OK);
    ck_assert_mem_eq(k1, k2, 32);
    ck_assert_mem_eq(keystore_sealing_secret(ks), secret, 32);
    keystore_free(ks);
    keystore_free(NULL);
}
END_TEST

static Suite *x25519_suite(void)
{
    Suite *s = suite_create("x25519");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_x25519_matches_rfc7748_section_5_2);
    tcase_add_test(tc, test_x25519_matches_rfc7748_section_6_1);
    tcase_add_test(tc, test_x25519_rejects_low_order_point);
    tcase_add_test(tc, test_keystore_dh_agrees_with_raw_x25519);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(x25519_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
