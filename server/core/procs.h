/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The process table: Lua processes by id and by code hash, and the requests
 * that manage them (ProcessCreate, ProcessDestroy, ProcessList, Reset;
 * DESIGN §4). process.c runs Lua; this file decides which processes exist.
 *
 * Ownership: the table owns every struct proc and its struct process.
 * Channels link to their proc (channel.c keeps the per-proc list).
 * Loop thread only.
 */
#ifndef ENCLAVED_PROCS_H
#define ENCLAVED_PROCS_H

#include <stdint.h>

#include "core/core.h"
#include "enclaved.pb-c.h"
#include "lua/process.h"

struct channel;

struct proc {
    struct process *lua;          /* owned */
    struct channel *channels;     /* private to channel.c */
    uint32_t channel_count;       /* private to channel.c */
    struct proc *next, *prev;     /* private: creation order, oldest first */
    uint64_t messages;            /* read-only: messages delivered to its hooks */
    uint64_t errors;              /* read-only: hook calls that raised */
    uint64_t limit_hits;          /* read-only: limits hit on its channels */
};

status_t procs_table_new(struct core *core, struct process_table **out);
/* Frees every process; their channels must already be gone. */
void procs_table_free(struct process_table *t);

/* Creates a process (boot apps and ProcessCreate). memory_limit 0 means the
 * default. INVALID_ARGUMENT (bad source, name or limit), RESOURCE_EXHAUSTED
 * (too many processes, memory); the message is in the status trail. */
status_t procs_create(struct core *core, const char *name, const uint8_t *source, size_t len,
                      uint64_t memory_limit, struct proc **out);
/* Lookups; NULL when absent. By hash: the oldest live process with it. */
struct proc *procs_find(const struct core *core, uint32_t process_id);
struct proc *procs_find_hash(const struct core *core, const uint8_t *hash, size_t hash_len);
size_t procs_count(const struct core *core);

/* Request handlers: each sends exactly one Response with id. */
void procs_handle_create(struct session *s, uint64_t id, const Enclaved__ProcessCreate *req);
void procs_handle_destroy(struct session *s, uint64_t id, const Enclaved__ProcessDestroy *req);
void procs_handle_list(struct session *s, uint64_t id);
/* Fills *infos / *ptrs (malloc'd arrays, caller frees both) with one
 * ProcessInfo per process, oldest first; *count gets their number.
 * RESOURCE_EXHAUSTED when memory is short (*infos, *ptrs untouched). */
status_t procs_fill_infos(struct core *core, Enclaved__ProcessInfo **infos,
                          Enclaved__ProcessInfo ***ptrs, size_t *count);
void procs_handle_reset(struct session *s, uint64_t id);

#endif
