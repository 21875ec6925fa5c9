/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/config.h"

static uint64_t read_field(const struct config *cfg, size_t offset, size_t width)
{
    const char *p = (const char *)cfg + offset;
    uint32_t v32;
    uint64_t v64;

    if (width == sizeof(uint32_t)) {
        memcpy(&v32, p, sizeof(v32));
        return v32;
    }
    memcpy(&v64, p, sizeof(v64));
    return v64;
}

#define F(name) offsetof(struct config, name), sizeof(((struct config *)0)->name)

START_TEST(test_config_defaults_match_the_documented_values)
{
    struct config cfg;
    char err[CONFIG_ERROR_MAX] = "";

    memset(&cfg, 0xa5, sizeof(cfg));
    config_defaults(&cfg);
    ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
    ck_assert_uint_eq(cfg.listen_port, 7480);
    ck_assert_uint_eq(cfg.max_frame, 1048576);
    ck_assert_uint_eq(cfg.max_connections, 16384);
    ck_assert_uint_eq(cfg.max_processes, 1024);
    ck_assert_uint_eq(cfg.max_channels_per_process, 65536);
    ck_assert_uint_eq(cfg.max_memory_per_process, 268435456);
    ck_assert_uint_eq(cfg.default_memory_per_process, 67108864);
    ck_assert_uint_eq(cfg.max_instructions_per_hook, 10000000);
    ck_assert_uint_eq(cfg.max_outputs_per_hook, 1024);
    ck_assert_uint_eq(cfg.max_hook_ms, 100);
    ck_assert_uint_eq(cfg.max_message, 1044480);
    ck_assert_uint_eq(cfg.handshake_timeout_ms, 10000);
    ck_assert_uint_eq(cfg.max_output_buffer, 16777216);
    ck_assert_int_eq(cfg.log_level, LOG_INFO);
    ck_assert_uint_eq(cfg.log_timestamps, 1);
    ck_assert_uint_eq(cfg.peer_count, 0);
    ck_assert_uint_eq(cfg.peer_app_count, 0);
    ck_assert_uint_eq(cfg.peer_connect_timeout_ms, 3000);
    ck_assert_uint_eq(cfg.peer_backoff_min_ms, 100);
    ck_assert_uint_eq(cfg.peer_backoff_max_ms, 5000);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), STATUS_OK);
}
END_TEST

/* Every numeric key: a line and where the value must land. */
static const struct {
    const char *line;
    size_t offset, width;
    uint64_t want;
} numeric_keys[] = {
    {"max_frame = 65536", F(max_frame), 65536},
    {"max_connections = 7", F(max_connections), 7},
    {"max_processes = 12", F(max_processes), 12},
    {"max_channels_per_process = 99", F(max_channels_per_process), 99},
    {"max_memory_per_process = 1G", F(max_memory_per_process), UINT64_C(1) << 30},
    {"default_memory_per_process = 64k", F(default_memory_per_process), 65536},
    {"max_instructions_per_hook = 1000", F(max_instructions_per_hook), 1000},
    {"max_outputs_per_hook = 3", F(max_outputs_per_hook), 3},
    {"max_hook_ms = 250", F(max_hook_ms), 250},
    {"max_message = 16", F(max_message), 16},
    {"handshake_timeout_ms = 3600000", F(handshake_timeout_ms), 3600000},
    {"max_output_buffer = 16G", F(max_output_buffer), UINT64_C(16) << 30},
    {"peer_connect_timeout_ms = 1", F(peer_connect_timeout_ms), 1},
    {"peer_backoff_min_ms = 250", F(peer_backoff_min_ms), 250},
    {"peer_backoff_max_ms = 3600000", F(peer_backoff_max_ms), 3600000},
    /* Suffixes, both cases, and blanks around the '='. */
    {"max_frame=2M", F(max_frame), 2u << 20},
    {"max_frame\t=\t2m  ", F(max_frame), 2u << 20},
    {"max_output_buffer = 4K", F(max_output_buffer), 4096},
    {"max_memory_per_process = 2g", F(max_memory_per_process), UINT64_C(2) << 30},
    {"  max_processes = 5 # trailing comment", F(max_processes), 5},
    {"max_processes = 6\r", F(max_processes), 6},
};

START_TEST(test_config_sets_every_numeric_key)
{
    struct config cfg;
    char err[CONFIG_ERROR_MAX] = "";
    const char *line = numeric_keys[_i].line;

    config_defaults(&cfg);
    ck_assert_msg(config_parse(&cfg, line, strlen(line), err, sizeof(err)) == STATUS_OK,
                  "%s: %s", line, err);
    ck_assert_uint_eq(read_field(&cfg, numeric_keys[_i].offset, numeric_keys[_i].width),
                      numeric_keys[_i].want);
}
END_TEST

START_TEST(test_config_sets_listen_and_log_level)
{
    static const char *levels[] = {"error", "warn", "info", "debug"};
    struct config cfg;
    char err[CONFIG_ERROR_MAX] = "";
    const char text[] = "# comment\n\nlisten = 0.0.0.0:0\nlog_level = debug\n";

    config_defaults(&cfg);
    ck_assert_int_eq(config_parse(&cfg, text, strlen(text), err, sizeof(err)), STATUS_OK);
    ck_assert_str_eq(cfg.listen_host, "0.0.0.0");
    ck_assert_uint_eq(cfg.listen_port, 0);
    ck_assert_int_eq(cfg.log_level, LOG_DEBUG);
    ck_assert_int_eq(config_set(&cfg, "listen", "10.1.2.3:65535", err, sizeof(err)), STATUS_OK);
    ck_assert_str_eq(cfg.listen_host, "10.1.2.3");
    ck_assert_uint_eq(cfg.listen_port, 65535);
    /* localhost, the one name enclavectl --host takes too, is 127.0.0.1. */
    ck_assert_int_eq(config_set(&cfg, "listen", "localhost:7480", err, sizeof(err)), STATUS_OK);
    ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
    ck_assert_uint_eq(cfg.listen_port, 7480);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(config_set(&cfg, "log_level", levels[i], err, sizeof(err)), STATUS_OK);
        ck_assert_int_eq(cfg.log_level, i);
    }
}
END_TEST

/* Text that must fail, with the exact status and err. */
static const struct {
    const char *text;
    status_t want;
    const char *err;
} bad_texts[] = {
    {"max_frame = abc", STATUS_INVALID_ARGUMENT, "line 1: max_frame: bad value 'abc'"},
    {"# ok\nmax_frame = 10\n", STATUS_INVALID_ARGUMENT,
     "line 2: max_frame: 10 is outside 64..67108864"},
    {"\n\nnope = 1\n", STATUS_INVALID_ARGUMENT, "line 3: unknown key 'nope'"},
    {"max_frame 65536", STATUS_INVALID_ARGUMENT, "line 1: expected 'key = value'"},
    {"max_frame =", STATUS_INVALID_ARGUMENT, "line 1: empty key or value"},
    {"= 5", STATUS_INVALID_ARGUMENT, "line 1: empty key or value"},
    {"max_frame = -1", STATUS_INVALID_ARGUMENT, "line 1: max_frame: bad value '-1'"},
    {"max_frame = +1", STATUS_INVALID_ARGUMENT, "line 1: max_frame: bad value '+1'"},
    {"max_frame = 1x", STATUS_INVALID_ARGUMENT, "line 1: max_frame: bad value '1x'"},
    {"max_frame = 1kk", STATUS_INVALID_ARGUMENT, "line 1: max_frame: bad value '1kk'"},
    {"max_frame = 0x100", STATUS_INVALID_ARGUMENT, "line 1: max_frame: bad value '0x100'"},
    {"max_frame = 1 000", STATUS_INVALID_ARGUMENT, "line 1: max_frame: bad value '1 000'"},
    {"max_frame = 99999999999999999999", STATUS_INVALID_ARGUMENT,
     "line 1: max_frame: bad value '99999999999999999999'"},
    {"max_output_buffer = 18446744073709551615k", STATUS_INVALID_ARGUMENT,
     "line 1: max_output_buffer: bad value '18446744073709551615k'"},
    {"max_frame = 4G", STATUS_INVALID_ARGUMENT,
     "line 1: max_frame: 4G is outside 64..67108864"},
    {"max_processes = 0", STATUS_INVALID_ARGUMENT,
     "line 1: max_processes: 0 is outside 1..1000000"},
    {"log_level = verbose", STATUS_INVALID_ARGUMENT, "line 1: log_level: bad value 'verbose'"},
    {"log_timestamps = 2", STATUS_INVALID_ARGUMENT, "line 1: log_timestamps: 2 is outside 0..1"},
    {"log_level = DEBUG", STATUS_INVALID_ARGUMENT, "line 1: log_level: bad value 'DEBUG'"},
    {"listen = 127.0.0.1", STATUS_INVALID_ARGUMENT, "line 1: listen: bad value '127.0.0.1'"},
    {"listen = :80", STATUS_INVALID_ARGUMENT, "line 1: listen: bad value ':80'"},
    {"listen = example.com:80", STATUS_INVALID_ARGUMENT,
     "line 1: listen: bad value 'example.com:80'"},
    {"listen = localhost.:80", STATUS_INVALID_ARGUMENT,
     "line 1: listen: bad value 'localhost.:80'"},
    {"listen = 1.2.3.256:80", STATUS_INVALID_ARGUMENT,
     "line 1: listen: bad value '1.2.3.256:80'"},
    {"listen = 1.2.3:80", STATUS_INVALID_ARGUMENT, "line 1: listen: bad value '1.2.3:80'"},
    {"listen = 1.2.3.4:65536", STATUS_INVALID_ARGUMENT,
     "line 1: listen: bad value '1.2.3.4:65536'"},
    {"listen = 1. 2.3.4:80", STATUS_INVALID_ARGUMENT,
     "line 1: listen: bad value '1. 2.3.4:80'"},
    {"listen = 1.+2.3.4:80", STATUS_INVALID_ARGUMENT,
     "line 1: listen: bad value '1.+2.3.4:80'"},
    {"listen = [::1]:80", STATUS_INVALID_ARGUMENT, "line 1: listen: bad value '[::1]:80'"},
    {"peers = 10.0.0.1:7480,", STATUS_INVALID_ARGUMENT,
     "line 1: peers: bad value '10.0.0.1:7480,'"},
    {"peers = ,10.0.0.1:7480", STATUS_INVALID_ARGUMENT,
     "line 1: peers: bad value ',10.0.0.1:7480'"},
    {"peers = 10.0.0.1:7480,,10.0.0.2:1", STATUS_INVALID_ARGUMENT,
     "line 1: peers: bad value '10.0.0.1:7480,,10.0.0.2:1'"},
    {"peers = peer.example:7480", STATUS_INVALID_ARGUMENT,
     "line 1: peers: bad value 'peer.example:7480'"},
    {"peers = 10.0.0.1", STATUS_INVALID_ARGUMENT, "line 1: peers: bad value '10.0.0.1'"},
    {"peers = 10.0.0.1:70000", STATUS_INVALID_ARGUMENT,
     "line 1: peers: bad value '10.0.0.1:70000'"},
    {"peer_apps = a/b", STATUS_INVALID_ARGUMENT, "line 1: peer_apps: bad value 'a/b'"},
    {"peer_apps = a,,b", STATUS_INVALID_ARGUMENT, "line 1: peer_apps: bad value 'a,,b'"},
    {"peer_apps = a b", STATUS_INVALID_ARGUMENT, "line 1: peer_apps: bad value 'a b'"},
    {"peer_backoff_min_ms = 0", STATUS_INVALID_ARGUMENT,
     "line 1: peer_backoff_min_ms: 0 is outside 1..3600000"},
};

START_TEST(test_config_rejects_malformed_text_with_line_number)
{
    struct config cfg;
    char err[CONFIG_ERROR_MAX] = "";
    const char *text = bad_texts[_i].text;

    config_defaults(&cfg);
    ck_assert_int_eq(config_parse(&cfg, text, strlen(text), err, sizeof(err)),
                     bad_texts[_i].want);
    ck_assert_str_eq(err, bad_texts[_i].err);
}
END_TEST

START_TEST(test_config_sets_peers_and_peer_apps)
{
    struct config cfg;
    char err[CONFIG_ERROR_MAX] = "";
    char many[CONFIG_LINE_MAX] = "";
    const char text[] = "peers = 10.0.0.1:7481, 10.0.0.2:7482 ,10.0.0.3:0\n"
                        "peer_apps = pinvault,echo-2.v1\n";

    config_defaults(&cfg);
    ck_assert_int_eq(config_parse(&cfg, text, strlen(text), err, sizeof(err)), STATUS_OK);
    ck_assert_uint_eq(cfg.peer_count, 3);
    ck_assert_str_eq(cfg.peers[0].host, "10.0.0.1");
    ck_assert_uint_eq(cfg.peers[0].port, 7481);
    ck_assert_str_eq(cfg.peers[1].host, "10.0.0.2");
    ck_assert_uint_eq(cfg.peers[1].port, 7482);
    ck_assert_str_eq(cfg.peers[2].host, "10.0.0.3");
    ck_assert_uint_eq(cfg.peers[2].port, 0);
    ck_assert_uint_eq(cfg.peer_app_count, 2);
    ck_assert_str_eq(cfg.peer_apps[0], "pinvault");
    ck_assert_str_eq(cfg.peer_apps[1], "echo-2.v1");
    /* A later value replaces the list; a bad one leaves it as it was. */
    ck_assert_int_eq(config_set(&cfg, "peers", "1.2.3.4:5", err, sizeof(err)), STATUS_OK);
    ck_assert_uint_eq(cfg.peer_count, 1);
    ck_assert_int_eq(config_set(&cfg, "peers", "1.2.3.4:5,x", err, sizeof(err)),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_uint_eq(cfg.peer_count, 1);
    ck_assert_str_eq(cfg.peers[0].host, "1.2.3.4");
    /* CONFIG_PEERS_MAX addresses fit; one more does not. */
    for (int i = 0; i < CONFIG_PEERS_MAX; i++) {
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s1.1.1.%d:1",
                 i > 0 ? "," : "", i);
    }
    ck_assert_int_eq(config_set(&cfg, "peers", many, err, sizeof(err)), STATUS_OK);
    ck_assert_uint_eq(cfg.peer_count, CONFIG_PEERS_MAX);
    strcat(many, ",2.2.2.2:2");
    ck_assert_int_eq(config_set(&cfg, "peers", many, err, sizeof(err)), STATUS_INVALID_ARGUMENT);
    ck_assert_uint_eq(cfg.peer_count, CONFIG_PEERS_MAX);
}
END_TEST

START_TEST(test_config_failed_listen_keeps_the_old_value)
{
    struct config cfg;
    char err[CONFIG_ERROR_MAX] = "";

    config_defaults(&cfg);
    ck_assert_int_eq(config_set(&cfg, "listen", "10.0.0.1:99999", err, sizeof(err)),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(config_set(&cfg, "listen", "10.0.0.999:1", err, sizeof(err)),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
    ck_assert_uint_eq(cfg.listen_port, 7480);
}
END_TEST

START_TEST(test_config_rejects_nul_long_lines_and_large_text)
{
    struct config cfg;
    char err[CONFIG_ERROR_MAX] = "";
    static char big[CONFIG_TEXT_MAX + 2];
    const char nul[] = "log_level = info\nmax_frame = 6\0004\n";

    config_defaults(&cfg);
    ck_assert_int_eq(config_parse(&cfg, nul, sizeof(nul) - 1, err, sizeof(err)),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(err, "line 2: NUL byte in line");

    memset(big, '#', CONFIG_LINE_MAX);
    ck_assert_int_eq(config_parse(&cfg, big, CONFIG_LINE_MAX, err, sizeof(err)),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(err, "line 1: longer than 511 bytes");
    /* One byte shorter is fine, comments can be long. */
    ck_assert_int_eq(config_parse(&cfg, big, CONFIG_LINE_MAX - 1, err, sizeof(err)), STATUS_OK);

    memset(big, '\n', sizeof(big));
    ck_assert_int_eq(config_parse(&cfg, big, CONFIG_TEXT_MAX, err, sizeof(err)), STATUS_OK);
    ck_assert_int_eq(config_parse(&cfg, big, CONFIG_TEXT_MAX + 1, err, sizeof(err)),
                     STATUS_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(err, "config is over 65536 bytes");
}
END_TEST

/* Relations config_validate enforces, each just inside and just outside. */
static const struct {
    const char *text;
    status_t want;
    const char *err;
} relations[] = {
    {"max_frame = 64k\nmax_message = 63k\n", STATUS_OK, ""},
    {"max_frame = 64k\nmax_message = 64513\n", STATUS_INVALID_ARGUMENT,
     "max_message (64513) must be at most max_frame (65536) - 1024"},
    /* max_frame below 1024 once wrapped max_frame - 1024 and passed. */
    {"max_frame = 64\nmax_message = 16\n", STATUS_INVALID_ARGUMENT,
     "max_message (16) must be at most max_frame (64) - 1024"},
    {"default_memory_per_process = 256M\n", STATUS_OK, ""},
    {"default_memory_per_process = 268435457\n", STATUS_INVALID_ARGUMENT,
     "default_memory_per_process exceeds max_memory_per_process"},
    {"max_output_buffer = 2M\n", STATUS_OK, ""},
    {"max_output_buffer = 2097151\n", STATUS_INVALID_ARGUMENT,
     "max_output_buffer must be at least 2 * max_frame"},
    {"peer_backoff_min_ms = 5000\n", STATUS_OK, ""},
    {"peer_backoff_min_ms = 5001\n", STATUS_INVALID_ARGUMENT,
     "peer_backoff_min_ms exceeds peer_backoff_max_ms"},
};

START_TEST(test_config_validate_checks_relations)
{
    struct config cfg;
    char err[CONFIG_ERROR_MAX] = "";
    const char *text = relations[_i].text;

    config_defaults(&cfg);
    ck_assert_int_eq(config_parse(&cfg, text, strlen(text), err, sizeof(err)), STATUS_OK);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), relations[_i].want);
    ck_assert_str_eq(err, relations[_i].err);
}
END_TEST

START_TEST(test_config_key_table_is_complete)
{
    struct config cfg;
    char err[CONFIG_ERROR_MAX] = "";
    size_t n = 0;

    config_defaults(&cfg);
    while (config_key_name(n) != NULL) {
        ck_assert_ptr_nonnull(config_key_help(n));
        /* Every listed key is settable (the value may be bad, the key not). */
        config_set(&cfg, config_key_name(n), "x", err, sizeof(err));
        ck_assert_msg(strncmp(err, "unknown key", 11) != 0, "%s", config_key_name(n));
        n++;
    }
    ck_assert_uint_eq(n, 20);
    ck_assert_ptr_null(config_key_help(n));
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_config_defaults_match_the_documented_values);
    tcase_add_loop_test(tc, test_config_sets_every_numeric_key, 0,
                        (int)(sizeof(numeric_keys) / sizeof(numeric_keys[0])));
    tcase_add_test(tc, test_config_sets_listen_and_log_level);
    tcase_add_loop_test(tc, test_config_rejects_malformed_text_with_line_number, 0,
                        (int)(sizeof(bad_texts) / sizeof(bad_texts[0])));
    tcase_add_test(tc, test_config_sets_peers_and_peer_apps);
    tcase_add_test(tc, test_config_failed_listen_keeps_the_old_value);
    tcase_add_test(tc, test_config_rejects_nul_long_lines_and_large_text);
    tcase_add_loop_test(tc, test_config_validate_checks_relations, 0,
                        (int)(sizeof(relations) / sizeof(relations[0])));
    tcase_add_test(tc, test_config_key_table_is_complete);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
