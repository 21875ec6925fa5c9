/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * crypto-bench: in-process micro-benchmarks of the crypto the server runs per
 * channel: X25519 and key generation on both backends, a full NK handshake (both sides, plus the responder's share
 * of CPU time, which is what the server pays), and transport encryption at
 * three message sizes. Randomness is the product DRBG (rng_bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cli.h"
#include "crypto/keystore.h"
#include "crypto/noise.h"
#include "crypto/rng.h"
#include "crypto/x25519.h"
#include "crypto/x25519_backend.h"

enum { MIN_RUN_NS = 1000000000 };

static double now_ns(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int check(status_t st, const char *what)
{
    if (st != STATUS_OK) {
        fprintf(stderr, "crypto-bench: %s failed: %s\n", what, status_name(st));
        exit(EXIT_FAILURE);
    }
    return 0;
}

/* Runs fn over and over for MIN_RUN_NS of wall time. Returns ops per
 * second of wall time and sets *cpu_us to this thread's CPU time per op,
 * which a shared, loaded machine disturbs much less. */
static double ops_per_s(void (*fn)(const struct x25519_backend *, uint8_t *, uint8_t *),
                        const struct x25519_backend *b, uint8_t scalar[X25519_KEY_LEN],
                        uint8_t point[X25519_KEY_LEN], double *cpu_us)
{
    double start = now_ns(CLOCK_MONOTONIC), cpu_start = now_ns(CLOCK_THREAD_CPUTIME_ID);
    double elapsed;
    long ops = 0;

    do {
        for (int i = 0; i < 100; i++) {
            fn(b, scalar, point);
        }
        ops += 100;
        elapsed = now_ns(CLOCK_MONOTONIC) - start;
    } while (elapsed < MIN_RUN_NS);
    *cpu_us = (now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_start) / (double)ops / 1e3;
    return (double)ops * 1e9 / elapsed;
}

static void one_dh(const struct x25519_backend *b, uint8_t *scalar, uint8_t *point)
{
    uint8_t out[X25519_KEY_LEN];

    check(x25519_backend_run(b, out, scalar, point), "x25519");
    /* Feed the output back so no call can be hoisted or skipped. */
    point[0] ^= out[0] & 1;
}

static void one_keygen(const struct x25519_backend *b, uint8_t *scalar, uint8_t *point)
{
    x25519_backend_public_key(b, point, scalar);
    scalar[0] ^= point[0];
}

/* X25519 and key generation for both backends; "*" marks the one this
 * build's x25519() runs. */
static void bench_x25519(void)
{
    static const struct x25519_backend *const backends[] = {&x25519_backend_sodium,
                                                            &x25519_backend_hacl};

    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        const struct x25519_backend *b = backends[i];
        const char *mark = strcmp(b->name, x25519_backend_name()) == 0 ? "*" : " ";
        uint8_t scalar[X25519_KEY_LEN], point[X25519_KEY_LEN];
        double dh, keygen, dh_cpu, keygen_cpu;

        check(rng_bytes(NULL, scalar, sizeof(scalar)), "rng");
        x25519_backend_public_key(b, point, scalar);
        dh = ops_per_s(one_dh, b, scalar, point, &dh_cpu);
        keygen = ops_per_s(one_keygen, b, scalar, point, &keygen_cpu);
        printf("x25519 %-9s%s: %8.0f ops/s (%6.1f us CPU each)   keygen: %8.0f ops/s (%6.1f us CPU each)\n",
               b->name, mark, dh, dh_cpu, keygen, keygen_cpu);
    }
}

/* One NK handshake; returns the responder's CPU time in ns. */
static double nk_handshake(struct keystore *server, struct noise_transport *ti,
                           struct noise_transport *tr)
{
    static const uint8_t code_hash[32] = {1};
    uint8_t m0[128], m1[128], payload[128];
    struct noise_handshake *i, *r;
    size_t n0, n1, n;
    double t0, responder = 0;

    check(noise_handshake_new(NOISE_PATTERN_NK, NOISE_ROLE_INITIATOR, NULL,
                              keystore_public_key(server), NULL, 0, rng_bytes, NULL, &i),
          "initiator new");
    check(noise_handshake_write_message(i, code_hash, 32, m0, sizeof(m0), &n0), "write m0");

    t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    check(noise_handshake_new(NOISE_PATTERN_NK, NOISE_ROLE_RESPONDER, server, NULL, NULL, 0,
                              rng_bytes, NULL, &r),
          "responder new");
    check(noise_handshake_read_message(r, m0, n0, payload, sizeof(payload), &n), "read m0");
    check(noise_handshake_write_message(r, code_hash, 32, m1, sizeof(m1), &n1), "write m1");
    check(noise_handshake_split(r, tr), "responder split");
    noise_handshake_free(r);
    responder += now_ns(CLOCK_THREAD_CPUTIME_ID) - t0;

    check(noise_handshake_read_message(i, m1, n1, payload, sizeof(payload), &n), "read m1");
    check(noise_handshake_split(i, ti), "initiator split");
    noise_handshake_free(i);
    return responder;
}

static void bench_handshake(void)
{
    uint8_t priv[32], sealing[32] = {0};
    struct keystore *server;
    struct noise_transport ti, tr;
    double start = now_ns(CLOCK_MONOTONIC), elapsed, responder_ns = 0;
    long count = 0;

    check(rng_bytes(NULL, priv, sizeof(priv)), "rng");
    check(keystore_new(priv, sealing, &server), "keystore");
    do {
        responder_ns += nk_handshake(server, &ti, &tr);
        count++;
        elapsed = now_ns(CLOCK_MONOTONIC) - start;
    } while (elapsed < MIN_RUN_NS);
    printf("noise NK handshake (initiator+responder in-process): %.0f handshakes/s\n",
           (double)count * 1e9 / elapsed);
    printf("noise NK responder CPU: %.1f us/handshake\n", responder_ns / (double)count / 1e3);
    noise_transport_clear(&ti);
    noise_transport_clear(&tr);
    keystore_free(server);
}

static void bench_transport(size_t len)
{
    size_t sealed = noise_transport_sealed_len(len), n;
    uint8_t *pt = calloc(1, len), *ct = malloc(sealed);
    struct noise_transport t;
    double start, elapsed;
    long count = 0;

    if (pt == NULL || ct == NULL) {
        fprintf(stderr, "crypto-bench: out of memory\n");
        exit(EXIT_FAILURE);
    }
    memset(&t, 0, sizeof(t));
    check(rng_bytes(NULL, t.send.key, sizeof(t.send.key)), "rng");
    start = now_ns(CLOCK_MONOTONIC);
    do {
        check(noise_transport_encrypt(&t, pt, len, ct, sealed, &n), "encrypt");
        count++;
        elapsed = now_ns(CLOCK_MONOTONIC) - start;
    } while (elapsed < MIN_RUN_NS);
    printf("chachapoly via noise_transport_encrypt, %7zu B messages: %.1f MB/s\n", len,
           (double)count * (double)len / (elapsed / 1e9) / 1e6);
    noise_transport_clear(&t);
    free(pt);
    free(ct);
}

enum { OPT_VERSION = 256 };

static const struct cli_option options[] = {
    {"help", no_argument, 'h', NULL, "this text"},
    {"version", no_argument, OPT_VERSION, NULL, "print the version and exit"},
    {NULL, 0, 0, NULL, NULL},
};

/* Only --help and --version: the runs are fixed so numbers stay comparable. */
static void parse_args(int argc, char **argv)
{
    const struct cli_option *tables[] = {options, NULL};
    struct option longopts[CLI_MAX_OPTIONS];
    char shortopts[16];
    int c;

    cli_build(tables, longopts, CLI_MAX_OPTIONS, shortopts, sizeof(shortopts));
    optind = 0;
    while ((c = cli_next("crypto-bench", argc, argv, shortopts, longopts)) != -1) {
        if (c == 'h') {
            printf("usage: crypto-bench\n\nIn-process benchmarks of X25519, NK handshakes and "
                   "transport encryption\n(64 B, 16 KiB, 1 MiB), each run for at least 1 s; "
                   "one row per measurement.\n\n");
            cli_print_options(stdout, options);
            exit(EXIT_SUCCESS);
        }
        if (c == OPT_VERSION) {
            printf("crypto-bench %s\n", ENCLAVED_VERSION);
            exit(EXIT_SUCCESS);
        }
        exit(CLI_EXIT_USAGE);
    }
    if (optind < argc) {
        cli_die_usage("crypto-bench", "unexpected argument '%s'", argv[optind]);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    check(rng_init(), "rng_init");
    bench_x25519();
    bench_handshake();
    bench_transport(64);
    bench_transport(16 * 1024);
    bench_transport(1024 * 1024);
    rng_clear();
    return EXIT_SUCCESS;
}
