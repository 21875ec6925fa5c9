/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "server.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_ARGS = 64, READY_TIMEOUT_MS = 10000 };

const char *test_server_io(void)
{
    const char *io = getenv("ENCLAVED_IO");

    return io != NULL && io[0] != '\0' ? io : "uv";
}

char *test_server_read_log(const struct test_server *ts, size_t *len)
{
    FILE *f = fopen(ts->log_path, "rb");
    char *buf = NULL;
    size_t cap = 0;
    size_t n = 0;

    ck_assert_ptr_nonnull(f);
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0) {
            break;
        }
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return buf;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The server to run: $ENCLAVED_TEST_SERVER when set (scripts/cross-ppc
 * points it at a script that runs the cross-built server under qemu-ppc),
 * else the enclaved of this build. */
static const char *server_binary(void)
{
    const char *bin = getenv("ENCLAVED_TEST_SERVER");

    return bin != NULL && bin[0] != '\0' ? bin : ENCLAVED_BIN;
}

/* $ENCLAVED_TEST_PRELOAD, when set, is LD_PRELOADed into every server (the
 * allow-list runs of whole suites in tests/meson.build, with the module's
 * own settings in the environment). Set in the child only. */
static int preload_env(void)
{
    const char *module = getenv("ENCLAVED_TEST_PRELOAD");

    if (module == NULL || module[0] == '\0') {
        return 0;
    }
    /* As test_seccomp.c: the loader registered the main thread's rseq
     * before the filter, so new threads must not try. */
    if (setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1) != 0) {
        return -1;
    }
    return setenv("LD_PRELOAD", module, 1);
}

/* Under ENCLAVED_TEST_PRELOAD, a server that met a call off the list fails
 * the test, naming the call (seccomp_preload's log line). */
static void check_preload_log(const char *log)
{
    const char *line = strstr(log, "seccomp_preload: ");

    if (getenv("ENCLAVED_TEST_PRELOAD") == NULL) {
        return;
    }
    ck_assert_msg(line != NULL && strstr(log, "filter installed before main") != NULL,
                  "ENCLAVED_TEST_PRELOAD is set but the filter did not go in");
    line = strstr(log, "off-list syscall ");
    if (line != NULL) {
        ck_abort_msg("enclaved met %.*s", (int)strcspn(line, "\n"), line);
    }
}

int test_server_try_start(struct test_server *ts, const char *const *extra_args)
{
    return test_server_try_start_env(ts, extra_args, NULL);
}

int test_server_try_start_env(struct test_server *ts, const char *const *extra_args,
                              const char *const *env)
{
    const char *argv[MAX_ARGS];
    size_t argc = 0;
    int has_userdata = 0;
    int status;

    memset(ts, 0, sizeof(*ts));
    snprintf(ts->dir, sizeof(ts->dir), "/tmp/enclaved-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(ts->dir));
    snprintf(ts->log_path, sizeof(ts->log_path), "%s/server.log", ts->dir);
    argv[argc++] = server_binary();
    argv[argc++] = "--listen";
    argv[argc++] = "127.0.0.1:0";
    argv[argc++] = "--io";
    argv[argc++] = test_server_io();
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
        ck_assert_uint_lt(argc, MAX_ARGS - 2);
        if (strcmp(extra_args[i], "--userdata") == 0) {
            has_userdata = 1;
        }
        argv[argc++] = extra_args[i];
    }
    if (!has_userdata) {
        argv[argc++] = "--ephemeral-keys";
    }
    argv[argc] = NULL;
    /* Create the log before the child runs so the first read finds it. */
    status = open(ts->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(status, 0);
    close(status);
    ts->pid = fork();
    ck_assert_int_ge(ts->pid, 0);
    if (ts->pid == 0) {
        int fd = open(ts->log_path, O_WRONLY | O_APPEND);
        if (fd < 0 || dup2(fd, 2) < 0) {
            _exit(127);
        }
        for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
            if (putenv((char *)env[i]) != 0) {
                _exit(127);
            }
        }
        if (preload_env() != 0) {
            _exit(127);
        }
        execv(server_binary(), (char *const *)argv);
        _exit(127);
    }
    for (int waited = 0; waited < READY_TIMEOUT_MS; waited += 5) {
        char *log = test_server_read_log(ts, NULL);
        char *ready = strstr(log, "enclaved: listening on ");
        if (ready != NULL && strchr(ready, '\n') != NULL) {
            char *colon = strchr(ready + strlen("enclaved: listening on "), ':');
            ck_assert_ptr_nonnull(colon);
            ts->port = (uint16_t)atoi(colon + 1);
            free(log);
            ck_assert_uint_ne(ts->port, 0);
            return -1;
        }
        free(log);
        if (waitpid(ts->pid, &status, WNOHANG) == ts->pid) {
            ts->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        sleep_ms(5);
    }
    ck_abort_msg("enclaved did not print its ready line");
    return 0;
}

void test_server_start(struct test_server *ts, const char *const *extra_args)
{
    int rc = test_server_try_start(ts, extra_args);

    if (rc != -1) {
        char *log = test_server_read_log(ts, NULL);
        ck_abort_msg("enclaved exited with %d before it was ready:\n%s", rc, log);
    }
}

void test_server_stop(struct test_server *ts)
{
    free(test_server_stop_with_log(ts, NULL));
}

char *test_server_stop_with_log(struct test_server *ts, size_t *len)
{
    int status = 0;
    char cmd[256];
    char *log;

    if (ts->pid > 0) {
        ck_assert_int_eq(kill(ts->pid, SIGTERM), 0);
        ck_assert_int_eq(waitpid(ts->pid, &status, 0), ts->pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            ck_abort_msg("enclaved did not exit cleanly (status %d):\n%s", status,
                         test_server_read_log(ts, NULL));
        }
        ts->pid = 0;
    }
    log = test_server_read_log(ts, len);
    check_preload_log(log);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ts->dir);
    ck_assert_int_eq(system(cmd), 0);
    return log;
}

struct client *test_server_connect(const struct test_server *ts)
{
    struct client *c = NULL;
    status_t s = client_connect("127.0.0.1", ts->port, 5000, &c);

    ck_assert_msg(s == STATUS_OK, "connect failed: %s", status_trail_message());
    return c;
}

size_t test_server_flood(int fd, size_t max_bytes)
{
    static const uint8_t ping[] = {0, 0, 0, 6, 0x0a, 0x04, 0x08, 0x01, 0x12, 0x00};
    uint8_t chunk[sizeof(ping) * 1000];
    size_t sent = 0;

    for (size_t i = 0; i < 1000; i++) {
        memcpy(chunk + i * sizeof(ping), ping, sizeof(ping));
    }
    while (sent < max_bytes) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        if (poll(&pfd, 1, 500) != 1) {
            break;
        }
        ssize_t n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0) {
            break;
        }
        sent += (size_t)n;
    }
    return sent;
}
