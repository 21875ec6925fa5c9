/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "image/config.h"

#include "base/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum value_kind { VALUE_U32, VALUE_U64, VALUE_LISTEN, VALUE_LOG_LEVEL, VALUE_PEERS, VALUE_NAMES };

struct key_spec {
    const char *name;
    enum value_kind kind;
    size_t offset;
    uint64_t min;
    uint64_t max;
    const char *help;
};

#define FIELD(f) offsetof(struct config, f)

static const struct key_spec keys[] = {
    {"listen", VALUE_LISTEN, 0, 0, 0, "IPv4 address (or localhost) and port to listen on (127.0.0.1:7480)"},
    {"max_frame", VALUE_U32, FIELD(max_frame), 64, 64u << 20, "largest frame, bytes (1048576)"},
    {"max_connections", VALUE_U32, FIELD(max_connections), 1, 1000000,
     "open connections at once (16384)"},
    {"max_processes", VALUE_U32, FIELD(max_processes), 1, 1000000, "Lua processes (1024)"},
    {"max_channels_per_process", VALUE_U32, FIELD(max_channels_per_process), 1, 10000000,
     "open channels per process (65536)"},
    {"max_memory_per_process", VALUE_U64, FIELD(max_memory_per_process), 64 * 1024,
     UINT64_C(1) << 40, "largest memory_limit a ProcessCreate may ask for, bytes (268435456)"},
    {"default_memory_per_process", VALUE_U64, FIELD(default_memory_per_process), 64 * 1024,
     UINT64_C(1) << 40, "memory cap when ProcessCreate gives none, bytes (67108864)"},
    {"max_instructions_per_hook", VALUE_U64, FIELD(max_instructions_per_hook), 1000,
     UINT64_C(1) << 40, "Lua VM instructions per hook call (10000000)"},
    {"max_hook_ms", VALUE_U32, FIELD(max_hook_ms), 1, 60000,
     "wall-clock deadline of one hook call (and create, destroy), ms (100)"},
    {"max_outputs_per_hook", VALUE_U32, FIELD(max_outputs_per_hook), 1, 10000000,
     "outputs one hook call may return (1024)"},
    {"max_message", VALUE_U32, FIELD(max_message), 16, 64u << 20,
     "largest channel message, bytes (1044480 = max_frame - 4 KiB)"},
    {"handshake_timeout_ms", VALUE_U32, FIELD(handshake_timeout_ms), 1, 3600000,
     "time allowed for a Noise handshake, ms (10000)"},
    {"max_output_buffer", VALUE_U64, FIELD(max_output_buffer), 4096, UINT64_C(1) << 34,
     "unsent bytes held for one connection before it is dropped (16777216)"},
    {"log_level", VALUE_LOG_LEVEL, FIELD(log_level), 0, 0, "error, warn, info or debug (info)"},
    {"log_timestamps", VALUE_U32, FIELD(log_timestamps), 0, 1,
     "1: log lines start with an RFC 3339 UTC time; 0 for journald (1)"},
    {"peers", VALUE_PEERS, 0, 0, 0, "fleet members this server dials, HOST:PORT,... (none)"},
    {"peer_apps", VALUE_NAMES, 0, 0, 0, "boot apps that get peer links, NAME,... (every boot app)"},
    {"peer_connect_timeout_ms", VALUE_U32, FIELD(peer_connect_timeout_ms), 1, 3600000,
     "time allowed for a peer link's TCP connect, ms (3000)"},
    {"peer_backoff_min_ms", VALUE_U32, FIELD(peer_backoff_min_ms), 1, 3600000,
     "first redial delay of a failed peer link, ms; doubles per failure (100)"},
    {"peer_backoff_max_ms", VALUE_U32, FIELD(peer_backoff_max_ms), 1, 3600000,
     "largest redial delay of a peer link, ms, before jitter (5000)"},
};

enum { KEY_COUNT = sizeof(keys) / sizeof(keys[0]) };

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
    cfg->listen_port = 7480;
    cfg->max_frame = 1u << 20;
    cfg->max_connections = 16384;
    cfg->max_processes = 1024;
    cfg->max_channels_per_process = 65536;
    cfg->max_memory_per_process = 256u << 20;
    cfg->default_memory_per_process = 64u << 20;
    cfg->max_instructions_per_hook = 10000000;
    cfg->max_outputs_per_hook = 1024;
    cfg->max_hook_ms = 100;
    cfg->max_message = (1u << 20) - 4096;
    cfg->handshake_timeout_ms = 10000;
    cfg->max_output_buffer = 16u << 20;
    cfg->log_level = LOG_INFO;
    cfg->log_timestamps = 1;
    cfg->peer_connect_timeout_ms = 3000;
    cfg->peer_backoff_min_ms = 100;
    cfg->peer_backoff_max_ms = 5000;
}

/* Digits with an optional binary suffix (64k, 16M, 1G): base/cli's parser,
 * the one the command lines use, so flags and the file agree. */
static status_t parse_u64(const char *text, uint64_t *out)
{
    ENSURE(cli_parse_u64(text, 1, UINT64_MAX, out) == 0, STATUS_INVALID_ARGUMENT,
           "not a number, or out of range");
    return STATUS_OK;
}

status_t config_parse_address(const char *text, char *host_out, uint16_t *port_out)
{
    const char *colon = strrchr(text, ':');
    uint64_t port = 0;
    size_t host_len;
    char host[CONFIG_HOST_MAX];
    unsigned a, b, c, d;
    char tail;

    ENSURE(colon != NULL, STATUS_INVALID_ARGUMENT, "expected ADDRESS:PORT");
    host_len = (size_t)(colon - text);
    ENSURE(host_len > 0 && host_len < sizeof(host), STATUS_INVALID_ARGUMENT, "bad address");
    TRY(parse_u64(colon + 1, &port));
    ENSURE(port <= 65535, STATUS_INVALID_ARGUMENT, "port out of range");
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    /* The one name clients accept too (enclavectl --host localhost). */
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof(host), "127.0.0.1");
        host_len = strlen(host);
    }
    /* sscanf's %u also takes blanks and signs ("1. +2.3.4"); allow only
     * digits and dots so the stored text is what inet_pton will accept. */
    ENSURE(strspn(host, "0123456789.") == host_len, STATUS_INVALID_ARGUMENT,
           "address must be dotted IPv4");
    ENSURE(sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a < 256 && b < 256 &&
               c < 256 && d < 256,
           STATUS_INVALID_ARGUMENT, "address must be dotted IPv4");
    memcpy(host_out, host, host_len + 1);
    *port_out = (uint16_t)port;
    return STATUS_OK;
}

static status_t parse_listen(const char *text, struct config *cfg)
{
    char host[CONFIG_HOST_MAX];
    uint16_t port = 0;

    /* Only a fully valid value replaces the old one. */
    TRY(config_parse_address(text, host, &port));
    memcpy(cfg->listen_host, host, sizeof(host));
    cfg->listen_port = port;
    return STATUS_OK;
}

/* Calls item for each comma-separated, blank-trimmed element of text (at
 * most max); an empty element is an error. */
static status_t split_list(const char *text, size_t max,
                           status_t (*item)(const char *elem, size_t index, void *ctx), void *ctx)
{
    char elem[CONFIG_LINE_MAX];
    size_t count = 0;
    const char *p = text;

    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma != NULL ? comma : p + strlen(p);

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        ENSURE(end > p, STATUS_INVALID_ARGUMENT, "empty list element");
        ENSURE(count < max, STATUS_INVALID_ARGUMENT, "too many list elements");
        ENSURE((size_t)(end - p) < sizeof(elem), STATUS_INVALID_ARGUMENT, "list element too long");
        memcpy(elem, p, (size_t)(end - p));
        elem[end - p] = '\0';
        TRY(item(elem, count, ctx));
        count++;
        if (comma == NULL) {
            return STATUS_OK;
        }
        p = comma + 1;
    }
}

static status_t peer_item(const char *elem, size_t index, void *ctx)
{
    struct config_peer *peers = ctx;

    return config_parse_address(elem, peers[index].host, &peers[index].port);
}

static status_t count_items(const char *elem, size_t index, void *ctx)
{
    (void)elem;
    *(size_t *)ctx = index + 1;
    return STATUS_OK;
}

/* App names as the userdata tree allows them: the file name without .lua. */
static status_t name_item(const char *elem, size_t index, void *ctx)
{
    char (*names)[CONFIG_APP_NAME_MAX] = ctx;
    size_t len = strlen(elem);

    ENSURE(len < CONFIG_APP_NAME_MAX, STATUS_INVALID_ARGUMENT, "app name too long");
    ENSURE(strspn(elem, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") == len,
           STATUS_INVALID_ARGUMENT, "bad app name");
    memcpy(names[index], elem, len + 1);
    return STATUS_OK;
}

static status_t parse_peers(const char *text, struct config *cfg)
{
    struct config_peer peers[CONFIG_PEERS_MAX];
    size_t count = 0;

    memset(peers, 0, sizeof(peers));
    TRY(split_list(text, CONFIG_PEERS_MAX, peer_item, peers));
    TRY(split_list(text, CONFIG_PEERS_MAX, count_items, &count));
    memcpy(cfg->peers, peers, sizeof(peers));
    cfg->peer_count = (uint32_t)count;
    return STATUS_OK;
}

static status_t parse_names(const char *text, struct config *cfg)
{
    char names[CONFIG_PEER_APPS_MAX][CONFIG_APP_NAME_MAX];
    size_t count = 0;

    memset(names, 0, sizeof(names));
    TRY(split_list(text, CONFIG_PEER_APPS_MAX, name_item, names));
    TRY(split_list(text, CONFIG_PEER_APPS_MAX, count_items, &count));
    memcpy(cfg->peer_apps, names, sizeof(names));
    cfg->peer_app_count = (uint32_t)count;
    return STATUS_OK;
}

static status_t apply_value(const struct key_spec *spec, struct config *cfg, const char *value,
                            char *err, size_t err_cap)
{
    uint64_t v = 0;
    status_t s;
    enum log_level level;

    switch (spec->kind) {
    case VALUE_LISTEN:
        s = parse_listen(value, cfg);
        break;
    case VALUE_PEERS:
        s = parse_peers(value, cfg);
        break;
    case VALUE_NAMES:
        s = parse_names(value, cfg);
        break;
    case VALUE_LOG_LEVEL:
        s = log_parse_level(value, &level) == 0 ? STATUS_OK : STATUS_INVALID_ARGUMENT;
        if (s == STATUS_OK) {
            cfg->log_level = level;
        }
        break;
    case VALUE_U32:
    case VALUE_U64:
        s = parse_u64(value, &v);
        if (s == STATUS_OK && (v < spec->min || v > spec->max)) {
            snprintf(err, err_cap, "%s: %s is outside %" PRIu64 "..%" PRIu64, spec->name, value,
                     spec->min, spec->max);
            FAIL(STATUS_INVALID_ARGUMENT, "config value out of range");
        }
        if (s == STATUS_OK && spec->kind == VALUE_U32) {
            *(uint32_t *)(void *)((char *)cfg + spec->offset) = (uint32_t)v;
        } else if (s == STATUS_OK) {
            *(uint64_t *)(void *)((char *)cfg + spec->offset) = v;
        }
        break;
    default:
        s = STATUS_INTERNAL;
        break;
    }
    if (s != STATUS_OK) {
        snprintf(err, err_cap, "%s: bad value '%.40s'", spec->name, value);
        FAIL(STATUS_INVALID_ARGUMENT, "bad config value");
    }
    return STATUS_OK;
}

status_t config_set(struct config *cfg, const char *key, const char *value, char *err,
                    size_t err_cap)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (strcmp(keys[i].name, key) == 0) {
            return apply_value(&keys[i], cfg, value, err, err_cap);
        }
    }
    snprintf(err, err_cap, "unknown key '%.40s'", key);
    FAIL(STATUS_INVALID_ARGUMENT, "unknown config key");
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Trims [*start, *end) in place of surrounding blanks. */
static void trim(const char **start, const char **end)
{
    while (*start < *end && is_space(**start)) {
        (*start)++;
    }
    while (*end > *start && is_space((*end)[-1])) {
        (*end)--;
    }
}

static status_t parse_line(struct config *cfg, const char *line, const char *line_end,
                           char *err, size_t err_cap)
{
    char key[CONFIG_LINE_MAX];
    char value[CONFIG_LINE_MAX];
    const char *eq;
    const char *k0 = line;
    const char *k1;
    const char *v0;
    const char *v1 = line_end;
    const char *hash = memchr(line, '#', (size_t)(line_end - line));

    if (hash != NULL) {
        v1 = hash;
    }
    trim(&k0, &v1);
    if (k0 == v1) {
        return STATUS_OK;
    }
    eq = memchr(k0, '=', (size_t)(v1 - k0));
    if (eq == NULL) {
        snprintf(err, err_cap, "expected 'key = value'");
        FAIL(STATUS_INVALID_ARGUMENT, "config line without '='");
    }
    k1 = eq;
    v0 = eq + 1;
    trim(&k0, &k1);
    trim(&v0, &v1);
    if (k0 == k1 || v0 == v1) {
        snprintf(err, err_cap, "empty key or value");
        FAIL(STATUS_INVALID_ARGUMENT, "config line with empty key or value");
    }
    if (memchr(k0, '\0', (size_t)(v1 - k0)) != NULL) {
        snprintf(err, err_cap, "NUL byte in line");
        FAIL(STATUS_INVALID_ARGUMENT, "NUL byte in config");
    }
    memcpy(key, k0, (size_t)(k1 - k0));
    key[k1 - k0] = '\0';
    memcpy(value, v0, (size_t)(v1 - v0));
    value[v1 - v0] = '\0';
    return config_set(cfg, key, value, err, err_cap);
}

status_t config_parse(struct config *cfg, const char *text, size_t len, char *err,
                      size_t err_cap)
{
    const char *p = text;
    const char *end = text + len;
    unsigned line_no = 0;
    char inner[CONFIG_ERROR_MAX];

    if (len > CONFIG_TEXT_MAX) {
        snprintf(err, err_cap, "config is over %d bytes", CONFIG_TEXT_MAX);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "config too large");
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl != NULL ? nl : end;

        line_no++;
        inner[0] = '\0';
        if (line_end - p >= CONFIG_LINE_MAX) {
            snprintf(err, err_cap, "line %u: longer than %d bytes", line_no, CONFIG_LINE_MAX - 1);
            FAIL(STATUS_INVALID_ARGUMENT, "config line too long");
        }
        if (parse_line(cfg, p, line_end, inner, sizeof(inner)) != STATUS_OK) {
            snprintf(err, err_cap, "line %u: %s", line_no, inner);
            FAIL(STATUS_INVALID_ARGUMENT, "bad config line");
        }
        p = nl != NULL ? nl + 1 : end;
    }
    return STATUS_OK;
}

status_t config_validate(const struct config *cfg, char *err, size_t err_cap)
{
    /* In 64 bits: max_frame may be below 1024, and max_frame - 1024 in
     * uint32_t would wrap and accept any max_message. */
    if ((uint64_t)cfg->max_message + 1024 > cfg->max_frame) {
        snprintf(err, err_cap, "max_message (%u) must be at most max_frame (%u) - 1024",
                 cfg->max_message, cfg->max_frame);
        FAIL(STATUS_INVALID_ARGUMENT, "max_message too large for max_frame");
    }
    if (cfg->default_memory_per_process > cfg->max_memory_per_process) {
        snprintf(err, err_cap, "default_memory_per_process exceeds max_memory_per_process");
        FAIL(STATUS_INVALID_ARGUMENT, "default memory over maximum");
    }
    if (cfg->peer_backoff_min_ms > cfg->peer_backoff_max_ms) {
        snprintf(err, err_cap, "peer_backoff_min_ms exceeds peer_backoff_max_ms");
        FAIL(STATUS_INVALID_ARGUMENT, "peer backoff minimum over maximum");
    }
    if (cfg->max_output_buffer < 2 * (uint64_t)cfg->max_frame) {
        snprintf(err, err_cap, "max_output_buffer must be at least 2 * max_frame");
        FAIL(STATUS_INVALID_ARGUMENT, "output buffer too small");
    }
    return STATUS_OK;
}

const char *config_key_name(size_t index)
{
    return index < KEY_COUNT ? keys[index].name : NULL;
}

const char *config_key_help(size_t index)
{
    return index < KEY_COUNT ? keys[index].help : NULL;
}
