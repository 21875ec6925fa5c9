/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The userdata as the server's filesystem (DESIGN §8): finds the config
 * text, the boot apps and the optional dev key files in a CPIO image read by
 * cpio.c or in an unpacked tree read by userdir.c (the SEE's root). Both
 * sources become the same index, so every rule below is one code path. It
 * does not parse the config (config.c does) nor load Lua.
 *
 *   etc/enclaved.conf        optional regular file
 *   apps/NAME.lua            boot apps, NAME matching [A-Za-z0-9_.-]{1,64};
 *                            any other file or directory under apps/ is an error
 *   keys/noise_static.key    32 raw bytes; with the next file, both or neither
 *   keys/sealing_secret.key  32 raw bytes
 *
 * Ownership: struct userdata is caller storage. userdata_load borrows the
 * image, which must outlive the struct: config_text and app sources point
 * into it. userdata_load_path and userdata_load_dir own the bytes they read
 * (the image, or the tree's files). The archive index, the apps array and
 * owned bytes are heap-allocated and freed by userdata_clear, which also
 * wipes the copied keys and the owned bytes. Loop thread only.
 */
#ifndef ENCLAVED_USERDATA_H
#define ENCLAVED_USERDATA_H

#include <stddef.h>
#include <stdint.h>

#include "image/cpio.h"
#include "base/status.h"

enum { USERDATA_KEY_LEN = 32, USERDATA_APP_NAME_MAX = 64 };

#define USERDATA_CONFIG_PATH "etc/enclaved.conf"
#define USERDATA_APPS_DIR "apps/"
#define USERDATA_STATIC_KEY_PATH "keys/noise_static.key"
#define USERDATA_SEALING_KEY_PATH "keys/sealing_secret.key"

/* One boot app; name is the file stem of apps/NAME.lua. Read-only. */
struct userdata_app {
    char name[USERDATA_APP_NAME_MAX + 1];
    const uint8_t *source;
    size_t len;
};

/* All fields are read-only for callers. */
struct userdata {
    struct cpio_archive *archive;
    const uint8_t *config_text; /* NULL and 0 when the image has no config */
    size_t config_len;
    struct userdata_app *apps; /* sorted by name (byte order) */
    size_t app_count;
    int has_keys;
    uint8_t static_private[USERDATA_KEY_LEN];
    uint8_t sealing_secret[USERDATA_KEY_LEN];
    int from_dir;   /* 1 when read from a directory */
    uint8_t *owned; /* private: bytes read by _load_path / _load_dir */
    size_t owned_len;
};

/* Parses image (borrowed; must outlive *out). On failure returns the cpio
 * status (see cpio.h) or INVALID_ARGUMENT for a layout error (bad app name,
 * stray file under apps/, a non-file config or key, one key without the
 * other, a key of the wrong size), RESOURCE_EXHAUSTED when out of memory;
 * err gets a one-line reason naming the entry and *out is zeroed, owning
 * nothing. */
status_t userdata_load(const uint8_t *image, size_t len, struct userdata *out, char *err,
                       size_t err_cap);
/* Reads the directory root_fd (borrowed) with userdir.c's rules, then
 * applies the layout rules of userdata_load. Statuses as userdir_read and
 * userdata_load; err names the entry; on failure *out is zeroed. */
status_t userdata_load_dir(int root_fd, struct userdata *out, char *err, size_t err_cap);
/* --userdata PATH: a directory (an unpacked tree; on the SEE its root "/")
 * or an image file, told apart by opening PATH as a directory. On failure
 * err gets one line, "bad userdata directory PATH: ...", "bad userdata image
 * PATH: ..." or "cannot read userdata image PATH: ...", and *out is zeroed. */
status_t userdata_load_path(const char *path, struct userdata *out, char *err, size_t err_cap);
/* Frees what userdata_load allocated and wipes the keys with
 * mbedtls_platform_zeroize; leaves *u zeroed. Safe to call twice. */
void userdata_clear(struct userdata *u);
/* The app called name, or NULL. */
const struct userdata_app *userdata_find_app(const struct userdata *u, const char *name);

#endif
