/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Dispatch sans-I/O: every request kind gets exactly one Response with its
 * id, malformed frames get id 0, and unknown kinds UNIMPLEMENTED. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "corehost.h"

static void expect_only_response(struct session *s, uint64_t id, status_t status,
                                 Enclaved__Response__ResultCase result)
{
    Enclaved__ServerFrame *f = corehost_expect_response(s, id, status);

    ck_assert_int_eq(f->response->result_case, result);
    enclaved__server_frame__free_unpacked(f, NULL);
    ck_assert_ptr_null(corehost_next(s));
}

START_TEST(test_dispatch_answers_each_request_kind_once)
{
    static const char app[] = "x = 1";
    struct corehost h;
    struct session *s;
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__Ping ping = ENCLAVED__PING__INIT;
    Enclaved__GetInfo info = ENCLAVED__GET_INFO__INIT;
    Enclaved__GetStats stats = ENCLAVED__GET_STATS__INIT;
    Enclaved__ProcessCreate create = ENCLAVED__PROCESS_CREATE__INIT;
    Enclaved__ProcessList list = ENCLAVED__PROCESS_LIST__INIT;
    Enclaved__ProcessDestroy destroy = ENCLAVED__PROCESS_DESTROY__INIT;
    Enclaved__Reset reset = ENCLAVED__RESET__INIT;
    Enclaved__PeerConnect peer = ENCLAVED__PEER_CONNECT__INIT;

    corehost_init(&h, NULL);
    s = corehost_session(&h);
    req.id = 10;
    req.body_case = ENCLAVED__REQUEST__BODY_PING;
    req.ping = &ping;
    corehost_request(s, &req);
    expect_only_response(s, 10, STATUS_OK, ENCLAVED__RESPONSE__RESULT__NOT_SET);

    req.id = 11;
    req.body_case = ENCLAVED__REQUEST__BODY_GET_INFO;
    req.get_info = &info;
    corehost_request(s, &req);
    expect_only_response(s, 11, STATUS_OK, ENCLAVED__RESPONSE__RESULT_INFO);

    req.id = 12;
    req.body_case = ENCLAVED__REQUEST__BODY_GET_STATS;
    req.get_stats = &stats;
    corehost_request(s, &req);
    expect_only_response(s, 12, STATUS_OK, ENCLAVED__RESPONSE__RESULT_STATS);

    req.id = 13;
    create.lua_source.data = (uint8_t *)app;
    create.lua_source.len = strlen(app);
    create.name = (char *)"x";
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_CREATE;
    req.process_create = &create;
    corehost_request(s, &req);
    expect_only_response(s, 13, STATUS_OK, ENCLAVED__RESPONSE__RESULT_PROCESS_CREATED);

    req.id = 14;
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_LIST;
    req.process_list = &list;
    corehost_request(s, &req);
    expect_only_response(s, 14, STATUS_OK, ENCLAVED__RESPONSE__RESULT_PROCESS_LIST);

    req.id = 15;
    destroy.target_case = ENCLAVED__PROCESS_DESTROY__TARGET_PROCESS_ID;
    destroy.process_id = 1;
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_DESTROY;
    req.process_destroy = &destroy;
    corehost_request(s, &req);
    expect_only_response(s, 15, STATUS_OK, ENCLAVED__RESPONSE__RESULT_PROCESS_DESTROYED);

    req.id = 16;
    req.body_case = ENCLAVED__REQUEST__BODY_RESET;
    req.reset = &reset;
    corehost_request(s, &req);
    expect_only_response(s, 16, STATUS_OK, ENCLAVED__RESPONSE__RESULT__NOT_SET);

    req.id = 17;
    req.body_case = ENCLAVED__REQUEST__BODY_PEER_CONNECT;
    req.peer_connect = &peer;
    corehost_request(s, &req);
    /* No address and no hash. */
    expect_only_response(s, 17, STATUS_INVALID_ARGUMENT, ENCLAVED__RESPONSE__RESULT__NOT_SET);

    ck_assert_uint_eq(h.core->stats.errors[STATUS_INVALID_ARGUMENT], 1);
    corehost_clear(&h);
}
END_TEST

static const struct {
    const char *name;
    uint8_t bytes[16];
    size_t len;
    uint64_t id;
    status_t status;
} bad_frames[] = {
    {"truncated submessage", {0, 0, 0, 3, 0x0a, 0x64, 0x08}, 7, 0, STATUS_INVALID_ARGUMENT},
    {"only an unknown field", {0, 0, 0, 2, 0x78, 0x01}, 6, 0, STATUS_INVALID_ARGUMENT},
    {"bad wire type", {0, 0, 0, 1, 0x0f}, 5, 0, STATUS_INVALID_ARGUMENT},
    {"request with unknown kind", {0, 0, 0, 7, 0x0a, 0x05, 0x08, 0x4d, 0x98, 0x06, 0x01}, 11, 77,
     STATUS_UNIMPLEMENTED},
    {"request with no body", {0, 0, 0, 4, 0x0a, 0x02, 0x08, 0x4e}, 8, 78, STATUS_INVALID_ARGUMENT},
};

START_TEST(test_dispatch_rejects_bad_frames_and_stays_open)
{
    static const uint8_t ping[] = {0, 0, 0, 6, 0x0a, 0x04, 0x08, 0x05, 0x12, 0x00};
    struct corehost h;
    struct session *s;
    Enclaved__ServerFrame *f;

    corehost_init(&h, NULL);
    s = corehost_session(&h);
    session_feed(s, bad_frames[_i].bytes, bad_frames[_i].len);
    f = corehost_expect_response(s, bad_frames[_i].id, bad_frames[_i].status);
    ck_assert_msg(f->response->message[0] != '\0', "%s: no message", bad_frames[_i].name);
    enclaved__server_frame__free_unpacked(f, NULL);
    ck_assert(!session_should_close(s));
    session_feed(s, ping, sizeof(ping));
    f = corehost_expect_response(s, 5, STATUS_OK);
    enclaved__server_frame__free_unpacked(f, NULL);
    corehost_clear(&h);
}
END_TEST

/* A ChannelData or ChannelClose for a channel nobody owns gets no answer. */
START_TEST(test_dispatch_drops_frames_for_unknown_channels)
{
    struct corehost h;
    struct session *s;
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__ChannelData d = ENCLAVED__CHANNEL_DATA__INIT;
    Enclaved__ChannelClose c = ENCLAVED__CHANNEL_CLOSE__INIT;

    corehost_init(&h, NULL);
    s = corehost_session(&h);
    d.channel_id = 42;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_DATA;
    f.channel_data = &d;
    corehost_send(s, &f);
    c.channel_id = 42;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_CLOSE;
    f.channel_close = &c;
    corehost_send(s, &f);
    ck_assert_ptr_null(corehost_next(s));
    ck_assert(!session_should_close(s));
    corehost_clear(&h);
}
END_TEST

static Suite *dispatch_suite(void)
{
    Suite *s = suite_create("dispatch");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_dispatch_answers_each_request_kind_once);
    tcase_add_loop_test(tc, test_dispatch_rejects_bad_frames_and_stays_open, 0,
                        sizeof(bad_frames) / sizeof(bad_frames[0]));
    tcase_add_test(tc, test_dispatch_drops_frames_for_unknown_channels);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dispatch_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
