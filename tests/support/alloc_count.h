/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Test-only allocation counter: a binary linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc and alloc_count.c counts
 * every allocation made by its own code and by the static libraries it
 * links (the server core and mbedTLS), then passes the call on.
 */
#ifndef ENCLAVED_TEST_ALLOC_COUNT_H
#define ENCLAVED_TEST_ALLOC_COUNT_H

/* Allocations (malloc, calloc, realloc) since the last reset. */
long alloc_count_get(void);
void alloc_count_reset(void);

#endif
