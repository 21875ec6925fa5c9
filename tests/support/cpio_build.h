/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Test-only writer of hand-made CPIO images, so negative cases can set every
 * header field, including wrong ones. Real archives come from GNU cpio. */
#ifndef ENCLAVED_TEST_CPIO_BUILD_H
#define ENCLAVED_TEST_CPIO_BUILD_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { BUILD_AUTO = -1 };

/* One entry. Fields left at BUILD_AUTO (or 0/NULL) take the value that makes
 * a valid header for name and data. */
struct build_entry {
    const char *magic;     /* NULL: "070701" */
    const char *name;
    long name_len;         /* bytes of name to write (BUILD_AUTO: strlen) */
    uint32_t mode;         /* 0: 0100644 */
    long nlink;            /* BUILD_AUTO: 1 */
    const char *data;
    long data_len;         /* BUILD_AUTO: strlen(data) */
    long namesize;         /* BUILD_AUTO: name_len + 1 */
    long filesize;         /* BUILD_AUTO: data_len */
    long check;            /* BUILD_AUTO: 0, or the byte sum for 070702 */
};

/* An image being written into a caller buffer. */
struct build {
    uint8_t *buf;
    size_t cap;
    size_t len;
};

static inline void build_bytes(struct build *b, const void *p, size_t n)
{
    ck_assert_uint_le(b->len + n, b->cap);
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static inline void build_zeros_to(struct build *b, size_t align)
{
    while (b->len % align != 0) {
        build_bytes(b, "", 1);
    }
}

/* Appends one entry; returns the offset where its header starts. */
static inline size_t build_entry(struct build *b, const struct build_entry *e)
{
    const char *magic = e->magic != NULL ? e->magic : "070701";
    size_t start = b->len;
    long name_len = e->name_len != BUILD_AUTO && e->name_len != 0 ? e->name_len
                                                                   : (long)strlen(e->name);
    long data_len = e->data == NULL ? 0 : e->data_len != BUILD_AUTO && e->data_len != 0
                                              ? e->data_len
                                              : (long)strlen(e->data);
    long namesize = e->namesize != BUILD_AUTO && e->namesize != 0 ? e->namesize : name_len + 1;
    long filesize = e->filesize != BUILD_AUTO && e->filesize != 0 ? e->filesize : data_len;
    long nlink = e->nlink != BUILD_AUTO && e->nlink != 0 ? e->nlink : 1;
    uint32_t mode = e->mode != 0 ? e->mode : 0100644;
    uint32_t sum = 0;
    char hdr[256];
    int odc = strcmp(magic, "070707") == 0;

    for (long i = 0; i < data_len; i++) {
        sum += (uint8_t)e->data[i];
    }
    if (e->check != BUILD_AUTO && e->check != 0) {
        sum = (uint32_t)e->check;
    } else if (strcmp(magic, "070702") != 0) {
        sum = 0;
    }
    if (odc) {
        snprintf(hdr, sizeof(hdr), "%.6s%06o%06o%06o%06o%06o%06lo%06o%011o%06lo%011lo", magic, 0,
                 1, (unsigned)mode, 0, 0, (unsigned long)nlink, 0, 0, (unsigned long)namesize,
                 (unsigned long)filesize);
        ck_assert_uint_eq(strlen(hdr), 76);
    } else {
        snprintf(hdr, sizeof(hdr),
                 "%.6s%08x%08x%08x%08x%08lx%08x%08lx%08x%08x%08x%08x%08lx%08x", magic, 1u,
                 (unsigned)mode, 0u, 0u, (unsigned long)(uint32_t)nlink, 0u, (unsigned long)(uint32_t)filesize, 0u,
                 0u, 0u, 0u, (unsigned long)(uint32_t)namesize, (unsigned)sum);
        ck_assert_uint_eq(strlen(hdr), 110);
    }
    build_bytes(b, hdr, strlen(hdr));
    build_bytes(b, e->name, (size_t)name_len);
    build_bytes(b, "", 1);
    if (!odc) {
        build_zeros_to(b, 4);
    }
    if (data_len > 0) {
        build_bytes(b, e->data, (size_t)data_len);
    }
    if (!odc) {
        build_zeros_to(b, 4);
    }
    return start;
}

static inline void build_file(struct build *b, const char *name, const char *data)
{
    struct build_entry e = {.name = name, .data = data};
    build_entry(b, &e);
}

static inline void build_file_bytes(struct build *b, const char *name, const void *data,
                                    size_t len)
{
    struct build_entry e = {.name = name, .data = data, .data_len = (long)len};
    build_entry(b, &e);
}

static inline void build_dir(struct build *b, const char *name)
{
    struct build_entry e = {.name = name, .mode = 040755, .nlink = 2};
    build_entry(b, &e);
}

static inline void build_trailer(struct build *b, const char *magic)
{
    struct build_entry e = {.magic = magic, .name = "TRAILER!!!"};
    build_entry(b, &e);
}

#endif
