/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luacheck.h"
#include "base/status.h"

START_TEST(test_sandbox_removed_globals_are_nil)
{
    luacheck_run(
        "for _, name in ipairs({'io', 'os', 'debug', 'package', 'require', 'load',\n"
        "    'loadstring', 'loadfile', 'dofile', 'collectgarbage', 'rawget', 'rawset',\n"
        "    'rawequal', 'rawlen', 'module', 'setfenv', 'getfenv', 'unpack', 'warn'}) do\n"
        "  assert(_ENV[name] == nil, name .. ' is reachable')\n"
        "end\n");
}
END_TEST

START_TEST(test_sandbox_env_holds_exactly_the_allow_list)
{
    luacheck_run(
        "local allowed = {}\n"
        "for _, n in ipairs({'assert', 'error', 'ipairs', 'next', 'pairs', 'pcall', 'select',\n"
        "    'tonumber', 'tostring', 'type', 'xpcall', '_VERSION', 'print', 'setmetatable',\n"
        "    'getmetatable', '_G', 'string', 'table', 'math', 'utf8', 'coroutine', 'enclave',\n"
        "    'CHAN_UNENCRYPTED', 'CHAN_CLIENT_NK', 'CHAN_SERVER_KK', 'hex', 'fails'}) do\n"
        "  allowed[n] = true\n"
        "end\n"
        "for k in pairs(_ENV) do\n"
        "  assert(allowed[k] or k:match('^STATUS_'), 'unexpected global ' .. tostring(k))\n"
        "end\n"
        "for k in pairs(allowed) do\n"
        "  assert(k == 'hex' or k == 'fails' or _ENV[k] ~= nil, 'missing global ' .. k)\n"
        "end\n"
        "assert(_VERSION == 'Lua 5.4')\n");
}
END_TEST

START_TEST(test_sandbox_string_dump_is_unreachable)
{
    luacheck_run(
        "assert(string.dump == nil)\n"
        "assert(('').dump == nil)\n"
        "local mt = getmetatable('')\n"
        "assert(mt == nil or type(mt) ~= 'table' or mt.__index == nil or mt.__index.dump == nil)\n"
        "assert(('abc'):upper() == 'ABC')\n");
}
END_TEST

START_TEST(test_sandbox_library_tables_and_env_are_protected)
{
    luacheck_run(
        "for _, t in ipairs({_ENV, string, table, math, utf8, coroutine, enclave}) do\n"
        "  assert(getmetatable(t) == false)\n"
        "  assert(fails(setmetatable, t, {}))\n"
        "  assert(fails(setmetatable, t, nil))\n"
        "end\n"
        "local m = enclave.fixedmap(1, 1)\n"
        "assert(getmetatable(m) == nil)\n"
        "assert(fails(setmetatable, m, {}))\n");
}
END_TEST

START_TEST(test_sandbox_user_metatables_honour_metatable_field)
{
    luacheck_run(
        "local t = setmetatable({}, {__metatable = 'locked', __index = {x = 1}})\n"
        "assert(t.x == 1)\n"
        "assert(getmetatable(t) == 'locked')\n"
        "assert(fails(setmetatable, t, {}))\n"
        "local u = {}\n"
        "local mt = {}\n"
        "assert(setmetatable(u, mt) == u and getmetatable(u) == mt)\n"
        "assert(setmetatable(u, nil) == u and getmetatable(u) == nil)\n"
        "assert(fails(setmetatable, 'str', {}))\n"
        "assert(fails(setmetatable, {}, 5))\n");
}
END_TEST

START_TEST(test_sandbox_no_userdata_or_registry_is_reachable)
{
    /* Walks every table reachable from the env, including metatables, and
     * finds no userdata (light or full), thread or stray table. */
    luacheck_run(
        "assert(debug == nil)\n"
        "local seen = {}\n"
        "local function walk(v, path)\n"
        "  local t = type(v)\n"
        "  assert(t ~= 'userdata' and t ~= 'thread', 'found ' .. t .. ' at ' .. path)\n"
        "  if t == 'table' and not seen[v] then\n"
        "    seen[v] = true\n"
        "    for k, x in next, v do walk(k, path .. '.<key>') walk(x, path .. '.' .. tostring(k)) end\n"
        "    local mt = getmetatable(v)\n"
        "    if mt ~= nil then walk(mt, path .. '.<mt>') end\n"
        "  end\n"
        "end\n"
        "walk(_ENV, '_ENV')\n"
        "walk(getmetatable(''), 'string_mt')\n");
}
END_TEST

START_TEST(test_sandbox_constants_have_the_right_values)
{
    char src[4096];
    int used = snprintf(src, sizeof(src),
                        "assert(CHAN_UNENCRYPTED == 1 and CHAN_CLIENT_NK == 2 and "
                        "CHAN_SERVER_KK == 3)\n"
                        "assert(math.type(STATUS_OK) == 'integer')\n");
#define CHECK_STATUS(name, num, msg)                                                  \
    used += snprintf(src + used, sizeof(src) - (size_t)used,                          \
                     "assert(STATUS_" #name " == " #num ", 'STATUS_" #name "')\n");
    STATUS_LIST(CHECK_STATUS)
#undef CHECK_STATUS
    ck_assert_int_lt(used, (int)sizeof(src));
    luacheck_run(src);
    luacheck_run("assert(STATUS_OK == 0 and STATUS_UNAUTHENTICATED == 16)\n");
}
END_TEST

START_TEST(test_sandbox_allowed_libraries_work)
{
    luacheck_run(
        "local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)\n"
        "assert(co(1) == 2 and co(5) == 10)\n"
        "assert(table.concat({1, 2, 3}, ',') == '1,2,3')\n"
        "assert(math.max(3, 9) == 9 and math.type(1) == 'integer')\n"
        "assert(utf8.char(72, 105) == 'Hi')\n"
        "assert(select('#', 1, 2, 3) == 3 and tonumber('0x10') == 16)\n"
        "assert(not pcall(error, 'x') and select(2, xpcall(error, function(e) return 'h' end)) == 'h')\n"
        "local n = 0 for k, v in pairs({a = 1}) do n = n + 1 end assert(n == 1)\n"
        "print('print is allowed', 1, nil, {})\n");
}
END_TEST

START_TEST(test_sandbox_library_changes_stay_in_one_process)
{
    luacheck_run("string.upper = nil; table.insert = nil; CHAN_CLIENT_NK = 9\n");
    luacheck_run("assert(string.upper ~= nil and table.insert ~= nil and CHAN_CLIENT_NK == 2)\n");
}
END_TEST

static Suite *sandbox_suite(void)
{
    Suite *s = suite_create("sandbox");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_sandbox_removed_globals_are_nil);
    tcase_add_test(tc, test_sandbox_env_holds_exactly_the_allow_list);
    tcase_add_test(tc, test_sandbox_string_dump_is_unreachable);
    tcase_add_test(tc, test_sandbox_library_tables_and_env_are_protected);
    tcase_add_test(tc, test_sandbox_user_metatables_honour_metatable_field);
    tcase_add_test(tc, test_sandbox_no_userdata_or_registry_is_reachable);
    tcase_add_test(tc, test_sandbox_constants_have_the_right_values);
    tcase_add_test(tc, test_sandbox_allowed_libraries_work);
    tcase_add_test(tc, test_sandbox_library_changes_stay_in_one_process);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sandbox_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
