/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclaved-keygen DIR: writes DIR/noise_static.key and DIR/sealing_secret.key
 * for a dev userdata image and prints only the static public key in hex, so
 * scripts can capture it. Refuses to overwrite. Becomes `enclavectl keygen`.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lib/keygen.h"
#include "crypto/rng.h"

int main(int argc, char **argv)
{
    uint8_t pub[KEYGEN_KEY_LEN];
    status_t s;

    if (argc != 2) {
        fprintf(stderr, "usage: enclaved-keygen DIR\n");
        return 2;
    }
    s = keygen_write(argv[1], pub);
    rng_clear();
    if (s != STATUS_OK) {
        fprintf(stderr, "enclaved-keygen: %s: %s (%s)\n", argv[1], status_trail_message(),
                status_name(s));
        return 1;
    }
    for (size_t i = 0; i < sizeof(pub); i++) {
        printf("%02x", pub[i]);
    }
    printf("\n");
    return 0;
}
