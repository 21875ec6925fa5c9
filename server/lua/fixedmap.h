/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * fixedmap: a compact hash map from fixed-size byte keys to fixed-size byte
 * values (DESIGN §5, `enclave.fixedmap`), plus its Lua userdata binding.
 * Open addressing with linear probing over one flat block; slots are hashed
 * with SipHash-2-4 under a random per-map key so clients who choose keys
 * cannot force collisions. It does not iterate, order or persist entries.
 *
 * Ownership: fixedmap_new allocates the map and its table through the given
 * allocator (lua_Alloc-compatible, so a process's Lua allocator charges the
 * bytes to that process); fixedmap_free releases both and wipes keys, values
 * and the hash key. Byte ranges are borrowed for the call only. In Lua the
 * userdata owns its map and frees it from __gc. Loop thread only.
 */
#ifndef ENCLAVED_FIXEDMAP_H
#define ENCLAVED_FIXEDMAP_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "base/status.h"

enum {
    FIXEDMAP_KEY_MAX = 4 << 20,   /* bytes per key (HsmEnclave's limit) */
    FIXEDMAP_VALUE_MAX = 4 << 20, /* bytes per value */
    FIXEDMAP_HASH_KEY_LEN = 16,  /* SipHash-2-4 key */
};

/* Same contract as lua_Alloc: ptr NULL allocates, nsize 0 frees. */
typedef void *(*fixedmap_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);

struct fixedmap;

/* Lifecycle. */

/* Creates an empty map for keys of exactly key_len (0..FIXEDMAP_KEY_MAX)
 * and values of exactly value_len (0..FIXEDMAP_VALUE_MAX) bytes.
 * INVALID_ARGUMENT for bad sizes, RESOURCE_EXHAUSTED when alloc fails.
 * On failure *out is untouched. */
status_t fixedmap_new(size_t key_len, size_t value_len,
                      const uint8_t hash_key[FIXEDMAP_HASH_KEY_LEN],
                      fixedmap_alloc_fn alloc, void *alloc_ud, struct fixedmap **out);
/* Wipes and frees the map. NULL is a no-op. */
void fixedmap_free(struct fixedmap *m);

/* Operations. key and value must be key_len / value_len bytes. */

/* Inserts or replaces. If the key was present, copies its old value to
 * old_value (value_len bytes) and sets *had_old to 1, else sets it to 0.
 * RESOURCE_EXHAUSTED when growing fails; the map is then unchanged. */
status_t fixedmap_upsert(struct fixedmap *m, const uint8_t *key, const uint8_t *value,
                         uint8_t *old_value, int *had_old);
/* Copies the value to value_out and returns 1, or returns 0 if absent. */
int fixedmap_get(const struct fixedmap *m, const uint8_t *key, uint8_t *value_out);
/* Removes the key, copying its old value to old_value; returns 1, or 0 if
 * absent. Never allocates. */
int fixedmap_remove(struct fixedmap *m, const uint8_t *key, uint8_t *old_value);

/* Queries. */

size_t fixedmap_count(const struct fixedmap *m);
size_t fixedmap_key_len(const struct fixedmap *m);
size_t fixedmap_value_len(const struct fixedmap *m);
/* SipHash-2-4 of in under key (exposed for known-answer tests). */
uint64_t fixedmap_siphash24(const uint8_t key[FIXEDMAP_HASH_KEY_LEN], const uint8_t *in,
                            size_t len);

/* Lua binding. */

/* Registers the userdata metatable in the registry; call once per state.
 * [-0, +0, m] */
void fixedmap_lua_open(lua_State *L);
/* Pushes a new map userdata with a fresh random hash key, allocated with the
 * state's allocator; raises a Lua error on bad sizes or exhaustion.
 * [-0, +1, e] */
void fixedmap_lua_push_new(lua_State *L, lua_Integer key_len, lua_Integer value_len);

#endif
