/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/cpio.h"
#include "cpio_build.h"

enum { IMAGE_CAP = 64 * 1024 };

/* One rejection: the entries to write, how to damage the image, and the exact
 * status and trail message cpio_open must give. */
struct reject_case {
    const char *what;
    struct build_entry entries[3];
    int no_trailer;
    const char *tail;
    size_t tail_len;
    size_t truncate_to;
    long corrupt_at;
    char corrupt_with;
    status_t want;
    const char *message;
};

#define ODC "070707"
#define CRC "070702"

static const struct reject_case reject_cases[] = {
    {"unknown magic", {{.magic = "070703", .name = "a", .data = "x"}}, 0, NULL, 0, 0, 0, 0,
     STATUS_INVALID_ARGUMENT, "cpio: bad magic"},
    {"old newc-like magic", {{.magic = "070700", .name = "a"}}, 0, NULL, 0, 0, 0, 0,
     STATUS_INVALID_ARGUMENT, "cpio: bad magic"},
    {"newc then odc", {{.name = "a"}, {.magic = ODC, .name = "b"}}, 0, NULL, 0, 0, 0, 0,
     STATUS_INVALID_ARGUMENT, "cpio: bad magic"},
    {"non-hex ino", {{.name = "a"}}, 0, NULL, 0, 0, 6, 'g', STATUS_INVALID_ARGUMENT,
     "cpio: non-hex header field"},
    {"non-hex check", {{.name = "a"}}, 0, NULL, 0, 0, 109, ' ', STATUS_INVALID_ARGUMENT,
     "cpio: non-hex header field"},
    {"non-hex sign in filesize", {{.name = "a"}}, 0, NULL, 0, 0, 54, '-',
     STATUS_INVALID_ARGUMENT, "cpio: non-hex header field"},
    {"non-octal odc dev", {{.magic = ODC, .name = "a"}}, 0, NULL, 0, 0, 6, '8',
     STATUS_INVALID_ARGUMENT, "cpio: non-octal header field"},
    {"hex digit in odc filesize", {{.magic = ODC, .name = "a"}}, 0, NULL, 0, 0, 70, 'a',
     STATUS_INVALID_ARGUMENT, "cpio: non-octal header field"},
    {"header cut short", {{.name = "a"}}, 0, NULL, 0, 50, 0, 0, STATUS_OUT_OF_RANGE,
     "cpio: truncated header"},
    {"magic cut short", {{.name = "a"}}, 0, NULL, 0, 3, 0, 0, STATUS_OUT_OF_RANGE,
     "cpio: truncated header"},
    {"odc header cut short", {{.magic = ODC, .name = "a"}}, 0, NULL, 0, 70, 0, 0,
     STATUS_OUT_OF_RANGE, "cpio: truncated header"},
    {"filesize past end", {{.name = "a", .data = "xy", .filesize = 1000}}, 1, NULL, 0, 0, 0, 0,
     STATUS_OUT_OF_RANGE, "cpio: data past end of image"},
    {"odc filesize past end", {{.magic = ODC, .name = "a", .data = "xy", .filesize = 99}}, 1,
     NULL, 0, 0, 0, 0, STATUS_OUT_OF_RANGE, "cpio: data past end of image"},
    {"namesize past end", {{.name = "a", .namesize = 200}}, 1, NULL, 0, 0, 0, 0,
     STATUS_OUT_OF_RANGE, "cpio: name past end of image"},
    {"name too long", {{.name = "a", .namesize = CPIO_MAX_NAME + 2}}, 0, NULL, 0, 0, 0, 0,
     STATUS_RESOURCE_EXHAUSTED, "cpio: name too long"},
    {"namesize one", {{.name = "", .name_len = BUILD_AUTO}}, 0, NULL, 0, 0, 0, 0,
     STATUS_INVALID_ARGUMENT, "cpio: empty name"},
    {"name is ./", {{.name = "./"}}, 0, NULL, 0, 0, 0, 0, STATUS_INVALID_ARGUMENT,
     "cpio: empty name"},
    {"missing NUL", {{.name = "abc", .namesize = 3}}, 0, NULL, 0, 0, 0, 0,
     STATUS_INVALID_ARGUMENT, "cpio: name not NUL-terminated"},
    {"NUL inside name", {{.name = "a\0b", .name_len = 3}}, 0, NULL, 0, 0, 0, 0,
     STATUS_INVALID_ARGUMENT, "cpio: NUL inside name"},
    {"file too large", {{.name = "a", .data = "x", .filesize = CPIO_MAX_FILE + 1}}, 1, NULL, 0,
     0, 0, 0, STATUS_RESOURCE_EXHAUSTED, "cpio: file too large"},
    {"absolute path", {{.name = "/etc/passwd"}}, 0, NULL, 0, 0, 0, 0, STATUS_INVALID_ARGUMENT,
     "cpio: absolute path"},
    {"absolute after ./", {{.name = ".//etc"}}, 0, NULL, 0, 0, 0, 0, STATUS_INVALID_ARGUMENT,
     "cpio: absolute path"},
    {"dotdot alone", {{.name = ".."}}, 0, NULL, 0, 0, 0, 0, STATUS_INVALID_ARGUMENT,
     "cpio: '..' in name"},
    {"dotdot inside", {{.name = "a/../b"}}, 0, NULL, 0, 0, 0, 0, STATUS_INVALID_ARGUMENT,
     "cpio: '..' in name"},
    {"dotdot last", {{.name = "apps/.."}}, 0, NULL, 0, 0, 0, 0, STATUS_INVALID_ARGUMENT,
     "cpio: '..' in name"},
    {"dotdot after ./", {{.name = "./../x"}}, 0, NULL, 0, 0, 0, 0, STATUS_INVALID_ARGUMENT,
     "cpio: '..' in name"},
    {"double slash", {{.name = "a//b"}}, 0, NULL, 0, 0, 0, 0, STATUS_INVALID_ARGUMENT,
     "cpio: non-canonical name"},
    {"dot component", {{.name = "a/./b"}}, 0, NULL, 0, 0, 0, 0, STATUS_INVALID_ARGUMENT,
     "cpio: non-canonical name"},
    {"trailing slash", {{.name = "a/", .mode = 040755}}, 0, NULL, 0, 0, 0, 0,
     STATUS_INVALID_ARGUMENT, "cpio: non-canonical name"},
    {"dot as a file", {{.name = "."}}, 0, NULL, 0, 0, 0, 0, STATUS_INVALID_ARGUMENT,
     "cpio: non-canonical name"},
    {"symlink", {{.name = "l", .mode = 0120777, .data = "/etc/shadow"}}, 0, NULL, 0, 0, 0, 0,
     STATUS_UNIMPLEMENTED, "cpio: not a file or directory"},
    {"char device", {{.name = "c", .mode = 020600}}, 0, NULL, 0, 0, 0, 0, STATUS_UNIMPLEMENTED,
     "cpio: not a file or directory"},
    {"block device", {{.name = "b", .mode = 060600}}, 0, NULL, 0, 0, 0, 0,
     STATUS_UNIMPLEMENTED, "cpio: not a file or directory"},
    {"fifo", {{.name = "p", .mode = 010600}}, 0, NULL, 0, 0, 0, 0, STATUS_UNIMPLEMENTED,
     "cpio: not a file or directory"},
    {"socket", {{.name = "s", .mode = 0140600}}, 0, NULL, 0, 0, 0, 0, STATUS_UNIMPLEMENTED,
     "cpio: not a file or directory"},
    {"odc symlink", {{.magic = ODC, .name = "l", .mode = 0120777, .data = "x"}}, 0, NULL, 0, 0,
     0, 0, STATUS_UNIMPLEMENTED, "cpio: not a file or directory"},
    {"hard link", {{.name = "h", .nlink = 2, .data = "x"}}, 0, NULL, 0, 0, 0, 0,
     STATUS_UNIMPLEMENTED, "cpio: hard link"},
    {"directory with data", {{.name = "d", .mode = 040755, .data = "x"}}, 0, NULL, 0, 0, 0, 0,
     STATUS_INVALID_ARGUMENT, "cpio: directory with data"},
    {"crc mismatch", {{.magic = CRC, .name = "a", .data = "abc", .check = 1}}, 0, NULL, 0, 0,
     0, 0, STATUS_DATA_LOSS, "cpio: checksum mismatch"},
    {"crc of empty file not zero", {{.magic = CRC, .name = "a", .check = 7}}, 0, NULL, 0, 0, 0,
     0, STATUS_DATA_LOSS, "cpio: checksum mismatch"},
    {"missing trailer", {{.name = "a", .data = "x"}}, 1, NULL, 0, 0, 0, 0, STATUS_OUT_OF_RANGE,
     "cpio: missing TRAILER!!!"},
    {"empty image", {{0}}, 1, NULL, 0, 0, 0, 0, STATUS_OUT_OF_RANGE, "cpio: missing TRAILER!!!"},
    {"text after trailer", {{.name = "a"}}, 0, "x", 1, 0, 0, 0, STATUS_INVALID_ARGUMENT,
     "cpio: data after trailer"},
    {"non-zero byte after zero padding", {{.name = "a"}}, 0, "\0\0\0\0\0\1", 6, 0, 0, 0,
     STATUS_INVALID_ARGUMENT, "cpio: data after trailer"},
    {"second archive after trailer", {{.name = "a"}}, 0, "070701", 6, 0, 0, 0,
     STATUS_INVALID_ARGUMENT, "cpio: data after trailer"},
    {"duplicate name", {{.name = "a", .data = "1"}, {.name = "a", .data = "2"}}, 0, NULL, 0, 0,
     0, 0, STATUS_ALREADY_EXISTS, "cpio: duplicate name"},
    {"duplicate after ./", {{.name = "./a"}, {.name = "a"}}, 0, NULL, 0, 0, 0, 0,
     STATUS_ALREADY_EXISTS, "cpio: duplicate name"},
    {"file and directory of one name", {{.name = "d", .mode = 040755}, {.name = "d"}}, 0, NULL,
     0, 0, 0, 0, STATUS_ALREADY_EXISTS, "cpio: duplicate name"},
};

static size_t build_case(const struct reject_case *c, uint8_t *buf, size_t cap)
{
    struct build b = {buf, cap, 0};
    const char *magic = NULL;

    for (size_t i = 0; i < 3 && c->entries[i].name != NULL; i++) {
        build_entry(&b, &c->entries[i]);
        magic = magic != NULL ? magic : c->entries[i].magic;
    }
    if (!c->no_trailer) {
        build_trailer(&b, magic);
    }
    if (c->tail != NULL) {
        build_bytes(&b, c->tail, c->tail_len);
    }
    if (c->corrupt_at > 0) {
        buf[c->corrupt_at] = (uint8_t)c->corrupt_with;
    }
    return c->truncate_to > 0 ? c->truncate_to : b.len;
}

START_TEST(test_cpio_rejects_each_malformed_image)
{
    const struct reject_case *c = &reject_cases[_i];
    static uint8_t buf[IMAGE_CAP];
    struct cpio_archive *a = (struct cpio_archive *)&buf; /* must stay untouched */
    size_t len = build_case(c, buf, sizeof(buf));
    status_t s;

    status_trail_reset();
    s = cpio_open(buf, len, &a);
    ck_assert_msg(s == c->want, "%s: got %s, want %s (%s)", c->what, status_name(s),
                  status_name(c->want), status_trail_message());
    ck_assert_msg(strcmp(status_trail_message(), c->message) == 0, "%s: got message '%s'",
                  c->what, status_trail_message());
    ck_assert_ptr_eq(a, (struct cpio_archive *)&buf);
}
END_TEST

START_TEST(test_cpio_namesize_zero_is_an_empty_name)
{
    static uint8_t buf[512];
    struct build b = {buf, sizeof(buf), 0};
    struct cpio_archive *a = NULL;

    build_file(&b, "a", NULL);
    memcpy(buf + 94, "00000000", 8); /* namesize field */
    status_trail_reset();
    ck_assert_int_eq(cpio_open(buf, b.len, &a), STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(status_trail_message(), "cpio: empty name");
}
END_TEST

START_TEST(test_cpio_rejects_image_over_limit)
{
    uint8_t *big = calloc(1, (size_t)CPIO_MAX_IMAGE + 1);
    struct cpio_archive *a = NULL;

    ck_assert_ptr_nonnull(big);
    status_trail_reset();
    ck_assert_int_eq(cpio_open(big, (size_t)CPIO_MAX_IMAGE + 1, &a), STATUS_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(status_trail_message(), "cpio: image too large");
    ck_assert_ptr_null(a);
    free(big);
}
END_TEST

static size_t build_many(uint8_t *buf, size_t cap, size_t count)
{
    struct build b = {buf, cap, 0};
    char name[16];

    for (size_t i = 0; i < count; i++) {
        snprintf(name, sizeof(name), "f%05zu", count - i); /* reverse order on purpose */
        build_file(&b, name, NULL);
    }
    build_trailer(&b, NULL);
    return b.len;
}

START_TEST(test_cpio_rejects_too_many_entries)
{
    size_t cap = (CPIO_MAX_ENTRIES + 2) * 128;
    uint8_t *buf = malloc(cap);
    struct cpio_archive *a = NULL;
    size_t len;

    ck_assert_ptr_nonnull(buf);
    len = build_many(buf, cap, CPIO_MAX_ENTRIES);
    ck_assert_int_eq(cpio_open(buf, len, &a), STATUS_OK);
    ck_assert_uint_eq(cpio_count(a), CPIO_MAX_ENTRIES);
    ck_assert_str_eq(cpio_entry_at(a, 0)->name, "f00001");
    cpio_close(a);
    a = NULL;

    len = build_many(buf, cap, CPIO_MAX_ENTRIES + 1);
    status_trail_reset();
    ck_assert_int_eq(cpio_open(buf, len, &a), STATUS_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(status_trail_message(), "cpio: too many entries");
    ck_assert_ptr_null(a);
    free(buf);
}
END_TEST

START_TEST(test_cpio_accepts_limits_exactly)
{
    size_t cap = (size_t)CPIO_MAX_FILE + 4096;
    uint8_t *buf = calloc(1, cap);
    char *data = malloc(CPIO_MAX_FILE);
    char name[CPIO_MAX_NAME + 1];
    struct build b = {buf, cap, 0};
    struct build_entry file = {.name = name, .data = data, .data_len = CPIO_MAX_FILE};
    struct cpio_archive *a = NULL;

    ck_assert_ptr_nonnull(buf);
    ck_assert_ptr_nonnull(data);
    memset(data, 0xfe, CPIO_MAX_FILE);
    memset(name, 'n', CPIO_MAX_NAME);
    name[CPIO_MAX_NAME] = '\0';
    build_entry(&b, &file);
    build_trailer(&b, NULL);
    ck_assert_int_eq(cpio_open(buf, b.len, &a), STATUS_OK);
    ck_assert_uint_eq(cpio_find(a, name)->len, CPIO_MAX_FILE);
    ck_assert_uint_eq(cpio_find(a, name)->name_len, CPIO_MAX_NAME);
    cpio_close(a);
    free(data);
    free(buf);
}
END_TEST

START_TEST(test_cpio_normalises_names_and_sorts)
{
    static uint8_t buf[4096];
    struct build b = {buf, sizeof(buf), 0};
    struct cpio_archive *a = NULL;
    const struct cpio_entry *e;

    build_dir(&b, ".");
    build_file(&b, "./z", "zz");
    build_dir(&b, "./etc");
    build_file(&b, "./etc/enclaved.conf", "listen = 127.0.0.1:1\n");
    build_file(&b, "a-b", NULL);
    build_file(&b, "a/b", "ab");
    build_dir(&b, "a");
    build_trailer(&b, NULL);
    build_zeros_to(&b, 512); /* GNU cpio's block padding */
    ck_assert_int_eq(cpio_open(buf, b.len, &a), STATUS_OK);
    ck_assert_uint_eq(cpio_count(a), 6);
    ck_assert_str_eq(cpio_entry_at(a, 0)->name, "a");
    ck_assert_str_eq(cpio_entry_at(a, 1)->name, "a-b");
    ck_assert_str_eq(cpio_entry_at(a, 2)->name, "a/b");
    ck_assert_str_eq(cpio_entry_at(a, 3)->name, "etc");
    ck_assert_str_eq(cpio_entry_at(a, 4)->name, "etc/enclaved.conf");
    ck_assert_str_eq(cpio_entry_at(a, 5)->name, "z");
    ck_assert_ptr_null(cpio_entry_at(a, 6));
    ck_assert(cpio_entry_is_dir(cpio_entry_at(a, 0)));
    ck_assert(cpio_entry_is_file(cpio_entry_at(a, 1)));
    ck_assert_uint_eq(cpio_entry_at(a, 1)->len, 0);
    e = cpio_find(a, "./z");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->name_len, 1);
    ck_assert_mem_eq(e->data, "zz", 2);
    ck_assert_ptr_eq(cpio_find(a, "z"), e);
    ck_assert_ptr_null(cpio_find(a, "."));
    ck_assert_ptr_null(cpio_find(a, "zz"));
    ck_assert_ptr_null(cpio_find(a, ""));
    cpio_close(a);
    cpio_close(NULL);
}
END_TEST

START_TEST(test_cpio_reads_hand_made_odc_and_crc)
{
    static const char *magics[] = {ODC, CRC};
    static uint8_t buf[1024];

    for (size_t i = 0; i < 2; i++) {
        struct build b = {buf, sizeof(buf), 0};
        struct build_entry e = {.magic = magics[i], .name = "bin", .data = "\x01\xff\x80",
                                .data_len = 3};
        struct build_entry d = {.magic = magics[i], .name = "d", .mode = 040700, .nlink = 2};
        struct cpio_archive *a = NULL;

        build_entry(&b, &e);
        build_entry(&b, &d);
        build_trailer(&b, magics[i]);
        ck_assert_int_eq(cpio_open(buf, b.len, &a), STATUS_OK);
        ck_assert_uint_eq(cpio_count(a), 2);
        ck_assert_mem_eq(cpio_find(a, "bin")->data, "\x01\xff\x80", 3);
        ck_assert_uint_eq(cpio_find(a, "bin")->mode, 0100644);
        ck_assert_uint_eq(cpio_find(a, "d")->mode, 040700);
        cpio_close(a);
    }
}
END_TEST

START_TEST(test_cpio_report_names_entry_and_offset)
{
    static uint8_t buf[1024];
    struct build b = {buf, sizeof(buf), 0};
    struct cpio_archive *a = NULL;
    char err[160];

    build_file(&b, "ok", "1");
    build_file(&b, "a/../b\x01", NULL);
    build_trailer(&b, NULL);
    ck_assert_int_eq(cpio_open_report(buf, b.len, &a, err, sizeof(err)),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(err, "cpio: '..' in name: entry 'a/../b?' at offset 120");

    ck_assert_int_eq(cpio_open_report(buf, 3, &a, err, sizeof(err)), STATUS_OUT_OF_RANGE);
    ck_assert_str_eq(err, "cpio: truncated header at offset 0");
    ck_assert_ptr_null(a);
}
END_TEST

/* Writes path under dir with len bytes of data. */
static void write_file(const char *dir, const char *path, const void *data, size_t len)
{
    char full[512];
    FILE *f;

    snprintf(full, sizeof(full), "%s/%s", dir, path);
    f = fopen(full, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static void make_dir(const char *dir, const char *path)
{
    char full[512];

    snprintf(full, sizeof(full), "%s/%s", dir, path);
    ck_assert_int_eq(mkdir(full, 0755), 0);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(1 << 20);
    size_t n;

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(buf);
    n = fread(buf, 1, 1 << 20, f);
    ck_assert_int_eq(fclose(f), 0);
    *len = n;
    return buf;
}

/* GNU cpio writes each format from a temp tree; the reader returns exactly
 * the tree. _i selects the format. */
START_TEST(test_cpio_reads_gnu_cpio_archives_identically)
{
    static const char *formats[] = {"newc", "crc", "odc"};
    char dir[] = "/tmp/test_cpio.XXXXXX";
    char cmd[1024], out[600];
    uint8_t binary[1000];
    uint8_t *image;
    size_t len;
    struct cpio_archive *a = NULL;
    const struct cpio_entry *e;

    for (size_t i = 0; i < sizeof(binary); i++) {
        binary[i] = (uint8_t)(i * 7 + 3);
    }
    ck_assert_ptr_nonnull(mkdtemp(dir));
    make_dir(dir, "tree");
    make_dir(dir, "tree/etc");
    make_dir(dir, "tree/apps");
    make_dir(dir, "tree/apps/empty-dir");
    write_file(dir, "tree/etc/enclaved.conf", "listen = 127.0.0.1:7480\n", 24);
    write_file(dir, "tree/apps/bin.dat", binary, sizeof(binary));
    write_file(dir, "tree/apps/empty.lua", "", 0);
    write_file(dir, "tree/odd", "abc", 3);
    snprintf(out, sizeof(out), "%s/out.cpio", dir);
    snprintf(cmd, sizeof(cmd),
             "cd '%s/tree' && find . -print0 | LC_ALL=C sort -z | "
             "cpio -o -0 --quiet -H %s > '%s'",
             dir, formats[_i], out);
    ck_assert_int_eq(system(cmd), 0);

    image = read_all(out, &len);
    ck_assert_int_eq(cpio_open(image, len, &a), STATUS_OK);
    ck_assert_uint_eq(cpio_count(a), 7);
    e = cpio_find(a, "apps/bin.dat");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->len, sizeof(binary));
    ck_assert_mem_eq(e->data, binary, sizeof(binary));
    ck_assert_uint_eq(e->mode & CPIO_MODE_TYPE, CPIO_MODE_FILE);
    e = cpio_find(a, "etc/enclaved.conf");
    ck_assert_ptr_nonnull(e);
    ck_assert_mem_eq(e->data, "listen = 127.0.0.1:7480\n", 24);
    ck_assert_uint_eq(cpio_find(a, "apps/empty.lua")->len, 0);
    ck_assert(cpio_entry_is_dir(cpio_find(a, "apps/empty-dir")));
    ck_assert_mem_eq(cpio_find(a, "odd")->data, "abc", 3);
    ck_assert_str_eq(cpio_entry_at(a, 0)->name, "apps");
    ck_assert_str_eq(cpio_entry_at(a, 6)->name, "odd");
    cpio_close(a);
    free(image);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *cpio_suite(void)
{
    Suite *s = suite_create("cpio");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_cpio_rejects_each_malformed_image, 0,
                        (int)(sizeof(reject_cases) / sizeof(reject_cases[0])));
    tcase_add_test(tc, test_cpio_namesize_zero_is_an_empty_name);
    tcase_add_test(tc, test_cpio_rejects_image_over_limit);
    tcase_add_test(tc, test_cpio_rejects_too_many_entries);
    tcase_add_test(tc, test_cpio_accepts_limits_exactly);
    tcase_add_test(tc, test_cpio_normalises_names_and_sorts);
    tcase_add_test(tc, test_cpio_reads_hand_made_odc_and_crc);
    tcase_add_test(tc, test_cpio_report_names_entry_and_offset);
    tcase_add_loop_test(tc, test_cpio_reads_gnu_cpio_archives_identically, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cpio_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
