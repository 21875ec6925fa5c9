/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lua/enclavelib.h"

#include <lauxlib.h>
#include <mbedtls/sha256.h>

#include "base/log.h"
#include "base/text.h"
#include "crypto/rng.h"
#include "crypto/seal.h"
#include "lua/budget.h"
#include "lua/fixedmap.h"
#include "platform/platform.h"

/* Every function gets two upvalues: the process id, for log lines, and the
 * struct process_identity as a light userdata, for sealing. Lua code cannot
 * reach a C function's upvalues (there is no debug library), so neither
 * leaks. */
enum { UPVALUE_PID = 1, UPVALUE_IDENTITY = 2 };

/* enclave.sha256(...) -> 32 raw bytes of SHA-256 over the concatenated
 * arguments (strings or numbers). [-0, +1, e] */
static int lib_sha256(lua_State *L)
{
    int n = lua_gettop(L);
    mbedtls_sha256_context ctx;
    uint8_t digest[32];
    int rc;

    size_t total = 0;

    for (int i = 1; i <= n; i++) {
        size_t len;
        (void)luaL_checklstring(L, i, &len);
        total = len > SIZE_MAX - total ? SIZE_MAX : total + len;
    }
    /* SHA-256 costs about a VM instruction per 4 bytes. */
    budget_charge(L, 1 + (uint64_t)n + total / 4);
    mbedtls_sha256_init(&ctx);
    rc = mbedtls_sha256_starts(&ctx, 0);
    for (int i = 1; i <= n && rc == 0; i++) {
        size_t len;
        const char *s = lua_tolstring(L, i, &len);
        rc = mbedtls_sha256_update(&ctx, (const unsigned char *)s, len);
    }
    if (rc == 0) {
        rc = mbedtls_sha256_finish(&ctx, digest);
    }
    mbedtls_sha256_free(&ctx);
    if (rc != 0) {
        return luaL_error(L, "sha256 failed");
    }
    lua_pushlstring(L, (const char *)digest, sizeof(digest)); /* digest */
    return 1;
}

/* enclave.random(n) -> n bytes from the server DRBG, 0 <= n <= RANDOM_MAX.
 * [-0, +1, e] */
static int lib_random(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_Buffer b;

    luaL_argcheck(L, n >= 0 && n <= ENCLAVELIB_RANDOM_MAX, 1, "must be 0..1024");
    budget_charge(L, 1 + (uint64_t)n / 4);
    /* Fill the Lua-owned buffer directly so no copy lingers on the C stack. */
    uint8_t *buf = (uint8_t *)luaL_buffinitsize(L, &b, (size_t)n);
    if (n > 0 && rng_bytes(NULL, buf, (size_t)n) != STATUS_OK) {
        return luaL_error(L, "random source unavailable");
    }
    luaL_pushresultsize(&b, (size_t)n); /* bytes */
    return 1;
}

/* enclave.fixedmap(ksize, vsize) -> map userdata. [-0, +1, e] */
static int lib_fixedmap(lua_State *L)
{
    lua_Integer key_len = luaL_checkinteger(L, 1);
    lua_Integer value_len = luaL_checkinteger(L, 2);

    fixedmap_lua_push_new(L, key_len, value_len); /* map */
    return 1;
}

/* enclave.timestamp_micros() -> integer µs since the epoch. [-0, +1, -] */
static int lib_timestamp_micros(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)platform_time_micros()); /* now */
    return 1;
}

/* enclave.log(s): one info line tagged with the pid. [-0, +0, e] */
static int lib_log(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char line[ENCLAVELIB_LOG_MAX];

    text_sanitize(line, sizeof(line), s, len);
    LOG_I("process %u: %s", (unsigned)lua_tointeger(L, lua_upvalueindex(UPVALUE_PID)), line);
    return 0;
}

/* HsmEnclave: a missing or empty user key is 32 zero bytes, so
 * decrypt(encrypt(x), string.rep("\0", 32)) opens. */
static const uint8_t zero_user_key[SEAL_USER_KEY_LEN];

static const struct process_identity *upvalue_identity(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(UPVALUE_IDENTITY));
}

/* enclave.encrypt(pt [, userkey32]) -> sealed bytes (DESIGN §6): bound to
 * the sealing secret, this process's code hash and the 32-byte user key
 * (missing or "" = 32 zero bytes). "" seals to "". [-0, +1, e] */
static int lib_encrypt(lua_State *L)
{
    const struct process_identity *id = upvalue_identity(L);
    size_t len, key_len = 0;
    const char *pt = luaL_checklstring(L, 1, &len);
    const char *user_key = luaL_optlstring(L, 2, NULL, &key_len);
    size_t out_len = 0;
    luaL_Buffer b;
    uint8_t *out;

    luaL_argcheck(L, user_key == NULL || key_len == 0 || key_len == SEAL_USER_KEY_LEN, 2,
                  "user key must be 32 bytes");
    if (user_key == NULL || key_len == 0) {
        user_key = (const char *)zero_user_key;
    }
    if (id->sealing_secret == NULL) {
        return luaL_error(L, "sealing is not available");
    }
    luaL_argcheck(L, len <= ENCLAVELIB_SEAL_MAX, 1, "plaintext too large");
    budget_charge(L, 1 + len / 8);
    out = (uint8_t *)luaL_buffinitsize(L, &b, len + SEAL_OVERHEAD);
    if (seal_encrypt(id->sealing_secret, id->code_hash, (const uint8_t *)user_key,
                     (const uint8_t *)pt, len, rng_bytes, NULL, out, &out_len) != STATUS_OK) {
        return luaL_error(L, "encrypt failed");
    }
    luaL_pushresultsize(&b, out_len); /* sealed */
    return 1;
}

/* enclave.decrypt(ct [, userkeys]) -> plaintext; userkeys is a concatenation
 * of 32-byte keys, each tried (missing or "" = one key of 32 zero bytes). Any failure raises "decrypt failed" and says
 * nothing more. [-0, +1, e] */
static int lib_decrypt(lua_State *L)
{
    const struct process_identity *id = upvalue_identity(L);
    size_t len, keys_len = 0;
    const char *ct = luaL_checklstring(L, 1, &len);
    const char *keys = luaL_optlstring(L, 2, NULL, &keys_len);
    size_t out_len = 0;
    luaL_Buffer b;
    uint8_t *out;

    luaL_argcheck(L, keys_len % SEAL_USER_KEY_LEN == 0, 2,
                  "user keys must be a concatenation of 32-byte keys");
    if (keys == NULL || keys_len == 0) {
        keys = (const char *)zero_user_key;
        keys_len = SEAL_USER_KEY_LEN;
    }
    if (id->sealing_secret == NULL) {
        return luaL_error(L, "sealing is not available");
    }
    /* Each key tried is one pass over the ciphertext. */
    budget_charge(L, 1 + (keys_len / SEAL_USER_KEY_LEN + 1) * (len / 8));
    out = (uint8_t *)luaL_buffinitsize(L, &b, len > SEAL_OVERHEAD ? len - SEAL_OVERHEAD : 1);
    if (seal_decrypt(id->sealing_secret, id->code_hash, (const uint8_t *)keys,
                     keys_len, (const uint8_t *)ct, len, out, &out_len) != STATUS_OK) {
        return luaL_error(L, "decrypt failed");
    }
    luaL_pushresultsize(&b, out_len); /* plaintext */
    return 1;
}

static const luaL_Reg enclave_functions[] = {
    {"sha256", lib_sha256},
    {"random", lib_random},
    {"fixedmap", lib_fixedmap},
    {"timestamp_micros", lib_timestamp_micros},
    {"log", lib_log},
    {"encrypt", lib_encrypt},
    {"decrypt", lib_decrypt},
    {NULL, NULL},
};

void enclavelib_push(lua_State *L, const struct process_identity *id)
{
    fixedmap_lua_open(L);
    luaL_newlibtable(L, enclave_functions);           /* enclave */
    lua_pushinteger(L, (lua_Integer)id->pid);         /* enclave pid */
    lua_pushlightuserdata(L, (void *)id);             /* enclave pid id */
    luaL_setfuncs(L, enclave_functions, 2);           /* enclave */
}
