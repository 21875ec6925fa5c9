/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "alloc_fail.h"
#include "apphost.h"
#include "lua/process.h"

static const char echo_app[] =
    "function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n";

/* HsmEnclave README's broadcast app, with its `done` typo fixed to `end`. */
static const char broadcast_app[] =
    "openChannels = {}\n"
    "function HandleChannelCreate(channelID, channelType)\n"
    "  openChannels[channelID] = 1\n"
    "  return {}\n"
    "end\n"
    "function HandleChannelClose(channelID)\n"
    "  openChannels[channelID] = nil\n"
    "  return {}\n"
    "end\n"
    "function HandleChannelMessage(channelID, msg)\n"
    "  local out = {}\n"
    "  for recipientID, _ in pairs(openChannels) do\n"
    "    if recipientID ~= channelID then\n"
    "      table.insert(out, {recipientID, msg})\n"
    "    end\n"
    "  end\n"
    "  return out\n"
    "end\n";

/* Each message selects a behaviour; "ok" answers and proves the process works. */
static const char torture_app[] =
    "function HandleChannelMessage(cid, msg)\n"
    "  if msg == 'loop' then while true do end\n"
    "  elseif msg == 'pcall-loop' then\n"
    "    for i = 1, 100 do pcall(function() while true do end end) end\n"
    "    return {{cid, 'swallowed'}}\n"
    "  elseif msg == 'coroutine-loop' then\n"
    "    local co = coroutine.create(function() while true do end end)\n"
    "    local ok = coroutine.resume(co)\n"
    "    return {{cid, 'swallowed'}}\n"
    "  elseif msg == 'string' then\n"
    "    local s = 'x' while true do s = s .. s end\n"
    "  elseif msg == 'pcall-string' then\n"
    "    local ok, e = pcall(function() local s = 'x' while true do s = s .. s end end)\n"
    "    error('caught: ' .. tostring(e))\n"
    "  elseif msg == 'table' then\n"
    "    local t = {} local i = 0\n"
    "    while true do i = i + 1 t[i] = {i, {}, {}, {}, {}, {}, {}, {}, {}} end\n"
    "  elseif msg == 'recurse' then\n"
    "    local function f(n) return 1 + f(n + 1) end return {{cid, tostring(f(1))}}\n"
    "  elseif msg == 'gsub' then\n"
    "    local function f(s) return (string.gsub(s, '.', f)) end return {{cid, f('ab')}}\n"
    "  elseif msg == 'many' then\n"
    "    local out, o = {}, {cid, 'x'} for i = 1, 1000000 do out[i] = o end return out\n"
    "  elseif msg == 'error' then error('boom')\n"
    "  elseif msg == 'long-error' then error(string.rep('e', 5000))\n"
    "  elseif msg == 'table-error' then error({})\n"
    "  elseif msg == 'partial' then\n"
    "    local out = {{cid, 'first'}} out[2] = {cid} return out\n"
    "  elseif msg == 'non-table' then return 'hello'\n"
    "  elseif msg == 'bad-entry' then return {42}\n"
    "  elseif msg == 'float-cid' then return {{cid + 0.5, 'x'}}\n"
    "  elseif msg == 'bad-status' then return {{cid, 17}}\n"
    "  elseif msg == 'foreign' then return {{cid, 'ok'}, {999, 'x'}}\n"
    "  elseif msg == 'big' then return {{cid, string.rep('b', 70000)}}\n"
    "  elseif msg == 'close' then return {{cid, 'bye'}, {cid, STATUS_ABORTED}}\n"
    "  end\n"
    "  return {{cid, 'ok'}}\n"
    "end\n";

static struct apphost host;

static void setup(void)
{
    apphost_init(&host);
    apphost_open(&host, 7);
    apphost_open(&host, 8);
    apphost_open(&host, 9);
}

static void teardown(void)
{
    apphost_clear(&host);
}

static void assert_still_works(struct process *p)
{
    apphost_reset(&host);
    ck_assert_int_eq(apphost_send(p, 7, "ok"), STATUS_OK);
    ck_assert_uint_eq(host.count, 1);
    ck_assert_str_eq(host.outs[0].data, "ok");
    apphost_reset(&host);
}

START_TEST(test_process_create_and_free)
{
    struct process *p = apphost_new(&host, echo_app);

    ck_assert_uint_eq(process_id(p), 1);
    ck_assert_str_eq(process_name(p), "test");
    ck_assert_uint_gt(process_created_at(p), 0);
    ck_assert_uint_gt(process_memory_used(p), 0);
    process_free(p);
    process_free(NULL);
}
END_TEST

START_TEST(test_process_code_hash_is_sha256_of_source)
{
    uint8_t want[32];
    struct process *p = apphost_new(&host, echo_app);

    mbedtls_sha256((const uint8_t *)echo_app, strlen(echo_app), want, 0);
    ck_assert_mem_eq(process_code_hash(p), want, 32);
    process_free(p);
}
END_TEST

START_TEST(test_process_name_is_truncated)
{
    char name[200];
    struct process_limits l = apphost_limits();
    struct process *p = NULL;

    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    ck_assert_int_eq(process_new(2, name, (const uint8_t *)"", 0, &l, &host.host,
                                 host.sealing_secret, &p), STATUS_OK);
    ck_assert_uint_eq(strlen(process_name(p)), PROCESS_NAME_MAX);
    process_free(p);
}
END_TEST

START_TEST(test_process_rejects_binary_chunk)
{
    static const uint8_t binary[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n";
    struct process_limits l = apphost_limits();
    struct process *p = (struct process *)&host;

    status_trail_reset();
    ck_assert_int_eq(process_new(1, "bin", binary, sizeof(binary) - 1, &l, &host.host,
                                 host.sealing_secret, &p),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_eq(p, (struct process *)&host);
    ck_assert_ptr_nonnull(strstr(status_trail_message(), "binary"));
}
END_TEST

START_TEST(test_process_rejects_syntax_error_with_message)
{
    static const char src[] = "function broken(";
    struct process_limits l = apphost_limits();
    struct process *p = NULL;

    status_trail_reset();
    ck_assert_int_eq(process_new(1, "bad", (const uint8_t *)src, strlen(src), &l, &host.host,
                                 host.sealing_secret, &p),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_null(p);
    ck_assert_ptr_nonnull(strstr(status_trail_message(), "bad:1:"));
}
END_TEST

START_TEST(test_process_rejects_runtime_error_at_top_level)
{
    static const char src[] = "error('nope')";
    struct process_limits l = apphost_limits();
    struct process *p = NULL;

    status_trail_reset();
    ck_assert_int_eq(process_new(1, "bad", (const uint8_t *)src, strlen(src), &l, &host.host,
                                 host.sealing_secret, &p),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(status_trail_message(), "bad:1: nope");
}
END_TEST

START_TEST(test_process_top_level_loop_hits_deadline)
{
    static const char src[] = "while true do end";
    struct process_limits l = apphost_limits();
    struct process *p = NULL;

    ck_assert_int_eq(process_new(1, "spin", (const uint8_t *)src, strlen(src), &l, &host.host,
                                 host.sealing_secret, &p),
                     STATUS_DEADLINE_EXCEEDED);
}
END_TEST

START_TEST(test_process_missing_hook_is_success_without_outputs)
{
    struct process *p = apphost_new(&host, "x = 1");

    ck_assert_int_eq(process_handle_create(p, 7, PROCESS_CHAN_CLIENT_NK), STATUS_OK);
    ck_assert_int_eq(apphost_send(p, 7, "hi"), STATUS_OK);
    ck_assert_int_eq(process_handle_close(p, 7), STATUS_OK);
    ck_assert_uint_eq(host.count, 0);
    process_free(p);
}
END_TEST

START_TEST(test_process_hooks_get_arguments_and_deliver_in_order)
{
    static const char src[] =
        "function HandleChannelCreate(cid, t) return {{cid, 'create ' .. t}, {cid, 'second'}} end\n"
        "function HandleChannelMessage(cid, m) return {{cid, 'msg ' .. #m}} end\n"
        "function HandleChannelClose(cid) return {{8, 'closed ' .. cid}} end\n";
    struct process *p = apphost_new(&host, src);
    static const uint8_t binary_msg[] = {0, 1, 2};

    ck_assert_int_eq(process_handle_create(p, 7, PROCESS_CHAN_SERVER_KK), STATUS_OK);
    ck_assert_int_eq(process_handle_message(p, 7, binary_msg, sizeof(binary_msg)), STATUS_OK);
    ck_assert_int_eq(process_handle_close(p, 7), STATUS_OK);
    ck_assert_uint_eq(host.count, 4);
    ck_assert_str_eq(host.outs[0].data, "create 3");
    ck_assert_str_eq(host.outs[1].data, "second");
    ck_assert_str_eq(host.outs[2].data, "msg 3");
    ck_assert_uint_eq(host.outs[3].cid, 8);
    ck_assert_str_eq(host.outs[3].data, "closed 7");
    process_free(p);
}
END_TEST

START_TEST(test_process_echo_app_echoes_bytes)
{
    static const uint8_t msg[] = {'a', 0, 'b', 0xff};
    struct process *p = apphost_new(&host, echo_app);

    ck_assert_int_eq(process_handle_message(p, 9, msg, sizeof(msg)), STATUS_OK);
    ck_assert_uint_eq(host.count, 1);
    ck_assert_uint_eq(host.outs[0].cid, 9);
    ck_assert_int_eq(host.outs[0].is_close, 0);
    ck_assert_uint_eq(host.outs[0].len, sizeof(msg));
    ck_assert_mem_eq(host.outs[0].data, msg, sizeof(msg));
    process_free(p);
}
END_TEST

START_TEST(test_process_broadcast_app_from_readme)
{
    struct process *p = apphost_new(&host, broadcast_app);

    for (uint32_t cid = 7; cid <= 9; cid++) {
        ck_assert_int_eq(process_handle_create(p, cid, PROCESS_CHAN_CLIENT_NK), STATUS_OK);
    }
    ck_assert_int_eq(apphost_send(p, 8, "hello"), STATUS_OK);
    ck_assert_uint_eq(host.count, 2);
    ck_assert_uint_ne(host.outs[0].cid, host.outs[1].cid);
    for (size_t i = 0; i < 2; i++) {
        ck_assert(host.outs[i].cid == 7 || host.outs[i].cid == 9);
        ck_assert_str_eq(host.outs[i].data, "hello");
    }
    apphost_reset(&host);
    ck_assert_int_eq(process_handle_close(p, 9), STATUS_OK);
    ck_assert_int_eq(apphost_send(p, 8, "again"), STATUS_OK);
    ck_assert_uint_eq(host.count, 1);
    ck_assert_uint_eq(host.outs[0].cid, 7);
    process_free(p);
}
END_TEST

START_TEST(test_process_close_output_carries_status)
{
    struct process *p = apphost_new(&host, torture_app);

    ck_assert_int_eq(apphost_send(p, 7, "close"), STATUS_OK);
    ck_assert_uint_eq(host.count, 2);
    ck_assert_int_eq(host.outs[1].is_close, 1);
    ck_assert_int_eq(host.outs[1].status, STATUS_ABORTED);
    process_free(p);
}
END_TEST

/* Behaviour-selecting messages and the status each must produce; every row
 * delivers nothing and leaves the process usable. */
static const struct {
    const char *msg;
    status_t want;
    const char *detail;  /* substring of the trail message, or NULL */
} failing_rows[] = {
    {"error", STATUS_INTERNAL, "test:"},
    {"table-error", STATUS_INTERNAL, "table value"},
    {"partial", STATUS_INTERNAL, "output 2"},
    {"non-table", STATUS_INTERNAL, "string"},
    {"bad-entry", STATUS_INTERNAL, "output 1 is not a table"},
    {"float-cid", STATUS_INTERNAL, "channel id"},
    {"bad-status", STATUS_INTERNAL, "STATUS_"},
    {"foreign", STATUS_INTERNAL, "channel 999"},
    {"big", STATUS_RESOURCE_EXHAUSTED, "exceeds"},
    {"many", STATUS_RESOURCE_EXHAUSTED, "outputs exceed"},
    {"loop", STATUS_DEADLINE_EXCEEDED, "instruction"},
    {"pcall-loop", STATUS_DEADLINE_EXCEEDED, "instruction"},
    {"coroutine-loop", STATUS_DEADLINE_EXCEEDED, "instruction"},
    {"string", STATUS_RESOURCE_EXHAUSTED, "memory"},
    {"pcall-string", STATUS_RESOURCE_EXHAUSTED, "memory"},
    {"table", STATUS_RESOURCE_EXHAUSTED, "memory"},
    {"gsub", STATUS_INTERNAL, NULL},
};

START_TEST(test_process_failing_hook_delivers_nothing_and_recovers)
{
    struct process *p = apphost_new(&host, torture_app);

    for (size_t i = 0; i < sizeof(failing_rows) / sizeof(failing_rows[0]); i++) {
        apphost_reset(&host);
        status_t s = apphost_send(p, 7, failing_rows[i].msg);
        ck_assert_msg(s == failing_rows[i].want, "%s: got %s (%s)", failing_rows[i].msg,
                      status_name(s), status_trail_message());
        ck_assert_msg(host.count == 0, "%s delivered output", failing_rows[i].msg);
        if (failing_rows[i].detail != NULL) {
            ck_assert_msg(strstr(status_trail_message(), failing_rows[i].detail) != NULL,
                          "%s: message '%s'", failing_rows[i].msg, status_trail_message());
        }
        ck_assert_uint_le(strlen(status_trail_message()), PROCESS_ERROR_MAX);
        assert_still_works(p);
    }
    process_free(p);
}
END_TEST

/* Each fresh coroutine pays a full hook period up front, so spawning many
 * short ones cannot stretch the budget: with 10^7 instructions and a period
 * of 1000, at most about 10^4 coroutines run. */
START_TEST(test_process_coroutine_spawning_is_charged)
{
    static const char src[] =
        "n = 0\n"
        "function HandleChannelMessage(cid, msg)\n"
        "  if msg == 'count' then return {{cid, tostring(n)}} end\n"
        "  for i = 1, 1e9 do\n"
        "    n = n + 1\n"
        "    if msg == 'wrap' then coroutine.wrap(function() for j = 1, 300 do end end)()\n"
        "    else coroutine.resume(coroutine.create(function() for j = 1, 300 do end end)) end\n"
        "  end\n"
        "end\n";
    static const char *const kinds[] = {"wrap", "create"};
    struct process *p = apphost_new(&host, src);

    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(apphost_send(p, 7, "count"), STATUS_OK);
        long before = strtol(host.outs[0].data, NULL, 10);
        apphost_reset(&host);
        ck_assert_int_eq(apphost_send(p, 7, kinds[i]), STATUS_DEADLINE_EXCEEDED);
        ck_assert_int_eq(apphost_send(p, 7, "count"), STATUS_OK);
        long spawned = strtol(host.outs[0].data, NULL, 10) - before;
        apphost_reset(&host);
        ck_assert_msg(spawned > 1000 && spawned <= 10000, "%s: %ld coroutines ran", kinds[i],
                      spawned);
    }
    process_free(p);
}
END_TEST

START_TEST(test_process_error_text_is_bounded)
{
    struct process *p = apphost_new(&host, torture_app);

    ck_assert_int_eq(apphost_send(p, 7, "long-error"), STATUS_INTERNAL);
    ck_assert_uint_eq(strlen(status_trail_message()), PROCESS_ERROR_MAX);
    process_free(p);
}
END_TEST

START_TEST(test_process_deep_recursion_fails_cleanly)
{
    struct process *p = apphost_new(&host, torture_app);
    status_t s = apphost_send(p, 7, "recurse");

    ck_assert_msg(s == STATUS_INTERNAL || s == STATUS_RESOURCE_EXHAUSTED, "got %s", status_name(s));
    ck_assert_uint_eq(host.count, 0);
    assert_still_works(p);
    process_free(p);
}
END_TEST

START_TEST(test_process_memory_is_returned_after_exhaustion)
{
    struct process *p = apphost_new(&host, torture_app);
    size_t before = process_memory_used(p);

    ck_assert_int_eq(apphost_send(p, 7, "table"), STATUS_RESOURCE_EXHAUSTED);
    /* The failed call's garbage is gone, not pinned by stale stack slots. */
    ck_assert_uint_lt(process_memory_used(p), before + (1u << 20));
    ck_assert_int_eq(apphost_send(p, 7, "ok"), STATUS_OK);
    /* The garbage is collectable: another round must not fail earlier. */
    ck_assert_int_eq(apphost_send(p, 7, "string"), STATUS_RESOURCE_EXHAUSTED);
    ck_assert_uint_lt(process_memory_used(p), before + (1u << 20));
    process_free(p);
}
END_TEST

START_TEST(test_process_small_memory_cap_refuses_creation)
{
    struct process_limits l = apphost_limits();
    struct process *p = NULL;

    l.memory_cap = 4096;
    ck_assert_int_eq(process_new(1, "tiny", (const uint8_t *)echo_app, strlen(echo_app), &l,
                                 &host.host, host.sealing_secret, &p),
                     STATUS_RESOURCE_EXHAUSTED);
    ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_process_idle_memory_is_small)
{
    struct process *p = apphost_new(&host, echo_app);

    fprintf(stderr, "idle process memory: %zu bytes\n", process_memory_used(p));
    ck_assert_uint_le(process_memory_used(p), 32 * 1024);
    process_free(p);
}
END_TEST

START_TEST(test_process_new_allocation_failure_sweep)
{
    struct process_limits l = apphost_limits();
    long n;

    for (n = 0;; n++) {
        struct process *p = NULL;
        status_trail_reset();
        alloc_fail_after(n);
        status_t s = process_new(1, "sweep", (const uint8_t *)broadcast_app, strlen(broadcast_app),
                                 &l, &host.host, host.sealing_secret, &p);
        alloc_fail_disable();
        if (s == STATUS_OK) {
            ck_assert_ptr_nonnull(p);
            process_free(p);
            break;
        }
        ck_assert_msg(s == STATUS_RESOURCE_EXHAUSTED, "n=%ld: %s (%s)", n, status_name(s),
                      status_trail_message());
        ck_assert_ptr_null(p);
    }
    ck_assert_int_gt(n, 10);
}
END_TEST

START_TEST(test_process_hook_allocation_failure_sweep)
{
    struct process *p = apphost_new(&host, broadcast_app);
    long n;

    ck_assert_int_eq(process_handle_create(p, 7, PROCESS_CHAN_CLIENT_NK), STATUS_OK);
    ck_assert_int_eq(process_handle_create(p, 8, PROCESS_CHAN_CLIENT_NK), STATUS_OK);
    for (n = 0;; n++) {
        apphost_reset(&host);
        alloc_fail_after(n);
        status_t s = apphost_send(p, 7, "fan out");
        alloc_fail_disable();
        if (s == STATUS_OK) {
            ck_assert_uint_eq(host.count, 1);
            break;
        }
        ck_assert_int_eq(s, STATUS_RESOURCE_EXHAUSTED);
        ck_assert_uint_eq(host.count, 0);
    }
    process_free(p);
}
END_TEST

static Suite *process_suite(void)
{
    Suite *s = suite_create("process");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_process_create_and_free);
    tcase_add_test(tc, test_process_code_hash_is_sha256_of_source);
    tcase_add_test(tc, test_process_name_is_truncated);
    tcase_add_test(tc, test_process_rejects_binary_chunk);
    tcase_add_test(tc, test_process_rejects_syntax_error_with_message);
    tcase_add_test(tc, test_process_rejects_runtime_error_at_top_level);
    tcase_add_test(tc, test_process_top_level_loop_hits_deadline);
    tcase_add_test(tc, test_process_missing_hook_is_success_without_outputs);
    tcase_add_test(tc, test_process_hooks_get_arguments_and_deliver_in_order);
    tcase_add_test(tc, test_process_echo_app_echoes_bytes);
    tcase_add_test(tc, test_process_broadcast_app_from_readme);
    tcase_add_test(tc, test_process_close_output_carries_status);
    tcase_add_test(tc, test_process_failing_hook_delivers_nothing_and_recovers);
    tcase_add_test(tc, test_process_coroutine_spawning_is_charged);
    tcase_add_test(tc, test_process_error_text_is_bounded);
    tcase_add_test(tc, test_process_deep_recursion_fails_cleanly);
    tcase_add_test(tc, test_process_memory_is_returned_after_exhaustion);
    tcase_add_test(tc, test_process_small_memory_cap_refuses_creation);
    tcase_add_test(tc, test_process_idle_memory_is_small);
    tcase_add_test(tc, test_process_new_allocation_failure_sweep);
    tcase_add_test(tc, test_process_hook_allocation_failure_sweep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(process_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
