/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * End-to-end: the poll driver's whole life inside Entrust's CodeSafe 5
 * syscall allow-list (DESIGN §9). enclaved runs with LD_PRELOAD set to
 * seccomp_preload.so, whose constructor installs a filter built from
 * tests/data/codesafe5-syscalls.txt before main, in the firmware mode named
 * by $SECCOMP_PRELOAD_MODE: "kill" (before 13.7, an off-list call ends the
 * server) or "enosys" (from 13.7, it fails with ENOSYS and the preload logs
 * it). Every test ends by stopping the server with SIGTERM and failing on
 * any "off-list syscall" line, naming the call.
 *
 * Covered, from an image and from the same image unpacked into a directory:
 * start-up with keys and a boot app, GetInfo/GetStats, raw, NK and KK
 * channels with the key pool's thread running, 200 clients at once, a
 * process hitting each limit, hook errors, a dropped connection, Reset,
 * and SIGTERM with a connection open. Two controls prove the filter bites:
 * the libuv driver dies on epoll (it cannot run on the SEE), and a list
 * with clone removed stops the key pool's thread, named in the log.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/keystore.h"
#include "lib/client.h"
#include "lib/client_noise.h"
#include "server.h"

/* Kill mode ends the server with SIGKILL, as the SEE ends the machine. */
enum { KILLED = 128 + SIGKILL, CONNECTIONS = 200 };

static const char ECHO_APP[] = "function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n";
static const char BOOM_APP[] = "function HandleChannelMessage(cid, msg) error('boom') end\n";
/* Small limits, so each is reached quickly. */
static const char CONFIG[] =
    "max_processes = 6\n"
    "max_channels_per_process = 4\n"
    "max_frame = 8192\n"
    "max_message = 4096\n"
    "max_memory_per_process = 16M\n"
    "default_memory_per_process = 4M\n"
    "max_instructions_per_hook = 1000000\n"
    "max_outputs_per_hook = 16\n";

static const char OFF_LIST[] = "off-list syscall ";

/* Made once per run by make_userdata: an image and its unpacked tree. */
static char work_dir[64];
static char image_path[128];
static char tree_path[128];
static char list_path[512];
static uint8_t fleet_key[32];
/* The source the "poll" fixture starts from: image_path or tree_path. */
static const char *userdata;

static struct test_server ts;
static struct client *pinned; /* the fixture's first client */

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void run(const char *cmd)
{
    ck_assert_msg(system(cmd) == 0, "command failed: %s", cmd);
}

static const char *mode(void)
{
    const char *m = getenv("SECCOMP_PRELOAD_MODE");

    return m != NULL ? m : "(unset)";
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* keys (a fixed fleet key), the small-limits config, the echo app at boot;
 * packed by scripts/mkuserdata and unpacked again by GNU cpio. */
static void make_userdata(void)
{
    char path[256];
    char cmd[1024];
    uint8_t sealing[32];
    const char *list = getenv("SECCOMP_PRELOAD_LIST");

    ck_assert_msg(list != NULL, "SECCOMP_PRELOAD_LIST is not set");
    snprintf(list_path, sizeof(list_path), "%s", list);
    snprintf(work_dir, sizeof(work_dir), "/tmp/enclaved-seccomp-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(work_dir));
    snprintf(image_path, sizeof(image_path), "%s/image.cpio", work_dir);
    snprintf(tree_path, sizeof(tree_path), "%s/unpacked", work_dir);
    snprintf(cmd, sizeof(cmd), "mkdir -p %s/tree/etc %s/tree/apps %s/tree/keys %s", work_dir,
             work_dir, work_dir, tree_path);
    run(cmd);
    for (size_t i = 0; i < 32; i++) {
        fleet_key[i] = (uint8_t)(i * 11 + 3);
        sealing[i] = (uint8_t)(i * 5 + 9);
    }
    snprintf(path, sizeof(path), "%s/tree/keys/noise_static.key", work_dir);
    write_file(path, fleet_key, 32);
    snprintf(path, sizeof(path), "%s/tree/keys/sealing_secret.key", work_dir);
    write_file(path, sealing, 32);
    snprintf(path, sizeof(path), "%s/tree/etc/enclaved.conf", work_dir);
    write_file(path, CONFIG, strlen(CONFIG));
    snprintf(path, sizeof(path), "%s/tree/apps/echo.lua", work_dir);
    write_file(path, ECHO_APP, strlen(ECHO_APP));
    snprintf(cmd, sizeof(cmd), "'%s' '%s/tree' '%s' >/dev/null && cd '%s' && cpio -idm --quiet < '%s'",
             MKUSERDATA, work_dir, image_path, tree_path, image_path);
    run(cmd);
}

/* Runs after the suite, outside any test: no ck_assert here. */
static int remove_userdata(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Starts enclaved on source under the filter with the given list; returns
 * -1 when it is ready (running), else its exit status. */
static int try_start_confined(struct test_server *server, const char *source, const char *list,
                              const char *const *extra)
{
    static char list_env[600];
    /* The loader registers the main thread's rseq before any constructor
     * runs, and glibc then insists each new thread registers too. On the
     * SEE rseq is off the list, so the first registration would already
     * have failed: the tunable gives that state. */
    const char *env[] = {"LD_PRELOAD=" SECCOMP_PRELOAD, list_env,
                         "GLIBC_TUNABLES=glibc.pthread.rseq=0", NULL};
    const char *args[16] = {"--userdata", source};
    size_t n = 2;

    snprintf(list_env, sizeof(list_env), "SECCOMP_PRELOAD_LIST=%s", list);
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        ck_assert_uint_lt(n, 15);
        args[n++] = extra[i];
    }
    args[n] = NULL;
    return test_server_try_start_env(server, args, env);
}

/* The log's head, for failure messages, which Check bounds: a server that
 * meets an off-list call in a loop can log it thousands of times. */
static const char *head_of(char *log)
{
    enum { HEAD = 3000 };

    if (strlen(log) > HEAD) {
        strcpy(log + HEAD - 5, "\n...");
    }
    return log;
}

/* The first off-list line of log, as "NAME (N)", or NULL. */
static char *off_list_call(const char *log)
{
    const char *p = strstr(log, OFF_LIST);
    size_t n;

    if (p == NULL) {
        return NULL;
    }
    p += strlen(OFF_LIST);
    n = strcspn(p, "\n");
    return strndup(p, n);
}

/* The checks every confined run passes: the filter went in before main in
 * this run's mode, nothing off the list was met, the key pool started. */
static void assert_log_clean(char *log)
{
    char want[96];
    char *call = off_list_call(log);

    snprintf(want, sizeof(want), "filter installed before main (mode %s,", mode());
    ck_assert_msg(strstr(log, want) != NULL, "the filter is not in place (%s):\n%s", want,
                  head_of(log));
    ck_assert_msg(call == NULL, "enclaved met off-list syscall %s (mode %s):\n%s",
                  call != NULL ? call : "", mode(), head_of(log));
    ck_assert_msg(strstr(log, "no ephemeral key pool") == NULL, "the key pool did not start:\n%s",
                  head_of(log));
}

/* The server a test talks to, for the failure reports below. */
static struct test_server *current;

/* Fails with the server's log (naming any off-list call) when it has died. */
static void assert_alive(struct test_server *server, int wait_ms)
{
    int status;

    for (int waited = 0;; waited += 10) {
        if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
            char *log = test_server_read_log(server, NULL);
            char *call = off_list_call(log);

            server->pid = 0;
            ck_abort_msg("enclaved died (status %d) on off-list syscall %s:\n%s", status,
                         call != NULL ? call : "(none named)", head_of(log));
        }
        if (waited >= wait_ms) {
            return;
        }
        sleep_ms(10);
    }
}

/* A failed client call: report the server's death or its off-list calls. */
static void explain_failure(const char *what, status_t s)
{
    char *log;
    char *call;

    assert_alive(current, 1000);
    log = test_server_read_log(current, NULL);
    call = off_list_call(log);
    ck_abort_msg("%s: %s (%s); off-list syscall: %s\n%s", what, status_name(s),
                 status_trail_message(), call != NULL ? call : "none", head_of(log));
}

#define EXPECT_OK(expr) expect_ok((expr), #expr)
static void expect_ok(status_t s, const char *what)
{
    if (s != STATUS_OK) {
        explain_failure(what, s);
    }
}

static struct client *connect_to(const struct test_server *server)
{
    struct client *c = NULL;

    EXPECT_OK(client_connect("127.0.0.1", server->port, 5000, &c));
    return c;
}

static void start_confined(void)
{
    int rc = try_start_confined(&ts, userdata, list_path, NULL);
    char *log = test_server_read_log(&ts, NULL);

    ck_assert_msg(rc == -1, "enclaved exited with %d before it was ready:\n%s", rc, head_of(log));
    current = &ts;
    free(log);
    pinned = connect_to(&ts);
}

/* SIGTERM with the fixture's client still connected; the server must exit
 * 0 having logged its orderly stop, and have met nothing off the list. */
static void stop_confined(void)
{
    char *log;

    assert_alive(&ts, 0);
    log = test_server_stop_with_log(&ts, NULL);
    client_free(pinned);
    pinned = NULL;
    assert_log_clean(log);
    ck_assert_msg(strstr(log, "enclaved: info: stopped") != NULL, "no orderly stop:\n%s",
                  head_of(log));
    free(log);
}

static uint32_t create(struct client *c, const char *name, const char *src, uint8_t hash[32])
{
    uint32_t pid = 0;
    char msg[256] = "";
    status_t s = client_process_create(c, name, (const uint8_t *)src, strlen(src), 0, &pid, hash,
                                       msg, sizeof(msg));

    if (s != STATUS_OK) {
        explain_failure(msg, s);
    }
    return pid;
}

static uint32_t open_raw(struct client *c, uint32_t pid)
{
    uint32_t cid = 0;
    char msg[256] = "";
    status_t s = client_channel_open(c, pid, NULL, ENCLAVED__CHANNEL_TYPE__RAW, &cid, msg,
                                     sizeof(msg));

    if (s != STATUS_OK) {
        explain_failure(msg, s);
    }
    return cid;
}

static Enclaved__Stats *get_stats(struct client *c, Enclaved__ServerFrame **keep)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__GetStats body = ENCLAVED__GET_STATS__INIT;

    req.body_case = ENCLAVED__REQUEST__BODY_GET_STATS;
    req.get_stats = &body;
    EXPECT_OK(client_call(c, &req, keep));
    ck_assert_int_eq((*keep)->response->status, STATUS_OK);
    return (*keep)->response->stats;
}

/* The boot app from the userdata: id, name, and its code hash. */
static uint32_t boot_app(struct client *c, uint8_t hash[32])
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessList body = ENCLAVED__PROCESS_LIST__INIT;
    Enclaved__ServerFrame *f = NULL;
    uint32_t pid;

    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_LIST;
    req.process_list = &body;
    EXPECT_OK(client_call(c, &req, &f));
    ck_assert_uint_eq(f->response->process_list->n_processes, 1);
    ck_assert_str_eq(f->response->process_list->processes[0]->name, "echo");
    ck_assert_uint_eq(f->response->process_list->processes[0]->code_hash.len, 32);
    memcpy(hash, f->response->process_list->processes[0]->code_hash.data, 32);
    pid = f->response->process_list->processes[0]->process_id;
    client_frame_free(f);
    return pid;
}

/* Waits until GetStats reports only the probe and the fixture's client. */
static void wait_for_two_connections(struct client *probe)
{
    for (int tries = 0; tries < 500; tries++) {
        Enclaved__ServerFrame *f = NULL;
        int done = get_stats(probe, &f)->connections_open == 2;

        client_frame_free(f);
        if (done) {
            return;
        }
        sleep_ms(10);
    }
    ck_abort_msg("connections did not drain");
}

static void expect_closed(struct client *c, uint32_t cid, status_t want, const char *reason_part)
{
    status_t closed = STATUS_OK;
    char reason[256] = "";

    EXPECT_OK(client_channel_wait_closed(c, cid, 10000, &closed, reason, sizeof(reason)));
    ck_assert_msg(closed == want, "closed with %s (%s), want %s", status_name(closed), reason,
                  status_name(want));
    if (reason_part != NULL) {
        ck_assert_msg(strstr(reason, reason_part) != NULL, "reason '%s' lacks '%s'", reason,
                      reason_part);
    }
}

START_TEST(test_info_stats_and_the_boot_app)
{
    Enclaved__ServerFrame *f = NULL;
    Enclaved__Stats *st;
    uint8_t hash[32];
    uint8_t expected_public[32];
    struct keystore *ks = NULL;
    uint8_t zero[32] = {0};

    EXPECT_OK(client_ping(pinned));
    EXPECT_OK(client_get_info(pinned, &f));
    ck_assert_int_eq(keystore_new(fleet_key, zero, &ks), STATUS_OK);
    memcpy(expected_public, keystore_public_key(ks), 32);
    keystore_free(ks);
    ck_assert_uint_eq(f->response->info->public_key.len, 32);
    ck_assert_mem_eq(f->response->info->public_key.data, expected_public, 32);
    /* The config came from the userdata, read under the filter. */
    ck_assert_uint_eq(f->response->info->limits->max_processes, 6);
    client_frame_free(f);
    boot_app(pinned, hash);
    st = get_stats(pinned, &f);
    ck_assert_uint_eq(st->connections_open, 1);
    ck_assert_uint_gt(st->memory_rss, 0);
    client_frame_free(f);
}
END_TEST

START_TEST(test_raw_nk_and_kk_channels_echo_with_the_key_pool)
{
    static const Enclaved__ChannelType kk[] = {ENCLAVED__CHANNEL_TYPE__SERVER_KK_INITIATOR,
                                               ENCLAVED__CHANNEL_TYPE__SERVER_KK_RESPONDER};
    Enclaved__ServerFrame *f = NULL;
    uint8_t server_key[32];
    uint8_t hash[32];
    uint8_t *data = NULL;
    size_t len = 0;
    uint8_t zero[32] = {0};
    struct keystore *fleet = NULL;
    uint32_t pid = boot_app(pinned, hash);
    uint32_t cid = open_raw(pinned, pid);
    struct client_target target = {pid, NULL, NULL};

    EXPECT_OK(client_send_data(pinned, cid, (const uint8_t *)"raw hello", 9));
    EXPECT_OK(client_channel_recv(pinned, cid, 5000, &data, &len, NULL, 0));
    ck_assert_uint_eq(len, 9);
    ck_assert_mem_eq(data, "raw hello", 9);
    free(data);
    EXPECT_OK(client_get_info(pinned, &f));
    memcpy(server_key, f->response->info->public_key.data, 32);
    client_frame_free(f);
    /* More handshakes than the pool holds at start, so it refills. */
    for (int i = 0; i < 40; i++) {
        struct client_secure *s = NULL;
        char message[256] = "";
        status_t closed = STATUS_UNKNOWN;

        EXPECT_OK(client_nk_open(pinned, &target, server_key, hash, 1, &s, message,
                                 sizeof(message)));
        EXPECT_OK(client_secure_send(s, (const uint8_t *)"nk hello", 8));
        EXPECT_OK(client_secure_recv(s, 5000, &data, &len, NULL, 0));
        ck_assert_uint_eq(len, 8);
        ck_assert_mem_eq(data, "nk hello", 8);
        free(data);
        EXPECT_OK(client_secure_close(s, 5000, &closed));
        ck_assert_int_eq(closed, STATUS_OK);
        client_secure_free(s);
    }
    ck_assert_int_eq(keystore_new(fleet_key, zero, &fleet), STATUS_OK);
    for (size_t i = 0; i < 2; i++) {
        struct client_secure *s = NULL;
        char message[256] = "";

        EXPECT_OK(client_kk_open(pinned, &target, kk[i], fleet, hash, &s, message,
                                 sizeof(message)));
        EXPECT_OK(client_secure_send(s, (const uint8_t *)"peer", 4));
        EXPECT_OK(client_secure_recv(s, 5000, &data, &len, NULL, 0));
        ck_assert_uint_eq(len, 4);
        ck_assert_mem_eq(data, "peer", 4);
        free(data);
        client_secure_free(s);
    }
    keystore_free(fleet);
}
END_TEST

START_TEST(test_a_process_hits_each_limit)
{
    char big[4200];
    uint32_t pid, cid;
    uint32_t extra = 0;

    /* Instructions, memory, outputs per hook. */
    cid = open_raw(pinned, create(pinned, "spin", "function HandleChannelMessage(c, m) "
                                                  "while true do end end", NULL));
    EXPECT_OK(client_send_data(pinned, cid, (const uint8_t *)"go", 2));
    expect_closed(pinned, cid, STATUS_DEADLINE_EXCEEDED, NULL);
    cid = open_raw(pinned, create(pinned, "grow", "function HandleChannelMessage(c, m) "
                                                  "local s = 'x' while true do s = s .. s end end",
                                  NULL));
    EXPECT_OK(client_send_data(pinned, cid, (const uint8_t *)"go", 2));
    expect_closed(pinned, cid, STATUS_RESOURCE_EXHAUSTED, NULL);
    cid = open_raw(pinned, create(pinned, "fan", "function HandleChannelMessage(c, m) "
                                                 "local o = {} for i = 1, 17 do o[i] = {c, 'x'} end "
                                                 "return o end",
                                  NULL));
    EXPECT_OK(client_send_data(pinned, cid, (const uint8_t *)"go", 2));
    expect_closed(pinned, cid, STATUS_RESOURCE_EXHAUSTED, NULL);
    /* Message size, channels per process, processes, memory_limit. */
    pid = create(pinned, "echo2", ECHO_APP, NULL);
    cid = open_raw(pinned, pid);
    memset(big, 'a', sizeof(big));
    EXPECT_OK(client_send_data(pinned, cid, (const uint8_t *)big, sizeof(big)));
    expect_closed(pinned, cid, STATUS_RESOURCE_EXHAUSTED, "max_message");
    for (int i = 0; i < 4; i++) {
        open_raw(pinned, pid);
    }
    ck_assert_int_eq(client_channel_open(pinned, pid, NULL, ENCLAVED__CHANNEL_TYPE__RAW, &extra,
                                         NULL, 0),
                     STATUS_RESOURCE_EXHAUSTED);
    create(pinned, "six", ECHO_APP, NULL);
    ck_assert_int_eq(client_process_create(pinned, "seven", (const uint8_t *)ECHO_APP,
                                           strlen(ECHO_APP), 0, NULL, NULL, NULL, 0),
                     STATUS_RESOURCE_EXHAUSTED);
    ck_assert_int_eq(client_process_create(pinned, "huge", (const uint8_t *)ECHO_APP,
                                           strlen(ECHO_APP), UINT64_C(1) << 40, NULL, NULL, NULL,
                                           0),
                     STATUS_RESOURCE_EXHAUSTED);
    EXPECT_OK(client_ping(pinned));
}
END_TEST

START_TEST(test_hook_error_closes_the_channel)
{
    Enclaved__ServerFrame *f = NULL;
    uint32_t cid = open_raw(pinned, create(pinned, "boom", BOOM_APP, NULL));

    EXPECT_OK(client_send_data(pinned, cid, (const uint8_t *)"go", 2));
    EXPECT_OK(client_next_event(pinned, 5000, &f));
    ck_assert_int_eq(f->kind_case, ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED);
    ck_assert_int_eq(f->channel_closed->status, STATUS_INTERNAL);
    ck_assert_ptr_nonnull(strstr(f->channel_closed->reason, "boom"));
    client_frame_free(f);
    EXPECT_OK(client_ping(pinned));
}
END_TEST

START_TEST(test_connection_dropped_mid_frame)
{
    static const uint8_t partial[] = {0, 0, 0, 50, 0x0a, 0x05};
    struct client *c = connect_to(&ts);
    struct client *probe;

    EXPECT_OK(client_send_raw(c, partial, sizeof(partial)));
    client_free(c);
    probe = connect_to(&ts);
    EXPECT_OK(client_ping(probe));
    wait_for_two_connections(probe);
    client_free(probe);
}
END_TEST

START_TEST(test_many_clients_at_once)
{
    struct client *clients[CONNECTIONS];
    struct client *probe;
    uint8_t hash[32];
    uint32_t pid = boot_app(pinned, hash);

    /* All open at once, so the poll arrays grow past their first size. */
    for (int i = 0; i < CONNECTIONS; i++) {
        clients[i] = connect_to(&ts);
    }
    for (int i = 0; i < CONNECTIONS; i += 20) {
        EXPECT_OK(client_ping(clients[i]));
    }
    /* Three raw echoes on far-apart connections (4 channels per process). */
    for (int i = 0; i < CONNECTIONS; i += 70) {
        uint32_t cid = open_raw(clients[i], pid);
        uint8_t *data = NULL;
        size_t len = 0;

        EXPECT_OK(client_send_data(clients[i], cid, (const uint8_t *)"many", 4));
        EXPECT_OK(client_channel_recv(clients[i], cid, 5000, &data, &len, NULL, 0));
        ck_assert_uint_eq(len, 4);
        free(data);
    }
    for (int i = 0; i < CONNECTIONS; i++) {
        client_free(clients[i]);
    }
    probe = connect_to(&ts);
    wait_for_two_connections(probe);
    client_free(probe);
}
END_TEST

START_TEST(test_reset)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__Reset body = ENCLAVED__RESET__INIT;
    Enclaved__ServerFrame *f = NULL;
    uint8_t hash[32];
    uint32_t cid = open_raw(pinned, boot_app(pinned, hash));
    status_t closed = STATUS_OK;

    req.body_case = ENCLAVED__REQUEST__BODY_RESET;
    req.reset = &body;
    EXPECT_OK(client_call(pinned, &req, &f));
    ck_assert_int_eq(f->response->status, STATUS_OK);
    client_frame_free(f);
    EXPECT_OK(client_channel_wait_closed(pinned, cid, 5000, &closed, NULL, 0));
    ck_assert_int_ne(closed, STATUS_OK);
    EXPECT_OK(client_ping(pinned));
}
END_TEST

/* Waits for a confined server that is expected to go (or be found broken):
 * returns its log after it exited or was stopped. */
static char *wait_for_exit(struct test_server *server, int rc, int *exit_code)
{
    int status = 0;

    if (rc == -1) {
        for (int waited = 0; waited < 10000; waited += 10) {
            if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
                server->pid = 0;
                break;
            }
            sleep_ms(10);
        }
        if (server->pid != 0) {
            /* Still running: stop it and report what it logged. */
            kill(server->pid, SIGKILL);
            waitpid(server->pid, &status, 0);
            server->pid = 0;
            *exit_code = -1;
            return test_server_stop_with_log(server, NULL);
        }
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    *exit_code = rc;
    return test_server_stop_with_log(server, NULL);
}

/* The negative control: libuv's Linux loop needs epoll, which is off the
 * list; in kill mode the server dies on it, in enosys mode the preload
 * names it and the server cannot start its loop. */
START_TEST(test_the_uv_driver_cannot_run_under_the_list)
{
    static const char *const uv[] = {"--io", "uv", NULL};
    struct test_server server;
    int code = 0;
    int rc = try_start_confined(&server, image_path, list_path, uv);
    char *log = wait_for_exit(&server, rc, &code);
    char *call = off_list_call(log);

    ck_assert_msg(call != NULL, "the uv driver met no off-list call (exit %d):\n%s", code, head_of(log));
    ck_assert_msg(strncmp(call, "epoll", 5) == 0, "stopped on %s, not epoll:\n%s", call, head_of(log));
    ck_assert_msg(code != 0, "the uv driver survived the filter:\n%s", head_of(log));
    if (strcmp(mode(), "kill") == 0) {
        ck_assert_int_eq(code, KILLED);
    }
    free(call);
    free(log);
}
END_TEST

/* Proof that a confined run is not vacuous: with clone struck from the
 * list, starting the key pool's thread meets it, and the log names it. */
START_TEST(test_a_list_without_a_needed_call_fails_naming_it)
{
    char edited[192];
    char cmd[1024];
    struct test_server server;
    int code = 0;
    int rc;
    char *log;
    char *call;

    snprintf(edited, sizeof(edited), "%s/without-clone.txt", work_dir);
    snprintf(cmd, sizeof(cmd), "grep -v '^allow clone ' '%s' > '%s'", list_path, edited);
    run(cmd);
    rc = try_start_confined(&server, image_path, edited, NULL);
    if (rc == -1) {
        /* enosys mode: the server runs on without its key pool. */
        kill(server.pid, SIGTERM);
    }
    log = wait_for_exit(&server, rc, &code);
    call = off_list_call(log);
    ck_assert_msg(call != NULL, "no off-list call named (exit %d):\n%s", code, head_of(log));
    ck_assert_msg(strncmp(call, "clone (", 7) == 0, "named %s, not clone:\n%s", call, head_of(log));
    if (strcmp(mode(), "kill") == 0) {
        ck_assert_int_eq(code, KILLED);
    } else {
        ck_assert_msg(strstr(log, "no ephemeral key pool") != NULL, "%s", head_of(log));
    }
    free(call);
    free(log);
}
END_TEST

/* The fixture's sources. Unchecked fixtures run in this process, so the
 * userdata is made once, by the first. */
static void from_image(void)
{
    if (work_dir[0] == '\0') {
        make_userdata();
    }
    userdata = image_path;
}

static void from_directory(void)
{
    if (work_dir[0] == '\0') {
        make_userdata();
    }
    userdata = tree_path;
}

static void add_serving_tests(TCase *tc)
{
    tcase_add_checked_fixture(tc, start_confined, stop_confined);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_info_stats_and_the_boot_app);
    tcase_add_test(tc, test_raw_nk_and_kk_channels_echo_with_the_key_pool);
    tcase_add_test(tc, test_a_process_hits_each_limit);
    tcase_add_test(tc, test_hook_error_closes_the_channel);
    tcase_add_test(tc, test_connection_dropped_mid_frame);
    tcase_add_test(tc, test_many_clients_at_once);
    tcase_add_test(tc, test_reset);
}

static Suite *seccomp_suite(void)
{
    Suite *s = suite_create("e2e-seccomp");
    TCase *tc = tcase_create("image");

    /* Unchecked fixtures run once, in this process, before the forks. */
    tcase_add_unchecked_fixture(tc, from_image, NULL);
    add_serving_tests(tc);
    suite_add_tcase(s, tc);
    tc = tcase_create("directory");
    tcase_add_unchecked_fixture(tc, from_directory, NULL);
    add_serving_tests(tc);
    suite_add_tcase(s, tc);
    tc = tcase_create("controls");
    tcase_add_unchecked_fixture(tc, from_image, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_the_uv_driver_cannot_run_under_the_list);
    tcase_add_test(tc, test_a_list_without_a_needed_call_fails_naming_it);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    sr = srunner_create(seccomp_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (work_dir[0] != '\0' && remove_userdata() != 0) {
        failed++;
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
