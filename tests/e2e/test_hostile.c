/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * End-to-end: the hostile corpus of DESIGN §5 "Containment" against the
 * real server with its default max_hook_ms (100) and instruction budget.
 * Each app's HandleChannelMessage does one hostile thing; the channel must
 * close with the limit's status, and a Ping sent on a second connection
 * while the hostile call runs must be answered. Bounds are generous ("does
 * not hang"); the measured latencies are printed, and the worst Ping
 * latency of the corpus is printed at the end for the issue note.
 *
 * Classes: code that Lua runs with hooks disabled (__gc finalisers at run,
 * create and destroy time, xpcall handlers, __close of a thread stopped in
 * the hook); C functions that do unbounded work in few VM instructions
 * (string.rep, table.move/insert/remove/concat/unpack with lying lengths,
 * backtracking patterns through find/match/gmatch/gsub/%b, plain find,
 * growing concatenations, utf8 scans, tonumber and arithmetic coercion of
 * long strings, long string comparisons, sparse next, varargs, format,
 * sort); memory; and the paths that must run app code with hooks on
 * (__close, __tostring, coroutines, sort comparators, gsub callbacks,
 * metamethods called from C).
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

enum {
    BOUND_MS = 5000,            /* "does not hang": far above max_hook_ms */
    MEMORY_LIMIT = 96u << 20,   /* room for the long-string cases */
};

static struct test_server ts;
static uint64_t worst_ping_ms;
static char worst_ping_case[64];

static void start_default(void)
{
    test_server_start(&ts, NULL);
}

static void stop_default(void)
{
    test_server_stop(&ts);
}

static uint64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* The app every case runs: `prelude` at the top level, then a message
 * handler that echoes "echo", adds a 1 MB piece per "grow" (so long
 * strings are built in calls that each fit the deadline; the hostile call
 * joins them into the global `big`), and runs `body` for "go". */
static char *build_app(const char *prelude, const char *body)
{
    static const char fmt[] =
        "K = string.rep('x', 1000)\n"
        "pieces = {}\n"
        "%s\n"
        "function HandleChannelMessage(cid, msg)\n"
        "  if msg == 'echo' then return {{cid, msg}} end\n"
        "  if msg == 'grow' then pieces[#pieces + 1] = string.rep(K, 1000) return {{cid, 'grown'}} end\n"
        "  big = table.concat(pieces)\n"
        "  %s\n"
        "  return {{cid, 'survived'}}\n"
        "end\n";
    size_t n = sizeof(fmt) + strlen(prelude) + strlen(body);
    char *app = malloc(n);

    ck_assert_ptr_nonnull(app);
    snprintf(app, n, fmt, prelude, body);
    return app;
}

struct hostile_case {
    const char *name;
    const char *prelude;
    const char *body;
    status_t want;
    const char *reason_part;     /* substring of the close reason, or NULL */
    int grow;                    /* "grow" messages before "go" (1 MB each) */
    uint64_t memory_limit;       /* 0: MEMORY_LIMIT */
};

/* The memory cases run under a small cap, so the cap and not the clock is
 * what they hit. */
#define SMALL (1u << 20)

/* Runs one case: the hostile message on one connection, a Ping on a
 * second sent while it runs; then the process must still echo. */
static void run_case(const struct hostile_case *hc)
{
    struct client *c = test_server_connect(&ts);
    struct client *probe = test_server_connect(&ts);
    char *app = build_app(hc->prelude, hc->body);
    uint32_t pid = 0;
    char msg[256];
    status_t s = client_process_create(c, hc->name, (const uint8_t *)app, strlen(app),
                                       hc->memory_limit != 0 ? hc->memory_limit : MEMORY_LIMIT,
                                       &pid, NULL, msg, sizeof(msg));

    ck_assert_msg(s == STATUS_OK, "%s: create: %s %s", hc->name, status_name(s), msg);
    uint32_t cid = e2e_open_raw(c, pid);
    for (int i = 0; i < hc->grow; i++) {
        e2e_send_text(c, cid, "grow");
        e2e_expect_text(c, cid, "grown");
    }
    ck_assert_int_eq(client_ping(probe), STATUS_OK);

    uint64_t start = now_ms();
    e2e_send_text(c, cid, "go");
    usleep(5000);                          /* the hook is running by now */
    uint64_t ping_sent = now_ms();
    client_set_timeout(probe, BOUND_MS);
    ck_assert_msg(client_ping(probe) == STATUS_OK, "%s: no Ping answer", hc->name);
    uint64_t ping_ms = now_ms() - ping_sent;

    status_t got = STATUS_OK;
    char reason[256] = "";
    ck_assert_int_eq(client_channel_wait_closed(c, cid, BOUND_MS, &got, reason, sizeof(reason)),
                     STATUS_OK);
    uint64_t close_ms = now_ms() - start;
    ck_assert_msg(got == hc->want, "%s: closed with %s (%s), want %s", hc->name, status_name(got),
                  reason, status_name(hc->want));
    if (hc->reason_part != NULL) {
        ck_assert_msg(strstr(reason, hc->reason_part) != NULL, "%s: reason '%s' lacks '%s'",
                      hc->name, reason, hc->reason_part);
    }
    ck_assert_uint_lt(ping_ms, BOUND_MS);
    ck_assert_uint_lt(close_ms, BOUND_MS);
    printf("hostile %-22s %-18s ping %4llu ms, closed by %4llu ms\n", hc->name,
           status_name(got), (unsigned long long)ping_ms, (unsigned long long)close_ms);
    if (ping_ms > worst_ping_ms) {
        worst_ping_ms = ping_ms;
        snprintf(worst_ping_case, sizeof(worst_ping_case), "%s", hc->name);
    }

    /* The process goes on. */
    uint32_t again = e2e_open_raw(c, pid);
    e2e_send_text(c, again, "echo");
    e2e_expect_text(c, again, "echo");
    client_free(probe);
    client_free(c);
    free(app);
}

#define LOOP "while true do end"

static const struct hostile_case corpus[] = {
    /* Hooks off: finalisers are refused, xpcall handlers skipped. */
    {"gc-at-run-time", "", "setmetatable({}, {__gc = function() " LOOP " end})",
     STATUS_INTERNAL, "__gc", 0, 0},
    {"gc-false-field", "", "setmetatable({}, {__gc = false})", STATUS_INTERNAL, "__gc", 0, 0},
    {"xpcall-handler-loops", "", "xpcall(function() " LOOP " end, function(e) " LOOP " end)",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"xpcall-handler-on-error", "", "xpcall(function() error('x') end, function(e) " LOOP " end)",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"xpcall-nested", "",
     "xpcall(function() xpcall(function() " LOOP " end, function() " LOOP " end) " LOOP
     " end, function() " LOOP " end)",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"close-tbc", "",
     "local x <close> = setmetatable({}, {__close = function() " LOOP " end}) " LOOP,
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"wrap-closes-tbc", "",
     "coroutine.wrap(function() local x <close> = setmetatable({}, {__close = function() " LOOP
     " end}) " LOOP " end)()",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"close-stopped-thread", "",
     "local co = coroutine.create(function() local x <close> = setmetatable({}, "
     "{__close = function() " LOOP " end}) " LOOP " end) coroutine.resume(co) "
     "coroutine.close(co)",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"tostring-error-object", "",
     "error(setmetatable({}, {__tostring = function() " LOOP " end}))", STATUS_INTERNAL,
     "table value", 0, 0},
    {"tostring-loops", "", "tostring(setmetatable({}, {__tostring = function() " LOOP " end}))",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"coroutine-loop", "", "coroutine.resume(coroutine.create(function() " LOOP " end)) " LOOP,
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"coroutine-spawn", "", "while true do coroutine.wrap(function() end)() end",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"sort-comparator", "", "table.sort({3, 2, 4, 0}, function(a, b) " LOOP " end)",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"gsub-callback", "", "string.gsub('abc', '.', function() " LOOP " end)",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"index-from-concat", "",
     "table.concat(setmetatable({}, {__index = function() " LOOP " end}), '', 1, 3)",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"len-from-insert", "",
     "table.insert(setmetatable({}, {__len = function() " LOOP " end}), 1)",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"lt-from-sort", "",
     "local mt = {__lt = function() " LOOP " end} "
     "table.sort({setmetatable({}, mt), setmetatable({}, mt)})",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"pairs-metamethod", "", "pairs(setmetatable({}, {__pairs = function() " LOOP " end}))",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    /* C functions doing unbounded work. */
    {"rep-empty", "", "string.rep('', 1e15)", STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"rep-empty-sep", "", "string.rep('', 1e15, '')", STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"rep-loop", "", "while true do string.rep(K, 4000) end", STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"move-huge-range", "", "table.move({}, 1, 1e15, 2)", STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"move-index-metamethods", "",
     "local t = setmetatable({}, {__index = type, __newindex = type}) "
     "table.move(t, 1, 1e15, 2)",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"insert-lying-len", "",
     "table.insert(setmetatable({}, {__len = function() return 1e15 end}), 1, 'x')",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"remove-lying-len", "",
     "table.remove(setmetatable({}, {__len = function() return 1e15 end}), 1)",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"concat-huge-range", "",
     "table.concat(setmetatable({}, {__index = function() return '' end}), '', 1, 1e15)",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"unpack-loop", "", "while true do table.unpack({}, 1, 500000) end",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"find-backtracks", "", "string.find(string.rep('a', 1e5), '.-.-.-.-.-b')",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"match-backtracks", "", "string.match(string.rep('a', 1e5), '(.-)(.-)(.-)(.-)b')",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"gmatch-backtracks", "", "for x in string.gmatch(string.rep('a', 1e5), '.-.-.-.-.-b') do end",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"gsub-backtracks", "", "string.gsub(string.rep('a', 1e5), 'a*a*a*a*a*b', '')",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"balance-scan", "", "local s = string.rep('(', 1e6) while true do string.find(s, '%b()') end",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"big-set", "",
     "local s = string.rep('a', 1e6) local p = '[' .. string.rep('b', 1e5) .. ']' "
     "while true do string.find(s, p) end",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"plain-find-long-needle", "",
     "local h = string.rep('a', 4e6) local n = string.rep('a', 2e6) .. 'b' "
     "while true do string.find(h, n, 1, true) end",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"growing-concat", "", "local s = '' while true do s = s .. 'xxxxxxxxxxxxxxxx' end",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"long-string-equality", "", "local a, b = big .. 'a', big .. 'b' while true do local _ = a == b end",
     STATUS_DEADLINE_EXCEEDED, NULL, 20, 0},
    {"long-string-less-than", "", "local a, b = big .. 'a', big .. 'b' while true do local _ = a < b end",
     STATUS_DEADLINE_EXCEEDED, NULL, 20, 0},
    {"tonumber-long", "", "local s = string.rep(' ', #big) while true do tonumber(s) end",
     STATUS_DEADLINE_EXCEEDED, NULL, 12, 0},
    {"arith-coercion", "", "local s = string.rep('1', #big) while true do pcall(function() return s + 1 end) end",
     STATUS_DEADLINE_EXCEEDED, NULL, 12, 0},
    {"utf8-len", "", "while true do utf8.len(big) end", STATUS_DEADLINE_EXCEEDED, NULL, 20, 0},
    {"utf8-codes", "", "while true do for p, c in utf8.codes(big) do end end",
     STATUS_DEADLINE_EXCEEDED, NULL, 8, 0},
    {"format-long", "", "while true do string.format('%s', big) end",
     STATUS_DEADLINE_EXCEEDED, NULL, 20, 0},
    {"upper-long", "", "while true do string.upper(big) end", STATUS_DEADLINE_EXCEEDED, NULL, 20, 0},
    {"byte-slice", "", "while true do string.byte(big, 1, 500000) end",
     STATUS_DEADLINE_EXCEEDED, NULL, 4, 0},
    {"sort-long-strings", "",
     "local t, b2 = {}, big .. 'y' for i = 1, 1000 do t[i] = i % 2 == 0 and big or b2 end "
     "while true do table.sort(t) end",
     STATUS_DEADLINE_EXCEEDED, NULL, 8, 0},
    {"sparse-next", "",
     "local t = {} for i = 1, 40000 do t[i * 2] = i end for i = 1, 39999 do t[i * 2] = nil end "
     "while true do next(t) end",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"vararg-copies", "",
     "local function g(...) return select('#', ...) end "
     "local function f(...) while true do g(...) end end f(table.unpack({}, 1, 200000))",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"select-vararg", "",
     "local function f(...) while true do select(-1, ...) end end f(table.unpack({}, 1, 200000))",
     STATUS_DEADLINE_EXCEEDED, NULL, 0, 0},
    {"sha256-long", "", "while true do enclave.sha256(big, big) end", STATUS_DEADLINE_EXCEEDED,
     NULL, 20, 0},
    /* Memory. */
    {"rep-over-memory", "", "string.rep('x', 1e9)", STATUS_RESOURCE_EXHAUSTED, NULL, 0, SMALL},
    {"table-growth", "", "local t = {} while true do t[#t + 1] = {} end",
     STATUS_RESOURCE_EXHAUSTED, NULL, 0, SMALL},
    {"doubling-string", "", "local s = K while true do s = s .. s end", STATUS_RESOURCE_EXHAUSTED,
     NULL, 0, SMALL},
    {"pcall-swallows-memory", "",
     "local t = {} while true do pcall(function() t[#t + 1] = string.rep(K, 100) end) end",
     STATUS_RESOURCE_EXHAUSTED, NULL, 0, SMALL},
};

START_TEST(test_hostile_call_closes_its_channel_and_ping_is_answered)
{
    run_case(&corpus[_i]);
}
END_TEST

/* A bomb in the top level answers ProcessCreate with DEADLINE_EXCEEDED,
 * and a Ping sent meanwhile is answered. */
START_TEST(test_create_time_bombs_answer_deadline_exceeded)
{
    static const char *const bombs[] = {
        "while true do end",
        "xpcall(function() while true do end end, function() while true do end end)",
        "string.find(string.rep('a', 1e5), '.-.-.-.-.-b')",
        "string.rep('', 1e15)",
        "local s = '' while true do s = s .. 'xxxxxxxxxxxxxxxx' end",
    };
    struct client *c = test_server_connect(&ts);
    struct client *probe = test_server_connect(&ts);
    char msg[256];

    for (size_t i = 0; i < sizeof(bombs) / sizeof(bombs[0]); i++) {
        uint64_t start = now_ms();
        status_t s = client_process_create(c, "bomb", (const uint8_t *)bombs[i],
                                           strlen(bombs[i]), 0, NULL, NULL, msg, sizeof(msg));
        ck_assert_msg(s == STATUS_DEADLINE_EXCEEDED, "%s: %s %s", bombs[i], status_name(s), msg);
        ck_assert_uint_lt(now_ms() - start, BOUND_MS);
        ck_assert_int_eq(client_ping(probe), STATUS_OK);
        printf("create-time bomb %zu answered in %llu ms\n", i,
               (unsigned long long)(now_ms() - start));
    }
    /* A finaliser at create time is refused outright. */
    static const char gc_bomb[] = "setmetatable({}, {__gc = function() while true do end end})";
    ck_assert_int_eq(client_process_create(c, "gc", (const uint8_t *)gc_bomb, strlen(gc_bomb), 0,
                                           NULL, NULL, msg, sizeof(msg)),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(msg, "__gc"));
    client_free(probe);
    client_free(c);
}
END_TEST

/* An app that tries every way to leave a looping finaliser behind is
 * destroyed at once, and Reset too. */
START_TEST(test_destroy_of_a_would_be_finaliser_answers_at_once)
{
    static const char app[] =
        "local loop = function() while true do end end\n"
        "assert(not pcall(setmetatable, {}, {__gc = loop}))\n"
        "keep = {}\n"
        "for i = 1, 100 do\n"
        "  local mt = {}\n"
        "  keep[i] = setmetatable({}, mt)\n"
        "  mt.__gc = loop            -- too late: Lua marks at setmetatable\n"
        "  setmetatable({}, mt)      -- refused below, so never reached\n"
        "end\n";
    static const char app_ok[] =
        "local loop = function() while true do end end\n"
        "assert(not pcall(setmetatable, {}, {__gc = loop}))\n"
        "keep = {}\n"
        "for i = 1, 100 do\n"
        "  local mt = {}\n"
        "  keep[i] = setmetatable({}, mt)\n"
        "  mt.__gc = loop\n"
        "  keep[i + 100] = enclave.fixedmap(4, 4)\n"
        "end\n"
        "function HandleChannelMessage(cid, msg) keep = nil return {{cid, 'dropped'}} end\n";
    struct client *c = test_server_connect(&ts);
    uint32_t pid = 0;
    char msg[256];
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessDestroy body = ENCLAVED__PROCESS_DESTROY__INIT;
    Enclaved__ServerFrame *f = NULL;

    /* The second setmetatable of a metatable holding __gc is refused. */
    ck_assert_int_eq(client_process_create(c, "late-gc", (const uint8_t *)app, strlen(app), 0,
                                           NULL, NULL, msg, sizeof(msg)),
                     STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(msg, "__gc"));
    ck_assert_int_eq(client_process_create(c, "late-gc", (const uint8_t *)app_ok, strlen(app_ok),
                                           0, &pid, NULL, msg, sizeof(msg)),
                     STATUS_OK);
    uint32_t cid = e2e_open_raw(c, pid);
    e2e_send_text(c, cid, "drop");
    e2e_expect_text(c, cid, "dropped");
    body.target_case = ENCLAVED__PROCESS_DESTROY__TARGET_PROCESS_ID;
    body.process_id = pid;
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_DESTROY;
    req.process_destroy = &body;
    uint64_t start = now_ms();
    ck_assert_int_eq(client_call(c, &req, &f), STATUS_OK);
    ck_assert_int_eq(f->response->status, STATUS_OK);
    client_frame_free(f);
    printf("destroy answered in %llu ms\n", (unsigned long long)(now_ms() - start));
    ck_assert_uint_lt(now_ms() - start, BOUND_MS);
    ck_assert_int_eq(client_ping(c), STATUS_OK);
    client_free(c);
}
END_TEST

/* A thread that a limit stopped inside the count hook keeps Lua's hooks
 * disabled; closing it in a later call (with a fresh budget) would run its
 * __close handler unbounded, so coroutine.close refuses it. */
START_TEST(test_thread_stopped_by_a_limit_cannot_be_closed_later)
{
    static const char app[] =
        "function HandleChannelMessage(cid, msg)\n"
        "  if msg == 'echo' then return {{cid, msg}} end\n"
        "  if stopped then coroutine.close(stopped) while true do end end\n"
        "  stopped = coroutine.create(function()\n"
        "    local x <close> = setmetatable({}, {__close = function() while true do end end})\n"
        "    while true do end\n"
        "  end)\n"
        "  coroutine.resume(stopped)\n"
        "end\n";
    struct client *c = test_server_connect(&ts);
    struct client *probe = test_server_connect(&ts);
    uint32_t pid = 0;
    status_t got;
    char reason[256];

    ck_assert_int_eq(client_process_create(c, "later", (const uint8_t *)app, strlen(app), 0, &pid,
                                           NULL, reason, sizeof(reason)),
                     STATUS_OK);
    uint32_t cid = e2e_open_raw(c, pid);
    e2e_send_text(c, cid, "go");
    ck_assert_int_eq(client_channel_wait_closed(c, cid, BOUND_MS, &got, reason, sizeof(reason)),
                     STATUS_OK);
    ck_assert_int_eq(got, STATUS_DEADLINE_EXCEEDED);
    cid = e2e_open_raw(c, pid);
    e2e_send_text(c, cid, "go");
    client_set_timeout(probe, BOUND_MS);
    ck_assert_int_eq(client_ping(probe), STATUS_OK);
    ck_assert_int_eq(client_channel_wait_closed(c, cid, BOUND_MS, &got, reason, sizeof(reason)),
                     STATUS_OK);
    ck_assert_msg(got == STATUS_INTERNAL && strstr(reason, "limit stopped") != NULL, "%s %s",
                  status_name(got), reason);
    client_free(probe);
    client_free(c);
}
END_TEST

static void report_worst(void)
{
    printf("worst Ping latency over the hostile corpus (%s driver): %llu ms (%s)\n",
           test_server_io(), (unsigned long long)worst_ping_ms, worst_ping_case);
}

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("e2e-hostile");
    TCase *tc = tcase_create("corpus");
    int n = (int)(sizeof(corpus) / sizeof(corpus[0]));

    tcase_add_unchecked_fixture(tc, start_default, stop_default);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_hostile_call_closes_its_channel_and_ping_is_answered, 0, n);
    tcase_add_test(tc, test_create_time_bombs_answer_deadline_exceeded);
    tcase_add_test(tc, test_destroy_of_a_would_be_finaliser_answers_at_once);
    tcase_add_test(tc, test_thread_stopped_by_a_limit_cannot_be_closed_later);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hostile_suite());
    int failed;

    /* One server for the whole corpus, and one process: the worst latency
     * is a sum over cases, kept in this process. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    report_worst();
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
