/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Test-only: runs the real enclaved binary on 127.0.0.1 port 0 with the I/O
 * driver named by $ENCLAVED_IO (uv or poll), reads the bound port from its
 * ready line, and stops it with SIGTERM, asserting a clean exit. Its stderr
 * goes to a log file that tests may search.
 */
#ifndef ENCLAVED_TEST_SERVER_H
#define ENCLAVED_TEST_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/client.h"

struct test_server {
    pid_t pid;
    uint16_t port;
    char dir[128];
    char log_path[192];
};

/* Starts enclaved with extra arguments (NULL-terminated; may be NULL). When
 * no --userdata is among them, --ephemeral-keys is added. Fails the test on error. */
void test_server_start(struct test_server *ts, const char *const *extra_args);
/* Like test_server_start but returns the exit status if the server exits
 * before its ready line (or -1 when it became ready, then it is running). */
int test_server_try_start(struct test_server *ts, const char *const *extra_args);
/* Like test_server_try_start, with extra NAME=VALUE environment entries
 * (NULL-terminated; may be NULL) set in the server only, e.g. LD_PRELOAD. */
int test_server_try_start_env(struct test_server *ts, const char *const *extra_args,
                              const char *const *env);
/* SIGTERM, wait, assert exit status 0; removes the temp dir. */
void test_server_stop(struct test_server *ts);
/* The same, returning the whole log (malloc'd) read after the exit. */
char *test_server_stop_with_log(struct test_server *ts, size_t *len);
/* Connects a client with a 5 s timeout; fails the test on error. */
struct client *test_server_connect(const struct test_server *ts);
/* Reads the server's log so far into a malloc'd NUL-terminated string. */
char *test_server_read_log(const struct test_server *ts, size_t *len);
/* Which driver: "uv" or "poll". */
const char *test_server_io(void);
/* Writes Ping frames to fd without reading any answer, until the server
 * stops taking them (its output for this connection is stuck behind full
 * buffers) or max_bytes went out; returns the bytes sent. */
size_t test_server_flood(int fd, size_t max_bytes);

#endif
