/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lua/display.h"

#include <lauxlib.h>

/* Key of the registry's weak table that numbers objects for tostring. */
static const char seq_key = 0;

/* Pushes the per-process sequence number of collectable value i, giving it
 * the next number on first sight. [-0, +1, m] */
static lua_Integer object_number(lua_State *L, int i)
{
    lua_Integer n;

    i = lua_absindex(L, i);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &seq_key);    /* seq */
    lua_pushvalue(L, i);                            /* seq obj */
    if (lua_rawget(L, -2) == LUA_TNUMBER) {          /* seq n */
        n = lua_tointeger(L, -1);
        lua_pop(L, 2);                              /* */
        return n;
    }
    lua_pop(L, 1);                                  /* seq */
    lua_rawgeti(L, -1, 0);                          /* seq last */
    n = lua_tointeger(L, -1) + 1;
    lua_pop(L, 1);                                  /* seq */
    lua_pushinteger(L, n);                          /* seq n */
    lua_rawseti(L, -2, 0);                          /* seq */
    lua_pushvalue(L, i);                            /* seq obj */
    lua_pushinteger(L, n);                          /* seq obj n */
    lua_rawset(L, -3);                              /* seq */
    lua_pop(L, 1);                                  /* */
    return n;
}

void display_pointer_text(lua_State *L, int i)
{
    switch (lua_type(L, i)) {
    case LUA_TTABLE:
    case LUA_TFUNCTION:
    case LUA_TTHREAD:
    case LUA_TUSERDATA:
        lua_pushfstring(L, "#%I", (LUAI_UACINT)object_number(L, i)); /* text */
        break;
    default:
        lua_pushliteral(L, "(null)");                                /* text */
        break;
    }
}

void display_tolstring(lua_State *L, int i)
{
    i = lua_absindex(L, i);
    if (luaL_callmeta(L, i, "__tostring")) {         /* text */
        if (!lua_isstring(L, -1)) {
            luaL_error(L, "'__tostring' must return a string");
        }
        return;
    }
    switch (lua_type(L, i)) {
    case LUA_TNUMBER:
    case LUA_TSTRING:
        lua_pushvalue(L, i);                        /* v */
        (void)lua_tostring(L, -1);                  /* text */
        break;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, i) ? "true" : "false"); /* text */
        break;
    case LUA_TNIL:
        lua_pushliteral(L, "nil");                  /* text */
        break;
    default: {
        int t = luaL_getmetafield(L, i, "__name");  /* [name] */
        const char *kind = t == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, i);
        lua_pushfstring(L, "%s: ", kind);           /* [name] prefix */
        display_pointer_text(L, i);            /* [name] prefix #n */
        lua_concat(L, 2);                           /* [name] text */
        if (t != LUA_TNIL) {
            lua_remove(L, -2);                      /* text */
        }
        break;
    }
    }
}

void display_open(lua_State *L)
{
    lua_createtable(L, 0, 1);                   /* seq */
    lua_createtable(L, 0, 1);                   /* seq mt */
    lua_pushliteral(L, "k");                    /* seq mt "k" */
    lua_setfield(L, -2, "__mode");              /* seq mt */
    lua_setmetatable(L, -2);                    /* seq */
    lua_rawsetp(L, LUA_REGISTRYINDEX, &seq_key);/* */
}
