/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Targets pattern_install's string.find/match/gmatch/gsub (pattern.c) against Lua 5.4's own string library, differentially. */
/*
 * Input: one byte of flags, then pattern and subject separated by the first
 * 0xff byte (pattern up to 48 bytes, subject up to 64). Ours runs first with
 * a step budget; only when it finishes within the budget does Lua's matcher
 * run too (both backtrack alike, so Lua finishes as well), and then both
 * must give the same results, captures, positions and error messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "fuzz.h"
#include "base/status.h"
#include "lua/pattern.h"

enum { PATTERN_MAX = 48, SUBJECT_MAX = 64, STEP_BUDGET = 200000 };

static uint64_t steps;

static void charge(lua_State *L, uint64_t n)
{
    steps += n;
    if (steps > STEP_BUDGET) {
        luaL_error(L, "step budget spent");
    }
}

static const struct pattern_budget budget = {charge};

/* Calls lib.fn(s, p, extra) under pcall and returns a string describing
 * the results (or the error). fn is "find", "plain", "match", "gmatch" or
 * "gsub"; lib is the global "string" or "mine". [-0, +1, m] */
static const char compare_lua[] =
    "local lib, fn, s, p, init, repl = ...\n"
    "local function show(ok, ...)\n"
    "  local t = {tostring(ok)}\n"
    "  for i = 1, select('#', ...) do local v = select(i, ...) t[#t + 1] = (math.type(v) or type(v)) .. ':' .. tostring(v) end\n"
    "  return table.concat(t, '|')\n"
    "end\n"
    "if fn == 'plain' then return show(pcall(lib.find, s, p, init, true)) end\n"
    "if fn == 'gmatch' then\n"
    "  return show(pcall(function()\n"
    "    local out = {}\n"
    "    for a, b in lib.gmatch(s, p, init) do out[#out + 1] = tostring(a) .. ',' .. tostring(b) if #out > 70 then break end end\n"
    "    return table.concat(out, ';')\n"
    "  end))\n"
    "end\n"
    "if fn == 'gsub' then return show(pcall(lib.gsub, s, p, repl)) end\n"
    "return show(pcall(lib[fn], s, p, init))\n";

static const char *const functions[] = {"find", "plain", "match", "gmatch", "gsub"};
static const char *const replacements[] = {"%0%0", "<%1>", "%%", "x", "%2"};

static char *run(lua_State *L, const char *lib, int fn, const uint8_t *s, size_t slen,
                 const uint8_t *p, size_t plen, int init, int repl)
{
    ENCLAVED_ASSERT(luaL_loadstring(L, compare_lua) == LUA_OK);
    lua_getglobal(L, lib);
    lua_pushstring(L, functions[fn]);
    lua_pushlstring(L, (const char *)s, slen);
    lua_pushlstring(L, (const char *)p, plen);
    lua_pushinteger(L, init);
    lua_pushstring(L, replacements[repl]);
    ENCLAVED_ASSERT(lua_pcall(L, 6, 1, 0) == LUA_OK);
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    char *copy = malloc(len + 1);
    ENCLAVED_ASSERT(copy != NULL);
    memcpy(copy, text, len + 1);
    lua_pop(L, 1);
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t flags = data[0];
    const uint8_t *rest = data + 1;
    size_t rest_len = size - 1;
    const uint8_t *sep = memchr(rest, 0xff, rest_len);
    size_t plen = sep != NULL ? (size_t)(sep - rest) : rest_len;
    const uint8_t *s = sep != NULL ? sep + 1 : rest + rest_len;
    size_t slen = sep != NULL ? rest_len - plen - 1 : 0;
    if (plen > PATTERN_MAX || slen > SUBJECT_MAX) {
        return 0;
    }
    int fn = flags % 5;
    int init = (int)((flags >> 3) & 7) - 2;
    int repl = (flags >> 6) % 5;

    lua_State *L = luaL_newstate();
    ENCLAVED_ASSERT(L != NULL);
    luaL_openlibs(L);
    lua_createtable(L, 0, 4);
    pattern_install(L, -1, &budget);
    lua_setglobal(L, "mine");
    steps = 0;
    char *ours = run(L, "mine", fn, s, slen, rest, plen, init, repl);
    if (strstr(ours, "step budget spent") == NULL) {
        char *theirs = run(L, "string", fn, s, slen, rest, plen, init, repl);
        if (strcmp(ours, theirs) != 0) {
            fprintf(stderr, "mismatch: %s\n  lua:  %s\n  ours: %s\n", functions[fn], theirs, ours);
            abort();
        }
        free(theirs);
    }
    free(ours);
    lua_close(L);
    return 0;
}
