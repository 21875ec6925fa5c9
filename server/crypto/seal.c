/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Sealing; the key schedule and format are described in seal.h. */
#include "crypto/seal.h"

#include <string.h>

#include <mbedtls/chachapoly.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

enum { KEY_LEN = 32, HEADER_LEN = 1 + SEAL_IV_LEN, NONCE_LEN = 12 };

/* HKDF-SHA256 with no salt and a 32-byte output. */
static status_t derive_key(const uint8_t ikm[KEY_LEN], const uint8_t *info, size_t info_len,
                           uint8_t out[KEY_LEN])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    int rc = mbedtls_hkdf(md, NULL, 0, ikm, KEY_LEN, info, info_len, out, KEY_LEN);

    ENSURE(rc != MBEDTLS_ERR_MD_ALLOC_FAILED, STATUS_RESOURCE_EXHAUSTED, "hkdf out of memory");
    ENSURE(rc == 0, STATUS_INTERNAL, "hkdf failed");
    return STATUS_OK;
}

/* The message key for the IV in header and an optional user key. */
static status_t derive_message_key(const uint8_t process_key[KEY_LEN],
                                   const uint8_t header[HEADER_LEN], const uint8_t *user_key,
                                   uint8_t out[KEY_LEN])
{
    uint8_t info[SEAL_IV_LEN + SEAL_USER_KEY_LEN];
    size_t info_len = SEAL_IV_LEN;
    status_t st;

    memcpy(info, header + 1, SEAL_IV_LEN);
    if (user_key != NULL) {
        memcpy(info + SEAL_IV_LEN, user_key, SEAL_USER_KEY_LEN);
        info_len += SEAL_USER_KEY_LEN;
    }
    st = derive_key(process_key, info, info_len, out);
    mbedtls_platform_zeroize(info, sizeof(info));
    return st;
}

/* Opens body (len bytes of ciphertext, then the tag) with one candidate key. */
static status_t open_with(const uint8_t process_key[KEY_LEN], const uint8_t *user_key,
                          const uint8_t header[HEADER_LEN], const uint8_t *body, size_t len,
                          uint8_t *out)
{
    static const uint8_t zero_nonce[NONCE_LEN];
    mbedtls_chachapoly_context ctx;
    uint8_t key[KEY_LEN];
    status_t st;
    int rc;

    mbedtls_chachapoly_init(&ctx);
    st = derive_message_key(process_key, header, user_key, key);
    if (st != STATUS_OK) {
        goto out;
    }
    rc = mbedtls_chachapoly_setkey(&ctx, key);
    if (rc == 0) {
        rc = mbedtls_chachapoly_auth_decrypt(&ctx, len, zero_nonce, header, HEADER_LEN,
                                             body + len, body, out);
    }
    if (rc != 0) {
        st = status_trail_push(STATUS_DATA_LOSS, "sealed data failed to open", __FILE__,
                               __LINE__);
    }
out:
    mbedtls_chachapoly_free(&ctx);
    mbedtls_platform_zeroize(key, sizeof(key));
    return st;
}

status_t seal_encrypt(const uint8_t secret[SEAL_SECRET_LEN],
                      const uint8_t code_hash[SEAL_CODE_HASH_LEN], const uint8_t *user_key,
                      const uint8_t *pt, size_t len, rng_fn rng, void *rng_ctx, uint8_t *out,
                      size_t *out_len)
{
    static const uint8_t zero_nonce[NONCE_LEN];
    mbedtls_chachapoly_context ctx;
    uint8_t process_key[KEY_LEN];
    uint8_t key[KEY_LEN];
    status_t st;
    int rc;

    if (len == 0) {
        *out_len = 0;
        return STATUS_OK;
    }
    ENSURE(len <= SIZE_MAX - SEAL_OVERHEAD, STATUS_INVALID_ARGUMENT, "plaintext too long");
    mbedtls_chachapoly_init(&ctx);
    out[0] = SEAL_VERSION;
    st = rng(rng_ctx, out + 1, SEAL_IV_LEN);
    if (st != STATUS_OK) {
        goto out;
    }
    st = derive_key(secret, code_hash, SEAL_CODE_HASH_LEN, process_key);
    if (st != STATUS_OK) {
        goto out;
    }
    st = derive_message_key(process_key, out, user_key, key);
    if (st != STATUS_OK) {
        goto out;
    }
    rc = mbedtls_chachapoly_setkey(&ctx, key);
    if (rc == 0) {
        rc = mbedtls_chachapoly_encrypt_and_tag(&ctx, len, zero_nonce, out, HEADER_LEN, pt,
                                                out + HEADER_LEN, out + HEADER_LEN + len);
    }
    if (rc != 0) {
        st = status_trail_push(STATUS_INTERNAL, "chachapoly encrypt failed", __FILE__, __LINE__);
        goto out;
    }
    *out_len = len + SEAL_OVERHEAD;
out:
    mbedtls_chachapoly_free(&ctx);
    mbedtls_platform_zeroize(process_key, sizeof(process_key));
    mbedtls_platform_zeroize(key, sizeof(key));
    return st;
}

status_t seal_decrypt(const uint8_t secret[SEAL_SECRET_LEN],
                      const uint8_t code_hash[SEAL_CODE_HASH_LEN], const uint8_t *user_keys,
                      size_t user_keys_len, const uint8_t *ct, size_t len, uint8_t *out,
                      size_t *out_len)
{
    uint8_t process_key[KEY_LEN];
    size_t key_count = user_keys_len / SEAL_USER_KEY_LEN;
    size_t body_len;
    status_t st;

    ENSURE(user_keys_len % SEAL_USER_KEY_LEN == 0, STATUS_INVALID_ARGUMENT,
           "user keys are not a whole number of keys");
    if (len == 0) {
        *out_len = 0;
        return STATUS_OK;
    }
    ENSURE(len >= SEAL_OVERHEAD, STATUS_DATA_LOSS, "sealed data too short");
    ENSURE(ct[0] == SEAL_VERSION, STATUS_DATA_LOSS, "unknown sealed data version");
    body_len = len - SEAL_OVERHEAD;
    st = derive_key(secret, code_hash, SEAL_CODE_HASH_LEN, process_key);
    if (st != STATUS_OK) {
        goto out;
    }
    if (key_count == 0) {
        st = open_with(process_key, NULL, ct, ct + HEADER_LEN, body_len, out);
    }
    for (size_t i = 0; i < key_count; i++) {
        st = open_with(process_key, user_keys + i * SEAL_USER_KEY_LEN, ct, ct + HEADER_LEN,
                       body_len, out);
        if (st == STATUS_OK) {
            break;
        }
    }
    if (st == STATUS_OK) {
        *out_len = body_len;
    }
out:
    mbedtls_platform_zeroize(process_key, sizeof(process_key));
    return st;
}
