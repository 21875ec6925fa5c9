/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* End-to-end: the client library's NK and KK channels against the real server. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/client.h"
#include "lib/client_noise.h"
#include "crypto/keystore.h"
#include "crypto/rng.h"
#include "server.h"

static struct test_server ts;
static struct client *c;
static uint32_t echo_pid;
static uint8_t echo_hash[32];
static uint8_t server_key[32];

static const char ECHO_APP[] = "function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n";

static void start_with_echo(void)
{
    Enclaved__ServerFrame *f = NULL;

    test_server_start(&ts, NULL);
    c = test_server_connect(&ts);
    ck_assert_int_eq(client_get_info(c, &f), STATUS_OK);
    ck_assert_uint_eq(f->response->info->public_key.len, 32);
    memcpy(server_key, f->response->info->public_key.data, 32);
    client_frame_free(f);
    ck_assert_int_eq(client_process_create(c, "echo", (const uint8_t *)ECHO_APP,
                                           sizeof(ECHO_APP) - 1, 0, &echo_pid, echo_hash, NULL,
                                           0),
                     STATUS_OK);
}

static void stop_with_echo(void)
{
    client_free(c);
    test_server_stop(&ts);
}

/* Sends msg and expects it back decrypted. */
static void expect_echo(struct client_secure *s, const uint8_t *msg, size_t len)
{
    uint8_t *data = NULL;
    size_t got = 0;

    ck_assert_int_eq(client_secure_send(s, msg, len), STATUS_OK);
    ck_assert_int_eq(client_secure_recv(s, 5000, &data, &got, NULL, 0), STATUS_OK);
    ck_assert_uint_eq(got, len);
    ck_assert(memcmp(data, msg, len) == 0);
    free(data);
}

START_TEST(test_nk_channel_echoes_messages_of_every_size)
{
    struct client_target target = {echo_pid, NULL, NULL};
    struct client_secure *s = NULL;
    static const size_t sizes[] = {0, 1, 64, 65519, 65520, 100000, 3 * 65519 + 7};
    uint8_t *big = malloc(3 * 65519 + 7);
    char message[256] = "";
    status_t closed = STATUS_UNKNOWN;

    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < 3 * 65519 + 7; i++) {
        big[i] = (uint8_t)(i * 7 + 3);
    }
    ck_assert_msg(client_nk_open(c, &target, server_key, echo_hash, 1, &s, message,
                                 sizeof(message)) == STATUS_OK,
                  "%s", message);
    ck_assert(memcmp(client_secure_code_hash(s), echo_hash, 32) == 0);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        expect_echo(s, big, sizes[i]);
    }
    ck_assert_int_eq(client_secure_close(s, 5000, &closed), STATUS_OK);
    ck_assert_int_eq(closed, STATUS_OK);
    client_secure_free(s);
    free(big);
}
END_TEST

START_TEST(test_nk_channel_by_code_hash_accepts_one_of_several_hashes)
{
    struct client_target target = {0, echo_hash, NULL};
    struct client_secure *s = NULL;
    uint8_t accepted[3 * 32];
    char message[256] = "";

    memset(accepted, 0xaa, sizeof(accepted));
    memcpy(accepted + 64, echo_hash, 32);
    ck_assert_msg(client_nk_open(c, &target, server_key, accepted, 3, &s, message,
                                 sizeof(message)) == STATUS_OK,
                  "%s", message);
    expect_echo(s, (const uint8_t *)"hi", 2);
    client_secure_free(s);
}
END_TEST

START_TEST(test_nk_wrong_pinned_key_is_permission_denied)
{
    struct client_target target = {0, echo_hash, NULL};
    struct client_secure *s = NULL;
    uint8_t wrong_key[32];
    char message[256] = "";

    memcpy(wrong_key, server_key, 32);
    wrong_key[5] ^= 0x40;
    ck_assert_int_eq(client_nk_open(c, &target, wrong_key, echo_hash, 1, &s, message,
                                    sizeof(message)),
                     STATUS_PERMISSION_DENIED);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(message, "server key does not match the pinned key");
    /* The connection is still good for other work. */
    ck_assert_int_eq(client_ping(c), STATUS_OK);
}
END_TEST

START_TEST(test_nk_unaccepted_code_hash_is_permission_denied)
{
    struct client_target by_hash = {0, echo_hash, NULL};
    struct client_target by_id = {echo_pid, NULL, echo_hash};
    struct client_secure *s = NULL;
    uint8_t other[32];
    char message[256] = "";

    memset(other, 0x55, sizeof(other));
    ck_assert_int_eq(client_nk_open(c, &by_hash, server_key, other, 1, &s, message,
                                    sizeof(message)),
                     STATUS_PERMISSION_DENIED);
    ck_assert_str_eq(message, "code hash mismatch");
    ck_assert_int_eq(client_nk_open(c, &by_id, server_key, other, 1, &s, message,
                                    sizeof(message)),
                     STATUS_PERMISSION_DENIED);
    ck_assert_str_eq(message, "code hash mismatch");
    ck_assert_ptr_null(s);
    ck_assert_int_eq(client_ping(c), STATUS_OK);
}
END_TEST

START_TEST(test_nk_rejects_bad_accepted_counts)
{
    struct client_target target = {echo_pid, NULL, NULL};
    struct client_secure *s = NULL;
    uint8_t many[33 * 32] = {0};

    ck_assert_int_eq(client_nk_open(c, &target, server_key, many, 0, &s, NULL, 0),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(client_nk_open(c, &target, server_key, many, 33, &s, NULL, 0),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_nk_to_missing_process_is_not_found)
{
    struct client_target target = {999999, NULL, NULL};
    struct client_secure *s = NULL;

    ck_assert_int_eq(client_nk_open(c, &target, server_key, echo_hash, 1, &s, NULL, 0),
                     STATUS_NOT_FOUND);
}
END_TEST

/* With --ephemeral-keys nobody else holds the server's key, so a KK peer
 * with any other fleet key must be refused in both roles. */
START_TEST(test_kk_with_a_foreign_fleet_key_is_refused_in_both_roles)
{
    static const Enclaved__ChannelType types[] = {ENCLAVED__CHANNEL_TYPE__SERVER_KK_INITIATOR,
                                                  ENCLAVED__CHANNEL_TYPE__SERVER_KK_RESPONDER};
    struct client_target target = {echo_pid, NULL, NULL};
    struct keystore *ks = NULL;
    uint8_t priv[32], secret[32] = {0};

    ck_assert_int_eq(rng_bytes(NULL, priv, sizeof(priv)), STATUS_OK);
    ck_assert_int_eq(keystore_new(priv, secret, &ks), STATUS_OK);
    for (size_t i = 0; i < 2; i++) {
        struct client_secure *s = NULL;
        char message[256] = "";
        ck_assert_int_eq(client_kk_open(c, &target, types[i], ks, echo_hash, &s, message,
                                        sizeof(message)),
                         STATUS_PERMISSION_DENIED);
        ck_assert_ptr_null(s);
        ck_assert_str_ne(message, "");
    }
    ck_assert_int_eq(client_kk_open(c, &target, ENCLAVED__CHANNEL_TYPE__RAW, ks, echo_hash, NULL,
                                    NULL, 0),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(client_ping(c), STATUS_OK);
    keystore_free(ks);
}
END_TEST

/* {============================================================ KK with a known fleet key */

static char image_dir[128];
static uint8_t fleet_key[32];

static void write_key(const char *dir, const char *name, const uint8_t *key)
{
    char path[256];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, key, 32), 32);
    close(fd);
}

/* A userdata image holding only keys, so the test knows the fleet key. */
static void start_with_fleet_key(void)
{
    char cmd[512], image[192];
    uint8_t sealing[32];
    const char *args[] = {"--userdata", image, NULL};
    Enclaved__ServerFrame *f = NULL;

    snprintf(image_dir, sizeof(image_dir), "/tmp/enclaved-kk-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(image_dir));
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/tree/keys'", image_dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(rng_bytes(NULL, fleet_key, sizeof(fleet_key)), STATUS_OK);
    ck_assert_int_eq(rng_bytes(NULL, sealing, sizeof(sealing)), STATUS_OK);
    snprintf(cmd, sizeof(cmd), "%s/tree/keys", image_dir);
    write_key(cmd, "noise_static.key", fleet_key);
    write_key(cmd, "sealing_secret.key", sealing);
    snprintf(image, sizeof(image), "%s/image.cpio", image_dir);
    snprintf(cmd, sizeof(cmd), "'%s' '%s/tree' '%s' >/dev/null", MKUSERDATA, image_dir, image);
    ck_assert_int_eq(system(cmd), 0);
    test_server_start(&ts, args);
    c = test_server_connect(&ts);
    ck_assert_int_eq(client_get_info(c, &f), STATUS_OK);
    memcpy(server_key, f->response->info->public_key.data, 32);
    client_frame_free(f);
    ck_assert_int_eq(client_process_create(c, "echo", (const uint8_t *)ECHO_APP,
                                           sizeof(ECHO_APP) - 1, 0, &echo_pid, echo_hash, NULL,
                                           0),
                     STATUS_OK);
}

static void stop_with_fleet_key(void)
{
    char cmd[192];

    stop_with_echo();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", image_dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_kk_peer_with_the_fleet_key_echoes_in_both_roles)
{
    static const Enclaved__ChannelType types[] = {ENCLAVED__CHANNEL_TYPE__SERVER_KK_INITIATOR,
                                                  ENCLAVED__CHANNEL_TYPE__SERVER_KK_RESPONDER};
    struct client_target target = {echo_pid, NULL, NULL};
    struct keystore *ks = NULL;
    uint8_t secret[32] = {0};

    ck_assert_int_eq(keystore_new(fleet_key, secret, &ks), STATUS_OK);
    ck_assert(memcmp(keystore_public_key(ks), server_key, 32) == 0);
    for (size_t i = 0; i < 2; i++) {
        struct client_secure *s = NULL;
        char message[256] = "";
        status_t closed = STATUS_UNKNOWN;
        ck_assert_msg(client_kk_open(c, &target, types[i], ks, echo_hash, &s, message,
                                     sizeof(message)) == STATUS_OK,
                      "role %zu: %s", i, message);
        expect_echo(s, (const uint8_t *)"peer", 4);
        expect_echo(s, (const uint8_t *)"", 0);
        ck_assert_int_eq(client_secure_close(s, 5000, &closed), STATUS_OK);
        ck_assert_int_eq(closed, STATUS_OK);
        client_secure_free(s);
    }
    keystore_free(ks);
}
END_TEST

START_TEST(test_kk_peer_with_another_code_hash_is_refused_in_both_roles)
{
    static const Enclaved__ChannelType types[] = {ENCLAVED__CHANNEL_TYPE__SERVER_KK_INITIATOR,
                                                  ENCLAVED__CHANNEL_TYPE__SERVER_KK_RESPONDER};
    struct client_target target = {echo_pid, NULL, NULL};
    struct keystore *ks = NULL;
    uint8_t secret[32] = {0}, other[32];

    memset(other, 0x77, sizeof(other));
    ck_assert_int_eq(keystore_new(fleet_key, secret, &ks), STATUS_OK);
    for (size_t i = 0; i < 2; i++) {
        struct client_secure *s = NULL;
        char message[256] = "";
        ck_assert_int_eq(client_kk_open(c, &target, types[i], ks, other, &s, message,
                                        sizeof(message)),
                         STATUS_PERMISSION_DENIED);
        ck_assert_ptr_null(s);
        if (types[i] == ENCLAVED__CHANNEL_TYPE__SERVER_KK_INITIATOR) {
            /* The server spoke first, so the client is the one to notice. */
            ck_assert_str_eq(message, "code hash mismatch");
        }
    }
    ck_assert_int_eq(client_ping(c), STATUS_OK);
    keystore_free(ks);
}
END_TEST

/* }============================================================ */

static Suite *client_noise_suite(void)
{
    Suite *s = suite_create("e2e-client-noise");
    TCase *tc = tcase_create("nk");

    tcase_add_checked_fixture(tc, start_with_echo, stop_with_echo);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_nk_channel_echoes_messages_of_every_size);
    tcase_add_test(tc, test_nk_channel_by_code_hash_accepts_one_of_several_hashes);
    tcase_add_test(tc, test_nk_wrong_pinned_key_is_permission_denied);
    tcase_add_test(tc, test_nk_unaccepted_code_hash_is_permission_denied);
    tcase_add_test(tc, test_nk_rejects_bad_accepted_counts);
    tcase_add_test(tc, test_nk_to_missing_process_is_not_found);
    tcase_add_test(tc, test_kk_with_a_foreign_fleet_key_is_refused_in_both_roles);
    suite_add_tcase(s, tc);
    tc = tcase_create("kk");
    tcase_add_checked_fixture(tc, start_with_fleet_key, stop_with_fleet_key);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_kk_peer_with_the_fleet_key_echoes_in_both_roles);
    tcase_add_test(tc, test_kk_peer_with_another_code_hash_is_refused_in_both_roles);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_noise_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
