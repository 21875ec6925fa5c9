/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Encrypted channels for the client library (DESIGN §6): the client side of
 * Noise NK with server key pinning and code-hash attestation, and the peer
 * side of Noise KK for tools that hold the fleet's static key. After the
 * handshake every ChannelData carries one application message, encrypted as
 * a run of Noise transport messages (noise_transport_encrypt).
 *
 * The server answers every handshake failure with the same PERMISSION_DENIED
 * "handshake failed" (no oracle), so a client cannot tell a wrong pinned key
 * from an unacceptable code hash by the server's reason alone. This module
 * reports both as PERMISSION_DENIED and says which is the likely cause.
 *
 * Ownership: client_nk_open / client_kk_open allocate a struct client_secure
 * that borrows the struct client (which must outlive it); client_secure_free
 * wipes the keys and frees it but neither closes the channel nor frees the
 * client. Buffers returned by client_secure_recv are owned by the caller
 * (free()). Not thread-safe, like struct client; randomness comes from
 * rng_bytes, which is single-threaded too.
 */
#ifndef ENCLAVED_CLIENT_NOISE_H
#define ENCLAVED_CLIENT_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/client.h"
#include "crypto/keystore.h"
#include "base/status.h"

enum {
    CLIENT_CODE_HASH_LEN = 32,
    CLIENT_KEY_LEN = 32,
    /* NK message 1 carries up to 32 hashes: the caller's 1..31 acceptable
     * code hashes and the strict-framing marker. */
    CLIENT_MAX_ACCEPTED_HASHES = 31,
};

/* An established encrypted channel. */
struct client_secure;

/* Which process a channel goes to: by id, or the oldest process with a hash. */
struct client_target {
    uint32_t process_id;
    const uint8_t *code_hash; /* 32 B, or NULL to use process_id */
    /* Optional (32 B or NULL): the hash the caller believes process_id runs,
     * e.g. from ProcessList. Only used to explain a refused handshake. */
    const uint8_t *believed_hash;
};

/* BENCHMARKING ONLY (enclave-bench --reuse-ephemerals). When set, each NK
 * handshake takes its ephemeral pair from fn instead of generating one, so a
 * load generator on the same machine can offer the server more handshakes
 * than its own CPU would allow. A load generator reuses pairs, which throws
 * away forward secrecy: nothing but enclave-bench may set this. fn returns 1
 * with a pair, 0 to generate as usual; NULL (the default) turns it off. */
typedef int (*client_ephemeral_fn)(uint8_t private_key[CLIENT_KEY_LEN],
                                   uint8_t public_key[CLIENT_KEY_LEN]);
void client_noise_bench_set_ephemerals(client_ephemeral_fn fn);

/* Opens a CLIENT_NK channel and runs the handshake. server_public is the
 * pinned server static key (32 B); accepted is a concatenation of
 * accepted_count (1..31) code hashes, sent in message 1 followed by
 * noise_strict_framing_marker (so the server reads this channel's input with
 * strict framing, DESIGN §6), and checked against the hash the server
 * returns in message 2. PERMISSION_DENIED with message
 * "server key does not match the pinned key" or "code hash mismatch" when
 * pinning or attestation fails; other statuses for transport or open errors
 * (message gets the server's text). On failure *out is untouched and the
 * channel, if it was opened, is closed. */
status_t client_nk_open(struct client *c, const struct client_target *target,
                        const uint8_t server_public[CLIENT_KEY_LEN], const uint8_t *accepted,
                        size_t accepted_count, struct client_secure **out, char *message,
                        size_t message_cap);

/* Opens a SERVER_KK_INITIATOR or SERVER_KK_RESPONDER channel and takes the
 * other role, holding the fleet static key local (borrowed for the call).
 * The server's static key is the fleet's, so the remote static is local's
 * public key. Both payloads are code_hash (32 B), and the server's must equal
 * it: PERMISSION_DENIED "code hash mismatch" otherwise. On failure *out is
 * untouched and the channel, if it was opened, is closed. */
status_t client_kk_open(struct client *c, const struct client_target *target,
                        Enclaved__ChannelType type, const struct keystore *local,
                        const uint8_t code_hash[CLIENT_CODE_HASH_LEN],
                        struct client_secure **out, char *message, size_t message_cap);

/* Encrypts and sends one application message. */
status_t client_secure_send(struct client_secure *s, const uint8_t *msg, size_t len);
/* Waits for the next message on the channel and decrypts it into *data
 * (malloc'd, NUL-terminated beyond *len; caller frees). A ChannelClosed
 * returns its status (CANCELLED for OK) with the reason; DATA_LOSS when the
 * message does not decrypt. *data untouched on failure. */
status_t client_secure_recv(struct client_secure *s, int timeout_ms, uint8_t **data,
                            size_t *len, char *reason, size_t reason_cap);
/* Sends ChannelClose and waits for the ChannelClosed; *status gets its status. */
status_t client_secure_close(struct client_secure *s, int timeout_ms, status_t *status);
/* Wipes the transport keys and frees; NULL is a no-op. */
void client_secure_free(struct client_secure *s);

uint32_t client_secure_channel_id(const struct client_secure *s);
/* The code hash the server attested in the handshake (32 B, borrowed). */
const uint8_t *client_secure_code_hash(const struct client_secure *s);

#endif
