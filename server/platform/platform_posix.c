/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The platform seams both targets implement the same way, with POSIX calls
 * on Entrust's CodeSafe 5 list (open, read, fstat, close): entropy from
 * /dev/urandom (the SEE seeds it from the HSM's RNG; getrandom is off the
 * list, so Linux reads the same file and there is one code path) and the
 * userdata image file. platform_linux.c and platform_codesafe.c hold what
 * differs.
 */
#include "platform/platform.h"
#include "platform/platform_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

enum { USERDATA_MAX_BYTES = 64 * 1024 * 1024 };

static int urandom_fd = -1;

status_t platform_entropy(uint8_t *buf, size_t len)
{
    size_t done = 0;

    if (urandom_fd < 0) {
        urandom_fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ENSURE(urandom_fd >= 0, STATUS_UNAVAILABLE, "cannot open /dev/urandom");
    }
    while (done < len) {
        ssize_t n = read(urandom_fd, buf + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        ENSURE(n > 0, STATUS_UNAVAILABLE, "cannot read /dev/urandom");
        done += (size_t)n;
    }
    return STATUS_OK;
}

status_t platform_read_userdata(const char *path, uint8_t **out, size_t *out_len)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t done = 0;
    status_t status = STATUS_OK;
    /* O_NONBLOCK: a FIFO given by mistake is refused below, not waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0) {
        FAIL(STATUS_NOT_FOUND, "cannot open userdata image");
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        status = status_trail_push(STATUS_INVALID_ARGUMENT, "userdata is not a regular file",
                                   __FILE__, __LINE__);
        goto out;
    }
    if (st.st_size > USERDATA_MAX_BYTES) {
        status = status_trail_push(STATUS_RESOURCE_EXHAUSTED, "userdata image over 64 MiB",
                                   __FILE__, __LINE__);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        status = status_trail_push(STATUS_RESOURCE_EXHAUSTED, "out of memory", __FILE__, __LINE__);
        goto out;
    }
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            status = status_trail_push(STATUS_DATA_LOSS, "short read of userdata image",
                                       __FILE__, __LINE__);
            goto out;
        }
        done += (size_t)n;
    }
    *out = buf;
    *out_len = done;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return status;
}

/* /proc/self/statm, opened once by the first call (main makes it before the
 * driver listens) and re-read with pread: GetStats then needs no path lookup
 * after startup, so the steady state stays off openat/fstat (DESIGN §9).
 * Returns 0 when there is no /proc. */
static int statm_fd = -1;
static int statm_tried;

uint64_t platform_posix_statm_rss(void)
{
    char buf[128];
    ssize_t n;
    unsigned long long pages = 0;
    unsigned long long resident = 0;

    if (!statm_tried) {
        statm_tried = 1;
        statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    }
    if (statm_fd < 0) {
        return 0;
    }
    do {
        n = pread(statm_fd, buf, sizeof(buf) - 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    if (sscanf(buf, "%llu %llu", &pages, &resident) != 2) {
        return 0;
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}
