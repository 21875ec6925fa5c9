/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * End-to-end: what the server's log tells an operator (issue 12 item 5). A
 * connection's open and close name its id and the client's address; lines
 * carry an RFC 3339 UTC timestamp unless log_timestamps = 0; refusals (too
 * many connections, bad frames, failed handshakes) are warnings; process
 * create and destroy are info; a handshake with the wrong server key says so.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/client.h"
#include "lib/client_noise.h"
#include "server.h"

static const char ECHO_APP[] = "function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n";

/* Polls the server's log (up to 5 s) until it contains want; returns the log. */
static char *wait_log(const struct test_server *ts, const char *want)
{
    for (int i = 0; i < 500; i++) {
        size_t len = 0;
        char *log = test_server_read_log(ts, &len);
        if (strstr(log, want) != NULL) {
            return log;
        }
        free(log);
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    size_t len = 0;
    char *log = test_server_read_log(ts, &len);
    ck_abort_msg("no '%s' in the log:\n%s", want, log);
    return NULL;
}

/* "127.0.0.1:PORT" of the client's end of c. */
static void local_name(struct client *c, char *buf, size_t cap)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);

    ck_assert_int_eq(getsockname(client_fd(c), (struct sockaddr *)&addr, &len), 0);
    snprintf(buf, cap, "127.0.0.1:%u", ntohs(addr.sin_port));
}

static int matches(const char *text, const char *pattern)
{
    regex_t re;
    int r;

    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
    r = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    return r == 0;
}

START_TEST(test_connection_lines_name_the_id_and_peer_address)
{
    struct test_server ts;
    struct client *c;
    char peer[64], want[128];
    char *log;

    test_server_start(&ts, NULL);
    c = test_server_connect(&ts);
    ck_assert_int_eq(client_ping(c), STATUS_OK);
    local_name(c, peer, sizeof(peer));
    snprintf(want, sizeof(want), "enclaved: info: connection 1 opened from %s\n", peer);
    free(wait_log(&ts, want));
    client_free(c);
    snprintf(want, sizeof(want), "enclaved: info: connection 1 from %s closed\n", peer);
    log = wait_log(&ts, want);
    /* Every log line starts with an RFC 3339 UTC time with milliseconds. */
    ck_assert_msg(matches(log, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                               "enclaved: info: connection 1 opened from "),
                  "%s", log);
    ck_assert_msg(!matches(log, "^enclaved: (info|warn|error)"), "a line without a time:\n%s", log);
    free(log);
    test_server_stop(&ts);
}
END_TEST

START_TEST(test_log_timestamps_can_be_switched_off)
{
    static const char *const args[] = {"--log-timestamps=0", NULL};
    struct test_server ts;
    struct client *c;
    char *log;

    test_server_start(&ts, args);
    c = test_server_connect(&ts);
    ck_assert_int_eq(client_ping(c), STATUS_OK);
    log = wait_log(&ts, "opened from 127.0.0.1:");
    ck_assert_msg(matches(log, "^enclaved: info: connection 1 opened from 127\\.0\\.0\\.1:[0-9]+$"),
                  "%s", log);
    ck_assert_msg(!matches(log, "^[0-9]{4}-"), "a timestamp although switched off:\n%s", log);
    free(log);
    client_free(c);
    test_server_stop(&ts);
}
END_TEST

START_TEST(test_refusals_are_warnings_with_the_peer)
{
    static const char *const args[] = {"--max-connections=1", NULL};
    static const uint8_t zero_length[4] = {0, 0, 0, 0};
    struct test_server ts;
    struct client *first, *second;
    char peer[64], want[160];

    test_server_start(&ts, args);
    first = test_server_connect(&ts);
    ck_assert_int_eq(client_ping(first), STATUS_OK);
    second = test_server_connect(&ts);
    local_name(second, peer, sizeof(peer));
    ck_assert(client_wait_closed(second, 5000));
    snprintf(want, sizeof(want),
             "enclaved: warn: refusing a connection from %s: too many connections", peer);
    free(wait_log(&ts, want));
    client_free(second);

    /* A zero-length frame on the first connection: a warning naming it. */
    local_name(first, peer, sizeof(peer));
    ck_assert_int_eq(client_send_raw(first, zero_length, sizeof(zero_length)), STATUS_OK);
    ck_assert(client_wait_closed(first, 5000));
    snprintf(want, sizeof(want), "enclaved: warn: connection 1 from %s: frame length 0, closing",
             peer);
    free(wait_log(&ts, want));
    client_free(first);
    test_server_stop(&ts);
}
END_TEST

START_TEST(test_process_lines_and_a_wrong_key_reason)
{
    struct test_server ts;
    struct client *c;
    Enclaved__ServerFrame *f = NULL;
    uint8_t key[32], hash[32];
    uint32_t pid = 0;
    struct client_target target = {0, hash, NULL};
    struct client_secure *s = NULL;
    char want[128], message[256] = "";
    char *log;

    test_server_start(&ts, NULL);
    c = test_server_connect(&ts);
    ck_assert_int_eq(client_process_create(c, "echo", (const uint8_t *)ECHO_APP,
                                           sizeof(ECHO_APP) - 1, 0, &pid, hash, NULL, 0),
                     STATUS_OK);
    snprintf(want, sizeof(want), "enclaved: info: process %u 'echo' created", pid);
    free(wait_log(&ts, want));

    ck_assert_int_eq(client_get_info(c, &f), STATUS_OK);
    memcpy(key, f->response->info->public_key.data, 32);
    client_frame_free(f);
    key[7] ^= 0x01;
    ck_assert_int_eq(client_nk_open(c, &target, key, hash, 1, &s, message, sizeof(message)),
                     STATUS_PERMISSION_DENIED);
    log = wait_log(&ts, "handshake failed: NK message 1 does not decrypt: the client pinned "
                        "another server key");
    ck_assert_ptr_nonnull(strstr(log, "enclaved: warn: channel "));
    ck_assert_ptr_null(strstr(log, "malformed handshake message"));
    free(log);

    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessDestroy body = ENCLAVED__PROCESS_DESTROY__INIT;
    body.target_case = ENCLAVED__PROCESS_DESTROY__TARGET_PROCESS_ID;
    body.process_id = pid;
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_DESTROY;
    req.process_destroy = &body;
    ck_assert_int_eq(client_call(c, &req, &f), STATUS_OK);
    ck_assert_int_eq(f->response->status, STATUS_OK);
    client_frame_free(f);
    snprintf(want, sizeof(want), "enclaved: info: process %u destroyed", pid);
    free(wait_log(&ts, want));
    client_free(c);
    test_server_stop(&ts);
}
END_TEST

static Suite *oplogs_suite(void)
{
    Suite *s = suite_create("e2e-oplogs");
    TCase *tc = tcase_create("oplogs");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_connection_lines_name_the_id_and_peer_address);
    tcase_add_test(tc, test_log_timestamps_can_be_switched_off);
    tcase_add_test(tc, test_refusals_are_warnings_with_the_peer);
    tcase_add_test(tc, test_process_lines_and_a_wrong_key_reason);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(oplogs_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
