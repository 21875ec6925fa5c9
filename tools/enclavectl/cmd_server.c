/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* enclavectl info, ping, stats and reset: the server-wide requests. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "lib/pin.h"

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

int cmd_info(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__ServerFrame *f = NULL;
    Enclaved__Info *info;
    Enclaved__Limits none = ENCLAVED__LIMITS__INIT;
    int rc;

    ctl_reject_operands(argc, argv, ctl_parse(ctl, argc, argv, NULL, NULL));
    rc = ctl_get_info(ctl, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    info = f->response->info;
    char fingerprint[PIN_FINGERPRINT_LEN] = "";
    if (info->public_key.len == PIN_KEY_LEN) {
        pin_fingerprint(info->public_key.data, fingerprint);
    }
    if (ctl->json) {
        printf("{\"server_version\":");
        ctl_print_json_cstr(stdout, info->server_version);
        printf(",\"protocol_version\":%u,\"target\":", info->protocol_version);
        ctl_print_json_cstr(stdout, info->target);
        printf(",\"public_key\":\"");
        ctl_print_hex(stdout, info->public_key.data, info->public_key.len);
        printf("\",\"fingerprint\":\"%s\",\"limits\":{", fingerprint);
        print_limits(info->limits ? info->limits : &none, 1);
        printf("}}\n");
    } else {
        printf("server_version     %s\n", info->server_version);
        printf("protocol_version   %u\n", info->protocol_version);
        printf("target             %s\n", info->target);
        printf("public_key         ");
        ctl_print_hex(stdout, info->public_key.data, info->public_key.len);
        printf("\nfingerprint        %s\nlimits\n", fingerprint);
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

int cmd_ping(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__Ping body = ENCLAVED__PING__INIT;
    Enclaved__ServerFrame *f = NULL;
    double start;
    int rc;

    ctl_reject_operands(argc, argv, ctl_parse(ctl, argc, argv, NULL, NULL));
    rc = ctl_connect(ctl);
    if (rc != EXIT_OK) {
        return rc;
    }
    req.body_case = ENCLAVED__REQUEST__BODY_PING;
    req.ping = &body;
    start = now_us();
    rc = ctl_call(ctl, &req, ENCLAVED__RESPONSE__RESULT__NOT_SET, &f);
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

enum {
    OPT_WATCH = CTL_OPT_BASE + 96,
    OPT_INTERVAL,
    OPT_COUNT,
    OPT_PROMETHEUS,
    MAX_INTERVAL_MS = 3600000,
};

const struct cli_option cmd_stats_options[] = {
    {"watch", no_argument, OPT_WATCH, NULL, "repeat every --interval until interrupted"},
    {"interval", required_argument, OPT_INTERVAL, "MS", "--watch period, ms (2000)"},
    {"count", required_argument, OPT_COUNT, "N", "--watch: stop after N samples"},
    {"prometheus", no_argument, OPT_PROMETHEUS, NULL,
     "Prometheus text exposition format (node exporter textfile collector)"},
    {NULL, 0, 0, NULL, NULL},
};

struct stats_opts {
    int watch;
    int prometheus;
    uint64_t interval_ms;
    uint64_t count;
};

static void stats_option(void *ctx, int val, const char *value)
{
    struct stats_opts *o = ctx;

    if (val == OPT_WATCH) {
        o->watch = 1;
    } else if (val == OPT_PROMETHEUS) {
        o->prometheus = 1;
    } else if (val == OPT_INTERVAL) {
        if (cli_parse_u64(value, 0, MAX_INTERVAL_MS, &o->interval_ms) != 0 || o->interval_ms == 0) {
            ctl_die_usage("--interval must be 1..%d ms, not '%s'", MAX_INTERVAL_MS, value);
        }
    } else if (val == OPT_COUNT) {
        if (cli_parse_u64(value, 0, UINT32_MAX, &o->count) != 0 || o->count == 0) {
            ctl_die_usage("--count must be a positive number, not '%s'", value);
        }
    }
}

/* Prometheus label values escape backslash, double quote and newline. */
static void print_label(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            printf("\\%c", *s);
        } else if (*s == '\n') {
            printf("\\n");
        } else {
            putchar(*s);
        }
    }
}

static void print_prometheus(const Enclaved__Stats *st, const char *const *names,
                             const uint64_t *values, size_t count)
{
    /* Gauges: what is now; everything else counts up from the start. */
    static const char *const gauges[] = {"connections_open", "processes", "channels_raw",
                                         "channels_nk", "channels_kk", "memory_rss"};

    for (size_t i = 0; i < count; i++) {
        int gauge = 0;
        for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
            gauge |= strcmp(names[i], gauges[g]) == 0;
        }
        /* Prometheus names carry their unit; counters end in _total (once:
         * connections_total already does). */
        size_t len = strlen(names[i]);
        int has_total = len >= 6 && strcmp(names[i] + len - 6, "_total") == 0;
        const char *suffix = strcmp(names[i], "memory_rss") == 0 ? "_bytes"
                             : gauge || has_total            ? ""
                                                             : "_total";
        printf("# TYPE enclaved_%s%s %s\nenclaved_%s%s %" PRIu64 "\n", names[i], suffix,
               gauge ? "gauge" : "counter", names[i], suffix, values[i]);
    }
    printf("# TYPE enclaved_start_time_seconds gauge\nenclaved_start_time_seconds %" PRIu64
           ".%06" PRIu64 "\n",
           st->start_time_micros / 1000000u, st->start_time_micros % 1000000u);
    printf("# TYPE enclaved_uptime_seconds gauge\nenclaved_uptime_seconds %" PRIu64 ".%03" PRIu64
           "\n",
           st->uptime_ms / 1000u, st->uptime_ms % 1000u);
    printf("# TYPE enclaved_errors_total counter\n");
    for (size_t i = 0; i < st->n_errors; i++) {
        printf("enclaved_errors_total{status=\"%s\"} %" PRIu64 "\n",
               status_name((status_t)st->errors[i]->status), st->errors[i]->count);
    }
    static const char *const per_process[] = {"messages_total", "errors_total",
                                              "limit_hits_total", "channels", "memory_used_bytes"};
    for (size_t k = 0; k < sizeof(per_process) / sizeof(per_process[0]); k++) {
        int gauge = k >= 3;
        printf("# TYPE enclaved_process_%s %s\n", per_process[k], gauge ? "gauge" : "counter");
        for (size_t i = 0; i < st->n_processes_info; i++) {
            const Enclaved__ProcessInfo *p = st->processes_info[i];
            const uint64_t v[] = {p->messages, p->errors, p->limit_hits, p->channels,
                                  p->memory_used};
            printf("enclaved_process_%s{process_id=\"%u\",name=\"", per_process[k],
                   p->process_id);
            print_label(p->name);
            printf("\"} %" PRIu64 "\n", v[k]);
        }
    }
}

static void print_stats(const struct ctl *ctl, const struct stats_opts *o, const Enclaved__Stats *st)
{
    const char *names[] = {"connections_open", "connections_total", "frames_in", "frames_out",
                           "bytes_in", "bytes_out", "processes", "channels_raw", "channels_nk",
                           "channels_kk", "handshakes_ok", "handshakes_failed", "lua_errors",
                           "limit_hits", "memory_rss"};
    const uint64_t values[] = {st->connections_open, st->connections_total, st->frames_in,
                               st->frames_out, st->bytes_in, st->bytes_out, st->processes,
                               st->channels_raw, st->channels_nk, st->channels_kk,
                               st->handshakes_ok, st->handshakes_failed, st->lua_errors,
                               st->limit_hits, st->memory_rss};
    const size_t count = sizeof(values) / sizeof(values[0]);

    if (o->prometheus) {
        print_prometheus(st, names, values, count);
        return;
    }
    printf(ctl->json ? "{" : "");
    for (size_t i = 0; i < count; i++) {
        if (ctl->json) {
            printf("%s\"%s\":%" PRIu64, i ? "," : "", names[i], values[i]);
        } else {
            printf("%-20s %" PRIu64 "\n", names[i], values[i]);
        }
    }
    if (ctl->json) {
        printf(",\"start_time_micros\":%" PRIu64 ",\"uptime_ms\":%" PRIu64 ",\"errors\":{",
               st->start_time_micros, st->uptime_ms);
    } else {
        char when[32] = "?";
        time_t secs = (time_t)(st->start_time_micros / 1000000u);
        struct tm tm;
        if (gmtime_r(&secs, &tm) != NULL) {
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        printf("%-20s %s\n%-20s %" PRIu64 ".%03" PRIu64 " s\n", "started", when, "uptime",
               st->uptime_ms / 1000u, st->uptime_ms % 1000u);
        if (st->n_errors > 0) {
            printf("errors\n");
        }
    }
    for (size_t i = 0; i < st->n_errors; i++) {
        const char *name = status_name((status_t)st->errors[i]->status);
        if (ctl->json) {
            printf("%s\"%s\":%" PRIu64, i ? "," : "", name, st->errors[i]->count);
        } else {
            printf("  %-18s %" PRIu64 "\n", name, st->errors[i]->count);
        }
    }
    if (ctl->json) {
        printf("},\"processes_info\":[");
    } else if (st->n_processes_info > 0) {
        printf("%-6s %-20s %10s %8s %10s %8s\n", "ID", "NAME", "MESSAGES", "ERRORS", "LIMIT_HITS",
               "CHANNELS");
    }
    for (size_t i = 0; i < st->n_processes_info; i++) {
        const Enclaved__ProcessInfo *p = st->processes_info[i];
        if (ctl->json) {
            printf("%s{\"process_id\":%u,\"name\":", i ? "," : "", p->process_id);
            ctl_print_json_cstr(stdout, p->name);
            printf(",\"messages\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"limit_hits\":%" PRIu64
                   ",\"channels\":%u}",
                   p->messages, p->errors, p->limit_hits, p->channels);
        } else {
            printf("%-6u %-20s %10" PRIu64 " %8" PRIu64 " %10" PRIu64 " %8u\n", p->process_id,
                   p->name, p->messages, p->errors, p->limit_hits, p->channels);
        }
    }
    printf(ctl->json ? "]}\n" : "");
}

int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
    struct stats_opts o = {0, 0, 2000, 0};
    uint64_t samples = 0;
    int rc;

    ctl_reject_operands(argc, argv, ctl_parse(ctl, argc, argv, stats_option, &o));
    if (o.prometheus && ctl->json) {
        ctl_die_usage("--prometheus and --json exclude each other");
    }
    if (!o.watch && o.count != 0) {
        ctl_die_usage("--count needs --watch");
    }
    for (;;) {
        Enclaved__Request req = ENCLAVED__REQUEST__INIT;
        Enclaved__GetStats body = ENCLAVED__GET_STATS__INIT;
        Enclaved__ServerFrame *f = NULL;

        req.body_case = ENCLAVED__REQUEST__BODY_GET_STATS;
        req.get_stats = &body;
        rc = ctl_call(ctl, &req, ENCLAVED__RESPONSE__RESULT_STATS, &f);
        if (rc != EXIT_OK) {
            return rc;
        }
        if (o.watch && samples > 0 && !ctl->json && !o.prometheus) {
            printf("\n");
        }
        print_stats(ctl, &o, f->response->stats);
        fflush(stdout);
        client_frame_free(f);
        samples++;
        if (!o.watch || (o.count != 0 && samples >= o.count)) {
            return EXIT_OK;
        }
        struct timespec pause = {(time_t)(o.interval_ms / 1000u),
                                 (long)(o.interval_ms % 1000u) * 1000000L};
        nanosleep(&pause, NULL);
    }
}

int cmd_reset(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__Reset body = ENCLAVED__RESET__INIT;
    Enclaved__ServerFrame *f = NULL;
    int rc;

    ctl_reject_operands(argc, argv, ctl_parse(ctl, argc, argv, NULL, NULL));
    req.body_case = ENCLAVED__REQUEST__BODY_RESET;
    req.reset = &body;
    rc = ctl_call(ctl, &req, ENCLAVED__RESPONSE__RESULT__NOT_SET, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    printf(ctl->json ? "{\"ok\":true}\n" : "reset: all processes and channels destroyed\n");
    client_frame_free(f);
    return EXIT_OK;
}
