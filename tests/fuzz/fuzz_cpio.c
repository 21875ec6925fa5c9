/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Targets cpio_open, cpio_count, cpio_entry_at, cpio_find, cpio_close, userdata_load, userdata_clear. */
#include <stdlib.h>
#include <string.h>

#include "image/cpio.h"
#include "fuzz.h"
#include "base/status.h"
#include "image/userdata.h"

/* True if any '/'-separated component of name is empty, "." or "..". */
static int has_dot_component(const char *name)
{
    const char *c = name;

    for (;;) {
        size_t n = strcspn(c, "/");

        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
            return 1;
        }
        if (c[n] == '\0') {
            return 0;
        }
        c += n + 1;
    }
}

/* Checks the invariants cpio_open promises for an accepted image. */
static void check_archive(const struct cpio_archive *a, const uint8_t *data, size_t size)
{
    size_t n = cpio_count(a);

    ENCLAVED_ASSERT(n <= CPIO_MAX_ENTRIES);
    ENCLAVED_ASSERT(cpio_entry_at(a, n) == NULL);
    for (size_t i = 0; i < n; i++) {
        const struct cpio_entry *e = cpio_entry_at(a, i);

        ENCLAVED_ASSERT(e != NULL);
        ENCLAVED_ASSERT(strlen(e->name) == e->name_len);
        ENCLAVED_ASSERT(e->name_len > 0 && e->name_len <= CPIO_MAX_NAME);
        ENCLAVED_ASSERT(e->name[0] != '/');
        ENCLAVED_ASSERT(!has_dot_component(e->name));
        ENCLAVED_ASSERT(cpio_entry_is_dir(e) || cpio_entry_is_file(e));
        ENCLAVED_ASSERT(e->data >= data && e->len <= size &&
                        (size_t)(e->data - data) <= size - e->len);
        ENCLAVED_ASSERT(i == 0 || strcmp(cpio_entry_at(a, i - 1)->name, e->name) < 0);
        ENCLAVED_ASSERT(cpio_find(a, e->name) == e);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cpio_archive *a = NULL;
    struct userdata u;
    char err[200];

    status_trail_reset();
    if (cpio_open(data, size, &a) == STATUS_OK) {
        check_archive(a, data, size);
        cpio_close(a);
    }
    if (userdata_load(data, size, &u, err, sizeof(err)) == STATUS_OK) {
        for (size_t i = 0; i < u.app_count; i++) {
            ENCLAVED_ASSERT(u.apps[i].name[0] != '\0');
            ENCLAVED_ASSERT(userdata_find_app(&u, u.apps[i].name) == &u.apps[i]);
        }
    } else {
        ENCLAVED_ASSERT(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
    }
    userdata_clear(&u);
    return 0;
}
