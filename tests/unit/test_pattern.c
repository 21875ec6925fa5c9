/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * pattern.c against Lua 5.4's own string library, differentially: many
 * thousand generated patterns and subjects through find (pattern and
 * plain), match, gmatch and gsub (string, table and function
 * replacements); every result, capture, position and error message must
 * be the same. Plus the step accounting: a backtracking pattern that makes
 * Lua's matcher run for hours is stopped by the charge function.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua/pattern.h"

static uint64_t steps_charged;
static uint64_t steps_allowed;

static void count_steps(lua_State *L, uint64_t steps)
{
    steps_charged += steps;
    if (steps_charged > steps_allowed) {
        luaL_error(L, "step budget spent");
    }
}

static const struct pattern_budget test_budget = {count_steps};

/* A state with the stock libraries and `mine`, a table holding our find,
 * match, gmatch and gsub. */
static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();

    ck_assert_ptr_nonnull(L);
    luaL_openlibs(L);
    lua_createtable(L, 0, 4);                   /* mine */
    pattern_install(L, -1, &test_budget);
    lua_setglobal(L, "mine");                   /* */
    steps_charged = 0;
    steps_allowed = UINT64_MAX;
    return L;
}

static void run(lua_State *L, const char *src)
{
    if (luaL_dostring(L, src) != LUA_OK) {
        ck_abort_msg("%s", lua_tostring(L, -1));
    }
}

/* The generator and comparer, in Lua: pattern atoms cover every item of
 * manual §6.4.1 (classes, sets, ranges, complements, escapes, quantifiers,
 * captures, position captures, back-references, %b, %f, anchors) and
 * malformed fragments. */
static const char differential_lua[] =
    "local seed, cases = ...\n"
    "math.randomseed(seed)\n"
    "local atoms = {'a', 'b', 'c', '.', '%a', '%d', '%w', '%s', '%p', '%A', '%S', '%x',\n"
    "  '[ab]', '[^a]', '[a-c]', '[%a_]', '[]]', '[^]a]', '[a-]', '[%]]', '%%', '%.', '%(',\n"
    "  '(', ')', '()', '%b()', '%bab', '%f[ab]', '%f[%s]', '%f[^a]', '%1', '%2', '%0',\n"
    "  '$', '^', 'x', '%', '[', ']', '-', '*', '+', '?', '%b', '%f', '[a', '%z', '%g'}\n"
    "local quants = {'', '', '', '*', '+', '-', '?'}\n"
    "local chars = {'a', 'b', 'c', '(', ')', '1', ' ', '.', '%', 'x', '_', ']', '\\0'}\n"
    "local function pattern()\n"
    "  local t = {}\n"
    "  for i = 1, math.random(0, 6) do t[#t + 1] = atoms[math.random(#atoms)] .. quants[math.random(#quants)] end\n"
    "  return table.concat(t)\n"
    "end\n"
    "local function subject()\n"
    "  local t = {}\n"
    "  for i = 1, math.random(0, 12) do t[#t + 1] = chars[math.random(#chars)] end\n"
    "  return table.concat(t)\n"
    "end\n"
    "local function pack(ok, ...) return {ok = ok, n = select('#', ...), ...} end\n"
    "local function show(r)\n"
    "  local t = {tostring(r.ok)}\n"
    "  for i = 1, r.n do t[#t + 1] = math.type(r[i]) or type(r[i]) t[#t + 1] = string.format('%q', r[i]) end\n"
    "  return table.concat(t, ' ')\n"
    "end\n"
    "local function same(a, b)\n"
    "  if a.ok ~= b.ok or a.n ~= b.n then return false end\n"
    "  for i = 1, a.n do\n"
    "    if a[i] ~= b[i] or math.type(a[i]) ~= math.type(b[i]) then return false end\n"
    "  end\n"
    "  return true\n"
    "end\n"
    "local function collect(gm, s, p, init)\n"
    "  local out, n = {}, 0\n"
    "  for a, b, c in gm(s, p, init) do\n"
    "    n = n + 1 out[#out + 1] = tostring(a) .. '|' .. tostring(b) .. '|' .. tostring(c)\n"
    "    if n > 40 then break end\n"
    "  end\n"
    "  return table.concat(out, ',')\n"
    "end\n"
    "local function counter(...) return select('#', ...) .. ':' .. tostring((...)) end\n"
    "local lookup = setmetatable({a = 'A', ab = false}, {__index = function(t, k) if k == 'b' then return 7 end end})\n"
    "local repls = {'<%0>', '%1%1', '%2', '%%', 'x%', '%a', '', 5, lookup, counter}\n"
    "local mismatches, first = 0, nil\n"
    "local function check(what, a, b)\n"
    "  if not same(a, b) then\n"
    "    mismatches = mismatches + 1\n"
    "    first = first or (what .. ': lua ' .. show(a) .. ' / ours ' .. show(b))\n"
    "  end\n"
    "end\n"
    "local lua = string\n"
    "for case = 1, cases do\n"
    "  local p, s = pattern(), subject()\n"
    "  local init = math.random(4) == 1 and math.random(-14, 14) or nil\n"
    "  local what = string.format('%q on %q init %s', p, s, tostring(init))\n"
    "  check('find ' .. what, pack(pcall(lua.find, s, p, init)), pack(pcall(mine.find, s, p, init)))\n"
    "  check('plain ' .. what, pack(pcall(lua.find, s, p, init, true)), pack(pcall(mine.find, s, p, init, true)))\n"
    "  check('match ' .. what, pack(pcall(lua.match, s, p, init)), pack(pcall(mine.match, s, p, init)))\n"
    "  check('gmatch ' .. what, pack(pcall(collect, lua.gmatch, s, p, init)), pack(pcall(collect, mine.gmatch, s, p, init)))\n"
    "  local r = repls[math.random(#repls)]\n"
    "  local max = math.random(3) == 1 and math.random(-1, 3) or nil\n"
    "  check('gsub ' .. what .. ' repl ' .. tostring(r), pack(pcall(lua.gsub, s, p, r, max)), pack(pcall(mine.gsub, s, p, r, max)))\n"
    "end\n"
    "return mismatches, first\n";

START_TEST(test_pattern_matches_lua_on_generated_cases)
{
    lua_State *L = new_state();
    const int cases = 6000;

    ck_assert_int_eq(luaL_loadstring(L, differential_lua), LUA_OK);
    lua_pushinteger(L, 1000 + _i);
    lua_pushinteger(L, cases);
    if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
        ck_abort_msg("%s", lua_tostring(L, -1));
    }
    ck_assert_msg(lua_tointeger(L, -2) == 0, "%lld mismatches of %d cases; first: %s",
                  (long long)lua_tointeger(L, -2), cases, lua_tostring(L, -1));
    lua_close(L);
}
END_TEST

START_TEST(test_pattern_handles_the_documented_examples)
{
    lua_State *L = new_state();

    run(L,
        "local f = mine.find\n"
        "assert(select(3, mine.find('hello world', '(o)(r)')) == 'o')\n"
        "assert(mine.match('key = value', '(%w+)%s*=%s*(%w+)') == 'key')\n"
        "assert(select(2, mine.gsub('hello world', 'o', '0')) == 2)\n"
        "assert(mine.gsub('hello world', '(%w+)', '<%1>') == '<hello> <world>')\n"
        "assert(mine.gsub('abc', '%w', '%0%0') == 'aabbcc')\n"
        "assert(mine.gsub('THE (quick) fox', '%f[%a]%a+', 'X') == 'X (X) X')\n"
        "assert(mine.match('x = (a(b)c)', '%b()') == '(a(b)c)')\n"
        "assert(mine.match('  trim  ', '^%s*(.-)%s*$') == 'trim')\n"
        "assert(mine.find('abc', 'b', 1, true) == 2)\n"
        "assert(mine.match('hello', '()ll()') == 3)\n"
        "local t = {} for k, v in mine.gmatch('a=1, b=2', '(%w+)=(%w+)') do t[k] = v end\n"
        "assert(t.a == '1' and t.b == '2')\n"
        "assert(mine.gsub('abc', '', '-') == '-a-b-c-')\n"
        "assert(mine.match('\\0a\\0', '%z') == nil or true)\n");
    lua_close(L);
}
END_TEST

/* string.find(string.rep('a', 1e5), '.-.-.-.-.-b') runs for hours in
 * Lua's matcher; ours charges every step and the budget stops it. */
START_TEST(test_pattern_backtracking_is_charged_and_stopped)
{
    static const char *const hostile[] = {
        "return mine.find(string.rep('a', 100000), '.-.-.-.-.-b')",
        "return mine.match(string.rep('a', 100000), '(.*)(.*)(.*)(.*)b')",
        "return mine.gsub(string.rep('a', 100000), 'a*a*a*a*b', '')",
        "for x in mine.gmatch(string.rep('(', 50000), '%b()') do end",
        "return mine.find(string.rep('a', 100000), '[' .. string.rep('b', 5000) .. ']')",
        "return mine.find(string.rep('a', 100000), string.rep('a?', 100) .. string.rep('a', 100) .. 'b')",
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        lua_State *L = new_state();
        steps_allowed = 5 * 1000 * 1000;
        int rc = luaL_dostring(L, hostile[i]);
        ck_assert_msg(rc != LUA_OK, "%s finished", hostile[i]);
        ck_assert_msg(strstr(lua_tostring(L, -1), "step budget spent") != NULL, "%s: %s",
                      hostile[i], lua_tostring(L, -1));
        ck_assert_uint_gt(steps_charged, steps_allowed);
        lua_close(L);
    }
}
END_TEST

/* The pure core: a stop request ends the attempt with PATTERN_STOPPED. */
static int stop_after(void *ctx, uint64_t steps)
{
    uint64_t *left = ctx;

    if (steps >= *left) {
        return 1;
    }
    *left -= steps;
    return 0;
}

START_TEST(test_pattern_core_stops_when_charge_says_so)
{
    static const char subject[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    static const char pat[] = "a*a*a*a*a*a*b";
    struct pattern_match m;
    uint64_t left = 10000;
    size_t end = 0;

    pattern_match_init(&m, (const uint8_t *)subject, strlen(subject), (const uint8_t *)pat,
                       strlen(pat), stop_after, &left);
    ck_assert_int_eq(pattern_match_at(&m, 0, &end), PATTERN_STOPPED);
    left = UINT64_MAX;
    pattern_match_init(&m, (const uint8_t *)"xab", 3, (const uint8_t *)"(a)(b)", 6, stop_after,
                       &left);
    ck_assert_int_eq(pattern_match_at(&m, 1, &end), PATTERN_MATCHED);
    ck_assert_uint_eq(end, 3);
    ck_assert_int_eq(m.captures, 2);
    ck_assert_uint_eq(m.capture[1].start, 2);
    ck_assert_int_eq(m.capture[1].len, 1);
    pattern_match_init(&m, (const uint8_t *)"a", 1, (const uint8_t *)"[a", 2, stop_after, &left);
    ck_assert_int_eq(pattern_match_at(&m, 0, &end), PATTERN_MALFORMED);
    ck_assert_str_eq(m.error, "malformed pattern (missing ']')");
}
END_TEST

static Suite *pattern_suite(void)
{
    Suite *s = suite_create("pattern");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_pattern_matches_lua_on_generated_cases, 0, 5);
    tcase_add_test(tc, test_pattern_handles_the_documented_examples);
    tcase_add_test(tc, test_pattern_backtracking_is_charged_and_stopped);
    tcase_add_test(tc, test_pattern_core_stops_when_charge_says_so);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pattern_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
