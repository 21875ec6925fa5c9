/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclaved's mbedTLS 3.6 configuration: only what Noise (DESIGN §6) and
 * sealing need. X25519 is HACL* Curve25519 from Project Everest, which mbedTLS
 * only compiles when the ECDH/ECP chain that fronts it is enabled; we call the
 * HACL* routine directly (server/x25519.c) and the linker drops the rest.
 * Entropy comes from server/platform_*.c, never from mbedTLS's own probe.
 */
#ifndef ENCLAVED_MBEDTLS_CONFIG_H
#define ENCLAVED_MBEDTLS_CONFIG_H

#define MBEDTLS_NO_PLATFORM_ENTROPY

#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_MD_C
#define MBEDTLS_HKDF_C
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_CTR_DRBG_C

#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED

#endif
