/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclavectl's shared parts: the state of one run (server address, output
 * mode, the connection), the exit codes, the command table's row type, the
 * option parser every command uses, and the helpers that send a request and
 * print results. The commands live in one file per group (cmd_server.c,
 * cmd_process.c, cmd_channel.c, cmd_keygen.c); main.c holds the table.
 *
 * Ownership: struct ctl lives in main; ctl->c is opened on first use by
 * ctl_connect and closed by main. Frames returned by ctl_call are the
 * caller's (client_frame_free). Single-threaded.
 */
#ifndef ENCLAVED_CTL_H
#define ENCLAVED_CTL_H

#include <stdint.h>
#include <stdio.h>

#include "base/cli.h"
#include "lib/client.h"
#include "lib/client_noise.h"

enum exit_code {
    EXIT_OK = 0,
    EXIT_STATUS = 1,      /* the server answered with an error status */
    EXIT_USAGE = CLI_EXIT_USAGE,
    EXIT_UNAVAILABLE = 3, /* connection refused or lost */
    EXIT_TIMEOUT = 4,
    EXIT_MISMATCH = 5,    /* pinned key or code hash mismatch */
    EXIT_LOCAL = 6,       /* a local file could not be read or written */
};

enum {
    CTL_DEFAULT_PORT = 7480,
    CTL_HASH_LEN = CLIENT_CODE_HASH_LEN,
    /* getopt_long values of options without a short letter start here. */
    CTL_OPT_BASE = 256,
};

struct ctl {
    const char *host;
    uint16_t port;
    int timeout_ms;
    int json;
    int verbose;                  /* -v: request ids and statuses on stderr */
    const char *known_servers;    /* --known-servers FILE, or NULL for the default */
    struct client *c;
    const struct command *cmd;    /* the command being run, for its --help */
};

struct command {
    const char *name;   /* "process create" */
    int (*run)(struct ctl *ctl, int argc, char **argv);
    const char *usage;  /* after "enclavectl NAME " */
    const char *help;
    const struct cli_option *options; /* the command's own options, or NULL */
};

/* The commands (main.c), for help and lookup. */
extern const struct command ctl_commands[];
extern const size_t ctl_command_count;

/* {====== options */

/* Called for each of the command's own options: val from its table and the
 * value (NULL for a flag). A bad value exits with ctl_die_usage. */
typedef void (*ctl_option_fn)(void *ctx, int val, const char *value);

/* Parses argv (argv[0] is the command word) with the global options and the
 * command's options, in any order; --help prints the command's usage and
 * exits 0. Returns the index of the first operand; the operands are
 * argv[index..argc-1] (getopt_long moves them to the end). Exits with a
 * usage error on a bad option. */
int ctl_parse(struct ctl *ctl, int argc, char **argv, ctl_option_fn fn, void *ctx);

/* Applies one global option (val from the global table) to ctl. */
void ctl_global_option(struct ctl *ctl, int val, const char *value);
/* The global options' table. */
extern const struct cli_option ctl_global_options[];

/* Prints the usage of one command. */
void ctl_usage_command(FILE *out, const struct command *cmd);

/* Usage error: prints and exits 2. */
void ctl_die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
uint32_t ctl_parse_u32(const char *what, const char *text);
/* Decodes exactly len bytes of hex or exits with a usage error. */
void ctl_parse_hex(const char *what, const char *text, uint8_t *out, size_t len);
/* Exits with a usage error when operands remain from index first. */
void ctl_reject_operands(int argc, char **argv, int first);

/* }====== */

/* {====== output */

void ctl_print_hex(FILE *out, const uint8_t *buf, size_t len);
/* A JSON string literal of s: UTF-8 passes, other high bytes become \u00XX. */
void ctl_print_json_string(FILE *out, const uint8_t *s, size_t len);
void ctl_print_json_cstr(FILE *out, const char *s);
/* "enclavectl: NAME (N): message" on stderr, and {"error":...} on stdout
 * with --json. */
void ctl_report_error(const struct ctl *ctl, status_t s, const char *message);
/* Reports a failure of the connection itself; returns 3 or 4. */
int ctl_transport_exit(const struct ctl *ctl, status_t s, const char *what);
/* An exit code for a channel or open failure that had status s. */
int ctl_status_exit(status_t s);

/* }====== */

/* {====== requests */

/* Connects once; returns an exit code. */
int ctl_connect(struct ctl *ctl);
/* Sends req; on EXIT_OK *out is a Response with status OK and, unless want
 * is NOT_SET, result want (caller frees). Errors are reported here. */
int ctl_call(struct ctl *ctl, Enclaved__Request *req, Enclaved__Response__ResultCase want,
             Enclaved__ServerFrame **out);
int ctl_get_info(struct ctl *ctl, Enclaved__ServerFrame **out);
int ctl_list_processes(struct ctl *ctl, Enclaved__ServerFrame **out);

/* }====== */

/* The commands, one file per group. */
int cmd_info(struct ctl *ctl, int argc, char **argv);
int cmd_ping(struct ctl *ctl, int argc, char **argv);
int cmd_stats(struct ctl *ctl, int argc, char **argv);
int cmd_reset(struct ctl *ctl, int argc, char **argv);
int cmd_process_create(struct ctl *ctl, int argc, char **argv);
int cmd_process_list(struct ctl *ctl, int argc, char **argv);
int cmd_process_destroy(struct ctl *ctl, int argc, char **argv);
int cmd_keygen(struct ctl *ctl, int argc, char **argv);
int cmd_channel_open(struct ctl *ctl, int argc, char **argv);
extern const struct cli_option cmd_stats_options[];
int cmd_peer_connect(struct ctl *ctl, int argc, char **argv);
int cmd_app_run(struct ctl *ctl, int argc, char **argv);
extern const struct cli_option cmd_app_run_options[];
int cmd_peer_list(struct ctl *ctl, int argc, char **argv);
extern const struct cli_option cmd_process_create_options[];
extern const struct cli_option cmd_process_destroy_options[];
extern const struct cli_option cmd_channel_open_options[];
extern const struct cli_option cmd_peer_connect_options[];

#endif
