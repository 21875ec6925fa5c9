/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The CodeSafe SEE side of the platform seams (DESIGN §9), for the glibc
 * architecture on the nShield Solo XC; scripts/cross-ppc builds it instead
 * of platform_linux.c (meson option platform=codesafe). Entropy and the
 * image file are in platform_posix.c: /dev/urandom, which the SEE seeds
 * from the HSM's RNG.
 *
 * What differs from Linux, and why:
 *   - The userdata default is "/": the loader unpacks the operator's CPIO
 *     as the base of the machine's file system (Entrust, "SEE and userdata").
 *   - The clocks call clock_gettime (ppc32 number 246, on the list) directly.
 *     A glibc of 2.31 or later on a 32-bit target first tries
 *     clock_gettime64 (403), which is off Entrust's list: before firmware
 *     13.7 that first try would end the machine.
 *   - Memory: /proc/self/statm when the machine has a /proc, else the bytes
 *     malloc holds from the system (mallinfo: sbrk arena plus mmapped
 *     blocks), which needs no call at all.
 * No call here is off the list: open, read, pread64, close, fstat64 and
 * clock_gettime are on it.
 */
#include "platform/platform.h"
#include "platform/platform_posix.h"

#include <malloc.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* syscall(SYS_clock_gettime) fills the kernel's own timespec, which is
 * glibc's only while time_t is a long (not with _TIME_BITS=64 on 32-bit). */
_Static_assert(sizeof(time_t) == sizeof(long), "SYS_clock_gettime needs the native timespec");

static uint64_t read_clock(clockid_t id, uint64_t sec_scale, uint64_t nsec_div)
{
    struct timespec ts = {0, 0};

    if (syscall(SYS_clock_gettime, id, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * sec_scale + (uint64_t)ts.tv_nsec / nsec_div;
}

uint64_t platform_time_micros(void)
{
    return read_clock(CLOCK_REALTIME, 1000000u, 1000u);
}

uint64_t platform_monotonic_ms(void)
{
    return read_clock(CLOCK_MONOTONIC, 1000u, 1000000u);
}

const char *platform_target(void)
{
    return "codesafe";
}

const char *platform_default_userdata(void)
{
    return "/";
}

/* Bytes malloc has taken from the system; no syscall. */
static uint64_t heap_bytes(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();

    return (uint64_t)mi.arena + (uint64_t)mi.hblkhd;
#else
    /* Older glibc (the vendor toolchain's may be): int fields, enough for
     * a 32-bit machine's heap. */
    struct mallinfo mi = mallinfo();

    return (uint64_t)(unsigned int)mi.arena + (uint64_t)(unsigned int)mi.hblkhd;
#endif
}

uint64_t platform_rss_bytes(void)
{
    uint64_t rss = platform_posix_statm_rss();

    return rss != 0 ? rss : heap_bytes();
}
