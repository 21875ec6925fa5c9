/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lib/keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "crypto/rng.h"
#include "crypto/x25519.h"
#include "lib/fail_errno.h"

enum { PATH_CAP = 4096 };

static status_t ensure_dir(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0700) == 0) {
        /* mkdir's mode is filtered by the umask; make it exactly 0700. */
        if (chmod(dir, 0700) != 0) {
            FAIL_ERRNO(STATUS_INTERNAL, "keygen: cannot chmod key directory");
        }
        return STATUS_OK;
    }
    if (errno != EEXIST) {
        FAIL_ERRNO(STATUS_INTERNAL, "keygen: cannot create key directory");
    }
    ENSURE(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), STATUS_INTERNAL,
           "keygen: key path is not a directory");
    return STATUS_OK;
}

static status_t join(char *out, const char *dir, const char *file)
{
    int n = snprintf(out, PATH_CAP, "%s/%s", dir, file);

    ENSURE(n > 0 && n < PATH_CAP, STATUS_INVALID_ARGUMENT, "keygen: path too long");
    return STATUS_OK;
}

/* Writes key to a new file; O_EXCL refuses an existing one. */
static status_t write_new(const char *path, const uint8_t key[KEYGEN_KEY_LEN])
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    size_t done = 0;
    int ok;

    if (fd < 0 && errno == EEXIST) {
        FAIL(STATUS_ALREADY_EXISTS, "keygen: key file exists");
    }
    if (fd < 0) {
        FAIL_ERRNO(STATUS_INTERNAL, "keygen: cannot create key file");
    }
    ok = fchmod(fd, 0600) == 0;
    while (ok && done < KEYGEN_KEY_LEN) {
        ssize_t n = write(fd, key + done, KEYGEN_KEY_LEN - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        ok = n > 0;
        done += ok ? (size_t)n : 0;
    }
    ok = ok && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        int saved = errno;
        unlink(path);
        errno = saved;
        FAIL_ERRNO(STATUS_INTERNAL, "keygen: cannot write key file");
    }
    return STATUS_OK;
}

status_t keygen_write(const char *keys_dir, uint8_t public_key_out[KEYGEN_KEY_LEN])
{
    char static_path[PATH_CAP];
    char sealing_path[PATH_CAP];
    uint8_t static_key[KEYGEN_KEY_LEN];
    uint8_t sealing[KEYGEN_KEY_LEN];
    status_t s;

    TRY(join(static_path, keys_dir, KEYGEN_STATIC_FILE));
    TRY(join(sealing_path, keys_dir, KEYGEN_SEALING_FILE));
    TRY(ensure_dir(keys_dir));
    /* Check both first so a half-written pair is never the result of a
     * refusal; O_EXCL below still closes the race. */
    ENSURE(access(static_path, F_OK) != 0 && access(sealing_path, F_OK) != 0,
           STATUS_ALREADY_EXISTS, "keygen: key file exists");
    s = rng_bytes(NULL, static_key, sizeof(static_key));
    if (s == STATUS_OK) {
        s = rng_bytes(NULL, sealing, sizeof(sealing));
    }
    if (s == STATUS_OK) {
        s = write_new(static_path, static_key);
    }
    if (s == STATUS_OK) {
        s = write_new(sealing_path, sealing);
        if (s != STATUS_OK) {
            unlink(static_path);
        }
    }
    if (s == STATUS_OK) {
        x25519_public_key(public_key_out, static_key);
    }
    mbedtls_platform_zeroize(static_key, sizeof(static_key));
    mbedtls_platform_zeroize(sealing, sizeof(sealing));
    return s;
}
