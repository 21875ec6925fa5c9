/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * enclave-gateway: the WebSocket front of HsmEnclave's deployment model
 * (README "Client developers"). Apps such as Signal's reach an enclave as
 * app -> WebSocket -> gateway -> enclaved, with the Noise channel end to end:
 * the gateway is host-side and untrusted, sees only ciphertext, and could at
 * worst deny service or cut messages (which strict framing catches).
 *
 * Each WebSocket at ws://HOST:PORT/CODE_HASH (64 hex digits; or
 * ?code_hash=HEX) gets its own TCP connection to enclaved and one CLIENT_NK
 * channel to the oldest process with that code hash. One binary WebSocket
 * message is one ChannelData payload, both ways. When the channel closes,
 * the WebSocket closes with code 1000 (status OK) or 4000 + the gRPC status
 * and the server's reason; when the WebSocket closes, the connection to
 * enclaved closes, which closes the channel (HandleChannelClose runs).
 *
 * The WebSocket protocol is libwebsockets' (Debian libwebsockets-dev), and so
 * is the event loop; the TCP side to enclaved is an lws raw client. It uses
 * wire/frame and the protobuf-c bindings only, like every tool.
 *
 * Ownership: struct link is allocated when a WebSocket is established and
 * freed when both its WebSocket and its enclaved connection are gone; each
 * side's wsi points at it (per-session data / opaque user data). Queued
 * messages are owned by their queue. Single-threaded.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "enclaved.pb-c.h"
#include "wire/frame.h"

enum {
    HASH_LEN = 32,
    OPEN_REQUEST_ID = 1,
    /* Close codes: 4000 + gRPC status for a closed channel (RFC 6455 leaves
     * 4000-4999 to applications); the standard ones for the gateway's own. */
    CLOSE_STATUS_BASE = 4000,
    CLOSE_REASON_MAX = 123, /* a close frame's payload is at most 125 bytes */
    DEFAULT_MAX_MESSAGE = 1 << 20,
};

struct msg {
    struct msg *next;
    size_t len;
    uint8_t buf[];              /* LWS_PRE bytes of headroom, then len bytes */
};

struct queue {
    struct msg *head, *tail;
    size_t bytes;
};

struct link {
    struct lws *ws;             /* NULL once the WebSocket is gone */
    struct lws *up;             /* the enclaved connection; NULL once gone */
    uint8_t code_hash[HASH_LEN];
    uint32_t channel_id;
    int channel_open;           /* the ChannelOpen Response was OK */
    int up_closing;             /* drop the enclaved connection when writable */
    int ws_close_code;          /* nonzero: close the WebSocket once to_ws drains */
    char ws_close_reason[CLOSE_REASON_MAX + 1];
    struct queue to_ws;         /* binary messages for the WebSocket */
    struct queue to_up;         /* frames for enclaved */
    struct queue early;         /* WebSocket messages before the channel opened */
    uint8_t *rx;                /* a WebSocket message being reassembled */
    size_t rx_len;
    uint8_t *in;                /* bytes from enclaved, not yet a whole frame */
    size_t in_len, in_cap;
};

struct options {
    const char *listen_host;
    int listen_port;
    char upstream_host[256];
    int upstream_port;
    size_t max_message;         /* largest WebSocket message, bytes */
    size_t max_queued;          /* per link and direction, bytes */
};

static struct options opts;
static struct lws_context *context;
static volatile sig_atomic_t stopping;

/* {====================================================================
 * Queues */

static struct msg *msg_new(const uint8_t *data, size_t len)
{
    struct msg *m = malloc(sizeof(*m) + LWS_PRE + len);

    if (m == NULL) {
        return NULL;
    }
    m->next = NULL;
    m->len = len;
    if (data != NULL && len > 0) {
        memcpy(m->buf + LWS_PRE, data, len);
    }
    return m;
}

static void queue_push(struct queue *q, struct msg *m)
{
    if (q->tail != NULL) {
        q->tail->next = m;
    } else {
        q->head = m;
    }
    q->tail = m;
    q->bytes += m->len;
}

static struct msg *queue_pop(struct queue *q)
{
    struct msg *m = q->head;

    if (m != NULL) {
        q->head = m->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->bytes -= m->len;
    }
    return m;
}

static void queue_clear(struct queue *q)
{
    struct msg *m;

    while ((m = queue_pop(q)) != NULL) {
        free(m);
    }
}

/* ====================================================================}
 * {====================================================================
 * Links */

static void link_free_if_done(struct link *l)
{
    if (l->ws != NULL || l->up != NULL) {
        return;
    }
    queue_clear(&l->to_ws);
    queue_clear(&l->to_up);
    queue_clear(&l->early);
    free(l->rx);
    free(l->in);
    free(l);
}

/* Closes the WebSocket with code and reason after what is queued for it. */
static void close_ws(struct link *l, int code, const char *reason)
{
    if (l->ws == NULL || l->ws_close_code != 0) {
        return;
    }
    l->ws_close_code = code;
    snprintf(l->ws_close_reason, sizeof(l->ws_close_reason), "%s", reason);
    lws_callback_on_writable(l->ws);
}

static void close_up(struct link *l)
{
    if (l->up != NULL && !l->up_closing) {
        l->up_closing = 1;
        lws_callback_on_writable(l->up);
    }
}

/* Queues one ClientFrame for enclaved. */
static int send_up(struct link *l, const Enclaved__ClientFrame *f)
{
    size_t len = enclaved__client_frame__get_packed_size(f);
    struct msg *m;

    if (len > UINT32_MAX || l->to_up.bytes + len > opts.max_queued) {
        return -1;
    }
    m = msg_new(NULL, FRAME_HEADER_LEN + len);
    if (m == NULL) {
        return -1;
    }
    frame_write_length(m->buf + LWS_PRE, (uint32_t)len);
    enclaved__client_frame__pack(f, m->buf + LWS_PRE + FRAME_HEADER_LEN);
    queue_push(&l->to_up, m);
    lws_callback_on_writable(l->up);
    return 0;
}

static int send_channel_data(struct link *l, const uint8_t *data, size_t len)
{
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__ChannelData d = ENCLAVED__CHANNEL_DATA__INIT;

    d.channel_id = l->channel_id;
    d.data.data = (uint8_t *)data;
    d.data.len = len;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_DATA;
    f.channel_data = &d;
    return send_up(l, &f);
}

static int send_channel_open(struct link *l)
{
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__Request r = ENCLAVED__REQUEST__INIT;
    Enclaved__ChannelOpen o = ENCLAVED__CHANNEL_OPEN__INIT;

    o.target_case = ENCLAVED__CHANNEL_OPEN__TARGET_CODE_HASH;
    o.code_hash.data = l->code_hash;
    o.code_hash.len = HASH_LEN;
    o.type = ENCLAVED__CHANNEL_TYPE__CLIENT_NK;
    r.id = OPEN_REQUEST_ID;
    r.body_case = ENCLAVED__REQUEST__BODY_CHANNEL_OPEN;
    r.channel_open = &o;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_REQUEST;
    f.request = &r;
    return send_up(l, &f);
}

/* A whole WebSocket message from the app: a ChannelData, or queued until the
 * channel is open. */
static void on_ws_message(struct link *l, const uint8_t *data, size_t len)
{
    struct msg *m;

    if (l->channel_open) {
        if (send_channel_data(l, data, len) != 0) {
            close_ws(l, LWS_CLOSE_STATUS_POLICY_VIOLATION, "gateway buffer full");
            close_up(l);
        }
        return;
    }
    m = l->early.bytes + len <= opts.max_queued ? msg_new(data, len) : NULL;
    if (m == NULL) {
        close_ws(l, LWS_CLOSE_STATUS_POLICY_VIOLATION, "gateway buffer full");
        close_up(l);
        return;
    }
    queue_push(&l->early, m);
}

static void close_with_status(struct link *l, uint32_t status, const char *reason)
{
    close_ws(l, status == ENCLAVED__STATUS__OK ? LWS_CLOSE_STATUS_NORMAL
                                               : CLOSE_STATUS_BASE + (int)status,
             reason != NULL ? reason : "");
    close_up(l);
}

/* One frame from enclaved. */
static void on_server_frame(struct link *l, const uint8_t *body, size_t len)
{
    Enclaved__ServerFrame *f = enclaved__server_frame__unpack(NULL, len, body);
    struct msg *m;

    if (f == NULL) {
        close_ws(l, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "bad frame from enclaved");
        close_up(l);
        return;
    }
    switch (f->kind_case) {
    case ENCLAVED__SERVER_FRAME__KIND_RESPONSE:
        if (f->response->id != OPEN_REQUEST_ID || l->channel_open) {
            /* A protocol error (id 0) or something we never asked. */
            close_with_status(l, f->response->status, f->response->message);
        } else if (f->response->status != ENCLAVED__STATUS__OK ||
                   f->response->result_case != ENCLAVED__RESPONSE__RESULT_CHANNEL_OPENED) {
            close_with_status(l, f->response->status != ENCLAVED__STATUS__OK
                                     ? f->response->status
                                     : ENCLAVED__STATUS__INTERNAL,
                              f->response->message);
        } else {
            l->channel_id = f->response->channel_opened->channel_id;
            l->channel_open = 1;
            while ((m = queue_pop(&l->early)) != NULL) {
                int rc = send_channel_data(l, m->buf + LWS_PRE, m->len);
                free(m);
                if (rc != 0) {
                    close_ws(l, LWS_CLOSE_STATUS_POLICY_VIOLATION, "gateway buffer full");
                    close_up(l);
                    break;
                }
            }
        }
        break;
    case ENCLAVED__SERVER_FRAME__KIND_CHANNEL_DATA:
        if (!l->channel_open || f->channel_data->channel_id != l->channel_id ||
            l->ws == NULL || l->ws_close_code != 0) {
            break;
        }
        m = l->to_ws.bytes + f->channel_data->data.len <= opts.max_queued
                ? msg_new(f->channel_data->data.data, f->channel_data->data.len)
                : NULL;
        if (m == NULL) {
            close_ws(l, LWS_CLOSE_STATUS_POLICY_VIOLATION, "gateway buffer full");
            close_up(l);
            break;
        }
        queue_push(&l->to_ws, m);
        lws_callback_on_writable(l->ws);
        break;
    case ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED:
        if (l->channel_open && f->channel_closed->channel_id == l->channel_id) {
            close_with_status(l, f->channel_closed->status, f->channel_closed->reason);
        }
        break;
    default:
        break;
    }
    enclaved__server_frame__free_unpacked(f, NULL);
}

/* Bytes from enclaved: split into frames. */
static int on_up_bytes(struct link *l, const uint8_t *data, size_t len)
{
    uint32_t max_frame = (uint32_t)(opts.max_message + 4096);
    size_t off = 0;

    if (l->in_len + len > l->in_cap) {
        size_t cap = l->in_len + len;
        uint8_t *grown = realloc(l->in, cap);
        if (grown == NULL) {
            return -1;
        }
        l->in = grown;
        l->in_cap = cap;
    }
    memcpy(l->in + l->in_len, data, len);
    l->in_len += len;
    for (;;) {
        uint32_t body = 0;
        enum frame_result r = frame_next(l->in + off, l->in_len - off, max_frame, &body);

        if (r == FRAME_NEED_MORE) {
            break;
        }
        if (r != FRAME_READY) {
            close_ws(l, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "bad frame from enclaved");
            return -1;
        }
        on_server_frame(l, l->in + off + FRAME_HEADER_LEN, body);
        off += FRAME_HEADER_LEN + body;
    }
    memmove(l->in, l->in + off, l->in_len - off);
    l->in_len -= off;
    return 0;
}

/* The code hash from the path "/HEX" or the query "code_hash=HEX". */
static int parse_target(struct lws *wsi, uint8_t out[HASH_LEN])
{
    char uri[256] = "", arg[128] = "";
    const char *hex = NULL;

    if (lws_get_urlarg_by_name(wsi, "code_hash=", arg, sizeof(arg)) != NULL) {
        hex = arg;
    } else if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0 && uri[0] == '/') {
        hex = uri + 1;
    }
    if (hex == NULL || strlen(hex) != 2 * HASH_LEN) {
        return -1;
    }
    for (size_t i = 0; i < 2 * HASH_LEN; i++) {
        /* Exactly hex digits: sscanf would also take signs, spaces and "0x". */
        if (!isxdigit((unsigned char)hex[i])) {
            return -1;
        }
    }
    for (size_t i = 0; i < HASH_LEN; i++) {
        unsigned v = 0;
        (void)sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* ====================================================================}
 * {====================================================================
 * libwebsockets callbacks */

static int open_up(struct lws *ws, struct link *l)
{
    struct lws_client_connect_info ci;

    memset(&ci, 0, sizeof(ci));
    ci.context = lws_get_context(ws);
    ci.address = opts.upstream_host;
    ci.port = opts.upstream_port;
    ci.host = opts.upstream_host;
    ci.method = "RAW";
    ci.local_protocol_name = "enclaved-raw";
    ci.opaque_user_data = l;
    ci.pwsi = &l->up;
    return lws_client_connect_via_info(&ci) == NULL ? -1 : 0;
}

static int write_ws(struct link *l)
{
    struct msg *m = queue_pop(&l->to_ws);

    if (m != NULL) {
        int n = lws_write(l->ws, m->buf + LWS_PRE, m->len, LWS_WRITE_BINARY);
        free(m);
        if (n < 0) {
            return -1;
        }
        if (l->to_ws.head != NULL || l->ws_close_code != 0) {
            lws_callback_on_writable(l->ws);
        }
        return 0;
    }
    if (l->ws_close_code != 0) {
        lws_close_reason(l->ws, (enum lws_close_status)l->ws_close_code,
                         (unsigned char *)l->ws_close_reason, strlen(l->ws_close_reason));
        return -1;
    }
    return 0;
}

static int callback_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct link **slot = user;
    struct link *l = slot != NULL ? *slot : NULL;

    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        l = calloc(1, sizeof(*l));
        if (l == NULL) {
            return -1;
        }
        *slot = l;
        l->ws = wsi;
        if (parse_target(wsi, l->code_hash) != 0) {
            close_ws(l, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                     "give the code hash: ws://HOST:PORT/<64 hex digits>");
            return 0;
        }
        if (open_up(wsi, l) != 0) {
            close_ws(l, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "enclaved unreachable");
        }
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (l == NULL || l->ws_close_code != 0) {
            return 0;
        }
        if (!lws_frame_is_binary(wsi)) {
            close_ws(l, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary messages only");
            close_up(l);
            return 0;
        }
        if (l->rx_len + len > opts.max_message) {
            close_ws(l, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
            close_up(l);
            return 0;
        }
        if (len > 0) {
            uint8_t *grown = realloc(l->rx, l->rx_len + len);
            if (grown == NULL) {
                return -1;
            }
            l->rx = grown;
            memcpy(l->rx + l->rx_len, in, len);
            l->rx_len += len;
        }
        if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
            on_ws_message(l, l->rx, l->rx_len);
            l->rx_len = 0;
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return l != NULL ? write_ws(l) : 0;
    case LWS_CALLBACK_CLOSED:
        if (l != NULL) {
            l->ws = NULL;
            *slot = NULL;
            close_up(l);
            link_free_if_done(l);
        }
        return 0;
    default:
        return 0;
    }
}

static int callback_up(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct link *l = lws_get_opaque_user_data(wsi);
    struct msg *m;

    (void)user;
    if (l == NULL) {
        return 0;
    }
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        l->up = NULL;
        close_ws(l, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "enclaved unreachable");
        link_free_if_done(l);
        return 0;
    case LWS_CALLBACK_RAW_CONNECTED:
        if (l->up_closing) {
            return -1;
        }
        if (send_channel_open(l) != 0) {
            close_ws(l, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "gateway out of memory");
            return -1;
        }
        return 0;
    case LWS_CALLBACK_RAW_RX:
        return l->up_closing ? -1 : on_up_bytes(l, in, len);
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (l->up_closing) {
            return -1;
        }
        m = queue_pop(&l->to_up);
        if (m != NULL) {
            int n = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_RAW);
            free(m);
            if (n < 0) {
                return -1;
            }
            if (l->to_up.head != NULL) {
                lws_callback_on_writable(wsi);
            }
        }
        return 0;
    case LWS_CALLBACK_RAW_CLOSE:
        l->up = NULL;
        lws_set_opaque_user_data(wsi, NULL);
        close_ws(l, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "enclaved connection lost");
        link_free_if_done(l);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    /* The first protocol serves WebSockets that name no subprotocol. */
    {"enclave", callback_ws, sizeof(struct link *), 65536, 0, NULL, 0},
    {"enclaved-raw", callback_up, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ====================================================================}
 * Main */

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
    if (context != NULL) {
        lws_cancel_service(context);
    }
}

static int parse_host_port(const char *arg, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(arg, ':');
    char *end;
    long p;

    if (colon == NULL || (size_t)(colon - arg) >= cap || colon == arg) {
        return -1;
    }
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || p < 0 || p > 65535) {
        return -1;
    }
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    *port = (int)p;
    return 0;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: enclave-gateway [--listen HOST:PORT] [--enclaved HOST:PORT]\n"
            "                       [--max-message BYTES]\n"
            "  --listen HOST:PORT     WebSocket address (default 127.0.0.1:7490; port 0: any)\n"
            "  --enclaved HOST:PORT   the enclaved to relay to (default 127.0.0.1:7480)\n"
            "  --max-message BYTES    largest WebSocket message (default 1048576)\n"
            "Clients connect to ws://HOST:PORT/CODE_HASH_HEX; each WebSocket is one\n"
            "CLIENT_NK channel. Prints 'enclave-gateway: listening on HOST:PORT' when ready.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"enclaved", required_argument, NULL, 'e'},
        {"max-message", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char listen_host[256] = "127.0.0.1";
    struct lws_context_creation_info info;
    struct lws_vhost *vh;
    int c;

    opts.listen_host = listen_host;
    opts.listen_port = 7490;
    snprintf(opts.upstream_host, sizeof(opts.upstream_host), "127.0.0.1");
    opts.upstream_port = 7480;
    opts.max_message = DEFAULT_MAX_MESSAGE;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end;
        unsigned long long v;

        switch (c) {
        case 'l':
            if (parse_host_port(optarg, listen_host, sizeof(listen_host), &opts.listen_port) != 0) {
                fprintf(stderr, "enclave-gateway: bad --listen '%s'\n", optarg);
                return 2;
            }
            break;
        case 'e':
            if (parse_host_port(optarg, opts.upstream_host, sizeof(opts.upstream_host),
                                &opts.upstream_port) != 0 ||
                opts.upstream_port == 0) {
                fprintf(stderr, "enclave-gateway: bad --enclaved '%s'\n", optarg);
                return 2;
            }
            break;
        case 'm':
            errno = 0;
            v = strtoull(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || v < 64 || v > (64ull << 20)) {
                fprintf(stderr, "enclave-gateway: --max-message must be 64 .. 67108864\n");
                return 2;
            }
            opts.max_message = (size_t)v;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    /* Room for a full message in flight each way, plus what queues behind it. */
    opts.max_queued = 4 * (opts.max_message + 4096);

    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.port = opts.listen_port;
    info.iface = opts.listen_host;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    /* Headroom for the largest WebSocket message lws reassembles for us. */
    info.pt_serv_buf_size = 65536;
    context = lws_create_context(&info);
    if (context == NULL) {
        fprintf(stderr, "enclave-gateway: cannot listen on %s:%d\n", listen_host, opts.listen_port);
        return 1;
    }
    vh = lws_get_vhost_by_name(context, "default");
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("enclave-gateway: listening on %s:%d\n", listen_host,
           vh != NULL ? lws_get_vhost_listen_port(vh) : opts.listen_port);
    printf("enclave-gateway: relaying to enclaved at %s:%d\n", opts.upstream_host,
           opts.upstream_port);
    fflush(stdout);
    while (!stopping) {
        if (lws_service(context, 0) < 0) {
            break;
        }
    }
    lws_context_destroy(context);
    return 0;
}
