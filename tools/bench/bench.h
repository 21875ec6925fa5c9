/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * What the enclave-bench files share: the options, one result row per
 * workload, latency samples and the helpers every workload uses. One file
 * per group of workloads (bench_echo.c, bench_nk.c, bench_memory.c,
 * bench_fleet.c); the
 * command table, the options and the output are in enclave-bench.c.
 *
 * Ownership: a workload fills the row it is given; samples are freed by
 * row_finish. Single-threaded; concurrent workloads fork (bench_nk.c).
 */
#ifndef ENCLAVED_BENCH_H
#define ENCLAVED_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "lib/client.h"
#include "lib/client_noise.h"

enum {
    DEFAULT_PORT = 7480,
    SMALL_MSG = 64,
    LARGE_MSG = 16 * 1024,
    PIPELINE_DEPTH = 8,
    MAX_WORKERS = 256,
    PROGRESS_EVERY_NS = 500 * 1000 * 1000,
};

extern const char ECHO_APP[];
extern const size_t ECHO_APP_LEN;

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
    int reuse_ephemerals; /* BENCHMARKING ONLY: see bench_nk.c */
    const char *members;  /* fleet rows: HOST:PORT,... of every member, or NULL */
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
    /* Per op, with --server-pid; < 0 when unknown. The loop thread is the
     * server's main thread; the others are the key pool (and any workers). */
    double server_cpu_us, server_loop_cpu_us, server_other_cpu_us;
    /* Fleet rows with --members: KK messages per operation (0: unknown). */
    double kk_per_op;
};

/* The server's CPU time so far, in µs (user + system), from /proc. */
struct server_cpu {
    double loop_us;  /* the main thread, which runs the event loop */
    double other_us; /* every other thread (the key pool) */
};

extern struct opts opt;
extern uint32_t echo_pid;
extern uint8_t echo_hash[CLIENT_CODE_HASH_LEN];
extern uint8_t server_key[CLIENT_KEY_LEN];

uint64_t now_ns(void);
_Noreturn void die(const char *what, status_t s);
void samples_add(struct samples *s, uint64_t ns);
/* Fills the latency columns of r from s (sorted here) and frees s. */
void row_finish(struct row *r, struct samples *s, uint64_t start_ns);
/* Prints a progress line at most twice a second. */
void progress(const char *name, uint64_t ops, uint64_t start_ns, uint64_t *last_ns);
/* True while a timed run should go on (--count or --duration). */
int keep_going(const char *name, uint64_t ops, uint64_t start_ns, uint64_t *last_ns);
void progress_done(void);
struct client *connect_or_die(void);
Enclaved__Stats *get_stats(struct client *c, Enclaved__ServerFrame **keep);
uint64_t server_rss(struct client *c);
status_t destroy_process(struct client *c, uint32_t pid);
status_t open_raw(struct client *c, uint32_t *channel_id);
status_t open_nk(struct client *c, struct client_secure **out);
/* Samples the --server-pid's threads; 0 on success, -1 when unknown. */
int server_cpu_sample(struct server_cpu *out);

/* One row of the command table (enclave-bench.c): a workload and the
 * parameters it reads. */
struct scenario {
    const char *name;
    void (*run)(struct row *r, const struct scenario *sc);
    size_t msg_len; /* echo rows */
    int depth;      /* echo rows: messages in flight */
    int nk;         /* idle channel rows: NK rather than raw */
    const char *target;
    const char *what;
};

/* The workloads, one file per group: bench_echo.c, bench_nk.c, bench_memory.c. */
void run_ping(struct row *r, const struct scenario *sc);
void run_echo(struct row *r, const struct scenario *sc);
void run_nk(struct row *r, const struct scenario *sc);
void run_process_churn(struct row *r, const struct scenario *sc);
void run_idle_processes(struct row *r, const struct scenario *sc);
void run_idle_channels(struct row *r, const struct scenario *sc);
void run_connections(struct row *r, const struct scenario *sc);
/* bench_fleet.c: against a fleet running pinvault; not part of "all". */
void run_fleet(struct row *r, const struct scenario *sc);
void run_fleet_nk(struct row *r, const struct scenario *sc);
/* The server's max_processes, learned at setup; run_idle_processes caps at it. */
extern uint64_t server_max_processes;

#endif
