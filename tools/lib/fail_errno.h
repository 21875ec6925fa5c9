/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * For the tool library's .c files (not installed): fails with a status
 * whose trail keeps why and the system's reason (errno) as its detail,
 * e.g. "keygen: cannot create key directory: No such file or directory".
 */
#ifndef ENCLAVED_TOOLS_FAIL_ERRNO_H
#define ENCLAVED_TOOLS_FAIL_ERRNO_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/status.h"

static inline status_t lib_fail_errno(status_t code, const char *why, const char *file, int line)
{
    char text[STATUS_DETAIL_CAP];
    int n = snprintf(text, sizeof(text), "%s: %s", why, strerror(errno));

    status_trail_push(code, why, file, line);
    status_trail_set_detail(text, n > 0 ? (size_t)n : 0);
    return code;
}

/* Returns code from the calling function, as status.h's FAIL does. */
#define FAIL_ERRNO(code, why) return lib_fail_errno((code), (why), __FILE__, __LINE__)

#endif
