/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclaved-keygen DIR: writes DIR/noise_static.key and DIR/sealing_secret.key
 * for a userdata image and prints only the static public key in hex on
 * stdout, so scripts can capture it, and its fingerprint on stderr. Refuses
 * to overwrite. The same as `enclavectl keygen`, with the same exit codes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/cli.h"
#include "crypto/rng.h"
#include "lib/keygen.h"
#include "lib/pin.h"

enum { OPT_VERSION = 256 };

static const struct cli_option options[] = {
    {"help", no_argument, 'h', NULL, "this text"},
    {"version", no_argument, OPT_VERSION, NULL, "print the version and exit"},
    {NULL, 0, 0, NULL, NULL},
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: enclaved-keygen [--] DIR\n\n"
                 "Writes DIR/noise_static.key and DIR/sealing_secret.key (32 random bytes\n"
                 "each, mode 0600; DIR is created 0700 if missing, its parent must exist)\n"
                 "and prints the static public key in hex on stdout, its fingerprint on\n"
                 "stderr. Never overwrites a key.\n\n");
    cli_print_options(out, options);
    fprintf(out, "\nexit codes: 0 success, 2 usage error, %d a key file exists or a file or\n"
                 "directory could not be written (the same as enclavectl keygen)\n",
            KEYGEN_EXIT_FAILED);
}

int main(int argc, char **argv)
{
    const struct cli_option *tables[] = {options, NULL};
    struct option longopts[CLI_MAX_OPTIONS];
    char shortopts[16];
    uint8_t pub[KEYGEN_KEY_LEN];
    char fingerprint[PIN_FINGERPRINT_LEN];
    status_t s;
    int c;

    cli_build(tables, longopts, CLI_MAX_OPTIONS, shortopts, sizeof(shortopts));
    optind = 0;
    while ((c = cli_next("enclaved-keygen", argc, argv, shortopts, longopts)) != -1) {
        if (c == 'h') {
            print_usage(stdout);
            return 0;
        }
        if (c == OPT_VERSION) {
            printf("enclaved-keygen %s\n", ENCLAVED_VERSION);
            return 0;
        }
        return CLI_EXIT_USAGE;
    }
    if (argc - optind != 1) {
        cli_die_usage("enclaved-keygen", "needs exactly one DIR");
    }
    s = keygen_write(argv[optind], pub);
    rng_clear();
    if (s != STATUS_OK) {
        fprintf(stderr, "enclaved-keygen: %s: %s (%d): %s%s\n", argv[optind], status_name(s),
                (int)s, status_trail_message(),
                s == STATUS_ALREADY_EXISTS ? " (keygen never overwrites keys)" : "");
        return KEYGEN_EXIT_FAILED;
    }
    for (size_t i = 0; i < sizeof(pub); i++) {
        printf("%02x", pub[i]);
    }
    printf("\n");
    pin_fingerprint(pub, fingerprint);
    fprintf(stderr, "enclaved-keygen: fingerprint %s\n", fingerprint);
    return 0;
}
