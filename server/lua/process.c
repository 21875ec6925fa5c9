/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lua/process.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <mbedtls/sha256.h>

#include "base/log.h"
#include "base/text.h"
#include "lua/budget.h"
#include "lua/sandbox.h"
#include "platform/platform.h"

/* An allocation growing by this much reads the clock: building a large
 * result is when a C function runs long. */
enum { CLOCK_CHECK_ALLOC = 64 * 1024 };

/* The details of the two limit errors, on the wire as the close reason. */
#define INSTRUCTION_LIMIT "instruction limit exceeded"
#define MEMORY_LIMIT "memory limit exceeded"

struct process {
    lua_State *L;
    const struct process_host *host;
    struct process_limits limits;
    struct process_identity identity;  /* what the sandbox and enclavelib see */
    char name[PROCESS_NAME_MAX + 1];
    uint64_t created_at;
    size_t mem_used;
    struct budget budget;    /* per call: instructions, charged work, allocation, time */
    int mem_refused;         /* the allocator refused a request during this call */
};

/* The inputs of one entry into Lua, passed to a trampoline as light userdata. */
struct call {
    struct process *p;
    int hook;          /* HOOK_*; unused when running the chunk in source */
    const uint8_t *source;
    size_t source_len;
    lua_Integer cid;
    int has_type;
    lua_Integer type;
    const uint8_t *msg;
    size_t msg_len;
    int has_msg;
};

/* The three hooks, looked up once after the top level ran (HsmEnclave
 * does the same: reassigning a global later changes nothing). Each is kept
 * in the registry under the address of its name. */
enum { HOOK_CREATE, HOOK_MESSAGE, HOOK_CLOSE, HOOK_COUNT };
static const char *const hook_names[HOOK_COUNT] = {
    "HandleChannelCreate", "HandleChannelMessage", "HandleChannelClose",
};

__attribute__((weak)) int process_alloc_should_fail(void)
{
    return 0;
}

/* Charges every byte to the process. Growing requests past the cap fail and
 * are remembered, so the call maps to RESOURCE_EXHAUSTED even when the app
 * catches the memory error and raises something else. Bytes grown during a
 * call are charged to its budget too (a loop of growing concatenations
 * copies quadratically in few instructions); once the budget is spent,
 * growing requests fail, which stops any C function that is building a
 * result. Shrinks never fail. */
static void *process_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct process *p = ud;
    size_t old = ptr != NULL ? osize : 0;
    void *grown;

    if (nsize == 0) {
        free(ptr);
        p->mem_used -= old;
        return NULL;
    }
    if (nsize > old &&
        (nsize - old > p->limits.memory_cap - p->mem_used || process_alloc_should_fail())) {
        /* The first limit hit names the status: memory refused before the
         * budget ran out is RESOURCE_EXHAUSTED even if the app swallowed
         * it and then ran out of time. */
        if (p->budget.expired == BUDGET_LIVE) {
            p->mem_refused = 1;
        }
        return NULL;
    }
    if (nsize > old && budget_spend(&p->budget, (nsize - old) / BUDGET_BYTES_PER_UNIT,
                                    nsize - old >= CLOCK_CHECK_ALLOC)) {
        return NULL;
    }
    grown = realloc(ptr, nsize);
    if (grown == NULL) {
        if (nsize <= old) {
            p->mem_used -= old - nsize;
            return ptr;
        }
        p->mem_refused = 1;
        return NULL;
    }
    p->mem_used = p->mem_used - old + nsize;
    return grown;
}

static struct process *state_process(lua_State *L)
{
    void *ud;
    (void)lua_getallocf(L, &ud);
    return ud;
}

static int on_panic(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    LOG_E("process %u: unprotected Lua error: %s", (unsigned)state_process(L)->identity.pid, msg);
    abort();
}

static void begin_call(struct process *p)
{
    p->mem_refused = 0;
    budget_begin(&p->budget);
}

/* Trampoline: one full collection. [-1, +0, -] */
static int run_collect(lua_State *L)
{
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}

/* After a memory failure the next call's frames would reuse stack slots
 * that still hold the garbage (registers above top are not cleared), and an
 * emergency collection inside that call marks them live. A full collection
 * from an empty stack clears the dead slice and frees the garbage. No app
 * code runs (apps cannot set __gc); it gets a fresh budget all the same. */
static void collect_after_memory_failure(struct process *p)
{
    lua_settop(p->L, 0);
    budget_end(&p->budget);
    begin_call(p);
    lua_pushcfunction(p->L, run_collect);               /* collect */
    lua_pushnil(p->L);                                  /* collect nil */
    (void)lua_pcall(p->L, 1, 0, 0);                     /* (err) */
}

static void end_call(struct process *p)
{
    lua_settop(p->L, 0);
    budget_end(&p->budget);
}

/* Trampoline for process_new: env, load (text only, named after the
 * process so errors read "kv:43:"), set _ENV, run the top level, keep the
 * hooks, then collect the garbage of building it. [-1, +0, e] */
static int run_chunk(lua_State *L)
{
    struct call *c = lua_touserdata(L, 1);
    char chunk_name[PROCESS_NAME_MAX + 2];

    snprintf(chunk_name, sizeof(chunk_name), "=%s", c->p->name[0] != '\0' ? c->p->name : "app");
    sandbox_push_env(L, &c->p->identity);               /* c env */
    if (luaL_loadbufferx(L, (const char *)c->source, c->source_len, chunk_name, "t") !=
        LUA_OK) {
        return lua_error(L);                            /* c env err */
    }
    lua_pushvalue(L, -2);                               /* c env chunk env */
    const char *upvalue = lua_setupvalue(L, -2, 1);     /* c env chunk */
    ENCLAVED_ASSERT(upvalue != NULL);
    lua_call(L, 0, 0);                                  /* c env */
    for (int i = 0; i < HOOK_COUNT; i++) {
        lua_pushstring(L, hook_names[i]);               /* c env name */
        lua_rawget(L, -2);                              /* c env hook|nil */
        lua_rawsetp(L, LUA_REGISTRYINDEX, hook_names[i]); /* c env */
    }
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}

/* Trampoline for a hook: fetches the hook kept after the top level ran,
 * pushes its arguments and calls it. Returns the hook's first result, or
 * nothing when the hook is absent. [-1, +(0|1), e] */
static int run_hook(lua_State *L)
{
    struct call *c = lua_touserdata(L, 1);
    int nargs = 1;

    if (lua_rawgetp(L, LUA_REGISTRYINDEX, hook_names[c->hook]) == LUA_TNIL) { /* c fn */
        return 0;
    }
    lua_pushinteger(L, c->cid);                         /* c env fn cid */
    if (c->has_type) {
        lua_pushinteger(L, c->type);                    /* c env fn cid type */
        nargs++;
    }
    if (c->has_msg) {
        lua_pushlstring(L, (const char *)c->msg, c->msg_len); /* c env fn cid msg */
        nargs++;
    }
    lua_call(L, nargs, 1);                              /* c env result */
    return 1;
}

/* Maps a failed lua_pcall, whose error object is on top, to a status with a
 * bounded, printable detail. plain is the status of an ordinary error. */
static status_t map_failure(struct process *p, int lua_status, status_t plain, const char *what)
{
    char detail[PROCESS_ERROR_MAX + 1];
    size_t len;

    if (p->mem_refused || (lua_status == LUA_ERRMEM && p->budget.expired == BUDGET_LIVE)) {
        LOG_D("process %u: %s: memory limit exceeded", (unsigned)p->identity.pid, what);
        status_trail_set_detail(MEMORY_LIMIT, sizeof(MEMORY_LIMIT) - 1);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "lua: memory limit exceeded");
    }
    if (p->budget.expired == BUDGET_TIME) {
        static const char text[] = "time limit exceeded (max_hook_ms)";
        LOG_D("process %u: %s: %s", (unsigned)p->identity.pid, what, text);
        status_trail_set_detail(text, sizeof(text) - 1);
        FAIL(STATUS_DEADLINE_EXCEEDED, "lua: time limit exceeded");
    }
    if (p->budget.expired == BUDGET_WORK) {
        LOG_D("process %u: %s: %s", (unsigned)p->identity.pid, what, INSTRUCTION_LIMIT);
        status_trail_set_detail(INSTRUCTION_LIMIT, sizeof(INSTRUCTION_LIMIT) - 1);
        FAIL(STATUS_DEADLINE_EXCEEDED, "lua: instruction limit exceeded");
    }
    if (lua_type(p->L, -1) == LUA_TSTRING) {
        const char *text = lua_tolstring(p->L, -1, &len);
        len = text_sanitize(detail, sizeof(detail), text, len);
    } else {
        int n = snprintf(detail, sizeof(detail), "(error object is a %s value)",
                         luaL_typename(p->L, -1));
        len = n > 0 ? (size_t)n : 0;
    }
    LOG_D("process %u: %s: %s", (unsigned)p->identity.pid, what, detail);
    status_trail_set_detail(detail, len);
    FAIL(plain, "lua: error raised");
}

static status_t fail_output(status_t code, const char *detail)
{
    status_trail_set_detail(detail, strlen(detail));
    FAIL(code, "lua: malformed hook output");
}

/* Reads output i of the result table at index t into *out, leaving the
 * entry, its cid and its payload on the stack so data stays referenced.
 * Checks its shape only; whether the channel belongs is the caller's.
 * [-0, +3, -] */
static status_t read_output(struct process *p, int t, lua_Integer i, struct process_output *out)
{
    lua_State *L = p->L;
    char why[96];
    lua_Integer cid, code;
    int ok;

    memset(out, 0, sizeof(*out));
    if (lua_rawgeti(L, t, i) != LUA_TTABLE) {           /* entry */
        lua_pushnil(L);
        lua_pushnil(L);                                 /* entry nil nil */
        snprintf(why, sizeof(why), "output %lld is not a table", (long long)i);
        return fail_output(STATUS_INTERNAL, why);
    }
    lua_rawgeti(L, -1, 1);                              /* entry cid */
    lua_rawgeti(L, -2, 2);                              /* entry cid payload */
    cid = lua_tointegerx(L, -2, &ok);
    if (lua_type(L, -2) != LUA_TNUMBER || !ok || cid < 0 || cid > (lua_Integer)UINT32_MAX) {
        snprintf(why, sizeof(why), "output %lld: channel id is not an integer", (long long)i);
        return fail_output(STATUS_INTERNAL, why);
    }
    out->channel_id = (uint32_t)cid;
    if (lua_type(L, -1) == LUA_TSTRING) {
        out->data = (const uint8_t *)lua_tolstring(L, -1, &out->len);
        if (out->len > p->limits.max_message) {
            snprintf(why, sizeof(why), "output %lld: message of %zu bytes exceeds %zu",
                     (long long)i, out->len, p->limits.max_message);
            return fail_output(STATUS_RESOURCE_EXHAUSTED, why);
        }
    } else {
        code = lua_tointegerx(L, -1, &ok);
        if (lua_type(L, -1) != LUA_TNUMBER || !ok || code < 0 || code >= STATUS_COUNT) {
            snprintf(why, sizeof(why), "output %lld: second field must be bytes or a STATUS_*",
                     (long long)i);
            return fail_output(STATUS_INTERNAL, why);
        }
        out->is_close = 1;
        out->status = (status_t)code;
    }
    return STATUS_OK;
}

static int output_belongs(const struct process *p, const struct process_output *out)
{
    return p->host->channel_belongs(p->host->ctx, p, out->channel_id);
}

/* Validates every output of the result on top, then delivers them in order.
 * Nothing here allocates or runs Lua, so data pointers stay valid.
 * [-0, +0, -] */
static status_t deliver_outputs(struct process *p)
{
    lua_State *L = p->L;
    int t = lua_gettop(L);
    struct process_output out;
    char why[96];

    if (lua_isnil(L, t)) {
        return STATUS_OK;
    }
    if (!lua_istable(L, t)) {
        snprintf(why, sizeof(why), "hook returned a %s, not a table", luaL_typename(L, t));
        return fail_output(STATUS_INTERNAL, why);
    }
    /* As HsmEnclave reads it: up to the first nil (lua_rawlen may report
     * any border of a table with holes). */
    lua_Unsigned count = 0;
    while (count <= p->limits.max_outputs) {
        int type = lua_rawgeti(L, t, (lua_Integer)count + 1);
        lua_pop(L, 1);
        if (type == LUA_TNIL) {
            break;
        }
        count++;
    }
    if (count > p->limits.max_outputs) {
        snprintf(why, sizeof(why), "outputs exceed the limit of %u", (unsigned)p->limits.max_outputs);
        return fail_output(STATUS_RESOURCE_EXHAUSTED, why);
    }
    for (lua_Unsigned i = 1; i <= count; i++) {
        status_t s = read_output(p, t, (lua_Integer)i, &out);
        if (s == STATUS_OK && !output_belongs(p, &out)) {
            snprintf(why, sizeof(why), "output %lld: channel %u is not open for this process",
                     (long long)i, (unsigned)out.channel_id);
            s = fail_output(STATUS_INTERNAL, why);
        }
        lua_settop(L, t);
        TRY(s);
    }
    for (lua_Unsigned i = 1; i <= count; i++) {
        ENCLAVED_ASSERT(read_output(p, t, (lua_Integer)i, &out) == STATUS_OK);
        /* A close output earlier in this list may have ended the channel. */
        if (output_belongs(p, &out)) {
            p->host->deliver(p->host->ctx, p, &out);
        } else {
            LOG_D("process %u: output %llu for closed channel %u dropped", (unsigned)p->identity.pid,
                  (unsigned long long)i, (unsigned)out.channel_id);
        }
        lua_settop(L, t);
    }
    return STATUS_OK;
}

/* Enters Lua once: trampoline(c) under lua_pcall, then maps the result.
 * On success the trampoline's one result is left on top. */
static status_t enter_lua(struct process *p, lua_CFunction trampoline, struct call *c,
                          status_t plain, const char *what)
{
    lua_State *L = p->L;
    int rc;

    lua_pushcfunction(L, trampoline);                   /* tramp */
    lua_pushlightuserdata(L, c);                        /* tramp c */
    rc = lua_pcall(L, 1, 1, 0);                         /* result|err */
    if (rc != LUA_OK) {
        return map_failure(p, rc, plain, what);
    }
    /* A coroutine may have swallowed the expiry and returned normally. */
    if (p->budget.expired != BUDGET_LIVE) {
        return map_failure(p, LUA_ERRRUN, plain, what);
    }
    return STATUS_OK;
}

static status_t call_hook(struct process *p, struct call *c)
{
    status_t s;

    c->p = p;
    begin_call(p);
    s = enter_lua(p, run_hook, c, STATUS_INTERNAL, hook_names[c->hook]);
    if (s == STATUS_OK) {
        s = deliver_outputs(p);
    }
    if (s != STATUS_OK && p->mem_refused) {
        collect_after_memory_failure(p);
    }
    end_call(p);
    return s;
}

static void close_state(struct process *p)
{
    /* Apps cannot set __gc, so lua_close runs no app code; should one
     * slip through, an expired budget stops it at its first instruction. */
    budget_stop(&p->budget);
    lua_close(p->L);
    ENCLAVED_ASSERT(p->mem_used == 0);
}

status_t process_new(uint32_t id, const char *name, const uint8_t *source, size_t len,
                     const struct process_limits *limits, const struct process_host *host,
                     const uint8_t *sealing_secret, struct process **out)
{
    struct process *p;
    struct call c;
    status_t s;

    ENSURE(source != NULL || len == 0, STATUS_INVALID_ARGUMENT, "process source missing");
    ENSURE(limits != NULL && host != NULL && host->channel_belongs != NULL &&
               host->deliver != NULL,
           STATUS_INVALID_ARGUMENT, "process host or limits missing");
    p = calloc(1, sizeof(*p));
    ENSURE(p != NULL, STATUS_RESOURCE_EXHAUSTED, "cannot allocate process");
    p->identity.pid = id;
    p->identity.sealing_secret = sealing_secret;
    p->host = host;
    p->limits = *limits;
    p->budget.limit = limits->instructions;
    p->budget.hook_ms = limits->hook_ms;
    p->budget.memory_cap = limits->memory_cap;
    p->budget.memory_used = &p->mem_used;
    if (name != NULL) {
        strncpy(p->name, name, PROCESS_NAME_MAX);
    }
    p->created_at = platform_time_micros();
    if (mbedtls_sha256(source, len, p->identity.code_hash, 0) != 0) {
        free(p);
        FAIL(STATUS_INTERNAL, "cannot hash process source");
    }
    p->L = lua_newstate(process_alloc, p);
    if (p->L == NULL) {
        free(p);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "cannot create Lua state");
    }
    lua_atpanic(p->L, on_panic);
    budget_attach(&p->budget, p->L);

    memset(&c, 0, sizeof(c));
    c.p = p;
    c.source = source;
    c.source_len = len;
    begin_call(p);
    s = enter_lua(p, run_chunk, &c, STATUS_INVALID_ARGUMENT, "load");
    end_call(p);
    if (s != STATUS_OK) {
        close_state(p);
        free(p);
        return s;
    }
    LOG_D("process %u: created, %zu bytes", (unsigned)id, p->mem_used);
    *out = p;
    return STATUS_OK;
}

void process_free(struct process *p)
{
    if (p == NULL) {
        return;
    }
    ENCLAVED_ASSERT(!p->budget.in_call);
    close_state(p);
    free(p);
}

status_t process_handle_create(struct process *p, uint32_t channel_id, enum process_chan_type type)
{
    struct call c = {.hook = HOOK_CREATE, .cid = channel_id, .has_type = 1,
                     .type = (lua_Integer)type};
    return call_hook(p, &c);
}

status_t process_handle_message(struct process *p, uint32_t channel_id, const uint8_t *msg,
                                size_t len)
{
    struct call c = {.hook = HOOK_MESSAGE, .cid = channel_id, .msg = msg,
                     .msg_len = len, .has_msg = 1};
    if (msg == NULL) {
        c.msg = (const uint8_t *)"";
        c.msg_len = 0;
    }
    return call_hook(p, &c);
}

status_t process_handle_close(struct process *p, uint32_t channel_id)
{
    struct call c = {.hook = HOOK_CLOSE, .cid = channel_id};
    return call_hook(p, &c);
}

uint32_t process_id(const struct process *p)
{
    return p->identity.pid;
}

const char *process_name(const struct process *p)
{
    return p->name;
}

const uint8_t *process_code_hash(const struct process *p)
{
    return p->identity.code_hash;
}

size_t process_memory_used(const struct process *p)
{
    return p->mem_used;
}

uint64_t process_created_at(const struct process *p)
{
    return p->created_at;
}
