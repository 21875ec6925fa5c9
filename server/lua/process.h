/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * A Lua process (DESIGN §5): one lua_State with a capped allocator, the
 * sandbox env, and the three HsmEnclave hooks run under an instruction cap.
 * This is the only place Lua results become statuses (STYLE §3.3). It knows
 * nothing of connections, channels' owners or encryption: the host says
 * which channel ids belong to the process and receives validated outputs.
 *
 * Ownership: process_new allocates the process and its state; process_free
 * releases both. The name and source are copied; limits are copied; the host
 * struct is borrowed and must outlive the process. Output data handed to
 * deliver is borrowed from the Lua state for that callback only. Callbacks
 * must not re-enter this process (no hook call, no process_free) — queue
 * work instead. Runs on the loop thread only.
 */
#ifndef ENCLAVED_PROCESS_H
#define ENCLAVED_PROCESS_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "base/status.h"

enum { PROCESS_CODE_HASH_LEN = 32, PROCESS_NAME_MAX = 64, PROCESS_ERROR_MAX = 200 };

/* The values Lua sees as CHAN_*. */
enum process_chan_type {
    PROCESS_CHAN_UNENCRYPTED = 1,
    PROCESS_CHAN_CLIENT_NK = 2,
    PROCESS_CHAN_SERVER_KK = 3,
};

struct process_limits {
    size_t memory_cap;        /* bytes charged by this state's allocator */
    uint64_t instructions;    /* work units per hook call (and for the chunk's top level, and
                                 for a destroy): VM instructions plus charged C work */
    uint32_t hook_ms;         /* wall-clock deadline per call, ms; 0 means 100 */
    uint32_t max_outputs;     /* outputs per hook call */
    size_t max_message;       /* bytes per output message */
};

struct process;

struct process_output {
    uint32_t channel_id;
    int is_close;             /* 1: close channel_id with status */
    status_t status;
    const uint8_t *data;      /* !is_close: borrowed, valid only inside the deliver callback */
    size_t len;
};

struct process_host {         /* borrowed by the process; must outlive it */
    void *ctx;
    /* 1 if channel_id is an open channel of p (any connection), else 0. */
    int (*channel_belongs)(void *ctx, const struct process *p, uint32_t channel_id);
    /* Called once per output, in order, only after the whole hook returned
       normally and every output validated. An output whose channel stopped
       belonging during delivery (an earlier close output in the same list
       closed it) is dropped instead. */
    void (*deliver)(void *ctx, struct process *p, const struct process_output *out);
    /* The server's 32-byte sealing secret for enclave.encrypt/decrypt
       (DESIGN §6); NULL makes both raise an error. */
    const uint8_t *sealing_secret;
};

/* Lifecycle. */

/* Creates a process: a new lua_State with the capped allocator and the
 * sandbox env; loads source in mode "t" and runs its top level under the
 * instruction cap. INVALID_ARGUMENT for a binary chunk, a syntax error or a
 * runtime error (the Lua message is the trail detail), RESOURCE_EXHAUSTED
 * on memory, DEADLINE_EXCEEDED when the top level runs too long. name is
 * copied (truncated to PROCESS_NAME_MAX); code hash = SHA-256 of the exact
 * source bytes. On failure *out is untouched and nothing leaks. */
status_t process_new(uint32_t id, const char *name, const uint8_t *source, size_t len,
                     const struct process_limits *limits, const struct process_host *host,
                     struct process **out);
/* Closes the state (finalizers run under an already expired instruction
 * cap) and frees the process. NULL is a no-op. */
void process_free(struct process *p);

/* Operations: the hooks. A missing global hook is success with no outputs.
 * OK after delivering every output; otherwise nothing is delivered and the
 * status is INTERNAL (Lua error, or malformed outputs: non-table result, bad
 * entry, channel not belonging to p), RESOURCE_EXHAUSTED (memory cap, too
 * many outputs, message over max_message) or DEADLINE_EXCEEDED (instruction
 * cap), with a bounded message as the trail detail. The process stays
 * usable after any failure. */
status_t process_handle_create(struct process *p, uint32_t channel_id, enum process_chan_type type);
status_t process_handle_message(struct process *p, uint32_t channel_id, const uint8_t *msg,
                                size_t len);
status_t process_handle_close(struct process *p, uint32_t channel_id);

/* Queries. */

uint32_t process_id(const struct process *p);
const char *process_name(const struct process *p);
/* PROCESS_CODE_HASH_LEN bytes, valid for the life of p. */
const uint8_t *process_code_hash(const struct process *p);
/* The host's sealing secret (32 bytes) or NULL; for enclavelib only. */
const uint8_t *process_sealing_secret(const struct process *p);
/* Bytes currently allocated by its Lua state. */
size_t process_memory_used(const struct process *p);
/* Microseconds since the epoch. */
uint64_t process_created_at(const struct process *p);

/* Budget, for the library wrappers (sandbox.c, charged.c, enclavelib.c):
 * charges units of work (1 unit ~ one VM instruction: an element moved, a
 * matcher step, CHARGE_BYTES_PER_UNIT bytes scanned or copied) to the call
 * running in the state of L. Raises the limit error (and keeps raising it
 * until the call unwinds) when the call's budget or its max_hook_ms
 * deadline is spent. Outside a call it does nothing. [-0, +0, v] */
enum { PROCESS_CHARGE_BYTES_PER_UNIT = 16 };
void process_charge(lua_State *L, uint64_t units);
/* process_charge for a byte count: 1 + len / CHARGE_BYTES_PER_UNIT. */
void process_charge_bytes(lua_State *L, size_t len);
/* Bytes the state of L may still allocate under its memory cap. */
size_t process_memory_room(lua_State *L);
/* 1 if the running call's budget or deadline is spent (a limit error is
 * being raised or unwinding). An xpcall message handler must not run then. */
int process_budget_expired(lua_State *L);
/* 1 if thread co was stopped by a limit error raised inside the count hook:
 * Lua left its hooks disabled, so its pending __close handlers must never
 * run (coroutine.close and wrap refuse to close it). */
int process_thread_stopped(lua_State *co);

/* Link-time seam for allocation-failure tests: the allocator refuses a
 * growing request whenever this returns nonzero. process.c defines it weak,
 * always 0; a test binary may link a strong definition. Never define it in
 * server/. */
int process_alloc_should_fail(void);

#endif
