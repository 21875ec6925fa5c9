/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Test-only hex helpers. */
#ifndef ENCLAVED_TEST_HEX_H
#define ENCLAVED_TEST_HEX_H

#include <check.h>
#include <stdint.h>
#include <string.h>

static inline int hex_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Writes len bytes as 2 * len lowercase hex digits and a NUL into out. */
static inline void hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

/* Decodes hex into out; returns the byte count, or -1 on bad input. */
static inline long hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > cap) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_nibble(hex[2 * i]);
        int lo = hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

/* Decodes exactly len bytes or fails the current Check test. */
static inline void hex_decode_exact(const char *hex, uint8_t *out, size_t len)
{
    ck_assert_int_eq(hex_decode(hex, out, len), (long)len);
}

#endif
