/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Linked into test binaries only: overrides the weak seam in process.c. */
#include "alloc_fail.h"

#include "lua/process.h"

static long budget = -1;
static long seen;

void alloc_fail_after(long n)
{
    budget = n;
    seen = 0;
}

void alloc_fail_disable(void)
{
    budget = -1;
}

long alloc_fail_seen(void)
{
    return seen;
}

int process_alloc_should_fail(void)
{
    seen++;
    if (budget < 0) {
        return 0;
    }
    if (budget == 0) {
        return 1;
    }
    budget--;
    return 0;
}
