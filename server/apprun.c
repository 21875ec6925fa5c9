/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "apprun.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <sodium.h>

#include "base/cli.h"
#include "base/idmap.h"
#include "base/text.h"
#include "crypto/noise.h"
#include "crypto/rng.h"

enum {
    /* Room for "msg 4294967295 hex:" beside the hex of a message. */
    LINE_SLACK = 64,
    HANDSHAKE_MAX = NOISE_HANDSHAKE_OVERHEAD + 2 * PROCESS_CODE_HASH_LEN,
    NAME_CAP = 256,
    REASON_CAP = 512,
};

/* One channel the script opened: its label and the id the core gave it. */
struct chan {
    uint32_t label;
    uint32_t id;
    int noise;                       /* nk or kk: the harness plays the other end */
    struct noise_handshake *hs;      /* until the server's reply is read */
    struct noise_transport tr;
    LIST_ENTRY(chan) link;
};

struct run {
    struct core *core;
    struct proc *proc;
    const uint8_t *source;
    size_t source_len;
    char name[NAME_CAP];
    struct channel_owner owner;
    struct idmap by_label;
    struct idmap by_id;
    LIST_HEAD(, chan) chans;
    uint8_t *scratch;
    size_t scratch_cap;
    const char *where;               /* the script's name, for error lines */
    unsigned long line;
};

static uint8_t *scratch(struct run *r, size_t len)
{
    if (len + 1 > r->scratch_cap) {
        uint8_t *grown = realloc(r->scratch, len + 1);
        if (grown == NULL) {
            return NULL;
        }
        r->scratch = grown;
        r->scratch_cap = len + 1;
    }
    return r->scratch;
}

static void chan_free(struct run *r, struct chan *c)
{
    idmap_remove(&r->by_label, c->label);
    idmap_remove(&r->by_id, c->id);
    LIST_REMOVE(c, link);
    noise_handshake_free(c->hs);
    noise_transport_clear(&c->tr);
    free(c);
}

static void print_data(uint32_t label, const uint8_t *data, size_t len)
{
    int text = len > 0 && !(len >= 4 && memcmp(data, "hex:", 4) == 0);

    for (size_t i = 0; text && i < len; i++) {
        text = data[i] >= 0x20 && data[i] < 0x7f;
    }
    printf("%u <- %s", label, text ? "" : "hex:");
    if (text) {
        fwrite(data, 1, len, stdout);
    } else {
        for (size_t i = 0; i < len; i++) {
            printf("%02x", data[i]);
        }
    }
    printf("\n");
}

static void print_status(uint32_t label, const char *what, status_t s, const char *reason)
{
    char clean[REASON_CAP];

    text_sanitize(clean, sizeof(clean), reason, strlen(reason));
    printf("%u %s %s (%d): %s\n", label, what, status_name(s), (int)s, clean);
}

/* core_sink: the server's handshake reply, or a message for the script. */
static void sink_data(void *ctx, uint32_t id, const uint8_t *data, size_t len)
{
    struct run *r = ctx;
    struct chan *c = idmap_get(&r->by_id, id);
    uint8_t payload[HANDSHAKE_MAX];
    size_t n = 0;
    uint8_t *plain;

    if (c == NULL) {
        return;
    }
    if (c->hs != NULL) {
        /* The reply attests the process's code hash, as a client checks it. */
        if (noise_handshake_read_message(c->hs, data, len, payload, sizeof(payload), &n) ==
                STATUS_OK &&
            n == PROCESS_CODE_HASH_LEN &&
            memcmp(payload, process_code_hash(r->proc->lua), n) == 0 &&
            noise_handshake_split(c->hs, &c->tr) == STATUS_OK) {
            noise_handshake_free(c->hs);
            c->hs = NULL;
        }
        return;
    }
    if (!c->noise) {
        print_data(c->label, data, len);
        return;
    }
    plain = scratch(r, len);
    if (plain == NULL || noise_transport_decrypt(&c->tr, data, len, plain, len, &n) != STATUS_OK) {
        fprintf(stderr, "enclaved: channel %u: a message from the app does not decrypt\n",
                c->label);
        return;
    }
    print_data(c->label, plain, n);
}

static void sink_closed(void *ctx, uint32_t id, status_t status, const char *reason)
{
    struct run *r = ctx;
    struct chan *c = idmap_get(&r->by_id, id);

    if (c != NULL) {
        print_status(c->label, "closed", status, reason);
        chan_free(r, c);
    }
}

static const struct core_sink sink_ops = {sink_data, sink_closed};

/* A script error: "FILE:LINE: message" on stderr; returns 2. */
static int script_error(const struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int script_error(const struct run *r, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "enclaved: %s:%lu: ", r->where, r->line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 2;
}

/* Creates the process from the source; 0, or 1 after printing why not. */
static int create_proc(struct run *r, uint64_t memory_limit, const char *path)
{
    struct status_report rep;
    status_t s;

    status_trail_reset();
    s = procs_create(r->core->processes, r->name, r->source, r->source_len, memory_limit,
                     &r->proc);
    if (s != STATUS_OK) {
        status_trail_take(&rep);
        fprintf(stderr, "enclaved: %s: %s (%d): %s\n", path, status_name(s), (int)s,
                rep.message);
        r->proc = NULL;
        return 1;
    }
    return 0;
}

/* The handshake message 1 of the harness's end, into msg. */
static status_t start_noise(struct run *r, struct chan *c, enum channel_type type,
                            uint8_t *msg, size_t *len)
{
    const struct keystore *ks = r->core->keystore;
    int kk = type == CHANNEL_TYPE_SERVER_KK_RESPONDER;

    /* A client knows the server's key; a peer enclave holds the same fleet key. */
    TRY(noise_handshake_new(kk ? NOISE_PATTERN_KK : NOISE_PATTERN_NK, NOISE_ROLE_INITIATOR,
                            kk ? ks : NULL, keystore_public_key(ks), NULL, 0, rng_bytes, NULL,
                            &c->hs));
    return noise_handshake_write_message(c->hs, process_code_hash(r->proc->lua),
                                         PROCESS_CODE_HASH_LEN, msg, HANDSHAKE_MAX, len);
}

static int ev_open(struct run *r, uint32_t label, const char *kind)
{
    struct channel_table *t = r->core->channels;
    enum channel_type type;
    uint8_t msg[HANDSHAKE_MAX];
    size_t msg_len = 0;
    struct chan *c;
    status_t s;

    if (strcmp(kind, "raw") == 0) {
        type = CHANNEL_TYPE_RAW;
    } else if (strcmp(kind, "nk") == 0) {
        type = CHANNEL_TYPE_CLIENT_NK;
    } else if (strcmp(kind, "kk") == 0) {
        type = CHANNEL_TYPE_SERVER_KK_RESPONDER;
    } else {
        return script_error(r, "open: the type must be raw, nk or kk");
    }
    if (idmap_get(&r->by_label, label) != NULL) {
        return script_error(r, "open: channel %u is already open", label);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return script_error(r, "out of memory");
    }
    c->label = label;
    c->noise = type != CHANNEL_TYPE_RAW;
    status_trail_reset();
    if ((s = channel_check_open(t, &r->proc->channels, type)) != STATUS_OK ||
        (c->noise && (s = start_noise(r, c, type, msg, &msg_len)) != STATUS_OK) ||
        (s = channel_open(t, &r->owner, &r->proc->channels, type, &c->id)) != STATUS_OK) {
        print_status(label, "refused", s, status_trail_message());
        noise_handshake_free(c->hs);
        free(c);
        return 0;
    }
    LIST_INSERT_HEAD(&r->chans, c, link);
    if (idmap_put(&r->by_label, label, c) != STATUS_OK ||
        idmap_put(&r->by_id, c->id, c) != STATUS_OK) {
        channel_close(t, &r->owner, c->id);
        return script_error(r, "out of memory");
    }
    channel_start(t, c->id);
    if (!c->noise) {
        return 0;
    }
    /* The reply comes back through sink_data, then HandleChannelCreate runs. */
    channel_input(t, &r->owner, c->id, msg, msg_len);
    if ((c = idmap_get(&r->by_label, label)) != NULL && c->hs != NULL) {
        fprintf(stderr, "enclaved: channel %u: the server's handshake reply does not check\n",
                label);
        channel_close(t, &r->owner, c->id);
    }
    return 0;
}

static int ev_msg(struct run *r, struct chan *c, const char *text, size_t len)
{
    struct channel_table *t = r->core->channels;
    const uint8_t *data = (const uint8_t *)text;
    uint8_t *bin = NULL;
    size_t n = len, sealed_len;
    int rc = 0;

    if (len >= 4 && memcmp(text, "hex:", 4) == 0) {
        const char *end = NULL;

        bin = malloc(len / 2 + 1);
        if (bin == NULL) {
            return script_error(r, "out of memory");
        }
        if ((len - 4) % 2 != 0 ||
            sodium_hex2bin(bin, len / 2 + 1, text + 4, len - 4, NULL, &n, &end) != 0 ||
            end != text + len) {
            free(bin);
            return script_error(r, "msg: hex: needs an even number of hex digits");
        }
        data = bin;
    }
    if (!c->noise) {
        channel_input(t, &r->owner, c->id, data, n);
    } else {
        uint8_t *sealed;

        sealed_len = noise_transport_sealed_len(n);
        sealed = sealed_len != 0 ? malloc(sealed_len) : NULL;
        if (sealed == NULL ||
            noise_transport_encrypt(&c->tr, data, n, sealed, sealed_len, &sealed_len) !=
                STATUS_OK) {
            rc = script_error(r, "msg: cannot encrypt %zu bytes", n);
        } else {
            channel_input(t, &r->owner, c->id, sealed, sealed_len);
        }
        free(sealed);
    }
    free(bin);
    return rc;
}

/* "restart": the process is destroyed (its channels close) and created
 * again from the same source, so it has the same code hash and sealing key. */
static int ev_restart(struct run *r, uint64_t memory_limit, const char *path)
{
    procs_destroy(r->core->processes, r->proc);
    r->proc = NULL;
    return create_proc(r, memory_limit, path);
}

/* Splits "WORD REST" at the first space: returns REST (or NULL). */
static char *split(char *s)
{
    char *sp = strchr(s, ' ');

    if (sp == NULL) {
        return NULL;
    }
    *sp = '\0';
    return sp + 1;
}

static int parse_cid(struct run *r, const char *text, uint32_t *out)
{
    uint64_t v = 0;

    if (text == NULL || cli_parse_u64(text, 0, UINT32_MAX, &v) != 0 || v == 0) {
        return script_error(r, "the channel must be a number 1..4294967295");
    }
    *out = (uint32_t)v;
    return 0;
}

/* One event line (len bytes, no newline, no NUL). Returns 0, 1 (the app
 * cannot be re-created) or 2 (a script error). */
static int run_line(struct run *r, char *line, size_t len, const struct apprun_options *opt)
{
    char *rest;
    uint32_t label = 0;
    struct chan *c;
    size_t skip = strspn(line, " \t");

    if (line[skip] == '\0' || line[skip] == '#') {
        return 0;
    }
    rest = split(line);
    if (strcmp(line, "restart") == 0 && rest == NULL) {
        return ev_restart(r, opt->memory_limit, opt->app_path);
    }
    if (strcmp(line, "open") == 0) {
        char *kind = rest != NULL ? split(rest) : NULL;

        if (parse_cid(r, rest, &label) != 0) {
            return 2;
        }
        return kind != NULL ? ev_open(r, label, kind)
                            : script_error(r, "open needs a channel and raw, nk or kk");
    }
    if (strcmp(line, "msg") == 0 || strcmp(line, "close") == 0) {
        int is_msg = line[0] == 'm';
        char *text = rest != NULL && is_msg ? split(rest) : NULL;

        if (parse_cid(r, rest, &label) != 0) {
            return 2;
        }
        if ((c = idmap_get(&r->by_label, label)) == NULL) {
            return script_error(r, "channel %u is not open", label);
        }
        if (!is_msg) {
            channel_close(r->core->channels, &r->owner, c->id);
            return 0;
        }
        return ev_msg(r, c, text != NULL ? text : "",
                      text != NULL ? len - (size_t)(text - line) : 0);
    }
    return script_error(r, "unknown event '%.32s' (want open, msg, close, restart or #)", line);
}

/* Reads one line of at most cap - 1 bytes into buf. Returns 1 for a line,
 * 0 at the end, -1 for a line too long or holding a NUL, -2 on a read error. */
static int read_line(FILE *in, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    int ch;

    while ((ch = getc(in)) != EOF && ch != '\n') {
        if (n + 1 >= cap || ch == '\0') {
            while ((ch = getc(in)) != EOF && ch != '\n') {
            }
            return -1;
        }
        buf[n++] = (char)ch;
    }
    if (ferror(in)) {
        return -2;
    }
    if (ch == EOF && n == 0) {
        return 0;
    }
    buf[n] = '\0';
    *len = n;
    return 1;
}

static int read_source(struct run *r, const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(max + 1);
    size_t n = 0;

    if (f == NULL || buf == NULL) {
        fprintf(stderr, "enclaved: cannot open %s: %s\n", path, strerror(errno));
        if (f != NULL) {
            fclose(f);
        }
        free(buf);
        return 1;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f) || n > max) {
        fprintf(stderr, "enclaved: %s: %s\n", path,
                ferror(f) ? "cannot read it" : "larger than max_frame");
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);
    r->source = buf;
    r->source_len = n;
    return 0;
}

static void default_name(const char *path, char *name, size_t cap)
{
    const char *base = strrchr(path, '/');
    size_t len;

    base = base != NULL ? base + 1 : path;
    len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".lua") == 0) {
        len -= 4;
    }
    snprintf(name, cap, "%.*s", (int)len, base);
}

static int run_events(struct run *r, FILE *in, const struct apprun_options *opt)
{
    size_t cap = 2 * (size_t)r->core->config.max_message + LINE_SLACK;
    char *buf = malloc(cap);
    size_t len = 0;
    int got, rc = 0;

    if (buf == NULL) {
        fprintf(stderr, "enclaved: out of memory\n");
        return 2;
    }
    while (rc == 0 && (got = read_line(in, buf, cap, &len)) != 0) {
        r->line++;
        if (got == -1) {
            rc = script_error(r, "a line longer than %zu bytes (2 * max_message + %d) or "
                                 "holding a NUL byte",
                              cap - 1, LINE_SLACK);
        } else if (got == -2) {
            rc = script_error(r, "read error: %s", strerror(errno));
        } else {
            rc = run_line(r, buf, len, opt);
        }
        fflush(stdout);
    }
    free(buf);
    return rc;
}

int apprun_main(struct core *core, const struct apprun_options *opt)
{
    struct run r;
    FILE *in = stdin;
    int rc;

    memset(&r, 0, sizeof(r));
    r.core = core;
    idmap_init(&r.by_label);
    idmap_init(&r.by_id);
    LIST_INIT(&r.chans);
    channel_owner_init(&r.owner, &sink_ops, &r);
    if (opt->app_name != NULL) {
        snprintf(r.name, sizeof(r.name), "%s", opt->app_name);
    } else {
        default_name(opt->app_path, r.name, sizeof(r.name));
    }
    r.where = "stdin";
    if (opt->events_path != NULL && strcmp(opt->events_path, "-") != 0) {
        r.where = opt->events_path;
        in = fopen(opt->events_path, "r");
        if (in == NULL) {
            fprintf(stderr, "enclaved: cannot open %s: %s\n", opt->events_path, strerror(errno));
            return 2;
        }
    }
    rc = read_source(&r, opt->app_path, core->config.max_frame);
    if (rc == 0) {
        rc = create_proc(&r, opt->memory_limit, opt->app_path);
    }
    if (rc == 0) {
        fprintf(stderr, "enclaved: app '%s' running offline; events from %s\n", r.name,
                r.where);
        rc = run_events(&r, in, opt);
    }
    /* Like a connection that goes away: HandleChannelClose runs, nothing is printed. */
    channel_close_owner(core->channels, &r.owner);
    while (!LIST_EMPTY(&r.chans)) {
        chan_free(&r, LIST_FIRST(&r.chans));
    }
    if (in != stdin) {
        fclose(in);
    }
    idmap_clear(&r.by_label);
    idmap_clear(&r.by_id);
    free(r.scratch);
    free((void *)r.source);
    return rc;
}
