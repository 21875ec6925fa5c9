/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclave-bench workloads on processes, idle channels and connections: the
 * memory rows (RSS delta per item) and process churn.
 */
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

void run_process_churn(struct row *r, const struct scenario *sc)
{
    struct client *c = connect_or_die();
    struct samples lat = {0};
    uint64_t start, last = 0;

    start = now_ns();
    while (keep_going(r->name, r->ops, start, &last)) {
        uint64_t t0 = now_ns();
        uint32_t pid = 0;
        status_t s = client_process_create(c, "bench-churn", (const uint8_t *)ECHO_APP,
                                           ECHO_APP_LEN, 0, &pid, NULL, NULL, 0);
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

void run_idle_processes(struct row *r, const struct scenario *sc)
{
    struct client *c = connect_or_die();
    Enclaved__ServerFrame *f = NULL;
    uint64_t existing = get_stats(c, &f)->processes;
    uint64_t n = opt.idle, start = now_ns(), last = 0;
    uint64_t rss0, rss1;
    uint32_t *pids;

    client_frame_free(f);
    if (n + existing > server_max_processes) {
        n = server_max_processes - existing;
    }
    pids = calloc(n ? n : 1, sizeof(*pids));
    rss0 = server_rss(c);
    for (uint64_t i = 0; i < n; i++) {
        status_t s = client_process_create(c, "bench-idle", (const uint8_t *)ECHO_APP,
                                           ECHO_APP_LEN, 0, &pids[i], NULL, NULL, 0);
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



/* {============================================================ idle channels, connections */

void run_idle_channels(struct row *r, const struct scenario *sc)
{
    int nk = sc->nk;
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

void run_connections(struct row *r, const struct scenario *sc)
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
