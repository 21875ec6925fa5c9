/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclaved, the composition (DESIGN §2.1): parses the command line, loads
 * settings and keys, builds the core, boots the image's apps, and hands the
 * core to one of the two I/O drivers. Command-line settings override the
 * userdata image's etc/enclaved.conf.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "apprun.h"
#include "base/cli.h"
#include "base/log.h"
#include "core/core.h"
#include "core/peer.h"
#include "crypto/keypool.h"
#include "crypto/keystore.h"
#include "crypto/rng.h"
#include "image/config.h"
#include "image/userdata.h"
#include "io/io.h"
#include "platform/platform.h"

enum {
    MAX_OVERRIDES = 64,
    /* getopt_long values: fixed options, then two per setting (its
     * etc/enclaved.conf name and the same with '-' for '_'). */
    OPT_USERDATA = 256,
    OPT_EPHEMERAL_KEYS,
    OPT_IO,
    OPT_VERSION,
    OPT_RUN_APP,
    OPT_EVENTS,
    OPT_APP_NAME,
    OPT_APP_MEMORY,
    OPT_SETTING = 512,
    MAX_SETTINGS = 40,
    SETTING_NAME_CAP = 64,
};

struct options {
    const char *userdata_path;
    const char *io;
    int ephemeral_keys;
    const char *keys[MAX_OVERRIDES];
    const char *values[MAX_OVERRIDES];
    size_t override_count;
    struct apprun_options run;     /* run.app_path: --run-app */
};

static const struct cli_option fixed_options[] = {
    {"userdata", required_argument, OPT_USERDATA, "PATH",
     "the userdata: a CPIO image file or an unpacked directory holding etc/enclaved.conf, "
     "apps/*.lua, keys/ (SEE default: /)"},
    {"ephemeral-keys", no_argument, OPT_EPHEMERAL_KEYS, NULL,
     "random keys that die with the process (development, tests)"},
    {"io", required_argument, OPT_IO, "uv|poll", "I/O driver (uv; poll is the CodeSafe driver)"},
    {"help", no_argument, 'h', NULL, "this text"},
    {"version", no_argument, OPT_VERSION, NULL, "print the version and exit"},
    {"run-app", required_argument, OPT_RUN_APP, "FILE",
     "run one app offline: no listener, no network; channel events from --events or stdin, "
     "outputs on stdout (enclavectl app run)"},
    {"events", required_argument, OPT_EVENTS, "FILE", "--run-app: the event script (- = stdin)"},
    {"app-name", required_argument, OPT_APP_NAME, "NAME",
     "--run-app: the process name (FILE without .lua)"},
    {"app-memory", required_argument, OPT_APP_MEMORY, "BYTES",
     "--run-app: memory limit; k, M, G (default_memory_per_process)"},
    {NULL, 0, 0, NULL, NULL},
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: enclaved [--userdata PATH] [--ephemeral-keys] [--io uv|poll] "
                 "[--SETTING=VALUE]...\n"
                 "       enclaved --run-app FILE [--events FILE] [--app-name NAME] "
                 "[--app-memory BYTES] [--userdata PATH] [--SETTING=VALUE]...\n"
                 "\n--opt=VALUE and --opt VALUE both work; long options may be abbreviated\n"
                 "while unambiguous; -- ends the options.\n\n");
    cli_print_options(out, fixed_options);
    fprintf(out, "\nSettings (etc/enclaved.conf keys; on the command line '-' may replace '_'):\n");
    for (size_t i = 0; config_key_name(i) != NULL; i++) {
        fprintf(out, "  --%-28s %s\n", config_key_name(i), config_key_help(i));
    }
}

/* One getopt_long row per setting, in both spellings; the names live in
 * names[]. Returns the table (ends with a NULL name). */
static const struct cli_option *setting_options(struct cli_option *rows,
                                                char (*names)[SETTING_NAME_CAP])
{
    size_t n = 0;

    ENCLAVED_ASSERT(config_key_name(MAX_SETTINGS) == NULL);
    for (size_t i = 0; config_key_name(i) != NULL; i++) {
        const char *key = config_key_name(i);
        size_t len = strlen(key);

        rows[n++] = (struct cli_option){key, required_argument, OPT_SETTING + (int)i, "VALUE", ""};
        if (strchr(key, '_') != NULL && len < SETTING_NAME_CAP) {
            for (size_t j = 0; j <= len; j++) {
                names[i][j] = key[j] == '_' ? '-' : key[j];
            }
            rows[n++] = (struct cli_option){names[i], required_argument, OPT_SETTING + (int)i,
                                            "VALUE", ""};
        }
    }
    rows[n] = (struct cli_option){NULL, 0, 0, NULL, NULL};
    return rows;
}

/* Returns 0 to run, 1 for a usage error, 2 after --help/--version. Uses
 * getopt_long over the fixed options and one per setting, so "--listen=ADDR"
 * and "--listen ADDR" mean the same, and a flag never swallows the next one. */
static int parse_args(int argc, char **argv, struct options *opt)
{
    static struct cli_option rows[2 * MAX_SETTINGS + 1];
    static char names[MAX_SETTINGS][SETTING_NAME_CAP];
    const struct cli_option *tables[] = {fixed_options, setting_options(rows, names), NULL};
    struct option longopts[CLI_MAX_OPTIONS];
    char shortopts[16];
    int c;

    cli_build(tables, longopts, CLI_MAX_OPTIONS, shortopts, sizeof(shortopts));
    optind = 0;
    while ((c = cli_next("enclaved", argc, argv, shortopts, longopts)) != -1) {
        switch (c) {
        case CLI_EXIT_USAGE:
            return 1;
        case 'h':
            print_usage(stdout);
            return 2;
        case OPT_VERSION:
            printf("enclaved %s\n", ENCLAVED_VERSION);
            return 2;
        case OPT_EPHEMERAL_KEYS:
            opt->ephemeral_keys = 1;
            break;
        case OPT_USERDATA:
            opt->userdata_path = optarg;
            break;
        case OPT_IO:
            opt->io = optarg;
            break;
        case OPT_RUN_APP:
            opt->run.app_path = optarg;
            break;
        case OPT_EVENTS:
            opt->run.events_path = optarg;
            break;
        case OPT_APP_NAME:
            opt->run.app_name = optarg;
            break;
        case OPT_APP_MEMORY:
            if (cli_parse_u64(optarg, 1, UINT64_MAX, &opt->run.memory_limit) != 0) {
                fprintf(stderr, "enclaved: --app-memory must be a number of bytes (k, M, G "
                                "allowed), not '%s'\n", optarg);
                return 1;
            }
            break;
        default:
            if (opt->override_count == MAX_OVERRIDES) {
                fprintf(stderr, "enclaved: too many settings on the command line\n");
                return 1;
            }
            opt->keys[opt->override_count] = config_key_name((size_t)(c - OPT_SETTING));
            opt->values[opt->override_count] = optarg;
            opt->override_count++;
            break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "enclaved: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 1;
    }
    if (opt->io != NULL && strcmp(opt->io, "uv") != 0 && strcmp(opt->io, "poll") != 0) {
        fprintf(stderr, "enclaved: --io must be uv or poll\n");
        return 1;
    }
#ifdef ENCLAVED_NO_UV
    if (opt->io != NULL && strcmp(opt->io, "uv") == 0) {
        fprintf(stderr, "enclaved: built without libuv; only --io poll is available\n");
        return 1;
    }
#endif
    if (opt->run.app_path == NULL &&
        (opt->run.events_path != NULL || opt->run.app_name != NULL || opt->run.memory_limit)) {
        fprintf(stderr, "enclaved: --events, --app-name and --app-memory need --run-app\n");
        return 1;
    }
    /* Offline, keys of the image if it has some, else random ones. */
    if (opt->run.app_path != NULL && opt->userdata_path == NULL) {
        opt->ephemeral_keys = 1;
    }
    if (opt->userdata_path == NULL && !opt->ephemeral_keys) {
        fprintf(stderr, "enclaved: give --userdata PATH, --ephemeral-keys, or both (see --help)\n");
        return 1;
    }
    return 0;
}

static int apply_overrides(const struct options *opt, struct config *cfg)
{
    char err[CONFIG_ERROR_MAX];

    for (size_t i = 0; i < opt->override_count; i++) {
        if (config_set(cfg, opt->keys[i], opt->values[i], err, sizeof(err)) != STATUS_OK) {
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

/* Starts the image's apps in name order; the first failure stops startup. */
static status_t boot_apps(struct core *core, const struct userdata *ud)
{
    for (size_t i = 0; i < ud->app_count; i++) {
        struct proc *p = NULL;
        const struct userdata_app *app = &ud->apps[i];
        status_t s;

        status_trail_reset();
        s = procs_create(core->processes, app->name, app->source, app->len, 0, &p);
        if (s != STATUS_OK) {
            struct status_report r;

            status_trail_take(&r);
            fprintf(stderr, "enclaved: apps/%s.lua: %s: %s\n", app->name, status_name(s),
                    r.message);
            LOG_D("apps/%s.lua: %s", app->name, r.trail);
            return s;
        }
    }
    return STATUS_OK;
}

/* Reads and checks the userdata (a directory or an image file), then
 * applies its etc/enclaved.conf. On failure prints one line naming the
 * problem. */
static int load_userdata(const char *path, struct userdata *ud, struct config *cfg)
{
    char err[CONFIG_ERROR_MAX + 384];

    status_trail_reset();
    if (userdata_load_path(path, ud, err, sizeof(err)) != STATUS_OK) {
        fprintf(stderr, "enclaved: %s\n", err);
        return -1;
    }
    if (ud->config_text != NULL &&
        config_parse(cfg, (const char *)ud->config_text, ud->config_len, err, sizeof(err)) !=
            STATUS_OK) {
        fprintf(stderr, "enclaved: %s: %s\n", USERDATA_CONFIG_PATH, err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options opt;
    struct config cfg;
    struct userdata ud;
    struct keystore *ks = NULL;
    struct core *core = NULL;
    struct status_report report;
    int rc;

    memset(&opt, 0, sizeof(opt));
    memset(&ud, 0, sizeof(ud));
    signal(SIGPIPE, SIG_IGN);
    /* On the SEE the loader unpacks the userdata as the root (DESIGN §8). */
    opt.userdata_path = platform_default_userdata();
    rc = parse_args(argc, argv, &opt);
    if (rc != 0) {
        return rc == 2 ? 0 : 2;
    }
    config_defaults(&cfg);
    if (opt.run.app_path != NULL) {
        cfg.log_timestamps = 0;  /* a developer's terminal, not a journal */
    }
    if (opt.userdata_path != NULL && load_userdata(opt.userdata_path, &ud, &cfg) != 0) {
        rc = 1;
        goto out;
    }
    if (apply_overrides(&opt, &cfg) != 0) {
        rc = 2;
        goto out;
    }
    log_set_level(cfg.log_level);
    log_set_timestamps(cfg.log_timestamps != 0);
    rc = 1;
    status_trail_reset();
    if (rng_init() != STATUS_OK) {
        status_trail_take(&report);
        LOG_E("no entropy: %s", report.trail);
        goto out;
    }
    /* Opens the RSS source now, so GetStats opens no file after startup. */
    (void)platform_rss_bytes();
    if (opt.ephemeral_keys || (opt.run.app_path != NULL && !ud.has_keys)) {
        if (make_ephemeral_keystore(&ks) != 0) {
            LOG_E("cannot create keys");
            goto out;
        }
        if (opt.run.app_path == NULL) {
            LOG_W("--ephemeral-keys: random keys for this run only; sealed data will not "
                  "outlive it");
        }
    } else if (!ud.has_keys) {
        fprintf(stderr, "enclaved: userdata %s has no %s and %s "
                        "(add them with enclaved-keygen, or run with --ephemeral-keys)\n",
                opt.userdata_path, USERDATA_STATIC_KEY_PATH, USERDATA_SEALING_KEY_PATH);
        goto out;
    } else if (keystore_new(ud.static_private, ud.sealing_secret, &ks) != STATUS_OK) {
        LOG_E("cannot load keys");
        goto out;
    }
    /* The keystore holds its own copy; keep no other. */
    mbedtls_platform_zeroize(ud.static_private, sizeof(ud.static_private));
    mbedtls_platform_zeroize(ud.sealing_secret, sizeof(ud.sealing_secret));
    if (keypool_start(KEYPOOL_DEFAULT_CAPACITY) != STATUS_OK) {
        status_trail_take(&report);
        LOG_W("no ephemeral key pool: %s; handshakes generate keys inline", report.trail);
    }
    status_trail_reset();
    if (core_new(&cfg, ks, &core) != STATUS_OK) {
        status_trail_take(&report);
        LOG_E("cannot create the server core: %s", report.trail);
        goto out;
    }
    if (opt.run.app_path != NULL) {
        /* Offline: the one app and the event script, no boot apps, no driver. */
        rc = apprun_main(core, &opt.run);
        goto out;
    }
    if (boot_apps(core, &ud) != STATUS_OK) {
        goto out;
    }
    /* The links of `peers =` for the boot apps (DESIGN §7); the driver dials. */
    peer_add_configured(core->peers);
#ifdef ENCLAVED_NO_UV
    rc = io_poll_run(core);
#else
    if (opt.io != NULL && strcmp(opt.io, "poll") == 0) {
        rc = io_poll_run(core);
    } else {
        rc = io_uv_run(core);
    }
#endif
out:
    core_free(core);
    keypool_stop();
    userdata_clear(&ud);
    rng_clear();
    return rc;
}
