/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclavectl: the command-line client of enclaved (DESIGN §1, §4). One binary
 * with subcommands; each speaks the wire protocol through the client library,
 * prints a human-readable table by default and one JSON object with --json,
 * and exits with a code from the table in usage_main (scripts rely on them).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/client.h"
#include "lib/client_noise.h"
#include "lib/keygen.h"

enum exit_code {
    EXIT_OK = 0,
    EXIT_STATUS = 1,      /* the server answered with an error status */
    EXIT_USAGE = 2,
    EXIT_UNAVAILABLE = 3, /* connection refused or lost */
    EXIT_TIMEOUT = 4,
    EXIT_MISMATCH = 5,    /* pinned key or code hash mismatch */
    EXIT_LOCAL = 6,       /* a local file could not be read or written */
};

enum {
    DEFAULT_PORT = 7480,
    HASH_LEN = CLIENT_CODE_HASH_LEN,
    MAX_SOURCE_LEN = 16 * 1024 * 1024,
    MAX_LINE_LEN = 1024 * 1024,
    LINGER_MS = 200,
};

struct ctl {
    const char *host;
    uint16_t port;
    int timeout_ms;
    int json;
    struct client *c;
};

struct command {
    const char *name;   /* "process create" */
    int (*run)(struct ctl *ctl, int argc, char **argv);
    const char *usage;  /* after "enclavectl NAME " */
    const char *help;
};

/* {============================================================ output */

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "enclavectl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try --help)\n");
    exit(EXIT_USAGE);
}

static void print_hex(FILE *out, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        fprintf(out, "%02x", buf[i]);
    }
}

/* True when s is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or
 * code points past U+10FFFF). */
static int is_utf8(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t b = s[i];
        size_t n = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2
                             : b >= 0xf0 && b <= 0xf4 ? 3 : 4;
        if (n == 4 || n >= len - i) {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
        if ((b == 0xe0 && s[i + 1] < 0xa0) || (b == 0xed && s[i + 1] >= 0xa0) ||
            (b == 0xf0 && s[i + 1] < 0x90) || (b == 0xf4 && s[i + 1] >= 0x90)) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

/* Writes s as a JSON string literal. Well-formed UTF-8 passes through;
 * otherwise every byte >= 0x80 becomes \u00XX (read as Latin-1), so the
 * output stays valid JSON and the "hex" field carries the exact bytes. */
static void print_json_string(FILE *out, const uint8_t *s, size_t len)
{
    int utf8 = is_utf8(s, len);

    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = s[i];
        if (ch == '"' || ch == '\\') {
            fprintf(out, "\\%c", ch);
        } else if (ch == '\n') {
            fputs("\\n", out);
        } else if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && !utf8)) {
            fprintf(out, "\\u%04x", ch);
        } else {
            fputc(ch, out);
        }
    }
    fputc('"', out);
}

static void print_json_cstr(FILE *out, const char *s)
{
    print_json_string(out, (const uint8_t *)s, strlen(s));
}

/* Reports a failure on stderr, and as {"error": ...} on stdout with --json. */
static void report_error(const struct ctl *ctl, status_t s, const char *message)
{
    fprintf(stderr, "enclavectl: %s: %s\n", status_name(s), message);
    if (ctl->json) {
        printf("{\"error\":{\"status\":\"%s\",\"code\":%d,\"message\":", status_name(s), (int)s);
        print_json_cstr(stdout, message);
        printf("}}\n");
    }
}

/* Maps a failure of the connection itself (not a Response status). */
static int transport_exit(const struct ctl *ctl, status_t s, const char *what)
{
    char text[256];

    snprintf(text, sizeof(text), "%s: %s", what, status_trail_message());
    report_error(ctl, s, text);
    return s == STATUS_DEADLINE_EXCEEDED ? EXIT_TIMEOUT : EXIT_UNAVAILABLE;
}

/* }============================================================ */

/* {============================================================ parsing */

static int parse_u64(const char *text, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (text[0] < '0' || text[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static uint32_t parse_u32_or_die(const char *what, const char *text)
{
    uint64_t v = 0;

    if (parse_u64(text, &v) != 0 || v > UINT32_MAX) {
        die_usage("%s must be a number up to %u, not '%s'", what, UINT32_MAX, text);
    }
    return (uint32_t)v;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Decodes exactly len bytes of hex or exits with a usage error. */
static void parse_hex_or_die(const char *what, const char *text, uint8_t *out, size_t len)
{
    if (strlen(text) != 2 * len) {
        die_usage("%s must be %zu hex digits", what, 2 * len);
    }
    for (size_t i = 0; i < len; i++) {
        int hi = hex_value(text[2 * i]);
        int lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            die_usage("%s must be %zu hex digits", what, 2 * len);
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
}

/* Returns the value of option argv[*i] (which needs one), advancing *i. */
static const char *option_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        die_usage("%s needs a value", argv[*i]);
    }
    *i += 1;
    return argv[*i];
}

/* }============================================================ */

/* {============================================================ requests */

static int connect_ctl(struct ctl *ctl)
{
    status_t s;

    if (ctl->c != NULL) {
        return EXIT_OK;
    }
    s = client_connect(ctl->host, ctl->port, ctl->timeout_ms, &ctl->c);
    if (s != STATUS_OK) {
        char what[128];
        snprintf(what, sizeof(what), "cannot connect to %s:%u", ctl->host, ctl->port);
        return transport_exit(ctl, s, what);
    }
    return EXIT_OK;
}

/* Sends req and returns an exit code; on EXIT_OK *out holds a Response
 * with status OK (caller frees). Error statuses are reported here. */
static int call(struct ctl *ctl, Enclaved__Request *req, Enclaved__ServerFrame **out)
{
    Enclaved__ServerFrame *f = NULL;
    status_t s;
    int rc = connect_ctl(ctl);

    if (rc != EXIT_OK) {
        return rc;
    }
    s = client_call(ctl->c, req, &f);
    if (s != STATUS_OK) {
        return transport_exit(ctl, s, "request failed");
    }
    s = (status_t)f->response->status;
    if (s != STATUS_OK) {
        report_error(ctl, s, f->response->message[0] ? f->response->message : status_message(s));
        client_frame_free(f);
        return EXIT_STATUS;
    }
    *out = f;
    return EXIT_OK;
}

/* Runs a request whose result must have result_case want. */
static int call_expect(struct ctl *ctl, Enclaved__Request *req, Enclaved__Response__ResultCase want,
                       Enclaved__ServerFrame **out)
{
    int rc = call(ctl, req, out);

    if (rc == EXIT_OK && want != ENCLAVED__RESPONSE__RESULT__NOT_SET &&
        (*out)->response->result_case != want) {
        client_frame_free(*out);
        report_error(ctl, STATUS_DATA_LOSS, "the server's answer lacks its result");
        return EXIT_UNAVAILABLE;
    }
    return rc;
}

static int get_info(struct ctl *ctl, Enclaved__ServerFrame **out)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__GetInfo body = ENCLAVED__GET_INFO__INIT;

    req.body_case = ENCLAVED__REQUEST__BODY_GET_INFO;
    req.get_info = &body;
    return call_expect(ctl, &req, ENCLAVED__RESPONSE__RESULT_INFO, out);
}

static int list_processes(struct ctl *ctl, Enclaved__ServerFrame **out)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessList body = ENCLAVED__PROCESS_LIST__INIT;

    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_LIST;
    req.process_list = &body;
    return call_expect(ctl, &req, ENCLAVED__RESPONSE__RESULT_PROCESS_LIST, out);
}

static void reject_extra(int argc, char **argv, int first)
{
    if (first < argc) {
        die_usage("unexpected argument '%s'", argv[first]);
    }
}

/* }============================================================ */

/* {============================================================ info, ping, stats, reset */

static void print_limits(const Enclaved__Limits *l, int json)
{
    static const char *const names[] = {
        "max_frame", "max_connections", "max_processes", "max_channels_per_process",
        "max_memory_per_process", "default_memory_per_process", "max_instructions_per_hook",
        "max_outputs_per_hook", "max_message", "handshake_timeout_ms",
    };
    const uint64_t values[] = {
        l->max_frame, l->max_connections, l->max_processes, l->max_channels_per_process,
        l->max_memory_per_process, l->default_memory_per_process, l->max_instructions_per_hook,
        l->max_outputs_per_hook, l->max_message, l->handshake_timeout_ms,
    };

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        if (json) {
            printf("%s\"%s\":%" PRIu64, i ? "," : "", names[i], values[i]);
        } else {
            printf("  %-28s %" PRIu64 "\n", names[i], values[i]);
        }
    }
}

static int cmd_info(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__ServerFrame *f = NULL;
    Enclaved__Info *info;
    Enclaved__Limits none = ENCLAVED__LIMITS__INIT;
    int rc;

    reject_extra(argc, argv, 0);
    rc = get_info(ctl, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    info = f->response->info;
    if (ctl->json) {
        printf("{\"server_version\":");
        print_json_cstr(stdout, info->server_version);
        printf(",\"protocol_version\":%u,\"target\":", info->protocol_version);
        print_json_cstr(stdout, info->target);
        printf(",\"public_key\":\"");
        print_hex(stdout, info->public_key.data, info->public_key.len);
        printf("\",\"limits\":{");
        print_limits(info->limits ? info->limits : &none, 1);
        printf("}}\n");
    } else {
        printf("server_version     %s\n", info->server_version);
        printf("protocol_version   %u\n", info->protocol_version);
        printf("target             %s\n", info->target);
        printf("public_key         ");
        print_hex(stdout, info->public_key.data, info->public_key.len);
        printf("\nlimits\n");
        print_limits(info->limits ? info->limits : &none, 0);
    }
    client_frame_free(f);
    return EXIT_OK;
}

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmd_ping(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__Ping body = ENCLAVED__PING__INIT;
    Enclaved__ServerFrame *f = NULL;
    double start;
    int rc;

    reject_extra(argc, argv, 0);
    rc = connect_ctl(ctl);
    if (rc != EXIT_OK) {
        return rc;
    }
    req.body_case = ENCLAVED__REQUEST__BODY_PING;
    req.ping = &body;
    start = now_us();
    rc = call(ctl, &req, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    if (ctl->json) {
        printf("{\"ok\":true,\"rtt_us\":%.0f}\n", now_us() - start);
    } else {
        printf("pong from %s:%u in %.0f us\n", ctl->host, ctl->port, now_us() - start);
    }
    client_frame_free(f);
    return EXIT_OK;
}

static int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__GetStats body = ENCLAVED__GET_STATS__INIT;
    Enclaved__ServerFrame *f = NULL;
    Enclaved__Stats *st;
    int rc;

    reject_extra(argc, argv, 0);
    req.body_case = ENCLAVED__REQUEST__BODY_GET_STATS;
    req.get_stats = &body;
    rc = call_expect(ctl, &req, ENCLAVED__RESPONSE__RESULT_STATS, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    st = f->response->stats;
    const char *names[] = {"connections_open", "connections_total", "frames_in", "frames_out",
                           "bytes_in", "bytes_out", "processes", "channels_raw", "channels_nk",
                           "channels_kk", "handshakes_ok", "handshakes_failed", "lua_errors",
                           "limit_hits", "memory_rss"};
    const uint64_t values[] = {st->connections_open, st->connections_total, st->frames_in,
                               st->frames_out, st->bytes_in, st->bytes_out, st->processes,
                               st->channels_raw, st->channels_nk, st->channels_kk,
                               st->handshakes_ok, st->handshakes_failed, st->lua_errors,
                               st->limit_hits, st->memory_rss};
    printf(ctl->json ? "{" : "");
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        if (ctl->json) {
            printf("%s\"%s\":%" PRIu64, i ? "," : "", names[i], values[i]);
        } else {
            printf("%-20s %" PRIu64 "\n", names[i], values[i]);
        }
    }
    if (ctl->json) {
        printf(",\"errors\":{");
    } else if (st->n_errors > 0) {
        printf("errors\n");
    }
    for (size_t i = 0; i < st->n_errors; i++) {
        const char *name = status_name((status_t)st->errors[i]->status);
        if (ctl->json) {
            printf("%s\"%s\":%" PRIu64, i ? "," : "", name, st->errors[i]->count);
        } else {
            printf("  %-18s %" PRIu64 "\n", name, st->errors[i]->count);
        }
    }
    printf(ctl->json ? "}}\n" : "");
    client_frame_free(f);
    return EXIT_OK;
}

static int cmd_reset(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__Reset body = ENCLAVED__RESET__INIT;
    Enclaved__ServerFrame *f = NULL;
    int rc;

    reject_extra(argc, argv, 0);
    req.body_case = ENCLAVED__REQUEST__BODY_RESET;
    req.reset = &body;
    rc = call(ctl, &req, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    printf(ctl->json ? "{\"ok\":true}\n" : "reset: all processes and channels destroyed\n");
    client_frame_free(f);
    return EXIT_OK;
}

/* }============================================================ */

/* {============================================================ processes */

/* Reads a whole file into a malloc'd buffer. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL) {
        fprintf(stderr, "enclavectl: cannot open %s: %s\n", path, strerror(errno));
        return EXIT_LOCAL;
    }
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *grown = cap <= MAX_SOURCE_LEN ? realloc(buf, cap) : NULL;
            if (grown == NULL) {
                fprintf(stderr, "enclavectl: %s is too large\n", path);
                free(buf);
                fclose(f);
                return EXIT_LOCAL;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) {
            break;
        }
        n += got;
    }
    if (ferror(f)) {
        fprintf(stderr, "enclavectl: cannot read %s\n", path);
        free(buf);
        fclose(f);
        return EXIT_LOCAL;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return EXIT_OK;
}

/* The default process name: the file name without directory and ".lua". */
static void default_name(const char *path, char *name, size_t cap)
{
    const char *base = strrchr(path, '/');
    size_t len;

    base = base != NULL ? base + 1 : path;
    len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".lua") == 0) {
        len -= 4;
    }
    snprintf(name, cap, "%.*s", (int)len, base);
}

static int cmd_process_create(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessCreate body = ENCLAVED__PROCESS_CREATE__INIT;
    Enclaved__ServerFrame *f = NULL;
    const char *file = NULL;
    const char *name = NULL;
    char fallback[65];
    uint64_t memory = 0;
    uint8_t *source = NULL;
    size_t len = 0;
    int rc;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0) {
            name = option_value(argc, argv, &i);
        } else if (strcmp(argv[i], "--memory") == 0) {
            const char *v = option_value(argc, argv, &i);
            if (parse_u64(v, &memory) != 0) {
                die_usage("--memory must be a number of bytes, not '%s'", v);
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            die_usage("unknown option '%s'", argv[i]);
        } else if (file == NULL) {
            file = argv[i];
        } else {
            die_usage("unexpected argument '%s'", argv[i]);
        }
    }
    if (file == NULL) {
        die_usage("process create needs a FILE");
    }
    if (name == NULL) {
        default_name(file, fallback, sizeof(fallback));
        name = fallback;
    }
    rc = read_file(file, &source, &len);
    if (rc != EXIT_OK) {
        return rc;
    }
    body.lua_source.data = source;
    body.lua_source.len = len;
    body.name = (char *)name;
    body.memory_limit = memory;
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_CREATE;
    req.process_create = &body;
    rc = call_expect(ctl, &req, ENCLAVED__RESPONSE__RESULT_PROCESS_CREATED, &f);
    free(source);
    if (rc != EXIT_OK) {
        return rc;
    }
    Enclaved__ProcessCreated *pc = f->response->process_created;
    if (ctl->json) {
        printf("{\"process_id\":%u,\"name\":", pc->process_id);
        print_json_cstr(stdout, name);
        printf(",\"code_hash\":\"");
        print_hex(stdout, pc->code_hash.data, pc->code_hash.len);
        printf("\"}\n");
    } else {
        printf("process_id  %u\ncode_hash   ", pc->process_id);
        print_hex(stdout, pc->code_hash.data, pc->code_hash.len);
        printf("\n");
    }
    client_frame_free(f);
    return EXIT_OK;
}

static void format_time(uint64_t micros, char *buf, size_t cap)
{
    time_t secs = (time_t)(micros / 1000000u);
    struct tm tm;

    if (gmtime_r(&secs, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, cap, "?");
    }
}

static int cmd_process_list(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__ServerFrame *f = NULL;
    Enclaved__ProcessListResult *list;
    char when[32];
    int rc;

    reject_extra(argc, argv, 0);
    rc = list_processes(ctl, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    list = f->response->process_list;
    if (ctl->json) {
        printf("{\"processes\":[");
    } else {
        printf("%-6s %-20s %-64s %8s %12s  %s\n", "ID", "NAME", "CODE HASH", "CHANNELS",
               "MEMORY", "CREATED");
    }
    for (size_t i = 0; i < list->n_processes; i++) {
        Enclaved__ProcessInfo *p = list->processes[i];
        if (ctl->json) {
            printf("%s{\"process_id\":%u,\"name\":", i ? "," : "", p->process_id);
            print_json_cstr(stdout, p->name);
            printf(",\"code_hash\":\"");
            print_hex(stdout, p->code_hash.data, p->code_hash.len);
            printf("\",\"channels\":%u,\"memory_used\":%" PRIu64 ",\"created_at_micros\":%" PRIu64
                   "}",
                   p->channels, p->memory_used, p->created_at_micros);
        } else {
            format_time(p->created_at_micros, when, sizeof(when));
            printf("%-6u %-20s ", p->process_id, p->name);
            print_hex(stdout, p->code_hash.data, p->code_hash.len);
            printf(" %8u %12" PRIu64 "  %s\n", p->channels, p->memory_used, when);
        }
    }
    if (ctl->json) {
        printf("]}\n");
    }
    client_frame_free(f);
    return EXIT_OK;
}

static int cmd_process_destroy(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessDestroy body = ENCLAVED__PROCESS_DESTROY__INIT;
    Enclaved__ServerFrame *f = NULL;
    uint8_t hash[HASH_LEN];
    int rc;

    for (int i = 0; i < argc; i++) {
        if (body.target_case != ENCLAVED__PROCESS_DESTROY__TARGET__NOT_SET) {
            die_usage("give one process id or one --code-hash");
        }
        if (strcmp(argv[i], "--code-hash") == 0) {
            parse_hex_or_die("--code-hash", option_value(argc, argv, &i), hash, sizeof(hash));
            body.target_case = ENCLAVED__PROCESS_DESTROY__TARGET_CODE_HASH;
            body.code_hash.data = hash;
            body.code_hash.len = sizeof(hash);
        } else if (argv[i][0] == '-') {
            die_usage("unknown option '%s'", argv[i]);
        } else {
            body.target_case = ENCLAVED__PROCESS_DESTROY__TARGET_PROCESS_ID;
            body.process_id = parse_u32_or_die("the process id", argv[i]);
        }
    }
    if (body.target_case == ENCLAVED__PROCESS_DESTROY__TARGET__NOT_SET) {
        die_usage("process destroy needs an ID or --code-hash HEX");
    }
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_DESTROY;
    req.process_destroy = &body;
    rc = call_expect(ctl, &req, ENCLAVED__RESPONSE__RESULT_PROCESS_DESTROYED, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    if (ctl->json) {
        printf("{\"process_id\":%u}\n", f->response->process_destroyed->process_id);
    } else {
        printf("destroyed process %u\n", f->response->process_destroyed->process_id);
    }
    client_frame_free(f);
    return EXIT_OK;
}

/* }============================================================ */

/* {============================================================ keygen */

static int cmd_keygen(struct ctl *ctl, int argc, char **argv)
{
    uint8_t pub[KEYGEN_KEY_LEN];
    status_t s;

    if (argc != 1 || argv[0][0] == '-') {
        die_usage("keygen needs exactly one DIR");
    }
    s = keygen_write(argv[0], pub);
    if (s != STATUS_OK) {
        fprintf(stderr, "enclavectl: keygen %s: %s%s\n", argv[0], status_trail_message(),
                s == STATUS_ALREADY_EXISTS ? " (keygen never overwrites keys)" : "");
        return EXIT_LOCAL;
    }
    if (ctl->json) {
        printf("{\"public_key\":\"");
        print_hex(stdout, pub, sizeof(pub));
        printf("\"}\n");
    } else {
        print_hex(stdout, pub, sizeof(pub));
        printf("\n");
    }
    return EXIT_OK;
}

/* }============================================================ */

/* {============================================================ channels */

struct pipe_opts {
    int nk;
    int binary;
    uint32_t process_id;
    int by_hash;
    uint8_t code_hash[HASH_LEN];
    int have_pubkey;
    uint8_t pubkey[CLIENT_KEY_LEN];
    uint8_t accepted[CLIENT_MAX_ACCEPTED_HASHES * HASH_LEN];
    size_t accepted_count;
    int have_believed;
    uint8_t believed_hash[HASH_LEN]; /* what ProcessList says --process runs */
};

/* One open channel, raw or encrypted. */
struct pipe {
    struct ctl *ctl;
    int binary;
    uint32_t channel_id;
    struct client_secure *secure; /* NULL for raw */
    uint64_t sent, received;
    int closed; /* the server closed the channel */
};

enum { RECV_CLOSED_OK = 2 };

static void parse_channel_args(int argc, char **argv, struct pipe_opts *o)
{
    int have_target = 0;

    memset(o, 0, sizeof(*o));
    if (argc < 1 || (strcmp(argv[0], "raw") != 0 && strcmp(argv[0], "nk") != 0)) {
        die_usage("channel open needs a type: raw or nk");
    }
    o->nk = strcmp(argv[0], "nk") == 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--process") == 0) {
            o->process_id = parse_u32_or_die("--process", option_value(argc, argv, &i));
            have_target++;
        } else if (strcmp(argv[i], "--code-hash") == 0) {
            parse_hex_or_die("--code-hash", option_value(argc, argv, &i), o->code_hash,
                             HASH_LEN);
            o->by_hash = 1;
            have_target++;
        } else if (strcmp(argv[i], "--pubkey") == 0) {
            parse_hex_or_die("--pubkey", option_value(argc, argv, &i), o->pubkey,
                             CLIENT_KEY_LEN);
            o->have_pubkey = 1;
        } else if (strcmp(argv[i], "--accept") == 0) {
            if (o->accepted_count == CLIENT_MAX_ACCEPTED_HASHES) {
                die_usage("at most %d --accept hashes", CLIENT_MAX_ACCEPTED_HASHES);
            }
            parse_hex_or_die("--accept", option_value(argc, argv, &i),
                             o->accepted + o->accepted_count * HASH_LEN, HASH_LEN);
            o->accepted_count++;
        } else if (strcmp(argv[i], "--binary") == 0) {
            o->binary = 1;
        } else {
            die_usage("unexpected argument '%s'", argv[i]);
        }
    }
    if (have_target != 1) {
        die_usage("channel open needs exactly one of --process ID or --code-hash HEX");
    }
    if (!o->nk && (o->have_pubkey || o->accepted_count > 0)) {
        die_usage("--pubkey and --accept apply to nk channels only");
    }
}

/* Fills in the pinned key from GetInfo and the accepted hash from the
 * target, saying so on stderr. */
static int resolve_nk_trust(struct ctl *ctl, struct pipe_opts *o)
{
    Enclaved__ServerFrame *f = NULL;
    int rc;

    if (!o->have_pubkey) {
        rc = get_info(ctl, &f);
        if (rc != EXIT_OK) {
            return rc;
        }
        if (f->response->info->public_key.len != CLIENT_KEY_LEN) {
            client_frame_free(f);
            report_error(ctl, STATUS_DATA_LOSS, "GetInfo returned no public key");
            return EXIT_UNAVAILABLE;
        }
        memcpy(o->pubkey, f->response->info->public_key.data, CLIENT_KEY_LEN);
        client_frame_free(f);
        fprintf(stderr, "enclavectl: pinning the server key from GetInfo (trust on first use): ");
        print_hex(stderr, o->pubkey, CLIENT_KEY_LEN);
        fprintf(stderr, "\n");
    }
    if (o->by_hash) {
        if (o->accepted_count == 0) {
            memcpy(o->accepted, o->code_hash, HASH_LEN);
            o->accepted_count = 1;
        }
        return EXIT_OK;
    }
    rc = list_processes(ctl, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    Enclaved__ProcessListResult *list = f->response->process_list;
    for (size_t i = 0; i < list->n_processes; i++) {
        if (list->processes[i]->process_id == o->process_id &&
            list->processes[i]->code_hash.len == HASH_LEN) {
            memcpy(o->believed_hash, list->processes[i]->code_hash.data, HASH_LEN);
            o->have_believed = 1;
        }
    }
    client_frame_free(f);
    if (!o->have_believed) {
        report_error(ctl, STATUS_NOT_FOUND, "no such process");
        return EXIT_STATUS;
    }
    if (o->accepted_count == 0) {
        memcpy(o->accepted, o->believed_hash, HASH_LEN);
        o->accepted_count = 1;
        fprintf(stderr, "enclavectl: accepting the code hash ProcessList reports for process %u "
                        "(use --accept HEX to require one)\n", o->process_id);
    }
    return EXIT_OK;
}

static int open_pipe(struct ctl *ctl, struct pipe_opts *o, struct pipe *p)
{
    struct client_target target = {o->process_id, o->by_hash ? o->code_hash : NULL, NULL};
    char message[256] = "";
    status_t s;
    int rc = connect_ctl(ctl);

    if (rc != EXIT_OK) {
        return rc;
    }
    if (!o->nk) {
        s = client_channel_open(ctl->c, target.process_id, target.code_hash,
                                ENCLAVED__CHANNEL_TYPE__RAW, &p->channel_id, message,
                                sizeof(message));
    } else {
        rc = resolve_nk_trust(ctl, o);
        if (rc != EXIT_OK) {
            return rc;
        }
        target.believed_hash = o->have_believed ? o->believed_hash : NULL;
        s = client_nk_open(ctl->c, &target, o->pubkey, o->accepted, o->accepted_count,
                           &p->secure, message, sizeof(message));
    }
    if (s != STATUS_OK) {
        report_error(ctl, s, message[0] ? message : status_trail_message());
        if (o->nk && s == STATUS_PERMISSION_DENIED) {
            return EXIT_MISMATCH;
        }
        return s == STATUS_DEADLINE_EXCEEDED ? EXIT_TIMEOUT
               : s == STATUS_UNAVAILABLE && message[0] == '\0' ? EXIT_UNAVAILABLE
                                                              : EXIT_STATUS;
    }
    if (p->secure != NULL) {
        p->channel_id = client_secure_channel_id(p->secure);
        fprintf(stderr, "enclavectl: attested code hash ");
        print_hex(stderr, client_secure_code_hash(p->secure), HASH_LEN);
        fprintf(stderr, "\n");
    }
    fprintf(stderr, "enclavectl: channel %u open (%s)\n", p->channel_id, o->nk ? "nk" : "raw");
    return EXIT_OK;
}

static void print_reply(const struct pipe *p, const uint8_t *data, size_t len)
{
    if (p->ctl->json) {
        printf("{\"channel_id\":%u,\"len\":%zu,\"data\":", p->channel_id, len);
        print_json_string(stdout, data, len);
        printf(",\"hex\":\"");
        print_hex(stdout, data, len);
        printf("\"}\n");
    } else if (p->binary) {
        uint8_t header[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                             (uint8_t)len};
        fwrite(header, 1, sizeof(header), stdout);
        fwrite(data, 1, len, stdout);
    } else {
        fwrite(data, 1, len, stdout);
        fputc('\n', stdout);
    }
    fflush(stdout);
}

/* Receives one message within timeout_ms. Returns 1 for a message, 0 on
 * timeout, RECV_CLOSED_OK when the process closed the channel with OK, or
 * -(exit code) when the channel or connection failed. */
static int recv_one(struct pipe *p, int timeout_ms)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char reason[256] = "";
    status_t s;

    if (p->secure != NULL) {
        s = client_secure_recv(p->secure, timeout_ms, &data, &len, reason, sizeof(reason));
    } else {
        s = client_channel_recv(p->ctl->c, p->channel_id, timeout_ms, &data, &len, reason,
                                sizeof(reason));
    }
    if (s == STATUS_OK) {
        print_reply(p, data, len);
        free(data);
        p->received++;
        return 1;
    }
    if (s == STATUS_DEADLINE_EXCEEDED && reason[0] == '\0') {
        return 0;
    }
    if (reason[0] == '\0') {
        return -transport_exit(p->ctl, s, "channel failed");
    }
    char text[320];
    snprintf(text, sizeof(text), "channel %u closed by the server: %s", p->channel_id, reason);
    p->closed = 1;
    if (s == STATUS_CANCELLED) {
        fprintf(stderr, "enclavectl: %s\n", text);
        return RECV_CLOSED_OK;
    }
    report_error(p->ctl, s, text);
    return -EXIT_STATUS;
}

/* Reads the next input message: a line without its newline, or with
 * --binary a u32 big-endian length and that many bytes. 1, 0 at end, -1 on error. */
static int read_input(FILE *in, int binary, uint8_t **buf, size_t *len)
{
    if (binary) {
        uint8_t header[4];
        size_t got = fread(header, 1, sizeof(header), in);
        if (got == 0) {
            return 0;
        }
        uint32_t n = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 |
                     (uint32_t)header[2] << 8 | header[3];
        if (got != sizeof(header) || n > MAX_LINE_LEN) {
            return -1;
        }
        *buf = malloc(n ? n : 1);
        if (*buf == NULL || fread(*buf, 1, n, in) != n) {
            free(*buf);
            return -1;
        }
        *len = n;
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, in);
    if (n < 0) {
        free(line);
        return 0;
    }
    if (n > 0 && line[n - 1] == '\n') {
        n--;
    }
    *buf = (uint8_t *)line;
    *len = (size_t)n;
    return 1;
}

static int send_one(struct pipe *p, const uint8_t *data, size_t len)
{
    status_t s = p->secure != NULL ? client_secure_send(p->secure, data, len)
                                   : client_send_data(p->ctl->c, p->channel_id, data, len);

    if (s != STATUS_OK) {
        return transport_exit(p->ctl, s, "cannot send");
    }
    p->sent++;
    return EXIT_OK;
}

/* Pipes stdin into the channel. Replies are printed as they come; after each
 * message from a terminal it waits for one reply, and at the end of input it
 * waits (up to --timeout) until as many replies came back as messages went out,
 * then LINGER_MS more for stragglers. */
static int run_pipe(struct pipe *p)
{
    int interactive = isatty(STDIN_FILENO) && !p->binary;
    int r;

    for (;;) {
        uint8_t *buf = NULL;
        size_t len = 0;
        r = read_input(stdin, p->binary, &buf, &len);
        if (r < 0) {
            fprintf(stderr, "enclavectl: truncated or oversized --binary input\n");
            return EXIT_USAGE;
        }
        if (r == 0) {
            break;
        }
        int rc = send_one(p, buf, len);
        free(buf);
        if (rc != EXIT_OK) {
            return rc;
        }
        do {
            r = recv_one(p, interactive && p->received < p->sent ? p->ctl->timeout_ms : 0);
        } while (r == 1);
        if (r != 0) {
            return r < 0 ? -r : EXIT_OK;
        }
    }
    while (p->received < p->sent) {
        r = recv_one(p, p->ctl->timeout_ms);
        if (r != 1) {
            return r < 0 ? -r : EXIT_OK;
        }
    }
    do {
        r = recv_one(p, LINGER_MS);
    } while (r == 1);
    return r < 0 ? -r : EXIT_OK;
}

static int cmd_channel_open(struct ctl *ctl, int argc, char **argv)
{
    struct pipe_opts o;
    struct pipe p;
    status_t closed = STATUS_OK;
    int rc;

    parse_channel_args(argc, argv, &o);
    memset(&p, 0, sizeof(p));
    p.ctl = ctl;
    p.binary = o.binary;
    rc = open_pipe(ctl, &o, &p);
    if (rc != EXIT_OK) {
        return rc;
    }
    rc = run_pipe(&p);
    if (rc == EXIT_OK && !p.closed) {
        /* Close politely; a channel that the server already closed stays closed. */
        if (client_send_close(ctl->c, p.channel_id) == STATUS_OK) {
            client_channel_wait_closed(ctl->c, p.channel_id, ctl->timeout_ms, &closed, NULL, 0);
        }
    }
    client_secure_free(p.secure);
    return rc;
}

/* }============================================================ */

/* {============================================================ main */

static const struct command commands[] = {
    {"info", cmd_info, "", "Shows the server version, target, static public key and limits."},
    {"ping", cmd_ping, "", "Checks liveness and prints the round-trip time."},
    {"stats", cmd_stats, "", "Shows the server's counters and resident memory."},
    {"process create", cmd_process_create, "FILE [--name NAME] [--memory BYTES]",
     "Starts a Lua process from FILE. NAME defaults to the file name without .lua;\n"
     "BYTES = 0 or absent means the server's default memory limit.\n"
     "Prints the process id and the code hash (SHA-256 of FILE)."},
    {"process list", cmd_process_list, "",
     "Lists processes: id, name, code hash, open channels, memory, creation time."},
    {"process destroy", cmd_process_destroy, "ID | --code-hash HEX",
     "Destroys a process (by code hash: the oldest with that hash); its channels close."},
    {"reset", cmd_reset, "", "Destroys every process and channel; keys stay."},
    {"keygen", cmd_keygen, "DIR",
     "Writes a new noise_static.key and sealing_secret.key (32 random bytes each,\n"
     "mode 0600) into DIR, creating DIR if needed, and prints the public key in hex.\n"
     "Never overwrites: if either file exists nothing is written (exit 6).\n"
     "Needs no server."},
    {"channel open", cmd_channel_open,
     "raw|nk (--process ID | --code-hash HEX) [--pubkey HEX] [--accept HEX]... [--binary]",
     "Opens a channel and pipes stdin into it: one message per line (newline\n"
     "stripped), or with --binary u32 big-endian length-prefixed messages. Replies\n"
     "go to stdout the same way (--json: one object per reply). At end of input\n"
     "it waits up to --timeout until as many replies came as messages went.\n"
     "nk: Noise NK. --pubkey pins the server's static key; without it the key\n"
     "from GetInfo is pinned (said on stderr). The accepted code hashes are the\n"
     "--accept values, else the --code-hash target, else the hash ProcessList\n"
     "reports for --process. The attested code hash is printed on stderr.\n"
     "A wrong key or code hash exits 5."},
};

static const char exit_table[] =
    "exit codes:\n"
    "  0  success\n"
    "  1  the server answered with an error status (or closed the channel with one)\n"
    "  2  usage error\n"
    "  3  connection refused, lost, or a malformed answer\n"
    "  4  timed out\n"
    "  5  nk: server key does not match the pinned key, or code hash mismatch\n"
    "  6  local error: a file could not be read or written, or a key file exists\n";

static void usage_main(FILE *out)
{
    fprintf(out,
            "usage: enclavectl [--host HOST] [--port PORT] [--timeout MS] [--json] COMMAND ...\n"
            "\n"
            "global options (anywhere on the line):\n"
            "  --host HOST     server IPv4 address or localhost (default 127.0.0.1)\n"
            "  --port PORT     server port (default %d)\n"
            "  --timeout MS    timeout for connecting and each answer (default %d)\n"
            "  --json          print one JSON object (per reply for channels) on stdout;\n"
            "                  errors also as {\"error\":{\"status\",\"code\",\"message\"}}\n"
            "  --help          this text; COMMAND --help for a command\n"
            "\ncommands:\n",
            DEFAULT_PORT, CLIENT_DEFAULT_TIMEOUT_MS);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  %s %s\n", commands[i].name, commands[i].usage);
    }
    fprintf(out, "\n%s", exit_table);
}

static void usage_command(const struct command *cmd)
{
    printf("usage: enclavectl [global options] %s %s\n\n%s\n\n%s", cmd->name, cmd->usage,
           cmd->help, exit_table);
}

/* Takes global options out of argv wherever they are; returns the new argc. */
static int take_globals(struct ctl *ctl, int argc, char **argv)
{
    int out = 0;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0) {
            ctl->host = option_value(argc, argv, &i);
        } else if (strcmp(argv[i], "--port") == 0) {
            uint32_t port = parse_u32_or_die("--port", option_value(argc, argv, &i));
            if (port == 0 || port > 65535) {
                die_usage("--port must be 1..65535");
            }
            ctl->port = (uint16_t)port;
        } else if (strcmp(argv[i], "--timeout") == 0) {
            uint32_t ms = parse_u32_or_die("--timeout", option_value(argc, argv, &i));
            if (ms == 0 || ms > 3600000) {
                die_usage("--timeout must be 1..3600000 ms");
            }
            ctl->timeout_ms = (int)ms;
        } else if (strcmp(argv[i], "--json") == 0) {
            ctl->json = 1;
        } else {
            argv[out++] = argv[i];
        }
    }
    return out;
}

/* Finds the command named by the first one or two words of argv. */
static const struct command *find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const char *name = commands[i].name;
        const char *space = strchr(name, ' ');
        if (space == NULL && argc >= 1 && strcmp(argv[0], name) == 0) {
            *words = 1;
            return &commands[i];
        }
        if (space != NULL && argc >= 2 && strncmp(argv[0], name, (size_t)(space - name)) == 0 &&
            argv[0][space - name] == '\0' && strcmp(argv[1], space + 1) == 0) {
            *words = 2;
            return &commands[i];
        }
    }
    return NULL;
}

static int has_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ctl ctl = {"127.0.0.1", DEFAULT_PORT, CLIENT_DEFAULT_TIMEOUT_MS, 0, NULL};
    const struct command *cmd;
    int words = 0;
    int rc;

    argc = take_globals(&ctl, argc - 1, argv + 1);
    argv++;
    cmd = find_command(argc, argv, &words);
    if (cmd == NULL) {
        if (argc == 0 || (has_help(argc, argv) && argc == 1)) {
            usage_main(argc == 0 ? stderr : stdout);
            return argc == 0 ? EXIT_USAGE : EXIT_OK;
        }
        if (has_help(argc, argv)) {
            usage_main(stdout);
            return EXIT_OK;
        }
        die_usage("unknown command '%s%s%s'", argv[0], argc > 1 ? " " : "",
                  argc > 1 ? argv[1] : "");
    }
    if (has_help(argc - words, argv + words)) {
        usage_command(cmd);
        return EXIT_OK;
    }
    rc = cmd->run(&ctl, argc - words, argv + words);
    client_free(ctl.c);
    fflush(stdout);
    return rc;
}
