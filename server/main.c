/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclaved: parses the command line, loads settings and keys, and hands the
 * server to one of the two I/O drivers. Command-line settings override the
 * userdata image's etc/enclaved.conf.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "config.h"
#include "io.h"
#include "keystore.h"
#include "log.h"
#include "rng.h"

enum { MAX_OVERRIDES = 64 };

struct options {
    const char *userdata_path;
    const char *io;
    int ephemeral_keys;
    const char *keys[MAX_OVERRIDES];
    const char *values[MAX_OVERRIDES];
    size_t override_count;
};

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: enclaved (--userdata IMAGE | --ephemeral-keys) [--io uv|poll] [--SETTING VALUE]...\n"
            "\n"
            "  --userdata IMAGE   the userdata CPIO image: etc/enclaved.conf, apps/*.lua, keys/\n"
            "  --ephemeral-keys   no image: random keys that die with the process (development)\n"
            "  --io uv|poll       I/O driver (default uv; poll is the CodeSafe driver)\n"
            "  --help, --version\n"
            "\n"
            "Settings (etc/enclaved.conf keys; on the command line '-' may replace '_'):\n");
    for (size_t i = 0; config_key_name(i) != NULL; i++) {
        fprintf(out, "  --%-28s %s\n", config_key_name(i), config_key_help(i));
    }
}

/* Returns 0 to run, 1 for a usage error, 2 after --help/--version. */
static int parse_args(int argc, char **argv, struct options *opt)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_usage(stdout);
            return 2;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("enclaved %s\n", ENCLAVED_VERSION);
            return 2;
        }
        if (strcmp(arg, "--ephemeral-keys") == 0) {
            opt->ephemeral_keys = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "enclaved: unexpected argument '%s' (see --help)\n", arg);
            return 1;
        }
        if (strcmp(arg, "--userdata") == 0) {
            opt->userdata_path = argv[++i];
        } else if (strcmp(arg, "--io") == 0) {
            opt->io = argv[++i];
        } else if (opt->override_count < MAX_OVERRIDES) {
            opt->keys[opt->override_count] = arg + 2;
            opt->values[opt->override_count] = argv[++i];
            opt->override_count++;
        } else {
            fprintf(stderr, "enclaved: too many settings on the command line\n");
            return 1;
        }
    }
    if (opt->io != NULL && strcmp(opt->io, "uv") != 0 && strcmp(opt->io, "poll") != 0) {
        fprintf(stderr, "enclaved: --io must be uv or poll\n");
        return 1;
    }
    if ((opt->userdata_path == NULL) == (opt->ephemeral_keys == 0)) {
        fprintf(stderr, "enclaved: give exactly one of --userdata IMAGE or --ephemeral-keys\n");
        return 1;
    }
    return 0;
}

static int apply_overrides(const struct options *opt, struct config *cfg)
{
    char err[CONFIG_ERROR_MAX];
    char key[64];

    for (size_t i = 0; i < opt->override_count; i++) {
        size_t n = strlen(opt->keys[i]);

        if (n >= sizeof(key)) {
            fprintf(stderr, "enclaved: unknown setting --%s\n", opt->keys[i]);
            return -1;
        }
        for (size_t j = 0; j <= n; j++) {
            key[j] = opt->keys[i][j] == '-' ? '_' : opt->keys[i][j];
        }
        if (config_set(cfg, key, opt->values[i], err, sizeof(err)) != STATUS_OK) {
            fprintf(stderr, "enclaved: --%s: %s\n", opt->keys[i], err);
            return -1;
        }
    }
    if (config_validate(cfg, err, sizeof(err)) != STATUS_OK) {
        fprintf(stderr, "enclaved: invalid settings: %s\n", err);
        return -1;
    }
    return 0;
}

static int make_ephemeral_keystore(struct keystore **out)
{
    uint8_t priv[X25519_KEY_LEN];
    uint8_t secret[KEYSTORE_SEALING_SECRET_LEN];
    int rc = -1;

    if (rng_bytes(NULL, priv, sizeof(priv)) == STATUS_OK &&
        rng_bytes(NULL, secret, sizeof(secret)) == STATUS_OK &&
        keystore_new(priv, secret, out) == STATUS_OK) {
        rc = 0;
    }
    mbedtls_platform_zeroize(priv, sizeof(priv));
    mbedtls_platform_zeroize(secret, sizeof(secret));
    return rc;
}

int main(int argc, char **argv)
{
    struct options opt;
    struct config cfg;
    struct keystore *ks = NULL;
    int rc;

    memset(&opt, 0, sizeof(opt));
    signal(SIGPIPE, SIG_IGN);
    rc = parse_args(argc, argv, &opt);
    if (rc != 0) {
        return rc == 2 ? 0 : 2;
    }
    config_defaults(&cfg);
    if (opt.userdata_path != NULL) {
        fprintf(stderr, "enclaved: --userdata is not supported yet\n");
        return 1;
    }
    if (apply_overrides(&opt, &cfg) != 0) {
        return 2;
    }
    log_set_level(cfg.log_level);
    if (rng_init() != STATUS_OK) {
        LOG_E("no entropy: %s", status_trail_message());
        return 1;
    }
    if (make_ephemeral_keystore(&ks) != 0) {
        LOG_E("cannot create keys");
        return 1;
    }
    LOG_W("--ephemeral-keys: random keys for this run only; sealed data will not outlive it");
    if (opt.io != NULL && strcmp(opt.io, "poll") == 0) {
        rc = io_poll_run(&cfg, ks, NULL, NULL);
    } else {
        rc = io_uv_run(&cfg, ks, NULL, NULL);
    }
    rng_clear();
    return rc;
}
