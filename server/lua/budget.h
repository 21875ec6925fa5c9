/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * One budget per call into Lua (DESIGN §5 "Containment"): each hook call,
 * each create's top level, each destroy. It counts VM instructions through
 * a count hook, the work that library C functions charge for
 * (budget_charge), and the bytes the allocator grows by; it also holds the
 * wall-clock deadline (max_hook_ms), read by the count hook and the
 * charging functions. Once spent, the limit error is raised and keeps
 * being raised until the call unwinds, so pcall cannot swallow it. This
 * module does not map results to statuses (process.c does).
 *
 * Ownership: process.c embeds one struct budget in each process and
 * attaches it to the process's lua_State (budget_attach), where every
 * thread of that state finds it. Loop thread only.
 */
#ifndef ENCLAVED_BUDGET_H
#define ENCLAVED_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

enum {
    BUDGET_BYTES_PER_UNIT = 16, /* bytes copied or allocated per unit of work */
    BUDGET_DEFAULT_MS = 100,    /* the deadline when none is configured */
};

/* Why a call's budget is spent; sticky until the call ends. */
enum budget_expiry { BUDGET_LIVE = 0, BUDGET_WORK, BUDGET_TIME };

struct budget {
    /* Set by the owner before budget_attach; read-only after. */
    uint64_t limit;             /* units per call */
    uint32_t hook_ms;           /* deadline per call; 0 means BUDGET_DEFAULT_MS */
    size_t memory_cap;          /* the state's allocator cap */
    const size_t *memory_used;  /* the allocator's running total */
    /* Read-only for the owner. */
    enum budget_expiry expired;
    int in_call;
    /* Private. */
    lua_State *main;
    int period;
    uint64_t used;
    uint64_t deadline_ms;
    uint64_t unchecked;
    uint32_t unchecked_calls;
};

/* Lifecycle. */

/* Makes b the budget of L's state (every thread, present and future).
 * Call once, before anything runs in L. */
void budget_attach(struct budget *b, lua_State *L);
/* Starts a call: a fresh budget and deadline, the count hook armed. */
void budget_begin(struct budget *b);
/* Ends a call; charges outside a call are not counted. */
void budget_end(struct budget *b);
/* For a state being closed: any Lua code that would still run (none
 * should: apps cannot set __gc) is stopped at its first instruction. */
void budget_stop(struct budget *b);

/* Operations. */

/* Adds units to the running call and now and then reads the clock.
 * Returns 1 when the budget or the deadline is spent (sticky), 0 otherwise
 * or outside a call. Never raises: for the allocator. A large growth
 * (force_clock) always reads the clock. */
int budget_spend(struct budget *b, uint64_t units, int force_clock);
/* Charges units to the call running in L's state (1 unit ~ one VM
 * instruction ~ 10 ns: an element moved, a matcher step, BYTES_PER_UNIT
 * bytes copied) and raises the limit error when the budget or deadline is
 * spent. [-0, +0, v] */
void budget_charge(lua_State *L, uint64_t units);
/* budget_charge of 1 + len / BUDGET_BYTES_PER_UNIT. [-0, +0, v] */
void budget_charge_bytes(lua_State *L, size_t len);

/* Queries. */

/* Bytes L's state may still allocate under its memory cap. */
size_t budget_memory_room(lua_State *L);
/* 1 if the call running in L's state has spent its budget or deadline (a
 * limit error is being raised or unwinding): an xpcall message handler
 * must not run then. */
int budget_expired(lua_State *L);
/* 1 if thread co was stopped by a limit error raised inside the count
 * hook: Lua left its hooks disabled, so its pending __close handlers must
 * never run (coroutine.close and wrap refuse to close it). */
int budget_thread_stopped(lua_State *co);

#endif
