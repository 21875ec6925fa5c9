/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * End-to-end: the HsmEnclave compatibility rules of DESIGN §5, one test
 * each, and the documented differences that apps can see (integer channel
 * ids, sequence numbers instead of heap addresses), over real TCP.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/client.h"
#include "calls.h"
#include "server.h"

static struct test_server ts;

/* These rules are not about time; a generous deadline keeps the 4 MiB
 * cases clear of it on a loaded machine (test_hostile runs the default). */
static void start_default(void)
{
    static const char *const args[] = {"--max-hook-ms", "2000", NULL};
    test_server_start(&ts, args);
}

static void stop_default(void)
{
    test_server_stop(&ts);
}

/* Receives one message on cid into a malloc'd NUL-terminated string. */
static char *recv_text(struct client *c, uint32_t cid)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char reason[256];
    status_t s = client_channel_recv(c, cid, 5000, &data, &len, reason, sizeof(reason));

    ck_assert_msg(s == STATUS_OK, "recv on %u: %s %s", cid, status_name(s), reason);
    char *text = malloc(len + 1);
    ck_assert_ptr_nonnull(text);
    memcpy(text, data, len);
    text[len] = '\0';
    free(data);
    return text;
}

/* Runs a one-shot app: its HandleChannelMessage returns {{cid, result}}
 * for any message; the result must be "ok". */
static void expect_app_says_ok(const char *name, const char *body)
{
    char app[4096];
    struct client *c = test_server_connect(&ts);

    snprintf(app, sizeof(app),
             "function HandleChannelMessage(cid, msg)\n%s\nend\n", body);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, name, app));
    e2e_send_text(c, cid, "?");
    e2e_expect_text(c, cid, "ok");
    client_free(c);
}

/* HsmEnclave's host closes an errored channel and its apps count on
 * hearing of it: a broadcast app must drop the id, or every later fan-out
 * addresses a dead channel and closes the sender with INTERNAL. */
START_TEST(test_close_hook_runs_for_a_channel_a_hook_error_closed)
{
    static const char app[] =
        "local members = {}\n"
        "function HandleChannelCreate(cid) members[cid] = true end\n"
        "function HandleChannelClose(cid) members[cid] = nil end\n"
        "function HandleChannelMessage(cid, msg)\n"
        "  if msg == 'boom' then error('boom') end\n"
        "  if msg == 'spin' then while true do end end\n"
        "  local out = {}\n"
        "  for m in pairs(members) do if m ~= cid then out[#out + 1] = {m, msg} end end\n"
        "  return out\n"
        "end\n";
    struct client *a = test_server_connect(&ts);
    struct client *b = test_server_connect(&ts);
    struct client *c = test_server_connect(&ts);
    uint32_t pid = e2e_create(a, "broadcast", app);
    uint32_t ca = e2e_open_raw(a, pid), cb = e2e_open_raw(b, pid), cc = e2e_open_raw(c, pid);

    e2e_send_text(a, ca, "boom");
    e2e_expect_closed(a, ca, STATUS_INTERNAL, "broadcast:5: boom");
    e2e_send_text(b, cb, "spin");
    e2e_expect_closed(b, cb, STATUS_DEADLINE_EXCEEDED, NULL);
    /* The app heard of both closes: c's fan-out reaches nobody dead. */
    e2e_send_text(c, cc, "hello");
    ck_assert_int_eq(client_ping(c), STATUS_OK);
    e2e_expect_silence(c, 100);
    uint32_t cb2 = e2e_open_raw(b, pid);
    e2e_send_text(c, cc, "again");
    e2e_expect_text(b, cb2, "again");
    e2e_send_text(b, cb2, "back");
    e2e_expect_text(c, cc, "back");
    client_free(a);
    client_free(b);
    client_free(c);
}
END_TEST

START_TEST(test_g_is_the_environment)
{
    expect_app_says_ok("g",
                       "  _G.fromG = 1\n"
                       "  assert(fromG == 1 and _G == _ENV and _G._G == _G)\n"
                       "  assert(_G.string == string and _G.enclave == enclave)\n"
                       "  return {{cid, 'ok'}}");
}
END_TEST

START_TEST(test_missing_or_empty_user_key_is_32_zero_bytes)
{
    expect_app_says_ok("keys",
                       "  local zero = string.rep('\\0', 32)\n"
                       "  assert(enclave.decrypt(enclave.encrypt('x'), zero) == 'x')\n"
                       "  assert(enclave.decrypt(enclave.encrypt('x', ''), zero) == 'x')\n"
                       "  assert(enclave.decrypt(enclave.encrypt('x', zero)) == 'x')\n"
                       "  assert(enclave.decrypt(enclave.encrypt('x', zero), '') == 'x')\n"
                       "  local other = string.rep('k', 32)\n"
                       "  assert(not pcall(enclave.decrypt, enclave.encrypt('x', other)))\n"
                       "  assert(enclave.decrypt(enclave.encrypt('x', other), zero .. other) == 'x')\n"
                       "  return {{cid, 'ok'}}");
}
END_TEST

START_TEST(test_fixedmap_sizes_from_zero_to_four_mib)
{
    expect_app_says_ok("maps",
                       "  local z = enclave.fixedmap(0, 0)\n"
                       "  assert(z:upsert('', '') == '' and z:get('') == '')\n"
                       "  local mib4 = 4 * 1024 * 1024\n"
                       "  local k = string.rep('k', mib4)\n"
                       "  local m = enclave.fixedmap(mib4, 1)\n"
                       "  assert(m:upsert(k, 'v') == '' and m:get(k) == 'v')\n"
                       "  local v = enclave.fixedmap(1, mib4)\n"
                       "  assert(v:upsert('a', k) == '' and v:get('a') == k)\n"
                       "  assert(not pcall(enclave.fixedmap, mib4 + 1, 1))\n"
                       "  assert(not pcall(enclave.fixedmap, 1, mib4 + 1))\n"
                       "  return {{cid, 'ok'}}");
}
END_TEST

START_TEST(test_output_list_ends_at_its_first_nil)
{
    static const char app[] =
        "function HandleChannelMessage(cid, msg)\n"
        "  return {{cid, 'first'}, {cid, 'second'}, nil, {cid, 'never'}, {cid, 'never'}}\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "holes", app));

    e2e_send_text(c, cid, "go");
    e2e_expect_text(c, cid, "first");
    e2e_expect_text(c, cid, "second");
    e2e_expect_silence(c, 100);
    client_free(c);
}
END_TEST

START_TEST(test_hooks_are_looked_up_once_after_the_source_ran)
{
    /* A close hook defined only later would tell the other channel. */
    static const char app[] =
        "channels = {}\n"
        "function HandleChannelMessage(cid, msg)\n"
        "  HandleChannelMessage = function(c) return {{c, 'replaced'}} end\n"
        "  HandleChannelClose = function(c)\n"
        "    local out = {}\n"
        "    for _, o in ipairs(channels) do if o ~= c then out[#out + 1] = {o, 'close-hook-ran'} end end\n"
        "    return out\n"
        "  end\n"
        "  return {{cid, 'original'}}\n"
        "end\n"
        "function HandleChannelCreate(cid)\n"
        "  channels[#channels + 1] = cid\n"
        "  HandleChannelCreate = nil\n"
        "  return {{cid, 'created'}}\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t pid = e2e_create(c, "once", app);
    uint32_t cid = e2e_open_raw(c, pid);

    e2e_expect_text(c, cid, "created");
    e2e_send_text(c, cid, "1");
    e2e_expect_text(c, cid, "original");
    e2e_send_text(c, cid, "2");
    e2e_expect_text(c, cid, "original");
    uint32_t again = e2e_open_raw(c, pid);
    e2e_expect_text(c, again, "created");
    ck_assert_int_eq(client_send_close(c, cid), STATUS_OK);
    e2e_expect_closed(c, cid, STATUS_OK, NULL);
    e2e_send_text(c, again, "3");
    e2e_expect_text(c, again, "original");
    client_free(c);
}
END_TEST

START_TEST(test_getmetatable_of_a_non_table_is_nil)
{
    expect_app_says_ok("meta",
                       "  assert(getmetatable('') == nil and getmetatable(1) == nil)\n"
                       "  assert(getmetatable(print) == nil and getmetatable(nil) == nil)\n"
                       "  assert(getmetatable(enclave.fixedmap(1, 1)) == nil)\n"
                       "  assert(getmetatable(coroutine.create(print)) == nil)\n"
                       "  local mt = {} assert(getmetatable(setmetatable({}, mt)) == mt)\n"
                       "  assert(('abc'):upper() == 'ABC')\n"
                       "  return {{cid, 'ok'}}");
}
END_TEST

START_TEST(test_process_name_is_the_chunk_name)
{
    static const char app[] =
        "\n\nfunction HandleChannelMessage(cid, msg)\n"
        "  error('boom')\n"
        "end\n";
    static const char bad[] = "\nlocal x = \n";
    struct client *c = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "kv", app));
    char msg[256];

    e2e_send_text(c, cid, "go");
    e2e_expect_closed(c, cid, STATUS_INTERNAL, "kv:4: boom");
    ck_assert_int_eq(client_process_create(c, "kv2", (const uint8_t *)bad, strlen(bad), 0, NULL,
                                           NULL, msg, sizeof(msg)),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strstr(msg, "kv2:") != NULL, "%s", msg);
    client_free(c);
}
END_TEST

/* Decided and documented: ids and types reach Lua as integers. */
START_TEST(test_channel_ids_and_types_are_integers)
{
    static const char app[] =
        "function HandleChannelCreate(cid, t)\n"
        "  return {{cid, math.type(cid) .. ' ' .. math.type(t) .. ' ' .. ('id=' .. cid):gsub('%d+', 'N')}}\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "ids", app));

    e2e_expect_text(c, cid, "integer integer id=N");
    client_free(c);
}
END_TEST

START_TEST(test_tostring_and_format_p_show_no_heap_address)
{
    static const char app[] =
        "function HandleChannelMessage(cid, msg)\n"
        "  local t, f = {}, function() end\n"
        "  local out = {tostring(t), tostring(f), tostring(print), tostring(coroutine.create(f)),\n"
        "    tostring(enclave.fixedmap(1, 1)), string.format('%p %p %10p', t, 1, t),\n"
        "    string.format('%s', t), tostring(t)}\n"
        "  print(t)\n"
        "  return {{cid, table.concat(out, '|')}}\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "addr", app));

    e2e_send_text(c, cid, "go");
    char *got = recv_text(c, cid);
    ck_assert_msg(strstr(got, "0x") == NULL, "%s", got);
    /* t is #1 the first time it is shown and keeps that number. */
    ck_assert_msg(strncmp(got, "table: #1|function: #2|function: #3|thread: #", 45) == 0, "%s",
                  got);
    ck_assert_msg(strstr(got, "|#1 (null)         #1|table: #1|table: #1") != NULL, "%s", got);
    free(got);
    client_free(c);
}
END_TEST

static Suite *compat_suite(void)
{
    Suite *s = suite_create("e2e-compat");
    TCase *tc = tcase_create("hsmenclave");

    tcase_add_unchecked_fixture(tc, start_default, stop_default);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_close_hook_runs_for_a_channel_a_hook_error_closed);
    tcase_add_test(tc, test_g_is_the_environment);
    tcase_add_test(tc, test_missing_or_empty_user_key_is_32_zero_bytes);
    tcase_add_test(tc, test_fixedmap_sizes_from_zero_to_four_mib);
    tcase_add_test(tc, test_output_list_ends_at_its_first_nil);
    tcase_add_test(tc, test_hooks_are_looked_up_once_after_the_source_ran);
    tcase_add_test(tc, test_getmetatable_of_a_non_table_is_nil);
    tcase_add_test(tc, test_process_name_is_the_chunk_name);
    tcase_add_test(tc, test_channel_ids_and_types_are_integers);
    tcase_add_test(tc, test_tostring_and_format_p_show_no_heap_address);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(compat_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
