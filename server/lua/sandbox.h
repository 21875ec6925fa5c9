/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The private global table of a Lua process (DESIGN §5, STYLE §3.6), built
 * in C from static allow-lists: a few base functions, protected
 * setmetatable/getmetatable, a print that logs at debug level, the string
 * (without dump), table, math, utf8 and coroutine libraries, the CHAN_* and
 * STATUS_* constants and the `enclave` table. It never opens io, os,
 * package or debug, and it does not run or limit code (process.c does).
 *
 * Ownership: everything built lives in the Lua state and dies with it.
 * Loop thread only.
 */
#ifndef ENCLAVED_SANDBOX_H
#define ENCLAVED_SANDBOX_H

#include <stdint.h>

#include <lua.h>

#include "base/status.h"

/* Debug builds check the stack effect a helper declares (STYLE §3.5). */
#ifndef NDEBUG
#define STACK_GUARD_BEGIN(L) const int stack_guard_top_ = lua_gettop(L)
#define STACK_GUARD_END(L, delta) ENCLAVED_ASSERT(lua_gettop(L) == stack_guard_top_ + (delta))
#else
#define STACK_GUARD_BEGIN(L) ((void)0)
#define STACK_GUARD_END(L, delta) ((void)0)
#endif

#include "lua/identity.h"

/* Pushes the env table for the process id describes (borrowed; it outlives
 * the state) and installs it as the state's global
 * table (the registry's LUA_RIDX_GLOBALS), so chunks loaded afterwards get it
 * as _ENV and the base library's full global table becomes garbage. Env and
 * library tables carry a protected metatable: apps can neither read nor
 * replace it. Call once per state, in protected mode. [-0, +1, m] */
void sandbox_push_env(lua_State *L, const struct process_identity *id);

#endif
