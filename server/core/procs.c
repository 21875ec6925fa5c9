/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "core/procs.h"

#include <stdlib.h>
#include <string.h>

#include "base/idmap.h"
#include "base/log.h"

TAILQ_HEAD(proc_list, proc);

struct process_table {
    struct idmap by_id;
    struct proc_list procs;            /* creation order, oldest first */
    const struct config *config;
    struct channel_table *channels;
    const uint8_t *sealing_secret;
};

status_t procs_table_new(const struct config *cfg, struct channel_table *channels,
                         const uint8_t *sealing_secret, struct process_table **out)
{
    struct process_table *t = calloc(1, sizeof(*t));

    ENSURE(t != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    idmap_init(&t->by_id);
    TAILQ_INIT(&t->procs);
    t->config = cfg;
    t->channels = channels;
    t->sealing_secret = sealing_secret;
    *out = t;
    return STATUS_OK;
}

static void free_proc(struct process_table *t, struct proc *p)
{
    idmap_remove(&t->by_id, process_id(p->lua));
    TAILQ_REMOVE(&t->procs, p, link);
    process_free(p->lua);
    free(p);
}

void procs_table_free(struct process_table *t)
{
    if (t == NULL) {
        return;
    }
    while (!TAILQ_EMPTY(&t->procs)) {
        struct proc *p = TAILQ_FIRST(&t->procs);
        ENCLAVED_ASSERT(channel_group_count(&p->channels) == 0);
        free_proc(t, p);
    }
    idmap_clear(&t->by_id);
    free(t);
}

status_t procs_create(struct process_table *t, const char *name, const uint8_t *source,
                      size_t len, uint64_t memory_limit, struct proc **out)
{
    const struct config *cfg = t->config;
    struct process_limits limits;
    struct proc *p;
    uint32_t id;
    status_t s;

    ENSURE(t->by_id.count < cfg->max_processes, STATUS_RESOURCE_EXHAUSTED,
           "too many processes (max_processes)");
    ENSURE(memory_limit <= cfg->max_memory_per_process, STATUS_INVALID_ARGUMENT,
           "memory_limit over max_memory_per_process");
    ENSURE(strlen(name) <= PROCESS_NAME_MAX, STATUS_INVALID_ARGUMENT,
           "name longer than PROCESS_NAME_MAX bytes");
    limits.memory_cap = memory_limit != 0 ? memory_limit : cfg->default_memory_per_process;
    limits.instructions = cfg->max_instructions_per_hook;
    limits.hook_ms = cfg->max_hook_ms;
    limits.max_outputs = cfg->max_outputs_per_hook;
    limits.max_message = cfg->max_message;
    p = calloc(1, sizeof(*p));
    ENSURE(p != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    id = idmap_next_key(&t->by_id);
    s = process_new(id, name, source, len, &limits, channel_process_host(t->channels),
                    t->sealing_secret, &p->lua);
    if (s != STATUS_OK) {
        free(p);
        return s;
    }
    if (idmap_put(&t->by_id, id, p) != STATUS_OK) {
        process_free(p->lua);
        free(p);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    channel_group_init(&p->channels, p->lua);
    TAILQ_INSERT_TAIL(&t->procs, p, link);
    LOG_I("process %u '%s' created", id, process_name(p->lua));
    *out = p;
    return STATUS_OK;
}

status_t procs_resolve(const struct process_table *t, const struct proc_target *target,
                       struct proc **out)
{
    struct proc *found = NULL;

    switch (target->kind) {
    case PROC_TARGET_ID:
        found = idmap_get(&t->by_id, target->process_id);
        break;
    case PROC_TARGET_CODE_HASH:
        ENSURE(target->code_hash_len == PROCESS_CODE_HASH_LEN, STATUS_INVALID_ARGUMENT,
               "code_hash must be 32 bytes");
        TAILQ_FOREACH(found, &t->procs, link) {
            if (memcmp(process_code_hash(found->lua), target->code_hash,
                       PROCESS_CODE_HASH_LEN) == 0) {
                break;
            }
        }
        break;
    default:
        FAIL(STATUS_INVALID_ARGUMENT, "give process_id or code_hash");
    }
    ENSURE(found != NULL, STATUS_NOT_FOUND, "no such process");
    *out = found;
    return STATUS_OK;
}

void procs_destroy(struct process_table *t, struct proc *p)
{
    uint32_t id = process_id(p->lua);

    channel_close_group(t->channels, &p->channels);
    free_proc(t, p);
    LOG_I("process %u destroyed", id);
}

size_t procs_reset(struct process_table *t)
{
    size_t count = 0;

    while (!TAILQ_EMPTY(&t->procs)) {
        procs_destroy(t, TAILQ_FIRST(&t->procs));
        count++;
    }
    return count;
}

size_t procs_count(const struct process_table *t)
{
    return t->by_id.count;
}

struct proc *procs_first(const struct process_table *t)
{
    return TAILQ_FIRST(&t->procs);
}

struct proc *procs_next(const struct proc *p)
{
    return TAILQ_NEXT(p, link);
}
