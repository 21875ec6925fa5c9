/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * What both drivers share (io/io_common.h), without sockets: the dirty list
 * that one connection's input or teardown puts others on, and the rule that
 * a closed connection is off it, so a driver that frees closed connections
 * after a flush can never reach one from the list (the io_poll shutdown
 * use-after-free of issue 9).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "corehost.h"
#include "io/io_common.h"

/* Broadcasts every message and every close to the other open channels. */
static const char app[] =
    "open = {}\n"
    "local function others(cid, text)\n"
    "  local out = {}\n"
    "  for o in pairs(open) do if o ~= cid then out[#out + 1] = {o, text} end end\n"
    "  return out\n"
    "end\n"
    "function HandleChannelCreate(cid, t) open[cid] = true return {} end\n"
    "function HandleChannelMessage(cid, msg) return others(cid, msg) end\n"
    "function HandleChannelClose(cid) open[cid] = nil return others(cid, 'bye') end\n";

enum { CONNS = 3, FLUSHES = 16 };

static struct io_conn *flushed[FLUSHES];
static size_t flush_count;

static void record_flush(struct io_conn *c)
{
    ck_assert_uint_lt(flush_count, FLUSHES);
    flushed[flush_count++] = c;
}

/* Drops whatever output s has. */
static void drain(struct session *s)
{
    const uint8_t *data;
    size_t len;

    session_output(s, &data, &len);
    session_consume_output(s, len);
}

static uint32_t open_raw(struct session *s, uint32_t pid)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ChannelOpen body = ENCLAVED__CHANNEL_OPEN__INIT;
    Enclaved__ServerFrame *f;
    uint32_t cid;

    body.target_case = ENCLAVED__CHANNEL_OPEN__TARGET_PROCESS_ID;
    body.process_id = pid;
    req.id = 1;
    req.body_case = ENCLAVED__REQUEST__BODY_CHANNEL_OPEN;
    req.channel_open = &body;
    corehost_request(s, &req);
    f = corehost_expect_response(s, 1, STATUS_OK);
    cid = f->response->channel_opened->channel_id;
    enclaved__server_frame__free_unpacked(f, NULL);
    return cid;
}

static void send_data(struct session *s, uint32_t cid, const char *text)
{
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__ChannelData d = ENCLAVED__CHANNEL_DATA__INIT;

    d.channel_id = cid;
    d.data.data = (uint8_t *)text;
    d.data.len = strlen(text);
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_DATA;
    f.channel_data = &d;
    corehost_send(s, &f);
}

struct fixture {
    struct corehost h;
    struct io_loop loop;
    struct io_conn conns[CONNS];
    uint32_t cids[CONNS];
};

static void fixture_init(struct fixture *fx)
{
    uint8_t refusal[128];
    size_t refusal_len = 0;
    struct proc *p = NULL;

    memset(fx, 0, sizeof(*fx));
    flush_count = 0;
    corehost_init(&fx->h, NULL);
    io_loop_init(&fx->loop, fx->h.core, record_flush);
    ck_assert_int_eq(procs_create(fx->h.core->processes, "bcast", (const uint8_t *)app,
                                  strlen(app), 0, &p),
                     STATUS_OK);
    for (size_t i = 0; i < CONNS; i++) {
        ck_assert_int_eq(io_conn_open(&fx->loop, &fx->conns[i], "127.0.0.1:1", refusal, sizeof(refusal),
                                      &refusal_len),
                         STATUS_OK);
        ck_assert_ptr_nonnull(fx->conns[i].session);
        fx->cids[i] = open_raw(fx->conns[i].session, process_id(p->lua));
    }
    /* Each answer went to the session being fed: nothing was woken. */
    io_loop_flush_dirty(&fx->loop);
    ck_assert_uint_eq(flush_count, 0);
}

static void fixture_clear(struct fixture *fx)
{
    for (size_t i = 0; i < CONNS; i++) {
        io_conn_close(&fx->conns[i]);
    }
    io_loop_flush_dirty(&fx->loop);
    core_free(fx->h.core);
}

START_TEST(test_io_output_from_one_input_wakes_the_others_once_each)
{
    struct fixture fx;

    fixture_init(&fx);
    send_data(fx.conns[0].session, fx.cids[0], "one");
    send_data(fx.conns[0].session, fx.cids[0], "two");
    io_loop_flush_dirty(&fx.loop);
    ck_assert_uint_eq(flush_count, 2);
    ck_assert_ptr_eq(flushed[0], &fx.conns[1]);
    ck_assert_ptr_eq(flushed[1], &fx.conns[2]);
    fixture_clear(&fx);
}
END_TEST

START_TEST(test_io_a_closed_connection_leaves_the_dirty_list)
{
    struct fixture fx;

    fixture_init(&fx);
    /* 0 writes to 1 and 2: both are dirty. */
    send_data(fx.conns[0].session, fx.cids[0], "hello");
    /* 1 closes while dirty; its teardown writes to 0 and 2. */
    io_conn_close(&fx.conns[1]);
    ck_assert_ptr_null(fx.conns[1].session);
    io_conn_close(&fx.conns[1]);
    io_loop_flush_dirty(&fx.loop);
    /* 2 (still listed from before) and 0 (woken by the close), never 1. */
    ck_assert_uint_eq(flush_count, 2);
    ck_assert_ptr_eq(flushed[0], &fx.conns[2]);
    ck_assert_ptr_eq(flushed[1], &fx.conns[0]);
    drain(fx.conns[0].session);
    drain(fx.conns[2].session);
    fixture_clear(&fx);
}
END_TEST

START_TEST(test_io_refusal_is_one_response_with_the_reason)
{
    struct config cfg;
    struct corehost h;
    struct io_loop loop;
    struct io_conn a, b;
    uint8_t refusal[128];
    size_t refusal_len = 0;
    uint32_t body = 0;
    Enclaved__ServerFrame *f;

    config_defaults(&cfg);
    cfg.max_connections = 1;
    corehost_init(&h, &cfg);
    io_loop_init(&loop, h.core, record_flush);
    ck_assert_int_eq(io_conn_open(&loop, &a, "127.0.0.1:1", refusal, sizeof(refusal), &refusal_len), STATUS_OK);
    ck_assert_int_eq(io_conn_open(&loop, &b, "127.0.0.1:2", refusal, sizeof(refusal), &refusal_len),
                     STATUS_RESOURCE_EXHAUSTED);
    ck_assert_ptr_null(b.session);
    ck_assert_int_eq(frame_next(refusal, refusal_len, 1024, &body), FRAME_READY);
    f = enclaved__server_frame__unpack(NULL, body, refusal + FRAME_HEADER_LEN);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->response->id, 0);
    ck_assert_int_eq(f->response->status, STATUS_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(f->response->message, "too many connections");
    enclaved__server_frame__free_unpacked(f, NULL);
    /* The refusal took the failure off the trail. */
    ck_assert_str_eq(status_trail_message(), "");
    io_conn_close(&a);
    core_free(h.core);
}
END_TEST

static Suite *io_common_suite(void)
{
    Suite *s = suite_create("io_common");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_io_output_from_one_input_wakes_the_others_once_each);
    tcase_add_test(tc, test_io_a_closed_connection_leaves_the_dirty_list);
    tcase_add_test(tc, test_io_refusal_is_one_response_with_the_reason);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(io_common_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
