/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * End-to-end: the enclavectl binary against the real server. Each test runs
 * the tool as a child with a given stdin, and asserts its exit code and what
 * it printed, parsing the --json output.
 */
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/client.h"
#include "lib/pin.h"
#include "hex.h"
#include "server.h"
#include "crypto/x25519.h"

enum { MAX_ARGS = 32 };

static struct test_server ts;

struct run {
    int code;
    char *out;
    char *err;
};

static void start_default(void)
{
    test_server_start(&ts, NULL);
}

static void stop_default(void)
{
    test_server_stop(&ts);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

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
    return buf;
}

/* Runs enclavectl with --port of the test server (unless port is 0), input
 * on stdin, and the NULL-terminated arguments; collects exit code and output. */
static struct run run_ctl_v(uint16_t port, const char *input, size_t input_len, va_list ap)
{
    const char *argv[MAX_ARGS];
    char port_text[16], in_path[256], out_path[256], err_path[256];
    struct run r;
    size_t argc = 0;
    int status = 0;
    pid_t pid;

    argv[argc++] = ENCLAVECTL_BIN;
    if (port != 0) {
        snprintf(port_text, sizeof(port_text), "%u", port);
        argv[argc++] = "--port";
        argv[argc++] = port_text;
    }
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        ck_assert_uint_lt(argc, MAX_ARGS - 1);
        argv[argc++] = a;
    }
    argv[argc] = NULL;
    snprintf(in_path, sizeof(in_path), "%s/ctl.in", ts.dir);
    snprintf(out_path, sizeof(out_path), "%s/ctl.out", ts.dir);
    snprintf(err_path, sizeof(err_path), "%s/ctl.err", ts.dir);
    FILE *in = fopen(in_path, "wb");
    ck_assert_ptr_nonnull(in);
    ck_assert_uint_eq(fwrite(input != NULL ? input : "", 1, input_len, in), input_len);
    fclose(in);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fin = open(in_path, O_RDONLY);
        int fout = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int ferr = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fin < 0 || fout < 0 || ferr < 0 || dup2(fin, 0) < 0 || dup2(fout, 1) < 0 ||
            dup2(ferr, 2) < 0) {
            _exit(127);
        }
        /* The known-servers file goes to the test's own directory. */
        setenv("HOME", ts.dir, 1);
        unsetenv("XDG_CONFIG_HOME");
        execv(ENCLAVECTL_BIN, (char *const *)argv);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "enclavectl died with status %d", status);
    r.code = WEXITSTATUS(status);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    return r;
}

static struct run run_ctl(const char *input, ...)
{
    va_list ap;
    struct run r;

    va_start(ap, input);
    r = run_ctl_v(ts.port, input, input != NULL ? strlen(input) : 0, ap);
    va_end(ap);
    return r;
}

/* Like run_ctl with stdin of len bytes that may hold NULs. */
static struct run run_ctl_bytes(const char *input, size_t len, ...)
{
    va_list ap;
    struct run r;

    va_start(ap, len);
    r = run_ctl_v(ts.port, input, len, ap);
    va_end(ap);
    return r;
}

static struct run run_ctl_port(uint16_t port, const char *input, ...)
{
    va_list ap;
    struct run r;

    va_start(ap, input);
    r = run_ctl_v(port, input, input != NULL ? strlen(input) : 0, ap);
    va_end(ap);
    return r;
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

#define EXPECT_CODE(r, want) \
    ck_assert_msg((r).code == (want), "exit %d, want %d\nstdout: %s\nstderr: %s", (r).code, \
                  (want), (r).out, (r).err)

/* {============================================================ tiny JSON reader */

/* Finds "key": in json and returns a pointer to its value (after blanks). */
static const char *json_value(const char *json, const char *key)
{
    char pattern[128];
    const char *p;

    snprintf(pattern, sizeof(pattern), "\"%s\":", key);
    p = strstr(json, pattern);
    ck_assert_msg(p != NULL, "no \"%s\" in %s", key, json);
    p += strlen(pattern);
    while (*p == ' ') {
        p++;
    }
    return p;
}

static unsigned long long json_u64(const char *json, const char *key)
{
    const char *v = json_value(json, key);
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);

    ck_assert_msg(end != v, "\"%s\" is not a number in %s", key, json);
    return n;
}

/* Copies the string value of key (no escapes expected) into buf. */
static void json_str(const char *json, const char *key, char *buf, size_t cap)
{
    const char *v = json_value(json, key);
    const char *end;

    ck_assert_msg(*v == '"', "\"%s\" is not a string in %s", key, json);
    end = strchr(v + 1, '"');
    ck_assert_ptr_nonnull(end);
    ck_assert_uint_lt((size_t)(end - v - 1), cap);
    memcpy(buf, v + 1, (size_t)(end - v - 1));
    buf[end - v - 1] = '\0';
}

/* Checks the output is exactly one JSON object on one line. */
static void assert_one_object(const char *out)
{
    size_t n = strlen(out);

    ck_assert_msg(n >= 3 && out[0] == '{' && out[n - 2] == '}' && out[n - 1] == '\n' &&
                      strchr(out, '\n') == out + n - 1,
                  "not one JSON object line: %s", out);
}

/* }============================================================ */

static void write_echo_app(char *path, size_t cap)
{
    snprintf(path, cap, "%s/echo.lua", ts.dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n", f);
    fclose(f);
}

/* Creates the echo process through enclavectl; returns its id and hash. */
static unsigned create_echo(char hash[65])
{
    char path[256];
    struct run r;
    unsigned id;

    write_echo_app(path, sizeof(path));
    r = run_ctl(NULL, "--json", "process", "create", path, "--name", "echo", NULL);
    EXPECT_CODE(r, 0);
    assert_one_object(r.out);
    id = (unsigned)json_u64(r.out, "process_id");
    json_str(r.out, "code_hash", hash, 65);
    ck_assert_uint_eq(strlen(hash), 64);
    run_free(&r);
    return id;
}

START_TEST(test_connection_refused_exits_3)
{
    struct sockaddr_in addr = {0};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct run r;

    /* A port that was just free and has no listener. */
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    r = run_ctl_port(ntohs(addr.sin_port), NULL, "ping", NULL);
    EXPECT_CODE(r, 3);
    ck_assert_ptr_nonnull(strstr(r.err, "connection refused"));
    run_free(&r);
    r = run_ctl_port(ntohs(addr.sin_port), NULL, "--json", "info", NULL);
    EXPECT_CODE(r, 3);
    ck_assert_ptr_nonnull(strstr(r.out, "\"UNAVAILABLE\""));
    run_free(&r);
}
END_TEST

START_TEST(test_bad_usage_exits_2)
{
    static const char *const cases[][5] = {
        {NULL},
        {"bogus", NULL},
        {"process", NULL},
        {"process", "destroy", NULL},
        {"process", "destroy", "12x", NULL},
        {"process", "destroy", "--code-hash", "abcd", NULL},
        {"process", "create", NULL},
        {"channel", "open", "tls", "--process", "1"},
        {"channel", "open", "raw", NULL},
        {"channel", "open", "nk", "--process", "1"},
        {"--port", "0", "ping", NULL},
        {"--timeout", NULL},
        {"keygen", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const *a = cases[i];
        struct run r = run_ctl(NULL, a[0], a[0] ? a[1] : NULL, a[0] && a[1] ? a[2] : NULL,
                               a[0] && a[1] && a[2] ? a[3] : NULL,
                               a[0] && a[1] && a[2] && a[3] ? a[4] : NULL, NULL);
        if (i == 9) {
            /* nk to a process that does not exist is a server answer, not usage. */
            EXPECT_CODE(r, 1);
        } else {
            EXPECT_CODE(r, 2);
        }
        run_free(&r);
    }
}
END_TEST

START_TEST(test_help_lists_exit_codes)
{
    struct run r = run_ctl(NULL, "--help", NULL);

    EXPECT_CODE(r, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "exit codes"));
    ck_assert_ptr_nonnull(strstr(r.out, "channel open"));
    run_free(&r);
    r = run_ctl(NULL, "process", "destroy", "--help", NULL);
    EXPECT_CODE(r, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: enclavectl [global options] process destroy"));
    ck_assert_ptr_nonnull(strstr(r.out, "5  nk:"));
    run_free(&r);
}
END_TEST

START_TEST(test_server_error_status_exits_1)
{
    struct run r = run_ctl(NULL, "--json", "process", "destroy", "999999", NULL);
    char status[32];

    EXPECT_CODE(r, 1);
    assert_one_object(r.out);
    json_str(r.out, "status", status, sizeof(status));
    ck_assert_str_eq(status, "NOT_FOUND");
    ck_assert_uint_eq(json_u64(r.out, "code"), 5);
    ck_assert_ptr_nonnull(strstr(r.err, "NOT_FOUND"));
    run_free(&r);
}
END_TEST

START_TEST(test_info_ping_stats_in_json)
{
    struct client *c = test_server_connect(&ts);
    Enclaved__ServerFrame *f = NULL;
    char key[65], want[65], target[16];
    struct run r;

    ck_assert_int_eq(client_get_info(c, &f), STATUS_OK);
    hex_encode(f->response->info->public_key.data, 32, want);
    client_frame_free(f);
    client_free(c);

    r = run_ctl(NULL, "info", "--json", NULL);
    EXPECT_CODE(r, 0);
    assert_one_object(r.out);
    json_str(r.out, "public_key", key, sizeof(key));
    ck_assert_str_eq(key, want);
    json_str(r.out, "target", target, sizeof(target));
    ck_assert_str_eq(target, "linux");
    ck_assert_uint_eq(json_u64(r.out, "protocol_version"), 1);
    ck_assert_uint_eq(json_u64(r.out, "max_frame"), 1u << 20);
    run_free(&r);

    r = run_ctl(NULL, "--json", "ping", NULL);
    EXPECT_CODE(r, 0);
    assert_one_object(r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "\"ok\":true"));
    run_free(&r);

    r = run_ctl(NULL, "--json", "stats", NULL);
    EXPECT_CODE(r, 0);
    assert_one_object(r.out);
    ck_assert_uint_ge(json_u64(r.out, "connections_total"), 3);
    ck_assert_uint_eq(json_u64(r.out, "connections_open"), 1);
    ck_assert_uint_gt(json_u64(r.out, "memory_rss"), 0);
    run_free(&r);

    r = run_ctl(NULL, "info", NULL);
    EXPECT_CODE(r, 0);
    ck_assert_ptr_nonnull(strstr(r.out, want));
    run_free(&r);
}
END_TEST

START_TEST(test_process_create_list_destroy_reset)
{
    char hash[65], listed[65], name[16];
    unsigned id = create_echo(hash);
    unsigned second;
    struct run r;

    second = create_echo(hash);
    ck_assert_uint_ne(id, second);

    r = run_ctl(NULL, "--json", "process", "list", NULL);
    EXPECT_CODE(r, 0);
    assert_one_object(r.out);
    ck_assert_uint_eq(json_u64(r.out, "process_id"), id);
    json_str(r.out, "code_hash", listed, sizeof(listed));
    ck_assert_str_eq(listed, hash);
    json_str(r.out, "name", name, sizeof(name));
    ck_assert_str_eq(name, "echo");
    ck_assert_uint_gt(json_u64(r.out, "memory_used"), 0);
    run_free(&r);

    /* By code hash: the oldest process with it goes first. */
    r = run_ctl(NULL, "--json", "process", "destroy", "--code-hash", hash, NULL);
    EXPECT_CODE(r, 0);
    ck_assert_uint_eq(json_u64(r.out, "process_id"), id);
    run_free(&r);

    r = run_ctl(NULL, "process", "list", NULL);
    EXPECT_CODE(r, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "CODE HASH"));
    ck_assert_ptr_nonnull(strstr(r.out, hash));
    run_free(&r);

    r = run_ctl(NULL, "--json", "reset", NULL);
    EXPECT_CODE(r, 0);
    run_free(&r);
    r = run_ctl(NULL, "--json", "process", "list", NULL);
    EXPECT_CODE(r, 0);
    ck_assert_str_eq(r.out, "{\"processes\":[]}\n");
    run_free(&r);
    r = run_ctl(NULL, "process", "destroy", "1", NULL);
    EXPECT_CODE(r, 1);
    run_free(&r);
}
END_TEST

START_TEST(test_process_create_of_missing_file_exits_6)
{
    struct run r = run_ctl(NULL, "process", "create", "/nonexistent/app.lua", NULL);

    EXPECT_CODE(r, 6);
    run_free(&r);
}
END_TEST

START_TEST(test_channel_open_raw_echoes_stdin_lines)
{
    char hash[65], pid[16];
    unsigned id = create_echo(hash);
    struct run r;

    snprintf(pid, sizeof(pid), "%u", id);
    r = run_ctl("hello\nworld\n\nlast line without newline", "channel", "open", "raw",
                "--process", pid, NULL);
    EXPECT_CODE(r, 0);
    ck_assert_str_eq(r.out, "hello\nworld\n\nlast line without newline\n");
    run_free(&r);

    r = run_ctl("a\"b\n", "--json", "channel", "open", "raw", "--code-hash", hash, NULL);
    EXPECT_CODE(r, 0);
    assert_one_object(r.out);
    ck_assert_uint_eq(json_u64(r.out, "len"), 3);
    ck_assert_ptr_nonnull(strstr(r.out, "\"data\":\"a\\\"b\",\"hex\":\"612262\"}"));
    run_free(&r);

    /* JSON stays valid: UTF-8 passes through, other high bytes are escaped. */
    r = run_ctl("\xc3\xa9\n\xff\xc3\xa9\n", "--json", "channel", "open", "raw", "--code-hash",
                hash, NULL);
    EXPECT_CODE(r, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "\"data\":\"\xc3\xa9\",\"hex\":\"c3a9\"}"));
    ck_assert_ptr_nonnull(
        strstr(r.out, "\"data\":\"\\u00ff\\u00c3\\u00a9\",\"hex\":\"ffc3a9\"}"));
    run_free(&r);
}
END_TEST

START_TEST(test_channel_open_raw_binary_framing)
{
    /* Two messages: "a\0b" and the empty one. */
    static const char input[] = {0, 0, 0, 3, 'a', 0, 'b', 0, 0, 0, 0};
    char hash[65];
    struct run r;

    create_echo(hash);
    r = run_ctl_bytes(input, sizeof(input), "--json", "channel", "open", "raw", "--code-hash",
                      hash, "--binary", NULL);
    EXPECT_CODE(r, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "\"len\":3,\"data\":\"a\\u0000b\",\"hex\":\"610062\"}\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "\"len\":0,\"data\":\"\",\"hex\":\"\"}\n"));
    run_free(&r);

    /* A length prefix promising more than stdin holds is a usage error. */
    r = run_ctl_bytes(input, 6, "channel", "open", "raw", "--code-hash", hash, "--binary", NULL);
    EXPECT_CODE(r, 2);
    run_free(&r);
}
END_TEST

START_TEST(test_channel_open_nk_with_right_and_wrong_pubkey)
{
    struct client *c = test_server_connect(&ts);
    Enclaved__ServerFrame *f = NULL;
    char hash[65], key[65], wrong[65], pid[16];
    unsigned id = create_echo(hash);
    struct run r;

    ck_assert_int_eq(client_get_info(c, &f), STATUS_OK);
    hex_encode(f->response->info->public_key.data, 32, key);
    client_frame_free(f);
    client_free(c);
    snprintf(pid, sizeof(pid), "%u", id);

    r = run_ctl("secret one\nsecret two\n", "channel", "open", "nk", "--process", pid,
                "--pubkey", key, NULL);
    EXPECT_CODE(r, 0);
    ck_assert_str_eq(r.out, "secret one\nsecret two\n");
    ck_assert_ptr_nonnull(strstr(r.err, "attested code hash"));
    ck_assert_ptr_nonnull(strstr(r.err, hash));
    run_free(&r);

    /* Without --pubkey the key comes from GetInfo and stderr says so. */
    r = run_ctl("x\n", "--json", "channel", "open", "nk", "--code-hash", hash, NULL);
    EXPECT_CODE(r, 0);
    ck_assert_ptr_nonnull(strstr(r.err, "pinning the server key from GetInfo"));
    ck_assert_ptr_nonnull(strstr(r.out, "\"data\":\"x\""));
    run_free(&r);

    memcpy(wrong, key, sizeof(wrong));
    wrong[10] = wrong[10] == '0' ? '1' : '0';
    r = run_ctl("never sent\n", "channel", "open", "nk", "--process", pid, "--pubkey", wrong,
                NULL);
    EXPECT_CODE(r, 5);
    ck_assert_str_eq(r.out, "");
    ck_assert_ptr_nonnull(strstr(r.err, "server key does not match the pinned key"));
    run_free(&r);

    r = run_ctl("x\n", "--json", "channel", "open", "nk", "--process", pid, "--accept",
                "00000000000000000000000000000000000000000000000000000000000000ff", NULL);
    EXPECT_CODE(r, 5);
    ck_assert_ptr_nonnull(strstr(r.out, "code hash mismatch"));
    run_free(&r);
}
END_TEST

START_TEST(test_keygen_writes_keys_and_refuses_to_overwrite)
{
    char dir[256], path[300], pub[65], want[65];
    uint8_t priv[32], computed[32];
    struct stat st;
    struct run r;

    snprintf(dir, sizeof(dir), "%s/keys", ts.dir);
    r = run_ctl_port(0, NULL, "--json", "keygen", dir, NULL);
    EXPECT_CODE(r, 0);
    assert_one_object(r.out);
    json_str(r.out, "public_key", pub, sizeof(pub));
    run_free(&r);

    snprintf(path, sizeof(path), "%s/noise_static.key", dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 32);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(priv, 1, sizeof(priv), f), sizeof(priv));
    fclose(f);
    x25519_public_key(computed, priv);
    hex_encode(computed, 32, want);
    ck_assert_str_eq(pub, want);
    snprintf(path, sizeof(path), "%s/sealing_secret.key", dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 32);
    ck_assert_int_eq(st.st_mode & 0777, 0600);

    r = run_ctl_port(0, NULL, "keygen", dir, NULL);
    EXPECT_CODE(r, 6);
    ck_assert_ptr_nonnull(strstr(r.err, "never overwrites"));
    ck_assert_str_eq(r.out, "");
    run_free(&r);
    /* The first key is unchanged. */
    snprintf(path, sizeof(path), "%s/noise_static.key", dir);
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(computed, 1, sizeof(computed), f), sizeof(computed));
    fclose(f);
    ck_assert(memcmp(priv, computed, 32) == 0);
}
END_TEST


/* The server's static key as hex (65 bytes with NUL) and raw. */
static void server_key(char hex[65], uint8_t raw[32])
{
    struct client *c = test_server_connect(&ts);
    Enclaved__ServerFrame *f = NULL;

    ck_assert_int_eq(client_get_info(c, &f), STATUS_OK);
    ck_assert_uint_eq(f->response->info->public_key.len, 32);
    memcpy(raw, f->response->info->public_key.data, 32);
    hex_encode(raw, 32, hex);
    client_frame_free(f);
    client_free(c);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_nk_trusts_on_first_use_then_pins_from_known_servers)
{
    char hash[65], key[65], pid[16], path[300], line[160], fp[PIN_FINGERPRINT_LEN];
    uint8_t raw[32];
    unsigned id = create_echo(hash);
    struct stat st;
    struct run r;
    char *text;

    server_key(key, raw);
    pin_fingerprint(raw, fp);
    snprintf(pid, sizeof(pid), "%u", id);
    snprintf(path, sizeof(path), "%s/.config/enclaved/known_servers", ts.dir);

    /* First use: trusted, said on stderr, remembered 0600 after the handshake. */
    r = run_ctl("one\n", "channel", "open", "nk", "--process", pid, NULL);
    EXPECT_CODE(r, 0);
    ck_assert_str_eq(r.out, "one\n");
    ck_assert_ptr_nonnull(strstr(r.err, "trust on first use"));
    ck_assert_ptr_nonnull(strstr(r.err, fp));
    ck_assert_ptr_nonnull(strstr(r.err, "remembered 127.0.0.1:"));
    run_free(&r);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    text = slurp(path);
    snprintf(line, sizeof(line), "127.0.0.1:%u %s\n", ts.port, key);
    ck_assert_str_eq(text, line);
    free(text);

    /* Second use: pinned by the file, nothing appended. */
    r = run_ctl("two\n", "channel", "open", "nk", "--process", pid, NULL);
    EXPECT_CODE(r, 0);
    ck_assert_str_eq(r.out, "two\n");
    ck_assert_ptr_nonnull(strstr(r.err, "server key pinned by"));
    ck_assert_ptr_nonnull(strstr(r.err, "known_servers line 1"));
    ck_assert_ptr_null(strstr(r.err, "trust on first use"));
    run_free(&r);
    text = slurp(path);
    ck_assert_str_eq(text, line);
    free(text);

    /* The pinned key changes (here: the file holds another key): refused
     * before any handshake, with both fingerprints. */
    snprintf(line, sizeof(line), "# a comment\n\n127.0.0.1:%u %064x\n", ts.port, 7);
    write_text(path, line);
    r = run_ctl("never sent\n", "--json", "channel", "open", "nk", "--process", pid, NULL);
    EXPECT_CODE(r, 5);
    ck_assert_ptr_nonnull(strstr(r.err, "server key does not match the pinned key"));
    ck_assert_ptr_nonnull(strstr(r.err, "line 3"));
    ck_assert_ptr_nonnull(strstr(r.err, fp));
    ck_assert_ptr_nonnull(strstr(r.err, "refusing"));
    ck_assert_ptr_nonnull(strstr(r.out, "\"PERMISSION_DENIED\""));
    ck_assert_ptr_null(strstr(r.out, "never sent"));
    run_free(&r);

    /* A malformed file is a local error, naming the line. */
    write_text(path, "127.0.0.1:1 not-hex\n");
    r = run_ctl("x\n", "channel", "open", "nk", "--process", pid, NULL);
    EXPECT_CODE(r, 6);
    ck_assert_ptr_nonnull(strstr(r.err, "malformed line 1"));
    run_free(&r);
}
END_TEST

START_TEST(test_nk_pins_from_known_servers_option_and_pubkey_file)
{
    char hash[65], key[65], path[300], text[200];
    uint8_t raw[32];
    struct run r;

    create_echo(hash);
    server_key(key, raw);

    /* --known-servers FILE instead of the default; its entry pins. */
    snprintf(path, sizeof(path), "%s/fleet_known", ts.dir);
    /* Entries are named as enclavectl writes them: localhost is 127.0.0.1. */
    snprintf(text, sizeof(text), "127.0.0.1:%u %s\n", ts.port, key);
    write_text(path, text);
    r = run_ctl("a\n", "--known-servers", path, "--host", "localhost", "channel", "open", "nk",
                "--code-hash", hash, NULL);
    EXPECT_CODE(r, 0);
    ck_assert_ptr_nonnull(strstr(r.err, "fleet_known line 1"));
    ck_assert_str_eq(r.out, "a\n");
    run_free(&r);

    /* --pubkey-file: the line keygen prints. */
    snprintf(path, sizeof(path), "%s/server.pub", ts.dir);
    snprintf(text, sizeof(text), "%s\n", key);
    write_text(path, text);
    r = run_ctl("b\n", "channel", "open", "nk", "--code-hash", hash, "--pubkey-file", path, NULL);
    EXPECT_CODE(r, 0);
    ck_assert_ptr_nonnull(strstr(r.err, "server.pub"));
    ck_assert_str_eq(r.out, "b\n");
    run_free(&r);

    write_text(path, "abcd\n");
    r = run_ctl("b\n", "channel", "open", "nk", "--code-hash", hash, "--pubkey-file", path, NULL);
    EXPECT_CODE(r, 6);
    ck_assert_ptr_nonnull(strstr(r.err, "64 hex digits"));
    run_free(&r);

    r = run_ctl("b\n", "channel", "open", "nk", "--code-hash", hash, "--pubkey-file", path,
                "--pubkey", key, NULL);
    EXPECT_CODE(r, 2);
    run_free(&r);
}
END_TEST

START_TEST(test_info_prints_the_key_fingerprint)
{
    char key[65], fp[PIN_FINGERPRINT_LEN], got[PIN_FINGERPRINT_LEN + 8];
    uint8_t raw[32];
    struct run r;

    server_key(key, raw);
    pin_fingerprint(raw, fp);
    ck_assert_uint_eq(strlen(fp), 24);
    r = run_ctl(NULL, "--json", "info", NULL);
    EXPECT_CODE(r, 0);
    json_str(r.out, "fingerprint", got, sizeof(got));
    ck_assert_str_eq(got, fp);
    run_free(&r);
    r = run_ctl(NULL, "info", NULL);
    EXPECT_CODE(r, 0);
    ck_assert_ptr_nonnull(strstr(r.out, fp));
    run_free(&r);
}
END_TEST

START_TEST(test_stats_per_process_uptime_watch_and_prometheus)
{
    char path[256], pid[16];
    struct run r;
    FILE *f;

    snprintf(path, sizeof(path), "%s/boom.lua", ts.dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("function HandleChannelMessage(cid, msg)\n"
          "  if msg == 'boom' then error('boom') end\n"
          "  return {{cid, msg}}\n"
          "end\n", f);
    fclose(f);
    r = run_ctl(NULL, "--json", "process", "create", path, "--name", "boom", NULL);
    EXPECT_CODE(r, 0);
    snprintf(pid, sizeof(pid), "%llu", json_u64(r.out, "process_id"));
    run_free(&r);
    r = run_ctl("one\ntwo\nboom\n", "channel", "open", "raw", "--process", pid, NULL);
    EXPECT_CODE(r, 1);
    run_free(&r);

    r = run_ctl(NULL, "--json", "stats", NULL);
    EXPECT_CODE(r, 0);
    assert_one_object(r.out);
    ck_assert_uint_gt(json_u64(r.out, "start_time_micros"), 1600000000000000ull);
    const char *proc = strstr(r.out, "\"processes_info\":[{");
    ck_assert_ptr_nonnull(proc);
    ck_assert_uint_eq(json_u64(proc, "messages"), 3);
    ck_assert_uint_eq(json_u64(proc, "errors"), 1);
    ck_assert_uint_eq(json_u64(proc, "limit_hits"), 0);
    unsigned long long up1 = json_u64(r.out, "uptime_ms");
    run_free(&r);

    /* --watch: one object per sample; uptime grows. */
    r = run_ctl(NULL, "--json", "stats", "--watch", "--interval=150", "--count", "2", NULL);
    EXPECT_CODE(r, 0);
    char *second = strchr(r.out, '\n');
    ck_assert_ptr_nonnull(second);
    second++;
    ck_assert_ptr_nonnull(strchr(second, '\n'));
    ck_assert_str_eq(strchr(second, '\n'), "\n");
    ck_assert_uint_ge(json_u64(r.out, "uptime_ms"), up1);
    ck_assert_uint_ge(json_u64(second, "uptime_ms"), json_u64(r.out, "uptime_ms") + 100);
    run_free(&r);

    /* --prometheus: the text exposition format, line by line. */
    r = run_ctl(NULL, "stats", "--prometheus", NULL);
    EXPECT_CODE(r, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "# TYPE enclaved_frames_in_total counter\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "# TYPE enclaved_connections_open gauge\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "# TYPE enclaved_connections_total counter\n"));
    ck_assert_ptr_null(strstr(r.out, "_total_total"));
    ck_assert_ptr_nonnull(strstr(r.out, "enclaved_errors_total{status=\"INTERNAL\"} 1\n"));
    char want[128];
    snprintf(want, sizeof(want), "enclaved_process_messages_total{process_id=\"%s\",name=\"boom\"} 3\n",
             pid);
    ck_assert_ptr_nonnull(strstr(r.out, want));
    snprintf(want, sizeof(want), "enclaved_process_errors_total{process_id=\"%s\",name=\"boom\"} 1\n",
             pid);
    ck_assert_ptr_nonnull(strstr(r.out, want));
    regex_t sample, type;
    ck_assert_int_eq(regcomp(&sample, "^enclaved_[a-z_]+(\\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\\})? "
                                      "[0-9]+(\\.[0-9]+)?$", REG_EXTENDED | REG_NOSUB), 0);
    ck_assert_int_eq(regcomp(&type, "^# TYPE enclaved_[a-z_]+ (counter|gauge)$",
                             REG_EXTENDED | REG_NOSUB), 0);
    size_t lines = 0;
    for (char *line = strtok(r.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        ck_assert_msg(regexec(&sample, line, 0, NULL, 0) == 0 || regexec(&type, line, 0, NULL, 0) == 0,
                      "not exposition format: %s", line);
        lines++;
    }
    ck_assert_uint_gt(lines, 30);
    regfree(&sample);
    regfree(&type);
    run_free(&r);

    r = run_ctl(NULL, "--json", "stats", "--prometheus", NULL);
    EXPECT_CODE(r, 2);
    run_free(&r);
    r = run_ctl(NULL, "stats", "--count=2", NULL);
    EXPECT_CODE(r, 2);
    run_free(&r);
}
END_TEST

static Suite *enclavectl_suite(void)
{
    Suite *s = suite_create("e2e-enclavectl");
    TCase *tc = tcase_create("enclavectl");

    tcase_add_checked_fixture(tc, start_default, stop_default);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_connection_refused_exits_3);
    tcase_add_test(tc, test_bad_usage_exits_2);
    tcase_add_test(tc, test_help_lists_exit_codes);
    tcase_add_test(tc, test_server_error_status_exits_1);
    tcase_add_test(tc, test_info_ping_stats_in_json);
    tcase_add_test(tc, test_process_create_list_destroy_reset);
    tcase_add_test(tc, test_process_create_of_missing_file_exits_6);
    tcase_add_test(tc, test_channel_open_raw_echoes_stdin_lines);
    tcase_add_test(tc, test_channel_open_raw_binary_framing);
    tcase_add_test(tc, test_channel_open_nk_with_right_and_wrong_pubkey);
    tcase_add_test(tc, test_keygen_writes_keys_and_refuses_to_overwrite);
    tcase_add_test(tc, test_nk_trusts_on_first_use_then_pins_from_known_servers);
    tcase_add_test(tc, test_nk_pins_from_known_servers_option_and_pubkey_file);
    tcase_add_test(tc, test_info_prints_the_key_fingerprint);
    tcase_add_test(tc, test_stats_per_process_uptime_watch_and_prometheus);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(enclavectl_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
