/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * What the fuzz targets and their seed generator (fuzz_seedgen.c) must agree
 * on: fixed static keys, the apps the targets load, the input layouts, and a
 * deterministic rng seeded from the input. A seed stays meaningful only while
 * both sides build the same state from it, so they share this file.
 */
#ifndef ENCLAVED_TEST_FUZZ_FIXTURES_H
#define ENCLAVED_TEST_FUZZ_FIXTURES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crypto/keystore.h"
#include "crypto/noise.h"
#include "base/status.h"

/* Static private keys: the server (session target, NK/KK responder) and a
 * peer enclave or client (KK initiator). */
#define FX_SERVER_KEY_BYTE 0x11
#define FX_PEER_KEY_BYTE 0x33
#define FX_SEALING_BYTE 0x22

/* fuzz_session: the process created at setup. "close" makes it close the
 * channel; anything else is echoed. */
static const char fx_echo_app[] =
    "function HandleChannelCreate(cid, t) return {{cid, 'hello ' .. t}} end\n"
    "function HandleChannelMessage(cid, msg)\n"
    "  if msg == 'close' then return {{cid, STATUS_OK}} end\n"
    "  return {{cid, msg}}\n"
    "end\n"
    "function HandleChannelClose(cid) end\n";

/* fuzz_session input: flags, three read sizes (0: the rest), then the bytes
 * of the connection. */
enum {
    FX_SESSION_HEADER = 4,
    FX_SESSION_EXPIRE = 1,   /* flag: run the handshake timers past every deadline */
    FX_SESSION_LAZY = 2,     /* flag: drain output only when the session pauses */
};

/* fuzz_noise input: mode, 8-byte rng seed, then the bytes under test. */
enum {
    FX_NOISE_HEADER = 9,
    FX_NOISE_NK_RESPONDER = 0,
    FX_NOISE_KK_RESPONDER = 1,
    FX_NOISE_KK_INITIATOR = 2,   /* reads message 2 after writing message 1 */
    FX_NOISE_DECRYPT = 3,        /* transport decrypt of the rest */
    FX_NOISE_ROUND_TRIP = 4,     /* encrypt->decrypt near 65535*k */
    FX_NOISE_MODES = 5,
};

/* fuzz_seal input: a flags byte, an 8-byte rng seed (the IV of a round
 * trip, the spot a tamper hits), then the bytes under test: a sealed blob
 * (decrypt) or a plaintext (round trip). The secret, code hash and user
 * keys are fixed (fx_seal_*). */
enum {
    FX_SEAL_HEADER = 9,
    FX_SEAL_KEYS_MASK = 3,       /* bits 0-1: how many user keys decrypt tries */
    FX_SEAL_ROUND_TRIP = 4,      /* bit 2: seal the rest first, then open it */
    FX_SEAL_SEALER_SHIFT = 3,    /* bits 3-4: round trip sealed with key 0..2, or 3: none */
    FX_SEAL_TAMPER = 32,         /* bit 5: flip one bit of the sealed blob first */
    FX_SEAL_RAGGED_KEYS = 64,    /* bit 6: user keys one byte short of whole keys */
    FX_SEAL_USER_KEYS = 3,
};

static const uint8_t fx_seal_secret[32] = {
    0x53, 0x65, 0x61, 0x6c, 0x69, 0x6e, 0x67, 0x20, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x20, 0x21,
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
};

static const uint8_t fx_seal_code_hash[32] = {
    0xc0, 0xde, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
    0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
};

/* User key i is 32 bytes of 0xa0 + i. */
static inline void fx_seal_user_keys(uint8_t keys[FX_SEAL_USER_KEYS * 32])
{
    for (size_t i = 0; i < FX_SEAL_USER_KEYS; i++) {
        memset(keys + i * 32, 0xa0 + (int)i, 32);
    }
}

/* splitmix64 over a seed taken from the input: deterministic ephemerals. */
struct fx_rng {
    uint64_t state;
};

static inline uint64_t fx_rng_next(struct fx_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline status_t fx_rng_bytes(void *ctx, uint8_t *buf, size_t len)
{
    struct fx_rng *r = ctx;

    while (len > 0) {
        uint64_t v = fx_rng_next(r);
        size_t n = len < sizeof(v) ? len : sizeof(v);
        memcpy(buf, &v, n);
        buf += n;
        len -= n;
    }
    return STATUS_OK;
}

static inline uint64_t fx_load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static inline struct keystore *fx_keystore(uint8_t key_byte)
{
    uint8_t priv[32], secret[32];
    struct keystore *ks = NULL;

    memset(priv, key_byte, sizeof(priv));
    memset(secret, FX_SEALING_BYTE, sizeof(secret));
    ENCLAVED_ASSERT(keystore_new(priv, secret, &ks) == STATUS_OK);
    return ks;
}

/* A whole NK handshake between a client (ephemeral from rng) and the server
 * key, in process: fills the client's and the server's transports. The
 * payloads are fixed, so the keys depend only on the rng seed. */
static inline void fx_nk_pair(struct fx_rng *rng, const struct keystore *server,
                              struct noise_transport *client_t, struct noise_transport *server_t)
{
    struct noise_handshake *c = NULL, *s = NULL;
    uint8_t m1[64], m2[64], pl[64];
    size_t m1_len = 0, m2_len = 0, pl_len = 0;

    ENCLAVED_ASSERT(noise_handshake_new(NOISE_PATTERN_NK, NOISE_ROLE_INITIATOR, NULL,
                                        keystore_public_key(server), NULL, 0, fx_rng_bytes, rng,
                                        &c) == STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_new(NOISE_PATTERN_NK, NOISE_ROLE_RESPONDER, server, NULL, NULL,
                                        0, fx_rng_bytes, rng, &s) == STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_write_message(c, (const uint8_t *)"c", 1, m1, sizeof(m1),
                                                  &m1_len) == STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_read_message(s, m1, m1_len, pl, sizeof(pl), &pl_len) ==
                    STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_write_message(s, (const uint8_t *)"s", 1, m2, sizeof(m2),
                                                  &m2_len) == STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_read_message(c, m2, m2_len, pl, sizeof(pl), &pl_len) ==
                    STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_split(c, client_t) == STATUS_OK);
    ENCLAVED_ASSERT(noise_handshake_split(s, server_t) == STATUS_OK);
    noise_handshake_free(c);
    noise_handshake_free(s);
}

/* fuzz_hook_output: an app that interprets the message as a byte code for
 * the value HandleChannelMessage returns (no load). Each value starts with
 * an op byte (taken mod 14); running off the end reads zero bytes.
 *   0 n v*      array of n%6 values          7 b     integer b%20 (STATUS_*-ish)
 *   1 c v       the pair {cid c, v}          8       nil
 *   2 n s       string of n%16 input bytes   9 t k v t[k] = v (t not a table: {})
 *   3 b         integer b-128                10 b    string of 64*b bytes
 *   4 8B        little-endian int64          11 b    error() with a b-byte message
 *   5 8B        little-endian double         12 n v  array of n copies of v
 *   6 b         boolean b%2==1               13 k    function, coroutine, table
 *                                                    with a metatable, or -0.0
 * A cid byte c picks an open channel (c%8 < 4), the first one plus 1+c/8,
 * -(c/8), 2^32-1+c/8, or the first one as a float. Nesting stops at depth 10. */
static const char fx_hook_app[] =
    "local open = {}\n"
    "function HandleChannelCreate(cid, t) open[#open + 1] = cid end\n"
    "local msg, pad, pos, depth\n"
    "local function u8()\n"
    "  local b = string.byte(msg, pos)\n"
    "  if b == nil then return 0 end\n"
    "  pos = pos + 1\n"
    "  return b\n"
    "end\n"
    "local function cid()\n"
    "  local b = u8()\n"
    "  local k, n = b % 8, b >> 3\n"
    "  if k < 4 then return open[n % #open + 1] end\n"
    "  if k == 4 then return open[1] + n + 1 end\n"
    "  if k == 5 then return -n end\n"
    "  if k == 6 then return 0xffffffff + n end\n"
    "  return open[1] + 0.0\n"
    "end\n"
    "local value\n"
    "value = function()\n"
    "  local op = u8() % 14\n"
    "  if depth >= 10 and (op <= 1 or op == 9 or op == 12) then return 0 end\n"
    "  depth = depth + 1\n"
    "  local v\n"
    "  if op == 0 then\n"
    "    v = {}\n"
    "    for i = 1, u8() % 6 do v[i] = value() end\n"
    "  elseif op == 1 then\n"
    "    local c = cid()\n"
    "    v = {c, value()}\n"
    "  elseif op == 2 then\n"
    "    local n = u8() % 16\n"
    "    v = string.sub(msg, pos, pos + n - 1)\n"
    "    pos = math.min(pos + n, #msg + 1)\n"
    "  elseif op == 3 then v = u8() - 128\n"
    "  elseif op == 4 or op == 5 then\n"
    "    v, pos = string.unpack(op == 4 and '<i8' or '<d', pad, pos)\n"
    "    pos = math.min(pos, #msg + 1)\n"
    "  elseif op == 6 then v = u8() % 2 == 1\n"
    "  elseif op == 7 then v = u8() % 20\n"
    "  elseif op == 8 then v = nil\n"
    "  elseif op == 9 then\n"
    "    v = value()\n"
    "    if type(v) ~= 'table' then v = {} end\n"
    "    local k = value()\n"
    "    local x = value()\n"
    "    if k ~= nil and k == k then v[k] = x end\n"
    "  elseif op == 10 then v = string.rep('x', 64 * u8())\n"
    "  elseif op == 11 then error(string.rep('e', u8()))\n"
    "  elseif op == 12 then\n"
    "    local n, x = u8(), value()\n"
    "    v = {}\n"
    "    for i = 1, n do v[i] = x end\n"
    "  else\n"
    "    local k = u8() % 4\n"
    "    if k == 0 then v = function() end\n"
    "    elseif k == 1 then v = coroutine.create(function() end)\n"
    "    elseif k == 2 then\n"
    "      v = setmetatable({}, {__len = function() return 3 end,\n"
    "                            __index = function() return {open[1], 'meta'} end})\n"
    "    else v = -0.0 end\n"
    "  end\n"
    "  depth = depth - 1\n"
    "  return v\n"
    "end\n"
    "function HandleChannelMessage(c, m)\n"
    "  msg, pad, pos, depth = m, m .. string.rep('\\0', 8), 1, 0\n"
    "  return value()\n"
    "end\n";

/* fuzz_hook_output: channels opened at setup, and the input layout (one
 * byte picking the channel, then the program). */
enum { FX_HOOK_CHANNELS = 3, FX_HOOK_FIRST_CID = 7, FX_HOOK_MAX_OUTPUTS = 8,
       FX_HOOK_MAX_MESSAGE = 1000 };

#endif
