/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* End-to-end: framing, dispatch and hostile input against the real server. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/client.h"
#include "wire/frame.h"
#include "server.h"

static struct test_server ts;

static void start_default(void)
{
    test_server_start(&ts, NULL);
}

static void stop_default(void)
{
    test_server_stop(&ts);
}

/* Reads one frame and asserts it is a Response with id and status. */
static void expect_response(struct client *c, uint64_t id, status_t status)
{
    Enclaved__ServerFrame *f = NULL;

    ck_assert_int_eq(client_read_frame(c, 5000, &f), STATUS_OK);
    ck_assert_int_eq(f->kind_case, ENCLAVED__SERVER_FRAME__KIND_RESPONSE);
    ck_assert_uint_eq(f->response->id, id);
    ck_assert_int_eq(f->response->status, status);
    ck_assert_str_ne(f->response->message, "");
    client_frame_free(f);
}

static Enclaved__Stats *get_stats(struct client *c, Enclaved__ServerFrame **keep)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__GetStats body = ENCLAVED__GET_STATS__INIT;

    req.body_case = ENCLAVED__REQUEST__BODY_GET_STATS;
    req.get_stats = &body;
    ck_assert_int_eq(client_call(c, &req, keep), STATUS_OK);
    ck_assert_int_eq((*keep)->response->status, STATUS_OK);
    ck_assert_int_eq((*keep)->response->result_case, ENCLAVED__RESPONSE__RESULT_STATS);
    return (*keep)->response->stats;
}

START_TEST(test_ping_and_get_info_answer)
{
    struct client *c = test_server_connect(&ts);
    Enclaved__ServerFrame *f = NULL;
    Enclaved__Info *info;

    ck_assert_int_eq(client_ping(c), STATUS_OK);
    ck_assert_int_eq(client_get_info(c, &f), STATUS_OK);
    ck_assert_int_eq(f->response->result_case, ENCLAVED__RESPONSE__RESULT_INFO);
    info = f->response->info;
    ck_assert_uint_eq(info->public_key.len, 32);
    /* scripts/cross-ppc runs this suite against the SEE build under qemu. */
    ck_assert_str_eq(info->target, getenv("ENCLAVED_TEST_TARGET") != NULL
                                       ? getenv("ENCLAVED_TEST_TARGET")
                                       : "linux");
    ck_assert_uint_eq(info->protocol_version, 1);
    ck_assert_ptr_nonnull(info->limits);
    ck_assert_uint_eq(info->limits->max_frame, 1u << 20);
    ck_assert_uint_eq(info->limits->handshake_timeout_ms, 10000);
    client_frame_free(f);
    client_free(c);
}
END_TEST

START_TEST(test_get_stats_counts_frames_and_errors)
{
    struct client *c = test_server_connect(&ts);
    Enclaved__ServerFrame *f = NULL;
    Enclaved__Stats *st;
    static const uint8_t garbage[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};

    ck_assert_int_eq(client_ping(c), STATUS_OK);
    ck_assert_int_eq(client_send_raw(c, garbage, sizeof(garbage)), STATUS_OK);
    expect_response(c, 0, STATUS_INVALID_ARGUMENT);
    st = get_stats(c, &f);
    ck_assert_uint_eq(st->connections_open, 1);
    ck_assert_uint_ge(st->connections_total, 1);
    ck_assert_uint_eq(st->frames_in, 3);
    ck_assert_uint_eq(st->frames_out, 2);
    ck_assert_uint_gt(st->bytes_in, 0);
    ck_assert_uint_gt(st->memory_rss, 0);
    ck_assert_uint_eq(st->n_errors, 1);
    ck_assert_int_eq(st->errors[0]->status, STATUS_INVALID_ARGUMENT);
    ck_assert_uint_eq(st->errors[0]->count, 1);
    client_frame_free(f);
    client_free(c);
}
END_TEST

START_TEST(test_zero_length_frame_gets_one_error_then_close)
{
    struct client *c = test_server_connect(&ts);
    static const uint8_t zero[] = {0, 0, 0, 0};

    ck_assert_int_eq(client_send_raw(c, zero, sizeof(zero)), STATUS_OK);
    expect_response(c, 0, STATUS_INVALID_ARGUMENT);
    ck_assert(client_wait_closed(c, 5000));
    client_free(c);
}
END_TEST

START_TEST(test_oversized_frame_gets_one_error_then_close)
{
    struct client *c = test_server_connect(&ts);
    uint8_t header[4];

    frame_write_length(header, (1u << 20) + 1);
    ck_assert_int_eq(client_send_raw(c, header, sizeof(header)), STATUS_OK);
    expect_response(c, 0, STATUS_RESOURCE_EXHAUSTED);
    ck_assert(client_wait_closed(c, 5000));
    client_free(c);
}
END_TEST

START_TEST(test_malformed_client_frame_keeps_connection_usable)
{
    struct client *c = test_server_connect(&ts);
    /* Field 1 (request), length-delimited, claiming 100 bytes it lacks. */
    static const uint8_t bad[] = {0, 0, 0, 3, 0x0a, 0x64, 0x08};
    /* A ClientFrame with only an unknown field (#15, varint 1): no kind. */
    static const uint8_t no_kind[] = {0, 0, 0, 2, 0x78, 0x01};

    ck_assert_int_eq(client_send_raw(c, bad, sizeof(bad)), STATUS_OK);
    expect_response(c, 0, STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(client_send_raw(c, no_kind, sizeof(no_kind)), STATUS_OK);
    expect_response(c, 0, STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(client_ping(c), STATUS_OK);
    client_free(c);
}
END_TEST

START_TEST(test_unknown_request_kind_is_unimplemented)
{
    struct client *c = test_server_connect(&ts);
    /* ClientFrame{request{id=77, field 99 (varint) = 1}} */
    static const uint8_t unknown[] = {0, 0, 0, 7, 0x0a, 0x05, 0x08, 0x4d, 0x98, 0x06, 0x01};
    /* ClientFrame{request{id=78}}: a request with no body. */
    static const uint8_t empty[] = {0, 0, 0, 4, 0x0a, 0x02, 0x08, 0x4e};

    ck_assert_int_eq(client_send_raw(c, unknown, sizeof(unknown)), STATUS_OK);
    expect_response(c, 77, STATUS_UNIMPLEMENTED);
    ck_assert_int_eq(client_send_raw(c, empty, sizeof(empty)), STATUS_OK);
    expect_response(c, 78, STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(client_ping(c), STATUS_OK);
    client_free(c);
}
END_TEST

/* PeerConnect's own checks; links themselves are the fleet suite's. */
static const struct {
    const char *address;
    size_t hash_len;
    status_t want;
} peer_connect_cases[] = {
    {NULL, 32, STATUS_INVALID_ARGUMENT},
    {"", 32, STATUS_INVALID_ARGUMENT},
    {"peer.example:7480", 32, STATUS_INVALID_ARGUMENT},
    {"127.0.0.1", 32, STATUS_INVALID_ARGUMENT},
    {"127.0.0.1:0", 32, STATUS_INVALID_ARGUMENT},
    {"127.0.0.1:70000", 32, STATUS_INVALID_ARGUMENT},
    {"127.0.0.1:7480", 31, STATUS_INVALID_ARGUMENT},
    {"127.0.0.1:7480", 0, STATUS_INVALID_ARGUMENT},
    /* Well formed, but no process here runs that code. */
    {"127.0.0.1:7480", 32, STATUS_NOT_FOUND},
};

START_TEST(test_peer_connect_checks_address_and_hash)
{
    struct client *c = test_server_connect(&ts);
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__PeerConnect body = ENCLAVED__PEER_CONNECT__INIT;
    Enclaved__ServerFrame *f = NULL;
    uint8_t hash[32];

    memset(hash, 0x5a, sizeof(hash));
    body.address = (char *)peer_connect_cases[_i].address;
    body.code_hash.data = hash;
    body.code_hash.len = peer_connect_cases[_i].hash_len;
    req.body_case = ENCLAVED__REQUEST__BODY_PEER_CONNECT;
    req.peer_connect = &body;
    ck_assert_int_eq(client_call(c, &req, &f), STATUS_OK);
    ck_assert_int_eq(f->response->status, peer_connect_cases[_i].want);
    ck_assert_int_eq(f->response->result_case, ENCLAVED__RESPONSE__RESULT__NOT_SET);
    client_frame_free(f);
    ck_assert_int_eq(client_ping(c), STATUS_OK);
    client_free(c);
}
END_TEST

START_TEST(test_pipelined_requests_answer_in_order)
{
    struct client *c = test_server_connect(&ts);
    uint8_t batch[200 * 11];
    size_t len = 0;

    /* 200 Pings with ids 1000..1199 in one write. */
    for (int i = 0; i < 200; i++) {
        uint64_t id = 1000 + (uint64_t)i;
        uint8_t *p = batch + len;
        p[0] = 0;
        p[1] = 0;
        p[2] = 0;
        p[3] = 7;
        /* ClientFrame{request(1){id(1)=id varint 2 bytes, ping(2){}}} */
        p[4] = 0x0a;
        p[5] = 0x05;
        p[6] = 0x08;
        p[7] = (uint8_t)(0x80 | (id & 0x7f));
        p[8] = (uint8_t)(id >> 7);
        p[9] = 0x12;
        p[10] = 0x00;
        len += 11;
        ck_assert_uint_le(len, sizeof(batch));
    }
    ck_assert_int_eq(client_send_raw(c, batch, len), STATUS_OK);
    for (int i = 0; i < 200; i++) {
        Enclaved__ServerFrame *f = NULL;
        ck_assert_int_eq(client_read_frame(c, 5000, &f), STATUS_OK);
        ck_assert_uint_eq(f->response->id, 1000 + (uint64_t)i);
        ck_assert_int_eq(f->response->status, STATUS_OK);
        client_frame_free(f);
    }
    client_free(c);
}
END_TEST

/* More requests in flight than the server answers before it pauses input:
 * every one is still answered, in order, once the client reads. */
START_TEST(test_requests_held_back_by_backpressure_are_all_answered)
{
    enum { PINGS = 100000 };
    static const uint8_t ping[] = {0, 0, 0, 6, 0x0a, 0x04, 0x08, 0x01, 0x12, 0x00};
    struct client *c = test_server_connect(&ts);
    uint8_t *batch = malloc(PINGS * sizeof(ping));

    ck_assert_ptr_nonnull(batch);
    for (size_t i = 0; i < PINGS; i++) {
        memcpy(batch + i * sizeof(ping), ping, sizeof(ping));
    }
    /* Sent in slices while reading, so neither side's kernel buffer decides. */
    for (size_t sent = 0, got = 0; got < PINGS;) {
        if (sent < PINGS) {
            size_t n = PINGS - sent < 20000 ? PINGS - sent : 20000;
            ck_assert_int_eq(client_send_raw(c, batch + sent * sizeof(ping), n * sizeof(ping)),
                             STATUS_OK);
            sent += n;
        }
        while (got < sent) {
            Enclaved__ServerFrame *f = NULL;
            ck_assert_msg(client_read_frame(c, 5000, &f) == STATUS_OK, "stalled after %zu of %zu",
                          got, sent);
            ck_assert_uint_eq(f->response->id, 1);
            client_frame_free(f);
            got++;
        }
    }
    free(batch);
    client_free(c);
}
END_TEST

/* Requests whose answers are large: one read holds far more answers than the
 * output bound, so the server parks the rest of the read. Whether or not the
 * kernel takes the output at once, every request is answered. */
START_TEST(test_parked_input_is_answered_without_new_input)
{
    enum { REQUESTS = 1000 };
    /* ClientFrame{request{id=2, process_list{}}} */
    static const uint8_t list[] = {0, 0, 0, 6, 0x0a, 0x04, 0x08, 0x02, 0x32, 0x00};
    static const char app[] = "x = 1";
    struct client *c = test_server_connect(&ts);
    uint8_t *batch = malloc(REQUESTS * sizeof(list));

    ck_assert_ptr_nonnull(batch);
    for (int i = 0; i < 60; i++) {
        ck_assert_int_eq(client_process_create(c, "padding-name-to-make-the-list-longer",
                                               (const uint8_t *)app, strlen(app), 0, NULL, NULL,
                                               NULL, 0),
                         STATUS_OK);
    }
    for (size_t i = 0; i < REQUESTS; i++) {
        memcpy(batch + i * sizeof(list), list, sizeof(list));
    }
    ck_assert_int_eq(client_send_raw(c, batch, REQUESTS * sizeof(list)), STATUS_OK);
    for (size_t got = 0; got < REQUESTS; got++) {
        Enclaved__ServerFrame *f = NULL;
        ck_assert_msg(client_read_frame(c, 5000, &f) == STATUS_OK, "stalled after %zu", got);
        ck_assert_uint_eq(f->response->id, 2);
        ck_assert_uint_eq(f->response->process_list->n_processes, 60);
        client_frame_free(f);
    }
    free(batch);
    client_free(c);
}
END_TEST

START_TEST(test_disconnect_mid_frame_leaves_server_serving)
{
    static const uint8_t partial[] = {0, 0, 0, 50, 0x0a, 0x05};
    struct client *probe;
    Enclaved__ServerFrame *f = NULL;

    for (int i = 0; i < 20; i++) {
        struct client *c = test_server_connect(&ts);
        ck_assert_int_eq(client_send_raw(c, partial, i % 2 ? sizeof(partial) : 2), STATUS_OK);
        client_free(c);
    }
    probe = test_server_connect(&ts);
    ck_assert_int_eq(client_ping(probe), STATUS_OK);
    /* The server notices the closes asynchronously; poll until they are gone. */
    for (int tries = 0; tries < 200; tries++) {
        Enclaved__Stats *st = get_stats(probe, &f);
        int done = st->connections_open == 1;
        client_frame_free(f);
        if (done) {
            break;
        }
        usleep(10000);
        ck_assert_int_lt(tries, 199);
    }
    client_free(probe);
}
END_TEST

START_TEST(test_client_that_never_reads_is_bounded_and_others_are_served)
{
    struct client *reader = test_server_connect(&ts);
    Enclaved__ServerFrame *f = NULL;
    uint64_t rss_before, rss_after;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    size_t sent;

    rss_before = get_stats(reader, &f)->memory_rss;
    client_frame_free(f);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(ts.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    sent = test_server_flood(fd, 64u << 20);
    /* The server stopped reading it: the kernel buffers filled long before 64 MiB. */
    ck_assert_uint_lt(sent, 64u << 20);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(client_ping(reader), STATUS_OK);
    }
    rss_after = get_stats(reader, &f)->memory_rss;
    client_frame_free(f);
    ck_assert_msg(rss_after < rss_before + (16u << 20), "rss grew from %llu to %llu",
                  (unsigned long long)rss_before, (unsigned long long)rss_after);
    close(fd);
    client_free(reader);
}
END_TEST

/* SIGTERM while a client holds unread output: the server flushes what it
 * can for the grace period, closes, and still exits 0 (checked by stop). */
START_TEST(test_shutdown_with_a_stuck_client_exits_cleanly)
{
    struct test_server stuck;
    struct sockaddr_in addr = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    uint64_t start;
    struct timespec t0, t1;

    test_server_start(&stuck, NULL);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(stuck.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    test_server_flood(fd, 8u << 20);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    test_server_stop(&stuck);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    start = (uint64_t)(t1.tv_sec - t0.tv_sec);
    ck_assert_uint_le(start, 5);
    close(fd);
}
END_TEST

START_TEST(test_thousand_abrupt_disconnects)
{
    struct client *probe;
    Enclaved__ServerFrame *f = NULL;
    struct sockaddr_in addr = {0};
    struct linger lg = {1, 0};

    addr.sin_family = AF_INET;
    addr.sin_port = htons(ts.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 1000; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
        if (i % 3 == 0) {
            static const uint8_t half[] = {0, 0, 0, 9, 0x0a};
            send(fd, half, sizeof(half), MSG_NOSIGNAL);
        }
        /* SO_LINGER 0: close sends RST, the rudest way to leave. */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
    }
    probe = test_server_connect(&ts);
    ck_assert_int_eq(client_ping(probe), STATUS_OK);
    for (int tries = 0; tries < 500; tries++) {
        Enclaved__Stats *st = get_stats(probe, &f);
        int done = st->connections_open == 1;
        ck_assert_uint_ge(st->connections_total, 1001);
        client_frame_free(f);
        if (done) {
            break;
        }
        usleep(10000);
        ck_assert_int_lt(tries, 499);
    }
    client_free(probe);
}
END_TEST

START_TEST(test_max_connections_refuses_extra_clients)
{
    static const char *const args[] = {"--max-connections", "2", NULL};
    struct test_server small;
    struct client *a, *b, *extra;

    test_server_start(&small, args);
    a = test_server_connect(&small);
    b = test_server_connect(&small);
    ck_assert_int_eq(client_ping(a), STATUS_OK);
    ck_assert_int_eq(client_ping(b), STATUS_OK);
    extra = test_server_connect(&small);
    /* One clear answer, then the close. */
    {
        Enclaved__ServerFrame *f = NULL;
        ck_assert_int_eq(client_read_frame(extra, 5000, &f), STATUS_OK);
        ck_assert_int_eq(f->kind_case, ENCLAVED__SERVER_FRAME__KIND_RESPONSE);
        ck_assert_uint_eq(f->response->id, 0);
        ck_assert_int_eq(f->response->status, STATUS_RESOURCE_EXHAUSTED);
        ck_assert_str_eq(f->response->message, "too many connections");
        client_frame_free(f);
    }
    ck_assert(client_wait_closed(extra, 5000));
    client_free(extra);
    ck_assert_int_eq(client_ping(a), STATUS_OK);
    client_free(a);
    client_free(b);
    test_server_stop(&small);
}
END_TEST

/* Out of file descriptors: the server neither spins nor stops serving the
 * connections it has, and accepts again once descriptors free up. */
START_TEST(test_running_out_of_descriptors_is_survivable)
{
    struct test_server small;
    struct client *held[8];
    struct client *extra[40];
    char cmd[128];
    double cpu_before, cpu_after;
    FILE *stat;
    char path[64];

    test_server_start(&small, NULL);
    snprintf(cmd, sizeof(cmd), "prlimit --pid %d --nofile=24:", (int)small.pid);
    ck_assert_int_eq(system(cmd), 0);
    for (int i = 0; i < 8; i++) {
        held[i] = test_server_connect(&small);
        ck_assert_int_eq(client_ping(held[i]), STATUS_OK);
    }
    /* More than the limit: the kernel queues them; the server cannot accept. */
    for (int i = 0; i < 40; i++) {
        ck_assert_int_eq(client_connect("127.0.0.1", small.port, 2000, &extra[i]), STATUS_OK);
    }
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)small.pid);
    for (int pass = 0; pass < 2; pass++) {
        unsigned long ut = 0, st = 0;
        stat = fopen(path, "r");
        ck_assert_ptr_nonnull(stat);
        ck_assert_int_eq(fscanf(stat, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                                &ut, &st), 2);
        fclose(stat);
        if (pass == 0) {
            cpu_before = (double)(ut + st);
            usleep(1000000);
        } else {
            cpu_after = (double)(ut + st);
        }
    }
    /* Under 30% of a core while it cannot accept (ticks are 10 ms). */
    ck_assert_msg(cpu_after - cpu_before < 30, "server spun: %.0f ticks in 1 s",
                  cpu_after - cpu_before);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(client_ping(held[i]), STATUS_OK);
        client_free(held[i]);
    }
    for (int i = 0; i < 40; i++) {
        client_free(extra[i]);
    }
    snprintf(cmd, sizeof(cmd), "prlimit --pid %d --nofile=1024:", (int)small.pid);
    ck_assert_int_eq(system(cmd), 0);
    held[0] = test_server_connect(&small);
    client_set_timeout(held[0], 5000);
    ck_assert_int_eq(client_ping(held[0]), STATUS_OK);
    client_free(held[0]);
    test_server_stop(&small);
}
END_TEST

START_TEST(test_bad_settings_fail_startup_with_reason)
{
    static const char *const args[] = {"--max-frame", "12x", NULL};
    struct test_server bad;
    int rc = test_server_try_start(&bad, args);
    char *log = test_server_read_log(&bad, NULL);

    ck_assert_int_eq(rc, 2);
    ck_assert_ptr_nonnull(strstr(log, "max_frame"));
    free(log);
    test_server_stop(&bad);
}
END_TEST

static Suite *protocol_suite(void)
{
    Suite *s = suite_create("e2e-protocol");
    TCase *tc = tcase_create("protocol");

    tcase_add_checked_fixture(tc, start_default, stop_default);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ping_and_get_info_answer);
    tcase_add_test(tc, test_get_stats_counts_frames_and_errors);
    tcase_add_test(tc, test_zero_length_frame_gets_one_error_then_close);
    tcase_add_test(tc, test_oversized_frame_gets_one_error_then_close);
    tcase_add_test(tc, test_malformed_client_frame_keeps_connection_usable);
    tcase_add_test(tc, test_unknown_request_kind_is_unimplemented);
    tcase_add_loop_test(tc, test_peer_connect_checks_address_and_hash, 0,
                        (int)(sizeof(peer_connect_cases) / sizeof(peer_connect_cases[0])));
    tcase_add_test(tc, test_pipelined_requests_answer_in_order);
    tcase_add_test(tc, test_requests_held_back_by_backpressure_are_all_answered);
    tcase_add_test(tc, test_parked_input_is_answered_without_new_input);
    tcase_add_test(tc, test_disconnect_mid_frame_leaves_server_serving);
    tcase_add_test(tc, test_client_that_never_reads_is_bounded_and_others_are_served);
    tcase_add_test(tc, test_thousand_abrupt_disconnects);
    suite_add_tcase(s, tc);
    tc = tcase_create("startup");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_max_connections_refuses_extra_clients);
    tcase_add_test(tc, test_shutdown_with_a_stuck_client_exits_cleanly);
    tcase_add_test(tc, test_running_out_of_descriptors_is_survivable);
    tcase_add_test(tc, test_bad_settings_fail_startup_with_reason);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(protocol_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
