/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Noise (revision 34) for channels (DESIGN §6): Noise_NK_25519_ChaChaPoly_SHA256
 * for clients and Noise_KK_25519_ChaChaPoly_SHA256 between enclaves, both roles,
 * plus the transport framing that carries one application message as a run of
 * Noise messages. It does not do I/O, timeouts or payload checks (the code
 * hashes in the payloads are the channel's business), and it does not rekey.
 *
 * Ownership: noise_handshake_new allocates the handshake and noise_handshake_free
 * wipes and frees it. The keystore passed as local_static is borrowed and must
 * outlive the handshake; every other pointer is borrowed for the call only.
 * struct noise_transport is caller storage, filled by noise_handshake_split and
 * wiped by noise_transport_clear. Loop thread only; nothing here is shared.
 */
#ifndef ENCLAVED_NOISE_H
#define ENCLAVED_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keystore.h"
#include "crypto/rng.h"
#include "base/status.h"

enum {
    NOISE_KEY_LEN = 32,
    NOISE_HASH_LEN = 32,
    NOISE_TAG_LEN = 16,
    NOISE_MAX_MESSAGE_LEN = 65535,
    NOISE_MAX_CHUNK_PLAINTEXT = 65535 - 16,
    /* A handshake message is an ephemeral key, the payload, and its tag. */
    NOISE_HANDSHAKE_OVERHEAD = 32 + 16,
    NOISE_MAX_HANDSHAKE_PAYLOAD = 65535 - 32 - 16,
};

enum noise_pattern { NOISE_PATTERN_NK, NOISE_PATTERN_KK };
enum noise_role { NOISE_ROLE_INITIATOR, NOISE_ROLE_RESPONDER };

/* Opaque, heap allocated. */
struct noise_handshake;

/* One direction of a transport: the key and the next nonce to use. Fields are
 * private; they are public only so the struct can be embedded. */
struct noise_cipher {
    uint8_t key[NOISE_KEY_LEN];
    uint64_t nonce;
};

/* How the Noise messages of one received application message are laid out
 * (DESIGN §6). Sending always uses NOISE_FRAMING_STRICT, which both read. */
enum noise_framing {
    /* The last Noise message is never full (a plaintext of k * 65519 bytes
     * ends with an empty, 16-byte message), and an empty plaintext is one
     * 16-byte message. A message cut at a chunk boundary has a length no
     * encrypt produces, so it is refused rather than read as a prefix. */
    NOISE_FRAMING_STRICT = 0,
    /* libsignal's HsmEnclaveClient: plaintext cut into 65519-byte chunks, so
     * the last Noise message may be full too, and zero bytes are the empty
     * plaintext. Strict input is valid here as well. The host can cut such a
     * message at a chunk boundary, join two, or add empty ones unnoticed. */
    NOISE_FRAMING_LIBSIGNAL = 1,
};

/* NK message 1 asks for strict framing of its channel's input by listing this
 * value among its accepted code hashes: SHA-256 of NOISE_STRICT_MARKER_DOMAIN.
 * The domain string is not valid Lua, so no process has this code hash. */
#define NOISE_STRICT_MARKER_DOMAIN "enclaved-noise-strict-framing-v1"
extern const uint8_t noise_strict_framing_marker[NOISE_HASH_LEN];

/* Both directions of an established channel (caller storage). */
struct noise_transport {
    struct noise_cipher send;
    struct noise_cipher recv;
    /* Public: the framing noise_transport_decrypt accepts. noise_handshake_split
     * sets NOISE_FRAMING_STRICT; a CLIENT_NK channel may relax it once. */
    enum noise_framing recv_framing;
};

/* Lifecycle. */

/* Starts a handshake. local_static is required except for the NK initiator,
 * which ignores it (borrowed, must outlive the handshake). remote_static is the
 * peer's static public key (32 B, copied): required for the NK initiator and
 * both KK roles, ignored by the NK responder. prologue may be empty. rng supplies 32 bytes of ephemeral
 * private key per `e` token. INVALID_ARGUMENT for a wrong combination,
 * RESOURCE_EXHAUSTED when out of memory; on failure *out is untouched. */
status_t noise_handshake_new(enum noise_pattern pattern, enum noise_role role,
                             const struct keystore *local_static, const uint8_t *remote_static,
                             const uint8_t *prologue, size_t prologue_len, rng_fn rng,
                             void *rng_ctx, struct noise_handshake **out);
/* Makes this side's next `e` token use the given pair instead of drawing a
 * private key from rng: a fresh pair computed ahead of time (keypool.h).
 * The caller vouches that public_key = X25519(private_key, 9) and that the
 * pair was never used before. FAILED_PRECONDITION after completion. */
status_t noise_handshake_use_ephemeral(struct noise_handshake *hs,
                                       const uint8_t private_key[NOISE_KEY_LEN],
                                       const uint8_t public_key[NOISE_KEY_LEN]);
/* Wipes and frees; NULL is a no-op. */
void noise_handshake_free(struct noise_handshake *hs);

/* Operations. A failure of the handshake itself (a bad message, a low-order
 * key, a failing rng) leaves it failed: every later call returns
 * FAILED_PRECONDITION. Caller mistakes that change no state (an out-of-turn
 * call; INVALID_ARGUMENT for a short buffer, a too-long or NULL payload) leave
 * it usable. */

/* Writes the next handshake message (this side's turn) into out;
 * *out_len = 32 + payload_len + 16. FAILED_PRECONDITION when it is not this
 * side's turn; INVALID_ARGUMENT when payload_len exceeds
 * NOISE_MAX_HANDSHAKE_PAYLOAD or cap is too small; the rng's status when it
 * fails. On failure *out_len is untouched. */
status_t noise_handshake_write_message(struct noise_handshake *hs, const uint8_t *payload,
                                       size_t payload_len, uint8_t *out, size_t cap,
                                       size_t *out_len);
/* Reads the peer's next handshake message into payload (len - 48 bytes).
 * PERMISSION_DENIED for any malformed, short, long or bad-tag message or a
 * low-order key; FAILED_PRECONDITION when it is not the peer's turn;
 * INVALID_ARGUMENT when cap is too small. On failure *payload_len is untouched
 * and payload[0..cap) must be discarded. */
status_t noise_handshake_read_message(struct noise_handshake *hs, const uint8_t *msg,
                                      size_t len, uint8_t *payload, size_t cap,
                                      size_t *payload_len);
/* Split() (§5.2) into *out: the initiator sends with c1 and the responder with
 * c2. FAILED_PRECONDITION before completion; *out is untouched then. The
 * handshake stays valid for noise_handshake_get_hash. */
status_t noise_handshake_split(struct noise_handshake *hs, struct noise_transport *out);

/* Queries. */

/* True once both handshake messages have been written or read. */
int noise_handshake_is_complete(const struct noise_handshake *hs);
/* The handshake hash h; after completion this is GetHandshakeHash() (§11.2). */
void noise_handshake_get_hash(const struct noise_handshake *hs, uint8_t out[NOISE_HASH_LEN]);

/* Transport. One application message travels as a sequence of Noise messages
 * of at most 65535 bytes each, all full but possibly the last, laid out as
 * enum noise_framing says: encrypt always writes strict framing, decrypt reads
 * t->recv_framing. Associated data is empty. */

/* Wipes both keys. */
void noise_transport_clear(struct noise_transport *t);
/* The sealed size of a plaintext of len bytes, or 0 when it would not fit in a
 * size_t (0 is never a valid sealed size). */
size_t noise_transport_sealed_len(size_t plaintext_len);
/* Encrypts pt into out (cap >= noise_transport_sealed_len(len); pt and out must
 * not overlap) and advances the send nonce by one per Noise message.
 * INVALID_ARGUMENT for a short cap or an impossible length; RESOURCE_EXHAUSTED
 * when the message would need nonce 2^64-1. On failure *out_len and the nonce
 * are untouched. */
status_t noise_transport_encrypt(struct noise_transport *t, const uint8_t *pt, size_t len,
                                 uint8_t *out, size_t cap, size_t *out_len);
/* Decrypts ct (len bytes, framed as t->recv_framing says) into out (cap >=
 * plaintext size, at most len - 16, or 0 for an empty libsignal-framed
 * message, when out may be NULL; ct and out must not overlap). DATA_LOSS for a
 * bad tag, a length the framing does not allow (strict: empty, or a full last
 * message; both: a last message shorter than a tag), a replayed or reordered
 * message, or nonce exhaustion;
 * INVALID_ARGUMENT for a short cap. On failure any plaintext already written to
 * out is wiped, and *out_len and the receive nonce are untouched. */
status_t noise_transport_decrypt(struct noise_transport *t, const uint8_t *ct, size_t len,
                                 uint8_t *out, size_t cap, size_t *out_len);

#endif
