/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The NK lifecycle workload: open, handshake, one 64 B echo, close, from
 * --concurrency forked workers, one connection each, so the client side
 * spreads over every core and each worker has its own DRBG and status trail.
 *
 * BENCHMARKING ONLY: --reuse-ephemerals. Each client handshake costs three
 * X25519 (key generation, es, ee), as many as the server's, so on a 2-core
 * machine the client saturates before the server does. With the option the
 * parent computes REUSED_PAIRS ephemeral pairs before the run and the
 * workers cycle through them (client_noise_bench_set_ephemerals), so the
 * client does two X25519 per lifecycle. Reusing an ephemeral key throws
 * away forward secrecy; the server still does all of its own work, with
 * fresh keys of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "crypto/rng.h"
#include "crypto/x25519.h"

enum { REUSED_PAIRS = 256 };

static struct {
    uint8_t private_key[CLIENT_KEY_LEN];
    uint8_t public_key[CLIENT_KEY_LEN];
} reused[REUSED_PAIRS];
static unsigned reused_next;

static int next_reused_pair(uint8_t private_key[CLIENT_KEY_LEN],
                            uint8_t public_key[CLIENT_KEY_LEN])
{
    memcpy(private_key, reused[reused_next].private_key, CLIENT_KEY_LEN);
    memcpy(public_key, reused[reused_next].public_key, CLIENT_KEY_LEN);
    reused_next = (reused_next + 1) % REUSED_PAIRS;
    return 1;
}

static void make_reused_pairs(void)
{
    for (int i = 0; i < REUSED_PAIRS; i++) {
        status_t s = rng_bytes(NULL, reused[i].private_key, CLIENT_KEY_LEN);
        if (s != STATUS_OK) {
            die("rng", s);
        }
        x25519_public_key(reused[i].public_key, reused[i].private_key);
    }
}

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

void run_nk(struct row *r, const struct scenario *sc)
{
    int fds[MAX_WORKERS];
    pid_t pids[MAX_WORKERS];
    struct samples lat = {0};
    uint64_t start;
    int n = opt.concurrency;

    if (opt.reuse_ephemerals) {
        /* The row says so, wherever it is quoted. */
        snprintf(r->name, sizeof(r->name), "%s-reuse-e", sc->name);
        make_reused_pairs();
        client_noise_bench_set_ephemerals(next_reused_pair);
    }
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
            /* Workers start at different pairs of the shared ring. */
            reused_next = (unsigned)(i * (REUSED_PAIRS / n)) % REUSED_PAIRS;
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
