/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The unpacked-tree reader (image/userdir.c) and userdata_load_dir/_path on
 * real directories in /tmp: every refusal DESIGN §8 lists, with its status
 * and the path in the message, and the same view as the image of one tree.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "image/userdata.h"
#include "image/userdir.h"

static const char KEY_A[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
static const char KEY_B[] = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

static char root[64];

static void run(const char *cmd)
{
    ck_assert_msg(system(cmd) == 0, "command failed: %s", cmd);
}

static void make_root(void)
{
    snprintf(root, sizeof(root), "/tmp/enclaved-userdir-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void remove_root(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    run(cmd);
}

/* root/rel, for the calls that take a path; two may be live at once. */
static const char *at(const char *rel)
{
    static char paths[2][512];
    static int next;
    char *path = paths[next];

    next = !next;
    snprintf(path, sizeof(paths[0]), "%s/%s", root, rel);
    return path;
}

static void put_dir(const char *rel)
{
    ck_assert_int_eq(mkdir(at(rel), 0755), 0);
}

static void put_file(const char *rel, const void *data, size_t len)
{
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void put_text(const char *rel, const char *text)
{
    put_file(rel, text, strlen(text));
}

/* A file of size bytes without writing them (a hole). */
static void put_sparse(const char *rel, off_t size)
{
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, size), 0);
    close(fd);
}

static void put_socket(const char *rel)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    ck_assert_uint_lt(strlen(at(rel)), sizeof(sa.sun_path));
    strcpy(sa.sun_path, at(rel));
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
}

/* The tree every case starts from: a valid layout. */
static void put_layout(void)
{
    put_dir("etc");
    put_text("etc/enclaved.conf", "max_processes = 7\n");
    put_dir("apps");
    put_text("apps/b.lua", "return 2");
    put_text("apps/a.lua", "return 1");
    put_dir("keys");
    put_file("keys/noise_static.key", KEY_A, 32);
    put_file("keys/sealing_secret.key", KEY_B, 32);
}

/* Loads root as a directory; returns the status, err filled. */
static status_t load(struct userdata *u, char *err, size_t err_cap)
{
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    status_t s;

    ck_assert_int_ge(fd, 0);
    s = userdata_load_dir(fd, u, err, err_cap);
    close(fd);
    return s;
}

START_TEST(test_userdir_reads_the_layout_and_nothing_else_at_the_root)
{
    struct userdata u;
    char err[300] = "";

    make_root();
    put_layout();
    put_dir("lib"); /* a sibling tree outside the layout */
    ck_assert_int_eq(symlink("/", at("lib/root")), 0);
    ck_assert_int_eq(mkfifo(at("fifo"), 0600), 0);
    ck_assert_int_eq(symlink("/etc/passwd", at("passwd")), 0);
    put_text("README", "outside the layout");

    ck_assert_msg(load(&u, err, sizeof(err)) == STATUS_OK, "%s", err);
    ck_assert_int_eq(u.from_dir, 1);
    ck_assert_uint_eq(u.config_len, 18);
    ck_assert_mem_eq(u.config_text, "max_processes = 7\n", 18);
    ck_assert_uint_eq(u.app_count, 2);
    ck_assert_str_eq(u.apps[0].name, "a");
    ck_assert_uint_eq(u.apps[0].len, 8);
    ck_assert_mem_eq(u.apps[0].source, "return 1", 8);
    ck_assert_str_eq(u.apps[1].name, "b");
    ck_assert_int_eq(u.has_keys, 1);
    ck_assert_mem_eq(u.static_private, KEY_A, 32);
    ck_assert_mem_eq(u.sealing_secret, KEY_B, 32);
    /* etc, apps, keys and their 5 files; lib/, README, fifo never read. */
    ck_assert_uint_eq(cpio_count(u.archive), 8);
    ck_assert_ptr_null(cpio_find(u.archive, "README"));
    userdata_clear(&u);
    ck_assert_ptr_null(u.owned);
    ck_assert_ptr_null(u.archive);
    remove_root();
}
END_TEST

START_TEST(test_userdir_accepts_an_empty_root)
{
    struct userdata u;
    char err[300] = "";

    make_root();
    ck_assert_msg(load(&u, err, sizeof(err)) == STATUS_OK, "%s", err);
    ck_assert_ptr_null(u.config_text);
    ck_assert_uint_eq(u.app_count, 0);
    ck_assert_int_eq(u.has_keys, 0);
    userdata_clear(&u);
    remove_root();
}
END_TEST

/* One refusal: what to add to the valid layout, and what must come back. */
struct refusal {
    const char *what;
    void (*add)(void);
    status_t status;
    const char *message; /* the whole err line */
};

static void add_symlink_app(void)
{
    ck_assert_int_eq(symlink("/etc/passwd", at("apps/x.lua")), 0);
}

static void add_symlink_tree(void)
{
    ck_assert_int_eq(rename(at("etc"), at("real-etc")), 0);
    ck_assert_int_eq(symlink("real-etc", at("etc")), 0);
}

static void add_dangling_symlink(void)
{
    ck_assert_int_eq(symlink("../../nowhere", at("keys/extra")), 0);
}

static void add_fifo(void)
{
    ck_assert_int_eq(mkfifo(at("keys/fifo"), 0600), 0);
}

static void add_socket(void)
{
    put_socket("etc/sock");
}

static void add_device(void)
{
    /* /dev/null's numbers; the test runs as root (mknod needs CAP_MKNOD). */
    ck_assert_msg(mknod(at("etc/null"), S_IFCHR | 0600, makedev(1, 3)) == 0,
                  "mknod: %s (this suite needs root)", strerror(errno));
}

static void add_hard_link(void)
{
    ck_assert_int_eq(link(at("apps/a.lua"), at("apps/c.lua")), 0);
}

static void add_large_file(void)
{
    put_sparse("etc/big", (off_t)CPIO_MAX_FILE + 1);
}

static void add_large_total(void)
{
    /* Five files of exactly the per-file limit: the fifth crosses 64 MiB. */
    put_dir("etc/bulk");
    for (int i = 0; i < 5; i++) {
        char rel[32];

        snprintf(rel, sizeof(rel), "etc/bulk/%d", i);
        put_sparse(rel, (off_t)CPIO_MAX_FILE);
    }
}

static void add_many_entries(void)
{
    put_dir("etc/many");
    for (int i = 0; i < CPIO_MAX_ENTRIES; i++) {
        char rel[32];

        snprintf(rel, sizeof(rel), "etc/many/%d", i);
        put_text(rel, "");
    }
}

static void add_long_name(void)
{
    char rel[300] = "etc";

    /* 3 + 60 * 4 = 243 bytes of directories, then a 20-byte name. */
    for (int i = 0; i < 60; i++) {
        strcat(rel, "/ddd");
        put_dir(rel);
    }
    strcat(rel, "/nnnnnnnnnnnnnnnnnnnn");
    put_text(rel, "x");
}

static void add_app_subdir(void)
{
    put_dir("apps/sub");
}

static void add_bad_app_name(void)
{
    put_text("apps/bad name.lua", "return 1");
}

static void add_short_key(void)
{
    put_file("keys/sealing_secret.key", KEY_B, 31);
}

static void add_control_byte_name(void)
{
    ck_assert_int_eq(symlink("x", at("apps/a\nb.lua")), 0);
}

static const struct refusal refusals[] = {
    {"symlink app", add_symlink_app, STATUS_UNIMPLEMENTED,
     "apps/x.lua: a symlink (only regular files and directories)"},
    {"symlinked tree", add_symlink_tree, STATUS_UNIMPLEMENTED,
     "etc: a symlink (only regular files and directories)"},
    {"dangling symlink", add_dangling_symlink, STATUS_UNIMPLEMENTED,
     "keys/extra: a symlink (only regular files and directories)"},
    {"fifo", add_fifo, STATUS_UNIMPLEMENTED, "keys/fifo: a FIFO (only regular files and directories)"},
    {"socket", add_socket, STATUS_UNIMPLEMENTED,
     "etc/sock: a socket (only regular files and directories)"},
    {"device", add_device, STATUS_UNIMPLEMENTED,
     "etc/null: a device (only regular files and directories)"},
    {"hard link", add_hard_link, STATUS_UNIMPLEMENTED, NULL},
    {"large file", add_large_file, STATUS_RESOURCE_EXHAUSTED,
     "etc/big: file too large (over 16 MiB)"},
    {"large total", add_large_total, STATUS_RESOURCE_EXHAUSTED, NULL},
    {"many entries", add_many_entries, STATUS_RESOURCE_EXHAUSTED, NULL},
    {"long name", add_long_name, STATUS_RESOURCE_EXHAUSTED, NULL},
    {"apps subdirectory", add_app_subdir, STATUS_INVALID_ARGUMENT,
     "apps/sub: only files of the form apps/NAME.lua belong in apps/"},
    {"bad app name", add_bad_app_name, STATUS_INVALID_ARGUMENT,
     "apps/bad name.lua: app name must match [A-Za-z0-9_.-]{1,64}"},
    {"short key", add_short_key, STATUS_INVALID_ARGUMENT,
     "keys/sealing_secret.key: is 31 bytes, expected exactly 32 raw bytes"},
    {"control byte in a name", add_control_byte_name, STATUS_UNIMPLEMENTED,
     "apps/a?b.lua: a symlink (only regular files and directories)"},
};

START_TEST(test_userdir_refuses_each_bad_tree_naming_the_path)
{
    const struct refusal *r = &refusals[_i];
    struct userdata u;
    char err[300] = "";
    status_t s;

    make_root();
    put_layout();
    r->add();
    s = load(&u, err, sizeof(err));
    ck_assert_msg(s == r->status, "%s: got %s (%s), want %s", r->what, status_name(s), err,
                  status_name(r->status));
    if (r->message != NULL) {
        ck_assert_str_eq(err, r->message);
    }
    ck_assert_ptr_null(u.archive);
    ck_assert_ptr_null(u.owned);
    ck_assert_uint_eq(u.app_count, 0);
    remove_root();
}
END_TEST

/* The cases without a fixed message still name the path and the limit. */
START_TEST(test_userdir_messages_name_the_path)
{
    static const struct {
        void (*add)(void);
        const char *prefix;
        const char *reason;
    } cases[] = {
        {add_hard_link, "apps/", "a hard link"},
        {add_large_total, "etc/bulk/", "userdata too large (over 64 MiB in all)"},
        {add_many_entries, "etc/many/", "too many entries"},
        {add_long_name, "etc/ddd/", "holds a name too long"},
    };
    struct userdata u;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[300] = "";

        make_root();
        put_layout();
        cases[i].add();
        ck_assert_int_ne(load(&u, err, sizeof(err)), STATUS_OK);
        ck_assert_msg(strncmp(err, cases[i].prefix, strlen(cases[i].prefix)) == 0, "%s", err);
        ck_assert_msg(strstr(err, cases[i].reason) != NULL, "%s", err);
        remove_root();
    }
}
END_TEST

/* --userdata picks by type: a directory, an image file, or neither. */
START_TEST(test_userdata_load_path_tells_directory_from_image)
{
    struct userdata u;
    char err[600] = "";

    make_root();
    put_layout();
    ck_assert_int_eq(userdata_load_path(root, &u, err, sizeof(err)), STATUS_OK);
    ck_assert_int_eq(u.from_dir, 1);
    userdata_clear(&u);

    ck_assert_int_eq(symlink("/etc/passwd", at("apps/x.lua")), 0);
    ck_assert_int_eq(userdata_load_path(root, &u, err, sizeof(err)), STATUS_UNIMPLEMENTED);
    ck_assert_msg(strstr(err, "bad userdata directory ") == err, "%s", err);
    ck_assert_msg(strstr(err, ": apps/x.lua: a symlink") != NULL, "%s", err);

    /* A FIFO given as the image is refused at once, not waited on. */
    ck_assert_int_eq(mkfifo(at("pipe"), 0600), 0);
    ck_assert_int_ne(userdata_load_path(at("pipe"), &u, err, sizeof(err)), STATUS_OK);
    ck_assert_msg(strstr(err, "cannot read userdata image ") == err, "%s", err);
    ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);

    ck_assert_int_eq(userdata_load_path(at("missing"), &u, err, sizeof(err)), STATUS_NOT_FOUND);
    ck_assert_msg(strstr(err, "cannot read userdata image ") == err, "%s", err);

    put_text("image.cpio", "070701 this is not an image");
    ck_assert_int_ne(userdata_load_path(at("image.cpio"), &u, err, sizeof(err)), STATUS_OK);
    ck_assert_msg(strstr(err, "bad userdata image ") == err, "%s", err);
    remove_root();
}
END_TEST

/* The directory reader reads only the layout trees (userdir.c); an image may
 * carry other entries (the fleet's apps), which a directory does not index. */
static int in_layout_tree(const char *name)
{
    static const char *const trees[] = {"etc", "apps", "keys"};

    for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++) {
        size_t n = strlen(trees[i]);

        if (strncmp(name, trees[i], n) == 0 && (name[n] == '\0' || name[n] == '/')) {
            return 1;
        }
    }
    return 0;
}

static size_t layout_entries(const struct cpio_archive *a)
{
    size_t n = 0;

    for (size_t i = 0; i < cpio_count(a); i++) {
        n += (size_t)in_layout_tree(cpio_entry_at(a, i)->name);
    }
    return n;
}

/* The tracked default image, unpacked by GNU cpio: the directory gives the
 * same config, apps and keys as the image bytes. */
START_TEST(test_userdir_matches_the_image_it_was_unpacked_from)
{
    const char *image = getenv("ENCLAVED_DEFAULT_IMAGE");
    struct userdata from_image;
    struct userdata from_dir;
    char err[600] = "";
    char cmd[512];

    ck_assert_msg(image != NULL, "ENCLAVED_DEFAULT_IMAGE is not set");
    make_root();
    snprintf(cmd, sizeof(cmd), "cd '%s' && cpio -idm --quiet < '%s'", root, image);
    run(cmd);
    ck_assert_msg(userdata_load_path(image, &from_image, err, sizeof(err)) == STATUS_OK, "%s",
                  err);
    ck_assert_msg(userdata_load_path(root, &from_dir, err, sizeof(err)) == STATUS_OK, "%s", err);
    ck_assert_int_eq(from_image.from_dir, 0);
    ck_assert_int_eq(from_dir.from_dir, 1);
    ck_assert_ptr_nonnull(from_dir.config_text);
    ck_assert_uint_eq(from_dir.config_len, from_image.config_len);
    ck_assert_mem_eq(from_dir.config_text, from_image.config_text, from_image.config_len);
    ck_assert_uint_ge(from_image.app_count, 1);
    ck_assert_uint_eq(from_dir.app_count, from_image.app_count);
    for (size_t i = 0; i < from_image.app_count; i++) {
        ck_assert_str_eq(from_dir.apps[i].name, from_image.apps[i].name);
        ck_assert_uint_eq(from_dir.apps[i].len, from_image.apps[i].len);
        ck_assert_mem_eq(from_dir.apps[i].source, from_image.apps[i].source,
                         from_image.apps[i].len);
    }
    ck_assert_int_eq(from_dir.has_keys, from_image.has_keys);
    /* Every entry of the image's layout trees is in the directory's index. */
    for (size_t i = 0; i < cpio_count(from_image.archive); i++) {
        const struct cpio_entry *e = cpio_entry_at(from_image.archive, i);
        const struct cpio_entry *d;

        if (!in_layout_tree(e->name)) {
            continue;
        }
        d = cpio_find(from_dir.archive, e->name);

        ck_assert_msg(d != NULL, "%s missing from the directory", e->name);
        ck_assert_uint_eq(d->mode & CPIO_MODE_TYPE, e->mode & CPIO_MODE_TYPE);
        ck_assert_uint_eq(d->len, e->len);
    }
    ck_assert_uint_eq(cpio_count(from_dir.archive), layout_entries(from_image.archive));
    userdata_clear(&from_image);
    userdata_clear(&from_dir);
    remove_root();
}
END_TEST

static Suite *userdir_suite(void)
{
    Suite *s = suite_create("userdir");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_userdir_reads_the_layout_and_nothing_else_at_the_root);
    tcase_add_test(tc, test_userdir_accepts_an_empty_root);
    tcase_add_loop_test(tc, test_userdir_refuses_each_bad_tree_naming_the_path, 0,
                        (int)(sizeof(refusals) / sizeof(refusals[0])));
    tcase_add_test(tc, test_userdir_messages_name_the_path);
    tcase_add_test(tc, test_userdata_load_path_tells_directory_from_image);
    tcase_add_test(tc, test_userdir_matches_the_image_it_was_unpacked_from);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(userdir_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
