/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lua/charged.h"

#include <stdint.h>
#include <string.h>

#include <lauxlib.h>

#include "base/log.h"
#include "base/status.h"
#include "lua/pattern.h"
#include "lua/budget.h"
#include "lua/display.h"

/* Saturating helpers: a charge that overflows is simply too large. */
static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    return (b != 0 && a > UINT64_MAX / b) ? UINT64_MAX : a * b;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Calls the stock function (upvalue 1) with every argument and returns
 * all its results. [-n, +?, e] */
static int call_stock(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));  /* args stock */
    lua_insert(L, 1);                       /* stock args */
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* The count of positions i..j (both optional, Lua's negative positions
 * counted from the end) that a slice of a len-byte string covers, as the
 * stock byte and codepoint functions compute it, clamped to len. */
static uint64_t slice_count(lua_State *L, int i_arg, int j_arg, size_t len)
{
    lua_Integer i = luaL_optinteger(L, i_arg, 1);
    lua_Integer j = luaL_optinteger(L, j_arg, i);

    if (i < 0) {
        i = (lua_Integer)len + i + 1;
    }
    if (j < 0) {
        j = (lua_Integer)len + j + 1;
    }
    if (i < 1) {
        i = 1;
    }
    if (j > (lua_Integer)len) {
        j = (lua_Integer)len;
    }
    return j >= i ? (uint64_t)(j - i) + 1 : 0;
}

/* {====== string */

/* string.rep(s, n [, sep]): a unit per 4 repetitions even when s and sep
 * are empty (the stock loop still runs n times, a memcpy each), plus the
 * bytes produced. A result larger than the memory left is not charged:
 * the stock function fails to allocate it before looping, and the call
 * ends with the memory status. [-?, +1, e] */
static int str_rep(lua_State *L)
{
    size_t len, sep_len = 0;
    (void)luaL_checklstring(L, 1, &len);
    lua_Integer n = luaL_checkinteger(L, 2);
    (void)luaL_optlstring(L, 3, "", &sep_len);

    if (n > 0) {
        uint64_t bytes = mul_sat((uint64_t)n, add_sat(len, sep_len));
        if (bytes > budget_memory_room(L)) {
            budget_charge(L, 1);
        } else {
            budget_charge(L, add_sat((uint64_t)n / 4 + 1, bytes / BUDGET_BYTES_PER_UNIT));
        }
    }
    return call_stock(L);
}

/* string.byte(s [, i [, j]]): one unit per byte pushed. [-?, +?, e] */
static int str_byte(lua_State *L)
{
    size_t len;
    (void)luaL_checklstring(L, 1, &len);
    budget_charge(L, 1 + slice_count(L, 2, 3, len));
    return call_stock(L);
}

/* string.char(...), utf8.char(...), table.pack(...): one unit per argument.
 * [-?, +1, e] */
static int per_argument(lua_State *L)
{
    budget_charge(L, 1 + (uint64_t)lua_gettop(L));
    return call_stock(L);
}

/* One unit per 16 bytes of string argument 1: lower, upper and reverse.
 * [-?, +?, e] */
static int per_byte_of_first(lua_State *L)
{
    size_t len;
    (void)luaL_checklstring(L, 1, &len);
    budget_charge_bytes(L, len);
    return call_stock(L);
}

/* One unit per 4 bytes of string argument 1, for utf8.len, utf8.offset
 * and utf8.codes, which decode it byte by byte (and whose scans stay
 * inside it). [-?, +?, e] */
static int per_decoded_byte(lua_State *L)
{
    size_t len;
    (void)luaL_checklstring(L, 1, &len);
    budget_charge(L, 1 + len / 4);
    return call_stock(L);
}

/* string.pack, unpack and packsize: the format and every string argument
 * are read once; what is produced is allocated, and allocation is charged.
 * [-?, +?, e] */
static int per_byte_of_strings(lua_State *L)
{
    int n = lua_gettop(L);
    uint64_t bytes = 0;

    for (int i = 1; i <= n; i++) {
        if (lua_type(L, i) == LUA_TSTRING) {
            size_t len;
            (void)lua_tolstring(L, i, &len);
            bytes = add_sat(bytes, len);
        }
    }
    budget_charge(L, 1 + (uint64_t)n + bytes / BUDGET_BYTES_PER_UNIT);
    return call_stock(L);
}

/* The string metatable's arithmetic metamethods ("10" + 1): each converts
 * its string operands to numbers, scanning them (glibc's strtod on a long
 * digit string costs several ns a byte, measured): one unit per byte of
 * string operand, so a conversion that cannot finish in time is refused up
 * front instead of overrunning max_hook_ms. [-2, +1, e] */
static int per_number_text(lua_State *L)
{
    uint64_t bytes = 0;

    for (int i = 1; i <= lua_gettop(L); i++) {
        if (lua_type(L, i) == LUA_TSTRING) {
            size_t len;
            (void)lua_tolstring(L, i, &len);
            bytes = add_sat(bytes, len);
        }
    }
    budget_charge(L, 1 + bytes);
    return call_stock(L);
}

static const char *const string_arithmetic[] = {
    "__add", "__sub", "__mul", "__mod", "__pow", "__div", "__idiv", "__unm",
};

/* Wraps the arithmetic metamethods of the string metatable. [-0, +0, m] */
static void charge_string_arithmetic(lua_State *L)
{
    lua_pushliteral(L, "");                             /* "" */
    if (!lua_getmetatable(L, -1)) {                     /* "" mt */
        lua_pop(L, 1);
        return;
    }
    for (size_t i = 0; i < sizeof(string_arithmetic) / sizeof(string_arithmetic[0]); i++) {
        if (lua_getfield(L, -1, string_arithmetic[i]) != LUA_TFUNCTION) { /* "" mt f */
            lua_pop(L, 1);
            continue;
        }
        lua_pushcclosure(L, per_number_text, 1);        /* "" mt wrapped */
        lua_setfield(L, -2, string_arithmetic[i]);      /* "" mt */
    }
    lua_pop(L, 2);                                      /* */
}

/* utf8.codepoint(s [, i [, j]]): one unit per byte of the slice. */
static int utf8_codepoint_charged(lua_State *L)
{
    size_t len;
    (void)luaL_checklstring(L, 1, &len);
    budget_charge(L, 1 + slice_count(L, 2, 3, len));
    return call_stock(L);
}

/* Index of the conversion character of the specification that starts at
 * fmt[at] == '%' (flags, width and precision skipped), or len. */
static size_t spec_conversion(const char *fmt, size_t len, size_t at)
{
    size_t i = at + 1;

    while (i < len && strchr("-+ #0", fmt[i]) != NULL) {
        i++;
    }
    while (i < len && ((fmt[i] >= '0' && fmt[i] <= '9') || fmt[i] == '.')) {
        i++;
    }
    return i;
}

/* string.format(fmt, ...): charges the format, the arguments and their
 * bytes; then gives %s of a table (or function, thread, userdata) our
 * tostring and turns %p into %s of its sequence number, so no heap address
 * reaches the app. Invalid formats are left for the stock function to
 * refuse. [-?, +1, e] */
static int str_format(lua_State *L)
{
    size_t fmt_len;
    const char *fmt = luaL_checklstring(L, 1, &fmt_len);
    int top = lua_gettop(L);
    uint64_t bytes = fmt_len;
    int arg = 1, pointers = 0;

    for (int i = 2; i <= top; i++) {
        if (lua_type(L, i) == LUA_TSTRING) {
            size_t len;
            (void)lua_tolstring(L, i, &len);
            bytes = add_sat(bytes, len);
        }
    }
    budget_charge(L, 1 + (uint64_t)top + bytes / BUDGET_BYTES_PER_UNIT);
    for (size_t i = 0; i < fmt_len; i++) {
        if (fmt[i] != '%') {
            continue;
        }
        if (i + 1 < fmt_len && fmt[i + 1] == '%') {
            i++;
            continue;
        }
        size_t c = spec_conversion(fmt, fmt_len, i);
        if (c >= fmt_len || ++arg > top) {
            break;
        }
        int t = lua_type(L, arg);
        if (fmt[c] == 's' && t != LUA_TSTRING && t != LUA_TNUMBER) {
            display_tolstring(L, arg);          /* fmt args text */
            lua_replace(L, arg);                /* fmt args' */
        } else if (fmt[c] == 'p') {
            display_pointer_text(L, arg);  /* fmt args text */
            lua_replace(L, arg);                /* fmt args' */
            pointers = 1;
        }
        i = c;
    }
    if (pointers) {
        luaL_Buffer b;
        fmt = lua_tolstring(L, 1, &fmt_len);
        luaL_buffinit(L, &b);
        for (size_t i = 0; i < fmt_len; i++) {
            luaL_addchar(&b, fmt[i]);
            if (fmt[i] != '%') {
                continue;
            }
            if (i + 1 < fmt_len && fmt[i + 1] == '%') {
                luaL_addchar(&b, '%');
                i++;
                continue;
            }
            size_t c = spec_conversion(fmt, fmt_len, i);
            luaL_addlstring(&b, fmt + i + 1, (c < fmt_len ? c : fmt_len) - i - 1);
            if (c < fmt_len) {
                luaL_addchar(&b, fmt[c] == 'p' ? 's' : fmt[c]);
            }
            i = c;
        }
        luaL_pushresult(&b);                    /* fmt args fmt' */
        lua_replace(L, 1);                      /* fmt' args */
    }
    return call_stock(L);
}

/* }====== */

/* {====== table */

/* Accepts a table, or anything whose metatable gives __index, __newindex
 * and __len (what the stock functions accept for reading and writing).
 * [-0, +0, e] */
static void check_table_like(lua_State *L, int i)
{
    if (lua_type(L, i) == LUA_TTABLE) {
        return;
    }
    if (lua_getmetatable(L, i)) {                       /* mt */
        int ok = 1;
        static const char *const fields[] = {"__index", "__newindex", "__len"};
        for (int f = 0; f < 3 && ok; f++) {
            ok = lua_getfield(L, -1, fields[f]) != LUA_TNIL;  /* mt v */
            lua_pop(L, 1);                              /* mt */
        }
        lua_pop(L, 1);                                  /* */
        if (ok) {
            return;
        }
    }
    luaL_checktype(L, i, LUA_TTABLE);
}

/* #t through __len, as an integer. [-0, +0, e] */
static lua_Integer length_of(lua_State *L, int i)
{
    return luaL_len(L, i);
}

/* table.insert(t, [pos,] v): reads #t once, charges the elements it moves,
 * then moves them. [-0, +0, e] */
static int tab_insert(lua_State *L)
{
    lua_Integer pos;

    check_table_like(L, 1);
    lua_Integer e = length_of(L, 1);
    e = (lua_Integer)((lua_Unsigned)e + 1u);    /* first empty slot */
    switch (lua_gettop(L)) {
    case 2:
        pos = e;
        budget_charge(L, 1);
        break;
    case 3:
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
        budget_charge(L, 1 + (uint64_t)(e - pos));
        for (lua_Integer i = e; i > pos; i--) {
            lua_geti(L, 1, i - 1);                  /* t pos v t[i-1] */
            lua_seti(L, 1, i);                      /* t pos v */
        }
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, pos);                            /* t [pos] */
    return 0;
}

/* table.remove(t [, pos]): as insert, the other way. [-0, +1, e] */
static int tab_remove(lua_State *L)
{
    check_table_like(L, 1);
    lua_Integer size = length_of(L, 1);
    lua_Integer pos = luaL_optinteger(L, 2, size);

    if (pos != size) {
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2,
                      "position out of bounds");
    }
    budget_charge(L, 1 + (pos < size ? (uint64_t)(size - pos) : 0));
    lua_geti(L, 1, pos);                            /* t [pos] old */
    for (; pos < size; pos++) {
        lua_geti(L, 1, pos + 1);                    /* t [pos] old t[pos+1] */
        lua_seti(L, 1, pos);                        /* t [pos] old */
    }
    lua_pushnil(L);                                 /* t [pos] old nil */
    lua_seti(L, 1, pos);                            /* t [pos] old */
    return 1;
}

/* table.move(a1, f, e, t [, a2]): e - f + 1 elements. [-?, +1, e] */
static int tab_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);

    (void)luaL_checkinteger(L, 4);
    budget_charge(L, 1 + (e >= f ? (lua_Unsigned)e - (lua_Unsigned)f + 1u : 0));
    return call_stock(L);
}

/* The range i..j of table.concat / table.unpack, with j defaulting to #t
 * read once here; both are then passed to the stock function explicitly so
 * a lying __len cannot widen the range after it was charged. Leaves the
 * stack as t, arg2, i, j. [-?, +?, e] */
static void explicit_range(lua_State *L, int first, lua_Integer *i, lua_Integer *j)
{
    *i = luaL_optinteger(L, first, 1);
    *j = lua_isnoneornil(L, first + 1) ? length_of(L, 1) : luaL_checkinteger(L, first + 1);
    lua_settop(L, first - 1);
    lua_pushinteger(L, *i);
    lua_pushinteger(L, *j);
}

/* table.concat(t [, sep [, i [, j]]]): one unit per element; the bytes
 * joined are allocated, and allocation is charged. [-?, +1, e] */
static int tab_concat(lua_State *L)
{
    lua_Integer i, j;

    check_table_like(L, 1);
    (void)luaL_optstring(L, 2, "");
    lua_settop(L, 4);
    explicit_range(L, 3, &i, &j);                   /* t sep i j */
    budget_charge(L, 1 + (j >= i ? (lua_Unsigned)j - (lua_Unsigned)i + 1u : 0));
    return call_stock(L);
}

/* table.unpack(t [, i [, j]]): one unit per value pushed. [-?, +?, e] */
static int tab_unpack(lua_State *L)
{
    lua_Integer i, j;

    lua_settop(L, 3);
    explicit_range(L, 2, &i, &j);                   /* t i j */
    budget_charge(L, 1 + (j >= i ? (lua_Unsigned)j - (lua_Unsigned)i + 1u : 0));
    return call_stock(L);
}

/* The comparator table.sort is given (upvalue 1: the app's, or nil): one
 * unit per comparison, plus the bytes of two strings compared without an
 * app comparator. Lua code an app comparator runs is counted by the VM.
 * [-2, +1, e] */
static int sort_less(lua_State *L)
{
    if (lua_isnil(L, lua_upvalueindex(1))) {
        size_t la = 0, lb = 0;
        if (lua_type(L, 1) == LUA_TSTRING && lua_type(L, 2) == LUA_TSTRING) {
            (void)lua_tolstring(L, 1, &la);
            (void)lua_tolstring(L, 2, &lb);
        }
        budget_charge(L, 1 + (la < lb ? la : lb) / BUDGET_BYTES_PER_UNIT);
        lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT)); /* a b less */
        return 1;
    }
    budget_charge(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));          /* a b cmp */
    lua_insert(L, 1);                               /* cmp a b */
    lua_call(L, 2, 1);                              /* less */
    return 1;
}

/* 1 if t (a table without metatable) holds only numbers in 1..n; charges
 * the scan. [-0, +0, e] */
static int plain_numbers(lua_State *L, lua_Integer n)
{
    if (lua_getmetatable(L, 1)) {
        lua_pop(L, 1);
        return 0;
    }
    budget_charge(L, 1 + (uint64_t)n);
    for (lua_Integer i = 1; i <= n; i++) {
        int t = lua_rawgeti(L, 1, i);               /* t v */
        lua_pop(L, 1);                              /* t */
        if (t != LUA_TNUMBER) {
            return 0;
        }
    }
    return 1;
}

/* table.sort(t [, comp]). The common case, numbers in a plain table with no
 * comparator, runs the stock sort directly, charged up front for its
 * expected n log n comparisons (its pivot is randomised when a partition
 * is unbalanced) and by the deadline; otherwise every comparison goes
 * through sort_less. [-?, +0, e] */
static int tab_sort(lua_State *L)
{
    check_table_like(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TFUNCTION);
    }
    lua_settop(L, 2);                               /* t cmp */
    if (lua_isnil(L, 2) && lua_type(L, 1) == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
        if (plain_numbers(L, n)) {
            uint64_t log2n = 1;
            while (log2n < 63 && ((uint64_t)1 << log2n) < (uint64_t)n) {
                log2n++;
            }
            budget_charge(L, mul_sat((uint64_t)n, log2n));
            return call_stock(L);
        }
    }
    lua_pushcclosure(L, sort_less, 1);              /* t less */
    return call_stock(L);
}

/* }====== */

static const struct pattern_budget budget = {budget_charge};

static const struct {
    const char *lib, *name;
    lua_CFunction fn;
    int wraps_stock;                 /* 1: the stock function is upvalue 1 */
} replaced[] = {
    {"string", "rep", str_rep, 1},
    {"string", "byte", str_byte, 1},
    {"string", "char", per_argument, 1},
    {"string", "format", str_format, 1},
    {"string", "lower", per_byte_of_first, 1},
    {"string", "upper", per_byte_of_first, 1},
    {"string", "reverse", per_byte_of_first, 1},
    {"string", "pack", per_byte_of_strings, 1},
    {"string", "unpack", per_byte_of_strings, 1},
    {"string", "packsize", per_byte_of_strings, 1},
    {"table", "insert", tab_insert, 0},
    {"table", "remove", tab_remove, 0},
    {"table", "move", tab_move, 1},
    {"table", "concat", tab_concat, 1},
    {"table", "unpack", tab_unpack, 1},
    {"table", "pack", per_argument, 1},
    {"table", "sort", tab_sort, 1},
    {"utf8", "char", per_argument, 1},
    {"utf8", "codepoint", utf8_codepoint_charged, 1},
    {"utf8", "len", per_decoded_byte, 1},
    {"utf8", "offset", per_decoded_byte, 1},
    {"utf8", "codes", per_decoded_byte, 1},
};

void charged_install(lua_State *L, int env)
{
    for (size_t i = 0; i < sizeof(replaced) / sizeof(replaced[0]); i++) {
        lua_getfield(L, env, replaced[i].lib);              /* lib */
        if (replaced[i].wraps_stock) {
            lua_getfield(L, -1, replaced[i].name);          /* lib stock */
            ENCLAVED_ASSERT(lua_type(L, -1) == LUA_TFUNCTION);
            lua_pushcclosure(L, replaced[i].fn, 1);         /* lib fn */
        } else {
            lua_pushcfunction(L, replaced[i].fn);           /* lib fn */
        }
        lua_setfield(L, -2, replaced[i].name);              /* lib */
        lua_pop(L, 1);                                      /* */
    }
    lua_getfield(L, env, "string");                         /* string */
    pattern_install(L, lua_gettop(L), &budget);
    lua_pop(L, 1);                                          /* */
    charge_string_arithmetic(L);
}
