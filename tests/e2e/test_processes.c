/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * End-to-end: Lua processes and raw channels over TCP (DESIGN §4-§5).
 * HsmEnclave compatibility, channel ownership and every hostile app of the
 * processes issue; after each hostile app another connection must still get
 * a Ping answered within a second.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/client.h"
#include "calls.h"
#include "server.h"

static struct test_server ts;

static void start_default(void)
{
    /* A generous deadline: these cases prove the instruction and memory
     * caps, on a shared machine; test_hostile proves the deadline. */
    static const char *const args[] = {"--max-instructions-per-hook", "2000000",
                                       "--default-memory-per-process", "8M",
                                       "--max-hook-ms", "5000", NULL};
    test_server_start(&ts, args);
}

static void stop_default(void)
{
    test_server_stop(&ts);
}

/* Reads a whole file of the source tree (the shipped demo app) or fails. */
static char *read_source_file(const char *relative)
{
    char path[512];
    FILE *f;
    char *buf = calloc(1, 65536);
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", SOURCE_ROOT, relative);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_ptr_nonnull(buf);
    n = fread(buf, 1, 65535, f);
    ck_assert_uint_gt(n, 0);
    fclose(f);
    return buf;
}

static const char echo_app[] =
    "function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n";

static uint64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* Another connection gets a Ping answered within one second. */
static void expect_server_responsive(void)
{
    struct client *probe = test_server_connect(&ts);
    uint64_t start = now_ms();

    client_set_timeout(probe, 1000);
    ck_assert_int_eq(client_ping(probe), STATUS_OK);
    ck_assert_uint_lt(now_ms() - start, 1000);
    client_free(probe);
}

START_TEST(test_broadcast_app_fans_out_across_three_clients)
{
    struct client *c[3];
    uint32_t cid[3];
    struct client *admin = test_server_connect(&ts);
    /* The demo app the image ships: HsmEnclave's README broadcast app. */
    char *broadcast_app = read_source_file("userdata/apps/broadcast.lua");
    uint32_t pid = e2e_create(admin, "broadcast", broadcast_app);

    for (int i = 0; i < 3; i++) {
        c[i] = test_server_connect(&ts);
        cid[i] = e2e_open_raw(c[i], pid);
    }
    e2e_send_text(c[0], cid[0], "hello from 0");
    e2e_expect_text(c[1], cid[1], "hello from 0");
    e2e_expect_text(c[2], cid[2], "hello from 0");
    e2e_expect_silence(c[0], 100);
    e2e_send_text(c[2], cid[2], "two");
    e2e_expect_text(c[0], cid[0], "two");
    e2e_expect_text(c[1], cid[1], "two");
    /* Client 1's connection drops: HandleChannelClose removes it. */
    client_free(c[1]);
    usleep(50000);
    e2e_send_text(c[0], cid[0], "after drop");
    e2e_expect_text(c[2], cid[2], "after drop");
    e2e_expect_silence(c[2], 100);
    client_free(c[0]);
    client_free(c[2]);
    client_free(admin);
    free(broadcast_app);
}
END_TEST

START_TEST(test_output_count_grows_with_each_message)
{
    static const char app[] =
        "n = 0\n"
        "function HandleChannelMessage(cid, msg)\n"
        "  n = n + 1\n"
        "  local out = {}\n"
        "  for i = 1, n do out[#out + 1] = {cid, msg .. i} end\n"
        "  return out\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "echo-n", app));
    char want[32];

    for (int round = 1; round <= 5; round++) {
        e2e_send_text(c, cid, "m");
        for (int i = 1; i <= round; i++) {
            snprintf(want, sizeof(want), "m%d", i);
            e2e_expect_text(c, cid, want);
        }
    }
    client_free(c);
}
END_TEST

START_TEST(test_reply_then_close_with_status)
{
    static const char app[] =
        "function HandleChannelMessage(cid, msg)\n"
        "  return {{cid, 'bye ' .. msg}, {cid, STATUS_PERMISSION_DENIED}}\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "closer", app));

    e2e_send_text(c, cid, "x");
    e2e_expect_text(c, cid, "bye x");
    e2e_expect_closed(c, cid, STATUS_PERMISSION_DENIED, NULL);
    /* Data after the close is dropped; the connection stays usable. */
    e2e_send_text(c, cid, "late");
    ck_assert_int_eq(client_ping(c), STATUS_OK);
    client_free(c);
}
END_TEST

START_TEST(test_state_is_kept_across_hooks_and_channels)
{
    static const char app[] =
        "total = 0\n"
        "function HandleChannelCreate(cid, t) total = total + 100 return {} end\n"
        "function HandleChannelMessage(cid, msg)\n"
        "  total = total + tonumber(msg)\n"
        "  return {{cid, tostring(total)}}\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t pid = e2e_create(c, "counter", app);
    uint32_t a = e2e_open_raw(c, pid);
    uint32_t b;

    e2e_send_text(c, a, "5");
    e2e_expect_text(c, a, "105");
    b = e2e_open_raw(c, pid);
    e2e_send_text(c, b, "1");
    e2e_expect_text(c, b, "206");
    client_free(c);
}
END_TEST

START_TEST(test_handle_channel_create_sees_raw_type_and_can_send)
{
    static const char app[] =
        "function HandleChannelCreate(cid, t)\n"
        "  return {{cid, 'type=' .. t .. ' raw=' .. CHAN_UNENCRYPTED}}\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "greeter", app));

    e2e_expect_text(c, cid, "type=1 raw=1");
    client_free(c);
}
END_TEST

START_TEST(test_process_destroy_closes_every_channel_unavailable)
{
    struct client *a = test_server_connect(&ts);
    struct client *b = test_server_connect(&ts);
    uint32_t pid = e2e_create(a, "victim", echo_app);
    uint32_t ca = e2e_open_raw(a, pid);
    uint32_t cb = e2e_open_raw(b, pid);
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessDestroy body = ENCLAVED__PROCESS_DESTROY__INIT;
    Enclaved__ServerFrame *f = NULL;

    body.target_case = ENCLAVED__PROCESS_DESTROY__TARGET_PROCESS_ID;
    body.process_id = pid;
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_DESTROY;
    req.process_destroy = &body;
    ck_assert_int_eq(client_call(a, &req, &f), STATUS_OK);
    ck_assert_int_eq(f->response->status, STATUS_OK);
    ck_assert_uint_eq(f->response->process_destroyed->process_id, pid);
    client_frame_free(f);
    e2e_expect_closed(a, ca, STATUS_UNAVAILABLE, NULL);
    e2e_expect_closed(b, cb, STATUS_UNAVAILABLE, NULL);
    /* Exactly one ChannelClosed each. */
    e2e_expect_silence(a, 100);
    e2e_expect_silence(b, 100);
    ck_assert_int_eq(client_call(a, &req, &f), STATUS_OK);
    ck_assert_int_eq(f->response->status, STATUS_NOT_FOUND);
    client_frame_free(f);
    client_free(a);
    client_free(b);
}
END_TEST

static Enclaved__ProcessListResult *list(struct client *c, Enclaved__ServerFrame **keep)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessList body = ENCLAVED__PROCESS_LIST__INIT;

    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_LIST;
    req.process_list = &body;
    ck_assert_int_eq(client_call(c, &req, keep), STATUS_OK);
    ck_assert_int_eq((*keep)->response->status, STATUS_OK);
    return (*keep)->response->process_list;
}

START_TEST(test_process_list_shows_id_name_hash_channels_memory)
{
    struct client *c = test_server_connect(&ts);
    uint8_t hash[32];
    uint32_t pid = 0;
    Enclaved__ServerFrame *f = NULL;
    Enclaved__ProcessListResult *l;

    ck_assert_int_eq(client_process_create(c, "echo", (const uint8_t *)echo_app, strlen(echo_app),
                                           0, &pid, hash, NULL, 0),
                     STATUS_OK);
    e2e_open_raw(c, pid);
    e2e_open_raw(c, pid);
    l = list(c, &f);
    ck_assert_uint_eq(l->n_processes, 1);
    ck_assert_uint_eq(l->processes[0]->process_id, pid);
    ck_assert_str_eq(l->processes[0]->name, "echo");
    ck_assert_uint_eq(l->processes[0]->code_hash.len, 32);
    ck_assert_mem_eq(l->processes[0]->code_hash.data, hash, 32);
    ck_assert_uint_eq(l->processes[0]->channels, 2);
    ck_assert_uint_gt(l->processes[0]->memory_used, 1000);
    ck_assert_uint_gt(l->processes[0]->created_at_micros, 1600000000000000ull);
    client_frame_free(f);
    client_free(c);
}
END_TEST

START_TEST(test_reset_clears_everything)
{
    struct client *c = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "one", echo_app));
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__Reset body = ENCLAVED__RESET__INIT;
    Enclaved__ServerFrame *f = NULL;

    e2e_create(c, "two", echo_app);
    req.body_case = ENCLAVED__REQUEST__BODY_RESET;
    req.reset = &body;
    ck_assert_int_eq(client_call(c, &req, &f), STATUS_OK);
    ck_assert_int_eq(f->response->status, STATUS_OK);
    client_frame_free(f);
    e2e_expect_closed(c, cid, STATUS_UNAVAILABLE, NULL);
    ck_assert_uint_eq(list(c, &f)->n_processes, 0);
    client_frame_free(f);
    client_free(c);
}
END_TEST

START_TEST(test_channel_open_by_code_hash_picks_oldest)
{
    struct client *c = test_server_connect(&ts);
    uint8_t hash[32];
    uint32_t first = 0, second = 0, cid = 0;
    static const char app[] =
        "function HandleChannelCreate(cid, t) return {{cid, 'hello'}} end\n";

    ck_assert_int_eq(client_process_create(c, "a", (const uint8_t *)app, strlen(app), 0, &first,
                                           hash, NULL, 0),
                     STATUS_OK);
    ck_assert_int_eq(client_process_create(c, "b", (const uint8_t *)app, strlen(app), 0, &second,
                                           NULL, NULL, 0),
                     STATUS_OK);
    ck_assert_int_eq(client_channel_open(c, 0, hash, ENCLAVED__CHANNEL_TYPE__RAW, &cid, NULL, 0),
                     STATUS_OK);
    e2e_expect_text(c, cid, "hello");
    {
        Enclaved__ServerFrame *f = NULL;
        Enclaved__ProcessListResult *l = list(c, &f);
        ck_assert_uint_eq(l->processes[0]->process_id, first);
        ck_assert_uint_eq(l->processes[0]->channels, 1);
        ck_assert_uint_eq(l->processes[1]->channels, 0);
        client_frame_free(f);
    }
    memset(hash, 0xab, sizeof(hash));
    ck_assert_int_eq(client_channel_open(c, 0, hash, ENCLAVED__CHANNEL_TYPE__RAW, &cid, NULL, 0),
                     STATUS_NOT_FOUND);
    ck_assert_int_eq(client_channel_open(c, 999, NULL, ENCLAVED__CHANNEL_TYPE__RAW, &cid, NULL, 0),
                     STATUS_NOT_FOUND);
    client_free(c);
}
END_TEST

START_TEST(test_channel_belongs_to_its_connection)
{
    struct client *owner = test_server_connect(&ts);
    struct client *other = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(owner, e2e_create(owner, "echo", echo_app));

    /* Another connection can neither write to nor close the channel. */
    e2e_send_text(other, cid, "intruder");
    ck_assert_int_eq(client_send_close(other, cid), STATUS_OK);
    ck_assert_int_eq(client_ping(other), STATUS_OK);
    e2e_expect_silence(other, 100);
    e2e_expect_silence(owner, 100);
    e2e_send_text(owner, cid, "mine");
    e2e_expect_text(owner, cid, "mine");
    ck_assert_int_eq(client_send_close(owner, cid), STATUS_OK);
    e2e_expect_closed(owner, cid, STATUS_OK, NULL);
    e2e_expect_silence(owner, 100);
    client_free(owner);
    client_free(other);
}
END_TEST

START_TEST(test_output_to_another_process_channel_is_an_error)
{
    static const char app[] =
        "function HandleChannelMessage(cid, msg) return {{tonumber(msg), 'x'}} end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t foreign = e2e_open_raw(c, e2e_create(c, "echo", echo_app));
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "bad", app));
    char text[16];

    snprintf(text, sizeof(text), "%u", foreign);
    e2e_send_text(c, cid, text);
    e2e_expect_closed(c, cid, STATUS_INTERNAL, NULL);
    e2e_send_text(c, foreign, "still");
    e2e_expect_text(c, foreign, "still");
    client_free(c);
}
END_TEST

START_TEST(test_syntax_error_at_create_is_invalid_argument_with_message)
{
    static const char bad[] = "function HandleChannelMessage(cid, msg\n";
    static const char binary[] = "\x1bLua\x54\x00";
    struct client *c = test_server_connect(&ts);
    char msg[256];

    ck_assert_int_eq(client_process_create(c, "bad", (const uint8_t *)bad, strlen(bad), 0, NULL,
                                           NULL, msg, sizeof(msg)),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(msg, "expected"));
    ck_assert_int_eq(client_process_create(c, "bin", (const uint8_t *)binary, sizeof(binary) - 1,
                                           0, NULL, NULL, msg, sizeof(msg)),
                     STATUS_INVALID_ARGUMENT);
    client_free(c);
}
END_TEST

/* Runs app's HandleChannelMessage once and expects the channel to close with
 * want; then the process must still answer on a fresh channel (if it has an
 * echo path) and the server must stay responsive. */
static void hostile(const char *app, status_t want, const char *reason_part)
{
    struct client *c = test_server_connect(&ts);
    uint32_t pid = e2e_create(c, "hostile", app);
    uint32_t cid = e2e_open_raw(c, pid);
    uint32_t again;

    e2e_send_text(c, cid, "go");
    e2e_expect_closed(c, cid, want, reason_part);
    expect_server_responsive();
    again = e2e_open_raw(c, pid);
    e2e_send_text(c, again, "echo");
    e2e_expect_text(c, again, "echo");
    client_free(c);
}

#define ECHO_OTHERWISE "  if msg == 'echo' then return {{cid, msg}} end\n"

START_TEST(test_infinite_loop_hits_deadline)
{
    hostile("function HandleChannelMessage(cid, msg)\n" ECHO_OTHERWISE
            "  while true do end\nend\n",
            STATUS_DEADLINE_EXCEEDED, NULL);
}
END_TEST

START_TEST(test_pcall_cannot_swallow_the_instruction_cap)
{
    hostile("function HandleChannelMessage(cid, msg)\n" ECHO_OTHERWISE
            "  while true do pcall(function() while true do end end) end\nend\n",
            STATUS_DEADLINE_EXCEEDED, NULL);
}
END_TEST

START_TEST(test_unbounded_string_growth_hits_memory_cap)
{
    hostile("function HandleChannelMessage(cid, msg)\n" ECHO_OTHERWISE
            "  local s = 'x'\n  while true do s = s .. s end\nend\n",
            STATUS_RESOURCE_EXHAUSTED, NULL);
}
END_TEST

START_TEST(test_unbounded_table_growth_hits_memory_cap)
{
    hostile("junk = {}\nfunction HandleChannelMessage(cid, msg)\n" ECHO_OTHERWISE
            "  local t = {}\n  for i = 1, 1e12 do t[i] = {i} end\nend\n",
            STATUS_RESOURCE_EXHAUSTED, NULL);
}
END_TEST

/* Under this suite's 8 MiB cap the Lua stack hits the memory cap before
 * Lua's own one-million-slot stack limit. */
START_TEST(test_deep_recursion_fails_cleanly)
{
    hostile("local function f(n) return f(n + 1) + 1 end\n"
            "function HandleChannelMessage(cid, msg)\n" ECHO_OTHERWISE "  return f(1)\nend\n",
            STATUS_RESOURCE_EXHAUSTED, NULL);
}
END_TEST

START_TEST(test_recursion_through_gsub_fails_cleanly)
{
    hostile("local function g(s) return (string.gsub(s, '.', g)) end\n"
            "function HandleChannelMessage(cid, msg)\n" ECHO_OTHERWISE "  return g('aa')\nend\n",
            STATUS_INTERNAL, NULL);
}
END_TEST

START_TEST(test_a_million_outputs_hit_the_output_cap)
{
    hostile("function HandleChannelMessage(cid, msg)\n" ECHO_OTHERWISE
            "  local out = {}\n  for i = 1, 1000000 do out[i] = {cid, 'x'} end\n  return out\nend\n",
            STATUS_RESOURCE_EXHAUSTED, NULL);
}
END_TEST

START_TEST(test_non_table_output_is_internal)
{
    hostile("function HandleChannelMessage(cid, msg)\n" ECHO_OTHERWISE "  return 42\nend\n",
            STATUS_INTERNAL, NULL);
}
END_TEST

START_TEST(test_malformed_output_entries_are_internal)
{
    static const char *const bodies[] = {
        "return {{cid}}", "return {{'x', 'y'}}", "return {{cid, {}}}", "return {{cid, 99}}",
        "return {'flat'}", "return {{cid, 1.5}}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char app[512];
        snprintf(app, sizeof(app), "function HandleChannelMessage(cid, msg)\n" ECHO_OTHERWISE
                                   "  %s\nend\n",
                 bodies[i]);
        hostile(app, STATUS_INTERNAL, NULL);
    }
}
END_TEST

START_TEST(test_removed_globals_are_absent)
{
    static const char app[] =
        "function HandleChannelMessage(cid, msg)\n"
        "  local names = {'io', 'os', 'debug', 'package', 'require', 'load', 'loadstring',\n"
        "                 'dofile', 'loadfile', 'collectgarbage', 'rawget', 'rawset',\n"
        "                 'rawequal', 'rawlen'}\n"
        "  local present = {}\n"
        "  for _, n in ipairs(names) do if _ENV[n] ~= nil then present[#present+1] = n end end\n"
        "  if string.dump ~= nil or ('').dump ~= nil then present[#present+1] = 'dump' end\n"
        "  return {{cid, 'present:' .. table.concat(present, ',')}}\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "probe", app));

    e2e_send_text(c, cid, "?");
    e2e_expect_text(c, cid, "present:");
    client_free(c);
    hostile("function HandleChannelMessage(cid, msg)\n" ECHO_OTHERWISE
            "  return os.exit(1)\nend\n",
            STATUS_INTERNAL, NULL);
}
END_TEST

START_TEST(test_registry_and_c_context_are_unreachable)
{
    static const char app[] =
        "function HandleChannelMessage(cid, msg)\n"
        "  local found = {}\n"
        "  local seen = {}\n"
        "  local function walk(t, depth)\n"
        "    if depth > 4 or seen[t] then return end\n"
        "    seen[t] = true\n"
        "    for k, v in pairs(t) do\n"
        "      if type(v) == 'userdata' and getmetatable(v) == nil then found[#found+1] = tostring(k) end\n"
        "      if type(v) == 'table' then walk(v, depth + 1) end\n"
        "    end\n"
        "  end\n"
        "  walk(_ENV, 0)\n"
        "  local mt = getmetatable('')\n"
        "  local ok = pcall(setmetatable, _ENV, {})\n"
        "  return {{cid, 'lightuserdata:' .. #found .. ' strmeta:' .. type(mt) .. ' setenvmeta:' .. tostring(ok)}}\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "probe", app));
    uint8_t *data = NULL;
    size_t len = 0;

    e2e_send_text(c, cid, "?");
    ck_assert_int_eq(client_channel_recv(c, cid, 5000, &data, &len, NULL, 0), STATUS_OK);
    ck_assert_msg(strstr((char *)data, "lightuserdata:0") != NULL, "%s", data);
    ck_assert_msg(strstr((char *)data, "setenvmeta:false") != NULL, "%s", data);
    free(data);
    client_free(c);
}
END_TEST

START_TEST(test_error_delivers_no_outputs)
{
    static const char app[] =
        "function HandleChannelMessage(cid, msg)\n" ECHO_OTHERWISE
        "  local out = {{cid, 'never sent'}}\n"
        "  error('boom')\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t cid = e2e_open_raw(c, e2e_create(c, "boom", app));
    Enclaved__ServerFrame *f = NULL;

    e2e_send_text(c, cid, "go");
    ck_assert_int_eq(client_next_event(c, 5000, &f), STATUS_OK);
    ck_assert_int_eq(f->kind_case, ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED);
    ck_assert_int_eq(f->channel_closed->status, STATUS_INTERNAL);
    ck_assert_ptr_nonnull(strstr(f->channel_closed->reason, "boom"));
    client_frame_free(f);
    client_free(c);
}
END_TEST

START_TEST(test_limits_on_processes_channels_and_message_size)
{
    static const char *const args[] = {"--max-processes", "2", "--max-channels-per-process", "2",
                                       "--max-message", "1000", "--max-frame", "4096", NULL};
    struct test_server small;
    struct client *c;
    uint32_t pid, first, cid = 0;
    char big[2000];

    test_server_start(&small, args);
    c = test_server_connect(&small);
    pid = e2e_create(c, "one", echo_app);
    e2e_create(c, "two", echo_app);
    ck_assert_int_eq(client_process_create(c, "three", (const uint8_t *)echo_app,
                                           strlen(echo_app), 0, NULL, NULL, NULL, 0),
                     STATUS_RESOURCE_EXHAUSTED);
    first = e2e_open_raw(c, pid);
    e2e_open_raw(c, pid);
    ck_assert_int_eq(client_channel_open(c, pid, NULL, ENCLAVED__CHANNEL_TYPE__RAW, &cid, NULL, 0),
                     STATUS_RESOURCE_EXHAUSTED);
    memset(big, 'a', sizeof(big));
    ck_assert_int_eq(client_send_data(c, first, (const uint8_t *)big, sizeof(big)), STATUS_OK);
    e2e_expect_closed(c, first, STATUS_RESOURCE_EXHAUSTED, "max_message");
    ck_assert_int_eq(client_process_create(c, "mem", (const uint8_t *)echo_app, strlen(echo_app),
                                           UINT64_C(1) << 40, NULL, NULL, NULL, 0),
                     STATUS_RESOURCE_EXHAUSTED);
    client_free(c);
    test_server_stop(&small);
}
END_TEST

/* A broadcast target that never reads: once its unsent output passes
 * max_output_buffer the server drops that connection, and keeps serving the
 * sender; nothing grows without bound. */
START_TEST(test_slow_consumer_is_dropped_and_sender_keeps_going)
{
    static const char *const args[] = {"--max-frame", "64k", "--max-message", "60000",
                                       "--max-output-buffer", "256k", NULL};
    struct test_server small;
    struct client *sender, *sink;
    uint32_t pid, scid, kcid;
    static uint8_t chunk[50000];
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__GetStats body = ENCLAVED__GET_STATS__INIT;
    Enclaved__ServerFrame *f = NULL;
    char *broadcast_app = read_source_file("userdata/apps/broadcast.lua");
    char *log;
    int dropped = 0;

    test_server_start(&small, args);
    sender = test_server_connect(&small);
    sink = test_server_connect(&small);
    pid = e2e_create(sender, "broadcast", broadcast_app);
    scid = e2e_open_raw(sender, pid);
    kcid = e2e_open_raw(sink, pid);
    (void)kcid;
    memset(chunk, 'x', sizeof(chunk));
    req.body_case = ENCLAVED__REQUEST__BODY_GET_STATS;
    req.get_stats = &body;
    /* 400 x 50 KB = 20 MB toward a sink that reads nothing. */
    for (int i = 0; i < 400 && !dropped; i++) {
        ck_assert_int_eq(client_send_data(sender, scid, chunk, sizeof(chunk)), STATUS_OK);
        if (i % 20 == 19) {
            ck_assert_int_eq(client_call(sender, &req, &f), STATUS_OK);
            dropped = f->response->stats->connections_open == 1;
            client_frame_free(f);
        }
    }
    ck_assert_msg(dropped, "the sink was never dropped");
    ck_assert_int_eq(client_ping(sender), STATUS_OK);
    ck_assert(client_wait_closed(sink, 5000));
    client_free(sink);
    client_free(sender);
    log = test_server_stop_with_log(&small, NULL);
    ck_assert_ptr_nonnull(strstr(log, "dropping the connection"));
    free(log);
    free(broadcast_app);
}
END_TEST

static Suite *processes_suite(void)
{
    Suite *s = suite_create("e2e-processes");
    TCase *tc = tcase_create("compat");

    tcase_add_checked_fixture(tc, start_default, stop_default);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_broadcast_app_fans_out_across_three_clients);
    tcase_add_test(tc, test_output_count_grows_with_each_message);
    tcase_add_test(tc, test_reply_then_close_with_status);
    tcase_add_test(tc, test_state_is_kept_across_hooks_and_channels);
    tcase_add_test(tc, test_handle_channel_create_sees_raw_type_and_can_send);
    tcase_add_test(tc, test_process_destroy_closes_every_channel_unavailable);
    tcase_add_test(tc, test_process_list_shows_id_name_hash_channels_memory);
    tcase_add_test(tc, test_reset_clears_everything);
    tcase_add_test(tc, test_channel_open_by_code_hash_picks_oldest);
    tcase_add_test(tc, test_channel_belongs_to_its_connection);
    tcase_add_test(tc, test_output_to_another_process_channel_is_an_error);
    tcase_add_test(tc, test_syntax_error_at_create_is_invalid_argument_with_message);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_checked_fixture(tc, start_default, stop_default);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_infinite_loop_hits_deadline);
    tcase_add_test(tc, test_pcall_cannot_swallow_the_instruction_cap);
    tcase_add_test(tc, test_unbounded_string_growth_hits_memory_cap);
    tcase_add_test(tc, test_unbounded_table_growth_hits_memory_cap);
    tcase_add_test(tc, test_deep_recursion_fails_cleanly);
    tcase_add_test(tc, test_recursion_through_gsub_fails_cleanly);
    tcase_add_test(tc, test_a_million_outputs_hit_the_output_cap);
    tcase_add_test(tc, test_non_table_output_is_internal);
    tcase_add_test(tc, test_malformed_output_entries_are_internal);
    tcase_add_test(tc, test_removed_globals_are_absent);
    tcase_add_test(tc, test_registry_and_c_context_are_unreachable);
    tcase_add_test(tc, test_error_delivers_no_outputs);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_limits_on_processes_channels_and_message_size);
    tcase_add_test(tc, test_slow_consumer_is_dropped_and_sender_keeps_going);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(processes_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
