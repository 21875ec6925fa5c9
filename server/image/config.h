/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Server settings: defaults, the `key = value` text of etc/enclaved.conf
 * (DESIGN §8), and command-line overrides, all through one table of keys so
 * the file, the flags and the README cannot drift. Does not read files.
 *
 * Ownership: struct config is plain caller storage with no pointers.
 */
#ifndef ENCLAVED_CONFIG_H
#define ENCLAVED_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/log.h"
#include "base/status.h"

enum { CONFIG_HOST_MAX = 64, CONFIG_ERROR_MAX = 160, CONFIG_LINE_MAX = 512,
       CONFIG_TEXT_MAX = 64 * 1024 };
/* Peer links (DESIGN §7): addresses this server dials, and the boot apps
 * they are for. */
enum { CONFIG_PEERS_MAX = 32, CONFIG_PEER_APPS_MAX = 16, CONFIG_APP_NAME_MAX = 64 };

struct config_peer {
    char host[CONFIG_HOST_MAX];   /* dotted IPv4 */
    uint16_t port;
};

struct config {
    char listen_host[CONFIG_HOST_MAX];
    uint16_t listen_port;
    uint32_t max_frame;
    uint32_t max_connections;
    uint32_t max_processes;
    uint32_t max_channels_per_process;
    uint64_t max_memory_per_process;
    uint64_t default_memory_per_process;
    uint64_t max_instructions_per_hook;
    uint32_t max_outputs_per_hook;
    uint32_t max_hook_ms;
    uint32_t max_message;
    uint32_t handshake_timeout_ms;
    uint64_t max_output_buffer;
    enum log_level log_level;
    uint32_t log_timestamps;      /* 1: each log line starts with RFC 3339 UTC time */
    struct config_peer peers[CONFIG_PEERS_MAX];
    uint32_t peer_count;
    char peer_apps[CONFIG_PEER_APPS_MAX][CONFIG_APP_NAME_MAX]; /* none: every boot app */
    uint32_t peer_app_count;
    uint32_t peer_connect_timeout_ms;
    uint32_t peer_backoff_min_ms;
    uint32_t peer_backoff_max_ms;
};

/* Fills every field with its documented default. */
void config_defaults(struct config *cfg);
/* Sets one key from its text value. INVALID_ARGUMENT for an unknown key or a
 * malformed or out-of-range value, with the reason in err. */
status_t config_set(struct config *cfg, const char *key, const char *value, char *err,
                    size_t err_cap);
/* Applies `key = value` lines ('#' comments, blank lines allowed) on top of
 * cfg. On error err says "line N: ..." and cfg may be partly updated. */
status_t config_parse(struct config *cfg, const char *text, size_t len, char *err,
                      size_t err_cap);
/* Parses dotted IPv4 HOST:PORT (as `listen` and `peers` take it) into
 * host (CONFIG_HOST_MAX bytes) and *port. INVALID_ARGUMENT with the reason
 * in the trail; both untouched on failure. */
status_t config_parse_address(const char *text, char *host, uint16_t *port);
/* Checks relations between keys (max_message fits in max_frame, default
 * memory <= max memory). INVALID_ARGUMENT with the reason in err. */
status_t config_validate(const struct config *cfg, char *err, size_t err_cap);

/* Iteration over the known keys, for --help and docs: NULL past the end. */
const char *config_key_name(size_t index);
const char *config_key_help(size_t index);

#endif
