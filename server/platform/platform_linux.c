/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The Linux side of the platform seams: glibc's clocks, no default
 * userdata, the RSS from /proc/self/statm. Entropy and the image file are
 * in platform_posix.c, shared with the SEE.
 */
#include "platform/platform.h"
#include "platform/platform_posix.h"

#include <time.h>

uint64_t platform_time_micros(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t platform_monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *platform_target(void)
{
    return "linux";
}

const char *platform_default_userdata(void)
{
    return NULL;
}

uint64_t platform_rss_bytes(void)
{
    return platform_posix_statm_rss();
}
