/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* enclavectl keygen DIR: the same keys and exit codes as enclaved-keygen. */
#include <stdio.h>

#include "ctl.h"
#include "lib/keygen.h"
#include "lib/pin.h"

int cmd_keygen(struct ctl *ctl, int argc, char **argv)
{
    uint8_t pub[KEYGEN_KEY_LEN];
    char fingerprint[PIN_FINGERPRINT_LEN];
    status_t s;
    int first = ctl_parse(ctl, argc, argv, NULL, NULL);

    if (argc - first != 1) {
        ctl_die_usage("keygen needs exactly one DIR");
    }
    s = keygen_write(argv[first], pub);
    if (s != STATUS_OK) {
        fprintf(stderr, "enclavectl: keygen %s: %s (%d): %s%s\n", argv[first], status_name(s),
                (int)s, status_trail_message(),
                s == STATUS_ALREADY_EXISTS ? " (keygen never overwrites keys)" : "");
        return KEYGEN_EXIT_FAILED;
    }
    pin_fingerprint(pub, fingerprint);
    if (ctl->json) {
        printf("{\"public_key\":\"");
        ctl_print_hex(stdout, pub, sizeof(pub));
        printf("\",\"fingerprint\":\"%s\"}\n", fingerprint);
    } else {
        ctl_print_hex(stdout, pub, sizeof(pub));
        printf("\n");
        fprintf(stderr, "enclavectl: fingerprint %s\n", fingerprint);
    }
    return EXIT_OK;
}
