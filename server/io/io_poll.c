/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The poll() driver, for the CodeSafe SEE (DESIGN §9): sockets there are IPC
 * wrappers, so this file uses only socket, bind, listen, accept, read, write,
 * writev, setsockopt, getsockname, close, poll and plain fcntl, all on
 * Entrust's allow-list (/work/shared/codesafe). No epoll, eventfd, pipe2,
 * accept4 or sendmsg. writev serves the session's write_now: large channel
 * output goes out with its header without a copy of the payload. Signals only set a flag; poll wakes at
 * least every POLL_MAX_WAIT_MS so a signal that lands before poll is seen.
 *
 * Connections live in two parallel arrays (pollfd, conn) with the listener at
 * index 0. A closed conn is marked and removed at the end of the iteration,
 * after every session that others wrote to has been flushed (io_common.h):
 * every compact follows a flush of the dirty list, and a closed conn is off
 * that list, so compact never frees a conn the list can still reach.
 */
#include "io/io.h"
#include "io/io_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "core/peer.h"
#include "platform/platform.h"

enum { POLL_MAX_WAIT_MS = 500, ACCEPT_BACKOFF_MS = 100 };

struct pconn {
    struct io_conn base;       /* base.session: NULL while connecting and once closed */
    int fd;
    int alive;                 /* 0 once closed: compact() frees it */
    int connecting;            /* a peer link's connect is pending */
    uint32_t link_id;          /* the peer link an outbound conn is for */
    struct sockaddr_in peer_addr;
};

struct poll_server {
    struct io_loop loop;
    struct core *core;
    struct pollfd *fds;        /* fds[0] is the listener */
    struct pconn **conns;      /* conns[0] unused */
    size_t count;
    size_t cap;
    int shutting_down;
    uint64_t grace_deadline;
    uint64_t accept_resume_ms;  /* out of descriptors: leave the listener until then */
    int accept_starved;         /* logged once per episode */
    struct peer_dialer dialer;
};

static volatile sig_atomic_t stop_requested;
static uint8_t read_buffer[IO_READ_CHUNK];

static void on_signal(int signum)
{
    stop_requested = signum;
}

static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL, 0);

    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static void close_conn(struct pconn *c)
{
    if (!c->alive) {
        return;
    }
    c->alive = 0;
    c->connecting = 0;
    io_conn_close(&c->base);
    close(c->fd);
    c->fd = -1;
}

/* The session's write while its input is handled (session_set_writer). */
static ssize_t write_now(void *io_handle, const struct iovec *iov, int n)
{
    struct pconn *c = IO_CONTAINER_OF(io_handle, struct pconn, base);
    ssize_t r;

    if (!c->alive) {
        return -1;
    }
    do {
        r = writev(c->fd, iov, n);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
    return r;
}

static void flush_conn(struct pconn *c)
{
    const uint8_t *data;
    size_t len;

    if (c->base.session == NULL) {
        return;
    }
    session_output(c->base.session, &data, &len);
    while (len > 0) {
        ssize_t n = write(c->fd, data, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (n <= 0) {
            close_conn(c);
            return;
        }
        session_consume_output(c->base.session, (size_t)n);
        session_output(c->base.session, &data, &len);
        if (len == 0) {
            session_resume(c->base.session);
            session_output(c->base.session, &data, &len);
        }
    }
    if (session_should_close(c->base.session)) {
        close_conn(c);
    }
}

/* io_loop's flush: a conn that another conn's input gave output. */
static void flush_dirty_conn(struct io_conn *ic)
{
    flush_conn(IO_CONTAINER_OF(ic, struct pconn, base));
}

static void flush_dirty(struct poll_server *srv)
{
    io_loop_flush_dirty(&srv->loop);
}

static int grow(struct poll_server *srv)
{
    size_t cap = srv->cap ? srv->cap * 2 : 64;
    struct pollfd *fds = realloc(srv->fds, cap * sizeof(*fds));
    struct pconn **conns;

    if (fds == NULL) {
        return -1;
    }
    srv->fds = fds;
    conns = realloc(srv->conns, cap * sizeof(*conns));
    if (conns == NULL) {
        return -1;
    }
    srv->conns = conns;
    srv->cap = cap;
    return 0;
}

static void accept_all(struct poll_server *srv)
{
    for (;;) {
        int one = 1;
        struct pconn *c;
        uint8_t refusal[128];
        size_t refusal_len = 0;
        struct sockaddr_storage ss;
        socklen_t ss_len = sizeof(ss);
        char peer[SESSION_PEER_CAP];
        int fd = accept(srv->fds[0].fd, (struct sockaddr *)&ss, &ss_len);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The pending connection stays queued and poll would report
                 * it again at once: back off instead of spinning. */
                if (!srv->accept_starved) {
                    LOG_W("accept failed: %s; retrying every %d ms", strerror(errno),
                          ACCEPT_BACKOFF_MS);
                    srv->accept_starved = 1;
                }
                srv->accept_resume_ms = platform_monotonic_ms() + ACCEPT_BACKOFF_MS;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                LOG_W("accept failed: %s", strerror(errno));
            }
            return;
        }
        if (srv->accept_starved) {
            LOG_I("accepting connections again");
            srv->accept_starved = 0;
        }
        if (set_nonblocking(fd) != 0 || (srv->count == srv->cap && grow(srv) != 0)) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        io_format_peer(&ss, peer, sizeof(peer));
        c->alive = 1;
        if (io_conn_open(&srv->loop, &c->base, peer, refusal, sizeof(refusal), &refusal_len) !=
            STATUS_OK) {
            /* Best effort: a fresh socket's send buffer takes one small frame. */
            (void)!write(fd, refusal, refusal_len);
            close(fd);
            free(c);
            continue;
        }
        srv->conns[srv->count] = c;
        srv->fds[srv->count].fd = fd;
        srv->fds[srv->count].events = 0;
        srv->fds[srv->count].revents = 0;
        srv->count++;
    }
}

static void read_conn(struct pconn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, read_buffer, sizeof(read_buffer));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            close_conn(c);
            return;
        }
        session_feed(c->base.session, read_buffer, (size_t)n);
        flush_conn(c);
        /* One read per wakeup keeps connections fair. */
        return;
    }
}

/* Peer links (core/peer.h): outbound conns dialled for the core. A second
 * connect() tells how a non-blocking connect ended, so no getsockopt is
 * needed: 0 or EISCONN once connected, else the connect's error. */
static void finish_connect(struct poll_server *srv, struct pconn *c)
{
    char reason[PEER_ERROR_MAX];

    c->connecting = 0;
    if (connect(c->fd, (struct sockaddr *)&c->peer_addr, sizeof(c->peer_addr)) != 0 &&
        errno != EISCONN) {
        if (errno == EALREADY || errno == EINPROGRESS || errno == EINTR) {
            c->connecting = 1;
            return;
        }
        snprintf(reason, sizeof(reason), "connect failed: %s", strerror(errno));
        close_conn(c);
        peer_link_failed(srv->core->peers, c->link_id, reason);
        return;
    }
    if (io_conn_open_peer(&srv->loop, &c->base, c->link_id) != STATUS_OK) {
        struct status_report r;

        status_trail_take(&r);
        close_conn(c);
        peer_link_failed(srv->core->peers, c->link_id, r.message);
        return;
    }
    flush_conn(c);
}

static void *dial(void *ctx, uint32_t link_id, const char *host, uint16_t port)
{
    struct poll_server *srv = ctx;
    struct pconn *c;
    int one = 1;
    int fd;

    if (srv->shutting_down || (srv->count == srv->cap && grow(srv) != 0)) {
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->peer_addr.sin_family = AF_INET;
    c->peer_addr.sin_port = htons(port);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || inet_pton(AF_INET, host, &c->peer_addr.sin_addr) != 1 ||
        set_nonblocking(fd) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        free(c);
        return NULL;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&c->peer_addr, sizeof(c->peer_addr)) != 0 &&
        errno != EINPROGRESS) {
        LOG_D("peer link %u: connect to %s:%u failed at once: %s", link_id, host, port,
              strerror(errno));
        close(fd);
        free(c);
        return NULL;
    }
    c->fd = fd;
    c->alive = 1;
    c->connecting = 1;
    c->link_id = link_id;
    srv->conns[srv->count] = c;
    srv->fds[srv->count].fd = fd;
    srv->fds[srv->count].events = POLLOUT;
    srv->fds[srv->count].revents = 0;
    srv->count++;
    return c;
}

static void cancel_dial(void *ctx, void *handle)
{
    (void)ctx;
    /* Freed by compact() at the end of this iteration. */
    close_conn(handle);
}

/* Drops closed conns, keeping the two arrays parallel. */
static void compact(struct poll_server *srv)
{
    size_t i = 1;

    while (i < srv->count) {
        if (!srv->conns[i]->alive) {
            free(srv->conns[i]);
            srv->count--;
            srv->conns[i] = srv->conns[srv->count];
            srv->fds[i] = srv->fds[srv->count];
        } else {
            i++;
        }
    }
}

static void begin_shutdown(struct poll_server *srv)
{
    LOG_I("signal %d: shutting down", (int)stop_requested);
    status_trail_reset();
    srv->shutting_down = 1;
    /* Links end first: dials are cancelled and their conns hung up. */
    peer_stop_all(srv->core->peers);
    flush_dirty(srv);
    srv->grace_deadline = platform_monotonic_ms() + IO_SHUTDOWN_GRACE_MS;
    close(srv->fds[0].fd);
    srv->fds[0].fd = -1;
    for (size_t i = 1; i < srv->count; i++) {
        if (srv->conns[i]->base.session != NULL) {
            session_shutdown(srv->conns[i]->base.session);
            flush_conn(srv->conns[i]);
        }
    }
}

static int poll_timeout(struct poll_server *srv)
{
    uint64_t now = platform_monotonic_ms();
    int64_t due = core_next_timeout_ms(srv->core, now);
    int64_t wait = POLL_MAX_WAIT_MS;

    if (due >= 0 && due < wait) {
        wait = due;
    }
    if (srv->accept_resume_ms > now && (int64_t)(srv->accept_resume_ms - now) < wait) {
        wait = (int64_t)(srv->accept_resume_ms - now);
    }
    if (srv->shutting_down) {
        int64_t left = srv->grace_deadline > now ? (int64_t)(srv->grace_deadline - now) : 0;
        wait = left < wait ? left : wait;
    }
    return (int)wait;
}

static void run_loop(struct poll_server *srv)
{
    while (!srv->shutting_down || srv->count > 1) {
        int n;

        if (stop_requested && !srv->shutting_down) {
            begin_shutdown(srv);
            /* The closes there may have written to conns still open. */
            flush_dirty(srv);
            compact(srv);
            continue;
        }
        if (srv->shutting_down && platform_monotonic_ms() >= srv->grace_deadline) {
            LOG_W("shutdown grace period over; closing the remaining connections");
            for (size_t i = 1; i < srv->count; i++) {
                close_conn(srv->conns[i]);
            }
            flush_dirty(srv);
            compact(srv);
            break;
        }
        for (size_t i = 1; i < srv->count; i++) {
            const uint8_t *data;
            size_t len;
            struct session *s = srv->conns[i]->base.session;

            if (s == NULL) {
                /* A connect in progress reports its end as writable. */
                srv->fds[i].events = srv->conns[i]->connecting ? POLLOUT : 0;
                continue;
            }
            session_output(s, &data, &len);
            srv->fds[i].events = (short)((session_wants_read(s) ? POLLIN : 0) | (len ? POLLOUT : 0));
        }
        srv->fds[0].events = platform_monotonic_ms() >= srv->accept_resume_ms ? POLLIN : 0;
        n = poll(srv->fds, (nfds_t)srv->count, poll_timeout(srv));
        if (n < 0 && errno != EINTR) {
            LOG_E("poll failed: %s", strerror(errno));
            break;
        }
        /* Each event that enters the core starts a fresh trail. */
        status_trail_reset();
        core_run_timers(srv->core, platform_monotonic_ms());
        if (n > 0) {
            for (size_t i = 1; i < srv->count; i++) {
                struct pconn *c = srv->conns[i];
                short ev = srv->fds[i].revents;

                if (c->connecting && ev != 0) {
                    status_trail_reset();
                    finish_connect(srv, c);
                    continue;
                }
                if (c->base.session == NULL || ev == 0) {
                    continue;
                }
                status_trail_reset();
                if (ev & POLLOUT) {
                    flush_conn(c);
                }
                if (c->base.session != NULL && (ev & (POLLIN | POLLHUP | POLLERR))) {
                    read_conn(c);
                }
            }
            if (srv->fds[0].fd >= 0 && (srv->fds[0].revents & POLLIN)) {
                accept_all(srv);
            }
        }
        flush_dirty(srv);
        compact(srv);
    }
}

static int start_listening(struct poll_server *srv, const struct config *cfg)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    char host[INET_ADDRSTRLEN];
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(cfg->listen_port);
    if (fd < 0 || inet_pton(AF_INET, cfg->listen_host, &addr.sin_addr) != 1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(fd, IO_LISTEN_BACKLOG) != 0 || set_nonblocking(fd) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        LOG_E("cannot listen on %s:%u: %s", cfg->listen_host, cfg->listen_port, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    srv->fds[0].fd = fd;
    srv->fds[0].events = POLLIN;
    srv->count = 1;
    inet_ntop(AF_INET, &addr.sin_addr, host, sizeof(host));
    fprintf(stderr, "enclaved: listening on %s:%u\n", host, ntohs(addr.sin_port));
    fflush(stderr);
    return 0;
}

int io_poll_run(struct core *core)
{
    struct poll_server srv;
    struct sigaction sa;
    int rc = 1;

    memset(&srv, 0, sizeof(srv));
    srv.core = core;
    io_loop_init(&srv.loop, core, flush_dirty_conn);
    srv.loop.write_now = write_now;
    if (grow(&srv) != 0) {
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    srv.dialer.ctx = &srv;
    srv.dialer.dial = dial;
    srv.dialer.cancel = cancel_dial;
    peer_set_dialer(core->peers, &srv.dialer);
    if (start_listening(&srv, &core->config) != 0) {
        goto out;
    }
    run_loop(&srv);
    rc = 0;
    LOG_I("stopped");
out:
    peer_stop_all(core->peers);
    peer_set_dialer(core->peers, NULL);
    for (size_t i = 1; i < srv.count; i++) {
        close_conn(srv.conns[i]);
        free(srv.conns[i]);
    }
    if (srv.count > 0 && srv.fds[0].fd >= 0) {
        close(srv.fds[0].fd);
    }
    free(srv.fds);
    free(srv.conns);
    return rc;
}
