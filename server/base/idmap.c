/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "base/idmap.h"

#include <stdlib.h>

void idmap_init(struct idmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
    m->next_key = 1;
}

void idmap_clear(struct idmap *m)
{
    free(m->slots);
    idmap_init(m);
}

static size_t home_slot(uint32_t key, size_t cap)
{
    /* Ids are sequential; a multiplicative hash spreads them. */
    return (size_t)((key * UINT32_C(2654435761)) & (uint32_t)(cap - 1));
}

static void place(struct idmap_slot *slots, size_t cap, uint32_t key, void *value)
{
    size_t i = home_slot(key, cap);

    while (slots[i].key != 0) {
        i = (i + 1) & (cap - 1);
    }
    slots[i].key = key;
    slots[i].value = value;
}

status_t idmap_put(struct idmap *m, uint32_t key, void *value)
{
    ENCLAVED_ASSERT(key != 0);
    if ((m->count + 1) * 4 > m->cap * 3) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct idmap_slot *slots = calloc(cap, sizeof(*slots));

        ENSURE(slots != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory for an id table");
        for (size_t i = 0; i < m->cap; i++) {
            if (m->slots[i].key != 0) {
                place(slots, cap, m->slots[i].key, m->slots[i].value);
            }
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    place(m->slots, m->cap, key, value);
    m->count++;
    return STATUS_OK;
}

void *idmap_get(const struct idmap *m, uint32_t key)
{
    if (m->cap == 0 || key == 0) {
        return NULL;
    }
    for (size_t i = home_slot(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key) {
            return m->slots[i].value;
        }
        if (m->slots[i].key == 0) {
            return NULL;
        }
    }
}

void idmap_remove(struct idmap *m, uint32_t key)
{
    size_t i;
    size_t j;

    if (m->cap == 0 || key == 0) {
        return;
    }
    for (i = home_slot(key, m->cap); m->slots[i].key != key; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == 0) {
            return;
        }
    }
    /* Backward-shift: pull later entries of the probe run into the hole. */
    j = i;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (m->slots[j].key == 0) {
            break;
        }
        size_t home = home_slot(m->slots[j].key, m->cap);
        /* Move j into i unless its home lies cyclically in (i, j]. */
        int stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->slots[i].value = NULL;
    m->count--;
}

uint32_t idmap_next_key(struct idmap *m)
{
    while (m->next_key == 0 || idmap_get(m, m->next_key) != NULL) {
        m->next_key++;
    }
    return m->next_key++;
}
