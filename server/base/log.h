/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Leveled logging to stderr. One line per event, prefixed "enclaved: LEVEL"
 * and, unless switched off, an RFC 3339 timestamp.
 * Callers never pass key material, plaintext or raw client bytes.
 */
#ifndef ENCLAVED_LOG_H
#define ENCLAVED_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* With on, each line starts with the wall-clock time in RFC 3339 UTC with
 * milliseconds ("2026-12-01T09:30:00.123Z enclaved: info: ..."); off suits
 * journald, which stamps lines itself. On by default. */
void log_set_timestamps(int on);
/* Parses "error", "warn", "info" or "debug". Returns 0 on success, -1 otherwise. */
int log_parse_level(const char *text, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_E(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define LOG_W(...) log_msg(LOG_WARN, __VA_ARGS__)
#define LOG_I(...) log_msg(LOG_INFO, __VA_ARGS__)
#define LOG_D(...)                             \
    do {                                       \
        if (log_get_level() >= LOG_DEBUG) {    \
            log_msg(LOG_DEBUG, __VA_ARGS__);   \
        }                                      \
    } while (0)

#endif
