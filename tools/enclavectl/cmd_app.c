/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclavectl app run: an app offline, in the server's own core. enclavectl
 * may not link Lua or the core (DESIGN §2.1), so it execs the enclaved
 * binary in its --run-app mode, which is the real process table, channels,
 * sandbox and limits with a sink that prints (server/apprun.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

enum {
    OPT_EVENTS = CTL_OPT_BASE + 64,
    OPT_NAME,
    OPT_MEMORY,
    OPT_ENCLAVED,
    /* enclaved, --run-app FILE, three options with values, NULL. */
    FIXED_ARGS = 10,
};

const struct cli_option cmd_app_run_options[] = {
    {"events", required_argument, OPT_EVENTS, "FILE", "the event script (stdin when absent)"},
    {"name", required_argument, OPT_NAME, "NAME", "the process name (FILE without .lua)"},
    {"memory", required_argument, OPT_MEMORY, "BYTES",
     "memory limit; k, M, G suffixes; 0 = the server's default"},
    {"enclaved", required_argument, OPT_ENCLAVED, "PATH",
     "the enclaved binary (else $ENCLAVED, else beside enclavectl)"},
    {NULL, 0, 0, NULL, NULL},
};

struct app_opts {
    const char *events;
    const char *name;
    const char *memory;
    const char *enclaved;
};

static void app_option(void *ctx, int val, const char *value)
{
    struct app_opts *o = ctx;
    uint64_t v = 0;

    if (val == OPT_EVENTS) {
        o->events = value;
    } else if (val == OPT_NAME) {
        o->name = value;
    } else if (val == OPT_MEMORY) {
        if (cli_parse_u64(value, 1, UINT64_MAX, &v) != 0) {
            ctl_die_usage("--memory must be a number of bytes (k, M, G allowed), not '%s'",
                          value);
        }
        o->memory = value;
    } else if (val == OPT_ENCLAVED) {
        o->enclaved = value;
    }
}

/* enclaved beside this binary: build/tools/enclavectl has build/server/enclaved,
 * an install has bin/enclavectl beside bin/enclaved. */
static int find_enclaved(char *out, size_t cap)
{
    static const char *const rel[] = {"/../server/enclaved", "/enclaved"};
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (n <= 0) {
        return -1;
    }
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL) {
        return -1;
    }
    *slash = '\0';
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        if ((size_t)snprintf(out, cap, "%s%s", self, rel[i]) < cap && access(out, X_OK) == 0) {
            return 0;
        }
    }
    return -1;
}

int cmd_app_run(struct ctl *ctl, int argc, char **argv)
{
    struct app_opts o = {NULL, NULL, NULL, NULL};
    char found[PATH_MAX];
    const char *bin;
    char **args;
    int first = ctl_parse(ctl, argc, argv, app_option, &o);
    int n = 0;

    if (first >= argc) {
        ctl_die_usage("app run needs a FILE");
    }
    bin = o.enclaved != NULL ? o.enclaved : getenv("ENCLAVED");
    if (bin == NULL || bin[0] == '\0') {
        if (find_enclaved(found, sizeof(found)) != 0) {
            fprintf(stderr, "enclavectl: app run: no enclaved beside enclavectl; give "
                            "--enclaved PATH or set $ENCLAVED\n");
            return EXIT_LOCAL;
        }
        bin = found;
    }
    args = calloc((size_t)(argc - first) + FIXED_ARGS, sizeof(*args));
    if (args == NULL) {
        fprintf(stderr, "enclavectl: out of memory\n");
        return EXIT_LOCAL;
    }
    args[n++] = (char *)bin;
    /* The operands after FILE are enclaved's own: settings such as --max-hook-ms=50. */
    for (int i = first + 1; i < argc; i++) {
        args[n++] = argv[i];
    }
    args[n++] = "--run-app";
    args[n++] = argv[first];
    if (o.events != NULL) {
        args[n++] = "--events";
        args[n++] = (char *)o.events;
    }
    if (o.name != NULL) {
        args[n++] = "--app-name";
        args[n++] = (char *)o.name;
    }
    if (o.memory != NULL && strcmp(o.memory, "0") != 0) {
        args[n++] = "--app-memory";
        args[n++] = (char *)o.memory;
    }
    args[n] = NULL;
    fflush(stdout);
    execv(bin, args);
    fprintf(stderr, "enclavectl: app run: cannot run %s: %s\n", bin, strerror(errno));
    free(args);
    return EXIT_LOCAL;
}
