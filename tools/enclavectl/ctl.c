/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * What every enclavectl command shares: option parsing over the global and
 * the command's tables, output helpers (hex, JSON strings, error lines), and
 * the request helpers that map failures to exit codes.
 */
#include "ctl.h"
#include "lib/pin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_HOST = CTL_OPT_BASE,
    OPT_PORT,
    OPT_TIMEOUT,
    OPT_JSON,
    OPT_KNOWN_SERVERS,
    OPT_VERSION,
    MAX_TIMEOUT_MS = 3600000,
};

const struct cli_option ctl_global_options[] = {
    {"host", required_argument, OPT_HOST, "HOST", "server IPv4 address or localhost (127.0.0.1)"},
    {"port", required_argument, OPT_PORT, "PORT", "server port (7480)"},
    {"timeout", required_argument, OPT_TIMEOUT, "MS", "timeout to connect and per answer (5000)"},
    {"json", no_argument, OPT_JSON, NULL, "one JSON object on stdout (per reply for channels)"},
    {"known-servers", required_argument, OPT_KNOWN_SERVERS, "FILE",
     "pinned server keys (~/.config/enclaved/known_servers)"},
    {"verbose", no_argument, 'v', NULL, "show each request's id and status on stderr"},
    {"help", no_argument, 'h', NULL, "this text"},
    {"version", no_argument, OPT_VERSION, NULL, "print the version and exit"},
    {NULL, 0, 0, NULL, NULL},
};

void ctl_die_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "enclavectl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try --help)\n");
    exit(EXIT_USAGE);
}

uint32_t ctl_parse_u32(const char *what, const char *text)
{
    uint64_t v = 0;

    if (cli_parse_u64(text, 0, UINT32_MAX, &v) != 0) {
        ctl_die_usage("%s must be a number up to %u, not '%s'", what, UINT32_MAX, text);
    }
    return (uint32_t)v;
}

void ctl_parse_hex(const char *what, const char *text, uint8_t *out, size_t len)
{
    if (pin_parse_hex(text, strlen(text), out, len) != 0) {
        ctl_die_usage("%s must be %zu hex digits", what, 2 * len);
    }
}

void ctl_reject_operands(int argc, char **argv, int first)
{
    if (first < argc) {
        ctl_die_usage("unexpected argument '%s'", argv[first]);
    }
}

void ctl_global_option(struct ctl *ctl, int val, const char *value)
{
    uint64_t v = 0;
    struct in_addr addr;

    switch (val) {
    case OPT_HOST:
        /* The client library connects to dotted IPv4 or localhost only; a
         * host it cannot use is a usage error, not a connection failure. */
        if (strcmp(value, "localhost") != 0 && inet_pton(AF_INET, value, &addr) != 1) {
            ctl_die_usage("--host must be a dotted IPv4 address or localhost, not '%s'", value);
        }
        ctl->host = value;
        break;
    case OPT_PORT:
        if (cli_parse_u64(value, 0, 65535, &v) != 0 || v == 0) {
            ctl_die_usage("--port must be 1..65535, not '%s'", value);
        }
        ctl->port = (uint16_t)v;
        break;
    case OPT_TIMEOUT:
        if (cli_parse_u64(value, 0, MAX_TIMEOUT_MS, &v) != 0 || v == 0) {
            ctl_die_usage("--timeout must be 1..%d ms, not '%s'", MAX_TIMEOUT_MS, value);
        }
        ctl->timeout_ms = (int)v;
        break;
    case OPT_JSON:
        ctl->json = 1;
        break;
    case OPT_KNOWN_SERVERS:
        ctl->known_servers = value;
        break;
    case 'v':
        ctl->verbose = 1;
        break;
    case OPT_VERSION:
        printf("enclavectl %s\n", ENCLAVED_VERSION);
        exit(EXIT_OK);
    default:
        abort();
    }
}

int ctl_parse(struct ctl *ctl, int argc, char **argv, ctl_option_fn fn, void *ctx)
{
    const struct cli_option *tables[] = {ctl_global_options,
                                         ctl->cmd != NULL ? ctl->cmd->options : NULL, NULL};
    struct option longopts[CLI_MAX_OPTIONS];
    char shortopts[64];
    int c;

    cli_build(tables, longopts, CLI_MAX_OPTIONS, shortopts, sizeof(shortopts));
    optind = 0;
    while ((c = cli_next("enclavectl", argc, argv, shortopts, longopts)) != -1) {
        if (c == CLI_EXIT_USAGE) {
            exit(EXIT_USAGE);
        }
        if (c == 'h') {
            ctl_usage_command(stdout, ctl->cmd);
            exit(EXIT_OK);
        }
        int global = 0;
        for (const struct cli_option *o = ctl_global_options; o->name != NULL; o++) {
            global |= o->val == c;
        }
        if (global) {
            ctl_global_option(ctl, c, optarg);
        } else if (fn != NULL) {
            fn(ctx, c, optarg);
        } else {
            abort();
        }
    }
    return optind;
}

/* {============================================================ output */

void ctl_print_hex(FILE *out, const uint8_t *buf, size_t len)
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

/* Well-formed UTF-8 passes through; otherwise every byte >= 0x80 becomes
 * \u00XX (read as Latin-1), so the output stays valid JSON and the "hex"
 * field carries the exact bytes. */
void ctl_print_json_string(FILE *out, const uint8_t *s, size_t len)
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

void ctl_print_json_cstr(FILE *out, const char *s)
{
    ctl_print_json_string(out, (const uint8_t *)s, strlen(s));
}

void ctl_report_error(const struct ctl *ctl, status_t s, const char *message)
{
    fprintf(stderr, "enclavectl: %s (%d): %s\n", status_name(s), (int)s, message);
    if (ctl->json) {
        printf("{\"error\":{\"status\":\"%s\",\"code\":%d,\"message\":", status_name(s), (int)s);
        ctl_print_json_cstr(stdout, message);
        printf("}}\n");
    }
}

int ctl_transport_exit(const struct ctl *ctl, status_t s, const char *what)
{
    char text[256];

    snprintf(text, sizeof(text), "%s: %s", what, status_trail_message());
    ctl_report_error(ctl, s, text);
    return s == STATUS_DEADLINE_EXCEEDED ? EXIT_TIMEOUT : EXIT_UNAVAILABLE;
}

int ctl_status_exit(status_t s)
{
    return s == STATUS_DEADLINE_EXCEEDED ? EXIT_TIMEOUT : EXIT_STATUS;
}

/* }============================================================ */

/* {============================================================ requests */

int ctl_connect(struct ctl *ctl)
{
    status_t s;

    if (ctl->c != NULL) {
        return EXIT_OK;
    }
    s = client_connect(ctl->host, ctl->port, ctl->timeout_ms, &ctl->c);
    if (s != STATUS_OK) {
        char what[128];
        snprintf(what, sizeof(what), "cannot connect to %s:%u", ctl->host, ctl->port);
        return ctl_transport_exit(ctl, s, what);
    }
    return EXIT_OK;
}

static const char *request_name(const Enclaved__Request *req)
{
    const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field(
        &enclaved__request__descriptor, (unsigned)req->body_case);

    return field != NULL ? field->name : "request";
}

int ctl_call(struct ctl *ctl, Enclaved__Request *req, Enclaved__Response__ResultCase want,
             Enclaved__ServerFrame **out)
{
    Enclaved__ServerFrame *f = NULL;
    status_t s;
    int rc = ctl_connect(ctl);

    if (rc != EXIT_OK) {
        return rc;
    }
    s = client_call(ctl->c, req, &f);
    if (s != STATUS_OK) {
        return ctl_transport_exit(ctl, s, "request failed");
    }
    s = (status_t)f->response->status;
    if (ctl->verbose) {
        fprintf(stderr, "enclavectl: request %" PRIu64 " %s: %s (%d)\n", req->id,
                request_name(req), status_name(s), (int)s);
    }
    if (s != STATUS_OK) {
        ctl_report_error(ctl, s,
                         f->response->message[0] ? f->response->message : status_message(s));
        client_frame_free(f);
        return EXIT_STATUS;
    }
    if (want != ENCLAVED__RESPONSE__RESULT__NOT_SET && f->response->result_case != want) {
        client_frame_free(f);
        ctl_report_error(ctl, STATUS_DATA_LOSS, "the server's answer lacks its result");
        return EXIT_UNAVAILABLE;
    }
    *out = f;
    return EXIT_OK;
}

int ctl_get_info(struct ctl *ctl, Enclaved__ServerFrame **out)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__GetInfo body = ENCLAVED__GET_INFO__INIT;

    req.body_case = ENCLAVED__REQUEST__BODY_GET_INFO;
    req.get_info = &body;
    return ctl_call(ctl, &req, ENCLAVED__RESPONSE__RESULT_INFO, out);
}

int ctl_list_processes(struct ctl *ctl, Enclaved__ServerFrame **out)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessList body = ENCLAVED__PROCESS_LIST__INIT;

    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_LIST;
    req.process_list = &body;
    return ctl_call(ctl, &req, ENCLAVED__RESPONSE__RESULT_PROCESS_LIST, out);
}

/* }============================================================ */
