/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The process table without the wire: ids, the one target resolution (by id,
 * by hash the oldest first), limits, and destroy/reset closing every channel
 * with UNAVAILABLE, read from a fake sink (fakesink.h). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/procs.h"
#include "fakesink.h"

static const char app[] =
    "closed = 0\n"
    "function HandleChannelClose(cid) closed = closed + 1 return {} end\n";

static status_t resolve_id(struct fakecore *h, uint32_t id, struct proc **out)
{
    struct proc_target t = {.kind = PROC_TARGET_ID, .process_id = id};
    return procs_resolve(h->core->processes, &t, out);
}

static status_t resolve_hash(struct fakecore *h, const uint8_t *hash, size_t len,
                             struct proc **out)
{
    struct proc_target t = {.kind = PROC_TARGET_CODE_HASH, .code_hash = hash,
                            .code_hash_len = len};
    return procs_resolve(h->core->processes, &t, out);
}

START_TEST(test_procs_ids_and_oldest_by_hash)
{
    struct fakecore h;
    struct process_table *t;
    struct proc *a = NULL, *b = NULL, *c = NULL, *found = NULL;
    struct proc_target none = {.kind = PROC_TARGET_NONE};

    fakecore_init(&h, NULL);
    t = h.core->processes;
    ck_assert_int_eq(procs_create(t, "a", (const uint8_t *)app, strlen(app), 0, &a), STATUS_OK);
    ck_assert_int_eq(procs_create(t, "b", (const uint8_t *)app, strlen(app), 0, &b), STATUS_OK);
    ck_assert_int_eq(procs_create(t, "c", (const uint8_t *)"y = 2", 5, 0, &c), STATUS_OK);
    ck_assert_uint_eq(process_id(a->lua), 1);
    ck_assert_uint_eq(process_id(b->lua), 2);
    ck_assert_int_eq(resolve_id(&h, 2, &found), STATUS_OK);
    ck_assert_ptr_eq(found, b);
    found = NULL;
    ck_assert_int_eq(resolve_id(&h, 99, &found), STATUS_NOT_FOUND);
    ck_assert_ptr_null(found);
    ck_assert_int_eq(resolve_hash(&h, process_code_hash(b->lua), 32, &found), STATUS_OK);
    ck_assert_ptr_eq(found, a);
    ck_assert_int_eq(resolve_hash(&h, process_code_hash(c->lua), 32, &found), STATUS_OK);
    ck_assert_ptr_eq(found, c);
    found = NULL;
    ck_assert_int_eq(resolve_hash(&h, process_code_hash(c->lua), 31, &found),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(procs_resolve(t, &none, &found), STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_null(found);
    ck_assert_uint_eq(procs_count(t), 3);
    /* Creation order. */
    ck_assert_ptr_eq(procs_first(t), a);
    ck_assert_ptr_eq(procs_next(a), b);
    ck_assert_ptr_eq(procs_next(b), c);
    ck_assert_ptr_null(procs_next(c));
    fakecore_clear(&h);
}
END_TEST

START_TEST(test_procs_limits_are_enforced)
{
    struct config cfg;
    struct fakecore h;
    struct process_table *t;
    struct proc *p = NULL;
    char long_name[PROCESS_NAME_MAX + 2];

    config_defaults(&cfg);
    cfg.max_processes = 2;
    fakecore_init(&h, &cfg);
    t = h.core->processes;
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    ck_assert_int_eq(procs_create(t, long_name, (const uint8_t *)app, strlen(app), 0, &p),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(procs_create(t, "big", (const uint8_t *)app, strlen(app),
                                  cfg.max_memory_per_process + 1, &p),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(procs_create(t, "1", (const uint8_t *)app, strlen(app), 0, &p), STATUS_OK);
    ck_assert_int_eq(procs_create(t, "2", (const uint8_t *)app, strlen(app), 0, &p), STATUS_OK);
    ck_assert_int_eq(procs_create(t, "3", (const uint8_t *)app, strlen(app), 0, &p),
                     STATUS_RESOURCE_EXHAUSTED);
    ck_assert_uint_eq(procs_count(t), 2);
    fakecore_clear(&h);
}
END_TEST

START_TEST(test_procs_destroy_closes_its_channels_only)
{
    struct fakecore h;
    struct fakesink owner;
    struct proc *a = NULL, *b = NULL;
    uint32_t a1, a2, b1;

    fakecore_init(&h, NULL);
    fakesink_init(&owner);
    ck_assert_int_eq(procs_create(h.core->processes, "a", (const uint8_t *)app, strlen(app), 0,
                                  &a),
                     STATUS_OK);
    ck_assert_int_eq(procs_create(h.core->processes, "b", (const uint8_t *)"x = 1", 5, 0, &b),
                     STATUS_OK);
    a1 = fakecore_open(&h, &owner, a, CHANNEL_TYPE_RAW);
    b1 = fakecore_open(&h, &owner, b, CHANNEL_TYPE_RAW);
    a2 = fakecore_open(&h, &owner, a, CHANNEL_TYPE_RAW);
    ck_assert_uint_eq(channel_group_count(&a->channels), 2);
    ck_assert_uint_eq(channel_group_count(&b->channels), 1);
    procs_destroy(h.core->processes, a);
    /* Newest channel first; each exactly once; b's stays open. */
    fakesink_expect_closed(&owner, a2, STATUS_UNAVAILABLE, "process destroyed");
    fakesink_expect_closed(&owner, a1, STATUS_UNAVAILABLE, "process destroyed");
    ck_assert_ptr_null(fakesink_next(&owner));
    ck_assert_uint_eq(procs_count(h.core->processes), 1);
    ck_assert_uint_eq(channel_count_by_type(h.core->channels, CHANNEL_TYPE_RAW), 1);
    ck_assert_uint_eq(h.core->stats.errors[STATUS_UNAVAILABLE], 2);
    channel_close(h.core->channels, &owner.owner, b1);
    fakesink_expect_closed(&owner, b1, STATUS_OK, "closed by the client");
    fakesink_clear(&owner, h.core);
    fakecore_clear(&h);
}
END_TEST

START_TEST(test_procs_reset_closes_every_channel_once)
{
    struct fakecore h;
    struct fakesink owner;
    struct proc *p = NULL;
    uint32_t c1, c2;

    fakecore_init(&h, NULL);
    fakesink_init(&owner);
    ck_assert_int_eq(procs_create(h.core->processes, "a", (const uint8_t *)app, strlen(app), 0,
                                  &p),
                     STATUS_OK);
    c1 = fakecore_open(&h, &owner, p, CHANNEL_TYPE_RAW);
    c2 = fakecore_open(&h, &owner, p, CHANNEL_TYPE_RAW);
    ck_assert_uint_eq(channel_group_count(&p->channels), 2);
    ck_assert_uint_eq(procs_reset(h.core->processes), 1);
    /* Newest channel first; each exactly once. */
    fakesink_expect_closed(&owner, c2, STATUS_UNAVAILABLE, "process destroyed");
    fakesink_expect_closed(&owner, c1, STATUS_UNAVAILABLE, "process destroyed");
    ck_assert_ptr_null(fakesink_next(&owner));
    ck_assert_uint_eq(procs_count(h.core->processes), 0);
    ck_assert_uint_eq(channel_count_by_type(h.core->channels, CHANNEL_TYPE_RAW), 0);
    fakesink_clear(&owner, h.core);
    fakecore_clear(&h);
}
END_TEST

START_TEST(test_procs_channel_limit_is_checked_before_opening)
{
    struct config cfg;
    struct fakecore h;
    struct fakesink owner;
    struct proc *p = NULL;
    config_defaults(&cfg);
    cfg.max_channels_per_process = 1;
    fakecore_init(&h, &cfg);
    fakesink_init(&owner);
    ck_assert_int_eq(procs_create(h.core->processes, "a", (const uint8_t *)app, strlen(app), 0,
                                  &p),
                     STATUS_OK);
    (void)fakecore_open(&h, &owner, p, CHANNEL_TYPE_RAW);
    ck_assert_int_eq(channel_check_open(h.core->channels, &p->channels, CHANNEL_TYPE_RAW),
                     STATUS_RESOURCE_EXHAUSTED);
    ck_assert_int_eq(channel_check_open(h.core->channels, &p->channels, CHANNEL_TYPE_COUNT),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_uint_eq(h.core->stats.limit_hits, 1);
    ck_assert_ptr_null(fakesink_next(&owner));
    fakesink_clear(&owner, h.core);
    fakecore_clear(&h);
}
END_TEST

static Suite *procs_suite(void)
{
    Suite *s = suite_create("procs");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_procs_ids_and_oldest_by_hash);
    tcase_add_test(tc, test_procs_limits_are_enforced);
    tcase_add_test(tc, test_procs_destroy_closes_its_channels_only);
    tcase_add_test(tc, test_procs_reset_closes_every_channel_once);
    tcase_add_test(tc, test_procs_channel_limit_is_checked_before_opening);
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
