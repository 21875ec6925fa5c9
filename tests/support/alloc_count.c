/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Linked into test binaries only, with the --wrap link flags of alloc_count.h. */
#include "alloc_count.h"

#include <stddef.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *p, size_t size);

static long count;

long alloc_count_get(void)
{
    return count;
}

void alloc_count_reset(void)
{
    count = 0;
}

void *__wrap_malloc(size_t size)
{
    count++;
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    count++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    count++;
    return __real_realloc(p, size);
}
