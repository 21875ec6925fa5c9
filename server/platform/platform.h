/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Platform seams (DESIGN §9): entropy, clocks, the userdata source and
 * memory figures. Linux implements them in platform_linux.c, the CodeSafe
 * SEE (glibc architecture) in platform_codesafe.c; the build picks one.
 * Nothing else in server/ reads /dev/urandom or clocks; files are read here
 * (the image) and by image/userdir.c (an unpacked tree, openat-relative).
 */
#ifndef ENCLAVED_PLATFORM_H
#define ENCLAVED_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

/* Fills buf with len bytes from the platform RNG. UNAVAILABLE on failure. */
status_t platform_entropy(uint8_t *buf, size_t len);
/* Wall clock, microseconds since the Unix epoch. */
uint64_t platform_time_micros(void);
/* Monotonic clock in milliseconds, for timeouts. */
uint64_t platform_monotonic_ms(void);
/* "linux" or "codesafe". */
const char *platform_target(void);
/* The userdata path used when --userdata is absent: NULL on Linux, "/" on
 * the SEE, where the loader unpacks the userdata CPIO as the root. */
const char *platform_default_userdata(void);
/* Reads the userdata image file at path (a regular file of at most 64 MiB).
 * On success *out is malloc'd and owned by the caller; on failure *out is
 * untouched. */
status_t platform_read_userdata(const char *path, uint8_t **out, size_t *out_len);
/* Resident set size of this process in bytes, 0 when unknown. The first call
 * may open a file (Linux: /proc/self/statm), so main makes it before the
 * driver listens; later calls open nothing. */
uint64_t platform_rss_bytes(void);

#endif
