/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The libuv driver. libuv's rules, made explicit: the uv_tcp_t is embedded in
 * struct conn, which is freed only in the close callback; bytes handed to
 * uv_write belong to the write request (conn->wbuf) until its callback;
 * closing is one idempotent call (close_conn).
 *
 * Writes: after each input the session's whole output is tried with one
 * uv_try_write; only what the kernel did not take is copied to wbuf and
 * queued. Large channel output to the last frame of a read is written by
 * the session itself while the input is handled (write_now: the buffered
 * output, the frame's header and its payload in one uv_try_write). Sessions that other sessions wrote to (a Lua broadcast) are put on
 * the dirty list (io_common.h) and flushed before the callback returns to
 * the loop; a conn leaves the list when it closes, and is freed only later,
 * in its close callback.
 */
#include "io/io.h"
#include "io/io_common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <uv.h>

#include "base/log.h"
#include "core/peer.h"
#include "platform/platform.h"

struct uv_server;

struct conn {
    uv_tcp_t tcp;
    struct uv_server *srv;
    struct io_conn base;       /* base.session is NULL once closing */
    uv_write_t wreq;
    uint8_t *wbuf;             /* owned by wreq while writing */
    size_t wcap;
    int writing;
    int reading;
    int closing;
    LIST_ENTRY(conn) link;     /* srv->conns while it has a session */
    /* A peer link's outbound connection: its connect request and link. */
    uv_connect_t creq;
    uint32_t link_id;
};

struct uv_server {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_timer_t timer;
    uv_timer_t grace;
    struct core *core;
    struct io_loop io;
    LIST_HEAD(, conn) conns;   /* every conn with a session */
    size_t conn_count;
    int shutting_down;
    struct peer_dialer dialer;
};

static uint8_t read_buffer[IO_READ_CHUNK];

static void flush_conn(struct conn *c);
static void on_timer(uv_timer_t *t);

static void on_close(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;
    struct uv_server *srv = c->srv;

    free(c->wbuf);
    free(c);
    srv->conn_count--;
    if (srv->shutting_down && srv->conn_count == 0 && !uv_is_closing((uv_handle_t *)&srv->grace)) {
        uv_close((uv_handle_t *)&srv->grace, NULL);
    }
}

static void close_conn(struct conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = 1;
    if (c->base.session != NULL) {
        LIST_REMOVE(c, link);
    }
    /* May write to other sessions (HandleChannelClose outputs): they land on
     * the dirty list, flushed by the caller. */
    io_conn_close(&c->base);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* io_loop's flush: a conn that another conn's input gave output. */
static void flush_dirty_conn(struct io_conn *ic)
{
    flush_conn(IO_CONTAINER_OF(ic, struct conn, base));
}

static void flush_dirty(struct uv_server *srv)
{
    io_loop_flush_dirty(&srv->io);
}

static void rearm_timer(struct uv_server *srv)
{
    int64_t due = core_next_timeout_ms(srv->core, platform_monotonic_ms());

    if (due < 0 || srv->shutting_down) {
        uv_timer_stop(&srv->timer);
        return;
    }
    uv_timer_start(&srv->timer, on_timer, (uint64_t)due, 0);
}

/* Every callback that entered the core ends here. */
static void after_core(struct uv_server *srv)
{
    flush_dirty(srv);
    rearm_timer(srv);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    /* The core consumes or copies every byte before on_read returns. */
    buf->base = (char *)read_buffer;
    buf->len = sizeof(read_buffer);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = (struct conn *)stream;

    /* Each libuv callback that enters the core starts a fresh trail. */
    status_trail_reset();
    if (nread < 0) {
        if (nread != UV_EOF) {
            LOG_D("connection read error: %s", uv_strerror((int)nread));
        }
        close_conn(c);
        after_core(c->srv);
        return;
    }
    if (nread > 0 && c->base.session != NULL) {
        session_feed(c->base.session, (const uint8_t *)buf->base, (size_t)nread);
        flush_conn(c);
    }
    after_core(c->srv);
}

static void update_reading(struct conn *c)
{
    int want = c->base.session != NULL && session_wants_read(c->base.session);

    if (want && !c->reading) {
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;

    status_trail_reset();
    c->writing = 0;
    if (status < 0) {
        LOG_D("connection write error: %s", uv_strerror(status));
        close_conn(c);
    } else if (c->base.session != NULL) {
        /* flush_conn also takes any input parked while this write was out. */
        flush_conn(c);
    }
    after_core(c->srv);
}

/* Writes the session's output: one uv_try_write, and whatever the kernel did
 * not take is copied to wbuf and queued. Returns -1 if it closed the conn. */
static int write_output(struct conn *c)
{
    const uint8_t *data;
    size_t len;

    session_output(c->base.session, &data, &len);
    if (len > 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);

        if (n == UV_EAGAIN) {
            n = 0;
        }
        if (n < 0) {
            close_conn(c);
            return -1;
        }
        session_consume_output(c->base.session, (size_t)n);
        len -= (size_t)n;
        data += n;
    }
    if (len > 0) {
        if (c->wcap < len) {
            uint8_t *grown = realloc(c->wbuf, len);
            if (grown == NULL) {
                LOG_W("out of memory for a write; dropping the connection");
                close_conn(c);
                return -1;
            }
            c->wbuf = grown;
            c->wcap = len;
        }
        memcpy(c->wbuf, data, len);
        session_consume_output(c->base.session, len);
        uv_buf_t b = uv_buf_init((char *)c->wbuf, (unsigned)len);
        c->wreq.data = c;
        if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
            close_conn(c);
            return -1;
        }
        c->writing = 1;
    }
    return 0;
}

/* The session's write while its input is handled (session_set_writer):
 * one uv_try_write of every span, refused while a uv_write is out. */
static ssize_t write_now(void *io_handle, const struct iovec *iov, int n)
{
    struct conn *c = IO_CONTAINER_OF(io_handle, struct conn, base);
    uv_buf_t b[4];
    int i, r;

    if (c->closing || c->writing || n < 1 || n > (int)(sizeof(b) / sizeof(b[0]))) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        b[i] = uv_buf_init(iov[i].iov_base, (unsigned)iov[i].iov_len);
    }
    r = uv_try_write((uv_stream_t *)&c->tcp, b, (unsigned)n);
    if (r == UV_EAGAIN) {
        return 0;
    }
    return r < 0 ? -1 : r;
}

static void flush_conn(struct conn *c)
{
    if (c->closing || c->base.session == NULL) {
        return;
    }
    if (session_is_dead(c->base.session)) {
        /* Dropped (e.g. too much unsent output): do not wait for a write that
         * may never finish; uv_close cancels it. */
        close_conn(c);
        return;
    }
    while (!c->writing) {
        const uint8_t *data;
        size_t len;

        if (write_output(c) != 0) {
            return;
        }
        if (c->writing) {
            break;
        }
        /* All output is out. Input that backpressure parked must be handled
         * now: the client may be waiting for its answers and send nothing. */
        session_resume(c->base.session);
        session_output(c->base.session, &data, &len);
        if (len == 0) {
            break;
        }
    }
    if (!c->writing && session_should_close(c->base.session)) {
        close_conn(c);
        return;
    }
    update_reading(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct uv_server *srv = listener->data;
    uint8_t refusal[128];
    size_t refusal_len = 0;
    struct conn *c;

    if (status < 0) {
        LOG_W("accept failed: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        LOG_W("out of memory accepting a connection");
        return;
    }
    c->srv = srv;
    uv_tcp_init(&srv->loop, &c->tcp);
    srv->conn_count++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int ss_len = sizeof(ss);
    char peer[SESSION_PEER_CAP] = "?:0";
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &ss_len) == 0) {
        io_format_peer(&ss, peer, sizeof(peer));
    }
    if (io_conn_open(&srv->io, &c->base, peer, refusal, sizeof(refusal), &refusal_len) !=
        STATUS_OK) {
        uv_buf_t b = uv_buf_init((char *)refusal, (unsigned)refusal_len);

        /* Best effort: a fresh socket's send buffer takes one small frame. */
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    LIST_INSERT_HEAD(&srv->conns, c, link);
    update_reading(c);
}

/* Peer links (core/peer.h): outbound conns, dialled for the core. */
static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    struct uv_server *srv = c->srv;

    status_trail_reset();
    if (c->closing) {
        /* Cancelled: the link let go of this dial already. */
        return;
    }
    if (status < 0) {
        char reason[PEER_ERROR_MAX];

        snprintf(reason, sizeof(reason), "connect failed: %s", uv_strerror(status));
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        peer_link_failed(srv->core->peers, c->link_id, reason);
        after_core(srv);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (io_conn_open_peer(&srv->io, &c->base, c->link_id) != STATUS_OK) {
        struct status_report r;

        status_trail_take(&r);
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        peer_link_failed(srv->core->peers, c->link_id, r.message);
        after_core(srv);
        return;
    }
    LIST_INSERT_HEAD(&srv->conns, c, link);
    flush_conn(c);
    after_core(srv);
}

static void *dial(void *ctx, uint32_t link_id, const char *host, uint16_t port)
{
    struct uv_server *srv = ctx;
    struct sockaddr_in addr;
    struct conn *c;

    if (srv->shutting_down || uv_ip4_addr(host, port, &addr) != 0) {
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->srv = srv;
    c->link_id = link_id;
    uv_tcp_init(&srv->loop, &c->tcp);
    srv->conn_count++;
    c->creq.data = c;
    if (uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&addr, on_connect) != 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return NULL;
    }
    return c;
}

static void cancel_dial(void *ctx, void *handle)
{
    struct conn *c = handle;

    (void)ctx;
    if (c->closing) {
        return;
    }
    /* uv_close makes the pending connect call back with UV_ECANCELED,
     * which on_connect ignores since the conn is closing. */
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_grace_expired(uv_timer_t *t)
{
    struct uv_server *srv = t->data;

    LOG_W("shutdown grace period over; closing the remaining connections");
    status_trail_reset();
    while (!LIST_EMPTY(&srv->conns)) {
        close_conn(LIST_FIRST(&srv->conns));
    }
    flush_dirty(srv);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct uv_server *srv = sig->data;
    struct conn *c, *next;

    LOG_I("signal %d: shutting down", signum);
    status_trail_reset();
    srv->shutting_down = 1;
    /* Links end first: dials are cancelled and their conns hung up. */
    peer_stop_all(srv->core->peers);
    uv_close((uv_handle_t *)&srv->listener, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->timer, NULL);
    /* Every conn flushes what it has and closes once it is written. */
    LIST_FOREACH(c, &srv->conns, link) {
        session_shutdown(c->base.session);
    }
    for (c = LIST_FIRST(&srv->conns); c != NULL; c = next) {
        next = LIST_NEXT(c, link);
        flush_conn(c);
    }
    if (srv->conn_count == 0) {
        uv_close((uv_handle_t *)&srv->grace, NULL);
    } else {
        uv_timer_start(&srv->grace, on_grace_expired, IO_SHUTDOWN_GRACE_MS, 0);
    }
    flush_dirty(srv);
}

static void on_timer(uv_timer_t *t)
{
    struct uv_server *srv = t->data;

    status_trail_reset();
    core_run_timers(srv->core, platform_monotonic_ms());
    after_core(srv);
}

static int start_listening(struct uv_server *srv, const struct config *cfg)
{
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    char host[64];
    int err;

    err = uv_ip4_addr(cfg->listen_host, cfg->listen_port, &addr);
    if (err == 0) {
        err = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
    }
    if (err == 0) {
        err = uv_listen((uv_stream_t *)&srv->listener, IO_LISTEN_BACKLOG, on_connection);
    }
    if (err != 0) {
        LOG_E("cannot listen on %s:%u: %s", cfg->listen_host, cfg->listen_port, uv_strerror(err));
        return -1;
    }
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &len);
    uv_ip4_name((struct sockaddr_in *)&bound, host, sizeof(host));
    fprintf(stderr, "enclaved: listening on %s:%u\n", host,
            ntohs(((struct sockaddr_in *)&bound)->sin_port));
    fflush(stderr);
    return 0;
}

int io_uv_run(struct core *core)
{
    struct uv_server srv;
    int rc = 1;

    memset(&srv, 0, sizeof(srv));
    srv.core = core;
    io_loop_init(&srv.io, core, flush_dirty_conn);
    srv.io.write_now = write_now;
    LIST_INIT(&srv.conns);
    uv_loop_init(&srv.loop);
    uv_tcp_init(&srv.loop, &srv.listener);
    srv.listener.data = &srv;
    uv_timer_init(&srv.loop, &srv.timer);
    srv.timer.data = &srv;
    uv_timer_init(&srv.loop, &srv.grace);
    srv.grace.data = &srv;
    uv_unref((uv_handle_t *)&srv.grace);
    uv_signal_init(&srv.loop, &srv.sigint);
    srv.sigint.data = &srv;
    uv_signal_init(&srv.loop, &srv.sigterm);
    srv.sigterm.data = &srv;
    srv.dialer.ctx = &srv;
    srv.dialer.dial = dial;
    srv.dialer.cancel = cancel_dial;
    peer_set_dialer(core->peers, &srv.dialer);
    if (start_listening(&srv, &core->config) == 0) {
        uv_signal_start(&srv.sigint, on_signal, SIGINT);
        uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
        rearm_timer(&srv);
        uv_run(&srv.loop, UV_RUN_DEFAULT);
        rc = 0;
    } else {
        uv_close((uv_handle_t *)&srv.listener, NULL);
        uv_close((uv_handle_t *)&srv.sigint, NULL);
        uv_close((uv_handle_t *)&srv.sigterm, NULL);
        uv_close((uv_handle_t *)&srv.timer, NULL);
        uv_close((uv_handle_t *)&srv.grace, NULL);
        uv_run(&srv.loop, UV_RUN_DEFAULT);
    }
    peer_set_dialer(core->peers, NULL);
    if (uv_loop_close(&srv.loop) != 0) {
        LOG_W("event loop closed with handles still open");
    }
    if (rc == 0) {
        LOG_I("stopped");
    }
    return rc;
}
