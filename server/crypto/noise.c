/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Noise revision 34, as used by enclaved (DESIGN §6). The two patterns:
 *
 *   NK:                      KK:
 *     <- s                     -> s
 *     ...                      <- s
 *     -> e, es                 ...
 *     <- e, ee                 -> e, es, ss
 *                              <- e, ee, se
 *
 * with DH = X25519, cipher = ChaChaPoly (nonce = 4 zero bytes || 64-bit
 * little-endian counter), hash = SHA-256, and HKDF = RFC 5869 HKDF-SHA256 with
 * salt = chaining key and empty info, which is exactly the spec's HKDF with
 * two outputs (§4.3). No PSKs, no rekey. Each step below carries its token as a
 * comment so that review is a diff against the patterns above.
 *
 * The local static private key is never seen here: static DH goes through
 * keystore_dh. Ephemeral private keys come from the injected rng_fn.
 */
#include "crypto/noise.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/chachapoly.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "crypto/x25519.h"

enum {
    NONCE_LEN = 12,
    /* Values of noise_handshake.step besides 0 and 1 (messages done). */
    STEP_COMPLETE = 2,
    STEP_FAILED = 3,
};

/* §5.1 CipherState. */
struct cipher_state {
    uint8_t k[NOISE_KEY_LEN];
    int has_key;
    uint64_t n;
};

/* §5.2 SymmetricState. */
struct symmetric_state {
    struct cipher_state cs;
    uint8_t ck[NOISE_HASH_LEN];
    uint8_t h[NOISE_HASH_LEN];
};

/* §5.3 HandshakeState. */
struct noise_handshake {
    enum noise_pattern pattern;
    enum noise_role role;
    int step;
    const struct keystore *s;      /* borrowed; NULL for the NK initiator */
    uint8_t rs[NOISE_KEY_LEN];     /* peer static public key, when known */
    uint8_t e[NOISE_KEY_LEN];      /* ephemeral private key */
    uint8_t e_pub[NOISE_KEY_LEN];
    uint8_t re[NOISE_KEY_LEN];
    struct symmetric_state sym;
    rng_fn rng;
    void *rng_ctx;
    int e_supplied;                /* e/e_pub came from noise_handshake_use_ephemeral */
};

/* Which of a side's two keys a DH token names. */
enum key_kind { KEY_E, KEY_S };

static const char *const protocol_names[] = {
    [NOISE_PATTERN_NK] = "Noise_NK_25519_ChaChaPoly_SHA256",
    [NOISE_PATTERN_KK] = "Noise_KK_25519_ChaChaPoly_SHA256",
};

/* {====================================================================
 * Crypto functions (§4) */

static void build_nonce(uint8_t nonce[NONCE_LEN], uint64_t n)
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++) {
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
    }
}

/* ENCRYPT(k, n, ad, pt): writes len + 16 bytes (ciphertext || tag) to out. */
static status_t aead_encrypt(const uint8_t k[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad,
                             size_t ad_len, const uint8_t *pt, size_t len, uint8_t *out)
{
    mbedtls_chachapoly_context ctx;
    uint8_t nonce[NONCE_LEN];
    int rc;

    /* §5.1: nonce 2^64-1 is reserved; callers check first, this is the backstop. */
    ENSURE(n != UINT64_MAX, STATUS_RESOURCE_EXHAUSTED, "nonce exhausted");
    build_nonce(nonce, n);
    mbedtls_chachapoly_init(&ctx);
    rc = mbedtls_chachapoly_setkey(&ctx, k);
    if (rc == 0) {
        rc = mbedtls_chachapoly_encrypt_and_tag(&ctx, len, nonce, ad, ad_len, pt, out, out + len);
    }
    mbedtls_chachapoly_free(&ctx);
    ENSURE(rc == 0, STATUS_INTERNAL, "chachapoly encrypt failed");
    return STATUS_OK;
}

/* DECRYPT(k, n, ad, ct): ct is len bytes including the tag; writes len - 16
 * bytes to out, which mbedTLS wipes again when the tag is wrong. */
static status_t aead_decrypt(const uint8_t k[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad,
                             size_t ad_len, const uint8_t *ct, size_t len, uint8_t *out)
{
    mbedtls_chachapoly_context ctx;
    uint8_t nonce[NONCE_LEN];
    size_t pt_len = len - NOISE_TAG_LEN;
    int rc;

    ENCLAVED_ASSERT(len >= NOISE_TAG_LEN);
    ENSURE(n != UINT64_MAX, STATUS_DATA_LOSS, "nonce exhausted");
    build_nonce(nonce, n);
    mbedtls_chachapoly_init(&ctx);
    rc = mbedtls_chachapoly_setkey(&ctx, k);
    if (rc == 0) {
        rc = mbedtls_chachapoly_auth_decrypt(&ctx, pt_len, nonce, ad, ad_len, ct + pt_len, ct,
                                             out);
    }
    mbedtls_chachapoly_free(&ctx);
    ENSURE(rc == 0, STATUS_DATA_LOSS, "bad tag");
    return STATUS_OK;
}

/* HMAC-SHA256 (RFC 2104) for keys of at most one block (Noise's are 32
 * bytes), on mbedTLS SHA-256 contexts in caller storage. mbedtls_hkdf and
 * mbedtls_md_hmac_* allocate their contexts in mbedtls_md_setup, twice per
 * HKDF step and so 12 times per NK handshake side (DESIGN §10: no
 * allocation per handshake); this path allocates nothing. */
enum { SHA256_BLOCK_LEN = 64 };

struct hmac_sha256 {
    mbedtls_sha256_context inner;
    mbedtls_sha256_context outer;
};

static int hmac_start(struct hmac_sha256 *m, const uint8_t *key, size_t key_len)
{
    uint8_t pad[SHA256_BLOCK_LEN];
    int rc;

    ENCLAVED_ASSERT(key_len <= SHA256_BLOCK_LEN);
    mbedtls_sha256_init(&m->inner);
    mbedtls_sha256_init(&m->outer);
    memset(pad, 0x36, sizeof(pad));
    for (size_t i = 0; i < key_len; i++) {
        pad[i] ^= key[i];
    }
    rc = mbedtls_sha256_starts(&m->inner, 0);
    rc = rc != 0 ? rc : mbedtls_sha256_update(&m->inner, pad, sizeof(pad));
    memset(pad, 0x5c, sizeof(pad));
    for (size_t i = 0; i < key_len; i++) {
        pad[i] ^= key[i];
    }
    rc = rc != 0 ? rc : mbedtls_sha256_starts(&m->outer, 0);
    rc = rc != 0 ? rc : mbedtls_sha256_update(&m->outer, pad, sizeof(pad));
    mbedtls_platform_zeroize(pad, sizeof(pad));
    return rc;
}

/* Finishes the MAC into out and wipes both contexts. */
static int hmac_finish(struct hmac_sha256 *m, int rc, uint8_t out[NOISE_HASH_LEN])
{
    uint8_t inner_hash[NOISE_HASH_LEN];

    rc = rc != 0 ? rc : mbedtls_sha256_finish(&m->inner, inner_hash);
    rc = rc != 0 ? rc : mbedtls_sha256_update(&m->outer, inner_hash, sizeof(inner_hash));
    rc = rc != 0 ? rc : mbedtls_sha256_finish(&m->outer, out);
    mbedtls_platform_zeroize(inner_hash, sizeof(inner_hash));
    mbedtls_sha256_free(&m->inner);
    mbedtls_sha256_free(&m->outer);
    return rc;
}

/* HKDF(ck, ikm, 2) of §4.3 (RFC 5869 with salt = ck, empty info):
 * temp_key = HMAC(ck, ikm); out1 = HMAC(temp_key, 0x01);
 * out2 = HMAC(temp_key, out1 || 0x02). out1 may alias ck. */
static status_t hkdf2(const uint8_t ck[NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len,
                      uint8_t out1[NOISE_HASH_LEN], uint8_t out2[NOISE_HASH_LEN])
{
    static const uint8_t one = 0x01, two = 0x02;
    struct hmac_sha256 m;
    uint8_t temp_key[NOISE_HASH_LEN], t1[NOISE_HASH_LEN];
    int rc;

    rc = hmac_start(&m, ck, NOISE_HASH_LEN);
    rc = rc != 0 || ikm_len == 0 ? rc : mbedtls_sha256_update(&m.inner, ikm, ikm_len);
    rc = hmac_finish(&m, rc, temp_key);
    rc = rc != 0 ? rc : hmac_start(&m, temp_key, sizeof(temp_key));
    rc = rc != 0 ? rc : mbedtls_sha256_update(&m.inner, &one, 1);
    rc = hmac_finish(&m, rc, t1);
    rc = rc != 0 ? rc : hmac_start(&m, temp_key, sizeof(temp_key));
    rc = rc != 0 ? rc : mbedtls_sha256_update(&m.inner, t1, sizeof(t1));
    rc = rc != 0 ? rc : mbedtls_sha256_update(&m.inner, &two, 1);
    rc = hmac_finish(&m, rc, out2);
    if (rc == 0) {
        memcpy(out1, t1, NOISE_HASH_LEN);
    } else {
        mbedtls_platform_zeroize(out2, NOISE_HASH_LEN);
    }
    mbedtls_platform_zeroize(temp_key, sizeof(temp_key));
    mbedtls_platform_zeroize(t1, sizeof(t1));
    /* The software SHA-256 cannot fail; if it ever does, say so. */
    ENSURE(rc == 0, STATUS_INTERNAL, "hkdf failed");
    return STATUS_OK;
}

/* ====================================================================}
 * {====================================================================
 * SymmetricState (§5.2) */

static void mix_hash(struct symmetric_state *ss, const uint8_t *data, size_t len)
{
    mbedtls_sha256_context ctx;
    int rc;

    mbedtls_sha256_init(&ctx);
    rc = mbedtls_sha256_starts(&ctx, 0);
    if (rc == 0) {
        rc = mbedtls_sha256_update(&ctx, ss->h, NOISE_HASH_LEN);
    }
    if (rc == 0 && len > 0) {
        rc = mbedtls_sha256_update(&ctx, data, len);
    }
    if (rc == 0) {
        rc = mbedtls_sha256_finish(&ctx, ss->h);
    }
    mbedtls_sha256_free(&ctx);
    /* The software SHA-256 cannot fail; if it ever does, h is unknown. */
    ENCLAVED_ASSERT(rc == 0);
}

static status_t mix_key(struct symmetric_state *ss, const uint8_t *ikm, size_t len)
{
    uint8_t temp_k[NOISE_HASH_LEN];
    status_t st = hkdf2(ss->ck, ikm, len, ss->ck, temp_k);

    if (st == STATUS_OK) {
        /* InitializeKey(temp_k); HASHLEN is 32, so no truncation. */
        memcpy(ss->cs.k, temp_k, NOISE_KEY_LEN);
        ss->cs.has_key = 1;
        ss->cs.n = 0;
    }
    mbedtls_platform_zeroize(temp_k, sizeof(temp_k));
    return st;
}

/* Writes len (+ 16 once a key is set) bytes to out. */
static status_t encrypt_and_hash(struct symmetric_state *ss, const uint8_t *pt, size_t len,
                                 uint8_t *out)
{
    size_t out_len = len;

    if (ss->cs.has_key) {
        TRY(aead_encrypt(ss->cs.k, ss->cs.n, ss->h, NOISE_HASH_LEN, pt, len, out));
        ss->cs.n++;
        out_len += NOISE_TAG_LEN;
    } else {
        memcpy(out, pt, len);
    }
    mix_hash(ss, out, out_len);
    return STATUS_OK;
}

/* ct is len bytes; writes len (- 16 once a key is set) bytes to out. */
static status_t decrypt_and_hash(struct symmetric_state *ss, const uint8_t *ct, size_t len,
                                 uint8_t *out)
{
    if (ss->cs.has_key) {
        TRY(aead_decrypt(ss->cs.k, ss->cs.n, ss->h, NOISE_HASH_LEN, ct, len, out));
        ss->cs.n++;
    } else {
        memcpy(out, ct, len);
    }
    mix_hash(ss, ct, len);
    return STATUS_OK;
}

/* ====================================================================}
 * {====================================================================
 * HandshakeState (§5.3) */

/* The public half of a static key: ours from the keystore, the peer's as given. */
static const uint8_t *static_public(const struct noise_handshake *hs, enum noise_role owner)
{
    return owner == hs->role ? keystore_public_key(hs->s) : hs->rs;
}

/* MixKey(DH(x, y)) for the token "xy", where x names the initiator's key and y
 * the responder's (so "se" is initiator s with responder e). Each side uses its
 * own private key and the peer's public key, so both roles make the same call. */
static status_t mix_dh(struct noise_handshake *hs, enum key_kind init_key,
                       enum key_kind resp_key)
{
    enum key_kind local = hs->role == NOISE_ROLE_INITIATOR ? init_key : resp_key;
    enum key_kind remote = hs->role == NOISE_ROLE_INITIATOR ? resp_key : init_key;
    const uint8_t *peer = remote == KEY_E ? hs->re : hs->rs;
    uint8_t dh[NOISE_KEY_LEN];
    status_t st;

    if (local == KEY_S) {
        st = keystore_dh(hs->s, peer, dh);
    } else {
        st = x25519(dh, hs->e, peer);
    }
    if (st == STATUS_OK) {
        st = mix_key(&hs->sym, dh, sizeof(dh));
    }
    mbedtls_platform_zeroize(dh, sizeof(dh));
    return st;
}

/* The DH tokens of the current message, which come after its `e`. */
static status_t mix_message_dhs(struct noise_handshake *hs)
{
    if (hs->step == 0) {
        /* es */
        TRY(mix_dh(hs, KEY_E, KEY_S));
        if (hs->pattern == NOISE_PATTERN_KK) {
            /* ss */
            TRY(mix_dh(hs, KEY_S, KEY_S));
        }
        return STATUS_OK;
    }
    /* ee */
    TRY(mix_dh(hs, KEY_E, KEY_E));
    if (hs->pattern == NOISE_PATTERN_KK) {
        /* se */
        TRY(mix_dh(hs, KEY_S, KEY_E));
    }
    return STATUS_OK;
}

/* Message 0 is the initiator's, message 1 the responder's. */
static enum noise_role writer_of_step(int step)
{
    return step == 0 ? NOISE_ROLE_INITIATOR : NOISE_ROLE_RESPONDER;
}

static status_t write_message(struct noise_handshake *hs, const uint8_t *payload,
                              size_t payload_len, uint8_t *out)
{
    /* e */
    if (!hs->e_supplied) {
        TRY(hs->rng(hs->rng_ctx, hs->e, NOISE_KEY_LEN));
        x25519_public_key(hs->e_pub, hs->e);
    }
    hs->e_supplied = 0;
    memcpy(out, hs->e_pub, NOISE_KEY_LEN);
    mix_hash(&hs->sym, hs->e_pub, NOISE_KEY_LEN);
    /* es, ss | ee, se */
    TRY(mix_message_dhs(hs));
    /* payload */
    return encrypt_and_hash(&hs->sym, payload, payload_len, out + NOISE_KEY_LEN);
}

static status_t read_message(struct noise_handshake *hs, const uint8_t *msg, size_t len,
                             uint8_t *payload)
{
    status_t st;

    /* e */
    memcpy(hs->re, msg, NOISE_KEY_LEN);
    mix_hash(&hs->sym, hs->re, NOISE_KEY_LEN);
    /* es, ss | ee, se */
    TRY(mix_message_dhs(hs));
    /* payload */
    st = decrypt_and_hash(&hs->sym, msg + NOISE_KEY_LEN, len - NOISE_KEY_LEN, payload);
    ENSURE(st == STATUS_OK, STATUS_PERMISSION_DENIED, "handshake payload failed to decrypt");
    return STATUS_OK;
}

/* Counts a message done, or marks the handshake failed. The ephemeral private
 * key is wiped as soon as no token needs it. */
static void finish_step(struct noise_handshake *hs, status_t st)
{
    if (st != STATUS_OK) {
        hs->step = STEP_FAILED;
    } else {
        hs->step++;
    }
    if (hs->step >= STEP_COMPLETE) {
        mbedtls_platform_zeroize(hs->e, sizeof(hs->e));
    }
}

/* ====================================================================}
 * Public API */

status_t noise_handshake_new(enum noise_pattern pattern, enum noise_role role,
                             const struct keystore *local_static, const uint8_t *remote_static,
                             const uint8_t *prologue, size_t prologue_len, rng_fn rng,
                             void *rng_ctx, struct noise_handshake **out)
{
    int nk_initiator = pattern == NOISE_PATTERN_NK && role == NOISE_ROLE_INITIATOR;
    int nk_responder = pattern == NOISE_PATTERN_NK && role == NOISE_ROLE_RESPONDER;
    struct noise_handshake *hs;
    const char *name;

    ENSURE(pattern == NOISE_PATTERN_NK || pattern == NOISE_PATTERN_KK,
           STATUS_INVALID_ARGUMENT, "unknown noise pattern");
    ENSURE(role == NOISE_ROLE_INITIATOR || role == NOISE_ROLE_RESPONDER,
           STATUS_INVALID_ARGUMENT, "unknown noise role");
    ENSURE(nk_initiator || local_static != NULL, STATUS_INVALID_ARGUMENT,
           "pattern needs a local static key");
    ENSURE(nk_responder || remote_static != NULL, STATUS_INVALID_ARGUMENT,
           "pattern needs the remote static key");
    ENSURE(prologue != NULL || prologue_len == 0, STATUS_INVALID_ARGUMENT, "NULL prologue");
    ENSURE(rng != NULL, STATUS_INVALID_ARGUMENT, "no rng");
    hs = calloc(1, sizeof(*hs));
    ENSURE(hs != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    hs->pattern = pattern;
    hs->role = role;
    hs->s = nk_initiator ? NULL : local_static;
    if (!nk_responder) {
        memcpy(hs->rs, remote_static, NOISE_KEY_LEN);
    }
    hs->rng = rng;
    hs->rng_ctx = rng_ctx;

    /* InitializeSymmetric: both names are exactly HASHLEN bytes, so h = name. */
    name = protocol_names[pattern];
    ENCLAVED_ASSERT(strlen(name) == NOISE_HASH_LEN);
    memcpy(hs->sym.h, name, NOISE_HASH_LEN);
    memcpy(hs->sym.ck, hs->sym.h, NOISE_HASH_LEN);
    mix_hash(&hs->sym, prologue, prologue_len);

    /* Pre-messages, initiator's first (§7.1). */
    if (pattern == NOISE_PATTERN_KK) {
        /* -> s */
        mix_hash(&hs->sym, static_public(hs, NOISE_ROLE_INITIATOR), NOISE_KEY_LEN);
    }
    /* <- s */
    mix_hash(&hs->sym, static_public(hs, NOISE_ROLE_RESPONDER), NOISE_KEY_LEN);
    *out = hs;
    return STATUS_OK;
}

status_t noise_handshake_use_ephemeral(struct noise_handshake *hs,
                                       const uint8_t private_key[NOISE_KEY_LEN],
                                       const uint8_t public_key[NOISE_KEY_LEN])
{
    ENSURE(!noise_handshake_is_complete(hs), STATUS_FAILED_PRECONDITION,
           "handshake already complete");
    memcpy(hs->e, private_key, NOISE_KEY_LEN);
    memcpy(hs->e_pub, public_key, NOISE_KEY_LEN);
    hs->e_supplied = 1;
    return STATUS_OK;
}

void noise_handshake_free(struct noise_handshake *hs)
{
    if (hs == NULL) {
        return;
    }
    mbedtls_platform_zeroize(hs, sizeof(*hs));
    free(hs);
}

status_t noise_handshake_write_message(struct noise_handshake *hs, const uint8_t *payload,
                                       size_t payload_len, uint8_t *out, size_t cap,
                                       size_t *out_len)
{
    status_t st;

    ENSURE(hs->step < STEP_COMPLETE && writer_of_step(hs->step) == hs->role,
           STATUS_FAILED_PRECONDITION, "not this side's turn to write");
    ENSURE(payload_len <= NOISE_MAX_HANDSHAKE_PAYLOAD, STATUS_INVALID_ARGUMENT,
           "handshake payload too long");
    ENSURE(payload != NULL || payload_len == 0, STATUS_INVALID_ARGUMENT, "NULL payload");
    ENSURE(cap >= payload_len + NOISE_HANDSHAKE_OVERHEAD, STATUS_INVALID_ARGUMENT,
           "handshake output buffer too small");
    st = write_message(hs, payload, payload_len, out);
    finish_step(hs, st);
    TRY(st);
    *out_len = payload_len + NOISE_HANDSHAKE_OVERHEAD;
    return STATUS_OK;
}

status_t noise_handshake_read_message(struct noise_handshake *hs, const uint8_t *msg,
                                      size_t len, uint8_t *payload, size_t cap,
                                      size_t *payload_len)
{
    status_t st;

    ENSURE(hs->step < STEP_COMPLETE && writer_of_step(hs->step) != hs->role,
           STATUS_FAILED_PRECONDITION, "not the peer's turn to write");
    if (len < NOISE_HANDSHAKE_OVERHEAD || len > NOISE_MAX_MESSAGE_LEN) {
        finish_step(hs, STATUS_PERMISSION_DENIED);
        FAIL(STATUS_PERMISSION_DENIED, "handshake message has a bad length");
    }
    ENSURE(cap >= len - NOISE_HANDSHAKE_OVERHEAD, STATUS_INVALID_ARGUMENT,
           "handshake payload buffer too small");
    st = read_message(hs, msg, len, payload);
    finish_step(hs, st);
    TRY(st);
    *payload_len = len - NOISE_HANDSHAKE_OVERHEAD;
    return STATUS_OK;
}

int noise_handshake_is_complete(const struct noise_handshake *hs)
{
    return hs->step == STEP_COMPLETE;
}

void noise_handshake_get_hash(const struct noise_handshake *hs, uint8_t out[NOISE_HASH_LEN])
{
    memcpy(out, hs->sym.h, NOISE_HASH_LEN);
}

status_t noise_handshake_split(struct noise_handshake *hs, struct noise_transport *out)
{
    uint8_t c1[NOISE_KEY_LEN];
    uint8_t c2[NOISE_KEY_LEN];
    status_t st;

    ENSURE(hs->step == STEP_COMPLETE, STATUS_FAILED_PRECONDITION, "handshake not complete");
    st = hkdf2(hs->sym.ck, NULL, 0, c1, c2);
    if (st != STATUS_OK) {
        goto out;
    }
    /* The initiator sends with c1, the responder with c2. */
    if (hs->role == NOISE_ROLE_INITIATOR) {
        memcpy(out->send.key, c1, NOISE_KEY_LEN);
        memcpy(out->recv.key, c2, NOISE_KEY_LEN);
    } else {
        memcpy(out->send.key, c2, NOISE_KEY_LEN);
        memcpy(out->recv.key, c1, NOISE_KEY_LEN);
    }
    out->send.nonce = 0;
    out->recv.nonce = 0;
    out->recv_framing = NOISE_FRAMING_STRICT;
out:
    mbedtls_platform_zeroize(c1, sizeof(c1));
    mbedtls_platform_zeroize(c2, sizeof(c2));
    return st;
}

/* {====================================================================
 * Transport */

/* SHA-256("enclaved-noise-strict-framing-v1"); test_noise recomputes it. */
const uint8_t noise_strict_framing_marker[NOISE_HASH_LEN] = {
    0x72, 0x57, 0x6f, 0x75, 0x89, 0x38, 0x5d, 0x5a, 0x0a, 0x68, 0x1a, 0x4e, 0xd4, 0x08, 0x23, 0xce,
    0x84, 0x99, 0x12, 0x3f, 0xb7, 0x19, 0x93, 0x3c, 0xba, 0x6f, 0xae, 0xfd, 0x38, 0x5a, 0x44, 0x6d,
};

/* Where one Noise message of a sealed application message lives: plaintext
 * [pt_off, pt_off + pt_len) <-> ciphertext [ct_off, ct_off + pt_len + 16). */
struct chunk {
    size_t pt_off;
    size_t pt_len;
    size_t ct_off;
};

/* Chunk i of a message is a function of the plaintext length alone, and this
 * is the only place that computes it. Encrypt and decrypt both walk it
 * through crypt_chunks below (HsmEnclave's two loops disagreed and its
 * decrypt over-read); only the chunk count differs between the framings.
 *
 * Strict framing (what encrypt writes): every chunk is full except the last,
 * which never is: a plaintext that fills k chunks exactly gets an empty
 * (tag-only) chunk k + 1. So the last Noise message of a sealed message is
 * always shorter than 65535 bytes, and a message cut at a chunk boundary has
 * an impossible length instead of decrypting as its own prefix. libsignal
 * framing stops after chunk k, and sends no chunk at all for an empty
 * plaintext; decrypt takes the count from the ciphertext length. */
static size_t chunk_count(size_t pt_len)
{
    return pt_len / NOISE_MAX_CHUNK_PLAINTEXT + 1;
}

static struct chunk chunk_at(size_t pt_len, size_t index)
{
    struct chunk c;

    c.pt_off = index * NOISE_MAX_CHUNK_PLAINTEXT;
    c.pt_len = pt_len - c.pt_off;
    if (c.pt_len > NOISE_MAX_CHUNK_PLAINTEXT) {
        c.pt_len = NOISE_MAX_CHUNK_PLAINTEXT;
    }
    c.ct_off = index * NOISE_MAX_MESSAGE_LEN;
    return c;
}

size_t noise_transport_sealed_len(size_t plaintext_len)
{
    size_t count = chunk_count(plaintext_len);

    if (count > (SIZE_MAX - plaintext_len) / NOISE_TAG_LEN) {
        return 0;
    }
    return plaintext_len + count * NOISE_TAG_LEN;
}

/* How many Noise messages ct_len bytes hold: all full but the last. */
static size_t count_messages(size_t ct_len)
{
    return ct_len / NOISE_MAX_MESSAGE_LEN + (ct_len % NOISE_MAX_MESSAGE_LEN != 0);
}

/* The plaintext length of a received message of ct_len bytes in Noise
 * messages of *count. DATA_LOSS when the framing allows no such length:
 * strict only takes what encrypt produces (not empty, never a full last
 * message); both refuse a last message shorter than a tag. */
static status_t opened_len(enum noise_framing framing, size_t ct_len, size_t *pt_len,
                           size_t *count)
{
    size_t n = count_messages(ct_len);
    size_t last = ct_len - (n > 0 ? (n - 1) * NOISE_MAX_MESSAGE_LEN : 0);

    if (framing == NOISE_FRAMING_STRICT) {
        ENSURE(ct_len != 0, STATUS_DATA_LOSS, "empty transport message (strict framing)");
        ENSURE(last != NOISE_MAX_MESSAGE_LEN, STATUS_DATA_LOSS,
               "last Noise message is full (strict framing): cut at a chunk boundary");
    } else {
        ENSURE(framing == NOISE_FRAMING_LIBSIGNAL, STATUS_DATA_LOSS, "unknown framing");
    }
    ENSURE(ct_len == 0 || last >= NOISE_TAG_LEN, STATUS_DATA_LOSS,
           "last Noise message shorter than a tag");
    *pt_len = ct_len - n * NOISE_TAG_LEN;
    *count = n;
    return STATUS_OK;
}

/* Encrypts (in = plaintext, out = ciphertext) or decrypts (the reverse) the
 * count Noise messages of a message of pt_len plaintext bytes with nonces
 * c->nonce, c->nonce + 1, ... Does not advance c->nonce. */
static status_t crypt_chunks(const struct noise_cipher *c, int encrypt, const uint8_t *in,
                             size_t pt_len, size_t count, uint8_t *out)
{
    for (size_t i = 0; i < count; i++) {
        struct chunk ch = chunk_at(pt_len, i);

        if (encrypt) {
            TRY(aead_encrypt(c->key, c->nonce + i, NULL, 0, in + ch.pt_off, ch.pt_len,
                             out + ch.ct_off));
        } else {
            TRY(aead_decrypt(c->key, c->nonce + i, NULL, 0, in + ch.ct_off,
                             ch.pt_len + NOISE_TAG_LEN, out + ch.pt_off));
        }
    }
    return STATUS_OK;
}

/* True when count more nonces are available without reaching 2^64-1. */
static int nonces_left(const struct noise_cipher *c, size_t count)
{
    /* The last nonce used is nonce + count - 1, which must stay below 2^64-1. */
    return count >= 1 && (uint64_t)count <= UINT64_MAX - c->nonce;
}

void noise_transport_clear(struct noise_transport *t)
{
    mbedtls_platform_zeroize(t, sizeof(*t));
}

status_t noise_transport_encrypt(struct noise_transport *t, const uint8_t *pt, size_t len,
                                 uint8_t *out, size_t cap, size_t *out_len)
{
    size_t sealed = noise_transport_sealed_len(len);
    size_t count = chunk_count(len);

    ENSURE(sealed != 0, STATUS_INVALID_ARGUMENT, "plaintext too long");
    ENSURE(pt != NULL || len == 0, STATUS_INVALID_ARGUMENT, "NULL plaintext");
    ENSURE(cap >= sealed, STATUS_INVALID_ARGUMENT, "ciphertext buffer too small");
    ENSURE(nonces_left(&t->send, count), STATUS_RESOURCE_EXHAUSTED, "send nonces exhausted");
    TRY(crypt_chunks(&t->send, 1, pt, len, count, out));
    t->send.nonce += count;
    *out_len = sealed;
    return STATUS_OK;
}

status_t noise_transport_decrypt(struct noise_transport *t, const uint8_t *ct, size_t len,
                                 uint8_t *out, size_t cap, size_t *out_len)
{
    size_t pt_len = 0;
    size_t count = 0;
    status_t st;

    TRY(opened_len(t->recv_framing, len, &pt_len, &count));
    ENSURE(cap >= pt_len, STATUS_INVALID_ARGUMENT, "plaintext buffer too small");
    if (count == 0) {
        /* libsignal's empty plaintext: no Noise message, no nonce used. */
        *out_len = 0;
        return STATUS_OK;
    }
    ENSURE(nonces_left(&t->recv, count), STATUS_DATA_LOSS, "receive nonces exhausted");
    st = crypt_chunks(&t->recv, 0, ct, pt_len, count, out);
    if (st != STATUS_OK) {
        /* Earlier chunks were authentic, but the message as a whole is not. */
        mbedtls_platform_zeroize(out, pt_len);
        return st;
    }
    t->recv.nonce += count;
    *out_len = pt_len;
    return STATUS_OK;
}

/* ====================================================================} */
