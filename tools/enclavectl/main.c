/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclavectl: the command-line client of enclaved (DESIGN §1, §4). One binary
 * with subcommands; each speaks the wire protocol through the client library,
 * prints a human-readable table by default and one JSON object with --json,
 * and exits with a code from exit_table (scripts rely on them). This file
 * holds the command table, the help texts and the dispatch; the commands are
 * in cmd_*.c, one file per group.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

const struct command ctl_commands[] = {
    {"info", cmd_info, "",
     "Shows the server version, target, static public key, its fingerprint and limits.", NULL},
    {"ping", cmd_ping, "", "Checks liveness and prints the round-trip time.", NULL},
    {"stats", cmd_stats, "[--watch [--interval MS] [--count N]] [--prometheus]",
     "Shows the server's counters, start time and uptime, resident memory, and per\n"
     "process the messages, hook errors and limit hits. --watch repeats every\n"
     "--interval (one JSON object per line with --json). --prometheus prints the\n"
     "Prometheus text exposition format, for a node exporter's textfile collector:\n"
     "  enclavectl stats --prometheus > /var/lib/node_exporter/enclaved.prom.$$ &&\n"
     "  mv /var/lib/node_exporter/enclaved.prom.$$ /var/lib/node_exporter/enclaved.prom",
     cmd_stats_options},
    {"process create", cmd_process_create, "FILE [--name NAME] [--memory BYTES]",
     "Starts a Lua process from FILE. NAME defaults to the file name without .lua;\n"
     "BYTES (k, M, G suffixes as in enclaved.conf) = 0 or absent means the server's\n"
     "default memory limit. Prints the process id and the code hash (SHA-256 of FILE).",
     cmd_process_create_options},
    {"process list", cmd_process_list, "",
     "Lists processes: id, name, code hash, open channels, memory, creation time.", NULL},
    {"process destroy", cmd_process_destroy, "ID | --code-hash HEX",
     "Destroys a process (by code hash: the oldest with that hash); its channels close.",
     cmd_process_destroy_options},
    {"reset", cmd_reset, "", "Destroys every process and channel; keys stay.", NULL},
    {"keygen", cmd_keygen, "DIR",
     "Writes a new noise_static.key and sealing_secret.key (32 random bytes each,\n"
     "mode 0600) into DIR, creating DIR if needed, and prints the public key in hex\n"
     "on stdout (its fingerprint on stderr). Never overwrites: if either file\n"
     "exists nothing is written (exit 6). Needs no server.",
     NULL},
    {"channel open", cmd_channel_open,
     "raw|nk (--process ID | --code-hash HEX) [--pubkey HEX | --pubkey-file FILE]\n"
     "        [--accept HEX]... [--binary]",
     "Opens a channel and pipes stdin into it: one message per line (newline\n"
     "stripped), or with --binary u32 big-endian length-prefixed messages. What\n"
     "arrives goes to stdout the same way (--json: one object per message) as soon\n"
     "as it arrives; sending never waits for an answer. At the end of input from a\n"
     "file or pipe it waits up to --timeout until as many messages came back as\n"
     "went out.\n"
     "nk: Noise NK. The server's static key is pinned from --pubkey, --pubkey-file,\n"
     "or the known-servers file (HOST:PORT HEX lines); a server missing there is\n"
     "trusted on first use (its GetInfo key, said on stderr) and remembered after\n"
     "the handshake. A pinned key the server contradicts is refused (exit 5).\n"
     "The accepted code hashes are the --accept values, else the --code-hash\n"
     "target, else the hash ProcessList reports for --process. The attested code\n"
     "hash is printed on stderr. A wrong key or code hash exits 5.",
     cmd_channel_open_options},
    {"peer connect", cmd_peer_connect, "HOST:PORT --code-hash HEX",
     "Adds a server-owned peer link (DESIGN §7): the server dials HOST:PORT, opens a\n"
     "KK channel there to the oldest process with the code hash, and runs the KK\n"
     "initiator for its own. Prints the link id at once; the link comes up (and\n"
     "back after failures) on its own. Exit 1 with NOT_FOUND when no local process\n"
     "has the hash.",
     cmd_peer_connect_options},
    {"peer list", cmd_peer_list, "",
     "Lists the peer links: id, address, code hash, state (backoff, connecting,\n"
     "opening, handshake, up), local channel, messages and bytes each way, the time\n"
     "of the last state change and the last error.",
     NULL},
    {"app run", cmd_app_run,
     "FILE [--events FILE] [--name NAME] [--memory BYTES] [--enclaved PATH]\n"
     "        [-- ENCLAVED-SETTINGS...]",
     "Runs the Lua app FILE offline, with no server and no network: the enclaved\n"
     "binary's core, sandbox and limits (--run-app), fed one channel event per line\n"
     "from --events FILE or stdin:\n"
     "  open CID raw|nk|kk    a channel (nk, kk: the real Noise handshake)\n"
     "  msg CID TEXT          a message: TEXT verbatim, or hex:HEX\n"
     "  close CID             the client closes the channel\n"
     "  restart               destroy the process and create it again (same code hash)\n"
     "  # ...                 a comment (blank lines are skipped too)\n"
     "It prints each output as 'CID <- TEXT' (hex:HEX unless printable ASCII) and\n"
     "each close as 'CID closed STATUS (N): REASON' (a hook error's reason is the\n"
     "Lua message). Operands after FILE go to enclaved, e.g. -- --max-hook-ms=50.\n"
     "Exit 0 when every event ran, 1 when the app failed to load, 2 for a usage\n"
     "error or a bad event line (its line number on stderr), 6 without enclaved.",
     cmd_app_run_options},
};
const size_t ctl_command_count = sizeof(ctl_commands) / sizeof(ctl_commands[0]);

static const char exit_table[] =
    "exit codes (error lines and --json errors also carry the status name and number):\n"
    "  0  success\n"
    "  1  the server answered with an error status (or closed the channel with one)\n"
    "  2  usage error\n"
    "  3  connection refused, lost, or a malformed answer\n"
    "  4  timed out\n"
    "  5  nk: server key does not match the pinned key, or code hash mismatch\n"
    "  6  local error: a file could not be read or written, or a key file exists\n";

static void usage_main(FILE *out)
{
    fprintf(out, "usage: enclavectl [global options] COMMAND [options] [ARG]...\n"
                 "       enclavectl help [COMMAND]\n"
                 "\nglobal options (anywhere on the line; --opt=VALUE or --opt VALUE;\n"
                 "long options may be abbreviated while unambiguous; -- ends options):\n");
    cli_print_options(out, ctl_global_options);
    fprintf(out, "\ncommands:\n");
    for (size_t i = 0; i < ctl_command_count; i++) {
        fprintf(out, "  %s%s%s\n", ctl_commands[i].name, ctl_commands[i].usage[0] ? " " : "",
                ctl_commands[i].usage);
    }
    fprintf(out, "\n%s", exit_table);
}

void ctl_usage_command(FILE *out, const struct command *cmd)
{
    if (cmd == NULL) {
        usage_main(out);
        return;
    }
    fprintf(out, "usage: enclavectl [global options] %s%s%s\n\n%s\n", cmd->name,
            cmd->usage[0] ? " " : "", cmd->usage, cmd->help);
    if (cmd->options != NULL) {
        fprintf(out, "\noptions:\n");
        cli_print_options(out, cmd->options);
    }
    fprintf(out, "\nglobal options:\n");
    cli_print_options(out, ctl_global_options);
    fprintf(out, "\n%s", exit_table);
}

/* The commands of a group ("process"): their usage lines. 0 if none. */
static int usage_group(FILE *out, const char *group)
{
    size_t len = strlen(group);
    int found = 0;

    for (size_t i = 0; i < ctl_command_count; i++) {
        const char *name = ctl_commands[i].name;
        if (strncmp(name, group, len) == 0 && name[len] == ' ') {
            if (!found) {
                fprintf(out, "usage:\n");
            }
            fprintf(out, "  enclavectl [global options] %s%s%s\n", name,
                    ctl_commands[i].usage[0] ? " " : "", ctl_commands[i].usage);
            found = 1;
        }
    }
    if (found) {
        fprintf(out, "\nenclavectl %s COMMAND --help describes one.\n", group);
    }
    return found;
}

/* Finds the command named by the first one or two words of argv. */
static const struct command *find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; i < ctl_command_count; i++) {
        const char *name = ctl_commands[i].name;
        const char *space = strchr(name, ' ');
        if (space == NULL && argc >= 1 && strcmp(argv[0], name) == 0) {
            *words = 1;
            return &ctl_commands[i];
        }
        if (space != NULL && argc >= 2 && strncmp(argv[0], name, (size_t)(space - name)) == 0 &&
            argv[0][space - name] == '\0' && strcmp(argv[1], space + 1) == 0) {
            *words = 2;
            return &ctl_commands[i];
        }
    }
    return NULL;
}

/* enclavectl help [COMMAND...]: the same text as COMMAND --help. */
static int run_help(int argc, char **argv)
{
    const struct command *cmd;
    int words = 0;

    if (argc == 0) {
        usage_main(stdout);
        return EXIT_OK;
    }
    cmd = find_command(argc, argv, &words);
    if (cmd != NULL && words == argc) {
        ctl_usage_command(stdout, cmd);
        return EXIT_OK;
    }
    if (argc == 1 && usage_group(stdout, argv[0])) {
        return EXIT_OK;
    }
    ctl_die_usage("no command '%s%s%s'", argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
}

/* Parses the global options before the command ("+": stop at the first
 * operand); the command parses the rest, globals included. */
static int parse_leading_globals(struct ctl *ctl, int argc, char **argv)
{
    const struct cli_option *tables[] = {ctl_global_options, NULL};
    struct option longopts[CLI_MAX_OPTIONS];
    char shortopts[64];
    int c;

    shortopts[0] = '+';
    cli_build(tables, longopts, CLI_MAX_OPTIONS, shortopts + 1, sizeof(shortopts) - 1);
    optind = 0;
    while ((c = cli_next("enclavectl", argc, argv, shortopts, longopts)) != -1) {
        if (c == CLI_EXIT_USAGE) {
            exit(EXIT_USAGE);
        }
        if (c == 'h') {
            usage_main(stdout);
            exit(EXIT_OK);
        }
        ctl_global_option(ctl, c, optarg);
    }
    return optind;
}

int main(int argc, char **argv)
{
    struct ctl ctl = {"127.0.0.1", CTL_DEFAULT_PORT, CLIENT_DEFAULT_TIMEOUT_MS, 0, 0, NULL,
                      NULL, NULL};
    int words = 0;
    int first;
    int rc;

    first = parse_leading_globals(&ctl, argc, argv);
    argc -= first;
    argv += first;
    if (argc == 0) {
        usage_main(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[0], "help") == 0) {
        return run_help(argc - 1, argv + 1);
    }
    ctl.cmd = find_command(argc, argv, &words);
    if (ctl.cmd == NULL) {
        /* "process", "process --help", "process bogus": the group's commands. */
        int help = argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        if (usage_group(help ? stdout : stderr, argv[0])) {
            if (!help && argc >= 2) {
                fprintf(stderr, "enclavectl: no command '%s %s'\n", argv[0], argv[1]);
            }
            return help ? EXIT_OK : EXIT_USAGE;
        }
        ctl_die_usage("unknown command '%s'", argv[0]);
    }
    /* The command's argv starts at its last word, as getopt_long expects. */
    rc = ctl.cmd->run(&ctl, argc - words + 1, argv + words - 1);
    client_free(ctl.c);
    fflush(stdout);
    return rc;
}
