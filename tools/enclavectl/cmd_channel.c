/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclavectl channel open: opens a raw or Noise NK channel and pipes stdin
 * into it while printing what arrives, both at once (one poll over stdin and
 * the socket), so a line from another client shows up without typing and
 * sending never waits for an answer. For nk it pins the server key: from
 * --pubkey or --pubkey-file, else from the known-servers file, else it
 * trusts GetInfo on first use and remembers the key there.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "lib/pin.h"
#include "wire/frame.h"

enum {
    MAX_LINE_LEN = 1024 * 1024,
    LINGER_MS = 200,
    READ_CHUNK = 65536,
    RECV_CLOSED_OK = 2,
    OPT_PROCESS = CTL_OPT_BASE + 64,
    OPT_CODE_HASH,
    OPT_PUBKEY,
    OPT_PUBKEY_FILE,
    OPT_ACCEPT,
    OPT_BINARY,
};

const struct cli_option cmd_channel_open_options[] = {
    {"process", required_argument, OPT_PROCESS, "ID", "the process with this id"},
    {"code-hash", required_argument, OPT_CODE_HASH, "HEX", "the oldest process with this hash"},
    {"pubkey", required_argument, OPT_PUBKEY, "HEX", "nk: pin this server static key"},
    {"pubkey-file", required_argument, OPT_PUBKEY_FILE, "FILE",
     "nk: pin the key in FILE (a line of 64 hex digits)"},
    {"accept", required_argument, OPT_ACCEPT, "HEX", "nk: accept this code hash (repeatable)"},
    {"binary", no_argument, OPT_BINARY, NULL, "u32 big-endian length-prefixed messages"},
    {NULL, 0, 0, NULL, NULL},
};

struct pipe_opts {
    int nk;
    int binary;
    int targets;
    uint32_t process_id;
    int by_hash;
    uint8_t code_hash[CTL_HASH_LEN];
    int have_pubkey;
    const char *pubkey_file;
    uint8_t pubkey[CLIENT_KEY_LEN];
    uint8_t accepted[CLIENT_MAX_ACCEPTED_HASHES * CTL_HASH_LEN];
    size_t accepted_count;
    int have_believed;
    uint8_t believed_hash[CTL_HASH_LEN]; /* what ProcessList says --process runs */
    /* Trust on first use: remember the key in this file after the handshake. */
    int remember;
    char known_path[PIN_PATH_CAP];
};

/* One open channel, raw or encrypted. */
struct pipe {
    struct ctl *ctl;
    int binary;
    uint32_t channel_id;
    struct client_secure *secure; /* NULL for raw */
    uint64_t sent, received;
    int closed; /* the server closed the channel */
};

/* Bytes read from stdin and not yet sent: buf[start..len). */
struct input {
    int binary;
    int eof;
    uint8_t *buf;
    size_t start, len, cap;
};

static void channel_option(void *ctx, int val, const char *value)
{
    struct pipe_opts *o = ctx;

    switch (val) {
    case OPT_PROCESS:
        o->process_id = ctl_parse_u32("--process", value);
        o->targets++;
        break;
    case OPT_CODE_HASH:
        ctl_parse_hex("--code-hash", value, o->code_hash, CTL_HASH_LEN);
        o->by_hash = 1;
        o->targets++;
        break;
    case OPT_PUBKEY:
        ctl_parse_hex("--pubkey", value, o->pubkey, CLIENT_KEY_LEN);
        o->have_pubkey = 1;
        break;
    case OPT_PUBKEY_FILE:
        o->pubkey_file = value;
        break;
    case OPT_ACCEPT:
        if (o->accepted_count == CLIENT_MAX_ACCEPTED_HASHES) {
            ctl_die_usage("at most %d --accept hashes", CLIENT_MAX_ACCEPTED_HASHES);
        }
        ctl_parse_hex("--accept", value, o->accepted + o->accepted_count * CTL_HASH_LEN,
                      CTL_HASH_LEN);
        o->accepted_count++;
        break;
    case OPT_BINARY:
        o->binary = 1;
        break;
    default:
        abort();
    }
}

static void parse_channel_args(struct ctl *ctl, int argc, char **argv, struct pipe_opts *o)
{
    int first;

    memset(o, 0, sizeof(*o));
    first = ctl_parse(ctl, argc, argv, channel_option, o);
    if (first >= argc || (strcmp(argv[first], "raw") != 0 && strcmp(argv[first], "nk") != 0)) {
        ctl_die_usage("channel open needs a type: raw or nk");
    }
    o->nk = strcmp(argv[first], "nk") == 0;
    ctl_reject_operands(argc, argv, first + 1);
    if (o->targets != 1) {
        ctl_die_usage("channel open needs exactly one of --process ID or --code-hash HEX");
    }
    if (o->have_pubkey && o->pubkey_file != NULL) {
        ctl_die_usage("give --pubkey or --pubkey-file, not both");
    }
    if (!o->nk && (o->have_pubkey || o->pubkey_file != NULL || o->accepted_count > 0)) {
        ctl_die_usage("--pubkey, --pubkey-file and --accept apply to nk channels only");
    }
}

/* {============================================================ trust */

static void print_fingerprint(FILE *out, const uint8_t key[CLIENT_KEY_LEN])
{
    char fp[PIN_FINGERPRINT_LEN];

    pin_fingerprint(key, fp);
    fputs(fp, out);
}

/* Where the pinned key comes from. Returns an exit code. */
static int find_pinned_key(struct ctl *ctl, struct pipe_opts *o, char *source, size_t cap)
{
    char name[PIN_NAME_CAP];
    unsigned line = 0;
    status_t s;

    if (o->have_pubkey) {
        snprintf(source, cap, "--pubkey");
        return EXIT_OK;
    }
    if (o->pubkey_file != NULL) {
        s = pin_read_key_file(o->pubkey_file, o->pubkey);
        if (s != STATUS_OK) {
            fprintf(stderr, "enclavectl: --pubkey-file %s: %s (%d): %s\n", o->pubkey_file,
                    status_name(s), (int)s, status_trail_message());
            return EXIT_LOCAL;
        }
        o->have_pubkey = 1;
        snprintf(source, cap, "%s", o->pubkey_file);
        return EXIT_OK;
    }
    if (ctl->known_servers != NULL) {
        snprintf(o->known_path, sizeof(o->known_path), "%s", ctl->known_servers);
    } else if (pin_default_path(o->known_path, sizeof(o->known_path)) != STATUS_OK) {
        o->known_path[0] = '\0';
        return EXIT_OK;
    }
    pin_name(ctl->host, ctl->port, name);
    s = pin_lookup(o->known_path, name, o->pubkey, &line);
    if (s == STATUS_OK) {
        o->have_pubkey = 1;
        snprintf(source, cap, "%s line %u", o->known_path, line);
        return EXIT_OK;
    }
    if (s != STATUS_NOT_FOUND) {
        fprintf(stderr, "enclavectl: %s: %s (%d): %s\n", o->known_path, status_name(s), (int)s,
                status_trail_message());
        return EXIT_LOCAL;
    }
    o->remember = 1;
    return EXIT_OK;
}

/* Fills in the pinned key and the accepted hashes, saying where they come
 * from on stderr. A pinned key that GetInfo contradicts is refused here,
 * before any handshake, with both fingerprints. */
static int resolve_nk_trust(struct ctl *ctl, struct pipe_opts *o)
{
    Enclaved__ServerFrame *f = NULL;
    uint8_t told[CLIENT_KEY_LEN];
    char source[PIN_PATH_CAP + 32] = "";
    int rc = find_pinned_key(ctl, o, source, sizeof(source));

    if (rc != EXIT_OK) {
        return rc;
    }
    rc = ctl_get_info(ctl, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    if (f->response->info->public_key.len != CLIENT_KEY_LEN) {
        client_frame_free(f);
        ctl_report_error(ctl, STATUS_DATA_LOSS, "GetInfo returned no public key");
        return EXIT_UNAVAILABLE;
    }
    memcpy(told, f->response->info->public_key.data, CLIENT_KEY_LEN);
    client_frame_free(f);
    if (o->have_pubkey && memcmp(told, o->pubkey, CLIENT_KEY_LEN) != 0) {
        char pinned[PIN_FINGERPRINT_LEN], now[PIN_FINGERPRINT_LEN], text[PIN_PATH_CAP + 256];
        pin_fingerprint(o->pubkey, pinned);
        pin_fingerprint(told, now);
        snprintf(text, sizeof(text),
                 "server key does not match the pinned key: pinned %s (%s), the server "
                 "presents %s; refusing. If the operator changed the key, get the new one "
                 "from the operator and replace the pin",
                 pinned, source, now);
        ctl_report_error(ctl, STATUS_PERMISSION_DENIED, text);
        return EXIT_MISMATCH;
    }
    if (!o->have_pubkey) {
        memcpy(o->pubkey, told, CLIENT_KEY_LEN);
        fprintf(stderr, "enclavectl: pinning the server key from GetInfo (trust on first use): ");
        print_fingerprint(stderr, o->pubkey);
        fprintf(stderr, "%s%s\n", o->remember ? ", to be remembered in " : " (not remembered)",
                o->remember ? o->known_path : "");
    } else {
        fprintf(stderr, "enclavectl: server key pinned by %s: ", source);
        print_fingerprint(stderr, o->pubkey);
        fprintf(stderr, "\n");
    }
    return EXIT_OK;
}

static int resolve_accepted(struct ctl *ctl, struct pipe_opts *o)
{
    Enclaved__ServerFrame *f = NULL;
    int rc;

    if (o->by_hash) {
        if (o->accepted_count == 0) {
            memcpy(o->accepted, o->code_hash, CTL_HASH_LEN);
            o->accepted_count = 1;
        }
        return EXIT_OK;
    }
    rc = ctl_list_processes(ctl, &f);
    if (rc != EXIT_OK) {
        return rc;
    }
    Enclaved__ProcessListResult *list = f->response->process_list;
    for (size_t i = 0; i < list->n_processes; i++) {
        if (list->processes[i]->process_id == o->process_id &&
            list->processes[i]->code_hash.len == CTL_HASH_LEN) {
            memcpy(o->believed_hash, list->processes[i]->code_hash.data, CTL_HASH_LEN);
            o->have_believed = 1;
        }
    }
    client_frame_free(f);
    if (!o->have_believed) {
        ctl_report_error(ctl, STATUS_NOT_FOUND, "no such process");
        return EXIT_STATUS;
    }
    if (o->accepted_count == 0) {
        memcpy(o->accepted, o->believed_hash, CTL_HASH_LEN);
        o->accepted_count = 1;
        fprintf(stderr, "enclavectl: accepting the code hash ProcessList reports for process %u "
                        "(use --accept HEX to require one)\n", o->process_id);
    }
    return EXIT_OK;
}

/* After a good handshake, a key trusted on first use goes into the file. */
static void remember_key(struct ctl *ctl, const struct pipe_opts *o)
{
    char name[PIN_NAME_CAP];

    if (!o->remember) {
        return;
    }
    pin_name(ctl->host, ctl->port, name);
    if (pin_add(o->known_path, name, o->pubkey) != STATUS_OK) {
        fprintf(stderr, "enclavectl: warning: cannot remember the key in %s: %s\n", o->known_path,
                status_trail_message());
        return;
    }
    fprintf(stderr, "enclavectl: remembered %s in %s\n", name, o->known_path);
}

/* }============================================================ */

static int open_pipe(struct ctl *ctl, struct pipe_opts *o, struct pipe *p)
{
    struct client_target target = {o->process_id, o->by_hash ? o->code_hash : NULL, NULL};
    char message[256] = "";
    status_t s;
    int rc = ctl_connect(ctl);

    if (rc != EXIT_OK) {
        return rc;
    }
    if (!o->nk) {
        s = client_channel_open(ctl->c, target.process_id, target.code_hash,
                                ENCLAVED__CHANNEL_TYPE__RAW, &p->channel_id, message,
                                sizeof(message));
    } else {
        rc = resolve_nk_trust(ctl, o);
        if (rc == EXIT_OK) {
            rc = resolve_accepted(ctl, o);
        }
        if (rc != EXIT_OK) {
            return rc;
        }
        target.believed_hash = o->have_believed ? o->believed_hash : NULL;
        s = client_nk_open(ctl->c, &target, o->pubkey, o->accepted, o->accepted_count,
                           &p->secure, message, sizeof(message));
    }
    if (s != STATUS_OK) {
        ctl_report_error(ctl, s, message[0] ? message : status_trail_message());
        if (o->nk && s == STATUS_PERMISSION_DENIED) {
            return EXIT_MISMATCH;
        }
        return s == STATUS_DEADLINE_EXCEEDED ? EXIT_TIMEOUT
               : s == STATUS_UNAVAILABLE && message[0] == '\0' ? EXIT_UNAVAILABLE
                                                              : EXIT_STATUS;
    }
    if (p->secure != NULL) {
        p->channel_id = client_secure_channel_id(p->secure);
        fprintf(stderr, "enclavectl: attested code hash ");
        ctl_print_hex(stderr, client_secure_code_hash(p->secure), CTL_HASH_LEN);
        fprintf(stderr, "\n");
        remember_key(ctl, o);
    }
    fprintf(stderr, "enclavectl: channel %u open (%s)\n", p->channel_id, o->nk ? "nk" : "raw");
    return EXIT_OK;
}

static void print_reply(const struct pipe *p, const uint8_t *data, size_t len)
{
    if (p->ctl->json) {
        printf("{\"channel_id\":%u,\"len\":%zu,\"data\":", p->channel_id, len);
        ctl_print_json_string(stdout, data, len);
        printf(",\"hex\":\"");
        ctl_print_hex(stdout, data, len);
        printf("\"}\n");
    } else if (p->binary) {
        uint8_t header[FRAME_HEADER_LEN];

        frame_write_length(header, (uint32_t)len);
        fwrite(header, 1, sizeof(header), stdout);
        fwrite(data, 1, len, stdout);
    } else {
        fwrite(data, 1, len, stdout);
        fputc('\n', stdout);
    }
    fflush(stdout);
}

/* Receives one message within timeout_ms. Returns 1 for a message, 0 on
 * timeout, RECV_CLOSED_OK when the process closed the channel with OK, or
 * -(exit code) when the channel or connection failed. */
static int recv_one(struct pipe *p, int timeout_ms)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char reason[256] = "";
    status_t s;

    if (p->secure != NULL) {
        s = client_secure_recv(p->secure, timeout_ms, &data, &len, reason, sizeof(reason));
    } else {
        s = client_channel_recv(p->ctl->c, p->channel_id, timeout_ms, &data, &len, reason,
                                sizeof(reason));
    }
    if (s == STATUS_OK) {
        print_reply(p, data, len);
        free(data);
        p->received++;
        return 1;
    }
    if (s == STATUS_DEADLINE_EXCEEDED && reason[0] == '\0') {
        return 0;
    }
    if (reason[0] == '\0') {
        return -ctl_transport_exit(p->ctl, s, "channel failed");
    }
    char text[320];
    snprintf(text, sizeof(text), "channel %u closed by the server: %s", p->channel_id, reason);
    p->closed = 1;
    if (s == STATUS_CANCELLED) {
        fprintf(stderr, "enclavectl: %s\n", text);
        return RECV_CLOSED_OK;
    }
    ctl_report_error(p->ctl, s, text);
    return -ctl_status_exit(s);
}

/* Prints everything that has arrived; 0 when drained, else recv_one's code. */
static int drain(struct pipe *p)
{
    int r;

    do {
        r = recv_one(p, 0);
    } while (r == 1);
    return r;
}

/* One read(2) of stdin into the buffer; end of input or an error sets eof. */
static void input_fill(struct input *in)
{
    ssize_t n;

    if (in->start > 0) {
        memmove(in->buf, in->buf + in->start, in->len - in->start);
        in->len -= in->start;
        in->start = 0;
    }
    if (in->cap - in->len < READ_CHUNK) {
        size_t cap = in->cap ? in->cap * 2 : 2 * READ_CHUNK;
        uint8_t *grown = realloc(in->buf, cap);
        if (grown == NULL) {
            in->eof = 1;
            return;
        }
        in->buf = grown;
        in->cap = cap;
    }
    do {
        n = read(STDIN_FILENO, in->buf + in->len, in->cap - in->len);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        in->eof = 1;
        return;
    }
    in->len += (size_t)n;
}

/* Takes the next whole input message: a line without its newline (the last
 * one may lack it), or with --binary a u32 big-endian length and that many
 * bytes. 1 with *msg valid until the next input_fill, 0 when none is whole
 * yet, -1 when the input is malformed. */
static int input_take(struct input *in, const uint8_t **msg, size_t *len)
{
    const uint8_t *p = in->buf + in->start;
    size_t avail = in->len - in->start;

    if (in->binary) {
        if (avail < 4) {
            return in->eof && avail > 0 ? -1 : 0;
        }
        uint32_t n = frame_read_length(p);
        if (n > MAX_LINE_LEN) {
            return -1;
        }
        if (avail - 4 < n) {
            return in->eof ? -1 : 0;
        }
        *msg = p + 4;
        *len = n;
        in->start += 4 + (size_t)n;
        return 1;
    }
    const uint8_t *nl = avail > 0 ? memchr(p, '\n', avail) : NULL;
    if (nl != NULL) {
        *msg = p;
        *len = (size_t)(nl - p);
        in->start += *len + 1;
        return 1;
    }
    if (avail > MAX_LINE_LEN) {
        return -1;
    }
    if (in->eof && avail > 0) {
        *msg = p;
        *len = avail;
        in->start += avail;
        return 1;
    }
    return 0;
}

static int send_one(struct pipe *p, const uint8_t *data, size_t len)
{
    status_t s = p->secure != NULL ? client_secure_send(p->secure, data, len)
                                   : client_send_data(p->ctl->c, p->channel_id, data, len);

    if (s != STATUS_OK) {
        return ctl_transport_exit(p->ctl, s, "cannot send");
    }
    p->sent++;
    return EXIT_OK;
}

static int recv_exit(int r)
{
    return r < 0 ? -r : EXIT_OK;
}

/* Pipes stdin into the channel while printing what arrives, with one poll
 * over both: a message is sent as soon as its line is whole, and nothing
 * waits for an answer. At the end of input from a file or pipe it waits (up
 * to --timeout) until as many messages came back as went out, then LINGER_MS
 * more for stragglers; from a terminal only LINGER_MS, since an app need not
 * answer the sender (the broadcast demo). */
static int run_pipe(struct pipe *p)
{
    struct input in = {p->binary, 0, NULL, 0, 0, 0};
    int interactive = isatty(STDIN_FILENO);
    int rc = EXIT_OK;
    int r = 0;

    for (;;) {
        const uint8_t *msg = NULL;
        size_t len = 0;

        while ((r = input_take(&in, &msg, &len)) == 1) {
            rc = send_one(p, msg, len);
            if (rc != EXIT_OK) {
                goto out;
            }
        }
        if (r < 0) {
            fprintf(stderr, "enclavectl: %s\n",
                    p->binary ? "truncated or oversized --binary input" : "input line too long");
            rc = EXIT_USAGE;
            goto out;
        }
        if (in.eof) {
            break;
        }
        struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {client_fd(p->ctl->c), POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = ctl_transport_exit(p->ctl, STATUS_INTERNAL, "poll failed");
            goto out;
        }
        if (fds[1].revents != 0) {
            r = drain(p);
            if (r != 0) {
                rc = recv_exit(r);
                goto out;
            }
        }
        if (fds[0].revents != 0) {
            input_fill(&in);
        }
    }
    while (!interactive && p->received < p->sent) {
        r = recv_one(p, p->ctl->timeout_ms);
        if (r != 1) {
            rc = recv_exit(r);
            goto out;
        }
    }
    do {
        r = recv_one(p, LINGER_MS);
    } while (r == 1);
    rc = recv_exit(r);
out:
    free(in.buf);
    return rc;
}

int cmd_channel_open(struct ctl *ctl, int argc, char **argv)
{
    struct pipe_opts o;
    struct pipe p;
    status_t closed = STATUS_OK;
    int rc;

    parse_channel_args(ctl, argc, argv, &o);
    memset(&p, 0, sizeof(p));
    p.ctl = ctl;
    p.binary = o.binary;
    rc = open_pipe(ctl, &o, &p);
    if (rc != EXIT_OK) {
        return rc;
    }
    rc = run_pipe(&p);
    if (rc == EXIT_OK && !p.closed) {
        /* Close politely; a channel that the server already closed stays closed. */
        if (client_send_close(ctl->c, p.channel_id) == STATUS_OK) {
            client_channel_wait_closed(ctl->c, p.channel_id, ctl->timeout_ms, &closed, NULL, 0);
        }
    }
    client_secure_free(p.secure);
    return rc;
}
