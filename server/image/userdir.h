/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * An unpacked userdata tree (DESIGN §8): on the SEE the loader unpacks the
 * operator's CPIO as the machine's root, so the server reads a directory
 * instead of image bytes. This reader produces the entries cpio.c would have
 * produced for the same tree, with the image reader's strictness: regular
 * files and directories only (a symlink, device, FIFO or socket is refused
 * with its path), hard-linked files refused, names of at most CPIO_MAX_NAME
 * bytes, at most CPIO_MAX_ENTRIES entries, CPIO_MAX_FILE bytes a file and
 * CPIO_MAX_IMAGE bytes in all.
 *
 * It reads only the trees the layout names, etc/, apps/ and keys/ (each
 * walked completely): other entries at the root are never opened, because
 * on the SEE the root also holds what the loader itself provides (/dev).
 * Every lookup is an openat() relative to the root with O_NOFOLLOW, types
 * come from fstat() of an O_PATH descriptor (so no device is ever opened for
 * reading), and no path string is resolved outside the root: nothing escapes
 * it. The calls are openat, fstat, getdents64 (readdir), read and close, all
 * on Entrust's CodeSafe 5 list; fstatat is not, so it is not used.
 *
 * Ownership: struct userdir is caller storage. userdir_read fills it with a
 * heap arena holding every name and file byte and a heap entry table whose
 * pointers point into the arena. userdir_clear wipes the arena (it holds the
 * key files) and frees both. Loop thread only.
 */
#ifndef ENCLAVED_USERDIR_H
#define ENCLAVED_USERDIR_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "image/cpio.h"

/* All fields are read-only for callers. */
struct userdir {
    struct cpio_entry *entries; /* in no particular order; names relative, no "./" */
    size_t count;
    uint8_t *arena;             /* names and data; private */
    size_t arena_len;
    size_t arena_cap;
};

/* Reads the tree under the directory root_fd (borrowed, left open). Returns
 * OK; UNIMPLEMENTED for a symlink, device, FIFO, socket or hard link;
 * RESOURCE_EXHAUSTED over a limit or out of memory; DATA_LOSS when a file
 * cannot be read whole or changes while read; UNAVAILABLE when a lookup
 * fails otherwise. On failure err gets "PATH: reason" and *out is zeroed,
 * owning nothing. */
status_t userdir_read(int root_fd, struct userdir *out, char *err, size_t err_cap);
/* Wipes and frees what userdir_read allocated; leaves *d zeroed. Safe twice. */
void userdir_clear(struct userdir *d);

#endif
