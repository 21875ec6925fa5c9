/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The process table: Lua processes by id and by code hash, in creation
 * order (DESIGN §4). process.c runs Lua; this file decides which processes
 * exist. Requests are answered by wire/dispatch.c, which resolves a target
 * here, answers, and then acts (procs_destroy, procs_reset).
 *
 * Ownership: the table owns every struct proc and its struct process. It
 * borrows the config and the channel table, which must outlive it; each
 * proc's channel group belongs to channel.c. Loop thread only.
 */
#ifndef ENCLAVED_PROCS_H
#define ENCLAVED_PROCS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "core/channel.h"
#include "image/config.h"
#include "lua/process.h"

struct process_table;

struct proc {
    struct process *lua;            /* read-only; owned */
    struct channel_group channels;  /* private to channel.c */
    TAILQ_ENTRY(proc) link;         /* private: creation order, oldest first */
};

/* A request's target: a process id or a code hash (DESIGN §4). */
enum proc_target_kind { PROC_TARGET_NONE, PROC_TARGET_ID, PROC_TARGET_CODE_HASH };

struct proc_target {
    enum proc_target_kind kind;
    uint32_t process_id;
    const uint8_t *code_hash;       /* borrowed */
    size_t code_hash_len;
};

/* Lifecycle. sealing_secret (KEYSTORE_SEALING_SECRET_LEN bytes, borrowed;
 * NULL disables sealing) is given to every process. */
status_t procs_table_new(const struct config *cfg, struct channel_table *channels,
                         const uint8_t *sealing_secret, struct process_table **out);
/* Frees every process; their channels must already be gone. */
void procs_table_free(struct process_table *t);

/* Operations. */

/* Creates a process (boot apps and ProcessCreate). memory_limit 0 means the
 * default. INVALID_ARGUMENT (bad source, name or limit), RESOURCE_EXHAUSTED
 * (too many processes, memory); the message is in the status trail. */
status_t procs_create(struct process_table *t, const char *name, const uint8_t *source,
                      size_t len, uint64_t memory_limit, struct proc **out);
/* The one target resolution: by id, or by hash the oldest live process with
 * it. INVALID_ARGUMENT (no target, a hash not 32 bytes), NOT_FOUND; *out
 * untouched then. */
status_t procs_resolve(const struct process_table *t, const struct proc_target *target,
                       struct proc **out);
/* Closes p's channels (HandleChannelClose runs for each, then their owners
 * get UNAVAILABLE) and frees p. */
void procs_destroy(struct process_table *t, struct proc *p);
/* Destroys every process, oldest first; returns how many. */
size_t procs_reset(struct process_table *t);

/* Queries. */

size_t procs_count(const struct process_table *t);
/* Oldest first: procs_first, then procs_next until NULL. */
struct proc *procs_first(const struct process_table *t);
struct proc *procs_next(const struct proc *p);

#endif
