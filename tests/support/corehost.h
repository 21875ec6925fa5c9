/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Test-only: drives the sans-I/O core directly, with no sockets. A corehost
 * owns a core with random keys and hands out sessions whose output the test
 * reads back as ServerFrames, exactly the bytes a driver would write.
 */
#ifndef ENCLAVED_TEST_COREHOST_H
#define ENCLAVED_TEST_COREHOST_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "fakesink.h"
#include "image/config.h"
#include "wire/frame.h"
#include "wire/session.h"

enum { COREHOST_SESSIONS = 64 };

struct corehost {
    struct core *core;
    struct session *sessions[COREHOST_SESSIONS];  /* NULL once freed */
    size_t session_count;
    size_t wakes;
};

static inline void corehost_wake(void *io_handle)
{
    struct corehost *h = io_handle;
    h->wakes++;
}

/* Starts a core with cfg (NULL: defaults) and fakecore's fixed keys. */
static inline void corehost_init(struct corehost *h, const struct config *cfg)
{
    struct fakecore core;

    memset(h, 0, sizeof(*h));
    fakecore_init(&core, cfg);
    h->core = core.core;
}

static inline struct session *corehost_session(struct corehost *h)
{
    struct session *s = NULL;
    ck_assert_uint_lt(h->session_count, COREHOST_SESSIONS);
    ck_assert_int_eq(session_new(h->core, corehost_wake, h, &s), STATUS_OK);
    h->sessions[h->session_count++] = s;
    return s;
}

/* Frees one session made by corehost_session. */
static inline void corehost_free_session(struct corehost *h, struct session *s)
{
    for (size_t i = 0; i < h->session_count; i++) {
        if (h->sessions[i] == s) {
            h->sessions[i] = NULL;
        }
    }
    session_free(s);
}

/* Frees the sessions still open, then the core. */
static inline void corehost_clear(struct corehost *h)
{
    for (size_t i = 0; i < h->session_count; i++) {
        session_free(h->sessions[i]);
    }
    core_free(h->core);
}

/* Pops the next whole ServerFrame from s's output, or NULL if none. */
static inline Enclaved__ServerFrame *corehost_next(struct session *s)
{
    const uint8_t *data;
    size_t len;
    uint32_t n = 0;
    Enclaved__ServerFrame *f;

    session_output(s, &data, &len);
    if (frame_next(data, len, 64u << 20, &n) != FRAME_READY) {
        return NULL;
    }
    f = enclaved__server_frame__unpack(NULL, n, data + FRAME_HEADER_LEN);
    ck_assert_ptr_nonnull(f);
    session_consume_output(s, FRAME_HEADER_LEN + n);
    return f;
}

/* Sends a ClientFrame into s as one framed write. */
static inline void corehost_send(struct session *s, const Enclaved__ClientFrame *f)
{
    size_t n = enclaved__client_frame__get_packed_size(f);
    uint8_t *buf = malloc(n + FRAME_HEADER_LEN);
    ck_assert_ptr_nonnull(buf);
    frame_write_length(buf, (uint32_t)n);
    enclaved__client_frame__pack(f, buf + FRAME_HEADER_LEN);
    session_feed(s, buf, n + FRAME_HEADER_LEN);
    free(buf);
}

static inline void corehost_request(struct session *s, Enclaved__Request *req)
{
    Enclaved__ClientFrame f = ENCLAVED__CLIENT_FRAME__INIT;
    f.kind_case = ENCLAVED__CLIENT_FRAME__KIND_REQUEST;
    f.request = req;
    corehost_send(s, &f);
}

/* Pops the next frame and asserts it is a Response with id and status. The
 * caller frees it with enclaved__server_frame__free_unpacked. */
static inline Enclaved__ServerFrame *corehost_expect_response(struct session *s, uint64_t id,
                                                              status_t status)
{
    Enclaved__ServerFrame *f = corehost_next(s);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->kind_case, ENCLAVED__SERVER_FRAME__KIND_RESPONSE);
    ck_assert_uint_eq(f->response->id, id);
    ck_assert_msg(f->response->status == (Enclaved__Status)status, "status %d (%s), want %d",
                  f->response->status, f->response->message, status);
    return f;
}

#endif
