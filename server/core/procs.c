/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "core/procs.h"

#include <stdlib.h>
#include <string.h>

#include "core/channel.h"
#include "base/idmap.h"
#include "base/log.h"
#include "wire/session.h"

struct process_table {
    struct idmap by_id;
    struct proc *oldest;
    struct proc *newest;
    uint32_t next_id;
    struct process_host host;    /* borrowed by every process; lives as long as the table */
};

static int host_channel_belongs(void *ctx, const struct process *p, uint32_t channel_id)
{
    return channel_belongs(ctx, p, channel_id);
}

static void host_deliver(void *ctx, struct process *p, const struct process_output *out)
{
    channel_deliver(ctx, p, out);
}

status_t procs_table_new(struct core *core, struct process_table **out)
{
    struct process_table *t = calloc(1, sizeof(*t));

    ENSURE(t != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    idmap_init(&t->by_id);
    t->next_id = 1;
    t->host.ctx = core;
    t->host.channel_belongs = host_channel_belongs;
    t->host.deliver = host_deliver;
    t->host.sealing_secret = keystore_sealing_secret(core->keystore);
    *out = t;
    return STATUS_OK;
}

static void unlink_proc(struct process_table *t, struct proc *p)
{
    idmap_remove(&t->by_id, process_id(p->lua));
    if (p->prev != NULL) {
        p->prev->next = p->next;
    } else {
        t->oldest = p->next;
    }
    if (p->next != NULL) {
        p->next->prev = p->prev;
    } else {
        t->newest = p->prev;
    }
}

void procs_table_free(struct process_table *t)
{
    if (t == NULL) {
        return;
    }
    while (t->oldest != NULL) {
        struct proc *p = t->oldest;
        ENCLAVED_ASSERT(p->channels == NULL);
        unlink_proc(t, p);
        process_free(p->lua);
        free(p);
    }
    idmap_clear(&t->by_id);
    free(t);
}

static uint32_t allocate_id(struct process_table *t)
{
    while (t->next_id == 0 || idmap_get(&t->by_id, t->next_id) != NULL) {
        t->next_id++;
    }
    return t->next_id++;
}

status_t procs_create(struct core *core, const char *name, const uint8_t *source, size_t len,
                      uint64_t memory_limit, struct proc **out)
{
    struct process_table *t = core->processes;
    const struct config *cfg = &core->config;
    struct process_limits limits;
    struct proc *p;
    uint32_t id;
    status_t s;

    ENSURE(t->by_id.count < cfg->max_processes, STATUS_RESOURCE_EXHAUSTED,
           "too many processes (max_processes)");
    ENSURE(memory_limit <= cfg->max_memory_per_process, STATUS_INVALID_ARGUMENT,
           "memory_limit over max_memory_per_process");
    ENSURE(strlen(name) <= PROCESS_NAME_MAX, STATUS_INVALID_ARGUMENT,
           "name longer than 64 bytes");
    limits.memory_cap = memory_limit != 0 ? memory_limit : cfg->default_memory_per_process;
    limits.instructions = cfg->max_instructions_per_hook;
    limits.max_outputs = cfg->max_outputs_per_hook;
    limits.max_message = cfg->max_message;
    p = calloc(1, sizeof(*p));
    ENSURE(p != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    id = allocate_id(t);
    s = process_new(id, name, source, len, &limits, &t->host, &p->lua);
    if (s != STATUS_OK) {
        free(p);
        return s;
    }
    if (idmap_put(&t->by_id, id, p) != STATUS_OK) {
        process_free(p->lua);
        free(p);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    p->prev = t->newest;
    if (t->newest != NULL) {
        t->newest->next = p;
    } else {
        t->oldest = p;
    }
    t->newest = p;
    LOG_I("process %u '%s' created", id, process_name(p->lua));
    *out = p;
    return STATUS_OK;
}

struct proc *procs_find(const struct core *core, uint32_t process_id)
{
    return idmap_get(&core->processes->by_id, process_id);
}

struct proc *procs_find_hash(const struct core *core, const uint8_t *hash, size_t hash_len)
{
    if (hash_len != PROCESS_CODE_HASH_LEN) {
        return NULL;
    }
    for (struct proc *p = core->processes->oldest; p != NULL; p = p->next) {
        if (memcmp(process_code_hash(p->lua), hash, PROCESS_CODE_HASH_LEN) == 0) {
            return p;
        }
    }
    return NULL;
}

size_t procs_count(const struct core *core)
{
    return core->processes->by_id.count;
}

/* Closes the process's channels (HandleChannelClose runs for each, then
 * ChannelClosed UNAVAILABLE) and frees it. */
static void destroy_proc(struct core *core, struct proc *p)
{
    uint32_t id = process_id(p->lua);

    channel_close_process(core, p);
    unlink_proc(core->processes, p);
    process_free(p->lua);
    free(p);
    LOG_I("process %u destroyed", id);
}

void procs_handle_create(struct session *s, uint64_t id, const Enclaved__ProcessCreate *req)
{
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    Enclaved__ProcessCreated created = ENCLAVED__PROCESS_CREATED__INIT;
    struct proc *p = NULL;
    status_t st;

    st = procs_create(s->core, req->name != NULL ? req->name : "", req->lua_source.data,
                      req->lua_source.len, req->memory_limit, &p);
    if (st != STATUS_OK) {
        LOG_I("ProcessCreate '%.64s' failed: %s: %s", req->name != NULL ? req->name : "",
              status_name(st), status_trail_message());
        session_send_status(s, id, st, status_trail_message());
        return;
    }
    created.process_id = process_id(p->lua);
    created.code_hash.data = (uint8_t *)process_code_hash(p->lua);
    created.code_hash.len = PROCESS_CODE_HASH_LEN;
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_PROCESS_CREATED;
    r.process_created = &created;
    session_send_response(s, &r);
}

void procs_handle_destroy(struct session *s, uint64_t id, const Enclaved__ProcessDestroy *req)
{
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    Enclaved__ProcessDestroyed destroyed = ENCLAVED__PROCESS_DESTROYED__INIT;
    struct proc *p = NULL;

    if (req->target_case == ENCLAVED__PROCESS_DESTROY__TARGET_PROCESS_ID) {
        p = procs_find(s->core, req->process_id);
    } else if (req->target_case == ENCLAVED__PROCESS_DESTROY__TARGET_CODE_HASH) {
        if (req->code_hash.len != PROCESS_CODE_HASH_LEN) {
            session_send_status(s, id, STATUS_INVALID_ARGUMENT, "code_hash must be 32 bytes");
            return;
        }
        p = procs_find_hash(s->core, req->code_hash.data, req->code_hash.len);
    } else {
        session_send_status(s, id, STATUS_INVALID_ARGUMENT, "give process_id or code_hash");
        return;
    }
    if (p == NULL) {
        session_send_status(s, id, STATUS_NOT_FOUND, "no such process");
        return;
    }
    destroyed.process_id = process_id(p->lua);
    /* The Response comes first: it answers this request, and the
     * ChannelClosed frames that follow are consequences of it. */
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_PROCESS_DESTROYED;
    r.process_destroyed = &destroyed;
    session_send_response(s, &r);
    destroy_proc(s->core, p);
}

status_t procs_fill_infos(struct core *core, Enclaved__ProcessInfo **infos_out,
                          Enclaved__ProcessInfo ***ptrs_out, size_t *count_out)
{
    struct process_table *t = core->processes;
    size_t count = t->by_id.count;
    Enclaved__ProcessInfo *infos = calloc(count ? count : 1, sizeof(*infos));
    Enclaved__ProcessInfo **ptrs = calloc(count ? count : 1, sizeof(*ptrs));
    size_t n = 0;

    if (infos == NULL || ptrs == NULL) {
        free(infos);
        free(ptrs);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    /* Creation order is id order until ids wrap. */
    for (struct proc *p = t->oldest; p != NULL; p = p->next) {
        Enclaved__ProcessInfo *info = &infos[n];
        enclaved__process_info__init(info);
        info->process_id = process_id(p->lua);
        info->name = (char *)process_name(p->lua);
        info->code_hash.data = (uint8_t *)process_code_hash(p->lua);
        info->code_hash.len = PROCESS_CODE_HASH_LEN;
        info->channels = p->channel_count;
        info->memory_used = process_memory_used(p->lua);
        info->created_at_micros = process_created_at(p->lua);
        info->messages = p->messages;
        info->errors = p->errors;
        info->limit_hits = p->limit_hits;
        ptrs[n++] = info;
    }
    *infos_out = infos;
    *ptrs_out = ptrs;
    *count_out = n;
    return STATUS_OK;
}

void procs_handle_list(struct session *s, uint64_t id)
{
    Enclaved__Response r = ENCLAVED__RESPONSE__INIT;
    Enclaved__ProcessListResult list = ENCLAVED__PROCESS_LIST_RESULT__INIT;
    Enclaved__ProcessInfo *infos = NULL;
    Enclaved__ProcessInfo **ptrs = NULL;
    size_t n = 0;

    if (procs_fill_infos(s->core, &infos, &ptrs, &n) != STATUS_OK) {
        session_send_status(s, id, STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    list.n_processes = n;
    list.processes = ptrs;
    r.id = id;
    r.result_case = ENCLAVED__RESPONSE__RESULT_PROCESS_LIST;
    r.process_list = &list;
    session_send_response(s, &r);
    free(infos);
    free(ptrs);
}

void procs_handle_reset(struct session *s, uint64_t id)
{
    struct core *core = s->core;
    size_t count = procs_count(core);

    session_send_status(s, id, STATUS_OK, "");
    while (core->processes->oldest != NULL) {
        destroy_proc(core, core->processes->oldest);
    }
    LOG_I("reset: %zu processes destroyed", count);
}
