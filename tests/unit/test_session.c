/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The sans-I/O session: framing over arbitrary read splits, protocol errors,
 * backpressure and the output bound, with no sockets at all. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "corehost.h"

static const uint8_t ping_frame[] = {0, 0, 0, 6, 0x0a, 0x04, 0x08, 0x05, 0x12, 0x00};

static void expect_ping_reply(struct session *s, uint64_t id)
{
    Enclaved__ServerFrame *f = corehost_expect_response(s, id, STATUS_OK);
    enclaved__server_frame__free_unpacked(f, NULL);
}

START_TEST(test_session_reassembles_frames_split_at_every_byte)
{
    struct corehost h;
    uint8_t two[2 * sizeof(ping_frame)];

    memcpy(two, ping_frame, sizeof(ping_frame));
    memcpy(two + sizeof(ping_frame), ping_frame, sizeof(ping_frame));
    corehost_init(&h, NULL);
    for (size_t cut = 0; cut <= sizeof(two); cut++) {
        struct session *s = corehost_session(&h);
        session_feed(s, two, cut);
        session_feed(s, two + cut, sizeof(two) - cut);
        expect_ping_reply(s, 5);
        expect_ping_reply(s, 5);
        ck_assert_ptr_null(corehost_next(s));
        corehost_free_session(&h, s);
    }
    corehost_clear(&h);
}
END_TEST

START_TEST(test_session_byte_at_a_time)
{
    struct corehost h;
    struct session *s;

    corehost_init(&h, NULL);
    s = corehost_session(&h);
    for (size_t i = 0; i < sizeof(ping_frame); i++) {
        ck_assert_ptr_null(corehost_next(s));
        session_feed(s, ping_frame + i, 1);
    }
    expect_ping_reply(s, 5);
    corehost_clear(&h);
}
END_TEST

/* Regression (fuzz_session under UBSan): session_output on a session with
 * no output yet computed NULL + 0. Now it hands back NULL and 0. */
START_TEST(test_session_output_empty_before_any_frame)
{
    struct corehost h;
    struct session *s;
    const uint8_t *data = (const uint8_t *)"x";
    size_t len = 1;

    corehost_init(&h, NULL);
    s = corehost_session(&h);
    session_output(s, &data, &len);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_null(data);
    session_feed(s, ping_frame, 3);
    session_output(s, &data, &len);
    ck_assert_uint_eq(len, 0);
    session_feed(s, ping_frame + 3, sizeof(ping_frame) - 3);
    expect_ping_reply(s, 5);
    session_output(s, &data, &len);
    ck_assert_uint_eq(len, 0);
    corehost_clear(&h);
}
END_TEST

START_TEST(test_session_rejects_zero_length_and_closes)
{
    static const uint8_t zero[] = {0, 0, 0, 0};
    struct corehost h;
    struct session *s;
    Enclaved__ServerFrame *f;

    corehost_init(&h, NULL);
    s = corehost_session(&h);
    session_feed(s, zero, sizeof(zero));
    f = corehost_expect_response(s, 0, STATUS_INVALID_ARGUMENT);
    enclaved__server_frame__free_unpacked(f, NULL);
    ck_assert(session_should_close(s));
    ck_assert(!session_wants_read(s));
    /* Input after the error is ignored. */
    session_feed(s, ping_frame, sizeof(ping_frame));
    ck_assert_ptr_null(corehost_next(s));
    corehost_clear(&h);
}
END_TEST

START_TEST(test_session_rejects_frames_over_max_frame)
{
    struct config cfg;
    struct corehost h;
    struct session *s;
    uint8_t header[4];
    Enclaved__ServerFrame *f;

    config_defaults(&cfg);
    cfg.max_frame = 4096;
    cfg.max_message = 1024;
    corehost_init(&h, &cfg);
    s = corehost_session(&h);
    frame_write_length(header, 4097);
    session_feed(s, header, sizeof(header));
    f = corehost_expect_response(s, 0, STATUS_RESOURCE_EXHAUSTED);
    enclaved__server_frame__free_unpacked(f, NULL);
    ck_assert(session_should_close(s));
    corehost_clear(&h);
}
END_TEST

START_TEST(test_session_pauses_input_while_output_is_unread)
{
    enum { PINGS = 100000 };
    struct corehost h;
    struct session *s;
    uint8_t *batch = malloc(PINGS * sizeof(ping_frame));
    const uint8_t *out;
    size_t out_len, replies = 0;

    ck_assert_ptr_nonnull(batch);
    for (size_t i = 0; i < PINGS; i++) {
        memcpy(batch + i * sizeof(ping_frame), ping_frame, sizeof(ping_frame));
    }
    corehost_init(&h, NULL);
    s = corehost_session(&h);
    session_feed(s, batch, PINGS * sizeof(ping_frame));
    /* It stopped answering at the soft bound and wants no more input. */
    session_output(s, &out, &out_len);
    ck_assert_uint_lt(out_len, 1u << 20);
    ck_assert(!session_wants_read(s));
    /* Draining output and resuming answers every ping exactly once. */
    for (;;) {
        Enclaved__ServerFrame *f;
        while ((f = corehost_next(s)) != NULL) {
            replies++;
            enclaved__server_frame__free_unpacked(f, NULL);
        }
        if (session_wants_read(s) && replies == PINGS) {
            break;
        }
        session_resume(s);
        session_output(s, &out, &out_len);
        ck_assert_msg(out_len > 0 || replies == PINGS, "stalled after %zu replies", replies);
    }
    ck_assert_uint_eq(replies, PINGS);
    free(batch);
    corehost_clear(&h);
}
END_TEST

START_TEST(test_session_max_connections)
{
    struct config cfg;
    struct corehost h;
    struct session *a, *b, *c = NULL;

    config_defaults(&cfg);
    cfg.max_connections = 2;
    corehost_init(&h, &cfg);
    a = corehost_session(&h);
    b = corehost_session(&h);
    status_trail_reset();
    ck_assert_int_eq(session_new(h.core, corehost_wake, &h, &c), STATUS_RESOURCE_EXHAUSTED);
    ck_assert_ptr_null(c);
    {
        uint8_t frame[128];
        size_t n = encode_refusal(STATUS_RESOURCE_EXHAUSTED, status_trail_message(), frame,
                                  sizeof(frame));
        uint32_t body = 0;
        Enclaved__ServerFrame *f;

        ck_assert_int_eq(frame_next(frame, n, 1024, &body), FRAME_READY);
        ck_assert_uint_eq(body + FRAME_HEADER_LEN, n);
        f = enclaved__server_frame__unpack(NULL, body, frame + FRAME_HEADER_LEN);
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(f->response->id, 0);
        ck_assert_int_eq(f->response->status, STATUS_RESOURCE_EXHAUSTED);
        ck_assert_str_eq(f->response->message, "too many connections");
        enclaved__server_frame__free_unpacked(f, NULL);
        ck_assert_uint_eq(encode_refusal(STATUS_RESOURCE_EXHAUSTED, "x", frame, 8), 0);
    }
    corehost_free_session(&h, a);
    c = corehost_session(&h);
    ck_assert_uint_eq(h.core->stats.connections_open, 2);
    ck_assert_uint_eq(h.core->stats.connections_total, 3);
    (void)b;
    corehost_clear(&h);
}
END_TEST

START_TEST(test_session_shutdown_closes_after_flush)
{
    struct corehost h;
    struct session *s;
    Enclaved__ServerFrame *f;

    corehost_init(&h, NULL);
    s = corehost_session(&h);
    session_feed(s, ping_frame, sizeof(ping_frame));
    session_shutdown(s);
    ck_assert(!session_should_close(s));
    f = corehost_next(s);
    ck_assert_ptr_nonnull(f);
    enclaved__server_frame__free_unpacked(f, NULL);
    ck_assert(session_should_close(s));
    corehost_clear(&h);
}
END_TEST

/* A driver write that takes at most limit bytes (-1: refuses) and keeps
 * them, as the kernel would. */
struct fake_writer {
    uint8_t got[20000];
    size_t len;
    ssize_t limit;
    int calls;
};

static ssize_t fake_write(void *ctx, const struct iovec *iov, int n)
{
    struct fake_writer *w = ctx;
    size_t room;

    w->calls++;
    if (w->limit < 0) {
        return -1;
    }
    room = (size_t)w->limit;
    for (int i = 0; i < n && room > 0; i++) {
        size_t k = iov[i].iov_len < room ? iov[i].iov_len : room;
        ck_assert_uint_le(w->len + k, sizeof(w->got));
        memcpy(w->got + w->len, iov[i].iov_base, k);
        w->len += k;
        room -= k;
    }
    return w->limit - (ssize_t)room;
}

/* encode_channel_data_now: whatever the write takes, the bytes written and
 * then buffered are exactly those of encode_channel_data, after the output
 * already buffered; a refused write leaves everything to the caller. */
START_TEST(test_encode_data_now_matches_packing_at_every_split)
{
    struct config cfg;
    struct core_stats stats;
    struct encoder ref, e;
    static uint8_t payload[16384];
    static struct fake_writer w;
    size_t total;

    config_defaults(&cfg);
    memset(&stats, 0, sizeof(stats));
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (uint8_t)(i * 7 + 1);
    }
    encoder_init(&ref, &cfg, &stats, 1);
    encode_status(&ref, 9, STATUS_OK, "earlier");
    encode_channel_data(&ref, 300, payload, sizeof(payload));
    total = buffer_len(&ref.buf);
    for (size_t cut = 0; cut <= total; cut++) {
        /* Every boundary near the spans' edges, sampled in the payload. */
        if (cut > 64 && cut < total - 64 && cut % 997 != 0) {
            continue;
        }
        memset(&w, 0, sizeof(w));
        w.limit = (ssize_t)cut;
        encoder_init(&e, &cfg, &stats, 2);
        encode_status(&e, 9, STATUS_OK, "earlier");
        ck_assert_int_eq(encode_channel_data_now(&e, 300, payload, sizeof(payload), fake_write, &w),
                         1);
        ck_assert_int_eq(w.calls, 1);
        ck_assert_uint_eq(w.len, cut);
        ck_assert_uint_eq(w.len + buffer_len(&e.buf), total);
        ck_assert_mem_eq(w.got, ref.buf.data + ref.buf.start, w.len);
        if (cut < total) {
            ck_assert_mem_eq(e.buf.data + e.buf.start, ref.buf.data + ref.buf.start + cut,
                             total - cut);
        }
        ck_assert_int_eq(e.dead, 0);
        encoder_clear(&e);
    }
    memset(&w, 0, sizeof(w));
    w.limit = -1;
    encoder_init(&e, &cfg, &stats, 3);
    ck_assert_int_eq(encode_channel_data_now(&e, 300, payload, sizeof(payload), fake_write, &w), 0);
    ck_assert_uint_eq(buffer_len(&e.buf), 0);
    /* Over max_frame: not written, left to encode_channel_data's refusal. */
    cfg.max_frame = 1000;
    w.limit = 100000;
    ck_assert_int_eq(encode_channel_data_now(&e, 300, payload, sizeof(payload), fake_write, &w), 0);
    ck_assert_int_eq(w.calls, 1);
    encoder_clear(&e);
    encoder_clear(&ref);
}
END_TEST

static Suite *session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_session_reassembles_frames_split_at_every_byte);
    tcase_add_test(tc, test_session_byte_at_a_time);
    tcase_add_test(tc, test_session_output_empty_before_any_frame);
    tcase_add_test(tc, test_session_rejects_zero_length_and_closes);
    tcase_add_test(tc, test_session_rejects_frames_over_max_frame);
    tcase_add_test(tc, test_session_pauses_input_while_output_is_unread);
    tcase_add_test(tc, test_session_max_connections);
    tcase_add_test(tc, test_session_shutdown_closes_after_flush);
    tcase_add_test(tc, test_encode_data_now_matches_packing_at_every_split);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(session_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
