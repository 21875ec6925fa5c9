/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Internal to server/platform/: a helper platform_posix.c gives both
 * targets' files. Nothing outside platform/ includes this header.
 */
#ifndef ENCLAVED_PLATFORM_POSIX_H
#define ENCLAVED_PLATFORM_POSIX_H

#include <stdint.h>

/* The resident set size from /proc/self/statm (opened by the first call,
 * then re-read with pread), or 0 when there is no /proc. */
uint64_t platform_posix_statm_rss(void);

#endif
