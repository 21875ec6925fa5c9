/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "image/config.h"
#include "cpio_build.h"
#include "image/userdata.h"

enum { IMAGE_CAP = 16 * 1024 };

static const char KEY_A[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
static const char KEY_B[] = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

static uint8_t image[IMAGE_CAP];

START_TEST(test_userdata_loads_config_apps_and_keys)
{
    struct build b = {image, sizeof(image), 0};
    struct userdata u;
    char err[160] = "";

    build_dir(&b, ".");
    build_dir(&b, "./apps");
    build_file(&b, "./apps/zeta.lua", "return 1");
    build_file(&b, "./apps/a.lua", "return 2");
    build_file(&b, "./apps/a-b.lua", "return 3");
    build_dir(&b, "./etc");
    build_file(&b, "./etc/enclaved.conf", "log_level = debug\n");
    build_dir(&b, "./keys");
    build_file(&b, "./keys/noise_static.key", KEY_A);
    build_file(&b, "./keys/sealing_secret.key", KEY_B);
    build_file(&b, "./README", "not an app, outside apps/");
    build_trailer(&b, NULL);

    ck_assert_int_eq(userdata_load(image, b.len, &u, err, sizeof(err)), STATUS_OK);
    ck_assert_ptr_nonnull(u.archive);
    ck_assert_uint_eq(u.config_len, 18);
    ck_assert_mem_eq(u.config_text, "log_level = debug\n", 18);
    ck_assert_uint_eq(u.app_count, 3);
    /* Stem order, not path order: "a" < "a-b" although "a-b.lua" < "a.lua". */
    ck_assert_str_eq(u.apps[0].name, "a");
    ck_assert_str_eq(u.apps[1].name, "a-b");
    ck_assert_str_eq(u.apps[2].name, "zeta");
    ck_assert_mem_eq(u.apps[1].source, "return 3", 8);
    ck_assert_uint_eq(u.apps[1].len, 8);
    ck_assert_ptr_eq(userdata_find_app(&u, "zeta"), &u.apps[2]);
    ck_assert_ptr_null(userdata_find_app(&u, "zeta.lua"));
    ck_assert_int_eq(u.has_keys, 1);
    ck_assert_mem_eq(u.static_private, KEY_A, 32);
    ck_assert_mem_eq(u.sealing_secret, KEY_B, 32);
    userdata_clear(&u);
    ck_assert_ptr_null(u.archive);
    ck_assert_ptr_null(u.apps);
    ck_assert_uint_eq(u.app_count, 0);
    for (size_t i = 0; i < USERDATA_KEY_LEN; i++) {
        ck_assert_uint_eq(u.static_private[i] | u.sealing_secret[i], 0);
    }
    userdata_clear(&u);
}
END_TEST

START_TEST(test_userdata_accepts_image_without_config_apps_or_keys)
{
    struct build b = {image, sizeof(image), 0};
    struct userdata u;
    char err[160] = "";

    build_dir(&b, "apps");
    build_trailer(&b, NULL);
    ck_assert_int_eq(userdata_load(image, b.len, &u, err, sizeof(err)), STATUS_OK);
    ck_assert_ptr_null(u.config_text);
    ck_assert_uint_eq(u.config_len, 0);
    ck_assert_uint_eq(u.app_count, 0);
    ck_assert_ptr_null(u.apps);
    ck_assert_int_eq(u.has_keys, 0);
    userdata_clear(&u);
}
END_TEST

/* One layout error: the files to put in the image, and what err must say. */
struct layout_case {
    const char *what;
    const char *paths[3];
    const char *contents[3];
    int dir_mask; /* bit i: paths[i] is a directory */
    status_t want;
    const char *err;
};

static const char LONG_NAME_PATH[] =
    "apps/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.lua";

static const struct layout_case layout_cases[] = {
    {"static key alone", {"keys/noise_static.key"}, {KEY_A}, 0, STATUS_INVALID_ARGUMENT,
     "keys/sealing_secret.key: missing (the two key files come together or not at all)"},
    {"sealing secret alone", {"keys/sealing_secret.key"}, {KEY_A}, 0, STATUS_INVALID_ARGUMENT,
     "keys/noise_static.key: missing (the two key files come together or not at all)"},
    {"short static key", {"keys/noise_static.key", "keys/sealing_secret.key"}, {"short", KEY_B},
     0, STATUS_INVALID_ARGUMENT,
     "keys/noise_static.key: is 5 bytes, expected exactly 32 raw bytes"},
    {"hex sealing secret", {"keys/noise_static.key", "keys/sealing_secret.key"},
     {KEY_A, "4141414141414141414141414141414141414141414141414141414141414141"}, 0,
     STATUS_INVALID_ARGUMENT, "keys/sealing_secret.key: is 64 bytes, expected exactly 32 raw bytes"},
    {"key is a directory", {"keys/noise_static.key", "keys/sealing_secret.key"}, {NULL, KEY_B},
     1, STATUS_INVALID_ARGUMENT, "keys/noise_static.key: not a regular file"},
    {"config is a directory", {"etc/enclaved.conf"}, {NULL}, 1, STATUS_INVALID_ARGUMENT,
     "etc/enclaved.conf: not a regular file"},
    {"space in app name", {"apps/my app.lua"}, {"x"}, 0, STATUS_INVALID_ARGUMENT,
     "apps/my app.lua: app name must match [A-Za-z0-9_.-]{1,64}"},
    {"empty app name", {"apps/.lua"}, {"x"}, 0, STATUS_INVALID_ARGUMENT,
     "apps/.lua: only files of the form apps/NAME.lua belong in apps/"},
    {"app name of 65 bytes", {LONG_NAME_PATH}, {"x"}, 0, STATUS_INVALID_ARGUMENT,
     "apps/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.lua: app name "
     "must match [A-Za-z0-9_.-]{1,64}"},
    {"nested app", {"apps/sub/x.lua"}, {"x"}, 0, STATUS_INVALID_ARGUMENT,
     "apps/sub/x.lua: app name must match [A-Za-z0-9_.-]{1,64}"},
    {"directory in apps", {"apps/sub"}, {NULL}, 1, STATUS_INVALID_ARGUMENT,
     "apps/sub: only files of the form apps/NAME.lua belong in apps/"},
    {"not a lua file", {"apps/notes.txt"}, {"x"}, 0, STATUS_INVALID_ARGUMENT,
     "apps/notes.txt: only files of the form apps/NAME.lua belong in apps/"},
    {"bad cpio names the entry", {"apps/../x.lua"}, {"x"}, 0, STATUS_INVALID_ARGUMENT,
     "cpio: '..' in name: entry 'apps/../x.lua' at offset 0"},
};

START_TEST(test_userdata_rejects_each_bad_layout)
{
    const struct layout_case *c = &layout_cases[_i];
    struct build b = {image, sizeof(image), 0};
    struct userdata u;
    char err[200] = "";
    status_t s;

    for (size_t i = 0; i < 3 && c->paths[i] != NULL; i++) {
        if (c->dir_mask & (1 << i)) {
            build_dir(&b, c->paths[i]);
        } else {
            build_file(&b, c->paths[i], c->contents[i]);
        }
    }
    build_trailer(&b, NULL);
    memset(&u, 0x5a, sizeof(u));
    s = userdata_load(image, b.len, &u, err, sizeof(err));
    ck_assert_msg(s == c->want, "%s: got %s", c->what, status_name(s));
    ck_assert_msg(strcmp(err, c->err) == 0, "%s: err '%s'", c->what, err);
    ck_assert_ptr_null(u.archive);
    ck_assert_ptr_null(u.apps);
    ck_assert_int_eq(u.has_keys, 0);
    ck_assert_uint_eq(u.static_private[0] | u.sealing_secret[0], 0);
}
END_TEST

/* The tracked userdata/ tree, packed by scripts/mkuserdata at build time,
 * loads and its config parses and validates. */
START_TEST(test_userdata_loads_the_default_image)
{
    const char *path = getenv("ENCLAVED_DEFAULT_IMAGE");
    static uint8_t buf[1 << 20];
    struct userdata u;
    struct config cfg;
    char err[200] = "";
    FILE *f;
    size_t len;

    ck_assert_msg(path != NULL, "ENCLAVED_DEFAULT_IMAGE is not set");
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ck_assert_int_eq(userdata_load(buf, len, &u, err, sizeof(err)), STATUS_OK);
    ck_assert_ptr_nonnull(userdata_find_app(&u, "broadcast"));
    for (size_t i = 0; i < u.app_count; i++) {
        lua_State *L = luaL_newstate();

        ck_assert_ptr_nonnull(L);
        ck_assert_msg(luaL_loadbufferx(L, (const char *)u.apps[i].source, u.apps[i].len,
                                       u.apps[i].name, "t") == LUA_OK,
                      "%s: %s", u.apps[i].name, lua_tostring(L, -1));
        lua_close(L);
    }
    ck_assert_ptr_nonnull(u.config_text);
    config_defaults(&cfg);
    ck_assert_int_eq(config_parse(&cfg, (const char *)u.config_text, u.config_len, err,
                                  sizeof(err)),
                     STATUS_OK);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), STATUS_OK);
    ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
    ck_assert_uint_eq(cfg.listen_port, 7480);
    userdata_clear(&u);
}
END_TEST

static Suite *userdata_suite(void)
{
    Suite *s = suite_create("userdata");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_userdata_loads_config_apps_and_keys);
    tcase_add_test(tc, test_userdata_accepts_image_without_config_apps_or_keys);
    tcase_add_loop_test(tc, test_userdata_rejects_each_bad_layout, 0,
                        (int)(sizeof(layout_cases) / sizeof(layout_cases[0])));
    tcase_add_test(tc, test_userdata_loads_the_default_image);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(userdata_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
