/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * A strict in-memory reader for the ASCII CPIO userdata image (DESIGN §8):
 * newc (070701), newc with checksum (070702, the sum of the data bytes mod
 * 2^32 is verified) and odc (070707). It validates the whole image in
 * cpio_open and then answers lookups; it never writes, never touches the
 * filesystem, and accepts only directories and regular files.
 *
 * Ownership: cpio_open borrows the image bytes, which must outlive the
 * archive; entry names and data point into them (names need no copy: the
 * image holds each one NUL-terminated). The archive and its entry table are
 * heap-allocated and released by cpio_close. Loop thread only.
 *
 * Rejections. cpio_open returns the status below and records the message as
 * the innermost status trail entry (status_trail_message()):
 *
 *   RESOURCE_EXHAUSTED "cpio: image too large"        len > CPIO_MAX_IMAGE
 *   OUT_OF_RANGE       "cpio: truncated header"       header runs past the end
 *   INVALID_ARGUMENT   "cpio: bad magic"              not 070701/070702/070707
 *   INVALID_ARGUMENT   "cpio: non-hex header field"   newc/crc field not 8 hex digits
 *   INVALID_ARGUMENT   "cpio: non-octal header field" odc field not octal digits
 *   RESOURCE_EXHAUSTED "cpio: name too long"          over CPIO_MAX_NAME bytes
 *   INVALID_ARGUMENT   "cpio: empty name"             namesize 0 or 1, or only "./"
 *   OUT_OF_RANGE       "cpio: name past end of image"
 *   INVALID_ARGUMENT   "cpio: name not NUL-terminated"
 *   INVALID_ARGUMENT   "cpio: NUL inside name"
 *   RESOURCE_EXHAUSTED "cpio: file too large"         over CPIO_MAX_FILE bytes
 *   OUT_OF_RANGE       "cpio: data past end of image"
 *   INVALID_ARGUMENT   "cpio: absolute path"          name starts with '/'
 *   INVALID_ARGUMENT   "cpio: '..' in name"           any ".." component
 *   INVALID_ARGUMENT   "cpio: non-canonical name"     empty or "." component, trailing '/'
 *   UNIMPLEMENTED      "cpio: not a file or directory" symlinks, devices, fifos, sockets
 *   UNIMPLEMENTED      "cpio: hard link"              regular file with nlink > 1
 *   INVALID_ARGUMENT   "cpio: directory with data"
 *   DATA_LOSS          "cpio: checksum mismatch"      070702 entry whose sum differs
 *   RESOURCE_EXHAUSTED "cpio: too many entries"       over CPIO_MAX_ENTRIES
 *   OUT_OF_RANGE       "cpio: missing TRAILER!!!"     image ends before the trailer
 *   INVALID_ARGUMENT   "cpio: data after trailer"     a non-zero byte after it
 *   ALREADY_EXISTS     "cpio: duplicate name"         after "./" normalisation
 *   RESOURCE_EXHAUSTED "cpio: out of memory"
 *
 * After the trailer only zero bytes may follow (GNU cpio pads to 512-byte
 * blocks, tct2 may pad further); anything else is rejected, so the bytes
 * that were signed are exactly the bytes that are used. A single leading "./"
 * is stripped from names; the root entry "." itself is skipped.
 */
#ifndef ENCLAVED_CPIO_H
#define ENCLAVED_CPIO_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

enum {
    CPIO_MAX_ENTRIES = 4096,          /* entries besides "." and the trailer */
    CPIO_MAX_NAME = 255,              /* bytes in a name, without the NUL */
    CPIO_MAX_FILE = 16 * 1024 * 1024, /* bytes in one file */
    CPIO_MAX_IMAGE = 64 * 1024 * 1024 /* bytes in the whole image */
};

#define CPIO_MODE_TYPE 0170000u
#define CPIO_MODE_DIR 0040000u
#define CPIO_MODE_FILE 0100000u

/* Read-only view of one entry. name is NUL-terminated and name_len excludes
 * the NUL; data points into the image (len 0 for directories). mode is the
 * full st_mode: type and permission bits. */
struct cpio_entry {
    const char *name;
    size_t name_len;
    uint32_t mode;
    const uint8_t *data;
    size_t len;
};

struct cpio_archive;

/* Validates the whole image and indexes it. Returns OK or one of the
 * rejections listed above; on failure *out is untouched. */
status_t cpio_open(const uint8_t *image, size_t len, struct cpio_archive **out);
/* As cpio_open, and on failure writes a one-line reason naming the entry
 * (or the offset when no name was read yet) into err[0..err_cap). */
status_t cpio_open_report(const uint8_t *image, size_t len, struct cpio_archive **out,
                          char *err, size_t err_cap);
/* The same index over entries another reader produced (image/userdir.c, an
 * unpacked tree), so lookups and the userdata layout rules are one code path
 * for both sources. Copies the table (names and data stay borrowed and must
 * outlive the archive) and sorts it. Returns OK, RESOURCE_EXHAUSTED "cpio:
 * too many entries" / "cpio: out of memory", or ALREADY_EXISTS "cpio:
 * duplicate name"; on failure *out is untouched. */
status_t cpio_index_entries(const struct cpio_entry *entries, size_t count,
                            struct cpio_archive **out);
/* Frees the index; the image stays the caller's. cpio_close(NULL) is a no-op. */
void cpio_close(struct cpio_archive *a);

/* The entry called name (a leading "./" is ignored), or NULL. */
const struct cpio_entry *cpio_find(const struct cpio_archive *a, const char *name);
/* Number of entries, not counting "." and the trailer. */
size_t cpio_count(const struct cpio_archive *a);
/* Entry i in byte order of names (LC_ALL=C order), or NULL past the end. */
const struct cpio_entry *cpio_entry_at(const struct cpio_archive *a, size_t i);
/* True for directories / regular files. */
int cpio_entry_is_dir(const struct cpio_entry *e);
int cpio_entry_is_file(const struct cpio_entry *e);

#endif
