/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "crypto/keystore.h"
#include "crypto/x25519.h"
#include "crypto/x25519_backend.h"

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

/* Every test below runs once per backend (Check's loop tests: _i indexes
 * this table), through x25519_backend_run, the function x25519() calls. */
static const struct x25519_backend *const backends[] = {&x25519_backend_sodium,
                                                        &x25519_backend_hacl};
enum { BACKEND_COUNT = sizeof(backends) / sizeof(backends[0]) };

START_TEST(test_x25519_backend_matches_rfc7748_section_5_2)
{
    const struct x25519_backend *b = backends[_i];
    uint8_t s[32], p[32], want[32], got[32];

    for (size_t i = 0; i < sizeof(rfc7748_5_2) / sizeof(rfc7748_5_2[0]); i++) {
        hex_decode_exact(rfc7748_5_2[i].scalar, s, 32);
        hex_decode_exact(rfc7748_5_2[i].point, p, 32);
        hex_decode_exact(rfc7748_5_2[i].out, want, 32);
        ck_assert_int_eq(x25519_backend_run(b, got, s, p), STATUS_OK);
        ck_assert_mem_eq(got, want, 32);
    }
}
END_TEST

/* RFC 7748 §5.2's iterated vector: k = u = 9, then k, u = X25519(k, u), k. */
static void iterate(const struct x25519_backend *b, int rounds, uint8_t k[32])
{
    uint8_t u[32] = {9}, next[32];

    memset(k, 0, 32);
    k[0] = 9;
    for (int i = 0; i < rounds; i++) {
        ck_assert_int_eq(x25519_backend_run(b, next, k, u), STATUS_OK);
        memcpy(u, k, 32);
        memcpy(k, next, 32);
    }
}

START_TEST(test_x25519_backend_matches_rfc7748_iterated_once)
{
    uint8_t k[32], want[32];

    hex_decode_exact("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079", want, 32);
    iterate(backends[_i], 1, k);
    ck_assert_mem_eq(k, want, 32);
}
END_TEST

START_TEST(test_x25519_backend_matches_rfc7748_iterated_1000_times)
{
    uint8_t k[32], want[32];

    hex_decode_exact("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51", want, 32);
    iterate(backends[_i], 1000, k);
    ck_assert_mem_eq(k, want, 32);
}
END_TEST

/* u-coordinates whose X25519 is zero for every scalar: the points of order
 * 1, 2, 4 and 8 and their encodings >= p, each also with bit 255 set
 * (which X25519 ignores). */
static const char *const low_order_points[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
};
enum { LOW_ORDER_COUNT = sizeof(low_order_points) / sizeof(low_order_points[0]) };

START_TEST(test_x25519_backend_rejects_every_low_order_point_with_zeroed_output)
{
    static const uint8_t zero[32];
    const struct x25519_backend *b = backends[_i];
    uint8_t s[32], p[32], out[32];

    memset(s, 0x42, sizeof(s));
    for (size_t i = 0; i < LOW_ORDER_COUNT; i++) {
        hex_decode_exact(low_order_points[i], p, 32);
        memset(out, 0xa5, sizeof(out));
        ck_assert_int_eq(x25519_backend_run(b, out, s, p), STATUS_PERMISSION_DENIED);
        ck_assert_str_eq(status_trail_message(), "x25519 result is zero");
        ck_assert_mem_eq(out, zero, 32);
    }
}
END_TEST

START_TEST(test_x25519_backend_fixed_base_matches_ladder_on_nine)
{
    static const uint8_t nine[32] = {9};
    const struct x25519_backend *b = backends[_i];
    uint8_t s[32], fixed[32], ladder[32];

    for (int i = 0; i < 64; i++) {
        memset(s, i * 37 + 1, sizeof(s));
        s[31] = (uint8_t)i;
        x25519_backend_public_key(b, fixed, s);
        ck_assert_int_eq(x25519_backend_run(b, ladder, s, nine), STATUS_OK);
        ck_assert_mem_eq(fixed, ladder, 32);
    }
}
END_TEST

/* splitmix64: a fixed, fast, portable sequence, so a failure names its
 * seed and input and reproduces on any host (qemu-ppc included). */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void fill_random(uint64_t *state, uint8_t out[32])
{
    for (int i = 0; i < 32; i += 8) {
        uint64_t v = next_random(state);
        for (int j = 0; j < 8; j++) {
            out[i + j] = (uint8_t)(v >> (8 * j));
        }
    }
}

/* The point for round i: mostly 32 random bytes (bit 255 random too), every
 * 8th a non-canonical u = p + k for k in 0..18 (the only encodings >= p; no
 * carry out of byte 0, since 0xed + 18 = 0xff), bit 255 random, and every
 * 8th + 1 a low-order point. */
static void pick_point(uint64_t *state, uint64_t i, uint8_t p[32])
{
    fill_random(state, p);
    if (i % 8 == 0) {
        uint8_t k = (uint8_t)(p[0] % 19), top = p[1] & 0x80;
        memset(p, 0xff, 32);
        p[0] = (uint8_t)(0xed + k);
        p[31] = (uint8_t)(0x7f | top);
    } else if (i % 8 == 1) {
        hex_decode_exact(low_order_points[p[0] % LOW_ORDER_COUNT], p, 32);
    }
}

/* Rounds of the differential test: X25519_DIFFERENTIAL_ROUNDS from meson
 * (100,000 natively, fewer under qemu-ppc), 100,000 when run by hand. */
static uint64_t differential_rounds(void)
{
    const char *v = getenv("X25519_DIFFERENTIAL_ROUNDS");
    char *end = NULL;
    unsigned long long n;

    if (v == NULL) {
        return 100000;
    }
    n = strtoull(v, &end, 10);
    ck_assert_msg(*v != '\0' && *end == '\0' && n >= 1000, "bad X25519_DIFFERENTIAL_ROUNDS %s", v);
    return n;
}

/* The two backends agree, status and bytes, on every input. */
START_TEST(test_x25519_backends_agree_on_random_low_order_and_non_canonical_inputs)
{
    uint64_t seed = 0x656e636c61766564u, state = seed;
    uint64_t rejected = 0, non_canonical = 0, rounds = differential_rounds();
    uint8_t s[32], p[32], a[32], b[32];

    for (uint64_t i = 0; i < rounds; i++) {
        fill_random(&state, s);
        pick_point(&state, i, p);
        status_t sa = x25519_backend_run(&x25519_backend_sodium, a, s, p);
        status_t sb = x25519_backend_run(&x25519_backend_hacl, b, s, p);
        ck_assert_msg(sa == sb && memcmp(a, b, 32) == 0,
                      "backends differ at round %llu of seed %llx", (unsigned long long)i,
                      (unsigned long long)seed);
        rejected += sa != STATUS_OK;
        non_canonical += i % 8 == 0;
    }
    /* The mix really covered both kinds of special input. */
    ck_assert_uint_ge(rejected, rounds / 8);
    ck_assert_uint_ge(non_canonical, rounds / 8);
}
END_TEST

START_TEST(test_x25519_runs_the_configured_backend)
{
    uint8_t s[32], p[32], got[32], want[32];

#ifdef ENCLAVED_X25519_HACL
    ck_assert_str_eq(x25519_backend_name(), "hacl");
#else
    ck_assert_str_eq(x25519_backend_name(), "libsodium");
#endif
    hex_decode_exact(rfc7748_5_2[0].scalar, s, 32);
    hex_decode_exact(rfc7748_5_2[0].point, p, 32);
    hex_decode_exact(rfc7748_5_2[0].out, want, 32);
    ck_assert_int_eq(x25519(got, s, p), STATUS_OK);
    ck_assert_mem_eq(got, want, 32);
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

    tcase_add_loop_test(tc, test_x25519_backend_matches_rfc7748_section_5_2, 0, BACKEND_COUNT);
    tcase_add_loop_test(tc, test_x25519_backend_matches_rfc7748_iterated_once, 0, BACKEND_COUNT);
    tcase_add_loop_test(tc, test_x25519_backend_matches_rfc7748_iterated_1000_times, 0,
                        BACKEND_COUNT);
    tcase_add_loop_test(tc, test_x25519_backend_rejects_every_low_order_point_with_zeroed_output,
                        0, BACKEND_COUNT);
    tcase_add_loop_test(tc, test_x25519_backend_fixed_base_matches_ladder_on_nine, 0,
                        BACKEND_COUNT);
    tcase_add_test(tc, test_x25519_runs_the_configured_backend);
    tcase_add_test(tc, test_x25519_matches_rfc7748_section_6_1);
    tcase_add_test(tc, test_x25519_rejects_low_order_point);
    tcase_add_test(tc, test_keystore_dh_agrees_with_raw_x25519);
    suite_add_tcase(s, tc);
    /* Its own case for its own timeout: 100,000 rounds of both backends. */
    tc = tcase_create("differential");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_x25519_backends_agree_on_random_low_order_and_non_canonical_inputs);
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
