/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * A backtracking matcher for Lua 5.4 patterns that counts what it does.
 *
 * A pattern is a sequence of items; match_here() walks it from one subject
 * offset and calls itself for what follows an item that can match in more
 * than one way (a capture boundary, '?', '*', '+', '-'). Its failures
 * unwind as "no match"; a malformed pattern or a stop request sets
 * m->failed, which every caller checks after each call. Errors are found
 * lazily, as Lua finds them: a malformed part that is never reached is
 * never reported, so results stay identical to Lua's.
 *
 * Steps: one per item tried at an offset, one per repetition, one per 8
 * bytes of a set scanned and per 16 bytes compared by a back-reference.
 */
#include "lua/pattern.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#define ESCAPE '%'

static void set_error(struct pattern_match *m, const char *text)
{
    if (m->failed) {
        return;
    }
    m->failed = PATTERN_MALFORMED;
    snprintf(m->error, sizeof(m->error), "%s", text);
}

int pattern_match_charge(struct pattern_match *m, uint64_t steps)
{
    m->pending += steps;
    if (m->pending < PATTERN_CHARGE_EVERY) {
        return 0;
    }
    return pattern_match_flush(m);
}

int pattern_match_flush(struct pattern_match *m)
{
    uint64_t steps = m->pending;

    m->pending = 0;
    if (steps != 0 && m->charge != NULL && m->charge(m->ctx, steps) != 0) {
        if (!m->failed) {
            m->failed = PATTERN_STOPPED;
        }
        return 1;
    }
    return 0;
}

/* 1 if step accounting asked to stop (or a failure is already set). */
static int spend(struct pattern_match *m, uint64_t steps)
{
    return pattern_match_charge(m, steps) != 0 || m->failed;
}

/* The byte at offset i, or 0 past the end (Lua strings end in a NUL that
 * the frontier pattern and the class parser see). */
static int byte_at(const uint8_t *buf, size_t len, size_t i)
{
    return i < len ? buf[i] : 0;
}

/* Does c belong to the class named by letter cl (%a, %d, ...; upper case
 * complements)? Any other letter stands for itself. */
static int class_has(int c, int cl)
{
    int in;

    switch (tolower(cl)) {
    case 'a': in = isalpha(c); break;
    case 'c': in = iscntrl(c); break;
    case 'd': in = isdigit(c); break;
    case 'g': in = isgraph(c); break;
    case 'l': in = islower(c); break;
    case 'p': in = ispunct(c); break;
    case 's': in = isspace(c); break;
    case 'u': in = isupper(c); break;
    case 'w': in = isalnum(c); break;
    case 'x': in = isxdigit(c); break;
    case 'z': in = c == 0; break;  /* deprecated in 5.2, still accepted by 5.4 */
    default: return cl == c;
    }
    in = in != 0;
    return isupper(cl) ? !in : in;
}

/* Offset just past the single-character class at pattern offset p
 * ('.', 'x', '%x' or a set), or SIZE_MAX with an error set. */
static size_t class_end(struct pattern_match *m, size_t p)
{
    const uint8_t *pat = m->pattern;
    size_t n = m->pattern_len;
    int c = pat[p++];

    if (c == ESCAPE) {
        if (p >= n) {
            set_error(m, "malformed pattern (ends with '%')");
            return SIZE_MAX;
        }
        return p + 1;
    }
    if (c != '[') {
        return p;
    }
    if (byte_at(pat, n, p) == '^') {
        p++;
    }
    /* The first member is taken before looking for ']', so "[]]" and
     * "[^]]" hold a ']'. An escape takes the byte after it. */
    do {
        if (p >= n) {
            set_error(m, "malformed pattern (missing ']')");
            return SIZE_MAX;
        }
        c = pat[p++];
        if (c == ESCAPE && p < n) {
            p++;
        }
    } while (byte_at(pat, n, p) != ']');
    return p + 1;
}

/* Is c in the set whose '[' is at open and whose ']' is at close? */
static int set_has(struct pattern_match *m, int c, size_t open, size_t close)
{
    const uint8_t *pat = m->pattern;
    int found = 1;
    size_t p = open + 1;

    (void)spend(m, 1 + (close - open) / 8);
    if (pat[p] == '^') {
        found = 0;
        p++;
    }
    for (; p < close; p++) {
        if (pat[p] == ESCAPE) {
            p++;
            if (class_has(c, pat[p])) {
                return found;
            }
        } else if (p + 2 < close && pat[p + 1] == '-') {
            if (pat[p] <= c && c <= pat[p + 2]) {
                return found;
            }
            p += 2;
        } else if (pat[p] == c) {
            return found;
        }
    }
    return !found;
}

/* Does the subject byte at s match the class [p, ep)? Never past the end. */
static int class_matches(struct pattern_match *m, size_t s, size_t p, size_t ep)
{
    if (s >= m->subject_len) {
        return 0;
    }
    int c = m->subject[s];
    switch (m->pattern[p]) {
    case '.':
        return 1;
    case ESCAPE:
        return class_has(c, m->pattern[p + 1]);
    case '[':
        return set_has(m, c, p, ep - 1);
    default:
        return m->pattern[p] == c;
    }
}

static int match_here(struct pattern_match *m, size_t s, size_t p, size_t *end);

/* %bxy at s (p at 'x'): s must open with x; the match ends after the y
 * that balances it. */
static int match_balanced(struct pattern_match *m, size_t *s, size_t p)
{
    const uint8_t *sub = m->subject;
    int depth = 1;

    if (p + 1 >= m->pattern_len) {
        set_error(m, "malformed pattern (missing arguments to '%b')");
        return 0;
    }
    int open = m->pattern[p], close = m->pattern[p + 1];
    if (*s >= m->subject_len || sub[*s] != open) {
        return 0;
    }
    for (size_t i = *s + 1; i < m->subject_len; i++) {
        if ((i & 15) == 0 && spend(m, 1)) {
            return 0;
        }
        if (sub[i] == close) {
            if (--depth == 0) {
                *s = i + 1;
                return 1;
            }
        } else if (sub[i] == open) {
            depth++;
        }
    }
    return 0;
}

/* %1..%9 at s: the text of a closed capture again. */
static int match_backref(struct pattern_match *m, size_t *s, int digit)
{
    int i = digit - '1';

    if (i < 0 || i >= m->captures || m->capture[i].len == PATTERN_CAP_OPEN) {
        char text[PATTERN_ERROR_MAX];
        snprintf(text, sizeof(text), "invalid capture index %%%d", i + 1);
        set_error(m, text);
        return 0;
    }
    ptrdiff_t len = m->capture[i].len;
    /* A position capture has no text and matches nothing (as in Lua). */
    if (len < 0 || m->subject_len - *s < (size_t)len) {
        return 0;
    }
    if (spend(m, 1 + (uint64_t)len / 16)) {
        return 0;
    }
    if (memcmp(m->subject + m->capture[i].start, m->subject + *s, (size_t)len) != 0) {
        return 0;
    }
    *s += (size_t)len;
    return 1;
}

/* The innermost capture still open, or -1 with an error. */
static int open_capture(struct pattern_match *m)
{
    for (int i = m->captures - 1; i >= 0; i--) {
        if (m->capture[i].len == PATTERN_CAP_OPEN) {
            return i;
        }
    }
    set_error(m, "invalid pattern capture");
    return -1;
}

/* '(' or "()" at p: opens capture number m->captures at s, then matches
 * the rest from rest. */
static int match_capture_open(struct pattern_match *m, size_t s, size_t rest, ptrdiff_t kind,
                              size_t *end)
{
    if (m->captures >= PATTERN_MAX_CAPTURES) {
        set_error(m, "too many captures");
        return 0;
    }
    m->capture[m->captures].start = s;
    m->capture[m->captures].len = kind;
    m->captures++;
    if (match_here(m, s, rest, end)) {
        return 1;
    }
    m->captures--;
    return 0;
}

/* ')' : closes the innermost open capture at s. */
static int match_capture_close(struct pattern_match *m, size_t s, size_t rest, size_t *end)
{
    int i = open_capture(m);

    if (i < 0) {
        return 0;
    }
    m->capture[i].len = (ptrdiff_t)(s - m->capture[i].start);
    if (match_here(m, s, rest, end)) {
        return 1;
    }
    m->capture[i].len = PATTERN_CAP_OPEN;
    return 0;
}

/* class* (greedy): the longest run first, then shorter ones. */
static int match_greedy(struct pattern_match *m, size_t s, size_t p, size_t ep, size_t *end)
{
    size_t run = 0;

    while (class_matches(m, s + run, p, ep)) {
        run++;
        if ((run & 15) == 0 && spend(m, 1)) {
            return 0;
        }
    }
    for (;;) {
        if (match_here(m, s + run, ep + 1, end)) {
            return 1;
        }
        if (m->failed || run == 0) {
            return 0;
        }
        run--;
    }
}

/* class- (lazy): the rest first, then one more repetition. */
static int match_lazy(struct pattern_match *m, size_t s, size_t p, size_t ep, size_t *end)
{
    for (;;) {
        if (match_here(m, s, ep + 1, end)) {
            return 1;
        }
        if (m->failed || !class_matches(m, s, p, ep)) {
            return 0;
        }
        s++;
    }
}

/* %f[set] at p (p at 'f'): the set must not hold the byte before s and
 * must hold the byte at s (0 at either edge). Sets *next past the set. */
static int match_frontier(struct pattern_match *m, size_t s, size_t p, size_t *next)
{
    p++;
    if (byte_at(m->pattern, m->pattern_len, p) != '[') {
        set_error(m, "missing '[' after '%f' in pattern");
        return 0;
    }
    size_t ep = class_end(m, p);
    if (ep == SIZE_MAX) {
        return 0;
    }
    int before = s == 0 ? 0 : m->subject[s - 1];
    int at = byte_at(m->subject, m->subject_len, s);
    if (set_has(m, before, p, ep - 1) || !set_has(m, at, p, ep - 1)) {
        return 0;
    }
    *next = ep;
    return 1;
}

/* Matches the pattern from offset p against the subject from offset s;
 * on success *end is where the whole match ends. Sequences of single
 * items loop here; choices recurse. */
static int match_here(struct pattern_match *m, size_t s, size_t p, size_t *end)
{
    const uint8_t *pat = m->pattern;
    size_t n = m->pattern_len;
    int ok = 0;

    if (m->depth-- == 0) {
        set_error(m, "pattern too complex");
        m->depth++;
        return 0;
    }
    for (;;) {
        if (spend(m, 1)) {
            break;
        }
        if (p == n) {
            *end = s;
            ok = 1;
            break;
        }
        int c = pat[p];
        if (c == '(') {
            if (p + 1 < n && pat[p + 1] == ')') {
                ok = match_capture_open(m, s, p + 2, PATTERN_CAP_POSITION, end);
            } else {
                ok = match_capture_open(m, s, p + 1, PATTERN_CAP_OPEN, end);
            }
            break;
        }
        if (c == ')') {
            ok = match_capture_close(m, s, p + 1, end);
            break;
        }
        if (c == '$' && p + 1 == n) {
            if (s == m->subject_len) {
                *end = s;
                ok = 1;
            }
            break;
        }
        if (c == ESCAPE && p + 1 < n) {
            int e = pat[p + 1];
            if (e == 'b') {
                if (!match_balanced(m, &s, p + 2)) {
                    break;
                }
                p += 4;
                continue;
            }
            if (e == 'f') {
                if (!match_frontier(m, s, p + 1, &p)) {
                    break;
                }
                continue;
            }
            if (isdigit(e)) {
                if (!match_backref(m, &s, e)) {
                    break;
                }
                p += 2;
                continue;
            }
        }
        /* A single-character class, maybe followed by a quantifier. */
        size_t ep = class_end(m, p);
        if (ep == SIZE_MAX) {
            break;
        }
        int q = byte_at(pat, n, ep);
        if (!class_matches(m, s, p, ep)) {
            if (m->failed) {
                break;
            }
            if (q == '*' || q == '?' || q == '-') {
                p = ep + 1;
                continue;
            }
            break;
        }
        if (q == '?') {
            if (match_here(m, s + 1, ep + 1, end)) {
                ok = 1;
                break;
            }
            if (m->failed) {
                break;
            }
            p = ep + 1;
            continue;
        }
        if (q == '+') {
            ok = match_greedy(m, s + 1, p, ep, end);
            break;
        }
        if (q == '*') {
            ok = match_greedy(m, s, p, ep, end);
            break;
        }
        if (q == '-') {
            ok = match_lazy(m, s, p, ep, end);
            break;
        }
        s++;
        p = ep;
    }
    m->depth++;
    return ok && !m->failed;
}

void pattern_match_init(struct pattern_match *m, const uint8_t *subject, size_t subject_len,
                        const uint8_t *pattern, size_t pattern_len,
                        int (*charge)(void *ctx, uint64_t steps), void *ctx)
{
    memset(m, 0, sizeof(*m));
    m->subject = subject;
    m->subject_len = subject_len;
    m->pattern = pattern;
    m->pattern_len = pattern_len;
    m->charge = charge;
    m->ctx = ctx;
}

enum pattern_result pattern_match_at(struct pattern_match *m, size_t at, size_t *end)
{
    m->captures = 0;
    m->depth = PATTERN_MAX_DEPTH;
    if (m->failed) {
        return (enum pattern_result)m->failed;
    }
    int ok = match_here(m, at, 0, end);
    if (m->failed) {
        return (enum pattern_result)m->failed;
    }
    return ok ? PATTERN_MATCHED : PATTERN_NO_MATCH;
}

/* {====== The Lua functions */

enum { UPVALUE_BUDGET = 1 };

/* Charges through the budget upvalue of the running function; raising
 * (budget_charge) unwinds the matcher, which holds nothing. */
static int charge_lua(void *ctx, uint64_t steps)
{
    lua_State *L = ctx;
    const struct pattern_budget *budget = lua_touserdata(L, lua_upvalueindex(UPVALUE_BUDGET));

    budget->charge(L, steps);
    return 0;
}

/* Raises the matcher's error, or returns r. [-0, +0, v] */
static enum pattern_result checked(lua_State *L, struct pattern_match *m, enum pattern_result r)
{
    if (r == PATTERN_MALFORMED) {
        luaL_error(L, "%s", m->error);
    }
    return r;
}

/* Lua's relative start position: 1-based, negative from the end, clamped
 * to 1. Returns the 0-based offset (may be past the end). */
static size_t start_offset(lua_Integer pos, size_t len)
{
    if (pos > 0) {
        return (size_t)pos - 1;
    }
    if (pos == 0 || pos < -(lua_Integer)len) {
        return 0;
    }
    return (size_t)((lua_Integer)len + pos);
}

/* Pushes capture i of the last match [s, e), or the whole match when the
 * pattern has no captures and i is 0. [-0, +1, e] */
static void push_capture(lua_State *L, const struct pattern_match *m, int i, size_t s, size_t e)
{
    if (i >= m->captures) {
        if (i != 0) {
            luaL_error(L, "invalid capture index %%%d", i + 1);
        }
        lua_pushlstring(L, (const char *)m->subject + s, e - s);
        return;
    }
    ptrdiff_t len = m->capture[i].len;
    if (len == PATTERN_CAP_OPEN) {
        luaL_error(L, "unfinished capture");
    }
    if (len == PATTERN_CAP_POSITION) {
        lua_pushinteger(L, (lua_Integer)m->capture[i].start + 1);
        return;
    }
    lua_pushlstring(L, (const char *)m->subject + m->capture[i].start, (size_t)len);
}

/* Pushes every capture, or the whole match when there is none and
 * whole_if_none. Returns the count. [-0, +n, e] */
static int push_captures(lua_State *L, const struct pattern_match *m, size_t s, size_t e,
                         int whole_if_none)
{
    int n = (m->captures == 0 && whole_if_none) ? 1 : m->captures;

    luaL_checkstack(L, n, "too many captures");
    for (int i = 0; i < n; i++) {
        push_capture(L, m, i, s, e);
    }
    return n;
}

/* 1 if the pattern has none of the magic characters, so find may search
 * for it as plain bytes. */
static int is_plain(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (strchr("^$*+?.([%-", p[i]) != NULL && p[i] != '\0') {
            return 0;
        }
    }
    return 1;
}

/* Shared body of string.find and string.match. [-?, +?, e] */
static int find_or_match(lua_State *L, int find)
{
    size_t len, plen;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *p = luaL_checklstring(L, 2, &plen);
    size_t at = start_offset(luaL_optinteger(L, 3, 1), len);
    struct pattern_match m;
    size_t end;

    if (at > len) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || is_plain(p, plen))) {
        /* glibc's memmem is linear in both lengths (two-way search). */
        const struct pattern_budget *budget = lua_touserdata(L, lua_upvalueindex(UPVALUE_BUDGET));
        budget->charge(L, 1 + (len - at + plen) / 16);
        const char *hit = plen == 0 ? s + at : memmem(s + at, len - at, p, plen);
        if (hit == NULL) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
        lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)plen);
        return 2;
    }
    int anchored = plen > 0 && p[0] == '^';
    pattern_match_init(&m, (const uint8_t *)s, len, (const uint8_t *)p + anchored, plen - anchored,
                       charge_lua, L);
    do {
        if (checked(L, &m, pattern_match_at(&m, at, &end)) == PATTERN_MATCHED) {
            if (find) {
                lua_pushinteger(L, (lua_Integer)at + 1);
                lua_pushinteger(L, (lua_Integer)end);
                return push_captures(L, &m, 0, 0, 0) + 2;
            }
            return push_captures(L, &m, at, end, 1);
        }
    } while (at++ < len && !anchored);
    luaL_pushfail(L);
    return 1;
}

/* string.find(s, p [, init [, plain]]). [-?, +?, e] */
static int str_find(lua_State *L)
{
    return find_or_match(L, 1);
}

/* string.match(s, p [, init]). [-?, +?, e] */
static int str_match(lua_State *L)
{
    return find_or_match(L, 0);
}

/* The state of one gmatch iterator, in a userdata kept as upvalue 2 (the
 * subject and pattern strings are upvalues 3 and 4, so they stay alive). */
struct gmatch_state {
    size_t next;                 /* where the next search starts */
    size_t last_end;             /* end of the last match, or SIZE_MAX */
};

/* The iterator: the next match at or after next whose end differs from
 * the last one (so an empty match cannot repeat). [-0, +?, e] */
static int gmatch_next(lua_State *L)
{
    struct gmatch_state *g = lua_touserdata(L, lua_upvalueindex(2));
    size_t len, plen;
    const char *s = lua_tolstring(L, lua_upvalueindex(3), &len);
    const char *p = lua_tolstring(L, lua_upvalueindex(4), &plen);
    struct pattern_match m;
    size_t end;

    pattern_match_init(&m, (const uint8_t *)s, len, (const uint8_t *)p, plen, charge_lua, L);
    for (size_t at = g->next; at <= len; at++) {
        if (checked(L, &m, pattern_match_at(&m, at, &end)) == PATTERN_MATCHED &&
            end != g->last_end) {
            g->next = g->last_end = end;
            return push_captures(L, &m, at, end, 1);
        }
    }
    g->next = len + 1;
    return 0;
}

/* string.gmatch(s, p [, init]). As in Lua 5.4, '^' is not an anchor here.
 * [-?, +1, e] */
static int str_gmatch(lua_State *L)
{
    size_t len;
    (void)luaL_checklstring(L, 1, &len);
    (void)luaL_checkstring(L, 2);
    size_t at = start_offset(luaL_optinteger(L, 3, 1), len);
    lua_settop(L, 2);                                   /* s p */

    lua_pushvalue(L, lua_upvalueindex(UPVALUE_BUDGET)); /* s p budget */
    struct gmatch_state *g = lua_newuserdatauv(L, sizeof(*g), 0); /* s p budget g */
    g->next = at > len ? len + 1 : at;
    g->last_end = SIZE_MAX;
    lua_pushvalue(L, 1);                                /* s p budget g s */
    lua_pushvalue(L, 2);                                /* s p budget g s p */
    lua_pushcclosure(L, gmatch_next, 4);                /* s p iter */
    return 1;
}

/* Appends the replacement string (argument 3) for the match [s, e):
 * %0 the match, %1..%9 captures, %% a '%'. [-0, +0, e] */
static void add_replacement(lua_State *L, luaL_Buffer *b, const struct pattern_match *m,
                            size_t s, size_t e)
{
    size_t len;
    const char *r = lua_tolstring(L, 3, &len);
    const struct pattern_budget *budget = lua_touserdata(L, lua_upvalueindex(UPVALUE_BUDGET));

    budget->charge(L, 1 + len / 16);
    for (size_t i = 0; i < len; i++) {
        if (r[i] != ESCAPE) {
            size_t run = i;
            while (run < len && r[run] != ESCAPE) {
                run++;
            }
            luaL_addlstring(b, r + i, run - i);
            i = run - 1;
            continue;
        }
        i++;
        int c = i < len ? (unsigned char)r[i] : 0;
        if (c == ESCAPE) {
            luaL_addchar(b, ESCAPE);
        } else if (c == '0') {
            luaL_addlstring(b, (const char *)m->subject + s, e - s);
        } else if (isdigit(c)) {
            push_capture(L, m, c - '1', s, e);          /* ... b cap */
            luaL_addvalue(b);                            /* ... b */
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", ESCAPE);
        }
    }
}

/* Appends the value for the match [s, e) from a function or table
 * replacement (argument 3); false or nil keeps the match. Returns 1 if
 * the text changed. [-0, +0, e] */
static int add_looked_up(lua_State *L, luaL_Buffer *b, const struct pattern_match *m, size_t s,
                         size_t e, int kind)
{
    if (kind == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);                             /* ... b f */
        int n = push_captures(L, m, s, e, 1);           /* ... b f caps */
        lua_call(L, n, 1);                               /* ... b v */
    } else {
        push_capture(L, m, 0, s, e);                     /* ... b key */
        lua_gettable(L, 3);                              /* ... b v */
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);                                   /* ... b */
        luaL_addlstring(b, (const char *)m->subject + s, e - s);
        return 0;
    }
    if (!lua_isstring(L, -1)) {
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    }
    luaL_addvalue(b);                                    /* ... b */
    return 1;
}

/* string.gsub(s, p, repl [, n]). [-?, +2, e] */
static int str_gsub(lua_State *L)
{
    size_t len, plen;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *p = luaL_checklstring(L, 2, &plen);
    int kind = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)len + 1);
    struct pattern_match m;
    luaL_Buffer b;
    size_t at = 0, last_end = SIZE_MAX, end;
    lua_Integer count = 0;
    int changed = 0;

    luaL_argexpected(L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION ||
                            kind == LUA_TTABLE,
                     3, "string/function/table");
    luaL_buffinit(L, &b);
    int anchored = plen > 0 && p[0] == '^';
    pattern_match_init(&m, (const uint8_t *)s, len, (const uint8_t *)p + anchored, plen - anchored,
                       charge_lua, L);
    while (count < max) {
        if (checked(L, &m, pattern_match_at(&m, at, &end)) == PATTERN_MATCHED && end != last_end) {
            count++;
            if (kind == LUA_TNUMBER || kind == LUA_TSTRING) {
                add_replacement(L, &b, &m, at, end);
                changed = 1;
            } else {
                changed |= add_looked_up(L, &b, &m, at, end, kind);
            }
            at = last_end = end;
        } else if (at < len) {
            luaL_addchar(&b, s[at]);
            at++;
        } else {
            break;
        }
        if (anchored) {
            break;
        }
    }
    if (!changed) {
        lua_pushvalue(L, 1);                             /* ... s */
    } else {
        luaL_addlstring(&b, s + at, len - at);
        luaL_pushresult(&b);                             /* ... result */
    }
    lua_pushinteger(L, count);                           /* ... result count */
    return 2;
}

static const luaL_Reg pattern_functions[] = {
    {"find", str_find},
    {"match", str_match},
    {"gmatch", str_gmatch},
    {"gsub", str_gsub},
    {NULL, NULL},
};

void pattern_install(lua_State *L, int lib, const struct pattern_budget *budget)
{
    lib = lua_absindex(L, lib);
    for (const luaL_Reg *r = pattern_functions; r->name != NULL; r++) {
        lua_pushlightuserdata(L, (void *)budget);       /* budget */
        lua_pushcclosure(L, r->func, 1);                 /* fn */
        lua_setfield(L, lib, r->name);                   /* */
    }
}

/* }====== */
