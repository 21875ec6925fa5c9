/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Server key pinning for clients (README "Pinning"): the known-servers file,
 * one "HOST:PORT HEX" line per server (64 hex digits of the X25519 static
 * public key; '#' starts a comment line), in the spirit of OpenSSH's
 * known_hosts; the key files operators hand out (the one line enclavectl
 * keygen prints); and the short fingerprint people compare by eye.
 * It does not talk to a server: callers fetch GetInfo and decide.
 *
 * Ownership: nothing is retained between calls; paths are borrowed.
 */
#ifndef ENCLAVED_PIN_H
#define ENCLAVED_PIN_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

enum {
    PIN_KEY_LEN = 32,
    /* "xxxx-xxxx-xxxx-xxxx-xxxx": the first 80 bits of SHA-256(key), and NUL. */
    PIN_FINGERPRINT_LEN = 25,
    PIN_PATH_CAP = 4096,
    /* "HOST:PORT" as a file key. */
    PIN_NAME_CAP = 80,
    /* Lines longer than this are refused as malformed. */
    PIN_LINE_MAX = 512,
};

/* The short fingerprint of a public key. */
void pin_fingerprint(const uint8_t key[PIN_KEY_LEN], char out[PIN_FINGERPRINT_LEN]);

/* The file key of a server: "HOST:PORT", localhost written as 127.0.0.1. */
void pin_name(const char *host, uint16_t port, char out[PIN_NAME_CAP]);

/* $XDG_CONFIG_HOME/enclaved/known_servers, else
 * $HOME/.config/enclaved/known_servers. NOT_FOUND when neither is set. */
status_t pin_default_path(char *out, size_t cap);

/* Finds name in the known-servers file at path. NOT_FOUND when the file or
 * the name is absent; INVALID_ARGUMENT for a malformed line (the trail's
 * detail names the line), INTERNAL when the file cannot be read. On success
 * key and *line (1-based) are set; on failure they are untouched. */
status_t pin_lookup(const char *path, const char *name, uint8_t key[PIN_KEY_LEN], unsigned *line);

/* Appends "name HEX" to the file at path, creating its directory (0700) and
 * the file (0600) when missing. INTERNAL (with the system's reason) when it
 * cannot be written. */
status_t pin_add(const char *path, const char *name, const uint8_t key[PIN_KEY_LEN]);

/* Reads a key file: 64 hex digits, optionally followed by blanks or a
 * comment, then a newline (what keygen prints). INVALID_ARGUMENT for anything
 * else, NOT_FOUND when it cannot be opened. key untouched on failure. */
status_t pin_read_key_file(const char *path, uint8_t key[PIN_KEY_LEN]);

/* Decodes exactly 2 * len hex digits (len at most PIN_KEY_LEN) into out;
 * 0 on success, -1 otherwise (out untouched then). */
int pin_parse_hex(const char *text, size_t text_len, uint8_t *out, size_t len);

#endif
