/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclave-bench: a load generator for a running enclaved (DESIGN §10). It
 * creates its own echo process, runs the workloads of the performance budget
 * and prints one row per workload next to its target: throughput, latency
 * percentiles, errors, server memory (GetStats.memory_rss, plus
 * ProcessList.memory_used for processes) and, with --server-pid, the
 * server's CPU per operation split into its loop thread and the others. It
 * judges nothing: the targets are printed for the reader.
 *
 * This file holds the command table, the options and the output; the
 * workloads are in bench_echo.c, bench_nk.c and bench_memory.c (bench.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/cli.h"
#include "bench/bench.h"

struct opts opt = {"127.0.0.1", DEFAULT_PORT, "all", 2.0, 0, 8, 1000, 1000, 10000, 0, 0, 0, NULL};
uint32_t echo_pid;
uint8_t echo_hash[CLIENT_CODE_HASH_LEN];
uint8_t server_key[CLIENT_KEY_LEN];
uint64_t server_max_processes;

static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The command table. Memory rows first, smallest footprint first: an RSS
 * delta counts only what the server had to take from the OS, so memory an
 * earlier row freed (and the allocator kept) hides later growth. */
static const struct scenario scenarios[] = {
    {"idle-raw", run_idle_channels, 0, 0, 0, "<= 128 B/channel",
     "N idle raw channels (RSS delta / N)"},
    {"idle-nk", run_idle_channels, 0, 0, 1, "(no target)", "N idle NK channels (RSS delta / N)"},
    {"connections", run_connections, 0, 0, 0, ">= 10,000, bounded",
     "N connections, one ping each"},
    {"idle-process", run_idle_processes, 0, 0, 0, "<= 32 KiB/process",
     "N idle processes (RSS delta / N)"},
    {"ping", run_ping, 0, 0, 0, "(no target)", "Ping round trips, one at a time"},
    {"echo64", run_echo, SMALL_MSG, 1, 0, ">= 36k msg/s, p99 <= 100 us",
     "raw 64 B echo, one at a time"},
    {"echo64x8", run_echo, SMALL_MSG, PIPELINE_DEPTH, 0, ">= 180k msg/s",
     "raw 64 B echo, 8 in flight"},
    {"echo16k", run_echo, LARGE_MSG, 1, 0, ">= 22k msg/s", "raw 16 KiB echo, one at a time"},
    {"nk", run_nk, 0, 0, 0, ">= 5.4k/s, server CPU <= 130 us",
     "NK open+handshake+echo+close, C workers"},
    {"process", run_process_churn, 0, 0, 0, ">= 6k/s", "process create + destroy"},
    /* Fleet rows need HAProxy and members running pinvault; "all" skips them. */
    {"fleet", run_fleet, 0, 0, 0, "(no target)", "pinvault recovers (majority rounds)"},
    {"fleet-nk", run_fleet_nk, 0, 0, 0, "(no target)", "NK open+handshake+close to pinvault"},
};
enum { SCENARIO_COUNT = sizeof(scenarios) / sizeof(scenarios[0]) };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: enclave-bench [--host HOST] [--port PORT] [--scenario NAME|all]\n"
            "                     [--duration SECONDS | --count N] [--concurrency C]\n"
            "                     [--idle N] [--connections N] [--timeout MS]\n"
            "                     [--server-pid PID] [--reuse-ephemerals] [--json]\n"
            "                     [--members HOST:PORT,...]\n"
            "\n"
            "(--opt=VALUE or --opt VALUE; long options may be abbreviated; --version)\n"
            "Runs workloads against a running enclaved and prints one row each next to\n"
            "its DESIGN §10 target. It creates its own echo process and destroys it after.\n"
            "\n"
            "  --duration S     seconds per timed scenario (default 2)\n"
            "  --count N        operations per timed scenario instead of a duration\n"
            "  --concurrency C  worker processes for nk (default 8)\n"
            "  --idle N         channels / processes held for the idle rows (default 1000;\n"
            "                   processes are capped by the server's max_processes)\n"
            "  --connections N  connections for the connections row (default 1000)\n"
            "  --server-pid PID a local server's pid: adds its CPU time per operation\n"
            "                   (from /proc, 10 ms ticks) to the timed rows, split into\n"
            "                   the loop thread and the others (the key pool)\n"
            "  --reuse-ephemerals  BENCHMARKING ONLY: the nk workers reuse 256 client\n"
            "                   ephemeral keys computed before the run (2 X25519 per\n"
            "                   lifecycle instead of 3), so a client on the same cores\n"
            "                   can offer the server more handshakes; no forward secrecy\n"
            "  --members LIST   fleet rows: every member's address, to count the KK\n"
            "                   messages per operation from their peer link counters\n"
            "\n"
            "The fleet rows (fleet, fleet-nk) run only when named: point --port at\n"
            "HAProxy in front of a fleet from scripts/mkfleet, or at one member.\n"
            "\n"
            "Memory rows use the server's RSS delta, which only counts memory taken from\n"
            "the OS: run them first (as 'all' does) or one per fresh server.\n"
            "\nscenarios:\n");
    for (size_t i = 0; i < SCENARIO_COUNT; i++) {
        fprintf(out, "  %-13s %-42s target %s\n", scenarios[i].name, scenarios[i].what,
                scenarios[i].target);
    }
    fprintf(out, "\nexit codes: 0 done (errors are counted, not fatal), 1 setup failed, 2 usage\n");
}

static void usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "enclave-bench: %s '%s' (try --help)\n", what, arg);
    exit(2);
}

static uint64_t number_arg(const char *arg)
{
    char *end = NULL;
    unsigned long long v;

    errno = 0;
    v = strtoull(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || errno != 0 || *end != '\0') {
        usage_error("not a number:", arg);
    }
    return v;
}

enum {
    OPT_HOST = 256, OPT_PORT, OPT_SCENARIO, OPT_DURATION, OPT_COUNT, OPT_CONCURRENCY, OPT_IDLE,
    OPT_CONNECTIONS, OPT_SERVER_PID, OPT_TIMEOUT, OPT_JSON, OPT_VERSION, OPT_REUSE_EPHEMERALS,
    OPT_MEMBERS,
};

/* getopt_long's table (base/cli); usage() above holds the help text. */
static const struct cli_option bench_options[] = {
    {"host", required_argument, OPT_HOST, "HOST", ""},
    {"port", required_argument, OPT_PORT, "PORT", ""},
    {"scenario", required_argument, OPT_SCENARIO, "NAME", ""},
    {"duration", required_argument, OPT_DURATION, "S", ""},
    {"count", required_argument, OPT_COUNT, "N", ""},
    {"concurrency", required_argument, OPT_CONCURRENCY, "C", ""},
    {"idle", required_argument, OPT_IDLE, "N", ""},
    {"connections", required_argument, OPT_CONNECTIONS, "N", ""},
    {"server-pid", required_argument, OPT_SERVER_PID, "PID", ""},
    {"timeout", required_argument, OPT_TIMEOUT, "MS", ""},
    {"json", no_argument, OPT_JSON, NULL, ""},
    {"reuse-ephemerals", no_argument, OPT_REUSE_EPHEMERALS, NULL, ""},
    {"members", required_argument, OPT_MEMBERS, "LIST", ""},
    {"help", no_argument, 'h', NULL, ""},
    {"version", no_argument, OPT_VERSION, NULL, ""},
    {NULL, 0, 0, NULL, NULL},
};

static void parse_args(int argc, char **argv)
{
    const struct cli_option *tables[] = {bench_options, NULL};
    struct option longopts[CLI_MAX_OPTIONS];
    char shortopts[16];
    int c;

    cli_build(tables, longopts, CLI_MAX_OPTIONS, shortopts, sizeof(shortopts));
    optind = 0;
    while ((c = cli_next("enclave-bench", argc, argv, shortopts, longopts)) != -1) {
        const char *v = optarg;
        switch (c) {
        case 'h':
            usage(stdout);
            exit(0);
        case OPT_VERSION:
            printf("enclave-bench %s\n", ENCLAVED_VERSION);
            exit(0);
        case OPT_JSON:
            opt.json = 1;
            break;
        case OPT_REUSE_EPHEMERALS:
            opt.reuse_ephemerals = 1;
            break;
        case OPT_HOST:
            opt.host = v;
            break;
        case OPT_PORT: {
            uint64_t port = number_arg(v);
            if (port == 0 || port > 65535) {
                usage_error("bad port", v);
            }
            opt.port = (uint16_t)port;
            break;
        }
        case OPT_SCENARIO:
            opt.scenario = v;
            break;
        case OPT_DURATION: {
            char *end = NULL;
            opt.duration_s = strtod(v, &end);
            if (*end != '\0' || !(opt.duration_s > 0)) {
                usage_error("bad duration", v);
            }
            break;
        }
        case OPT_COUNT:
            opt.count = number_arg(v);
            break;
        case OPT_CONCURRENCY: {
            uint64_t n = number_arg(v);
            if (n < 1 || n > MAX_WORKERS) {
                usage_error("concurrency must be 1..256, not", v);
            }
            opt.concurrency = (int)n;
            break;
        }
        case OPT_IDLE:
            opt.idle = number_arg(v);
            break;
        case OPT_CONNECTIONS:
            opt.connections = number_arg(v);
            break;
        case OPT_SERVER_PID:
            opt.server_pid = (long)number_arg(v);
            break;
        case OPT_TIMEOUT:
            opt.timeout_ms = (int)number_arg(v);
            break;
        case OPT_MEMBERS:
            opt.members = v;
            break;
        default:
            exit(CLI_EXIT_USAGE);
        }
    }
    if (optind < argc) {
        usage_error("unexpected argument", argv[optind]);
    }
    if (strcmp(opt.scenario, "all") == 0) {
        return;
    }
    for (size_t i = 0; i < SCENARIO_COUNT; i++) {
        if (strcmp(opt.scenario, scenarios[i].name) == 0) {
            return;
        }
    }
    usage_error("unknown scenario", opt.scenario);
}

/* Creates the echo process and learns the server key and process limit. */
static uint64_t setup(void)
{
    struct client *c = connect_or_die();
    Enclaved__ServerFrame *f = NULL;
    char message[256] = "";
    uint64_t max_processes;
    status_t s;

    s = client_get_info(c, &f);
    if (s != STATUS_OK || f->response->info->public_key.len != CLIENT_KEY_LEN) {
        die("GetInfo", s);
    }
    memcpy(server_key, f->response->info->public_key.data, CLIENT_KEY_LEN);
    max_processes = f->response->info->limits ? f->response->info->limits->max_processes : 0;
    client_frame_free(f);
    s = client_process_create(c, "bench-echo", (const uint8_t *)ECHO_APP, ECHO_APP_LEN, 0,
                              &echo_pid, echo_hash, message, sizeof(message));
    if (s != STATUS_OK) {
        fprintf(stderr, "enclave-bench: cannot create the echo process: %s: %s\n",
                status_name(s), message);
        exit(EXIT_FAILURE);
    }
    client_free(c);
    return max_processes;
}

/* Fleet rows: only the pinned key (GetInfo); no echo process. */
static uint64_t pin_key_only(void)
{
    struct client *c = connect_or_die();
    Enclaved__ServerFrame *f = NULL;
    status_t s = client_get_info(c, &f);

    if (s != STATUS_OK || f->response->info->public_key.len != CLIENT_KEY_LEN) {
        die("GetInfo", s);
    }
    memcpy(server_key, f->response->info->public_key.data, CLIENT_KEY_LEN);
    client_frame_free(f);
    client_free(c);
    return 0;
}

static void format_rate(const struct row *r, char *buf, size_t cap)
{
    if (r->has_per_item) {
        snprintf(buf, cap, "%.0f B each", r->per_item_rss);
    } else {
        snprintf(buf, cap, "%.0f/s", r->seconds > 0 ? (double)r->ops / r->seconds : 0.0);
    }
}

static void print_table(const struct row *rows, size_t n)
{
    char rate[48];

    printf("%-13s %9s %14s %9s %9s %9s %9s %6s %10s  %s\n", "scenario", "ops", "result", "p50 us",
           "p90 us", "p99 us", "max us", "errors", "rss MiB", "target (DESIGN §10)");
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        format_rate(r, rate, sizeof(rate));
        printf("%-13s %9" PRIu64 " %14s ", r->name, r->ops, rate);
        if (r->has_latency) {
            printf("%9.0f %9.0f %9.0f %9.0f ", r->p50_us, r->p90_us, r->p99_us, r->max_us);
        } else {
            printf("%9s %9s %9s %9s ", "-", "-", "-", "-");
        }
        printf("%6" PRIu64 " %10.1f  %s", r->errors, (double)r->rss / (1024.0 * 1024.0),
               r->target);
        if (r->per_item_used > 0) {
            printf(" (Lua memory_used %.0f B each)", r->per_item_used);
        }
        if (r->kk_per_op > 0) {
            printf(" [%.2f KK messages/op]", r->kk_per_op);
        }
        if (r->server_cpu_us >= 0) {
            printf(" [server CPU %.1f us/op: loop %.1f, other threads %.1f]", r->server_cpu_us,
                   r->server_loop_cpu_us, r->server_other_cpu_us);
        }
        printf("\n");
    }
}

static void print_json(const struct row *rows, size_t n)
{
    printf("{\"host\":\"%s\",\"port\":%u,\"results\":[", opt.host, opt.port);
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        printf("%s{\"scenario\":\"%s\",\"ops\":%" PRIu64 ",\"seconds\":%.3f,\"ops_per_s\":%.1f,"
               "\"errors\":%" PRIu64 ",\"rss\":%" PRIu64 ",\"target\":\"%s\"",
               i ? "," : "", r->name, r->ops, r->seconds,
               r->seconds > 0 ? (double)r->ops / r->seconds : 0.0, r->errors, r->rss, r->target);
        if (r->has_latency) {
            printf(",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f", r->p50_us,
                   r->p90_us, r->p99_us, r->max_us);
        }
        if (r->has_per_item) {
            printf(",\"bytes_each_rss\":%.1f", r->per_item_rss);
        }
        if (r->per_item_used > 0) {
            printf(",\"bytes_each_memory_used\":%.1f", r->per_item_used);
        }
        if (r->kk_per_op > 0) {
            printf(",\"kk_messages_per_op\":%.2f", r->kk_per_op);
        }
        if (r->server_cpu_us >= 0) {
            printf(",\"server_cpu_us_per_op\":%.2f,\"server_loop_cpu_us_per_op\":%.2f,"
                   "\"server_other_cpu_us_per_op\":%.2f",
                   r->server_cpu_us, r->server_loop_cpu_us, r->server_other_cpu_us);
        }
        printf("}");
    }
    printf("]}\n");
}

int main(int argc, char **argv)
{
    struct row rows[SCENARIO_COUNT];
    size_t n = 0;
    int fleet_only;

    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    fleet_only = strncmp(opt.scenario, "fleet", 5) == 0;
    /* Behind HAProxy an echo process would live on one member only. */
    server_max_processes = fleet_only ? pin_key_only() : setup();
    memset(rows, 0, sizeof(rows));
    for (size_t i = 0; i < SCENARIO_COUNT; i++) {
        int is_fleet = strncmp(scenarios[i].name, "fleet", 5) == 0;

        if (strcmp(opt.scenario, scenarios[i].name) != 0 &&
            (strcmp(opt.scenario, "all") != 0 || is_fleet)) {
            continue;
        }
        struct row *r = &rows[n++];
        struct server_cpu cpu0, cpu1;
        int have_cpu = server_cpu_sample(&cpu0) == 0;
        snprintf(r->name, sizeof(r->name), "%s", scenarios[i].name);
        r->target = scenarios[i].target;
        scenarios[i].run(r, &scenarios[i]);
        have_cpu = have_cpu && server_cpu_sample(&cpu1) == 0 && r->ops > 0 && !r->has_per_item;
        r->server_cpu_us = r->server_loop_cpu_us = r->server_other_cpu_us = -1;
        if (have_cpu) {
            r->server_loop_cpu_us = (cpu1.loop_us - cpu0.loop_us) / (double)r->ops;
            r->server_other_cpu_us = (cpu1.other_us - cpu0.other_us) / (double)r->ops;
            r->server_cpu_us = r->server_loop_cpu_us + r->server_other_cpu_us;
        }
        if (r->rss == 0) {
            struct client *c = connect_or_die();
            r->rss = server_rss(c);
            client_free(c);
        }
    }
    if (!fleet_only) {
        struct client *c = connect_or_die();
        destroy_process(c, echo_pid);
        client_free(c);
    }
    if (opt.json) {
        print_json(rows, n);
    } else {
        print_table(rows, n);
    }
    return 0;
}
