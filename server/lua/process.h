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

#include "base/status.h"
#include "lua/chantype.h"
#include "lua/identity.h"

enum { PROCESS_NAME_MAX = 64, PROCESS_ERROR_MAX = 200 };


struct process_limits {
    size_t memory_cap;        /* bytes charged by this state's allocator */
    uint64_t instructions;    /* work units per hook call (and for the chunk's top level, and
                                 for a destroy): VM instructions plus charged C work and
                                 allocation (lua/budget.h) */
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
};

/* Lifecycle. */

/* Creates a process: a new lua_State with the capped allocator and the
 * sandbox env; loads source in mode "t" (named after the process, so
 * errors read "name:line:") and runs its top level under one budget
 * (lua/budget.h); then looks the three hooks up, once. INVALID_ARGUMENT for
 * a binary chunk, a syntax error or a runtime error (the Lua message is the
 * trail detail), RESOURCE_EXHAUSTED on memory, DEADLINE_EXCEEDED when the
 * top level runs too long. name is
 * copied (truncated to PROCESS_NAME_MAX); code hash = SHA-256 of the exact
 * source bytes. sealing_secret (32 bytes, borrowed; it must outlive the
 * process) is what enclave.encrypt/decrypt seal with; NULL makes both raise
 * an error. On failure *out is untouched and nothing leaks. */
status_t process_new(uint32_t id, const char *name, const uint8_t *source, size_t len,
                     const struct process_limits *limits, const struct process_host *host,
                     const uint8_t *sealing_secret, struct process **out);
/* Closes the state and frees the process; no app code runs (apps cannot
 * set __gc), so it returns at once. NULL is a no-op. */
void process_free(struct process *p);

/* Operations: the hooks, as they were after the top level ran (assigning
 * a global hook later changes nothing). A missing hook is success with no
 * outputs. Outputs are read up to the first nil.
 * OK after delivering every output; otherwise nothing is delivered and the
 * status is INTERNAL (Lua error, or malformed outputs: non-table result, bad
 * entry, channel not belonging to p), RESOURCE_EXHAUSTED (memory cap, too
 * many outputs, message over max_message) or DEADLINE_EXCEEDED (work
 * budget or max_hook_ms), with a bounded message as the trail detail; when
 * memory was refused before the budget ran out, RESOURCE_EXHAUSTED. The process stays
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
/* Bytes currently allocated by its Lua state. */
size_t process_memory_used(const struct process *p);
/* Microseconds since the epoch. */
uint64_t process_created_at(const struct process *p);

/* Link-time seam for allocation-failure tests: the allocator refuses a
 * growing request whenever this returns nonzero. process.c defines it weak,
 * always 0; a test binary may link a strong definition. Never define it in
 * server/. */
int process_alloc_should_fail(void);

#endif
