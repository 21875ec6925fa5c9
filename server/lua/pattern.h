/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * A matcher for Lua 5.4 patterns (manual §6.4.1) written for this project,
 * and the string.find, match, gmatch and gsub built on it (DESIGN §5
 * "Containment"). Lua's own matcher backtracks without limit inside one C
 * call; this one counts its steps (each attempt, each repetition tried,
 * each set scanned, each byte compared) and hands them to a charge
 * function every few hundred steps, which may raise (budget_charge does
 * once the call's budget or deadline is spent) or stop the match. Results,
 * captures and error messages are those of Lua 5.4's functions; a unit test
 * and a fuzz target compare both on generated patterns.
 *
 * Ownership: a struct pattern_match is caller storage; it borrows the
 * subject and pattern bytes for its life. Nothing here allocates. Loop
 * thread only (the Lua functions); the core is pure.
 */
#ifndef ENCLAVED_PATTERN_H
#define ENCLAVED_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

enum {
    PATTERN_MAX_CAPTURES = 32,   /* LUA_MAXCAPTURES */
    PATTERN_MAX_DEPTH = 200,     /* nested items before "pattern too complex" */
    PATTERN_CHARGE_EVERY = 256,  /* steps handed to charge at once */
    PATTERN_CAP_POSITION = -2,   /* capture length of a position capture "()" */
    PATTERN_CAP_OPEN = -1,       /* capture length while unclosed */
    PATTERN_ERROR_MAX = 64,
};

/* What a match attempt ended with. */
enum pattern_result {
    PATTERN_NO_MATCH = 0,
    PATTERN_MATCHED = 1,
    PATTERN_MALFORMED = -1,      /* error holds Lua's message */
    PATTERN_STOPPED = -2,        /* charge returned nonzero */
};

struct pattern_capture {
    size_t start;                /* offset in the subject */
    ptrdiff_t len;               /* bytes, or PATTERN_CAP_POSITION / _OPEN */
};

struct pattern_match {
    /* Set by pattern_match_init; public read-only after an attempt. */
    const uint8_t *subject;
    size_t subject_len;
    const uint8_t *pattern;
    size_t pattern_len;
    int captures;                /* captures made by the last successful attempt */
    struct pattern_capture capture[PATTERN_MAX_CAPTURES];
    char error[PATTERN_ERROR_MAX];
    /* Private. */
    int (*charge)(void *ctx, uint64_t steps);
    void *ctx;
    uint64_t pending;            /* steps not yet charged */
    int depth;
    int failed;                  /* a PATTERN_MALFORMED / _STOPPED result */
};

/* Prepares m to match pattern (without a leading '^': callers handle the
 * anchor) against subject. charge gets the steps every
 * PATTERN_CHARGE_EVERY of them (and the rest at pattern_match_flush);
 * nonzero stops the attempt with PATTERN_STOPPED. It may also longjmp. */
void pattern_match_init(struct pattern_match *m, const uint8_t *subject, size_t subject_len,
                        const uint8_t *pattern, size_t pattern_len,
                        int (*charge)(void *ctx, uint64_t steps), void *ctx);
/* Tries to match the whole pattern starting at subject offset at
 * (0..subject_len). On PATTERN_MATCHED *end is the offset after the match
 * and the captures are in m. */
enum pattern_result pattern_match_at(struct pattern_match *m, size_t at, size_t *end);
/* Adds steps (work done by a caller on m's behalf) and charges them when
 * enough have accumulated; nonzero when charge asked to stop. */
int pattern_match_charge(struct pattern_match *m, uint64_t steps);
/* Charges the steps not charged yet. */
int pattern_match_flush(struct pattern_match *m);

/* The charge function the Lua functions use, as a light userdata upvalue. */
struct pattern_budget {
    void (*charge)(lua_State *L, uint64_t steps);  /* may raise */
};

/* Sets find, match, gmatch and gsub in the string library table at index
 * lib to this matcher's, charging through budget (static storage).
 * [-0, +0, m] */
void pattern_install(lua_State *L, int lib, const struct pattern_budget *budget);

#endif
