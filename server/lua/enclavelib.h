/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The `enclave` table Lua apps see (DESIGN §5): sha256, random, fixedmap,
 * timestamp_micros, log, and sealing (encrypt/decrypt, DESIGN §6, through
 * crypto/seal.c). It does not build the rest of the sandbox (sandbox.c) nor
 * map errors to statuses (process.c).
 *
 * Ownership: the table and every value in it belong to the Lua state. The
 * functions reach their context only through upvalues (the process id and
 * the borrowed struct process_identity) and the state's allocator; nothing
 * here keeps a pointer into the state.
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

#include "lua/identity.h"

/* Pushes a fresh `enclave` table for the process id describes (borrowed;
 * it outlives the Lua state): its functions log with its pid and seal with
 * its code hash and sealing secret. Also registers the fixedmap metatable.
 * [-0, +1, m] */
void enclavelib_push(lua_State *L, const struct process_identity *id);

#endif
