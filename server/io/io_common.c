/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "io/io_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

#include "base/log.h"

void io_loop_init(struct io_loop *l, struct core *core, void (*flush)(struct io_conn *c))
{
    l->core = core;
    l->flush = flush;
    l->write_now = NULL;
    TAILQ_INIT(&l->dirty);
}

static void unlist(struct io_conn *c)
{
    if (c->dirty) {
        TAILQ_REMOVE(&c->loop->dirty, c, dirty_link);
        c->dirty = 0;
    }
}

/* session_wake_fn: another connection's input gave c output, or c must
 * close. The driver flushes it after the current event. */
static void wake(void *io_handle)
{
    struct io_conn *c = io_handle;

    if (c->dirty || c->session == NULL) {
        return;
    }
    c->dirty = 1;
    TAILQ_INSERT_TAIL(&c->loop->dirty, c, dirty_link);
}

void io_loop_flush_dirty(struct io_loop *l)
{
    struct io_conn *c;

    while ((c = TAILQ_FIRST(&l->dirty)) != NULL) {
        unlist(c);
        l->flush(c);
    }
}

void io_format_peer(const void *addr, char *buf, size_t cap)
{
    const struct sockaddr *sa = addr;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = addr;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(buf, cap, "%s:%u", host, port);
}

status_t io_conn_open(struct io_loop *l, struct io_conn *c, const char *peer, uint8_t *refusal,
                      size_t cap, size_t *refusal_len)
{
    status_t st;

    c->loop = l;
    c->dirty = 0;
    c->session = NULL;
    status_trail_reset();
    st = session_new(l->core, wake, c, &c->session);
    if (st != STATUS_OK) {
        struct status_report r;

        status_trail_take(&r);
        LOG_W("refusing a connection from %s: %s", peer, r.trail);
        *refusal_len = encode_refusal(st, r.message, refusal, cap);
        return st;
    }
    if (l->write_now != NULL) {
        session_set_writer(c->session, l->write_now);
    }
    session_set_client_addr(c->session, peer);
    return STATUS_OK;
}

status_t io_conn_open_peer(struct io_loop *l, struct io_conn *c, uint32_t link_id)
{
    c->loop = l;
    c->dirty = 0;
    c->session = NULL;
    status_trail_reset();
    return session_new_peer(l->core, wake, c, link_id, &c->session);
}

void io_conn_close(struct io_conn *c)
{
    struct session *s = c->session;

    if (s == NULL) {
        return;
    }
    c->session = NULL;
    unlist(c);
    /* May wake other connections (HandleChannelClose outputs); c is off the
     * list and stays off: wake ignores a connection without a session. */
    session_free(s);
}

