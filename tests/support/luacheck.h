/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Test-only: runs Lua assertions as a process's top level. */
#ifndef ENCLAVED_TEST_LUACHECK_H
#define ENCLAVED_TEST_LUACHECK_H

#include <check.h>
#include <string.h>

#include "apphost.h"

/* Lua helpers every check chunk can use. */
#define LUACHECK_PRELUDE                                                              \
    "local function hex(s) return (s:gsub('.', function(c)"                            \
    " return string.format('%02x', c:byte()) end)) end\n"                             \
    "local function fails(f, ...) local ok, e = pcall(f, ...) return not ok, e end\n"

/* Runs src (after the prelude) as a process's top level and fails the test
 * with the Lua message if it raises. */
static inline void luacheck_run(const char *src)
{
    static char buf[65536];
    struct apphost h;

    ck_assert_uint_lt(strlen(LUACHECK_PRELUDE) + strlen(src), sizeof(buf));
    strcpy(buf, LUACHECK_PRELUDE);
    strcat(buf, src);
    apphost_init(&h);
    process_free(apphost_new(&h, buf));
    apphost_clear(&h);
}

#endif
