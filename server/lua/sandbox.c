/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lua/sandbox.h"

#include <lauxlib.h>
#include <lualib.h>

#include "base/log.h"
#include "base/text.h"
#include "lua/chantype.h"
#include "lua/enclavelib.h"

/* Base functions copied from the stock base library. print, setmetatable
 * and getmetatable are ours (below); everything else there is left out. */
static const char *const base_allowed[] = {
    "assert", "error", "ipairs", "next", "pairs", "pcall", "select",
    "tonumber", "tostring", "type", "xpcall", "_VERSION",
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

/* getmetatable(obj): the __metatable field when present, else the
 * metatable, else nil. [-0, +1, -] */
static int base_getmetatable(lua_State *L)
{
    luaL_checkany(L, 1);
    if (push_metatable_guard(L, 1)) {
        return 1;
    }
    if (!lua_getmetatable(L, 1)) {
        lua_pushnil(L);                 /* nil */
    }
    return 1;
}

/* setmetatable(t, mt): tables only; refuses a metatable that is protected
 * by __metatable, which covers the env and every library table. Returns t.
 * [-0, +1, e] */
static int base_setmetatable(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int mt_type = lua_type(L, 2);
    luaL_argexpected(L, mt_type == LUA_TNIL || mt_type == LUA_TTABLE, 2, "nil or table");
    if (push_metatable_guard(L, 1)) {
        return luaL_error(L, "cannot change a protected metatable");
    }
    lua_settop(L, 2);                   /* t mt */
    lua_setmetatable(L, 1);             /* t */
    return 1;
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
        luaL_tolstring(L, i, NULL);     /* ... piece */
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

/* coroutine.wrap wrapper: the stock function, whose result keeps its
 * thread as upvalue 1 in Lua 5.4, then arm that thread. [-n, +1, e] */
static int coroutine_wrap_armed(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));      /* f wrap */
    lua_insert(L, 1);                           /* wrap f */
    lua_call(L, lua_gettop(L) - 1, 1);          /* fn */
    const char *upvalue = lua_getupvalue(L, -1, 1); /* fn co */
    ENCLAVED_ASSERT(upvalue != NULL && lua_type(L, -1) == LUA_TTHREAD);
    arm_new_thread(L, lua_tothread(L, -1));
    lua_pop(L, 1);                              /* fn */
    return 1;
}

static const luaL_Reg coroutine_armed[] = {
    {"create", coroutine_create_armed},
    {"wrap", coroutine_wrap_armed},
    {NULL, NULL},
};

/* Replaces coroutine.create and wrap in env with armed wrappers around the
 * stock functions. [-0, +0, m] */
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

    /* One shared guard metatable: {__metatable = false}. */
    lua_createtable(L, 0, 1);                   /* env guard */
    int guard = lua_gettop(L);
    lua_pushboolean(L, 0);                      /* env guard false */
    lua_setfield(L, guard, "__metatable");      /* env guard */
    open_libs(L, env, guard);
    arm_coroutines(L, env);
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
