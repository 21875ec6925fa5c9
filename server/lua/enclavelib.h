/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The `enclave` table Lua apps see (DESIGN §5): sha256, random, fixedmap,
 * timestamp_micros and log. Sealing (encrypt/decrypt, DESIGN §6) belongs to
 * seal.c and joins the same luaL_Reg when it lands. It does not build the
 * rest of the sandbox (sandbox.c) nor map errors to statuses (process.c).
 *
 * Ownership: the table and every value in it belong to the Lua state. The
 * functions reach their context only through upvalues (the process id) and
 * the state's allocator; nothing here keeps a pointer into the state.
 * Loop thread only.
 */
#ifndef ENCLAVED_ENCLAVELIB_H
#define ENCLAVED_ENCLAVELIB_H

#include <stdint.h>

#include <lua.h>

enum {
    ENCLAVELIB_RANDOM_MAX = 1024,  /* bytes per enclave.random call */
    ENCLAVELIB_LOG_MAX = 512,      /* bytes of one enclave.log / print line */
    ENCLAVELIB_SEAL_MAX = 64 * 1024 * 1024, /* bytes one enclave.encrypt may seal */
};

struct process;

/* Pushes a fresh `enclave` table for process p (borrowed; it outlives its
 * Lua state): its functions log with p's id and seal with p's code hash and
 * the host's sealing secret. Also registers the fixedmap metatable. [-0, +1, m] */
void enclavelib_push(lua_State *L, const struct process *p);
/* Copies text into out (cap >= 1), replacing control and non-ASCII bytes
 * with '?' and truncating, so app text cannot forge log lines. Returns the
 * length written (NUL not counted). */
size_t enclavelib_sanitize(char *out, size_t cap, const char *text, size_t len);

#endif
