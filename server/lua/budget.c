/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lua/budget.h"

#include <string.h>

#include <lauxlib.h>

#include "base/status.h"
#include "platform/platform.h"

/* The count hook fires every HOOK_PERIOD instructions (or every `limit`,
 * if smaller) and charges that many. Some single instructions scan the heap
 * (comparing or testing two long strings for equality, copying a vararg
 * list), so once the heap passes HOOK_HEAP_REF the period shrinks in
 * proportion, which keeps the time between two clock reads to a few such
 * instructions. */
enum {
    HOOK_PERIOD = 1000,
    HOOK_PERIOD_MIN = 4,
    HOOK_HEAP_REF = 256 << 10,
    /* budget_spend reads the clock after this many units or calls. */
    CLOCK_CHECK_UNITS = 1 << 16,
    CLOCK_CHECK_CALLS = 16,
    /* Nominal speed: a unit is about 10 ns. A single charge that would not
     * finish before the deadline at this speed is refused up front instead
     * of overrunning it. */
    UNITS_PER_MS = 100 * 1000,
};

_Static_assert(LUA_EXTRASPACE >= sizeof(struct budget *), "no room for the budget pointer");

/* Lua copies the main thread's extra space into every new thread, so each
 * thread of the state finds the budget there. */
static struct budget *budget_of(lua_State *L)
{
    struct budget *b;

    memcpy(&b, lua_getextraspace(L), sizeof(b));
    return b;
}

void budget_attach(struct budget *b, lua_State *L)
{
    b->main = L;
    b->period = b->limit == 0 ? 1 : b->limit < HOOK_PERIOD ? (int)b->limit : HOOK_PERIOD;
    memcpy(lua_getextraspace(L), &b, sizeof(b));
}

int budget_spend(struct budget *b, uint64_t units, int force_clock)
{
    if (!b->in_call) {
        return 0;
    }
    if (b->expired != BUDGET_LIVE) {
        return 1;
    }
    b->used = units > UINT64_MAX - b->used ? UINT64_MAX : b->used + units;
    if (b->used >= b->limit) {
        b->expired = BUDGET_WORK;
        return 1;
    }
    b->unchecked += units;
    if (force_clock || b->unchecked >= CLOCK_CHECK_UNITS ||
        ++b->unchecked_calls >= CLOCK_CHECK_CALLS) {
        uint64_t now = platform_monotonic_ms();
        b->unchecked = 0;
        b->unchecked_calls = 0;
        if (now >= b->deadline_ms || units / UNITS_PER_MS >= b->deadline_ms - now) {
            b->expired = BUDGET_TIME;
            return 1;
        }
    }
    return 0;
}

/* The count period for the current heap size (see HOOK_HEAP_REF). */
static int current_period(const struct budget *b)
{
    size_t used = *b->memory_used;

    if (used <= HOOK_HEAP_REF) {
        return b->period;
    }
    uint64_t period = (uint64_t)b->period * HOOK_HEAP_REF / used;
    if (period >= HOOK_PERIOD_MIN) {
        return (int)period;
    }
    return b->period < HOOK_PERIOD_MIN ? b->period : HOOK_PERIOD_MIN;
}

static void count_hook(lua_State *L, lua_Debug *ar);

/* Once the budget is spent the hook fires on every instruction and line of
 * the thread that runs (and of the main thread, which a coroutine returns
 * to), so a pcall or a coroutine in the app cannot swallow the error;
 * budget_begin clears it. The line mask also marks a thread that died of
 * the error inside the hook (budget_thread_stopped). [-0, +0, -] */
static void arm_expired(struct budget *b, lua_State *L)
{
    lua_sethook(L, count_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
    if (L != b->main) {
        lua_sethook(b->main, count_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
    }
}

/* [-0, +1, v] */
static int raise_limit(lua_State *L, const struct budget *b)
{
    if (b->expired == BUDGET_TIME) {
        return luaL_error(L, "time limit exceeded (max_hook_ms)");
    }
    return luaL_error(L, "instruction limit exceeded");
}

/* Charges the count this thread was armed with. A thread armed at another
 * count than the current period is either a fresh coroutine (sandbox.c arms
 * each to fire at its first instruction, so it pays a period up front and
 * cannot run a partial period for free), one left armed by an earlier
 * call's expiry, or one armed before the heap grew; it is re-armed to the
 * current period and charged at least a period. Every firing reads the
 * clock. [-0, +0, v] */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    struct budget *b = budget_of(L);
    int fired = lua_gethookcount(L);

    (void)ar;
    if (b->expired == BUDGET_LIVE) {
        int period = current_period(b);
        if (fired != period || lua_gethookmask(L) != LUA_MASKCOUNT) {
            lua_sethook(L, count_hook, LUA_MASKCOUNT, period);
            fired = fired > period ? fired : period;
        }
        if (!budget_spend(b, (uint64_t)fired, 1)) {
            return;
        }
    }
    arm_expired(b, L);
    raise_limit(L, b);
}

void budget_begin(struct budget *b)
{
    ENCLAVED_ASSERT(!b->in_call);
    b->in_call = 1;
    b->used = 0;
    b->expired = BUDGET_LIVE;
    b->unchecked = 0;
    b->unchecked_calls = 0;
    b->deadline_ms = platform_monotonic_ms() + (b->hook_ms != 0 ? b->hook_ms : BUDGET_DEFAULT_MS);
    lua_sethook(b->main, count_hook, LUA_MASKCOUNT, current_period(b));
}

void budget_end(struct budget *b)
{
    b->in_call = 0;
}

void budget_stop(struct budget *b)
{
    b->expired = BUDGET_WORK;
    lua_sethook(b->main, count_hook, LUA_MASKCOUNT, 1);
}

void budget_charge(lua_State *L, uint64_t units)
{
    struct budget *b = budget_of(L);

    if (!budget_spend(b, units, 0)) {
        return;
    }
    arm_expired(b, L);
    raise_limit(L, b);
}

void budget_charge_bytes(lua_State *L, size_t len)
{
    budget_charge(L, 1 + len / BUDGET_BYTES_PER_UNIT);
}

size_t budget_memory_room(lua_State *L)
{
    const struct budget *b = budget_of(L);
    return b->memory_cap - *b->memory_used;
}

int budget_expired(lua_State *L)
{
    const struct budget *b = budget_of(L);
    return b->in_call && b->expired != BUDGET_LIVE;
}

int budget_thread_stopped(lua_State *co)
{
    int st = lua_status(co);
    return (lua_gethookmask(co) & LUA_MASKLINE) != 0 && st != LUA_OK && st != LUA_YIELD;
}
