/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "image/userdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "base/text.h"

/* The trees of the layout (userdata.h); nothing else at the root is read. */
static const char *const LAYOUT_TREES[] = {"etc", "apps", "keys"};

enum { ARENA_START = 4096, RECORDS_START = 16 };

/* One entry while the arena may still move: offsets, not pointers. */
struct record {
    size_t name_off;
    size_t name_len;
    size_t data_off;
    size_t data_len;
    uint32_t mode;
};

struct walk {
    struct userdir *dir;
    struct record *records;
    size_t record_cap;
    size_t data_total;
    char path[CPIO_MAX_NAME + 1]; /* the entry being read, relative to the root */
    char *err;
    size_t err_cap;
};

/* Records "PATH: why" for the operator, then fails through the trail. */
#define REFUSE(w, code, why)         \
    do {                             \
        report((w), (why));          \
        FAIL((code), "userdir: " why); \
    } while (0)

/* Writes "PATH: why" into the caller's err, the path as printable ASCII
 * (names in a tree are arbitrary bytes; the log gets no control bytes). */
static void report(struct walk *w, const char *why)
{
    char shown[CPIO_MAX_NAME + 1];
    size_t n;

    if (w->err == NULL || w->err_cap == 0) {
        return;
    }
    n = text_sanitize(shown, sizeof(shown), w->path, strlen(w->path));
    snprintf(w->err, w->err_cap, "%s: %s", n > 0 ? shown : ".", why);
}

/* Makes room for need more arena bytes. The old block is wiped before it is
 * freed: it may hold key bytes already, and realloc would leave them behind. */
static status_t reserve(struct walk *w, size_t need)
{
    struct userdir *d = w->dir;
    size_t cap = d->arena_cap == 0 ? ARENA_START : d->arena_cap;
    uint8_t *grown;

    if (need <= d->arena_cap - d->arena_len) {
        return STATUS_OK;
    }
    while (cap - d->arena_len < need) {
        cap *= 2;
    }
    grown = malloc(cap);
    if (grown == NULL) {
        REFUSE(w, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (d->arena != NULL) {
        memcpy(grown, d->arena, d->arena_len);
        mbedtls_platform_zeroize(d->arena, d->arena_cap);
        free(d->arena);
    }
    d->arena = grown;
    d->arena_cap = cap;
    return STATUS_OK;
}

/* Appends a record for w->path with the given mode; data comes later. */
static status_t add_record(struct walk *w, uint32_t mode, struct record **out)
{
    struct userdir *d = w->dir;
    size_t name_len = strlen(w->path);
    struct record *r;

    if (d->count == CPIO_MAX_ENTRIES) {
        REFUSE(w, STATUS_RESOURCE_EXHAUSTED, "too many entries");
    }
    if (d->count == w->record_cap) {
        size_t cap = w->record_cap == 0 ? RECORDS_START : w->record_cap * 2;
        struct record *grown = realloc(w->records, cap * sizeof(*grown));

        if (grown == NULL) {
            REFUSE(w, STATUS_RESOURCE_EXHAUSTED, "out of memory");
        }
        w->records = grown;
        w->record_cap = cap;
    }
    TRY(reserve(w, name_len + 1));
    r = &w->records[d->count++];
    r->name_off = d->arena_len;
    r->name_len = name_len;
    r->data_off = 0;
    r->data_len = 0;
    r->mode = mode;
    memcpy(d->arena + d->arena_len, w->path, name_len + 1);
    d->arena_len += name_len + 1;
    *out = r;
    return STATUS_OK;
}

/* Reads exactly st->st_size bytes of fd into the arena for r; a file that
 * ends early or grows while read is refused, not silently truncated. */
static status_t read_file(struct walk *w, int fd, const struct stat *st, struct record *r)
{
    struct userdir *d = w->dir;
    size_t size = (size_t)st->st_size;
    size_t done = 0;
    uint8_t probe;
    ssize_t n;

    TRY(reserve(w, size));
    r->data_off = d->arena_len;
    while (done < size) {
        n = read(fd, d->arena + d->arena_len + done, size - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            REFUSE(w, STATUS_DATA_LOSS, "short read");
        }
        done += (size_t)n;
    }
    do {
        n = read(fd, &probe, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 0) {
        REFUSE(w, STATUS_DATA_LOSS, "changed while it was read");
    }
    r->data_len = size;
    d->arena_len += size;
    return STATUS_OK;
}

static status_t walk_dir(struct walk *w, int dir_fd);

/* Refuses every type but a directory or a regular file, naming the type. */
static status_t check_type(struct walk *w, const struct stat *st)
{
    if (S_ISLNK(st->st_mode)) {
        REFUSE(w, STATUS_UNIMPLEMENTED, "a symlink (only regular files and directories)");
    }
    if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
        REFUSE(w, STATUS_UNIMPLEMENTED, "a device (only regular files and directories)");
    }
    if (S_ISFIFO(st->st_mode)) {
        REFUSE(w, STATUS_UNIMPLEMENTED, "a FIFO (only regular files and directories)");
    }
    if (S_ISSOCK(st->st_mode)) {
        REFUSE(w, STATUS_UNIMPLEMENTED, "a socket (only regular files and directories)");
    }
    if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode)) {
        REFUSE(w, STATUS_UNIMPLEMENTED, "not a regular file or directory");
    }
    /* As in the image: a second name for one file is refused. */
    if (S_ISREG(st->st_mode) && st->st_nlink > 1) {
        REFUSE(w, STATUS_UNIMPLEMENTED, "a hard link (more than one name for one file)");
    }
    return STATUS_OK;
}

/* Opens name in dir_fd for reading as the type seen before (flags say
 * which) and checks it is still the same file. */
static status_t reopen(struct walk *w, int dir_fd, const char *name, int flags,
                       const struct stat *seen, int *out)
{
    struct stat st;
    int fd = openat(dir_fd, name, flags | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        REFUSE(w, STATUS_UNAVAILABLE, "cannot be opened");
    }
    if (fstat(fd, &st) != 0 || st.st_dev != seen->st_dev || st.st_ino != seen->st_ino ||
        (st.st_mode & S_IFMT) != (seen->st_mode & S_IFMT)) {
        close(fd);
        REFUSE(w, STATUS_DATA_LOSS, "changed while it was read");
    }
    *out = fd;
    return STATUS_OK;
}

static status_t read_regular(struct walk *w, int dir_fd, const char *name, const struct stat *st)
{
    struct record *r = NULL;
    status_t s;
    int fd = -1;

    if (st->st_size > CPIO_MAX_FILE) {
        REFUSE(w, STATUS_RESOURCE_EXHAUSTED, "file too large (over 16 MiB)");
    }
    if ((size_t)st->st_size > CPIO_MAX_IMAGE - w->data_total) {
        REFUSE(w, STATUS_RESOURCE_EXHAUSTED, "userdata too large (over 64 MiB in all)");
    }
    TRY(add_record(w, (uint32_t)st->st_mode, &r));
    TRY(reopen(w, dir_fd, name, O_NONBLOCK, st, &fd));
    s = read_file(w, fd, st, r);
    close(fd);
    w->data_total += r->data_len;
    return s;
}

/* Reads the entry name of dir_fd, whose path w->path already holds.
 * *absent is set (and OK returned) when it does not exist and absent is
 * not NULL. */
static status_t read_entry(struct walk *w, int dir_fd, const char *name, int *absent)
{
    struct stat st;
    struct record *r = NULL;
    int fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    int rc;

    if (fd < 0 && errno == ENOENT && absent != NULL) {
        *absent = 1;
        return STATUS_OK;
    }
    if (fd < 0) {
        REFUSE(w, STATUS_UNAVAILABLE, "cannot be looked up");
    }
    rc = fstat(fd, &st);
    close(fd);
    if (rc != 0) {
        REFUSE(w, STATUS_UNAVAILABLE, "cannot be looked up");
    }
    TRY(check_type(w, &st));
    if (S_ISREG(st.st_mode)) {
        return read_regular(w, dir_fd, name, &st);
    }
    TRY(add_record(w, (uint32_t)st.st_mode, &r));
    TRY(reopen(w, dir_fd, name, O_DIRECTORY, &st, &fd));
    return walk_dir(w, fd); /* takes fd */
}

/* Appends "/name" (or "name" at the root) to w->path; refuses overlong paths. */
static status_t push_name(struct walk *w, const char *name, size_t *saved)
{
    size_t at = strlen(w->path);
    size_t n = strlen(name);
    size_t sep = at > 0 ? 1 : 0;

    *saved = at;
    if (at + sep + n > CPIO_MAX_NAME) {
        /* Names the directory holding the long name; the name does not fit. */
        REFUSE(w, STATUS_RESOURCE_EXHAUSTED, "holds a name too long (over 255 bytes in all)");
    }
    if (sep) {
        w->path[at] = '/';
    }
    memcpy(w->path + at + sep, name, n + 1);
    return STATUS_OK;
}

/* Reads every entry of the directory dir_fd (takes it: closed here). */
static status_t walk_dir(struct walk *w, int dir_fd)
{
    DIR *dir = fdopendir(dir_fd);
    status_t s = STATUS_OK;

    if (dir == NULL) {
        close(dir_fd);
        REFUSE(w, STATUS_UNAVAILABLE, "cannot be listed");
    }
    for (;;) {
        struct dirent *e;
        size_t saved;

        errno = 0;
        e = readdir(dir);
        if (e == NULL) {
            if (errno != 0) {
                report(w, "cannot be listed");
                s = status_trail_push(STATUS_UNAVAILABLE, "userdir: cannot be listed", __FILE__,
                                      __LINE__);
            }
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        s = push_name(w, e->d_name, &saved);
        if (s == STATUS_OK) {
            s = read_entry(w, dirfd(dir), e->d_name, NULL);
        }
        if (s != STATUS_OK) {
            break;
        }
        w->path[saved] = '\0';
    }
    closedir(dir);
    return s;
}

/* Turns the records' offsets into the entry table, now that the arena is final. */
static status_t make_entries(struct walk *w)
{
    struct userdir *d = w->dir;

    if (d->count == 0) {
        return STATUS_OK;
    }
    d->entries = calloc(d->count, sizeof(*d->entries));
    if (d->entries == NULL) {
        w->path[0] = '\0';
        REFUSE(w, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (size_t i = 0; i < d->count; i++) {
        const struct record *r = &w->records[i];

        d->entries[i].name = (const char *)d->arena + r->name_off;
        d->entries[i].name_len = r->name_len;
        d->entries[i].mode = r->mode;
        d->entries[i].data = r->data_len > 0 ? d->arena + r->data_off : NULL;
        d->entries[i].len = r->data_len;
    }
    return STATUS_OK;
}

status_t userdir_read(int root_fd, struct userdir *out, char *err, size_t err_cap)
{
    struct walk w = {.dir = out, .err = err, .err_cap = err_cap};
    status_t s = STATUS_OK;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(LAYOUT_TREES) / sizeof(LAYOUT_TREES[0]) && s == STATUS_OK;
         i++) {
        int absent = 0;
        size_t saved;

        s = push_name(&w, LAYOUT_TREES[i], &saved);
        if (s == STATUS_OK) {
            s = read_entry(&w, root_fd, LAYOUT_TREES[i], &absent);
        }
        w.path[saved] = '\0';
    }
    if (s == STATUS_OK) {
        s = make_entries(&w);
    }
    free(w.records);
    if (s != STATUS_OK) {
        userdir_clear(out);
    }
    return s;
}

void userdir_clear(struct userdir *d)
{
    if (d->arena != NULL) {
        mbedtls_platform_zeroize(d->arena, d->arena_cap);
    }
    free(d->arena);
    free(d->entries);
    memset(d, 0, sizeof(*d));
}
