/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The helpers every enclave-bench workload uses (bench.h). */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"

const char ECHO_APP[] = "function HandleChannelMessage(cid, msg) return {{cid, msg}} end\n";
const size_t ECHO_APP_LEN = sizeof(ECHO_APP) - 1;

uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

_Noreturn void die(const char *what, status_t s)
{
    fprintf(stderr, "\nenclave-bench: %s: %s (%s)\n", what, status_name(s),
            status_trail_message());
    exit(EXIT_FAILURE);
}

void samples_add(struct samples *s, uint64_t ns)
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

void row_finish(struct row *r, struct samples *s, uint64_t start_ns)
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

void progress(const char *name, uint64_t ops, uint64_t start_ns, uint64_t *last_ns)
{
    uint64_t t = now_ns();

    if (t - *last_ns >= PROGRESS_EVERY_NS) {
        double secs = (double)(t - start_ns) / 1e9;
        fprintf(stderr, "\r%-14s %10" PRIu64 " ops  %10.0f ops/s   ", name, ops,
                secs > 0 ? (double)ops / secs : 0.0);
        *last_ns = t;
    }
}

int keep_going(const char *name, uint64_t ops, uint64_t start_ns, uint64_t *last_ns)
{
    progress(name, ops, start_ns, last_ns);
    if (opt.count > 0) {
        return ops < opt.count;
    }
    return (double)(now_ns() - start_ns) / 1e9 < opt.duration_s;
}

void progress_done(void)
{
    fprintf(stderr, "\r%60s\r", "");
}

struct client *connect_or_die(void)
{
    struct client *c = NULL;
    status_t s = client_connect(opt.host, opt.port, opt.timeout_ms, &c);

    if (s != STATUS_OK) {
        die("cannot connect", s);
    }
    return c;
}

Enclaved__Stats *get_stats(struct client *c, Enclaved__ServerFrame **keep)
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

uint64_t server_rss(struct client *c)
{
    Enclaved__ServerFrame *f = NULL;
    uint64_t rss = get_stats(c, &f)->memory_rss;

    client_frame_free(f);
    return rss;
}

status_t destroy_process(struct client *c, uint32_t pid)
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

status_t open_raw(struct client *c, uint32_t *channel_id)
{
    return client_channel_open(c, echo_pid, NULL, ENCLAVED__CHANNEL_TYPE__RAW, channel_id, NULL,
                               0);
}

status_t open_nk(struct client *c, struct client_secure **out)
{
    struct client_target target = {echo_pid, NULL, echo_hash};

    return client_nk_open(c, &target, server_key, echo_hash, 1, out, NULL, 0);
}

/* Adds one thread's user + system time from /proc/PID/task/TID/stat. */
static int add_thread_cpu(const char *path, double *us)
{
    char buf[1024];
    unsigned long long utime = 0, stime = 0;
    FILE *f = fopen(path, "r");
    size_t n;
    char *p;

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
    *us += (double)(utime + stime) * 1e6 / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

int server_cpu_sample(struct server_cpu *out)
{
    char path[96];
    struct dirent *e;
    DIR *d;

    if (opt.server_pid <= 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%ld/task", opt.server_pid);
    d = opendir(path);
    if (d == NULL) {
        return -1;
    }
    out->loop_us = 0;
    out->other_us = 0;
    /* A thread that exits between two samples takes its time with it; the
     * server's threads live as long as it does. */
    while ((e = readdir(d)) != NULL) {
        long tid = strtol(e->d_name, NULL, 10);
        if (tid <= 0) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%ld/task/%ld/stat", opt.server_pid, tid);
        if (add_thread_cpu(path, tid == opt.server_pid ? &out->loop_us : &out->other_us) != 0) {
            continue;
        }
    }
    closedir(d);
    return 0;
}
