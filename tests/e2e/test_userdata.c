/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * End-to-end: enclaved booted from userdata images packed by
 * scripts/mkuserdata. Config and boot apps take effect, flags override the
 * file, each class of bad image stops startup with one line and a non-zero
 * exit, two servers sharing a sealing secret open each other's sealed data,
 * and no key byte ever reaches the log.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/client.h"
#include "server.h"

struct image {
    char dir[64];
    char tree[96];
    char path[96];
    uint8_t static_key[32];
    uint8_t sealing[32];
};

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void run(const char *cmd)
{
    ck_assert_msg(system(cmd) == 0, "command failed: %s", cmd);
}

/* A tree with keys (fixed per seed), conf text and apps (name, source pairs). */
static void image_make(struct image *img, uint8_t seed, const char *conf,
                       const char *const *apps)
{
    char path[256];
    char cmd[512];

    snprintf(img->dir, sizeof(img->dir), "/tmp/enclaved-img-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(img->dir));
    snprintf(img->tree, sizeof(img->tree), "%s/tree", img->dir);
    snprintf(img->path, sizeof(img->path), "%s/image.cpio", img->dir);
    snprintf(cmd, sizeof(cmd), "mkdir -p %s/etc %s/apps %s/keys", img->tree, img->tree,
             img->tree);
    run(cmd);
    for (size_t i = 0; i < 32; i++) {
        img->static_key[i] = (uint8_t)(seed * 31 + i * 7 + 1);
        img->sealing[i] = (uint8_t)(seed * 17 + i * 13 + 5);
    }
    snprintf(path, sizeof(path), "%s/keys/noise_static.key", img->tree);
    write_file(path, img->static_key, 32, 0600);
    snprintf(path, sizeof(path), "%s/keys/sealing_secret.key", img->tree);
    write_file(path, img->sealing, 32, 0600);
    if (conf != NULL) {
        snprintf(path, sizeof(path), "%s/etc/enclaved.conf", img->tree);
        write_file(path, conf, strlen(conf), 0644);
    }
    for (size_t i = 0; apps != NULL && apps[i] != NULL; i += 2) {
        snprintf(path, sizeof(path), "%s/apps/%s.lua", img->tree, apps[i]);
        write_file(path, apps[i + 1], strlen(apps[i + 1]), 0644);
    }
    snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' >/dev/null", MKUSERDATA, img->tree, img->path);
    run(cmd);
}

static void image_free(struct image *img)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", img->dir);
    run(cmd);
}

static const char sealer_app[] =
    "function HandleChannelMessage(cid, msg)\n"
    "  if msg:sub(1, 1) == 'E' then return {{cid, enclave.encrypt(msg:sub(2))}} end\n"
    "  local ok, v = pcall(enclave.decrypt, msg:sub(2))\n"
    "  return {{cid, ok and v or 'refused'}}\n"
    "end\n";

static uint32_t open_first_process(struct client *c)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessList body = ENCLAVED__PROCESS_LIST__INIT;
    Enclaved__ServerFrame *f = NULL;
    uint32_t pid, cid = 0;

    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_LIST;
    req.process_list = &body;
    ck_assert_int_eq(client_call(c, &req, &f), STATUS_OK);
    ck_assert_uint_ge(f->response->process_list->n_processes, 1);
    pid = f->response->process_list->processes[0]->process_id;
    client_frame_free(f);
    ck_assert_int_eq(client_channel_open(c, pid, NULL, ENCLAVED__CHANNEL_TYPE__RAW, &cid, NULL, 0),
                     STATUS_OK);
    return cid;
}

/* Sends msg on cid and returns the reply (malloc'd). */
static uint8_t *roundtrip(struct client *c, uint32_t cid, const uint8_t *msg, size_t len,
                          size_t *out_len)
{
    uint8_t *data = NULL;

    ck_assert_int_eq(client_send_data(c, cid, msg, len), STATUS_OK);
    ck_assert_int_eq(client_channel_recv(c, cid, 5000, &data, out_len, NULL, 0), STATUS_OK);
    return data;
}

START_TEST(test_boot_apps_and_config_take_effect_and_flags_override)
{
    static const char *const apps[] = {"b_second", "x = 2", "a_first", "x = 1", NULL};
    static const char conf[] = "# test\nmax_processes = 7\nhandshake_timeout_ms = 1234\n"
                               "listen = 127.0.0.1:1\n";
    struct image img;
    struct test_server ts;
    const char *args[] = {"--userdata", NULL, "--max-processes", "9", NULL};
    struct client *c;
    Enclaved__ServerFrame *f = NULL;
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessList body = ENCLAVED__PROCESS_LIST__INIT;

    image_make(&img, 1, conf, apps);
    args[1] = img.path;
    test_server_start(&ts, args);
    c = test_server_connect(&ts);
    ck_assert_int_eq(client_get_info(c, &f), STATUS_OK);
    ck_assert_uint_eq(f->response->info->limits->handshake_timeout_ms, 1234);
    ck_assert_uint_eq(f->response->info->limits->max_processes, 9);
    client_frame_free(f);
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_LIST;
    req.process_list = &body;
    ck_assert_int_eq(client_call(c, &req, &f), STATUS_OK);
    ck_assert_uint_eq(f->response->process_list->n_processes, 2);
    ck_assert_str_eq(f->response->process_list->processes[0]->name, "a_first");
    ck_assert_str_eq(f->response->process_list->processes[1]->name, "b_second");
    client_frame_free(f);
    client_free(c);
    test_server_stop(&ts);
    image_free(&img);
}
END_TEST

START_TEST(test_default_userdata_tree_boots_the_broadcast_demo)
{
    struct image img;
    struct test_server ts;
    const char *args[] = {"--userdata", NULL, NULL};
    char cmd[512];
    struct client *c;
    Enclaved__ServerFrame *f = NULL;
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessList body = ENCLAVED__PROCESS_LIST__INIT;

    image_make(&img, 2, NULL, NULL);
    snprintf(cmd, sizeof(cmd), "cp -R '%s/userdata/etc' '%s/userdata/apps' '%s/' && '%s' '%s' '%s' >/dev/null",
             SOURCE_ROOT, SOURCE_ROOT, img.tree, MKUSERDATA, img.tree, img.path);
    run(cmd);
    args[1] = img.path;
    test_server_start(&ts, args);
    c = test_server_connect(&ts);
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_LIST;
    req.process_list = &body;
    ck_assert_int_eq(client_call(c, &req, &f), STATUS_OK);
    ck_assert_uint_eq(f->response->process_list->n_processes, 1);
    ck_assert_str_eq(f->response->process_list->processes[0]->name, "broadcast");
    client_frame_free(f);
    client_free(c);
    test_server_stop(&ts);
    image_free(&img);
}
END_TEST

/* Each class of defect: the server exits non-zero before listening, with
 * one enclaved: line that names the problem. */
static void expect_startup_failure(const char *image, const char *const *extra, const char *want)
{
    struct test_server ts;
    const char *args[8] = {"--userdata", image, NULL};
    size_t n = 2;
    int rc;
    char *log;
    size_t lines = 0;

    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        args[n++] = extra[i];
    }
    args[n] = NULL;
    rc = test_server_try_start(&ts, args);
    log = test_server_read_log(&ts, NULL);
    ck_assert_msg(rc > 0, "server started from a bad image (%s): %s", want, log);
    ck_assert_msg(strstr(log, want) != NULL, "log lacks '%s':\n%s", want, log);
    for (char *p = log; *p != '\0'; p++) {
        lines += *p == '\n';
    }
    ck_assert_msg(lines == 1, "want one line, got:\n%s", log);
    free(log);
    test_server_stop(&ts);
}

static void corrupt(const char *src, const char *dst, long offset, const char *bytes, long cut)
{
    char cmd[512];
    FILE *f;

    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
    run(cmd);
    f = fopen(dst, "r+b");
    ck_assert_ptr_nonnull(f);
    if (bytes != NULL) {
        ck_assert_int_eq(fseek(f, offset, SEEK_SET), 0);
        fwrite(bytes, 1, strlen(bytes), f);
    }
    fclose(f);
    if (cut >= 0) {
        ck_assert_int_eq(truncate(dst, cut), 0);
    }
}

START_TEST(test_each_class_of_bad_image_stops_startup_with_one_line)
{
    static const char *const good_apps[] = {"echo", "function HandleChannelMessage(c, m) return {{c, m}} end", NULL};
    static const char *const bad_app[] = {"broken", "function (", NULL};
    struct image good, badconf, badapp, nokeys;
    char path[160];
    char cmd[512];

    image_make(&good, 3, "max_frame = 65536\n", good_apps);
    snprintf(path, sizeof(path), "%s/bad.cpio", good.dir);

    corrupt(good.path, path, 0, "170701", -1);
    expect_startup_failure(path, NULL, "bad userdata image");
    corrupt(good.path, path, 6, "zz", -1);
    expect_startup_failure(path, NULL, "bad userdata image");
    corrupt(good.path, path, 0, NULL, 200);
    expect_startup_failure(path, NULL, "bad userdata image");
    expect_startup_failure("/nonexistent/image.cpio", NULL, "cannot read userdata image");

    image_make(&badconf, 4, "max_frame = 65536\nno_such_key = 1\n", good_apps);
    expect_startup_failure(badconf.path, NULL, "line 2: unknown key 'no_such_key'");
    image_free(&badconf);
    image_make(&badconf, 4, "max_frame = lots\n", good_apps);
    expect_startup_failure(badconf.path, NULL, "line 1: max_frame");
    image_free(&badconf);

    image_make(&badapp, 5, NULL, bad_app);
    expect_startup_failure(badapp.path, NULL, "apps/broken.lua: INVALID_ARGUMENT");
    image_free(&badapp);

    image_make(&nokeys, 6, NULL, good_apps);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/keys' && '%s' '%s' '%s' >/dev/null", nokeys.tree,
             MKUSERDATA, nokeys.tree, nokeys.path);
    run(cmd);
    expect_startup_failure(nokeys.path, NULL, "has no keys/noise_static.key");
    image_free(&nokeys);
    image_free(&good);
}
END_TEST

START_TEST(test_two_servers_with_one_sealing_secret_open_each_others_data)
{
    static const char *const apps[] = {"sealer", sealer_app, NULL};
    struct image a, b, other;
    struct test_server sa, sb, sc;
    const char *args[] = {"--userdata", NULL, NULL};
    struct client *ca, *cb, *cc;
    uint32_t ida, idb, idc;
    uint8_t *sealed, *opened, *refused;
    size_t sealed_len, opened_len, refused_len;
    uint8_t *msg;

    image_make(&a, 7, NULL, apps);
    image_make(&b, 7, NULL, apps);
    image_make(&other, 8, NULL, apps);
    args[1] = a.path;
    test_server_start(&sa, args);
    args[1] = b.path;
    test_server_start(&sb, args);
    args[1] = other.path;
    test_server_start(&sc, args);
    ca = test_server_connect(&sa);
    cb = test_server_connect(&sb);
    cc = test_server_connect(&sc);
    ida = open_first_process(ca);
    idb = open_first_process(cb);
    idc = open_first_process(cc);

    sealed = roundtrip(ca, ida, (const uint8_t *)"Efleet secret", 13, &sealed_len);
    msg = malloc(sealed_len + 1);
    ck_assert_ptr_nonnull(msg);
    msg[0] = 'D';
    memcpy(msg + 1, sealed, sealed_len);
    opened = roundtrip(cb, idb, msg, sealed_len + 1, &opened_len);
    ck_assert_uint_eq(opened_len, 12);
    ck_assert_mem_eq(opened, "fleet secret", 12);
    refused = roundtrip(cc, idc, msg, sealed_len + 1, &refused_len);
    ck_assert_uint_eq(refused_len, 7);
    ck_assert_mem_eq(refused, "refused", 7);
    free(sealed);
    free(opened);
    free(refused);
    free(msg);
    client_free(ca);
    client_free(cb);
    client_free(cc);
    test_server_stop(&sa);
    test_server_stop(&sb);
    test_server_stop(&sc);
    image_free(&a);
    image_free(&b);
    image_free(&other);
}
END_TEST

static int contains(const char *hay, size_t hay_len, const uint8_t *needle, size_t len)
{
    for (size_t i = 0; i + len <= hay_len; i++) {
        if (memcmp(hay + i, needle, len) == 0) {
            return 1;
        }
    }
    return 0;
}

static void hex_of(const uint8_t *b, size_t len, char *out, int upper)
{
    for (size_t i = 0; i < len; i++) {
        sprintf(out + 2 * i, upper ? "%02X" : "%02x", b[i]);
    }
}

/* A whole run at debug level (connections, channels, hook errors, sealing,
 * a failed handshake, shutdown) leaves no key byte in the log. */
START_TEST(test_logs_never_contain_key_bytes)
{
    static const char *const apps[] = {"a_sealer", sealer_app, "b_boom",
                                       "function HandleChannelMessage(c, m) error(m) end", NULL};
    struct image img;
    struct test_server ts;
    const char *args[] = {"--userdata", NULL, "--log-level", "debug", NULL};
    struct client *c;
    uint32_t cid, nk = 0;
    uint8_t *reply;
    size_t reply_len, log_len;
    char *log;
    char hex[65];
    static const uint8_t junk[48] = {1, 2, 3};

    image_make(&img, 9, NULL, apps);
    args[1] = img.path;
    test_server_start(&ts, args);
    c = test_server_connect(&ts);
    cid = open_first_process(c);
    reply = roundtrip(c, cid, (const uint8_t *)"Ehello", 6, &reply_len);
    free(reply);
    ck_assert_int_eq(client_channel_open(c, 1, NULL, ENCLAVED__CHANNEL_TYPE__CLIENT_NK, &nk, NULL, 0),
                     STATUS_OK);
    ck_assert_int_eq(client_send_data(c, nk, junk, sizeof(junk)), STATUS_OK);
    ck_assert_int_eq(client_channel_open(c, 2, NULL, ENCLAVED__CHANNEL_TYPE__RAW, &cid, NULL, 0),
                     STATUS_OK);
    ck_assert_int_eq(client_send_data(c, cid, (const uint8_t *)"boom", 4), STATUS_OK);
    ck_assert_int_eq(client_ping(c), STATUS_OK);
    client_free(c);
    log = test_server_stop_with_log(&ts, &log_len);
    ck_assert_ptr_nonnull(strstr(log, "handshake failed"));
    for (int which = 0; which < 2; which++) {
        const uint8_t *key = which ? img.sealing : img.static_key;
        ck_assert(!contains(log, log_len, key, 32));
        /* Any 8-byte window, raw or hex, would already be a leak. */
        for (size_t off = 0; off + 8 <= 32; off += 8) {
            hex_of(key + off, 8, hex, 0);
            ck_assert_msg(strstr(log, hex) == NULL, "key hex in log");
            hex_of(key + off, 8, hex, 1);
            ck_assert_msg(strstr(log, hex) == NULL, "key hex in log");
        }
    }
    free(log);
    image_free(&img);
}
END_TEST

/* What a client sees of one server: GetInfo's bytes and ProcessList's
 * entries, minus their creation times. */
struct view {
    uint8_t info[512];
    size_t info_len;
    uint32_t max_processes;
    size_t processes;
    char names[4][65];
    uint8_t hashes[4][32];
    uint32_t ids[4];
};

static void take_view(const char *userdata, struct view *v)
{
    struct test_server ts;
    const char *args[] = {"--userdata", userdata, NULL};
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessList body = ENCLAVED__PROCESS_LIST__INIT;
    Enclaved__ServerFrame *f = NULL;
    Enclaved__ProcessListResult *list;
    struct client *c;
    char *log;

    memset(v, 0, sizeof(*v));
    test_server_start(&ts, args);
    c = test_server_connect(&ts);
    ck_assert_int_eq(client_get_info(c, &f), STATUS_OK);
    v->info_len = enclaved__info__get_packed_size(f->response->info);
    ck_assert_uint_le(v->info_len, sizeof(v->info));
    enclaved__info__pack(f->response->info, v->info);
    v->max_processes = f->response->info->limits->max_processes;
    client_frame_free(f);
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_LIST;
    req.process_list = &body;
    ck_assert_int_eq(client_call(c, &req, &f), STATUS_OK);
    list = f->response->process_list;
    ck_assert_uint_le(list->n_processes, 4);
    v->processes = list->n_processes;
    for (size_t i = 0; i < list->n_processes; i++) {
        ck_assert_uint_eq(list->processes[i]->code_hash.len, 32);
        snprintf(v->names[i], sizeof(v->names[i]), "%s", list->processes[i]->name);
        memcpy(v->hashes[i], list->processes[i]->code_hash.data, 32);
        v->ids[i] = list->processes[i]->process_id;
    }
    client_frame_free(f);
    client_free(c);
    log = test_server_stop_with_log(&ts, NULL);
    ck_assert_msg(strstr(log, "enclaved: info: stopped") != NULL, "%s", log);
    free(log);
}

/* The dev image (the tracked userdata/ tree plus keys), with one setting
 * changed so the config visibly comes from the userdata, unpacked by GNU
 * cpio -idm: the directory and the image give the same server. */
START_TEST(test_unpacked_image_and_image_serve_the_same_userdata)
{
    struct image img;
    struct view from_image;
    struct view from_dir;
    char unpacked[160];
    char cmd[4096];

    image_make(&img, 10, NULL, NULL);
    snprintf(unpacked, sizeof(unpacked), "%s/unpacked", img.dir);
    snprintf(cmd, sizeof(cmd),
             "cp -R '%s/userdata/etc' '%s/userdata/apps' '%s/' && "
             "echo 'max_processes = 9' >> '%s/etc/enclaved.conf' && "
             "'%s' '%s' '%s' >/dev/null && mkdir '%s' && cd '%s' && cpio -idm --quiet < '%s'",
             SOURCE_ROOT, SOURCE_ROOT, img.tree, img.tree, MKUSERDATA, img.tree, img.path,
             unpacked, unpacked, img.path);
    run(cmd);
    take_view(img.path, &from_image);
    take_view(unpacked, &from_dir);
    ck_assert_uint_eq(from_image.max_processes, 9);
    ck_assert_uint_eq(from_dir.info_len, from_image.info_len);
    ck_assert_mem_eq(from_dir.info, from_image.info, from_image.info_len);
    ck_assert_uint_eq(from_image.processes, 1);
    ck_assert_str_eq(from_image.names[0], "broadcast");
    ck_assert_uint_eq(from_dir.processes, from_image.processes);
    for (size_t i = 0; i < from_image.processes; i++) {
        ck_assert_str_eq(from_dir.names[i], from_image.names[i]);
        ck_assert_mem_eq(from_dir.hashes[i], from_image.hashes[i], 32);
        ck_assert_uint_eq(from_dir.ids[i], from_image.ids[i]);
    }
    image_free(&img);
}
END_TEST

/* A directory with a symlink stops startup with one line naming it. */
START_TEST(test_bad_directory_stops_startup_with_one_line)
{
    struct image img;
    char link_path[200];

    image_make(&img, 11, NULL, NULL);
    snprintf(link_path, sizeof(link_path), "%s/apps/evil.lua", img.tree);
    ck_assert_int_eq(symlink("/etc/passwd", link_path), 0);
    expect_startup_failure(img.tree, NULL,
                           "bad userdata directory /tmp/");
    expect_startup_failure(img.tree, NULL,
                           ": apps/evil.lua: a symlink (only regular files and directories)");
    image_free(&img);
}
END_TEST

static Suite *userdata_suite(void)
{
    Suite *s = suite_create("e2e-userdata");
    TCase *tc = tcase_create("images");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_boot_apps_and_config_take_effect_and_flags_override);
    tcase_add_test(tc, test_default_userdata_tree_boots_the_broadcast_demo);
    tcase_add_test(tc, test_each_class_of_bad_image_stops_startup_with_one_line);
    tcase_add_test(tc, test_two_servers_with_one_sealing_secret_open_each_others_data);
    tcase_add_test(tc, test_logs_never_contain_key_bytes);
    tcase_add_test(tc, test_unpacked_image_and_image_serve_the_same_userdata);
    tcase_add_test(tc, test_bad_directory_stops_startup_with_one_line);
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
