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

int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__GetStats body = ENCLAVED__GET_STATS__INIT;
    Enclaved__ServerFrame *f = NULL;
    Enclaved__Stats *st;
    int rc;

    ctl_reject_operands(argc, argv, ctl_parse(ctl, argc, argv, NULL, NULL));
    req.body_case = ENCLAVED__REQUEST__BODY_GET_STATS;
    req.get_stats = &body;
    rc = ctl_call(ctl, &req, ENCLAVED__RESPONSE__RESULT_STATS, &f);
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
