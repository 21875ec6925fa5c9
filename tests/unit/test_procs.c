/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The process table sans-I/O: ids, lookups by hash (oldest first), limits,
 * and destroy/reset closing every channel with UNAVAILABLE. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "corehost.h"
#include "core/procs.h"

static const char app[] =
    "function HandleChannelClose(cid) return {} end\n";

START_TEST(test_procs_ids_and_oldest_by_hash)
{
    struct corehost h;
    struct proc *a = NULL, *b = NULL, *c = NULL;

    corehost_init(&h, NULL);
    ck_assert_int_eq(procs_create(h.core, "a", (const uint8_t *)app, strlen(app), 0, &a),
                     STATUS_OK);
    ck_assert_int_eq(procs_create(h.core, "b", (const uint8_t *)app, strlen(app), 0, &b),
                     STATUS_OK);
    ck_assert_int_eq(procs_create(h.core, "c", (const uint8_t *)"y = 2", 5, 0, &c), STATUS_OK);
    ck_assert_uint_eq(process_id(a->lua), 1);
    ck_assert_uint_eq(process_id(b->lua), 2);
    ck_assert_ptr_eq(procs_find(h.core, 2), b);
    ck_assert_ptr_null(procs_find(h.core, 99));
    ck_assert_ptr_eq(procs_find_hash(h.core, process_code_hash(b->lua), 32), a);
    ck_assert_ptr_eq(procs_find_hash(h.core, process_code_hash(c->lua), 32), c);
    ck_assert_ptr_null(procs_find_hash(h.core, process_code_hash(c->lua), 31));
    ck_assert_uint_eq(procs_count(h.core), 3);
    corehost_clear(&h);
}
END_TEST

START_TEST(test_procs_limits_are_enforced)
{
    struct config cfg;
    struct corehost h;
    struct proc *p = NULL;
    char long_name[PROCESS_NAME_MAX + 2];

    config_defaults(&cfg);
    cfg.max_processes = 2;
    corehost_init(&h, &cfg);
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    ck_assert_int_eq(procs_create(h.core, long_name, (const uint8_t *)app, strlen(app), 0, &p),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(procs_create(h.core, "big", (const uint8_t *)app, strlen(app),
                                  cfg.max_memory_per_process + 1, &p),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(procs_create(h.core, "1", (const uint8_t *)app, strlen(app), 0, &p),
                     STATUS_OK);
    ck_assert_int_eq(procs_create(h.core, "2", (const uint8_t *)app, strlen(app), 0, &p),
                     STATUS_OK);
    ck_assert_int_eq(procs_create(h.core, "3", (const uint8_t *)app, strlen(app), 0, &p),
                     STATUS_RESOURCE_EXHAUSTED);
    ck_assert_uint_eq(procs_count(h.core), 2);
    corehost_clear(&h);
}
END_TEST

/* Opens a raw channel to process pid on s and returns its id. */
static uint32_t open_raw(struct session *s, uint32_t pid, uint64_t id)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ChannelOpen body = ENCLAVED__CHANNEL_OPEN__INIT;
    Enclaved__ServerFrame *f;
    uint32_t cid;

    body.target_case = ENCLAVED__CHANNEL_OPEN__TARGET_PROCESS_ID;
    body.process_id = pid;
    req.id = id;
    req.body_case = ENCLAVED__REQUEST__BODY_CHANNEL_OPEN;
    req.channel_open = &body;
    corehost_request(s, &req);
    f = corehost_expect_response(s, id, STATUS_OK);
    cid = f->response->channel_opened->channel_id;
    enclaved__server_frame__free_unpacked(f, NULL);
    return cid;
}

static void expect_closed(struct session *s, uint32_t cid, status_t status)
{
    Enclaved__ServerFrame *f = corehost_next(s);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->kind_case, ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED);
    ck_assert_uint_eq(f->channel_closed->channel_id, cid);
    ck_assert_int_eq(f->channel_closed->status, status);
    enclaved__server_frame__free_unpacked(f, NULL);
}

START_TEST(test_procs_reset_closes_every_channel_once)
{
    struct corehost h;
    struct session *s;
    struct proc *p = NULL;
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__Reset reset = ENCLAVED__RESET__INIT;
    Enclaved__ServerFrame *f;
    uint32_t c1, c2;

    corehost_init(&h, NULL);
    s = corehost_session(&h);
    ck_assert_int_eq(procs_create(h.core, "a", (const uint8_t *)app, strlen(app), 0, &p),
                     STATUS_OK);
    c1 = open_raw(s, 1, 1);
    c2 = open_raw(s, 1, 2);
    ck_assert_uint_eq(p->channel_count, 2);
    req.id = 3;
    req.body_case = ENCLAVED__REQUEST__BODY_RESET;
    req.reset = &reset;
    corehost_request(s, &req);
    f = corehost_expect_response(s, 3, STATUS_OK);
    enclaved__server_frame__free_unpacked(f, NULL);
    /* Newest channel first; each exactly once. */
    expect_closed(s, c2, STATUS_UNAVAILABLE);
    expect_closed(s, c1, STATUS_UNAVAILABLE);
    ck_assert_ptr_null(corehost_next(s));
    ck_assert_uint_eq(procs_count(h.core), 0);
    corehost_clear(&h);
}
END_TEST

static Suite *procs_suite(void)
{
    Suite *s = suite_create("procs");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_procs_ids_and_oldest_by_hash);
    tcase_add_test(tc, test_procs_limits_are_enforced);
    tcase_add_test(tc, test_procs_reset_closes_every_channel_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(procs_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
