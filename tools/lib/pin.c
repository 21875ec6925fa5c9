/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lib/pin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/sha256.h>
#include <sodium.h>

#include "lib/fail_errno.h"

enum { FINGERPRINT_BYTES = 10 };

void pin_fingerprint(const uint8_t key[PIN_KEY_LEN], char out[PIN_FINGERPRINT_LEN])
{
    uint8_t digest[32];
    size_t n = 0;

    mbedtls_sha256(key, PIN_KEY_LEN, digest, 0);
    for (size_t i = 0; i < FINGERPRINT_BYTES; i++) {
        if (i > 0 && i % 2 == 0) {
            out[n++] = '-';
        }
        snprintf(out + n, 3, "%02x", digest[i]);
        n += 2;
    }
    out[n] = '\0';
}

void pin_name(const char *host, uint16_t port, char out[PIN_NAME_CAP])
{
    if (strcmp(host, "localhost") == 0) {
        host = "127.0.0.1";
    }
    snprintf(out, PIN_NAME_CAP, "%s:%u", host, port);
}

status_t pin_default_path(char *out, size_t cap)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;

    if (xdg != NULL && xdg[0] == '/') {
        n = snprintf(out, cap, "%s/enclaved/known_servers", xdg);
    } else if (home != NULL && home[0] != '\0') {
        n = snprintf(out, cap, "%s/.config/enclaved/known_servers", home);
    } else {
        FAIL(STATUS_NOT_FOUND, "pin: neither XDG_CONFIG_HOME nor HOME is set");
    }
    ENSURE(n > 0 && (size_t)n < cap, STATUS_INVALID_ARGUMENT, "pin: path too long");
    return STATUS_OK;
}

int pin_parse_hex(const char *text, size_t text_len, uint8_t *out, size_t len)
{
    uint8_t tmp[PIN_KEY_LEN];
    size_t got = 0;
    const char *end = NULL;

    if (text_len != 2 * len || len > sizeof(tmp) ||
        sodium_hex2bin(tmp, sizeof(tmp), text, text_len, NULL, &got, &end) != 0 ||
        got != len || end != text + text_len) {
        return -1;
    }
    memcpy(out, tmp, len);
    return 0;
}

/* Splits one line (without its newline) into its name and key. 1 for an
 * entry, 0 for a blank or comment line, -1 when malformed. */
static int parse_line(const char *line, size_t len, const char **name, size_t *name_len,
                      uint8_t key[PIN_KEY_LEN])
{
    size_t i = 0;
    size_t key_start;

    while (i < len && (line[i] == ' ' || line[i] == '\t')) {
        i++;
    }
    if (i == len || line[i] == '#') {
        return 0;
    }
    *name = line + i;
    while (i < len && line[i] != ' ' && line[i] != '\t') {
        i++;
    }
    *name_len = (size_t)(line + i - *name);
    while (i < len && (line[i] == ' ' || line[i] == '\t')) {
        i++;
    }
    key_start = i;
    while (i < len && line[i] != ' ' && line[i] != '\t') {
        i++;
    }
    if (pin_parse_hex(line + key_start, i - key_start, key, PIN_KEY_LEN) != 0) {
        return -1;
    }
    while (i < len && (line[i] == ' ' || line[i] == '\t')) {
        i++;
    }
    return i == len ? 1 : -1;
}

status_t pin_lookup(const char *path, const char *name, uint8_t key[PIN_KEY_LEN], unsigned *line)
{
    FILE *f = fopen(path, "r");
    char buf[PIN_LINE_MAX + 2];
    unsigned number = 0;
    status_t s = STATUS_NOT_FOUND;

    if (f == NULL && errno == ENOENT) {
        FAIL(STATUS_NOT_FOUND, "pin: no known-servers file");
    }
    if (f == NULL) {
        FAIL_ERRNO(STATUS_INTERNAL, "pin: cannot open the known-servers file");
    }
    while (fgets(buf, sizeof(buf), f) != NULL) {
        size_t len = strlen(buf);
        const char *entry = NULL;
        size_t entry_len = 0;
        uint8_t found[PIN_KEY_LEN];
        int r;

        number++;
        if (len > 0 && buf[len - 1] == '\n') {
            len--;
            r = parse_line(buf, len, &entry, &entry_len, found);
        } else {
            /* No newline: the last line of the file, or one too long. */
            r = feof(f) ? parse_line(buf, len, &entry, &entry_len, found) : -1;
        }
        if (r < 0) {
            char text[96];
            int n = snprintf(text, sizeof(text), "malformed line %u in the known-servers file",
                             number);
            status_trail_push(STATUS_INVALID_ARGUMENT, "pin: malformed line", __FILE__, __LINE__);
            status_trail_set_detail(text, n > 0 ? (size_t)n : 0);
            s = STATUS_INVALID_ARGUMENT;
            break;
        }
        if (r == 1 && entry_len == strlen(name) && memcmp(entry, name, entry_len) == 0) {
            memcpy(key, found, PIN_KEY_LEN);
            *line = number;
            s = STATUS_OK;
            break;
        }
    }
    if (s == STATUS_NOT_FOUND && ferror(f)) {
        fclose(f);
        FAIL_ERRNO(STATUS_INTERNAL, "pin: cannot read the known-servers file");
    }
    fclose(f);
    if (s == STATUS_NOT_FOUND) {
        FAIL(STATUS_NOT_FOUND, "pin: server not in the known-servers file");
    }
    return s;
}

/* mkdir -p for the parent directories of path, each new one 0700. */
static status_t make_parents(const char *path)
{
    char dir[PIN_PATH_CAP];
    size_t len = strlen(path);

    ENSURE(len < sizeof(dir), STATUS_INVALID_ARGUMENT, "pin: path too long");
    memcpy(dir, path, len + 1);
    for (size_t i = 1; i < len; i++) {
        if (dir[i] != '/') {
            continue;
        }
        dir[i] = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            FAIL_ERRNO(STATUS_INTERNAL, "pin: cannot create the known-servers directory");
        }
        dir[i] = '/';
    }
    return STATUS_OK;
}

status_t pin_add(const char *path, const char *name, const uint8_t key[PIN_KEY_LEN])
{
    char line[PIN_NAME_CAP + 2 * PIN_KEY_LEN + 4];
    size_t n;
    int fd;
    int ok;

    TRY(make_parents(path));
    n = (size_t)snprintf(line, sizeof(line), "%s ", name);
    for (size_t i = 0; i < PIN_KEY_LEN; i++) {
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%02x", key[i]);
    }
    line[n++] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        FAIL_ERRNO(STATUS_INTERNAL, "pin: cannot write the known-servers file");
    }
    /* O_APPEND writes of one short line land whole, even with two clients. */
    ok = write(fd, line, n) == (ssize_t)n;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        FAIL_ERRNO(STATUS_INTERNAL, "pin: cannot write the known-servers file");
    }
    return STATUS_OK;
}

status_t pin_read_key_file(const char *path, uint8_t key[PIN_KEY_LEN])
{
    FILE *f = fopen(path, "r");
    char buf[PIN_LINE_MAX + 2];
    size_t len;
    size_t i = 2 * PIN_KEY_LEN;
    uint8_t tmp[PIN_KEY_LEN];
    int extra;

    if (f == NULL) {
        FAIL_ERRNO(STATUS_NOT_FOUND, "pin: cannot open the key file");
    }
    if (fgets(buf, sizeof(buf), f) == NULL) {
        fclose(f);
        FAIL(STATUS_INVALID_ARGUMENT, "pin: the key file is empty");
    }
    extra = fgetc(f);
    fclose(f);
    len = strcspn(buf, "\n");
    ENSURE(extra == EOF, STATUS_INVALID_ARGUMENT, "pin: the key file has more than one line");
    ENSURE(len >= i && pin_parse_hex(buf, i, tmp, PIN_KEY_LEN) == 0, STATUS_INVALID_ARGUMENT,
           "pin: the key file must hold 64 hex digits");
    while (i < len && (buf[i] == ' ' || buf[i] == '\t')) {
        i++;
    }
    ENSURE(i == len || buf[i] == '#', STATUS_INVALID_ARGUMENT,
           "pin: the key file must hold 64 hex digits");
    memcpy(key, tmp, PIN_KEY_LEN);
    return STATUS_OK;
}
