/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* enclave-bench workloads on one raw channel: echo at a depth, and Ping. */
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

void run_echo(struct row *r, const struct scenario *sc)
{
    size_t size = sc->msg_len;
    int depth = sc->depth;
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
void run_ping(struct row *r, const struct scenario *sc)
{
    (void)sc;
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
