/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * End-to-end: graceful shutdown when closing one connection writes to
 * others. Regression for io_poll's shutdown: begin_shutdown closed a
 * connection whose teardown (HandleChannelClose) wrote to a second one, which
 * then flushed, closed and was freed while still on the dirty list; a slow
 * third connection kept the loop alive, and the next flush read the freed
 * connection. Run with both drivers, and under ASan in build-asan, where the
 * use after free aborts the server and its exit status fails the test.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/client.h"
#include "calls.h"
#include "server.h"

/* Every close is broadcast to the channels still open. */
static const char farewell_app[] =
    "open = {}\n"
    "function HandleChannelCreate(cid, t) open[cid] = true return {} end\n"
    "function HandleChannelMessage(cid, msg) return {} end\n"
    "function HandleChannelClose(cid)\n"
    "  open[cid] = nil\n"
    "  local out = {}\n"
    "  for other in pairs(open) do out[#out + 1] = {other, 'closed ' .. cid} end\n"
    "  return out\n"
    "end\n";

START_TEST(test_sigterm_while_closes_write_to_other_connections_exits_cleanly)
{
    struct test_server ts;
    struct client *a, *b, *slow;
    uint32_t pid = 0, a_cid, b_cid;
    uint8_t *data = NULL;
    size_t len = 0;
    char msg[128];
    char *log;

    test_server_start(&ts, NULL);
    a = test_server_connect(&ts);
    b = test_server_connect(&ts);
    slow = test_server_connect(&ts);
    ck_assert_int_eq(client_process_create(a, "farewell", (const uint8_t *)farewell_app,
                                           strlen(farewell_app), 0, &pid, NULL, msg, sizeof(msg)),
                     STATUS_OK);
    a_cid = e2e_open_raw(a, pid);
    b_cid = e2e_open_raw(b, pid);
    (void)e2e_open_raw(slow, pid);
    /* The app broadcasts closes: closing a channel of b reaches a. */
    {
        struct client *probe = test_server_connect(&ts);
        uint32_t probe_cid = e2e_open_raw(probe, pid);
        ck_assert_int_eq(client_send_close(probe, probe_cid), STATUS_OK);
        ck_assert_int_eq(client_channel_recv(a, a_cid, 5000, &data, &len, msg, sizeof(msg)),
                         STATUS_OK);
        free(data);
        ck_assert_int_eq(client_channel_recv(b, b_cid, 5000, &data, &len, msg, sizeof(msg)),
                         STATUS_OK);
        free(data);
        client_free(probe);
    }
    /* The third connection never reads, so it outlives the others' close. */
    ck_assert_uint_gt(test_server_flood(client_fd(slow), 64u << 20), 0);
    /* SIGTERM: a closes first and writes to b and slow; b flushes and closes
     * and writes to slow; slow holds the loop open for the grace period. */
    log = test_server_stop_with_log(&ts, NULL);
    ck_assert_ptr_null(strstr(log, "AddressSanitizer"));
    ck_assert_ptr_nonnull(strstr(log, "shutting down"));
    free(log);
    client_free(a);
    client_free(b);
    client_free(slow);
}
END_TEST

static Suite *shutdown_suite(void)
{
    Suite *s = suite_create("shutdown");
    TCase *tc = tcase_create("e2e");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sigterm_while_closes_write_to_other_connections_exits_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shutdown_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
