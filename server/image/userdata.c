/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "image/userdata.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "image/userdir.h"
#include "platform/platform.h"

static const char LUA_SUFFIX[] = ".lua";
enum { LUA_SUFFIX_LEN = sizeof(LUA_SUFFIX) - 1, APPS_DIR_LEN = sizeof(USERDATA_APPS_DIR) - 1 };

/* Writes "PATH: REASON" into err. */
static void report(char *err, size_t err_cap, const char *path, const char *reason)
{
    if (err != NULL && err_cap > 0) {
        snprintf(err, err_cap, "%s: %s", path, reason);
    }
}

static int is_app_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

static int is_valid_app_name(const char *name, size_t len)
{
    if (len == 0 || len > USERDATA_APP_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_app_name_char(name[i])) {
            return 0;
        }
    }
    return 1;
}

static status_t load_config(struct userdata *u, char *err, size_t err_cap)
{
    const struct cpio_entry *e = cpio_find(u->archive, USERDATA_CONFIG_PATH);

    if (e == NULL) {
        return STATUS_OK;
    }
    if (!cpio_entry_is_file(e)) {
        report(err, err_cap, USERDATA_CONFIG_PATH, "not a regular file");
        FAIL(STATUS_INVALID_ARGUMENT, "userdata: config is not a file");
    }
    u->config_text = e->data;
    u->config_len = e->len;
    return STATUS_OK;
}

/* Reads one key file into dst; *found says whether it exists. */
static status_t load_key(const struct cpio_archive *a, const char *path, uint8_t *dst,
                         int *found, char *err, size_t err_cap)
{
    const struct cpio_entry *e = cpio_find(a, path);

    *found = e != NULL;
    if (e == NULL) {
        return STATUS_OK;
    }
    if (!cpio_entry_is_file(e)) {
        report(err, err_cap, path, "not a regular file");
        FAIL(STATUS_INVALID_ARGUMENT, "userdata: key is not a file");
    }
    if (e->len != USERDATA_KEY_LEN) {
        if (err != NULL && err_cap > 0) {
            snprintf(err, err_cap, "%s: is %zu bytes, expected exactly %d raw bytes", path,
                     e->len, USERDATA_KEY_LEN);
        }
        FAIL(STATUS_INVALID_ARGUMENT, "userdata: key has the wrong size");
    }
    memcpy(dst, e->data, USERDATA_KEY_LEN);
    return STATUS_OK;
}

static status_t load_keys(struct userdata *u, char *err, size_t err_cap)
{
    int has_static = 0;
    int has_sealing = 0;

    TRY(load_key(u->archive, USERDATA_STATIC_KEY_PATH, u->static_private, &has_static, err,
                 err_cap));
    TRY(load_key(u->archive, USERDATA_SEALING_KEY_PATH, u->sealing_secret, &has_sealing, err,
                 err_cap));
    if (has_static != has_sealing) {
        report(err, err_cap, has_static ? USERDATA_SEALING_KEY_PATH : USERDATA_STATIC_KEY_PATH,
               "missing (the two key files come together or not at all)");
        FAIL(STATUS_INVALID_ARGUMENT, "userdata: only one key file");
    }
    u->has_keys = has_static;
    return STATUS_OK;
}

/* Accepts apps/NAME.lua; anything else under apps/ (other than apps/ itself)
 * is a mistake the operator should hear about, not a file silently skipped. */
static status_t check_app_entry(const struct cpio_entry *e, char *err, size_t err_cap)
{
    const char *rest = e->name + APPS_DIR_LEN;
    size_t rest_len = e->name_len - APPS_DIR_LEN;

    if (!cpio_entry_is_file(e)) {
        report(err, err_cap, e->name, "only files of the form apps/NAME.lua belong in apps/");
        FAIL(STATUS_INVALID_ARGUMENT, "userdata: directory under apps/");
    }
    if (rest_len <= LUA_SUFFIX_LEN ||
        memcmp(rest + rest_len - LUA_SUFFIX_LEN, LUA_SUFFIX, LUA_SUFFIX_LEN) != 0) {
        report(err, err_cap, e->name, "only files of the form apps/NAME.lua belong in apps/");
        FAIL(STATUS_INVALID_ARGUMENT, "userdata: not a .lua file under apps/");
    }
    if (!is_valid_app_name(rest, rest_len - LUA_SUFFIX_LEN)) {
        report(err, err_cap, e->name, "app name must match [A-Za-z0-9_.-]{1,64}");
        FAIL(STATUS_INVALID_ARGUMENT, "userdata: bad app name");
    }
    return STATUS_OK;
}

static int compare_apps(const void *a, const void *b)
{
    return strcmp(((const struct userdata_app *)a)->name,
                  ((const struct userdata_app *)b)->name);
}

static status_t load_apps(struct userdata *u, char *err, size_t err_cap)
{
    size_t count = 0;
    size_t n = cpio_count(u->archive);

    for (size_t i = 0; i < n; i++) {
        const struct cpio_entry *e = cpio_entry_at(u->archive, i);

        if (e->name_len > APPS_DIR_LEN &&
            memcmp(e->name, USERDATA_APPS_DIR, APPS_DIR_LEN) == 0) {
            TRY(check_app_entry(e, err, err_cap));
            count++;
        }
    }
    if (count == 0) {
        return STATUS_OK;
    }
    u->apps = calloc(count, sizeof(*u->apps));
    if (u->apps == NULL) {
        report(err, err_cap, USERDATA_APPS_DIR, "out of memory");
        FAIL(STATUS_RESOURCE_EXHAUSTED, "userdata: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const struct cpio_entry *e = cpio_entry_at(u->archive, i);
        struct userdata_app *app = &u->apps[u->app_count];

        if (e->name_len > APPS_DIR_LEN &&
            memcmp(e->name, USERDATA_APPS_DIR, APPS_DIR_LEN) == 0) {
            size_t stem = e->name_len - APPS_DIR_LEN - LUA_SUFFIX_LEN;

            memcpy(app->name, e->name + APPS_DIR_LEN, stem);
            app->name[stem] = '\0';
            app->source = e->data;
            app->len = e->len;
            u->app_count++;
        }
    }
    /* The archive is sorted by full path; "a-b.lua" sorts before "a.lua" but
     * the stem "a" sorts before "a-b", so order by stem explicitly. */
    qsort(u->apps, u->app_count, sizeof(*u->apps), compare_apps);
    return STATUS_OK;
}

static status_t load_layout(struct userdata *u, char *err, size_t err_cap)
{
    TRY(load_config(u, err, err_cap));
    TRY(load_apps(u, err, err_cap));
    return load_keys(u, err, err_cap);
}

status_t userdata_load(const uint8_t *image, size_t len, struct userdata *out, char *err,
                       size_t err_cap)
{
    status_t s;

    memset(out, 0, sizeof(*out));
    s = cpio_open_report(image, len, &out->archive, err, err_cap);
    if (s != STATUS_OK) {
        return s;
    }
    s = load_layout(out, err, err_cap);
    if (s != STATUS_OK) {
        userdata_clear(out);
    }
    return s;
}

status_t userdata_load_dir(int root_fd, struct userdata *out, char *err, size_t err_cap)
{
    struct userdir dir;
    status_t s;

    memset(out, 0, sizeof(*out));
    s = userdir_read(root_fd, &dir, err, err_cap);
    if (s != STATUS_OK) {
        return s;
    }
    s = cpio_index_entries(dir.entries, dir.count, &out->archive);
    free(dir.entries);
    /* The index points into the arena, which the struct now owns. */
    out->owned = dir.arena;
    out->owned_len = dir.arena_cap;
    out->from_dir = 1;
    if (s != STATUS_OK) {
        report(err, err_cap, ".", status_trail_message());
    } else {
        s = load_layout(out, err, err_cap);
    }
    if (s != STATUS_OK) {
        userdata_clear(out);
    }
    return s;
}

status_t userdata_load_path(const char *path, struct userdata *out, char *err, size_t err_cap)
{
    char reason[CPIO_MAX_NAME + 128] = "";
    uint8_t *image = NULL;
    size_t len = 0;
    status_t s;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    memset(out, 0, sizeof(*out));
    if (fd >= 0) {
        s = userdata_load_dir(fd, out, reason, sizeof(reason));
        close(fd);
        if (s != STATUS_OK && err != NULL && err_cap > 0) {
            snprintf(err, err_cap, "bad userdata directory %s: %s", path, reason);
        }
        return s;
    }
    status_trail_reset();
    s = platform_read_userdata(path, &image, &len);
    if (s != STATUS_OK) {
        if (err != NULL && err_cap > 0) {
            snprintf(err, err_cap, "cannot read userdata image %s: %s", path,
                     status_trail_message());
        }
        return s;
    }
    s = userdata_load(image, len, out, reason, sizeof(reason));
    if (s != STATUS_OK) {
        if (err != NULL && err_cap > 0) {
            snprintf(err, err_cap, "bad userdata image %s: %s", path, reason);
        }
        mbedtls_platform_zeroize(image, len);
        free(image);
        return s;
    }
    out->owned = image;
    out->owned_len = len;
    return STATUS_OK;
}

void userdata_clear(struct userdata *u)
{
    cpio_close(u->archive);
    if (u->owned != NULL) {
        mbedtls_platform_zeroize(u->owned, u->owned_len);
    }
    free(u->owned);
    free(u->apps);
    mbedtls_platform_zeroize(u->static_private, sizeof(u->static_private));
    mbedtls_platform_zeroize(u->sealing_secret, sizeof(u->sealing_secret));
    memset(u, 0, sizeof(*u));
}

const struct userdata_app *userdata_find_app(const struct userdata *u, const char *name)
{
    for (size_t i = 0; i < u->app_count; i++) {
        if (strcmp(u->apps[i].name, name) == 0) {
            return &u->apps[i];
        }
    }
    return NULL;
}
