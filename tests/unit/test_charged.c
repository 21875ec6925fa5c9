/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * charged.c, budget.c and display.c through a process: the charging library
 * functions keep the stock results (table-driven Lua assertions), every
 * unbounded call is stopped with DEADLINE_EXCEEDED, and the hooks-off
 * paths are closed (setmetatable refuses __gc, xpcall's handler is skipped
 * for a limit error, a thread a limit stopped is never closed).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luacheck.h"
#include "base/status.h"

/* Results the stock functions give, checked through our versions. */
static const char *const same_results[] = {
    "assert(string.rep('ab', 3, ',') == 'ab,ab,ab' and string.rep('x', 0) == '' and string.rep('x', -1) == '')",
    "assert(select('#', string.byte('abc', 1, -1)) == 3 and string.byte('abc', -1) == 99)",
    "assert(string.char(104, 105) == 'hi' and string.upper('aB') == 'AB' and string.reverse('ab') == 'ba')",
    "assert(string.format('%5.1f|%s|%q|%%', 1.25, 12, 'a\\n') == '  1.2|12|\"a\\\\\\n\"|%')",
    "assert(string.unpack('<i4', string.pack('<i4', -7)) == -7 and string.packsize('i4i8') == 12)",
    "local t = {1, 2, 3} table.insert(t, 'x') table.insert(t, 1, 'y') assert(table.concat(t, ',') == 'y,1,2,3,x')",
    "local t = {1, 2, 3} assert(table.remove(t) == 3 and table.remove(t, 1) == 1 and #t == 1 and t[1] == 2)",
    "local t = {} assert(table.remove(t) == nil and table.remove(t, 0) == nil)",
    "assert(fails(table.insert, {1}, 5, 'x') and fails(table.insert, {}, 1, 2, 3))",
    "local t = table.move({1, 2, 3}, 1, 3, 2) assert(table.concat(t, '') == '1123')",
    "assert(select('#', table.unpack({1, 2, nil, 4}, 1, 4)) == 4 and table.unpack({5, 6}) == 5)",
    "local p = table.pack(1, nil, 3) assert(p.n == 3 and p[3] == 3)",
    "local t = {5, 1, 4, 2, 3} table.sort(t) assert(table.concat(t) == '12345')",
    "local t = {'b', 'c', 'a'} table.sort(t) assert(table.concat(t) == 'abc')",
    "local t = {3, 1, 2} table.sort(t, function(a, b) return a > b end) assert(table.concat(t) == '321')",
    "assert(fails(table.sort, {1, 2}, 5))",
    "local mt = {__len = function() return 2 end, __index = function(t, k) return 'v' .. k end}\n"
    "assert(table.concat(setmetatable({}, mt), ',') == 'v1,v2')",
    "assert(utf8.len('h\\xc3\\xa4') == 2 and utf8.char(228) == '\\xc3\\xa4' and utf8.codepoint('\\xc3\\xa4') == 228)",
    "local n = 0 for p, c in utf8.codes('ab') do n = n + c end assert(n == 195 and utf8.offset('ab', 2) == 2)",
    "assert(tonumber('0x10') == 16 and tonumber('z', 36) == 35 and tonumber('x') == nil and ('10' + 1) == 11)",
    "assert(select('#', 1, 2, 3) == 3 and select(-1, 1, 2, 3) == 3 and select(2, 'a', 'b') == 'b')",
    "local k, v = next({x = 1}) assert(k == 'x' and v == 1 and next({}) == nil)",
    "local n = 0 for k, v in pairs({1, 2, x = 3}) do n = n + v end assert(n == 6)",
    "local p = setmetatable({}, {__pairs = function(t) return function(_, k) if not k then return 1, 'one' end end, t, nil end})\n"
    "for k, v in pairs(p) do assert(k == 1 and v == 'one') end",
    "assert(xpcall(function() return 1 end, print) == true)",
    "local ok, e = xpcall(function() error('x') end, function(m) return 'handled ' .. m end) assert(not ok and e:find('handled'))",
    "assert(select(2, xpcall(error, function(m) return m end, 'raw')) == 'raw')",
    "local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end) assert(co(1) == 2 and co(5) == 10)",
    "local f = coroutine.wrap(function() error('inner') end) local ok, e = pcall(f) assert(not ok and e:find('inner'))",
    "local co = coroutine.create(function() coroutine.yield() end) coroutine.resume(co) assert(coroutine.close(co))",
    "assert(tostring({}):match('^table: #%d+$') and tostring(print):match('^function: #%d+$'))",
    "local t = {} assert(tostring(t) == tostring(t) and string.format('%p', t) == tostring(t):match('#%d+'))",
    "assert(string.format('%p', 1) == '(null)' and string.format('%p', 'x') == '(null)')",
    "assert(tostring(setmetatable({}, {__tostring = function() return 'custom' end})) == 'custom')",
    "assert(tostring(setmetatable({}, {__name = 'Thing'})):match('^Thing: #%d+$'))",
    "assert(fails(setmetatable, {}, {__gc = print}) and fails(setmetatable, {}, {__gc = false}))",
    "local mt = {} local t = setmetatable({}, mt) mt.__gc = print assert(fails(setmetatable, {}, mt))",
};

START_TEST(test_charged_functions_keep_stock_results)
{
    luacheck_run(same_results[_i]);
}
END_TEST

/* Each runs as HandleChannelMessage and must end with DEADLINE_EXCEEDED. */
static const char *const unbounded[] = {
    "string.rep('', 1e15)",
    "string.rep('x', 1e6, '') while true do end",
    "table.move({}, 1, 1e15, 2)",
    "table.insert(setmetatable({}, {__len = function() return 1e15 end}), 1, 'x')",
    "table.remove(setmetatable({}, {__len = function() return 1e15 end}), 1)",
    "table.concat(setmetatable({}, {__index = function() return '' end}), '', 1, 1e15)",
    "table.unpack({}, 1, 1e8)",
    "string.find(string.rep('a', 1e5), '.-.-.-.-.-b')",
    "string.gsub(string.rep('a', 1e5), 'a*a*a*a*b', '')",
    "local s = '' while true do s = s .. 'xxxxxxxxxxxxxxxx' end",
    "xpcall(function() while true do end end, function() while true do end end)",
    "coroutine.wrap(function() local x <close> = setmetatable({}, {__close = function() while true do end end}) while true do end end)()",
    "local co = coroutine.create(function() local x <close> = setmetatable({}, {__close = function() while true do end end}) while true do end end) coroutine.resume(co) coroutine.close(co)",
    "while true do pcall(string.rep, '', 1e15) end",
    "local s = string.rep('a', 1e6) while true do utf8.len(s) end",
    "local s = string.rep('1', 1e6) while true do pcall(function() return s + 1 end) end",
};

START_TEST(test_unbounded_calls_hit_the_deadline)
{
    char src[1024];
    struct apphost h;

    snprintf(src, sizeof(src), "function HandleChannelMessage(cid, msg)\n%s\nend\n", unbounded[_i]);
    apphost_init(&h);
    apphost_open(&h, 1);
    struct process *p = apphost_new(&h, src);
    status_t s = apphost_send(p, 1, "go");
    ck_assert_msg(s == STATUS_DEADLINE_EXCEEDED, "%s: %s (%s)", unbounded[_i], status_name(s),
                  status_trail_message());
    process_free(p);
    apphost_clear(&h);
}
END_TEST

/* The time limit, on its own: a budget too large to run out in time. */
START_TEST(test_deadline_stops_a_call_with_budget_left)
{
    struct process_limits l = apphost_limits();
    struct apphost h;
    struct process *p = NULL;
    static const char src[] = "function HandleChannelMessage() while true do end end\n";

    l.instructions = UINT64_C(1) << 40;
    /* Long enough that creating the state (the create-time run has the same
     * deadline) fits under qemu-ppc on a loaded machine; the loop still runs
     * into it long before 2^40 instructions. */
    l.hook_ms = 250;
    apphost_init(&h);
    apphost_open(&h, 1);
    ck_assert_int_eq(process_new(1, "t", (const uint8_t *)src, strlen(src), &l, &h.host, NULL, &p),
                     STATUS_OK);
    ck_assert_int_eq(apphost_send(p, 1, "go"), STATUS_DEADLINE_EXCEEDED);
    ck_assert_ptr_nonnull(strstr(status_trail_message(), "max_hook_ms"));
    process_free(p);
    apphost_clear(&h);
}
END_TEST

static Suite *charged_suite(void)
{
    Suite *s = suite_create("charged");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_charged_functions_keep_stock_results, 0,
                        (int)(sizeof(same_results) / sizeof(same_results[0])));
    tcase_add_loop_test(tc, test_unbounded_calls_hit_the_deadline, 0,
                        (int)(sizeof(unbounded) / sizeof(unbounded[0])));
    tcase_add_test(tc, test_deadline_stops_a_call_with_budget_left);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(charged_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
