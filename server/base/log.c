/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_INFO;
static int timestamps = 1;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
    current_level = level;
}

void log_set_timestamps(int on)
{
    timestamps = on;
}

/* "2026-12-01T09:30:00.123Z " into buf (cap >= 32), or "" without a clock. */
static size_t format_time(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL) {
        buf[0] = '\0';
        return 0;
    }
    n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0) {
        buf[0] = '\0';
        return 0;
    }
    return n + (size_t)snprintf(buf + n, cap - n, ".%03ldZ ", ts.tv_nsec / 1000000);
}

enum log_level log_get_level(void)
{
    return current_level;
}

int log_parse_level(const char *text, enum log_level *out)
{
    for (int i = LOG_ERROR; i <= LOG_DEBUG; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    if (level > current_level) {
        return;
    }
    n = timestamps ? (int)format_time(line, 40) : 0;
    n += snprintf(line + n, sizeof(line) - (size_t)n, "enclaved: %s: ", level_names[level]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so concurrent writers do not interleave. */
    fprintf(stderr, "%s\n", line);
}
