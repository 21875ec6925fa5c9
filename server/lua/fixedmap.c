/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lua/fixedmap.h"

#include <string.h>

#include <lauxlib.h>
#include <mbedtls/platform_util.h>

#include "crypto/rng.h"
#include "lua/budget.h"

/* A table starts at MIN_CAP slots, or at 2 when slots are large (up to
 * 8 MiB each), so one entry never costs more than two slots. */
enum { SLOT_EMPTY = 0, SLOT_FULL = 1, SLOT_DELETED = 2, MIN_CAP = 8, LARGE_SLOT = 4096 };

/* The table is one block: cap control bytes, then cap slots of key then value. */
struct fixedmap {
    fixedmap_alloc_fn alloc;
    void *alloc_ud;
    size_t key_len, value_len, slot_len;
    size_t cap;    /* slots, a power of two, or 0 before the first insert */
    size_t count;  /* live entries */
    size_t used;   /* live entries plus tombstones */
    uint8_t *block;
    size_t block_len;
    uint8_t hash_key[FIXEDMAP_HASH_KEY_LEN];
};

static const char fixedmap_type[] = "enclaved.fixedmap";

static uint64_t rotl64(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

struct sip {
    uint64_t v0, v1, v2, v3;
};

static void sip_round(struct sip *s)
{
    s->v0 += s->v1;
    s->v1 = rotl64(s->v1, 13) ^ s->v0;
    s->v0 = rotl64(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl64(s->v3, 16) ^ s->v2;
    s->v0 += s->v3;
    s->v3 = rotl64(s->v3, 21) ^ s->v0;
    s->v2 += s->v1;
    s->v1 = rotl64(s->v1, 17) ^ s->v2;
    s->v2 = rotl64(s->v2, 32);
}

static void sip_absorb(struct sip *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

uint64_t fixedmap_siphash24(const uint8_t key[FIXEDMAP_HASH_KEY_LEN], const uint8_t *in,
                            size_t len)
{
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    struct sip s = {
        k0 ^ UINT64_C(0x736f6d6570736575), k1 ^ UINT64_C(0x646f72616e646f6d),
        k0 ^ UINT64_C(0x6c7967656e657261), k1 ^ UINT64_C(0x7465646279746573),
    };
    size_t whole = len - len % 8;
    uint64_t last = (uint64_t)(len & 0xff) << 56;

    for (size_t i = 0; i < whole; i += 8) {
        sip_absorb(&s, load_le64(in + i));
    }
    for (size_t i = whole; i < len; i++) {
        last |= (uint64_t)in[i] << (8 * (i - whole));
    }
    sip_absorb(&s, last);
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++) {
        sip_round(&s);
    }
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

static uint8_t *slot_at(const struct fixedmap *m, uint8_t *block, size_t cap, size_t i)
{
    return block + cap + i * m->slot_len;
}

/* Returns 1 and the slot index of key, or 0 and the index where it would go
 * (the first tombstone on its probe path, else the empty slot ending it). */
static int find_slot(const struct fixedmap *m, const uint8_t *key, size_t *index)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)fixedmap_siphash24(m->hash_key, key, m->key_len) & mask;
    size_t free_index = SIZE_MAX;

    /* Load stays under 3/4, so the probe always meets an empty slot. */
    for (;; i = (i + 1) & mask) {
        uint8_t ctrl = m->block[i];
        if (ctrl == SLOT_EMPTY) {
            *index = free_index != SIZE_MAX ? free_index : i;
            return 0;
        }
        if (ctrl == SLOT_DELETED) {
            if (free_index == SIZE_MAX) {
                free_index = i;
            }
        } else if (memcmp(slot_at(m, m->block, m->cap, i), key, m->key_len) == 0) {
            *index = i;
            return 1;
        }
    }
}

static void release_block(struct fixedmap *m, uint8_t *block, size_t len)
{
    if (block != NULL) {
        mbedtls_platform_zeroize(block, len);
        m->alloc(m->alloc_ud, block, len, 0);
    }
}

/* Rebuilds the table with room for one more entry, dropping tombstones. */
static status_t grow_table(struct fixedmap *m)
{
    size_t new_cap = m->cap ? m->cap : m->slot_len > LARGE_SLOT ? 2 : MIN_CAP;
    size_t new_len;
    uint8_t *block;

    while ((m->count + 1) > new_cap / 2) {
        ENSURE(new_cap <= SIZE_MAX / 2, STATUS_RESOURCE_EXHAUSTED, "fixedmap too large");
        new_cap *= 2;
    }
    ENSURE(m->slot_len == 0 || new_cap <= (SIZE_MAX - new_cap) / m->slot_len,
           STATUS_RESOURCE_EXHAUSTED,
           "fixedmap too large");
    new_len = new_cap + new_cap * m->slot_len;
    block = m->alloc(m->alloc_ud, NULL, 0, new_len);
    ENSURE(block != NULL, STATUS_RESOURCE_EXHAUSTED, "fixedmap allocation failed");
    memset(block, SLOT_EMPTY, new_cap);

    uint8_t *old = m->block;
    size_t old_cap = m->cap, old_len = m->block_len;
    m->block = block;
    m->block_len = new_len;
    m->cap = new_cap;
    m->used = m->count;
    for (size_t i = 0; i < old_cap; i++) {
        size_t index;
        if (old[i] != SLOT_FULL) {
            continue;
        }
        const uint8_t *src = slot_at(m, old, old_cap, i);
        (void)find_slot(m, src, &index);
        block[index] = SLOT_FULL;
        memcpy(slot_at(m, block, new_cap, index), src, m->slot_len);
    }
    release_block(m, old, old_len);
    return STATUS_OK;
}

status_t fixedmap_new(size_t key_len, size_t value_len,
                      const uint8_t hash_key[FIXEDMAP_HASH_KEY_LEN],
                      fixedmap_alloc_fn alloc, void *alloc_ud, struct fixedmap **out)
{
    struct fixedmap *m;

    ENSURE(key_len <= FIXEDMAP_KEY_MAX, STATUS_INVALID_ARGUMENT,
           "fixedmap key size out of range");
    ENSURE(value_len <= FIXEDMAP_VALUE_MAX, STATUS_INVALID_ARGUMENT,
           "fixedmap value size out of range");
    m = alloc(alloc_ud, NULL, 0, sizeof(*m));
    ENSURE(m != NULL, STATUS_RESOURCE_EXHAUSTED, "fixedmap allocation failed");
    memset(m, 0, sizeof(*m));
    m->alloc = alloc;
    m->alloc_ud = alloc_ud;
    m->key_len = key_len;
    m->value_len = value_len;
    m->slot_len = key_len + value_len;
    memcpy(m->hash_key, hash_key, FIXEDMAP_HASH_KEY_LEN);
    *out = m;
    return STATUS_OK;
}

void fixedmap_free(struct fixedmap *m)
{
    if (m == NULL) {
        return;
    }
    release_block(m, m->block, m->block_len);
    fixedmap_alloc_fn alloc = m->alloc;
    void *ud = m->alloc_ud;
    mbedtls_platform_zeroize(m, sizeof(*m));
    alloc(ud, m, sizeof(*m), 0);
}

status_t fixedmap_upsert(struct fixedmap *m, const uint8_t *key, const uint8_t *value,
                         uint8_t *old_value, int *had_old)
{
    size_t index;

    if (m->cap > 0 && find_slot(m, key, &index)) {
        uint8_t *slot = slot_at(m, m->block, m->cap, index);
        memcpy(old_value, slot + m->key_len, m->value_len);
        memcpy(slot + m->key_len, value, m->value_len);
        *had_old = 1;
        return STATUS_OK;
    }
    if (m->cap == 0 || (m->used + 1) * 4 > m->cap * 3) {
        TRY(grow_table(m));
    }
    (void)find_slot(m, key, &index);
    if (m->block[index] == SLOT_EMPTY) {
        m->used++;
    }
    m->block[index] = SLOT_FULL;
    uint8_t *slot = slot_at(m, m->block, m->cap, index);
    memcpy(slot, key, m->key_len);
    memcpy(slot + m->key_len, value, m->value_len);
    m->count++;
    *had_old = 0;
    return STATUS_OK;
}

int fixedmap_get(const struct fixedmap *m, const uint8_t *key, uint8_t *value_out)
{
    size_t index;

    if (m->cap == 0 || !find_slot(m, key, &index)) {
        return 0;
    }
    memcpy(value_out, slot_at(m, m->block, m->cap, index) + m->key_len, m->value_len);
    return 1;
}

int fixedmap_remove(struct fixedmap *m, const uint8_t *key, uint8_t *old_value)
{
    size_t index;

    if (m->cap == 0 || !find_slot(m, key, &index)) {
        return 0;
    }
    uint8_t *slot = slot_at(m, m->block, m->cap, index);
    memcpy(old_value, slot + m->key_len, m->value_len);
    mbedtls_platform_zeroize(slot, m->slot_len);
    m->block[index] = SLOT_DELETED;
    m->count--;
    return 1;
}

size_t fixedmap_count(const struct fixedmap *m)
{
    return m->count;
}

size_t fixedmap_key_len(const struct fixedmap *m)
{
    return m->key_len;
}

size_t fixedmap_value_len(const struct fixedmap *m)
{
    return m->value_len;
}

/* The userdata holds only a pointer, NULL until the map exists and after
 * __gc, so a half-built or finalized map is safe to collect again. */
struct map_box {
    struct fixedmap *m;
};

/* [-0, +0, v] */
static struct fixedmap *check_map(lua_State *L)
{
    struct map_box *box = luaL_checkudata(L, 1, fixedmap_type);
    if (box->m == NULL) {
        luaL_error(L, "fixedmap: map is closed");
    }
    return box->m;
}

/* [-0, +0, v] */
static const uint8_t *check_bytes(lua_State *L, int arg, size_t want, const char *what)
{
    size_t len;
    const char *s = luaL_checklstring(L, arg, &len);
    if (len != want) {
        luaL_error(L, "fixedmap: %s must be %d bytes, got %d", what, (int)want, (int)len);
    }
    return (const uint8_t *)s;
}

/* Each operation hashes the key and copies up to a slot: charged to the
 * running call (DESIGN §5). [-0, +0, v] */
static void charge_op(lua_State *L, const struct fixedmap *m)
{
    budget_charge_bytes(L, m->slot_len);
}

/* map:upsert(k, v) -> old value or "". [-0, +1, e] */
static int map_upsert(lua_State *L)
{
    struct fixedmap *m = check_map(L);
    const uint8_t *key = check_bytes(L, 2, m->key_len, "key");
    const uint8_t *value = check_bytes(L, 3, m->value_len, "value");

    charge_op(L, m);
    luaL_Buffer b;
    int had_old;

    /* Reserve the result first so nothing can fail after the map changed. */
    uint8_t *old = (uint8_t *)luaL_buffinitsize(L, &b, m->value_len);
    if (fixedmap_upsert(m, key, value, old, &had_old) != STATUS_OK) {
        return luaL_error(L, "not enough memory");
    }
    luaL_pushresultsize(&b, had_old ? m->value_len : 0); /* old */
    return 1;
}

/* map:get(k) -> value or "". [-0, +1, e] */
static int map_get(lua_State *L)
{
    struct fixedmap *m = check_map(L);
    const uint8_t *key = check_bytes(L, 2, m->key_len, "key");
    luaL_Buffer b;

    charge_op(L, m);
    uint8_t *value = (uint8_t *)luaL_buffinitsize(L, &b, m->value_len);
    int found = fixedmap_get(m, key, value);
    luaL_pushresultsize(&b, found ? m->value_len : 0); /* value */
    return 1;
}

/* map:remove(k) -> old value or "". [-0, +1, e] */
static int map_remove(lua_State *L)
{
    struct fixedmap *m = check_map(L);
    const uint8_t *key = check_bytes(L, 2, m->key_len, "key");
    luaL_Buffer b;

    charge_op(L, m);
    uint8_t *old = (uint8_t *)luaL_buffinitsize(L, &b, m->value_len);
    int found = fixedmap_remove(m, key, old);
    luaL_pushresultsize(&b, found ? m->value_len : 0); /* old */
    return 1;
}

/* __gc; idempotent. [-0, +0, -] */
static int map_gc(lua_State *L)
{
    struct map_box *box = luaL_checkudata(L, 1, fixedmap_type);
    fixedmap_free(box->m);
    box->m = NULL;
    return 0;
}

static const luaL_Reg map_methods[] = {
    {"upsert", map_upsert},
    {"get", map_get},
    {"remove", map_remove},
    {NULL, NULL},
};

void fixedmap_lua_open(lua_State *L)
{
    luaL_newmetatable(L, fixedmap_type);  /* mt */
    lua_pushcfunction(L, map_gc);         /* mt gc */
    lua_setfield(L, -2, "__gc");          /* mt */
    luaL_newlib(L, map_methods);          /* mt methods */
    lua_setfield(L, -2, "__index");       /* mt */
    lua_pushboolean(L, 0);                /* mt false */
    lua_setfield(L, -2, "__metatable");   /* mt */
    lua_pop(L, 1);                        /* */
}

void fixedmap_lua_push_new(lua_State *L, lua_Integer key_len, lua_Integer value_len)
{
    uint8_t hash_key[FIXEDMAP_HASH_KEY_LEN];
    void *ud;
    lua_Alloc alloc = lua_getallocf(L, &ud);
    struct map_box *box;
    status_t s;

    if (key_len < 0 || key_len > FIXEDMAP_KEY_MAX) {
        luaL_error(L, "fixedmap: key size must be 0..%d", FIXEDMAP_KEY_MAX);
    }
    if (value_len < 0 || value_len > FIXEDMAP_VALUE_MAX) {
        luaL_error(L, "fixedmap: value size must be 0..%d", FIXEDMAP_VALUE_MAX);
    }
    /* The box gets its metatable (with __gc) before the map exists. */
    box = lua_newuserdatauv(L, sizeof(*box), 0);  /* box */
    box->m = NULL;
    luaL_setmetatable(L, fixedmap_type);
    if (rng_bytes(NULL, hash_key, sizeof(hash_key)) != STATUS_OK) {
        luaL_error(L, "fixedmap: random source unavailable");
    }
    s = fixedmap_new((size_t)key_len, (size_t)value_len, hash_key, alloc, ud, &box->m);
    mbedtls_platform_zeroize(hash_key, sizeof(hash_key));
    if (s != STATUS_OK) {
        luaL_error(L, "not enough memory");
    }
}
