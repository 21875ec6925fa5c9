/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The fleet workloads (DESIGN §7), against HAProxy in front of members that
 * run the replicated pinvault app (scripts/mkfleet), or against one member:
 *
 *   fleet     recovers with the right PIN, one at a time on one NK channel:
 *             each is a majority round (a reset of the count to 0). With
 *             --members, the KK messages the round cost, from every
 *             member's peer link counters.
 *   fleet-nk  NK channel lifecycles to the app by code hash: open,
 *             handshake, close; point --port at HAProxy and then at one
 *             member to compare.
 *
 * The app is found by name ("pinvault") in ProcessList; the pinned key is
 * GetInfo's. The user is "bench-PID", registered once with a limit of 10.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

enum { PINVAULT_OP_REGISTER = 1, PINVAULT_OP_RECOVER = 2, PINVAULT_STATUS_OK = 0 };

static const char bench_pin[] = "1234";

/* The pinvault app's code hash from ProcessList; 0 when it does not run,
 * which is said on stderr and counted as r's error. */
static int find_app(struct client *c, uint8_t hash[CLIENT_CODE_HASH_LEN], struct row *r)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessList body = ENCLAVED__PROCESS_LIST__INIT;
    Enclaved__ServerFrame *f = NULL;
    int found = 0;

    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_LIST;
    req.process_list = &body;
    if (client_call(c, &req, &f) == STATUS_OK && f->response->process_list != NULL) {
        for (size_t i = 0; i < f->response->process_list->n_processes; i++) {
            Enclaved__ProcessInfo *p = f->response->process_list->processes[i];
            if (strcmp(p->name, "pinvault") == 0 && p->code_hash.len == CLIENT_CODE_HASH_LEN) {
                memcpy(hash, p->code_hash.data, CLIENT_CODE_HASH_LEN);
                found = 1;
                break;
            }
        }
    }
    client_frame_free(f);
    if (!found) {
        fprintf(stderr, "enclave-bench: no 'pinvault' process (run against a fleet)\n");
        r->errors = 1;
    }
    return found;
}

static status_t open_app(struct client *c, const uint8_t hash[CLIENT_CODE_HASH_LEN],
                         struct client_secure **out)
{
    struct client_target target = {0, hash, NULL};

    return client_nk_open(c, &target, server_key, hash, 1, out, NULL, 0);
}

/* One request and its reply status (-1 on a transport or channel error). */
static int call_app(struct client_secure *s, const uint8_t *msg, size_t len)
{
    uint8_t *reply = NULL;
    size_t reply_len = 0;
    int status;

    if (client_secure_send(s, msg, len) != STATUS_OK ||
        client_secure_recv(s, opt.timeout_ms, &reply, &reply_len, NULL, 0) != STATUS_OK) {
        return -1;
    }
    status = reply_len >= 6 ? reply[5] : -1;
    free(reply);
    return status;
}

/* Wire messages of pinvault (README "The replicated PIN vault"). */
static size_t build_request(uint8_t *buf, uint8_t op, uint32_t req, const char *user)
{
    size_t n = 0, ulen = strlen(user), plen = strlen(bench_pin);

    buf[n++] = op;
    buf[n++] = (uint8_t)(req >> 24);
    buf[n++] = (uint8_t)(req >> 16);
    buf[n++] = (uint8_t)(req >> 8);
    buf[n++] = (uint8_t)req;
    buf[n++] = (uint8_t)ulen;
    memcpy(buf + n, user, ulen);
    n += ulen;
    if (op == PINVAULT_OP_REGISTER) {
        /* verifier = SHA-256(PIN) of "1234", limit 10, an 8-byte secret. */
        static const uint8_t verifier[32] = {
            0x03, 0xac, 0x67, 0x42, 0x16, 0xf3, 0xe1, 0x5c, 0x76, 0x1e, 0xe1, 0xa5, 0xe2, 0x55, 0xf0, 0x67,
            0x95, 0x36, 0x23, 0xc8, 0xb3, 0x88, 0xb4, 0x45, 0x9e, 0x13, 0xf9, 0x78, 0xd7, 0xc8, 0x46, 0xf4};
        memcpy(buf + n, verifier, sizeof(verifier));
        n += sizeof(verifier);
        buf[n++] = 0;
        buf[n++] = 10;
        buf[n++] = 0;
        buf[n++] = 8;
        memcpy(buf + n, "benchsec", 8);
        n += 8;
    } else {
        buf[n++] = (uint8_t)plen;
        memcpy(buf + n, bench_pin, plen);
        n += plen;
    }
    return n;
}

/* Sum over --members of every peer link's messages in and out. */
static uint64_t fleet_kk_messages(void)
{
    char list[512];
    uint64_t total = 0;

    if (opt.members == NULL) {
        return 0;
    }
    snprintf(list, sizeof(list), "%s", opt.members);
    for (char *save = NULL, *item = strtok_r(list, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(item, ':');
        struct client *c = NULL;
        Enclaved__ServerFrame *keep = NULL;
        Enclaved__Stats *st;

        if (colon == NULL) {
            continue;
        }
        *colon = '\0';
        if (client_connect(item, (uint16_t)atoi(colon + 1), opt.timeout_ms, &c) != STATUS_OK) {
            fprintf(stderr, "enclave-bench: member %s:%s unreachable\n", item, colon + 1);
            continue;
        }
        st = get_stats(c, &keep);
        for (size_t i = 0; st != NULL && i < st->n_peer_links; i++) {
            total += st->peer_links[i]->messages_in + st->peer_links[i]->messages_out;
        }
        client_frame_free(keep);
        client_free(c);
    }
    return total;
}

void run_fleet(struct row *r, const struct scenario *sc)
{
    struct client *c = connect_or_die();
    struct client_secure *s = NULL;
    struct samples lat = {0};
    uint8_t hash[CLIENT_CODE_HASH_LEN];
    uint8_t msg[128];
    char user[32];
    uint64_t start, last = 0, kk0, kk1;
    uint32_t req = 1;
    size_t len;

    (void)sc;
    if (!find_app(c, hash, r)) {
        client_free(c);
        return;
    }
    if (open_app(c, hash, &s) != STATUS_OK) {
        die("NK open to pinvault", STATUS_UNAVAILABLE);
    }
    snprintf(user, sizeof(user), "bench-%ld", (long)getpid());
    len = build_request(msg, PINVAULT_OP_REGISTER, req++, user);
    if (call_app(s, msg, len) != PINVAULT_STATUS_OK) {
        die("pinvault register", STATUS_UNAVAILABLE);
    }
    kk0 = fleet_kk_messages();
    start = now_ns();
    while (keep_going(r->name, r->ops, start, &last)) {
        uint64_t t0 = now_ns();

        len = build_request(msg, PINVAULT_OP_RECOVER, req++, user);
        if (call_app(s, msg, len) != PINVAULT_STATUS_OK) {
            r->errors++;
            if (r->errors > 100) {
                break;
            }
            continue;
        }
        samples_add(&lat, now_ns() - t0);
        r->ops++;
    }
    row_finish(r, &lat, start);
    progress_done();
    kk1 = fleet_kk_messages();
    if (opt.members != NULL && r->ops > 0) {
        fprintf(stderr, "enclave-bench: fleet: %.2f KK messages per recover (%llu over %llu)\n",
                (double)(kk1 - kk0) / (double)r->ops, (unsigned long long)(kk1 - kk0),
                (unsigned long long)r->ops);
        r->kk_per_op = (double)(kk1 - kk0) / (double)r->ops;
    }
    client_secure_free(s);
    client_free(c);
}

void run_fleet_nk(struct row *r, const struct scenario *sc)
{
    struct client *c = connect_or_die();
    struct samples lat = {0};
    uint8_t hash[CLIENT_CODE_HASH_LEN];
    uint64_t start, last = 0;

    (void)sc;
    if (!find_app(c, hash, r)) {
        client_free(c);
        return;
    }
    client_free(c);
    start = now_ns();
    while (keep_going(r->name, r->ops, start, &last)) {
        uint64_t t0 = now_ns();
        struct client_secure *s = NULL;
        status_t closed = STATUS_OK;

        /* A new connection each time: HAProxy balances connections. */
        c = connect_or_die();
        if (open_app(c, hash, &s) != STATUS_OK ||
            client_secure_close(s, opt.timeout_ms, &closed) != STATUS_OK) {
            r->errors++;
        } else {
            samples_add(&lat, now_ns() - t0);
            r->ops++;
        }
        client_secure_free(s);
        client_free(c);
        if (r->errors > 100) {
            break;
        }
    }
    row_finish(r, &lat, start);
    progress_done();
}
