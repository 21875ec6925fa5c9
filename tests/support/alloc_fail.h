/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Test-only: the strong process_alloc_should_fail, with a countdown. */
#ifndef ENCLAVED_TEST_ALLOC_FAIL_H
#define ENCLAVED_TEST_ALLOC_FAIL_H

/* From the next call on, let n growing allocations succeed, then fail every
 * later one until alloc_fail_disable. */
void alloc_fail_after(long n);
void alloc_fail_disable(void);
/* Growing allocations seen since the last alloc_fail_after. */
long alloc_fail_seen(void);

#endif
