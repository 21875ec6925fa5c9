/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lib/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wire/frame.h"

struct queued {
    Enclaved__ServerFrame *frame;
    struct queued *next;
};

struct client {
    int fd;
    int timeout_ms;
    uint64_t next_id;
    struct queued *head, *tail;
    uint8_t *rbuf;        /* bytes read but not yet parsed */
    size_t rlen, rcap;
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = now_ms();

    return now >= deadline ? 0 : (int)(deadline - now);
}

status_t client_connect(const char *host, uint16_t port, int timeout_ms, struct client **out)
{
    struct sockaddr_in addr;
    struct pollfd pfd;
    struct client *c;
    int one = 1;
    int err = 0;
    socklen_t err_len = sizeof(err);
    int fd;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (strcmp(host, "localhost") == 0) {
        host = "127.0.0.1";
    }
    ENSURE(inet_pton(AF_INET, host, &addr.sin_addr) == 1, STATUS_INVALID_ARGUMENT,
           "host must be a dotted IPv4 address");
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ENSURE(fd >= 0, STATUS_UNAVAILABLE, "cannot create a socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 && errno != EINPROGRESS) {
        close(fd);
        FAIL(STATUS_UNAVAILABLE, "connection refused");
    }
    pfd.fd = fd;
    pfd.events = POLLOUT;
    if (poll(&pfd, 1, timeout_ms) != 1) {
        close(fd);
        FAIL(STATUS_DEADLINE_EXCEEDED, "connect timed out");
    }
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
    if (err != 0) {
        close(fd);
        FAIL(STATUS_UNAVAILABLE, "connection refused");
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    c->next_id = 1;
    *out = c;
    return STATUS_OK;
}

void client_frame_free(Enclaved__ServerFrame *f)
{
    if (f != NULL) {
        enclaved__server_frame__free_unpacked(f, NULL);
    }
}

void client_free(struct client *c)
{
    if (c == NULL) {
        return;
    }
    while (c->head != NULL) {
        struct queued *q = c->head;
        c->head = q->next;
        client_frame_free(q->frame);
        free(q);
    }
    close(c->fd);
    free(c->rbuf);
    free(c);
}

int client_fd(const struct client *c)
{
    return c->fd;
}

void client_set_timeout(struct client *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms;
}

int client_get_timeout(const struct client *c)
{
    return c->timeout_ms;
}

status_t client_send_raw(struct client *c, const uint8_t *data, size_t len)
{
    uint64_t deadline = now_ms() + (uint64_t)c->timeout_ms;

    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            struct pollfd pfd = {c->fd, POLLOUT, 0};
            ENSURE(poll(&pfd, 1, remaining_ms(deadline)) == 1, STATUS_DEADLINE_EXCEEDED,
                   "send timed out");
            continue;
        }
        ENSURE(n > 0, STATUS_UNAVAILABLE, "connection lost while sending");
        data += n;
        len -= (size_t)n;
    }
    return STATUS_OK;
}

static status_t send_frame(struct client *c, const Enclaved__ClientFrame *f)
{
    size_t n = enclaved__client_frame__get_packed_size(f);
    uint8_t stack[4096];
    uint8_t *buf = n + FRAME_HEADER_LEN <= sizeof(stack) ? stack : malloc(n + FRAME_HEADER_LEN);
    status_t s;

    ENSURE(buf != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
    frame_write_length(buf, (uint32_t)n);
    enclaved__client_frame__pack(f, buf + FRAME_HEADER_LEN);
    s = client_send_raw(c, buf, n + FRAME_HEADER_LEN);
    if (buf != stack) {
        free(buf);
    }
    return s;
}

status_t client_read_frame(struct client *c, int timeout_ms, Enclaved__ServerFrame **out)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

    for (;;) {
        uint32_t n = 0;
        enum frame_result r = frame_next(c->rbuf, c->rlen, CLIENT_MAX_FRAME, &n);

        if (r == FRAME_READY) {
            Enclaved__ServerFrame *f =
                enclaved__server_frame__unpack(NULL, n, c->rbuf + FRAME_HEADER_LEN);
            memmove(c->rbuf, c->rbuf + FRAME_HEADER_LEN + n, c->rlen - FRAME_HEADER_LEN - n);
            c->rlen -= FRAME_HEADER_LEN + n;
            ENSURE(f != NULL, STATUS_DATA_LOSS, "malformed ServerFrame");
            *out = f;
            return STATUS_OK;
        }
        ENSURE(r == FRAME_NEED_MORE, STATUS_DATA_LOSS, "bad frame length from server");
        if (c->rcap - c->rlen < 65536) {
            size_t cap = c->rcap ? c->rcap * 2 : 131072;
            uint8_t *grown = realloc(c->rbuf, cap);
            ENSURE(grown != NULL, STATUS_RESOURCE_EXHAUSTED, "out of memory");
            c->rbuf = grown;
            c->rcap = cap;
        }
        struct pollfd pfd = {c->fd, POLLIN, 0};
        int ready = poll(&pfd, 1, remaining_ms(deadline));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        ENSURE(ready == 1, STATUS_DEADLINE_EXCEEDED, "timed out waiting for the server");
        ssize_t got = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        ENSURE(got > 0, STATUS_UNAVAILABLE, "connection closed by the server");
        c->rlen += (size_t)got;
    }
}

int client_wait_closed(struct client *c, int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    uint8_t buf[4096];

    for (;;) {
        struct pollfd pfd = {c->fd, POLLIN, 0};
        if (poll(&pfd, 1, remaining_ms(deadline)) != 1) {
            return 0;
        }
        ssize_t got = recv(c->fd, buf, sizeof(buf), 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
            return 1;
        }
    }
}

static status_t enqueue(struct client *c, Enclaved__ServerFrame *f)
{
    struct queued *q = malloc(sizeof(*q));

    if (q == NULL) {
        client_frame_free(f);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    q->frame = f;
    q->next = NULL;
    if (c->tail != NULL) {
        c->tail->next = q;
    } else {
        c->head = q;
    }
    c->tail = q;
    return STATUS_OK;
}

/* Removes and returns the first queued frame accepted by match, or NULL. */
static Enclaved__ServerFrame *dequeue_match(struct client *c,
                                            int (*match)(const Enclaved__ServerFrame *, uint64_t),
                                            uint64_t key)
{
    struct queued *prev = NULL;

    for (struct queued *q = c->head; q != NULL; prev = q, q = q->next) {
        if (match(q->frame, key)) {
            Enclaved__ServerFrame *f = q->frame;
            if (prev != NULL) {
                prev->next = q->next;
            } else {
                c->head = q->next;
            }
            if (c->tail == q) {
                c->tail = prev;
            }
            free(q);
            return f;
        }
    }
    return NULL;
}

/* Waits for a frame accepted by match, queueing the others. */
static status_t wait_for(struct client *c, int timeout_ms,
                         int (*match)(const Enclaved__ServerFrame *, uint64_t), uint64_t key,
                         Enclaved__ServerFrame **out)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    Enclaved__ServerFrame *f = dequeue_match(c, match, key);

    while (f == NULL) {
        TRY(client_read_frame(c, remaining_ms(deadline), &f));
        if (!match(f, key)) {
            TRY(enqueue(c, f));
            f = NULL;
        }
    }
    *out = f;
    return STATUS_OK;
}

static int match_response(const Enclaved__ServerFrame *f, uint64_t id)
{
    return f->kind_case == ENCLAVED__SERVER_FRAME__KIND_RESPONSE && f->response->id == id;
}

static int match_any(const Enclaved__ServerFrame *f, uint64_t unused)
{
    (void)f;
    (void)unused;
    return 1;
}

static uint32_t event_channel(const Enclaved__ServerFrame *f)
{
    if (f->kind_case == ENCLAVED__SERVER_FRAME__KIND_CHANNEL_DATA) {
        return f->channel_data->channel_id;
    }
    if (f->kind_case == ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED) {
        return f->channel_closed->channel_id;
    }
    return 0;
}

static int match_channel(const Enclaved__ServerFrame *f, uint64_t channel_id)
{
    return f->kind_case != ENCLAVED__SERVER_FRAME__KIND_RESPONSE && event_channel(f) == channel_id;
}

static int match_channel_closed(const Enclaved__ServerFrame *f, uint64_t channel_id)
{
    return f->kind_case == ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED &&
           f->channel_closed->channel_id == channel_id;
}

status_t client_call(struct client *c, Enclaved__Request *req, Enclaved__ServerFrame **out)
{
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;

    req->id = c->next_id++;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_REQUEST;
    f.request = req;
    TRY(send_frame(c, &f));
    return wait_for(c, c->timeout_ms, match_response, req->id, out);
}

status_t client_next_event(struct client *c, int timeout_ms, Enclaved__ServerFrame **out)
{
    return wait_for(c, timeout_ms, match_any, 0, out);
}

status_t client_send_data(struct client *c, uint32_t channel_id, const uint8_t *data, size_t len)
{
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__ChannelData d = ENCLAVED__CHANNEL_DATA__INIT;

    d.channel_id = channel_id;
    d.data.data = (uint8_t *)data;
    d.data.len = len;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_DATA;
    f.channel_data = &d;
    return send_frame(c, &f);
}

status_t client_send_close(struct client *c, uint32_t channel_id)
{
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    Enclaved__ChannelClose d = ENCLAVED__CHANNEL_CLOSE__INIT;

    d.channel_id = channel_id;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_CHANNEL_CLOSE;
    f.channel_close = &d;
    return send_frame(c, &f);
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    if (dst != NULL && cap > 0) {
        snprintf(dst, cap, "%s", src != NULL ? src : "");
    }
}

/* Runs req and returns its Response status; *out keeps the frame if wanted. */
static status_t call_status(struct client *c, Enclaved__Request *req, char *message,
                            size_t message_cap, Enclaved__ServerFrame **out)
{
    Enclaved__ServerFrame *f = NULL;
    status_t s;

    TRY(client_call(c, req, &f));
    s = (status_t)f->response->status;
    copy_text(message, message_cap, f->response->message);
    if (out != NULL && s == STATUS_OK) {
        *out = f;
    } else {
        client_frame_free(f);
    }
    return s;
}

status_t client_ping(struct client *c)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__Ping ping = ENCLAVED__PING__INIT;

    req.body_case = ENCLAVED__REQUEST__BODY_PING;
    req.ping = &ping;
    return call_status(c, &req, NULL, 0, NULL);
}

status_t client_get_info(struct client *c, Enclaved__ServerFrame **out)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__GetInfo body = ENCLAVED__GET_INFO__INIT;

    req.body_case = ENCLAVED__REQUEST__BODY_GET_INFO;
    req.get_info = &body;
    return call_status(c, &req, NULL, 0, out);
}

status_t client_process_create(struct client *c, const char *name, const uint8_t *source,
                               size_t len, uint64_t memory_limit, uint32_t *process_id,
                               uint8_t code_hash[32], char *message, size_t message_cap)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ProcessCreate body = ENCLAVED__PROCESS_CREATE__INIT;
    Enclaved__ServerFrame *f = NULL;
    status_t s;

    body.lua_source.data = (uint8_t *)source;
    body.lua_source.len = len;
    body.name = (char *)name;
    body.memory_limit = memory_limit;
    req.body_case = ENCLAVED__REQUEST__BODY_PROCESS_CREATE;
    req.process_create = &body;
    s = call_status(c, &req, message, message_cap, &f);
    if (s != STATUS_OK) {
        return s;
    }
    if (f->response->result_case != ENCLAVED__RESPONSE__RESULT_PROCESS_CREATED ||
        f->response->process_created->code_hash.len != 32) {
        client_frame_free(f);
        FAIL(STATUS_DATA_LOSS, "bad ProcessCreate result");
    }
    if (process_id != NULL) {
        *process_id = f->response->process_created->process_id;
    }
    if (code_hash != NULL) {
        memcpy(code_hash, f->response->process_created->code_hash.data, 32);
    }
    client_frame_free(f);
    return STATUS_OK;
}

status_t client_channel_open(struct client *c, uint32_t process_id, const uint8_t *code_hash,
                             Enclaved__ChannelType type, uint32_t *channel_id, char *message,
                             size_t message_cap)
{
    Enclaved__Request req = ENCLAVED__REQUEST__INIT;
    Enclaved__ChannelOpen body = ENCLAVED__CHANNEL_OPEN__INIT;
    Enclaved__ServerFrame *f = NULL;
    status_t s;

    if (code_hash != NULL) {
        body.target_case = ENCLAVED__CHANNEL_OPEN__TARGET_CODE_HASH;
        body.code_hash.data = (uint8_t *)code_hash;
        body.code_hash.len = 32;
    } else {
        body.target_case = ENCLAVED__CHANNEL_OPEN__TARGET_PROCESS_ID;
        body.process_id = process_id;
    }
    body.type = type;
    req.body_case = ENCLAVED__REQUEST__BODY_CHANNEL_OPEN;
    req.channel_open = &body;
    s = call_status(c, &req, message, message_cap, &f);
    if (s != STATUS_OK) {
        return s;
    }
    if (f->response->result_case != ENCLAVED__RESPONSE__RESULT_CHANNEL_OPENED) {
        client_frame_free(f);
        FAIL(STATUS_DATA_LOSS, "bad ChannelOpen result");
    }
    *channel_id = f->response->channel_opened->channel_id;
    client_frame_free(f);
    return STATUS_OK;
}

status_t client_channel_recv(struct client *c, uint32_t channel_id, int timeout_ms,
                             uint8_t **data, size_t *len, char *reason, size_t reason_cap)
{
    Enclaved__ServerFrame *f = NULL;
    status_t s;

    TRY(wait_for(c, timeout_ms, match_channel, channel_id, &f));
    if (f->kind_case == ENCLAVED__SERVER_FRAME__KIND_CHANNEL_CLOSED) {
        s = (status_t)f->channel_closed->status;
        copy_text(reason, reason_cap, f->channel_closed->reason);
        client_frame_free(f);
        /* A close with OK still means no data came: report it as CANCELLED. */
        return s == STATUS_OK ? STATUS_CANCELLED : s;
    }
    *len = f->channel_data->data.len;
    *data = malloc(*len + 1);
    if (*data == NULL) {
        client_frame_free(f);
        FAIL(STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    /* protobuf-c leaves data NULL for an empty message; memcpy may not see NULL. */
    if (*len > 0) {
        memcpy(*data, f->channel_data->data.data, *len);
    }
    (*data)[*len] = 0;
    client_frame_free(f);
    return STATUS_OK;
}

status_t client_channel_wait_closed(struct client *c, uint32_t channel_id, int timeout_ms,
                                    status_t *status, char *reason, size_t reason_cap)
{
    Enclaved__ServerFrame *f = NULL;

    TRY(wait_for(c, timeout_ms, match_channel_closed, channel_id, &f));
    *status = (status_t)f->channel_closed->status;
    copy_text(reason, reason_cap, f->channel_closed->reason);
    client_frame_free(f);
    return STATUS_OK;
}
