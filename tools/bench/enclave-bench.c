/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclave-bench: a load generator for a running enclaved (DESIGN §10). It
 * creates its own echo process, runs the workloads of the performance budget
 * and prints one row per workload next to its target: throughput, latency
 * percentiles, errors, and server memory (GetStats.memory_rss, plus
 * ProcessList.memory_used for processes). It judges nothing: the targets are
 * printed for the reader.
 *
 * Concurrent workloads fork worker processes, one connection each, so the
 * client side spreads over every core and each worker has its own DRBG and
 * status trail (both are single-threaded by design).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cli.h"
#include "lib/client.h"
#include "lib/client_noise.h"
#include "crypto/rng.h"

enum {
    DEFAULT_PORT = 7480,
    SMALL_MSG = 64,
    LARGE_MSG = 16 * 1024,
    PIPELINE_DEPTH = 8,
    MAX_WORKERS = 256,
    PROGRESS_EVERY_NS = 500 * 1000 * 1000,
};

static const char ECHO_APP[] = "function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n";

struct opts {
    const char *host;
    uint16_t port;
    const char *scenario;
    double duration_s;
    uint64_t count;      /* 0: run for duration_s */
    int concurrency;
    uint64_t idle;       /* channels and processes for the idle rows */
    uint64_t connections;
    int timeout_ms;
    int json;
    long server_pid; /* 0: unknown; else its /proc CPU time is sampled */
};

/* Latencies in ns, growable. */
struct samples {
    uint64_t *v;
    size_t len, cap;
};

struct row {
    char name[40];
    const char *target;
    uint64_t ops, errors;
    double seconds;
    double p50_us, p90_us, p99_us, max_us;
    int has_latency;
    /* Memory rows: bytes per item from the RSS delta (and from memory_used). */
    int has_per_item;
    double per_item_rss, per_item_used;
    uint64_t rss;
    double server_cpu_us; /* per op, with --server-pid; < 0 when unknown */
};

static struct opts opt = {"127.0.0.1", DEFAULT_PORT, "all", 2.0, 0, 8, 1000, 1000, 10000, 0, 0};
static uint32_t echo_pid;
static uint8_t echo_hash[CLIENT_CODE_HASH_LEN];
static uint8_t server_key[CLIENT_KEY_LEN];

/* {============================================================ helpers */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, status_t s)
{
    fprintf(stderr, "\nenclave-bench: %s: %s (%s)\n", what, status_name(s),
            status_trail_message());
    exit(EXIT_FAILURE);
}

static void samples_add(struct samples *s, uint64_t ns)
{
    if (s->len == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (s->v == NULL) {
            fprintf(stderr, "enclave-bench: out of memory\n");
            exit(EXIT_FAILURE);
        }
    }
    s->v[s->len++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static double percentile_us(const struct samples *s, double p)
{
    size_t i;

    if (s->len == 0) {
        return 0;
    }
    i = (size_t)(p * (double)(s->len - 1) + 0.5);
    return (double)s->v[i] / 1e3;
}

/* Fills the latency columns of r from s (sorted here) and frees s. */
static void row_finish(struct row *r, struct samples *s, uint64_t start_ns)
{
    r->seconds = (double)(now_ns() - start_ns) / 1e9;
    if (s != NULL) {
        qsort(s->v, s->len, sizeof(*s->v), cmp_u64);
        r->has_latency = s->len > 0;
        r->p50_us = percentile_us(s, 0.50);
        r->p90_us = percentile_us(s, 0.90);
        r->p99_us = percentile_us(s, 0.99);
        r->max_us = s->len ? (double)s->v[s->len - 1] / 1e3 : 0;
        free(s->v);
        s->v = NULL;
        s->len = s->cap = 0;
    }
}

/* Prints a progress line at most twice a second. */
static void progress(const char *name, uint64_t ops, uint64_t start_ns, uint64_t *last_ns)
{
    uint64_t t = now_ns();

    if (t - *last_ns >= PROGRESS_EVERY_NS) {
        double secs = (double)(t - start_ns) / 1e9;
        fprintf(stderr, "\r%-14s %10" PRIu64 " ops  %10.0f ops/s   ", name, ops,
                secs > 0 ? (double)ops / secs : 0.0);
        *last_ns = t;
    }
}

/* True while a timed run should go on (--count or --duration). */
static int keep_going(const char *name, uint64_t ops, uint64_t start_ns, uint64_t *last_ns)
{
    progress(name, ops, start_ns, last_ns);
    if (opt.count > 0) {
        return ops < opt.count;
    }
    return (double)(now_ns() - start_ns) / 1e9 < opt.duration_s;
}

static void progress_done(void)
{
    fprintf(stderr, "\r%60s\r", "");
}

static struct client *connect_or_die(void)
{
    struct client *c = NULL;
    status_t s = client_connect(opt.host, opt.port, opt.timeout_ms, &c);

    if (s != STATUS_OK) {
        die("cannot connect", s);
    }
    return c;
}

static Enclaved__Stats *get_stats(struct client *c, Enclaved__ServerFrame **keep)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__GetStats body = ENCLAVED__GET_STATS__INIT;
    status_t s;

    req.body_case = ENCLAVED__REQUEST__BODY_GET_STATS;
    req.get_stats = &body;
    s = client_call(c, &req, keep);
    if (s != STATUS_OK || (status_t)(*keep)->response->status != STATUS_OK ||
        (*keep)->response->result_case != ENCLAVED__RESPONSE__RESULT_STATS) {
        die("GetStats", s != STATUS_OK ? s : (status_t)(*keep)->response->status);
    }
    return (*keep)->response->stats;
}

static uint64_t server_rss(struct client *c)
{
    Enclaved__ServerFrame *f = NULL;
    uint64_t rss = get_stats(c, &f)->memory_rss;

    client_frame_free(f);
    return rss;
}

static status_t destroy_process(struct client *c, uint32_t pid)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessDestroy body = ENCLAVED__PROCESS_DESTROY__INIT;
    Enclaved__ServerFrame *f = NULL;
    status_t s;

    body.target_case = ENCLAVED__PROCESS_DESTROY__TARGET_PROCESS_ID;
    body.process_id = pid;
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_DESTROY;
    req.process_destroy = &body;
    TRY(client_call(c, &req, &f));
    s = (status_t)f->response->status;
    client_frame_free(f);
    return s;
}

static status_t open_raw(struct client *c, uint32_t *channel_id)
{
    return client_channel_open(c, echo_pid, NULL, ENCLAVED__CHANNEL_TYPE__RAW, channel_id, NULL,
                               0);
}

static status_t open_nk(struct client *c, struct client_secure **out)
{
    struct client_target target = {echo_pid, NULL, echo_hash};

    return client_nk_open(c, &target, server_key, echo_hash, 1, out, NULL, 0);
}

/* The server's user + system CPU time in µs from /proc/PID/stat, or -1. */
static double server_cpu_us(void)
{
    char path[64], buf[1024];
    unsigned long long utime = 0, stime = 0;
    FILE *f;
    size_t n;
    char *p;

    if (opt.server_pid <= 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%ld/stat", opt.server_pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces: fields are counted after its ')'. */
    p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &utime, &stime) != 2) {
        return -1;
    }
    return (double)(utime + stime) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* }============================================================ */

/* {============================================================ raw echo */

static void run_echo(struct row *r, size_t size, int depth)
{
    struct client *c = connect_or_die();
    struct samples lat = {0};
    uint64_t sent_at[PIPELINE_DEPTH];
    uint8_t msg[LARGE_MSG];
    uint64_t start, last = 0, head = 0, tail = 0;
    uint32_t cid = 0;
    status_t s;

    memset(msg, 'e', sizeof(msg));
    s = open_raw(c, &cid);
    if (s != STATUS_OK) {
        die("open a raw channel", s);
    }
    start = now_ns();
    while (keep_going(r->name, r->ops, start, &last)) {
        /* Keep depth messages in flight; sent_at is a ring of send times. */
        while (tail - head < (uint64_t)depth) {
            sent_at[tail % PIPELINE_DEPTH] = now_ns();
            s = client_send_data(c, cid, msg, size);
            if (s != STATUS_OK) {
                die("send", s);
            }
            tail++;
        }
        uint8_t *data = NULL;
        size_t len = 0;
        s = client_channel_recv(c, cid, opt.timeout_ms, &data, &len, NULL, 0);
        if (s != STATUS_OK) {
            r->errors++;
            break;
        }
        if (len != size) {
            r->errors++;
        }
        samples_add(&lat, now_ns() - sent_at[head % PIPELINE_DEPTH]);
        head++;
        free(data);
        r->ops++;
    }
    row_finish(r, &lat, start);
    progress_done();
    client_free(c);
}

/* Ping round trips, one at a time: the protocol path without Lua. */
static void run_ping(struct row *r)
{
    struct client *c = connect_or_die();
    struct samples lat = {0};
    uint64_t start, last = 0;

    start = now_ns();
    while (keep_going(r->name, r->ops, start, &last)) {
        uint64_t t0 = now_ns();
        if (client_ping(c) != STATUS_OK) {
            r->errors++;
            break;
        }
        samples_add(&lat, now_ns() - t0);
        r->ops++;
    }
    row_finish(r, &lat, start);
    progress_done();
    client_free(c);
}

/* }============================================================ */

/* {============================================================ workers */

/* What one worker reports back through its pipe. */
struct worker_result {
    uint64_t ops, errors, samples;
};

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One NK lifecycle: open, handshake, one 64 B echo, close. */
static status_t nk_lifecycle(struct client *c)
{
    static const uint8_t msg[SMALL_MSG] = {'n'};
    struct client_secure *sc = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    status_t closed = STATUS_OK;
    status_t s;

    TRY(open_nk(c, &sc));
    s = client_secure_send(sc, msg, sizeof(msg));
    if (s == STATUS_OK) {
        s = client_secure_recv(sc, opt.timeout_ms, &data, &len, NULL, 0);
    }
    free(data);
    if (s == STATUS_OK && len != sizeof(msg)) {
        s = STATUS_DATA_LOSS;
    }
    if (s == STATUS_OK) {
        s = client_secure_close(sc, opt.timeout_ms, &closed);
    }
    client_secure_free(sc);
    return s;
}

static void nk_worker(int fd, int index, uint64_t start)
{
    struct client *c = connect_or_die();
    struct worker_result res = {0};
    struct samples lat = {0};
    uint64_t last = 0;
    /* Only worker 0 draws the progress line: its count times the workers. */

    while (opt.count > 0 ? res.ops < (opt.count + (uint64_t)opt.concurrency - 1) /
                                         (uint64_t)opt.concurrency
                         : (double)(now_ns() - start) / 1e9 < opt.duration_s) {
        uint64_t t0 = now_ns();
        status_t s = nk_lifecycle(c);
        if (s != STATUS_OK) {
            res.errors++;
            if (s == STATUS_UNAVAILABLE || s == STATUS_DEADLINE_EXCEEDED) {
                break;
            }
            continue;
        }
        samples_add(&lat, now_ns() - t0);
        res.ops++;
        if (index == 0) {
            progress("nk lifecycle", res.ops * (uint64_t)opt.concurrency, start, &last);
        }
    }
    res.samples = lat.len;
    if (write_all(fd, &res, sizeof(res)) != 0 ||
        write_all(fd, lat.v, lat.len * sizeof(*lat.v)) != 0) {
        _exit(EXIT_FAILURE);
    }
    client_free(c);
    _exit(EXIT_SUCCESS);
}

static void run_nk(struct row *r)
{
    int fds[MAX_WORKERS];
    pid_t pids[MAX_WORKERS];
    struct samples lat = {0};
    uint64_t start;
    int n = opt.concurrency;

    fflush(NULL);
    start = now_ns();
    for (int i = 0; i < n; i++) {
        int p[2];
        if (pipe(p) != 0) {
            perror("enclave-bench: pipe");
            exit(EXIT_FAILURE);
        }
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("enclave-bench: fork");
            exit(EXIT_FAILURE);
        }
        if (pids[i] == 0) {
            close(p[0]);
            /* A forked DRBG would repeat the parent's ephemeral keys: reseed. */
            rng_clear();
            nk_worker(p[1], i, start);
        }
        close(p[1]);
        fds[i] = p[0];
    }
    for (int i = 0; i < n; i++) {
        struct worker_result res;
        int status = 0;
        if (read_all(fds[i], &res, sizeof(res)) == 0) {
            for (uint64_t k = 0; k < res.samples; k++) {
                uint64_t v;
                if (read_all(fds[i], &v, sizeof(v)) != 0) {
                    break;
                }
                samples_add(&lat, v);
            }
            r->ops += res.ops;
            r->errors += res.errors;
        } else {
            r->errors++;
        }
        close(fds[i]);
        waitpid(pids[i], &status, 0);
    }
    row_finish(r, &lat, start);
    progress_done();
}

/* }============================================================ */

/* {============================================================ processes */

static void run_process_churn(struct row *r)
{
    struct client *c = connect_or_die();
    struct samples lat = {0};
    uint64_t start, last = 0;

    start = now_ns();
    while (keep_going(r->name, r->ops, start, &last)) {
        uint64_t t0 = now_ns();
        uint32_t pid = 0;
        status_t s = client_process_create(c, "bench-churn", (const uint8_t *)ECHO_APP,
                                           sizeof(ECHO_APP) - 1, 0, &pid, NULL, NULL, 0);
        if (s == STATUS_OK) {
            s = destroy_process(c, pid);
        }
        if (s != STATUS_OK) {
            r->errors++;
            if (s == STATUS_UNAVAILABLE) {
                break;
            }
            continue;
        }
        samples_add(&lat, now_ns() - t0);
        r->ops++;
    }
    row_finish(r, &lat, start);
    progress_done();
    client_free(c);
}

/* Sums ProcessList.memory_used over ids in [first, last]. */
static uint64_t memory_used_between(struct client *c, uint32_t first, uint32_t last)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessList body = ENCLAVED__PROCESS_LIST__INIT;
    Enclaved__ServerFrame *f = NULL;
    uint64_t sum = 0;
    status_t s;

    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_LIST;
    req.process_list = &body;
    s = client_call(c, &req, &f);
    if (s != STATUS_OK || f->response->result_case != ENCLAVED__RESPONSE__RESULT_PROCESS_LIST) {
        die("ProcessList", s);
    }
    for (size_t i = 0; i < f->response->process_list->n_processes; i++) {
        Enclaved__ProcessInfo *p = f->response->process_list->processes[i];
        if (p->process_id >= first && p->process_id <= last) {
            sum += p->memory_used;
        }
    }
    client_frame_free(f);
    return sum;
}

/* Records a memory row: the server's RSS after, and the growth per item. */
static void set_memory_row(struct row *r, uint64_t rss0, uint64_t rss1, uint64_t n)
{
    r->rss = rss1;
    if (n > 0) {
        r->has_per_item = 1;
        r->per_item_rss = ((double)rss1 - (double)rss0) / (double)n;
    }
}

static void run_idle_processes(struct row *r, uint64_t max_processes)
{
    struct client *c = connect_or_die();
    Enclaved__ServerFrame *f = NULL;
    uint64_t existing = get_stats(c, &f)->processes;
    uint64_t n = opt.idle, start = now_ns(), last = 0;
    uint64_t rss0, rss1;
    uint32_t *pids;

    client_frame_free(f);
    if (n + existing > max_processes) {
        n = max_processes - existing;
    }
    pids = calloc(n ? n : 1, sizeof(*pids));
    rss0 = server_rss(c);
    for (uint64_t i = 0; i < n; i++) {
        status_t s = client_process_create(c, "bench-idle", (const uint8_t *)ECHO_APP,
                                           sizeof(ECHO_APP) - 1, 0, &pids[i], NULL, NULL, 0);
        if (s != STATUS_OK) {
            r->errors++;
            n = i;
            break;
        }
        r->ops++;
        progress(r->name, r->ops, start, &last);
    }
    rss1 = server_rss(c);
    set_memory_row(r, rss0, rss1, n);
    if (n > 0) {
        r->per_item_used = (double)memory_used_between(c, pids[0], pids[n - 1]) / (double)n;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (destroy_process(c, pids[i]) != STATUS_OK) {
            r->errors++;
        }
    }
    free(pids);
    row_finish(r, NULL, start);
    progress_done();
    client_free(c);
}

/* }============================================================ */

/* {============================================================ idle channels, connections */

static void run_idle_channels(struct row *r, int nk)
{
    struct client *c = connect_or_die();
    struct client *probe = connect_or_die();
    struct client_secure **secure = NULL;
    uint64_t start = now_ns(), last = 0;
    uint64_t rss0, rss1, n = opt.idle;

    if (nk) {
        secure = calloc(n ? n : 1, sizeof(*secure));
    }
    rss0 = server_rss(probe);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t cid = 0;
        status_t s = nk ? open_nk(c, &secure[i]) : open_raw(c, &cid);
        if (s != STATUS_OK) {
            r->errors++;
            n = i;
            break;
        }
        r->ops++;
        progress(r->name, r->ops, start, &last);
    }
    rss1 = server_rss(probe);
    set_memory_row(r, rss0, rss1, n);
    for (uint64_t i = 0; nk && i < n; i++) {
        client_secure_free(secure[i]);
    }
    free(secure);
    /* Closing the connection closes its channels. */
    client_free(c);
    client_free(probe);
    row_finish(r, NULL, start);
    progress_done();
}

static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void run_connections(struct row *r)
{
    struct client *probe = connect_or_die();
    struct client **conns = calloc(opt.connections ? opt.connections : 1, sizeof(*conns));
    struct samples lat = {0};
    uint64_t start = now_ns(), last = 0;
    uint64_t rss0 = server_rss(probe), n = opt.connections;

    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        status_t s = client_connect(opt.host, opt.port, opt.timeout_ms, &conns[i]);
        if (s == STATUS_OK) {
            s = client_ping(conns[i]);
        }
        if (s != STATUS_OK) {
            r->errors++;
            if (conns[i] == NULL) {
                n = i;
                break;
            }
            continue;
        }
        samples_add(&lat, now_ns() - t0);
        r->ops++;
        progress(r->name, r->ops, start, &last);
    }
    /* Every connection is open now: one more ping each proves they all live. */
    for (uint64_t i = 0; i < n; i++) {
        if (client_ping(conns[i]) != STATUS_OK) {
            r->errors++;
        }
    }
    set_memory_row(r, rss0, server_rss(probe), n);
    for (uint64_t i = 0; i < n; i++) {
        client_free(conns[i]);
    }
    free(conns);
    client_free(probe);
    row_finish(r, &lat, start);
    progress_done();
}

/* }============================================================ */

/* {============================================================ main */

enum scenario_kind {
    S_PING, S_ECHO64, S_ECHO64X8, S_ECHO16K, S_NK, S_PROC, S_IDLE_RAW, S_IDLE_NK, S_IDLE_PROC,
    S_CONNS,
};

static const struct {
    const char *name;
    enum scenario_kind kind;
    const char *target;
    const char *what;
} scenarios[] = {
    /* Memory rows first, smallest footprint first: an RSS delta counts only
     * what the server had to take from the OS, so memory an earlier row freed
     * (and the allocator kept) hides later growth. */
    {"idle-raw", S_IDLE_RAW, "<= 128 B/channel", "N idle raw channels (RSS delta / N)"},
    {"idle-nk", S_IDLE_NK, "(no target)", "N idle NK channels (RSS delta / N)"},
    {"connections", S_CONNS, ">= 10,000, bounded", "N connections, one ping each"},
    {"idle-process", S_IDLE_PROC, "<= 32 KiB/process", "N idle processes (RSS delta / N)"},
    {"ping", S_PING, "(no target)", "Ping round trips, one at a time"},
    {"echo64", S_ECHO64, ">= 36k msg/s, p99 <= 100 us", "raw 64 B echo, one at a time"},
    {"echo64x8", S_ECHO64X8, ">= 180k msg/s", "raw 64 B echo, 8 in flight"},
    {"echo16k", S_ECHO16K, ">= 22k msg/s", "raw 16 KiB echo, one at a time"},
    {"nk", S_NK, ">= 5k/s, both cores", "NK open+handshake+echo+close, C workers"},
    {"process", S_PROC, ">= 6k/s", "process create + destroy"},
};
enum { SCENARIO_COUNT = sizeof(scenarios) / sizeof(scenarios[0]) };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: enclave-bench [--host HOST] [--port PORT] [--scenario NAME|all]\n"
            "                     [--duration SECONDS | --count N] [--concurrency C]\n"
            "                     [--idle N] [--connections N] [--timeout MS]\n"
            "                     [--server-pid PID] [--json]\n"
            "\n"
            "(--opt=VALUE or --opt VALUE; long options may be abbreviated; --version)\n"
            "Runs workloads against a running enclaved and prints one row each next to\n"
            "its DESIGN §10 target. It creates its own echo process and destroys it after.\n"
            "\n"
            "  --duration S     seconds per timed scenario (default 2)\n"
            "  --count N        operations per timed scenario instead of a duration\n"
            "  --concurrency C  worker processes for nk (default 8)\n"
            "  --idle N         channels / processes held for the idle rows (default 1000;\n"
            "                   processes are capped by the server's max_processes)\n"
            "  --connections N  connections for the connections row (default 1000)\n"
            "  --server-pid PID a local server's pid: adds its CPU time per operation\n"
            "                   (from /proc, 10 ms ticks) to the timed rows\n"
            "\n"
            "Memory rows use the server's RSS delta, which only counts memory taken from\n"
            "the OS: run them first (as 'all' does) or one per fresh server.\n"
            "\nscenarios:\n");
    for (size_t i = 0; i < SCENARIO_COUNT; i++) {
        fprintf(out, "  %-13s %-42s target %s\n", scenarios[i].name, scenarios[i].what,
                scenarios[i].target);
    }
    fprintf(out, "\nexit codes: 0 done (errors are counted, not fatal), 1 setup failed, 2 usage\n");
}

static void usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "enclave-bench: %s '%s' (try --help)\n", what, arg);
    exit(2);
}

static uint64_t number_arg(const char *arg)
{
    char *end = NULL;
    unsigned long long v;

    errno = 0;
    v = strtoull(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || errno != 0 || *end != '\0') {
        usage_error("not a number:", arg);
    }
    return v;
}

enum {
    OPT_HOST = 256, OPT_PORT, OPT_SCENARIO, OPT_DURATION, OPT_COUNT, OPT_CONCURRENCY, OPT_IDLE,
    OPT_CONNECTIONS, OPT_SERVER_PID, OPT_TIMEOUT, OPT_JSON, OPT_VERSION,
};

/* getopt_long's table (base/cli); usage() above holds the help text. */
static const struct cli_option bench_options[] = {
    {"host", required_argument, OPT_HOST, "HOST", ""},
    {"port", required_argument, OPT_PORT, "PORT", ""},
    {"scenario", required_argument, OPT_SCENARIO, "NAME", ""},
    {"duration", required_argument, OPT_DURATION, "S", ""},
    {"count", required_argument, OPT_COUNT, "N", ""},
    {"concurrency", required_argument, OPT_CONCURRENCY, "C", ""},
    {"idle", required_argument, OPT_IDLE, "N", ""},
    {"connections", required_argument, OPT_CONNECTIONS, "N", ""},
    {"server-pid", required_argument, OPT_SERVER_PID, "PID", ""},
    {"timeout", required_argument, OPT_TIMEOUT, "MS", ""},
    {"json", no_argument, OPT_JSON, NULL, ""},
    {"help", no_argument, 'h', NULL, ""},
    {"version", no_argument, OPT_VERSION, NULL, ""},
    {NULL, 0, 0, NULL, NULL},
};

static void parse_args(int argc, char **argv)
{
    const struct cli_option *tables[] = {bench_options, NULL};
    struct option longopts[CLI_MAX_OPTIONS];
    char shortopts[16];
    int c;

    cli_build(tables, longopts, CLI_MAX_OPTIONS, shortopts, sizeof(shortopts));
    optind = 0;
    while ((c = cli_next("enclave-bench", argc, argv, shortopts, longopts)) != -1) {
        const char *v = optarg;
        switch (c) {
        case 'h':
            usage(stdout);
            exit(0);
        case OPT_VERSION:
            printf("enclave-bench %s\n", ENCLAVED_VERSION);
            exit(0);
        case OPT_JSON:
            opt.json = 1;
            break;
        case OPT_HOST:
            opt.host = v;
            break;
        case OPT_PORT: {
            uint64_t port = number_arg(v);
            if (port == 0 || port > 65535) {
                usage_error("bad port", v);
            }
            opt.port = (uint16_t)port;
            break;
        }
        case OPT_SCENARIO:
            opt.scenario = v;
            break;
        case OPT_DURATION: {
            char *end = NULL;
            opt.duration_s = strtod(v, &end);
            if (*end != '\0' || !(opt.duration_s > 0)) {
                usage_error("bad duration", v);
            }
            break;
        }
        case OPT_COUNT:
            opt.count = number_arg(v);
            break;
        case OPT_CONCURRENCY: {
            uint64_t n = number_arg(v);
            if (n < 1 || n > MAX_WORKERS) {
                usage_error("concurrency must be 1..256, not", v);
            }
            opt.concurrency = (int)n;
            break;
        }
        case OPT_IDLE:
            opt.idle = number_arg(v);
            break;
        case OPT_CONNECTIONS:
            opt.connections = number_arg(v);
            break;
        case OPT_SERVER_PID:
            opt.server_pid = (long)number_arg(v);
            break;
        case OPT_TIMEOUT:
            opt.timeout_ms = (int)number_arg(v);
            break;
        default:
            exit(CLI_EXIT_USAGE);
        }
    }
    if (optind < argc) {
        usage_error("unexpected argument", argv[optind]);
    }
    if (strcmp(opt.scenario, "all") == 0) {
        return;
    }
    for (size_t i = 0; i < SCENARIO_COUNT; i++) {
        if (strcmp(opt.scenario, scenarios[i].name) == 0) {
            return;
        }
    }
    usage_error("unknown scenario", opt.scenario);
}

/* Creates the echo process and learns the server key and process limit. */
static uint64_t setup(void)
{
    struct client *c = connect_or_die();
    Enclaved__ServerFrame *f = NULL;
    char message[256] = "";
    uint64_t max_processes;
    status_t s;

    s = client_get_info(c, &f);
    if (s != STATUS_OK || f->response->info->public_key.len != CLIENT_KEY_LEN) {
        die("GetInfo", s);
    }
    memcpy(server_key, f->response->info->public_key.data, CLIENT_KEY_LEN);
    max_processes = f->response->info->limits ? f->response->info->limits->max_processes : 0;
    client_frame_free(f);
    s = client_process_create(c, "bench-echo", (const uint8_t *)ECHO_APP, sizeof(ECHO_APP) - 1, 0,
                              &echo_pid, echo_hash, message, sizeof(message));
    if (s != STATUS_OK) {
        fprintf(stderr, "enclave-bench: cannot create the echo process: %s: %s\n",
                status_name(s), message);
        exit(EXIT_FAILURE);
    }
    client_free(c);
    return max_processes;
}

static void format_rate(const struct row *r, char *buf, size_t cap)
{
    if (r->has_per_item) {
        snprintf(buf, cap, "%.0f B each", r->per_item_rss);
    } else {
        snprintf(buf, cap, "%.0f/s", r->seconds > 0 ? (double)r->ops / r->seconds : 0.0);
    }
}

static void print_table(const struct row *rows, size_t n)
{
    char rate[48];

    printf("%-13s %9s %14s %9s %9s %9s %9s %6s %10s  %s\n", "scenario", "ops", "result", "p50 us",
           "p90 us", "p99 us", "max us", "errors", "rss MiB", "target (DESIGN §10)");
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        format_rate(r, rate, sizeof(rate));
        printf("%-13s %9" PRIu64 " %14s ", r->name, r->ops, rate);
        if (r->has_latency) {
            printf("%9.0f %9.0f %9.0f %9.0f ", r->p50_us, r->p90_us, r->p99_us, r->max_us);
        } else {
            printf("%9s %9s %9s %9s ", "-", "-", "-", "-");
        }
        printf("%6" PRIu64 " %10.1f  %s", r->errors, (double)r->rss / (1024.0 * 1024.0),
               r->target);
        if (r->per_item_used > 0) {
            printf(" (Lua memory_used %.0f B each)", r->per_item_used);
        }
        if (r->server_cpu_us >= 0) {
            printf(" [server CPU %.1f us/op]", r->server_cpu_us);
        }
        printf("\n");
    }
}

static void print_json(const struct row *rows, size_t n)
{
    printf("{\"host\":\"%s\",\"port\":%u,\"results\":[", opt.host, opt.port);
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        printf("%s{\"scenario\":\"%s\",\"ops\":%" PRIu64 ",\"seconds\":%.3f,\"ops_per_s\":%.1f,"
               "\"errors\":%" PRIu64 ",\"rss\":%" PRIu64 ",\"target\":\"%s\"",
               i ? "," : "", r->name, r->ops, r->seconds,
               r->seconds > 0 ? (double)r->ops / r->seconds : 0.0, r->errors, r->rss, r->target);
        if (r->has_latency) {
            printf(",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f", r->p50_us,
                   r->p90_us, r->p99_us, r->max_us);
        }
        if (r->has_per_item) {
            printf(",\"bytes_each_rss\":%.1f", r->per_item_rss);
        }
        if (r->per_item_used > 0) {
            printf(",\"bytes_each_memory_used\":%.1f", r->per_item_used);
        }
        if (r->server_cpu_us >= 0) {
            printf(",\"server_cpu_us_per_op\":%.2f", r->server_cpu_us);
        }
        printf("}");
    }
    printf("]}\n");
}

int main(int argc, char **argv)
{
    struct row rows[SCENARIO_COUNT];
    size_t n = 0;
    uint64_t max_processes;

    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    max_processes = setup();
    memset(rows, 0, sizeof(rows));
    for (size_t i = 0; i < SCENARIO_COUNT; i++) {
        if (strcmp(opt.scenario, "all") != 0 && strcmp(opt.scenario, scenarios[i].name) != 0) {
            continue;
        }
        struct row *r = &rows[n++];
        double cpu0 = server_cpu_us();
        snprintf(r->name, sizeof(r->name), "%s", scenarios[i].name);
        r->target = scenarios[i].target;
        switch (scenarios[i].kind) {
        case S_PING:
            run_ping(r);
            break;
        case S_ECHO64:
            run_echo(r, SMALL_MSG, 1);
            break;
        case S_ECHO64X8:
            run_echo(r, SMALL_MSG, PIPELINE_DEPTH);
            break;
        case S_ECHO16K:
            run_echo(r, LARGE_MSG, 1);
            break;
        case S_NK:
            run_nk(r);
            break;
        case S_PROC:
            run_process_churn(r);
            break;
        case S_IDLE_RAW:
            run_idle_channels(r, 0);
            break;
        case S_IDLE_NK:
            run_idle_channels(r, 1);
            break;
        case S_IDLE_PROC:
            run_idle_processes(r, max_processes);
            break;
        case S_CONNS:
            run_connections(r);
            break;
        }
        double cpu1 = server_cpu_us();
        r->server_cpu_us = cpu0 >= 0 && cpu1 >= 0 && r->ops > 0 && !r->has_per_item
                               ? (cpu1 - cpu0) / (double)r->ops
                               : -1;
        if (r->rss == 0) {
            struct client *c = connect_or_die();
            r->rss = server_rss(c);
            client_free(c);
        }
    }
    {
        struct client *c = connect_or_die();
        destroy_process(c, echo_pid);
        client_free(c);
    }
    if (opt.json) {
        print_json(rows, n);
    } else {
        print_table(rows, n);
    }
    return 0;
}
