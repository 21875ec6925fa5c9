/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * End-to-end: the poll driver's steady state stays inside a CodeSafe-like
 * syscall allow-list (DESIGN §9). enclaved runs with LD_PRELOAD set to
 * seccomp_preload.so, which installs a seccomp filter right after listen();
 * a syscall off the list makes the server exit with SECCOMP_PRELOAD_EXIT
 * and log the syscall number, so the clean-exit check on SIGTERM fails.
 * The negative control runs the libuv driver under the same filter and
 * expects it to die on epoll, so this suite cannot pass vacuously.
 */
#include <check.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/client.h"
#include "lib/client_noise.h"
#include "server.h"

enum { SECCOMP_PRELOAD_EXIT = 97, CONNECTIONS = 200 };

static const char ECHO_APP[] = "function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n";
static const char BOOM_APP[] = "function HandleChannelMessage(cid, msg) error('boom') end\n";

static struct test_server ts;

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* The syscall the preload's SIGSYS handler logged, by name ("?" if none). */
static char *forbidden_syscall(const char *log)
{
    const char *p = strstr(log, "seccomp_preload: forbidden syscall ");
    char *name;

    if (p == NULL) {
        return strdup("?");
    }
    name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
                                            atoi(p + strlen("seccomp_preload: forbidden syscall ")));
    return name != NULL ? name : strdup("?");
}

/* Starts enclaved under the filter; returns -1 when it is ready (running),
 * else its exit status (as test_server_try_start). */
static int try_start_confined(struct test_server *server, const char *const *args)
{
    static const char *const env[] = {"LD_PRELOAD=" SECCOMP_PRELOAD, NULL};

    return test_server_try_start_env(server, args, env);
}

/* The server a test talks to, for the death reports below. */
static struct test_server *current;

/* Fails naming the forbidden syscall when the server has died, waiting up
 * to wait_ms for it to go (a client sees the close before waitpid does). */
static void assert_alive(struct test_server *server, int wait_ms)
{
    int status;

    for (int waited = 0;; waited += 10) {
        if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
            char *log = test_server_read_log(server, NULL);
            char *name = forbidden_syscall(log);

            server->pid = 0;
            ck_abort_msg("enclaved died (status %d) on syscall %s:\n%s", status, name, log);
        }
        if (waited >= wait_ms) {
            return;
        }
        sleep_ms(10);
    }
}

/* A client call must succeed; when it fails, say why the server went. */
#define EXPECT_OK(expr) expect_ok((expr), #expr)
static void expect_ok(status_t s, const char *what)
{
    if (s != STATUS_OK) {
        assert_alive(current, 1000);
        ck_abort_msg("%s: %s (%s)", what, status_name(s), status_trail_message());
    }
}

static struct client *connect_to(const struct test_server *server)
{
    struct client *c = NULL;

    EXPECT_OK(client_connect("127.0.0.1", server->port, 5000, &c));
    return c;
}

static void start_confined(void)
{
    int rc = try_start_confined(&ts, NULL);
    char *log = test_server_read_log(&ts, NULL);

    ck_assert_msg(rc == -1, "enclaved exited with %d before it was ready:\n%s", rc, log);
    current = &ts;
    ck_assert_msg(strstr(log, "seccomp_preload: filter installed") != NULL,
                  "the seccomp filter is not in place:\n%s", log);
    free(log);
}

/* SIGTERM; the server must exit 0 having logged its orderly stop. */
static void stop_confined(void)
{
    char *log;

    assert_alive(&ts, 0);
    log = test_server_stop_with_log(&ts, NULL);
    ck_assert_msg(strstr(log, "forbidden syscall") == NULL, "%s", log);
    ck_assert_msg(strstr(log, "enclaved: info: stopped") != NULL, "no orderly stop:\n%s", log);
    free(log);
}

static Enclaved__Stats *get_stats(struct client *c, Enclaved__ServerFrame **keep)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__GetStats body = ENCLAVED__GET_STATS__INIT;

    req.body_case = ENCLAVED__REQUEST__BODY_GET_STATS;
    req.get_stats = &body;
    EXPECT_OK(client_call(c, &req, keep));
    ck_assert_int_eq((*keep)->response->status, STATUS_OK);
    return (*keep)->response->stats;
}

static uint32_t create(struct client *c, const char *name, const char *src, uint8_t hash[32])
{
    uint32_t pid = 0;
    char msg[256] = "";
    status_t s = client_process_create(c, name, (const uint8_t *)src, strlen(src), 0, &pid, hash,
                                       msg, sizeof(msg));

    if (s != STATUS_OK) {
        assert_alive(current, 1000);
    }
    ck_assert_msg(s == STATUS_OK, "create %s: %s %s", name, status_name(s), msg);
    return pid;
}

static uint32_t open_raw(struct client *c, uint32_t pid)
{
    uint32_t cid = 0;
    char msg[256] = "";
    status_t s = client_channel_open(c, pid, NULL, ENCLAVED__CHANNEL_TYPE__RAW, &cid, msg,
                                     sizeof(msg));

    if (s != STATUS_OK) {
        assert_alive(current, 1000);
    }
    ck_assert_msg(s == STATUS_OK, "open: %s %s", status_name(s), msg);
    return cid;
}

/* Waits until GetStats reports only the probe connection open. */
static void wait_for_one_connection(struct client *probe)
{
    for (int tries = 0; tries < 500; tries++) {
        Enclaved__ServerFrame *f = NULL;
        int done = get_stats(probe, &f)->connections_open == 1;

        client_frame_free(f);
        if (done) {
            return;
        }
        sleep_ms(10);
    }
    ck_abort_msg("connections did not drain");
}

START_TEST(test_ping_info_and_stats)
{
    struct client *c = connect_to(&ts);
    Enclaved__ServerFrame *f = NULL;
    Enclaved__Stats *st;

    EXPECT_OK(client_ping(c));
    EXPECT_OK(client_get_info(c, &f));
    ck_assert_uint_eq(f->response->info->public_key.len, 32);
    client_frame_free(f);
    st = get_stats(c, &f);
    ck_assert_uint_eq(st->connections_open, 1);
    /* The RSS is read under the filter too (from an fd opened at startup). */
    ck_assert_uint_gt(st->memory_rss, 0);
    client_frame_free(f);
    client_free(c);
}
END_TEST

START_TEST(test_raw_and_nk_channels_echo)
{
    struct client *c = connect_to(&ts);
    Enclaved__ServerFrame *f = NULL;
    uint8_t server_key[32];
    uint8_t hash[32];
    uint8_t *data = NULL;
    size_t len = 0;
    uint32_t pid, cid;
    struct client_target target;
    struct client_secure *s = NULL;
    char message[256] = "";
    status_t closed = STATUS_UNKNOWN;

    EXPECT_OK(client_get_info(c, &f));
    memcpy(server_key, f->response->info->public_key.data, 32);
    client_frame_free(f);
    pid = create(c, "echo", ECHO_APP, hash);

    cid = open_raw(c, pid);
    EXPECT_OK(client_send_data(c, cid, (const uint8_t *)"raw hello", 9));
    EXPECT_OK(client_channel_recv(c, cid, 5000, &data, &len, NULL, 0));
    ck_assert_uint_eq(len, 9);
    ck_assert_mem_eq(data, "raw hello", 9);
    free(data);
    data = NULL;

    target.process_id = pid;
    target.code_hash = NULL;
    target.believed_hash = NULL;
    EXPECT_OK(client_nk_open(c, &target, server_key, hash, 1, &s, message, sizeof(message)));
    EXPECT_OK(client_secure_send(s, (const uint8_t *)"nk hello", 8));
    EXPECT_OK(client_secure_recv(s, 5000, &data, &len, NULL, 0));
    ck_assert_uint_eq(len, 8);
    ck_assert_mem_eq(data, "nk hello", 8);
    free(data);
    EXPECT_OK(client_secure_close(s, 5000, &closed));
    ck_assert_int_eq(closed, STATUS_OK);
    client_secure_free(s);
    client_free(c);
}
END_TEST

START_TEST(test_hook_error_closes_the_channel)
{
    struct client *c = connect_to(&ts);
    Enclaved__ServerFrame *f = NULL;
    uint32_t cid = open_raw(c, create(c, "boom", BOOM_APP, NULL));

    EXPECT_OK(client_send_data(c, cid, (const uint8_t *)"go", 2));
    EXPECT_OK(client_next_event(c, 5000, &f));
    ck_assert_int_eq(f->kind_case, ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED);
    ck_assert_int_eq(f->channel_closed->status, STATUS_INTERNAL);
    ck_assert_ptr_nonnull(strstr(f->channel_closed->reason, "boom"));
    client_frame_free(f);
    EXPECT_OK(client_ping(c));
    client_free(c);
}
END_TEST

START_TEST(test_connection_dropped_mid_frame)
{
    static const uint8_t partial[] = {0, 0, 0, 50, 0x0a, 0x05};
    struct client *c = connect_to(&ts);
    struct client *probe;

    EXPECT_OK(client_send_raw(c, partial, sizeof(partial)));
    client_free(c);
    probe = connect_to(&ts);
    EXPECT_OK(client_ping(probe));
    wait_for_one_connection(probe);
    client_free(probe);
}
END_TEST

START_TEST(test_many_connections_open_and_close)
{
    struct client *clients[CONNECTIONS];
    struct client *probe;

    /* All open at once, so the poll arrays grow past their first size. */
    for (int i = 0; i < CONNECTIONS; i++) {
        clients[i] = connect_to(&ts);
    }
    for (int i = 0; i < CONNECTIONS; i += 20) {
        EXPECT_OK(client_ping(clients[i]));
    }
    for (int i = 0; i < CONNECTIONS; i++) {
        client_free(clients[i]);
    }
    probe = connect_to(&ts);
    wait_for_one_connection(probe);
    client_free(probe);
}
END_TEST

START_TEST(test_reset)
{
    struct client *c = connect_to(&ts);
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__Reset body = ENCLAVED__RESET__INIT;
    Enclaved__ServerFrame *f = NULL;
    uint32_t cid = open_raw(c, create(c, "echo", ECHO_APP, NULL));
    status_t closed = STATUS_OK;

    req.body_case = ENCLAVED__REQUEST__BODY_RESET;
    req.reset = &body;
    EXPECT_OK(client_call(c, &req, &f));
    ck_assert_int_eq(f->response->status, STATUS_OK);
    client_frame_free(f);
    EXPECT_OK(client_channel_wait_closed(c, cid, 5000, &closed, NULL, 0));
    ck_assert_int_ne(closed, STATUS_OK);
    EXPECT_OK(client_ping(c));
    client_free(c);
}
END_TEST

/* SIGTERM while a client holds a connection and an open channel. */
START_TEST(test_sigterm_with_open_connection_exits_cleanly)
{
    struct test_server server;
    struct client *c;
    char *log;
    int rc = try_start_confined(&server, NULL);

    ck_assert_int_eq(rc, -1);
    current = &server;
    c = connect_to(&server);
    open_raw(c, create(c, "echo", ECHO_APP, NULL));
    EXPECT_OK(client_ping(c));
    assert_alive(&server, 0);
    log = test_server_stop_with_log(&server, NULL);
    ck_assert_msg(strstr(log, "enclaved: info: stopped") != NULL, "no orderly stop:\n%s", log);
    free(log);
    client_free(c);
}
END_TEST

/* The negative control: libuv's loop needs epoll, which the filter denies. */
START_TEST(test_filter_kills_the_uv_driver)
{
    /* The later --io wins over the one test_server adds from $ENCLAVED_IO. */
    static const char *const uv[] = {"--io", "uv", NULL};
    struct test_server server;
    int status = 0;
    int rc;
    char *log;
    char *name;

    rc = try_start_confined(&server, uv);
    if (rc == -1) {
        for (int waited = 0; waited < 10000; waited += 10) {
            if (waitpid(server.pid, &status, WNOHANG) == server.pid) {
                break;
            }
            sleep_ms(10);
        }
        ck_assert_msg(WIFEXITED(status), "the uv driver survived the filter");
        rc = WEXITSTATUS(status);
        server.pid = 0;
    }
    log = test_server_read_log(&server, NULL);
    ck_assert_msg(rc == SECCOMP_PRELOAD_EXIT, "exit %d, not the filter's:\n%s", rc, log);
    ck_assert_msg(strstr(log, "seccomp_preload: filter installed") != NULL, "%s", log);
    name = forbidden_syscall(log);
    ck_assert_msg(strncmp(name, "epoll", 5) == 0, "died on %s, not epoll:\n%s", name, log);
    free(name);
    free(log);
    free(test_server_stop_with_log(&server, NULL));
}
END_TEST

static Suite *seccomp_suite(void)
{
    Suite *s = suite_create("e2e-seccomp");
    TCase *tc = tcase_create("poll");

    tcase_add_checked_fixture(tc, start_confined, stop_confined);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ping_info_and_stats);
    tcase_add_test(tc, test_raw_and_nk_channels_echo);
    tcase_add_test(tc, test_hook_error_closes_the_channel);
    tcase_add_test(tc, test_connection_dropped_mid_frame);
    tcase_add_test(tc, test_many_connections_open_and_close);
    tcase_add_test(tc, test_reset);
    suite_add_tcase(s, tc);
    tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sigterm_with_open_connection_exits_cleanly);
    tcase_add_test(tc, test_filter_kills_the_uv_driver);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(seccomp_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
