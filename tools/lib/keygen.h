/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Generates the dev key files of a userdata image (DESIGN §8): the Noise
 * static private key and the sealing secret, 32 random bytes each from the
 * server's DRBG. Never overwrites: an existing key is an operator's identity.
 *
 * Ownership: nothing is retained; secrets on the stack are wiped.
 */
#ifndef ENCLAVED_KEYGEN_H
#define ENCLAVED_KEYGEN_H

#include <stdint.h>

#include "base/status.h"

enum {
    KEYGEN_KEY_LEN = 32,
    /* The exit code of enclaved-keygen and enclavectl keygen for every
     * failure: a local file or directory could not be written (or exists). */
    KEYGEN_EXIT_FAILED = 6,
};

#define KEYGEN_STATIC_FILE "noise_static.key"
#define KEYGEN_SEALING_FILE "sealing_secret.key"

/* Creates keys_dir (mode 0700) if missing and writes both key files with
 * mode 0600. ALREADY_EXISTS if either file exists (nothing is written),
 * UNAVAILABLE without entropy, INTERNAL on an I/O error (no file is left
 * behind; the trail's message ends with the system's reason). On success public_key_out holds the X25519 public key of the
 * static key; on failure it is untouched. */
status_t keygen_write(const char *keys_dir, uint8_t public_key_out[KEYGEN_KEY_LEN]);

#endif
