/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * A map from nonzero uint32 ids to pointers: open addressing with linear
 * probing and backward-shift deletion, so lookups stay O(1) without
 * tombstones. Used for the channel and process tables, which also take
 * their ids from it (idmap_next_key), so ids are allocated in one place.
 *
 * Ownership: the map owns its slot array, never the values. Caller storage:
 * idmap_init / idmap_clear.
 */
#ifndef ENCLAVED_IDMAP_H
#define ENCLAVED_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

struct idmap_slot {
    uint32_t key;   /* 0 = empty */
    void *value;
};

struct idmap {
    struct idmap_slot *slots;
    size_t cap;     /* a power of two, or 0 */
    size_t count;
    uint32_t next_key;  /* private: where idmap_next_key looks first */
};

void idmap_init(struct idmap *m);
void idmap_clear(struct idmap *m);
/* Inserts key (nonzero, not present). RESOURCE_EXHAUSTED if growing fails. */
status_t idmap_put(struct idmap *m, uint32_t key, void *value);
/* The value for key, or NULL. */
void *idmap_get(const struct idmap *m, uint32_t key);
/* Removes key if present. */
void idmap_remove(struct idmap *m, uint32_t key);
/* A nonzero key not in the map: the smallest free one at or after the last
 * key handed out, wrapping past UINT32_MAX, so ids are not soon reused. The
 * map must hold fewer than UINT32_MAX keys (callers' limits ensure it). */
uint32_t idmap_next_key(struct idmap *m);

#endif
