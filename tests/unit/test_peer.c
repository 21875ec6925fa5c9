/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Peer links (core/peer, wire/peerwire), sans-I/O: a fake driver records
 * dials, and a link's session is pumped into a second session of the same
 * core, which plays the remote member (same fleet key, same code). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/channel.h"
#include "core/peer.h"
#include "core/procs.h"
#include "platform/platform.h"
#include "wire/encode.h"
#include "wire/frame.h"
#include "wire/session.h"

struct fakeio {
    struct core *core;
    struct peer_dialer dialer;
    int dials, cancels;
    uint32_t last_link;
    char last_host[CONFIG_HOST_MAX];
    uint16_t last_port;
    int handle;                 /* the address handed out as a dial handle */
    int fail_dial;
};

static void *fake_dial(void *ctx, uint32_t link_id, const char *host, uint16_t port)
{
    struct fakeio *f = ctx;

    f->dials++;
    f->last_link = link_id;
    snprintf(f->last_host, sizeof(f->last_host), "%s", host);
    f->last_port = port;
    return f->fail_dial ? NULL : &f->handle;
}

static void fake_cancel(void *ctx, void *dial)
{
    struct fakeio *f = ctx;

    ck_assert_ptr_eq(dial, &f->handle);
    f->cancels++;
}

/* Counts hook calls by kind, from Lua. */
static const char app[] =
    "created, closed, got, kk = 0, 0, {}, {}\n"
    "function HandleChannelCreate(cid, t)\n"
    "  if t == CHAN_SERVER_KK then created = created + 1; kk[cid] = true end\n"
    "  return {{cid, 'hello ' .. cid}}\n"
    "end\n"
    "function HandleChannelMessage(cid, m)\n"
    "  if m == '?' then return {{cid, created .. ' ' .. closed .. ' ' .. #got}} end\n"
    "  got[#got + 1] = m\n"
    "end\n"
    "function HandleChannelClose(cid) if kk[cid] then closed = closed + 1 end end\n";

static struct proc *start(struct fakeio *f, const struct config *cfg_in)
{
    struct config cfg;
    struct keystore *ks = NULL;
    uint8_t priv[32], secret[32];
    struct proc *p = NULL;

    memset(f, 0, sizeof(*f));
    if (cfg_in != NULL) {
        cfg = *cfg_in;
    } else {
        config_defaults(&cfg);
    }
    memset(priv, 0x31, sizeof(priv));
    memset(secret, 0x32, sizeof(secret));
    ck_assert_int_eq(keystore_new(priv, secret, &ks), STATUS_OK);
    ck_assert_int_eq(core_new(&cfg, ks, &f->core), STATUS_OK);
    f->dialer.ctx = f;
    f->dialer.dial = fake_dial;
    f->dialer.cancel = fake_cancel;
    peer_set_dialer(f->core->peers, &f->dialer);
    ck_assert_int_eq(procs_create(f->core->processes, "app", (const uint8_t *)app, strlen(app), 0,
                                  &p),
                     STATUS_OK);
    return p;
}

static void stop(struct fakeio *f)
{
    peer_stop_all(f->core->peers);
    core_free(f->core);
}

static uint32_t add(struct fakeio *f, const char *host, uint16_t port)
{
    uint32_t id = 0;
    const uint8_t *hash = process_code_hash(procs_first(f->core->processes)->lua);

    ck_assert_int_eq(peer_add(f->core->peers, host, port, hash, PEER_ORIGIN_REQUEST, &id), STATUS_OK);
    return id;
}

START_TEST(test_peer_add_dials_now_and_dedupes)
{
    struct fakeio f;
    uint8_t other[32];
    uint32_t id, again, id2 = 0;
    struct peer_link *l;

    start(&f, NULL);
    id = add(&f, "10.0.0.1", 7480);
    again = add(&f, "10.0.0.1", 7480);
    ck_assert_uint_eq(again, id);
    ck_assert_uint_ne(add(&f, "10.0.0.1", 7481), id);
    memset(other, 7, sizeof(other));
    ck_assert_int_eq(peer_add(f.core->peers, "10.0.0.1", 7480, other, PEER_ORIGIN_REQUEST, &id2),
                     STATUS_NOT_FOUND);
    ck_assert_uint_eq(id2, 0);
    l = peer_find(f.core->peers, id);
    ck_assert_int_eq(l->state, PEER_BACKOFF);
    ck_assert_int_eq(peer_next_timeout_ms(f.core->peers, platform_monotonic_ms()), 0);
    peer_run_timers(f.core->peers, platform_monotonic_ms());
    ck_assert_int_eq(f.dials, 2);
    ck_assert_int_eq(l->state, PEER_CONNECTING);
    peer_stop_all(f.core->peers);
    ck_assert_int_eq(f.cancels, 2);
    stop(&f);
}
END_TEST

START_TEST(test_peer_backoff_doubles_up_to_the_bound_with_at_most_half_jitter)
{
    struct fakeio f;
    struct config cfg;
    uint64_t want = 100;
    uint32_t id;
    struct peer_link *l;

    config_defaults(&cfg);
    cfg.peer_backoff_min_ms = 100;
    cfg.peer_backoff_max_ms = 1000;
    start(&f, &cfg);
    f.fail_dial = 1;
    id = add(&f, "10.0.0.2", 1);
    l = peer_find(f.core->peers, id);
    for (int i = 1; i <= 8; i++) {
        uint64_t now = platform_monotonic_ms();
        uint64_t delay;

        peer_run_timers(f.core->peers, l->due_ms);
        ck_assert_int_eq(l->state, PEER_BACKOFF);
        ck_assert_uint_eq(l->failures, (uint32_t)i);
        ck_assert_str_eq(l->last_error, "cannot start the connection");
        delay = l->due_ms - now;
        /* Allow a millisecond of clock movement on either side. */
        ck_assert_msg(delay + 1 >= want && delay <= want + want / 2 + 1,
                      "failure %d: delay %llu, base %llu", i, (unsigned long long)delay,
                      (unsigned long long)want);
        want = want * 2 > 1000 ? 1000 : want * 2;
    }
    ck_assert_int_eq(f.dials, 8);
    stop(&f);
}
END_TEST

START_TEST(test_peer_connect_timeout_cancels_the_dial_and_records_it)
{
    struct fakeio f;
    struct config cfg;
    uint32_t id;
    struct peer_link *l;

    config_defaults(&cfg);
    cfg.peer_connect_timeout_ms = 50;
    start(&f, &cfg);
    id = add(&f, "10.0.0.3", 2);
    l = peer_find(f.core->peers, id);
    peer_run_timers(f.core->peers, platform_monotonic_ms());
    ck_assert_int_eq(l->state, PEER_CONNECTING);
    ck_assert_int_le(peer_next_timeout_ms(f.core->peers, platform_monotonic_ms()), 50);
    peer_run_timers(f.core->peers, platform_monotonic_ms() + 60);
    ck_assert_int_eq(l->state, PEER_BACKOFF);
    ck_assert_int_eq(f.cancels, 1);
    ck_assert_str_eq(l->last_error, "connect timed out");
    /* A connect that finishes after the link gave up is refused. */
    ck_assert_int_eq(peer_link_connected(f.core->peers, id, NULL, NULL), 0);
    stop(&f);
}
END_TEST

/* Moves every byte between the link's session and the remote's until
 * neither has output. */
static void pump(struct session *link, struct session *remote)
{
    for (int round = 0; round < 20; round++) {
        const uint8_t *data;
        size_t len, moved = 0;

        session_output(link, &data, &len);
        if (len > 0 && !session_is_dead(link)) {
            uint8_t *copy = malloc(len);
            memcpy(copy, data, len);
            session_consume_output(link, len);
            session_feed(remote, copy, len);
            free(copy);
            moved += len;
        }
        session_output(remote, &data, &len);
        if (len > 0 && !session_is_dead(link)) {
            uint8_t *copy = malloc(len);
            memcpy(copy, data, len);
            session_consume_output(remote, len);
            session_feed(link, copy, len);
            free(copy);
            moved += len;
        }
        if (moved == 0) {
            return;
        }
    }
}

/* Asks the app over a raw channel for "created closed got". */
static void app_counts(struct fakeio *f, struct proc *p, char *out, size_t cap)
{
    struct session *q = NULL;
    Enclaved__ClientFrame cf = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ChannelOpen open = ENCLAVED__CHANNEL_OPEN__INIT;
    Enclaved__ChannelData d = ENCLAVED__CHANNEL_DATA__INIT;
    uint8_t buf[256];
    const uint8_t *data;
    size_t len, n;
    uint32_t flen = 0, cid = 0;

    ck_assert_int_eq(session_new(f->core, NULL, NULL, &q), STATUS_OK);
    open.target_case = ENCLAVED__CHANNEL_OPEN__TARGET_PROCESS_ID;
    open.process_id = process_id(p->lua);
    open.type = ENCLAVED__CHANNEL_TYPE__RAW;
    req.id = 1;
    req.body_case = ENCLAVED__REQUEST__BODY_CHANNEL_OPEN;
    req.channel_open = &open;
    cf.kind_case = ENCLAVED__CLIENT_FRAME__KIND_REQUEST;
    cf.request = &req;
    n = enclaved__client_frame__pack(&cf, buf + FRAME_HEADER_LEN);
    frame_write_length(buf, (uint32_t)n);
    session_feed(q, buf, n + FRAME_HEADER_LEN);
    for (int i = 0; i < 3; i++) {
        Enclaved__ServerFrame *sf;

        session_output(q, &data, &len);
        if (frame_next(data, len, 1u << 20, &flen) != FRAME_READY) {
            break;
        }
        sf = enclaved__server_frame__unpack(NULL, flen, data + FRAME_HEADER_LEN);
        ck_assert_ptr_nonnull(sf);
        session_consume_output(q, FRAME_HEADER_LEN + flen);
        if (sf->kind_case == ENCLAVED__SERVER_FRAME__KIND_RESPONSE) {
            cid = sf->response->channel_opened->channel_id;
            d.channel_id = cid;
            d.data.data = (uint8_t *)"?";
            d.data.len = 1;
            cf.kind_case = ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_DATA;
            cf.channel_data = &d;
            n = enclaved__client_frame__pack(&cf, buf + FRAME_HEADER_LEN);
            frame_write_length(buf, (uint32_t)n);
            session_feed(q, buf, n + FRAME_HEADER_LEN);
        } else if (sf->kind_case == ENCLAVED__SERVER_FRAME__KIND_CHANNEL_DATA) {
            snprintf(out, cap, "%.*s", (int)sf->channel_data->data.len,
                     (const char *)sf->channel_data->data.data);
        }
        enclaved__server_frame__free_unpacked(sf, NULL);
    }
    ck_assert_uint_ne(cid, 0);
    session_free(q);
}

START_TEST(test_peer_link_comes_up_carries_data_and_fails_with_its_reason)
{
    struct fakeio f;
    struct proc *p = start(&f, NULL);
    struct session *link = NULL, *remote = NULL;
    struct peer_link *l;
    uint32_t id = add(&f, "127.0.0.1", 9);
    char counts[64] = "";

    peer_run_timers(f.core->peers, platform_monotonic_ms());
    ck_assert_int_eq(session_new(f.core, NULL, NULL, &remote), STATUS_OK);
    ck_assert_int_eq(session_new_peer(f.core, NULL, NULL, id, &link), STATUS_OK);
    l = peer_find(f.core->peers, id);
    ck_assert_int_eq(l->state, PEER_OPENING);
    ck_assert_ptr_eq(l->conn, &link->peer);
    pump(link, remote);
    ck_assert_int_eq(l->state, PEER_UP);
    ck_assert_uint_ne(l->channel_id, 0);
    ck_assert_uint_ne(l->remote_channel_id, 0);
    ck_assert_uint_eq(l->failures, 0);
    /* Both ends ran HandleChannelCreate(cid, CHAN_SERVER_KK), and each
     * "hello" reached the other through the link as one message. */
    app_counts(&f, p, counts, sizeof(counts));
    ck_assert_str_eq(counts, "2 0 2");
    ck_assert_uint_ge(l->messages_out, 2);
    ck_assert_uint_ge(l->messages_in, 2);
    ck_assert_uint_gt(l->bytes_in, 0);

    /* The remote side goes away: both channels close with HandleChannelClose,
     * and the link waits to redial with the reason. */
    session_free(remote);
    session_free(link);
    ck_assert_int_eq(l->state, PEER_BACKOFF);
    ck_assert_str_eq(l->last_error, "connection lost");
    ck_assert_ptr_null(l->conn);
    ck_assert_uint_eq(l->channel_id, 0);
    app_counts(&f, p, counts, sizeof(counts));
    ck_assert_str_eq(counts, "2 2 2");
    stop(&f);
}
END_TEST

START_TEST(test_peer_link_to_a_remote_without_the_code_records_not_found)
{
    struct fakeio f;
    struct session *link = NULL, *remote = NULL;
    struct peer_link *l;
    uint32_t id;

    start(&f, NULL);
    id = add(&f, "127.0.0.1", 9);
    peer_run_timers(f.core->peers, platform_monotonic_ms());
    ck_assert_int_eq(session_new(f.core, NULL, NULL, &remote), STATUS_OK);
    ck_assert_int_eq(session_new_peer(f.core, NULL, NULL, id, &link), STATUS_OK);
    l = peer_find(f.core->peers, id);
    {
        const uint8_t *data;
        size_t len;

        /* Answer the ChannelOpen as a remote without the process would. */
        session_output(link, &data, &len);
        session_consume_output(link, len);
        encode_status(&remote->out, 1, STATUS_NOT_FOUND, "no such process");
        session_output(remote, &data, &len);
        session_feed(link, data, len);
    }
    ck_assert_int_eq(l->state, PEER_BACKOFF);
    ck_assert_str_eq(l->last_error, "peer refused ChannelOpen: NOT_FOUND no such process");
    ck_assert(session_is_dead(link));
    session_free(link);
    session_free(remote);
    stop(&f);
}
END_TEST

START_TEST(test_peer_forget_hash_keeps_links_while_a_process_has_the_code)
{
    struct fakeio f;
    struct proc *p = start(&f, NULL);
    uint32_t id = add(&f, "10.0.0.4", 3);
    uint8_t hash[32];

    memcpy(hash, process_code_hash(p->lua), sizeof(hash));
    peer_run_timers(f.core->peers, platform_monotonic_ms());
    ck_assert_int_eq(f.dials, 1);
    peer_forget_hash(f.core->peers, hash);
    /* A process with the hash still runs: nothing ends. */
    ck_assert_ptr_nonnull(peer_find(f.core->peers, id));
    stop(&f);
}
END_TEST

static Suite *peer_suite(void)
{
    Suite *s = suite_create("peer");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_peer_add_dials_now_and_dedupes);
    tcase_add_test(tc, test_peer_backoff_doubles_up_to_the_bound_with_at_most_half_jitter);
    tcase_add_test(tc, test_peer_connect_timeout_cancels_the_dial_and_records_it);
    tcase_add_test(tc, test_peer_link_comes_up_carries_data_and_fails_with_its_reason);
    tcase_add_test(tc, test_peer_link_to_a_remote_without_the_code_records_not_found);
    tcase_add_test(tc, test_peer_forget_hash_keeps_links_while_a_process_has_the_code);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(peer_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
