/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * What the sandbox and the enclave library know of the process they serve
 * (DESIGN §5, §6): its id for log lines, its code hash and the server's
 * sealing secret for enclave.encrypt/decrypt. They get this, never the
 * struct process, so nothing below process.c can run hooks or read limits.
 *
 * Ownership: process.c embeds one in each struct process; the Lua state's
 * C functions borrow it (as an upvalue) for the life of the state. The
 * secret is borrowed from the keystore, which outlives every process.
 */
#ifndef ENCLAVED_IDENTITY_H
#define ENCLAVED_IDENTITY_H

#include <stdint.h>

enum { PROCESS_CODE_HASH_LEN = 32 };

struct process_identity {
    uint32_t pid;
    uint8_t code_hash[PROCESS_CODE_HASH_LEN];  /* SHA-256 of the source */
    const uint8_t *sealing_secret;             /* 32 bytes, or NULL: sealing unavailable */
};

#endif
