/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lua/sandbox.h"

#include <lauxlib.h>
#include <lualib.h>

#include "base/log.h"
#include "base/text.h"
#include "lua/budget.h"
#include "lua/chantype.h"
#include "lua/charged.h"
#include "lua/display.h"
#include "lua/enclavelib.h"

/* Base functions copied from the stock base library. print, setmetatable,
 * getmetatable, next, pairs, select, tonumber, tostring and xpcall are ours
 * (below); everything else there is left out. How each is bounded is in the
 * README's audit table. */
static const char *const base_allowed[] = {
    "assert", "error", "ipairs", "pcall", "type", "_VERSION",
};

static const struct {
    const char *name;
    lua_CFunction open;
} libs_allowed[] = {
    {"string", luaopen_string},
    {"table", luaopen_table},
    {"math", luaopen_math},
    {"utf8", luaopen_utf8},
    {"coroutine", luaopen_coroutine},
};

/* Removed from the libraries above before any app runs. */
static const struct {
    const char *lib, *field;
} lib_fields_removed[] = {
    {"string", "dump"},
};

static const struct {
    const char *name;
    lua_Integer value;
} constants[] = {
#define SANDBOX_CHAN_CONST(name, value) {"CHAN_" #name, value},
    PROCESS_CHAN_LIST(SANDBOX_CHAN_CONST)
#undef SANDBOX_CHAN_CONST
#define SANDBOX_STATUS_CONST(name, num, msg) {"STATUS_" #name, num},
    STATUS_LIST(SANDBOX_STATUS_CONST)
#undef SANDBOX_STATUS_CONST
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

enum { UPVALUE_PID = 1 };

/* Pushes the __metatable field of object i's metatable if it has one and
 * returns 1; else pushes nothing and returns 0. [-0, +(0|1), -] */
static int push_metatable_guard(lua_State *L, int i)
{
    if (!lua_getmetatable(L, i)) {
        return 0;
    }
    lua_pushliteral(L, "__metatable");  /* mt key */
    if (lua_rawget(L, -2) == LUA_TNIL) {   /* mt guard */
        lua_pop(L, 2);
        return 0;
    }
    lua_remove(L, -2);                  /* guard */
    return 1;
}

/* getmetatable(obj): nil for anything but a table (as in HsmEnclave, so
 * the shared string metatable is out of reach); for a table the
 * __metatable field when present, else the metatable, else nil.
 * [-0, +1, -] */
static int base_getmetatable(lua_State *L)
{
    luaL_checkany(L, 1);
    if (lua_type(L, 1) != LUA_TTABLE) {
        lua_pushnil(L);                 /* nil */
        return 1;
    }
    if (push_metatable_guard(L, 1)) {
        return 1;
    }
    if (!lua_getmetatable(L, 1)) {
        lua_pushnil(L);                 /* nil */
    }
    return 1;
}

/* setmetatable(t, mt): tables only; refuses a metatable that is protected
 * by __metatable, which covers the env and every library table, and a
 * metatable with a __gc field: Lua runs finalisers with hooks disabled, so
 * no budget could stop one. (Lua marks an object for finalisation only if
 * __gc is present when the metatable is set, so adding it later does
 * nothing.) Returns t. [-0, +1, e] */
static int base_setmetatable(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int mt_type = lua_type(L, 2);
    luaL_argexpected(L, mt_type == LUA_TNIL || mt_type == LUA_TTABLE, 2, "nil or table");
    if (mt_type == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");     /* t mt "__gc" */
        int has_gc = lua_rawget(L, 2) != LUA_TNIL; /* t mt gc */
        lua_pop(L, 1);                  /* t mt */
        if (has_gc) {
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in the sandbox");
        }
    }
    if (push_metatable_guard(L, 1)) {
        return luaL_error(L, "cannot change a protected metatable");
    }
    lua_settop(L, 2);                   /* t mt */
    lua_setmetatable(L, 1);             /* t */
    return 1;
}

/* tostring(v): as the stock one, but a table, function, thread or userdata
 * shows its per-process sequence number ("table: #3"), never an address.
 * [-0, +1, e] */
static int base_tostring(lua_State *L)
{
    luaL_checkany(L, 1);
    display_tolstring(L, 1);            /* v text */
    return 1;
}

/* next(t [, k]) as the stock one; one unit per call, so the deadline is
 * checked even when each step scans a sparse table. [-0, +(1|2), e] */
static int base_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    budget_charge(L, 1);
    lua_settop(L, 2);                   /* t k */
    if (lua_next(L, 1)) {               /* t k' v */
        return 2;
    }
    lua_pushnil(L);                     /* t nil */
    return 1;
}

static int pairs_continue(lua_State *L, int status, lua_KContext k)
{
    (void)status;
    (void)k;
    return 3;
}

/* pairs(t): __pairs when present, else our next. [-0, +3, e] */
static int base_pairs(lua_State *L)
{
    luaL_checkany(L, 1);
    if (luaL_getmetafield(L, 1, "__pairs") == LUA_TNIL) { /* t */
        lua_pushcfunction(L, base_next);                   /* t next */
        lua_pushvalue(L, 1);                               /* t next t */
        lua_pushnil(L);                                    /* t next t nil */
    } else {
        lua_pushvalue(L, 1);                               /* t pairs t */
        lua_callk(L, 1, 3, 0, pairs_continue);             /* t f s c */
    }
    return 3;
}

/* select(n, ...) as the stock one; charges the arguments it was given,
 * which the VM copied for it. [-0, +?, e] */
static int base_select(lua_State *L)
{
    int n = lua_gettop(L);
    lua_Integer i;

    budget_charge(L, (uint64_t)n);
    if (lua_type(L, 1) == LUA_TSTRING && *lua_tostring(L, 1) == '#') {
        lua_pushinteger(L, n - 1);      /* ... count */
        return 1;
    }
    i = luaL_checkinteger(L, 1);
    if (i < 0) {
        i = n + i;
    } else if (i > n) {
        i = n;
    }
    luaL_argcheck(L, 1 <= i, 1, "index out of range");
    return n - (int)i;
}

/* tonumber(v [, base]): the stock function (upvalue 1) after charging the
 * bytes of a string it will scan (a unit per byte: strtod on a long digit
 * string is slow, see charged.c). [-0, +1, e] */
static int base_tonumber(lua_State *L)
{
    size_t len = 0;

    if (lua_type(L, 1) == LUA_TSTRING) {
        (void)lua_tolstring(L, 1, &len);
    }
    budget_charge(L, 1 + len);
    lua_pushvalue(L, lua_upvalueindex(1));  /* args stock */
    lua_insert(L, 1);                       /* stock args */
    lua_call(L, lua_gettop(L) - 1, 1);      /* n */
    return 1;
}

/* The message handler xpcall installs: the app's handler (upvalue 1),
 * except for a limit error. That error is raised inside the count hook,
 * where Lua has hooks disabled, so the app's handler would run unbounded;
 * it gets the error object unchanged instead. [-1, +1, e] */
static int xpcall_handler(lua_State *L)
{
    if (budget_expired(L)) {
        return 1;                           /* err */
    }
    lua_pushvalue(L, lua_upvalueindex(1));  /* err h */
    lua_insert(L, 1);                       /* h err */
    lua_call(L, lua_gettop(L) - 1, 1);      /* err' */
    return 1;
}

static int xpcall_finish(lua_State *L, int status, lua_KContext extra)
{
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_pushboolean(L, 0);              /* ... err false */
        lua_pushvalue(L, -2);               /* ... err false err */
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

/* xpcall(f, h, ...) with h behind xpcall_handler. [-0, +?, -] */
static int base_xpcall(lua_State *L)
{
    int n = lua_gettop(L);

    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);                    /* f h args h */
    lua_pushcclosure(L, xpcall_handler, 1); /* f h args guard */
    lua_replace(L, 2);                      /* f guard args */
    lua_pushboolean(L, 1);                  /* f guard args true */
    lua_pushvalue(L, 1);                    /* f guard args true f */
    lua_rotate(L, 3, 2);                    /* f guard true f args */
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, xpcall_finish);
    return xpcall_finish(L, status, 2);
}

/* print(...): tab-separated tostring of the arguments, logged at debug
 * level with the pid; costs nothing when debug logging is off. [-0, +0, e] */
static int base_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    char line[ENCLAVELIB_LOG_MAX];
    size_t len;

    if (log_get_level() < LOG_DEBUG) {
        return 0;
    }
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) {
            luaL_addchar(&b, '\t');
        }
        display_tolstring(L, i);        /* ... piece */
        luaL_addvalue(&b);              /* ... */
    }
    luaL_pushresult(&b);                /* ... text */
    const char *text = lua_tolstring(L, -1, &len);
    text_sanitize(line, sizeof(line), text, len);
    LOG_D("process %u: %s", (unsigned)lua_tointeger(L, lua_upvalueindex(UPVALUE_PID)), line);
    return 0;
}

/* Arms thread co to call the running hook at its first instruction, so the
 * hook can charge a fresh coroutine a whole count period up front (see
 * count_hook in process.c). [-0, +0, -] */
static void arm_new_thread(lua_State *L, lua_State *co)
{
    lua_sethook(co, lua_gethook(L), lua_gethookmask(L), 1);
}

/* coroutine.create wrapper: the stock function (upvalue 1), then arm.
 * [-n, +1, e] */
static int coroutine_create_armed(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));      /* f create */
    lua_insert(L, 1);                           /* create f */
    lua_call(L, lua_gettop(L) - 1, 1);          /* co */
    arm_new_thread(L, lua_tothread(L, -1));
    return 1;
}

/* Resumes co with the n values on top of L; moves its results (or its
 * error object) to L. Returns the number of results, or -1 on error,
 * with the stock library's messages. [-n, +(results|1), e] */
static int resume_thread(lua_State *L, lua_State *co, int n)
{
    int nres, status;

    if (lua_status(co) == LUA_OK && lua_gettop(co) == 0) {
        lua_pushliteral(L, "cannot resume dead coroutine");
        return -1;
    }
    if (!lua_checkstack(co, n)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, n);
    status = lua_resume(co, L, n, &nres);
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_xmove(co, L, 1);                    /* err */
        return -1;
    }
    if (!lua_checkstack(L, nres + 1)) {
        lua_pop(co, nres);
        lua_pushliteral(L, "too many results to resume");
        return -1;
    }
    lua_xmove(co, L, nres);                     /* results */
    return nres;
}

/* The function coroutine.wrap returns (upvalue 1: its thread). As the
 * stock one, an error closes the thread's pending to-be-closed variables
 * before it propagates, except when a limit error stopped the thread inside
 * the count hook: Lua left that thread's hooks disabled, so its __close
 * handlers would run unbounded; they are never run. [-n, +?, e] */
static int coroutine_wrapped(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int r = resume_thread(L, co, lua_gettop(L));

    if (r >= 0) {
        return r;
    }
    int status = lua_status(co);
    if (status != LUA_OK && status != LUA_YIELD && !budget_thread_stopped(co)) {
        status = lua_resetthread(co);           /* err; co: err' */
        lua_pop(L, 1);                          /* */
        lua_xmove(co, L, 1);                    /* err' */
    }
    if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);                       /* err where */
        lua_insert(L, -2);                      /* where err */
        lua_concat(L, 2);                       /* where..err */
    }
    return lua_error(L);
}

/* coroutine.wrap(f): our wrapped function around an armed thread.
 * [-1, +1, e] */
static int coroutine_wrap_armed(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);           /* f co */
    lua_pushvalue(L, 1);                        /* f co f */
    lua_xmove(L, co, 1);                        /* f co */
    arm_new_thread(L, co);
    lua_pushcclosure(L, coroutine_wrapped, 1);  /* f wrapped */
    return 1;
}

/* coroutine.close(co): the stock function (upvalue 1), but a thread that a
 * limit error stopped inside the count hook is refused (see
 * coroutine_wrapped). [-1, +(1|2), e] */
static int coroutine_close_guarded(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);

    if (co != NULL && budget_thread_stopped(co)) {
        return luaL_error(L, "cannot close a coroutine that a limit stopped");
    }
    lua_pushvalue(L, lua_upvalueindex(1));      /* args close */
    lua_insert(L, 1);                           /* close args */
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static const luaL_Reg coroutine_armed[] = {
    {"create", coroutine_create_armed},
    {"wrap", coroutine_wrap_armed},
    {"close", coroutine_close_guarded},
    {NULL, NULL},
};

/* Replaces coroutine.create, wrap and close in env with our functions;
 * each gets the stock one as upvalue 1. [-0, +0, m] */
static void arm_coroutines(lua_State *L, int env)
{
    STACK_GUARD_BEGIN(L);
    lua_getfield(L, env, "coroutine");                    /* co_lib */
    for (const luaL_Reg *r = coroutine_armed; r->name != NULL; r++) {
        lua_getfield(L, -1, r->name);                     /* co_lib stock */
        lua_pushcclosure(L, r->func, 1);                  /* co_lib armed */
        lua_setfield(L, -2, r->name);                     /* co_lib */
    }
    lua_pop(L, 1);                                        /* */
    STACK_GUARD_END(L, 0);
}

static const luaL_Reg base_own[] = {
    {"next", base_next},
    {"pairs", base_pairs},
    {"select", base_select},
    {"tostring", base_tostring},
    {"xpcall", base_xpcall},
    {"print", base_print},
    {"getmetatable", base_getmetatable},
    {"setmetatable", base_setmetatable},
    {NULL, NULL},
};

/* Copies the allowed base functions from the stock global table into env at
 * index env. [-0, +0, m] */
static void copy_base(lua_State *L, int env)
{
    STACK_GUARD_BEGIN(L);
    lua_pushcfunction(L, luaopen_base);         /* open */
    lua_call(L, 0, 1);                          /* stock_G */
    for (size_t i = 0; i < COUNT_OF(base_allowed); i++) {
        lua_getfield(L, -1, base_allowed[i]);   /* stock_G value */
        lua_setfield(L, env, base_allowed[i]);  /* stock_G */
    }
    lua_getfield(L, -1, "tonumber");            /* stock_G stock_tonumber */
    lua_pushcclosure(L, base_tonumber, 1);      /* stock_G tonumber */
    lua_setfield(L, env, "tonumber");           /* stock_G */
    lua_pop(L, 1);                              /* */
    STACK_GUARD_END(L, 0);
}

/* Opens the allowed libraries into env, minus the removed fields, and gives
 * each the protected metatable at index guard. [-0, +0, m] */
static void open_libs(lua_State *L, int env, int guard)
{
    STACK_GUARD_BEGIN(L);
    for (size_t i = 0; i < COUNT_OF(libs_allowed); i++) {
        lua_pushcfunction(L, libs_allowed[i].open);     /* open */
        lua_call(L, 0, 1);                              /* lib */
        lua_pushvalue(L, guard);                        /* lib guard */
        lua_setmetatable(L, -2);                        /* lib */
        lua_setfield(L, env, libs_allowed[i].name);     /* */
    }
    for (size_t i = 0; i < COUNT_OF(lib_fields_removed); i++) {
        lua_getfield(L, env, lib_fields_removed[i].lib);  /* lib */
        lua_pushnil(L);                                   /* lib nil */
        lua_setfield(L, -2, lib_fields_removed[i].field); /* lib */
        lua_pop(L, 1);                                    /* */
    }
    STACK_GUARD_END(L, 0);
}

void sandbox_push_env(lua_State *L, const struct process_identity *id)
{
    uint32_t pid = id->pid;

    STACK_GUARD_BEGIN(L);
    lua_createtable(L, 0, 64);                  /* env */
    int env = lua_gettop(L);
    copy_base(L, env);
    lua_pushinteger(L, (lua_Integer)pid);       /* env pid */
    luaL_setfuncs(L, base_own, 1);              /* env */
    lua_pushvalue(L, env);                      /* env env */
    lua_setfield(L, env, "_G");                 /* env */
    display_open(L);

    /* One shared guard metatable: {__metatable = false}. */
    lua_createtable(L, 0, 1);                   /* env guard */
    int guard = lua_gettop(L);
    lua_pushboolean(L, 0);                      /* env guard false */
    lua_setfield(L, guard, "__metatable");      /* env guard */
    open_libs(L, env, guard);
    arm_coroutines(L, env);
    charged_install(L, env);
    for (size_t i = 0; i < COUNT_OF(constants); i++) {
        lua_pushinteger(L, constants[i].value); /* env guard value */
        lua_setfield(L, env, constants[i].name);/* env guard */
    }
    enclavelib_push(L, id);                     /* env guard enclave */
    lua_pushvalue(L, guard);                    /* env guard enclave guard */
    lua_setmetatable(L, -2);                    /* env guard enclave */
    lua_setfield(L, env, "enclave");            /* env guard */
    lua_setmetatable(L, env);                   /* env */

    lua_pushvalue(L, env);                      /* env env */
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS); /* env */
    STACK_GUARD_END(L, 1);
}
