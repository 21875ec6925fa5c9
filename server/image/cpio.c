/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "image/cpio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"

/*
 * Header layouts (GNU cpio manual, "Options" and cpio(5)). Every field is
 * ASCII; newc fields are 8 hex digits, odc fields 6 or 11 octal digits.
 *
 *   newc/crc: magic[6] ino mode uid gid nlink mtime filesize devmajor devminor
 *             rdevmajor rdevminor namesize check  (13 x 8 = 104) -> 110 bytes,
 *             then the name, padded so the data starts on a 4-byte boundary,
 *             then the data padded to 4 bytes.
 *   odc:      magic[6] dev[6] ino[6] mode[6] uid[6] gid[6] nlink[6] rdev[6]
 *             mtime[11] namesize[6] filesize[11] -> 76 bytes, no padding.
 *
 * namesize counts the terminating NUL. The archive ends with an entry named
 * TRAILER!!!.
 */
enum {
    MAGIC_LEN = 6,
    NEWC_HEADER_LEN = 110,
    NEWC_FIELD_LEN = 8,
    NEWC_FIELD_COUNT = 13,
    ODC_HEADER_LEN = 76,
    ENTRY_TABLE_START = 16,
    REPORT_NAME_MAX = 64,
};

enum newc_field {
    NEWC_INO, NEWC_MODE, NEWC_UID, NEWC_GID, NEWC_NLINK, NEWC_MTIME, NEWC_FILESIZE,
    NEWC_DEVMAJOR, NEWC_DEVMINOR, NEWC_RDEVMAJOR, NEWC_RDEVMINOR, NEWC_NAMESIZE, NEWC_CHECK
};

enum format { FORMAT_NONE, FORMAT_NEWC, FORMAT_CRC, FORMAT_ODC };

static const char TRAILER_NAME[] = "TRAILER!!!";

struct cpio_archive {
    struct cpio_entry *entries;
    size_t count;
    size_t cap;
};

/* One parsed header; sizes are 64-bit so odc's 11-digit fields fit on 32-bit
 * targets before they are range-checked. */
struct header {
    enum format format;
    uint64_t mode;
    uint64_t nlink;
    uint64_t filesize;
    uint64_t namesize;
    uint64_t check;
};

/* Parser state. why and entry_name exist only to build the report line. */
struct reader {
    const uint8_t *image;
    size_t len;
    size_t off;
    size_t entry_off;
    enum format format;
    const char *why;
    const char *entry_name;
    struct cpio_archive *archive;
};

/* Records why for the report, then fails through the status trail. */
#define REJECT(r, code, text)   \
    do {                        \
        (r)->why = (text);      \
        FAIL((code), (text));   \
    } while (0)

static size_t align4(size_t off)
{
    return (off + 3u) & ~(size_t)3u;
}

static int parse_digits(const uint8_t *p, size_t n, unsigned base, uint64_t *out)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned d;

        if (p[i] >= '0' && p[i] <= '9') {
            d = (unsigned)(p[i] - '0');
        } else if (p[i] >= 'a' && p[i] <= 'f') {
            d = (unsigned)(p[i] - 'a' + 10);
        } else if (p[i] >= 'A' && p[i] <= 'F') {
            d = (unsigned)(p[i] - 'A' + 10);
        } else {
            return -1;
        }
        if (d >= base) {
            return -1;
        }
        v = v * base + d;
    }
    *out = v;
    return 0;
}

static status_t read_newc_header(struct reader *r, struct header *h)
{
    uint64_t f[NEWC_FIELD_COUNT];
    const uint8_t *p = r->image + r->off + MAGIC_LEN;

    if (r->len - r->off < NEWC_HEADER_LEN) {
        REJECT(r, STATUS_OUT_OF_RANGE, "cpio: truncated header");
    }
    for (size_t i = 0; i < NEWC_FIELD_COUNT; i++) {
        if (parse_digits(p + i * NEWC_FIELD_LEN, NEWC_FIELD_LEN, 16, &f[i]) != 0) {
            REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: non-hex header field");
        }
    }
    h->mode = f[NEWC_MODE];
    h->nlink = f[NEWC_NLINK];
    h->filesize = f[NEWC_FILESIZE];
    h->namesize = f[NEWC_NAMESIZE];
    h->check = f[NEWC_CHECK];
    r->off += NEWC_HEADER_LEN;
    return STATUS_OK;
}

static status_t read_odc_header(struct reader *r, struct header *h)
{
    /* Offsets and widths of every odc field after the magic, in order. */
    static const struct {
        uint8_t at, width;
    } fields[] = {{6, 6}, {12, 6}, {18, 6}, {24, 6}, {30, 6}, {36, 6},
                  {42, 6}, {48, 11}, {59, 6}, {65, 11}};
    uint64_t f[sizeof(fields) / sizeof(fields[0])];
    const uint8_t *p = r->image + r->off;

    if (r->len - r->off < ODC_HEADER_LEN) {
        REJECT(r, STATUS_OUT_OF_RANGE, "cpio: truncated header");
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (parse_digits(p + fields[i].at, fields[i].width, 8, &f[i]) != 0) {
            REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: non-octal header field");
        }
    }
    h->mode = f[2];
    h->nlink = f[5];
    h->namesize = f[8];
    h->filesize = f[9];
    h->check = 0;
    r->off += ODC_HEADER_LEN;
    return STATUS_OK;
}

/* Reads the magic and the fixed header at r->off. All entries must share the
 * first entry's format. */
static status_t read_header(struct reader *r, struct header *h)
{
    const uint8_t *p = r->image + r->off;
    enum format format = FORMAT_NONE;

    if (r->len - r->off < MAGIC_LEN) {
        REJECT(r, STATUS_OUT_OF_RANGE, "cpio: truncated header");
    }
    if (memcmp(p, "070701", MAGIC_LEN) == 0) {
        format = FORMAT_NEWC;
    } else if (memcmp(p, "070702", MAGIC_LEN) == 0) {
        format = FORMAT_CRC;
    } else if (memcmp(p, "070707", MAGIC_LEN) == 0) {
        format = FORMAT_ODC;
    }
    if (format == FORMAT_NONE || (r->format != FORMAT_NONE && format != r->format)) {
        REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: bad magic");
    }
    r->format = format;
    h->format = format;
    if (format == FORMAT_ODC) {
        return read_odc_header(r, h);
    }
    return read_newc_header(r, h);
}

/* Validates the raw name at r->off and advances past it and its padding. */
static status_t read_name(struct reader *r, const struct header *h, const char **name)
{
    const char *p = (const char *)r->image + r->off;

    if (h->namesize <= 1) {
        REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: empty name");
    }
    if (h->namesize - 1 > CPIO_MAX_NAME) {
        REJECT(r, STATUS_RESOURCE_EXHAUSTED, "cpio: name too long");
    }
    if (h->namesize > r->len - r->off) {
        REJECT(r, STATUS_OUT_OF_RANGE, "cpio: name past end of image");
    }
    if (p[h->namesize - 1] != '\0') {
        REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: name not NUL-terminated");
    }
    if (memchr(p, '\0', (size_t)h->namesize - 1) != NULL) {
        REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: NUL inside name");
    }
    r->entry_name = p;
    r->off += (size_t)h->namesize;
    if (h->format != FORMAT_ODC) {
        r->off = align4(r->off);
    }
    *name = p;
    return STATUS_OK;
}

/* Bounds-checks the data at r->off and advances past it and its padding. */
static status_t read_data(struct reader *r, const struct header *h, const uint8_t **data)
{
    if (h->filesize > CPIO_MAX_FILE) {
        REJECT(r, STATUS_RESOURCE_EXHAUSTED, "cpio: file too large");
    }
    if (r->off > r->len || h->filesize > r->len - r->off) {
        REJECT(r, STATUS_OUT_OF_RANGE, "cpio: data past end of image");
    }
    *data = r->image + r->off;
    r->off += (size_t)h->filesize;
    if (h->format != FORMAT_ODC) {
        r->off = align4(r->off);
    }
    return STATUS_OK;
}

/* Checks a name after "./" stripping: relative, no empty, "." or ".."
 * components, so lookups and the userdata layout see one spelling per file. */
static status_t check_name_shape(struct reader *r, const char *name)
{
    const char *c = name;

    if (name[0] == '\0') {
        REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: empty name");
    }
    if (name[0] == '/') {
        REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: absolute path");
    }
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t n = slash != NULL ? (size_t)(slash - c) : strlen(c);

        if (n == 2 && c[0] == '.' && c[1] == '.') {
            REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: '..' in name");
        }
        if (n == 0 || (n == 1 && c[0] == '.')) {
            REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: non-canonical name");
        }
        if (slash == NULL) {
            return STATUS_OK;
        }
        c = slash + 1;
    }
}

static status_t check_type(struct reader *r, const struct header *h)
{
    uint64_t type = h->mode & CPIO_MODE_TYPE;

    if (h->mode > 0xffffffffu || (type != CPIO_MODE_DIR && type != CPIO_MODE_FILE)) {
        REJECT(r, STATUS_UNIMPLEMENTED, "cpio: not a file or directory");
    }
    /* newc stores a hard-linked file's data only with its last link; the
     * others would silently read as empty. */
    if (type == CPIO_MODE_FILE && h->nlink > 1) {
        REJECT(r, STATUS_UNIMPLEMENTED, "cpio: hard link");
    }
    if (type == CPIO_MODE_DIR && h->filesize != 0) {
        REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: directory with data");
    }
    return STATUS_OK;
}

static status_t check_sum(struct reader *r, const struct header *h, const uint8_t *data)
{
    uint32_t sum = 0;

    if (h->format != FORMAT_CRC) {
        return STATUS_OK;
    }
    for (size_t i = 0; i < (size_t)h->filesize; i++) {
        sum += data[i];
    }
    if (sum != h->check) {
        REJECT(r, STATUS_DATA_LOSS, "cpio: checksum mismatch");
    }
    return STATUS_OK;
}

static status_t append_entry(struct reader *r, const struct cpio_entry *e)
{
    struct cpio_archive *a = r->archive;

    if (a->count == CPIO_MAX_ENTRIES) {
        REJECT(r, STATUS_RESOURCE_EXHAUSTED, "cpio: too many entries");
    }
    if (a->count == a->cap) {
        size_t cap = a->cap == 0 ? ENTRY_TABLE_START : a->cap * 2;
        struct cpio_entry *grown = realloc(a->entries, cap * sizeof(*grown));

        if (grown == NULL) {
            REJECT(r, STATUS_RESOURCE_EXHAUSTED, "cpio: out of memory");
        }
        a->entries = grown;
        a->cap = cap;
    }
    a->entries[a->count++] = *e;
    return STATUS_OK;
}

/* Parses one entry. Sets *done at the trailer. */
static status_t read_entry(struct reader *r, int *done)
{
    struct header h = {0};
    const char *raw = NULL;
    const uint8_t *data = NULL;
    struct cpio_entry e;

    r->entry_off = r->off;
    r->entry_name = NULL;
    TRY(read_header(r, &h));
    TRY(read_name(r, &h, &raw));
    TRY(read_data(r, &h, &data));
    if (strcmp(raw, TRAILER_NAME) == 0) {
        *done = 1;
        return STATUS_OK;
    }
    e.name = raw;
    if (raw[0] == '.' && raw[1] == '/') {
        e.name = raw + 2;
    }
    TRY(check_type(r, &h));
    if (strcmp(raw, ".") == 0 && (h.mode & CPIO_MODE_TYPE) == CPIO_MODE_DIR) {
        return STATUS_OK; /* the root directory itself */
    }
    TRY(check_name_shape(r, e.name));
    TRY(check_sum(r, &h, data));
    e.name_len = strlen(e.name);
    e.mode = (uint32_t)h.mode;
    e.data = data;
    e.len = (size_t)h.filesize;
    return append_entry(r, &e);
}

static int compare_entries(const void *a, const void *b)
{
    const struct cpio_entry *x = a;
    const struct cpio_entry *y = b;

    /* strcmp compares as unsigned char: the byte order of LC_ALL=C. */
    return strcmp(x->name, y->name);
}

static status_t check_tail(struct reader *r)
{
    for (size_t i = r->off; i < r->len; i++) {
        if (r->image[i] != 0) {
            r->entry_off = i;
            r->entry_name = NULL;
            REJECT(r, STATUS_INVALID_ARGUMENT, "cpio: data after trailer");
        }
    }
    return STATUS_OK;
}

static status_t check_duplicates(struct reader *r)
{
    const struct cpio_archive *a = r->archive;

    for (size_t i = 1; i < a->count; i++) {
        if (strcmp(a->entries[i - 1].name, a->entries[i].name) == 0) {
            r->entry_name = a->entries[i].name;
            r->entry_off = (size_t)(a->entries[i].data - r->image);
            REJECT(r, STATUS_ALREADY_EXISTS, "cpio: duplicate name");
        }
    }
    return STATUS_OK;
}

static status_t parse_image(struct reader *r)
{
    int done = 0;

    if (r->len > CPIO_MAX_IMAGE) {
        REJECT(r, STATUS_RESOURCE_EXHAUSTED, "cpio: image too large");
    }
    while (!done) {
        if (r->off >= r->len) {
            r->entry_off = r->len;
            r->entry_name = NULL;
            REJECT(r, STATUS_OUT_OF_RANGE, "cpio: missing TRAILER!!!");
        }
        TRY(read_entry(r, &done));
    }
    TRY(check_tail(r));
    if (r->archive->count > 1) {
        qsort(r->archive->entries, r->archive->count, sizeof(struct cpio_entry),
              compare_entries);
    }
    return check_duplicates(r);
}

/* Copies name for a report: printable ASCII only, bounded. */
static void sanitize_name(char *dst, size_t cap, const char *name)
{
    size_t n = text_sanitize(dst, cap, name, strlen(name));

    /* Reports quote the name: a quote inside it would end it early. */
    for (size_t i = 0; i < n; i++) {
        if (dst[i] == '\'') {
            dst[i] = '?';
        }
    }
}

status_t cpio_open_report(const uint8_t *image, size_t len, struct cpio_archive **out,
                          char *err, size_t err_cap)
{
    struct reader r = {.image = image, .len = len};
    char shown[REPORT_NAME_MAX + 1];
    status_t s;

    r.archive = calloc(1, sizeof(*r.archive));
    if (r.archive == NULL) {
        r.why = "cpio: out of memory";
        s = status_trail_push(STATUS_RESOURCE_EXHAUSTED, r.why, __FILE__, __LINE__);
    } else {
        s = parse_image(&r);
    }
    if (s == STATUS_OK) {
        *out = r.archive;
        return STATUS_OK;
    }
    cpio_close(r.archive);
    if (err != NULL && err_cap > 0) {
        if (r.entry_name != NULL) {
            sanitize_name(shown, sizeof(shown), r.entry_name);
            snprintf(err, err_cap, "%s: entry '%s' at offset %zu", r.why, shown, r.entry_off);
        } else {
            snprintf(err, err_cap, "%s at offset %zu", r.why, r.entry_off);
        }
    }
    return s;
}

status_t cpio_open(const uint8_t *image, size_t len, struct cpio_archive **out)
{
    return cpio_open_report(image, len, out, NULL, 0);
}

status_t cpio_index_entries(const struct cpio_entry *entries, size_t count,
                            struct cpio_archive **out)
{
    struct cpio_archive *a;

    ENSURE(count <= CPIO_MAX_ENTRIES, STATUS_RESOURCE_EXHAUSTED, "cpio: too many entries");
    a = calloc(1, sizeof(*a));
    ENSURE(a != NULL, STATUS_RESOURCE_EXHAUSTED, "cpio: out of memory");
    if (count > 0) {
        a->entries = calloc(count, sizeof(*a->entries));
        if (a->entries == NULL) {
            free(a);
            FAIL(STATUS_RESOURCE_EXHAUSTED, "cpio: out of memory");
        }
        memcpy(a->entries, entries, count * sizeof(*entries));
        qsort(a->entries, count, sizeof(*a->entries), compare_entries);
    }
    a->count = count;
    a->cap = count;
    for (size_t i = 1; i < count; i++) {
        if (strcmp(a->entries[i - 1].name, a->entries[i].name) == 0) {
            cpio_close(a);
            FAIL(STATUS_ALREADY_EXISTS, "cpio: duplicate name");
        }
    }
    *out = a;
    return STATUS_OK;
}

void cpio_close(struct cpio_archive *a)
{
    if (a == NULL) {
        return;
    }
    free(a->entries);
    free(a);
}

const struct cpio_entry *cpio_find(const struct cpio_archive *a, const char *name)
{
    size_t lo = 0;
    size_t hi = a->count;

    if (name[0] == '.' && name[1] == '/') {
        name += 2;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, a->entries[mid].name);

        if (c == 0) {
            return &a->entries[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

size_t cpio_count(const struct cpio_archive *a)
{
    return a->count;
}

const struct cpio_entry *cpio_entry_at(const struct cpio_archive *a, size_t i)
{
    return i < a->count ? &a->entries[i] : NULL;
}

int cpio_entry_is_dir(const struct cpio_entry *e)
{
    return (e->mode & CPIO_MODE_TYPE) == CPIO_MODE_DIR;
}

int cpio_entry_is_file(const struct cpio_entry *e)
{
    return (e->mode & CPIO_MODE_TYPE) == CPIO_MODE_FILE;
}
