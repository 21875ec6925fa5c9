/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * An enclaved C-library client for the Node tests: opens a CLIENT_NK channel
 * with client_nk_open (which asks for strict framing) and then obeys commands
 * on stdin, answering on stdout, so a Node test can put it on the other end
 * of the broadcast app from a libsignal client.
 *
 *   usage: nk_peer HOST PORT SERVER_KEY_HEX CODE_HASH_HEX
 *   stdin:  's' len32be bytes   send one message
 *           'r'                 receive one message (10 s timeout)
 *           'q'                 close the channel and exit
 *   stdout: one line "open" once the handshake is done, then per 'r' and
 *           's' an answer: a status byte (gRPC code), len32be, then len
 *           bytes: for 'r' with status 0 the message, else the reason text.
 * Exits 0 after 'q', 1 on a failed open (the reason on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/client.h"
#include "lib/client_noise.h"

static int read_exact(void *buf, size_t len)
{
    return len == 0 || fread(buf, 1, len, stdin) == len;
}

static int parse_hex32(const char *hex, uint8_t out[32])
{
    if (strlen(hex) != 64) {
        return 0;
    }
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return 0;
        }
        out[i] = (uint8_t)v;
    }
    return 1;
}

static void answer(status_t st, const uint8_t *data, size_t len)
{
    uint8_t head[5] = {(uint8_t)st, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                       (uint8_t)(len >> 8), (uint8_t)len};

    fwrite(head, 1, sizeof(head), stdout);
    if (len > 0) {
        fwrite(data, 1, len, stdout);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct client *c = NULL;
    struct client_secure *s = NULL;
    struct client_target target = {0, NULL, NULL};
    uint8_t key[32], hash[32];
    char message[256] = "";
    status_t st;
    int op;

    if (argc != 5 || !parse_hex32(argv[3], key) || !parse_hex32(argv[4], hash)) {
        fprintf(stderr, "usage: nk_peer HOST PORT SERVER_KEY_HEX CODE_HASH_HEX\n");
        return 2;
    }
    target.code_hash = hash;
    st = client_connect(argv[1], (uint16_t)atoi(argv[2]), 10000, &c);
    if (st == STATUS_OK) {
        client_set_timeout(c, 10000);
        st = client_nk_open(c, &target, key, hash, 1, &s, message, sizeof(message));
    }
    if (st != STATUS_OK) {
        fprintf(stderr, "nk_peer: open failed: %s: %s\n", status_name(st), message);
        client_free(c);
        return 1;
    }
    printf("open\n");
    fflush(stdout);
    while ((op = getchar()) != EOF && op != 'q') {
        uint8_t head[4];
        uint8_t *data = NULL;
        size_t len = 0;
        char reason[256] = "";

        if (op == 's') {
            if (!read_exact(head, 4)) {
                break;
            }
            len = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
            data = malloc(len + 1);
            if (data == NULL || !read_exact(data, len)) {
                free(data);
                break;
            }
            st = client_secure_send(s, data, len);
            free(data);
            answer(st, NULL, 0);
        } else if (op == 'r') {
            st = client_secure_recv(s, 10000, &data, &len, reason, sizeof(reason));
            if (st == STATUS_OK) {
                answer(st, data, len);
                free(data);
            } else {
                answer(st, (const uint8_t *)reason, strlen(reason));
            }
        }
    }
    if (op == 'q') {
        status_t closed = STATUS_UNKNOWN;
        (void)client_secure_close(s, 5000, &closed);
    }
    client_secure_free(s);
    client_free(c);
    return op == 'q' ? 0 : 1;
}
