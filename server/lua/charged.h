/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Charging versions of the string, table and utf8 library functions
 * (DESIGN §5 "Containment"): each charges the running call's budget
 * (budget_charge) in proportion to the bytes or elements it will touch
 * before it touches them, or refuses arguments it cannot bound, and then
 * does the stock function's job, so no library call can run long in few VM
 * instructions. Pattern functions (find, match, gmatch, gsub) come from
 * pattern.c's matcher, which counts its steps. The README's audit table
 * lists every function and how it is bounded; functions that do O(1) work
 * (math.*, string.len, coroutine.status, ...) are left as they are.
 *
 * Ownership: everything installed lives in the Lua state. Loop thread only.
 */
#ifndef ENCLAVED_CHARGED_H
#define ENCLAVED_CHARGED_H

#include <lua.h>

/* Replaces the functions of env.string, env.table and env.utf8 (env at
 * index env) with charging ones; the stock function, where one is reused,
 * becomes upvalue 1. [-0, +0, m] */
void charged_install(lua_State *L, int env);

#endif
